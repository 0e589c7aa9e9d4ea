// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * XDP guard: in front of the sockets, drop UDP datagrams to our listen
 * addresses that can never be valid QUIC, and shed handshake floods per
 * source, before they cost a worker a wakeup and an Initial decryption.
 *
 * Only UDP to a listen address (qs_guard_ro, set by the loader) is
 * looked at; every other frame gets XDP_PASS untouched and uncounted.
 * Attached through libxdp, so it can share the interface with other XDP
 * programs (XDP_PASS chains on to the next one).
 *
 * IPv6 extension headers: up to 4 hop-by-hop / routing / destination
 * options / fragment headers are walked (QUIC clients send none; an
 * attacker could add some to slip past a guard that stopped at the fixed
 * header).  A longer chain passes unfiltered, and so do non-first
 * fragments (no UDP header to judge); a first fragment of a datagram to us
 * is dropped: QUIC never fragments (RFC 9000 14), and without the first
 * fragment the kernel never reassembles the rest.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdp/xdp_helpers.h>

#include "quicsteer/guard.h"

#define QS_ETH_P_IP     0x0800
#define QS_ETH_P_IPV6   0x86DD
#define QS_ETH_P_8021Q  0x8100
#define QS_ETH_P_8021AD 0x88A8
#define QS_IP_MF        0x2000
#define QS_IP_OFFSET    0x1fff
#define QS_NEXTHDR_HOP      0
#define QS_NEXTHDR_ROUTING  43
#define QS_NEXTHDR_FRAGMENT 44
#define QS_NEXTHDR_DEST     60
#define QS_V6_EXT_MAX   4
#define QS_QUIC_V1      0x00000001
#define QS_QUIC_V2      0x6b3343cf
#define QS_LONG_FORM    0x80
#define QS_FIXED_BIT    0x40
#define QS_GCRA_TRIES   4

const volatile struct qs_guard_ro qs_guard_ro = { .magic = QS_GUARD_MAGIC };

/* libxdp's dispatcher: run early (lower runs first), chain on XDP_PASS */
struct {
	__uint(priority, 20);
	__uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(qs_guard);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct qs_guard_stats);
} qs_guard_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct qs_guard_config);
} qs_guard_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, QS_GUARD_SOURCES);
	__type(key, struct qs_guard_src);
	__type(value, struct qs_guard_bucket);
} qs_guard_src SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, QS_GUARD_BLOCK_MAX);
	__type(key, struct qs_guard_prefix);
	__type(value, struct qs_guard_block);
} qs_guard_block SEC(".maps");

struct qs_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct qs_v6_ext {
	__u8 nexthdr;
	__u8 len;            /* 8-byte units after the first 8; fragment: reserved */
	__be16 frag_off;     /* fragment header only: offset << 3 | M */
};

/* Is (daddr, dport) one of our listen addresses?  daddr IPv4-mapped for v4. */
static __always_inline bool qs_is_ours(const __u32 *d, __u16 dport, bool v4)
{
	for (__u32 i = 0; i < QS_GUARD_MAX_LISTENERS; i++) {
		if (i >= qs_guard_ro.n_listeners)
			break;
		if (qs_guard_ro.listeners[i].port != dport)
			continue;
		switch (qs_guard_ro.listeners[i].wild) {
		case QS_GUARD_ANY:
			return true;
		case QS_GUARD_ANY4:
			if (v4)
				return true;
			continue;
		default:
			if (qs_guard_ro.listeners[i].addr[3] == d[3] &&
			    qs_guard_ro.listeners[i].addr[2] == d[2] &&
			    qs_guard_ro.listeners[i].addr[1] == d[1] &&
			    qs_guard_ro.listeners[i].addr[0] == d[0])
				return true;
		}
	}
	return false;
}

/*
 * GCRA, the token bucket as one timestamp: a packet conforms when the
 * theoretical arrival time, pushed one interval on, stays within burst
 * intervals of now.  Compare-and-swap so racing CPUs never overspend.
 */
static __always_inline bool qs_conforms(__u64 *tat_p, __u32 rate, __u32 burst)
{
	__u64 now, interval, tolerance;

	/* rate and burst are non-zero: qs_allow turned a zero limit off */
	now = bpf_ktime_get_coarse_ns();
	interval = 1000000000ULL / rate;
	tolerance = (__u64)burst * interval;
	for (int i = 0; i < QS_GCRA_TRIES; i++) {
		__u64 old = *(volatile __u64 *)tat_p;
		__u64 tat = old > now ? old : now;

		if (tat + interval - now > tolerance)
			return false;
		if (__sync_val_compare_and_swap(tat_p, old, tat + interval) == old)
			return true;
	}
	return false;	/* lost every race: the others spent the tokens */
}

static __always_inline bool qs_allow(const struct qs_guard_src *src, bool initial)
{
	const struct qs_guard_config *cfg;
	struct qs_guard_bucket *b;
	__u32 zero = 0, rate, burst;

	cfg = bpf_map_lookup_elem(&qs_guard_cfg, &zero);
	if (!cfg)
		return true;
	rate = initial ? cfg->initial_rate : cfg->unknown_rate;
	burst = initial ? cfg->initial_burst : cfg->unknown_burst;
	if (!burst || !rate)
		return true;
	b = bpf_map_lookup_elem(&qs_guard_src, src);
	if (!b) {
		struct qs_guard_bucket fresh = {};

		/* another CPU may insert it first: then we use theirs */
		bpf_map_update_elem(&qs_guard_src, src, &fresh, BPF_NOEXIST);
		b = bpf_map_lookup_elem(&qs_guard_src, src);
		if (!b)
			return true;
	}
	return qs_conforms(initial ? &b->initial_tat : &b->unknown_tat, rate, burst);
}

/* The datagram is ours: judge the QUIC packet in it. */
static __always_inline int qs_judge(struct qs_guard_stats *st, const struct qs_guard_src *saddr,
				    const struct qs_guard_src *src, struct udphdr *udp, void *end)
{
	struct qs_guard_prefix pfx = { .prefixlen = 128 };
	struct qs_guard_block *blk;
	__u8 *q = (__u8 *)(udp + 1);
	__u32 ulen = bpf_ntohs(udp->len), dlen, version, type;
	__u8 b0;

	__builtin_memcpy(pfx.addr, saddr->addr, sizeof(pfx.addr));
	blk = bpf_map_lookup_elem(&qs_guard_block, &pfx);
	if (blk) {
		__sync_fetch_and_add(&blk->hits, 1);
		st->blocked++;
		return XDP_DROP;
	}
	if (ulen < sizeof(*udp) || (void *)udp + ulen > end) {
		/* the stack would discard it too; dropping here is cheaper */
		st->dropped_malformed++;
		return XDP_DROP;
	}
	dlen = ulen - sizeof(*udp);
	if (dlen < QS_GUARD_MIN_QUIC || (void *)(q + QS_GUARD_MIN_QUIC) > end) {
		st->dropped_short++;
		return XDP_DROP;
	}
	b0 = q[0];
	if (!(b0 & QS_LONG_FORM)) {
		/*
		 * Short header: only v1/v2 have one, and they set the fixed bit
		 * (the workers do not advertise grease_quic_bit when the guard
		 * is on).  Never rate limited: established connections.
		 */
		if (!(b0 & QS_FIXED_BIT)) {
			st->dropped_fixed_bit++;
			return XDP_DROP;
		}
		st->passed++;
		return XDP_PASS;
	}
	version = (__u32)q[1] << 24 | (__u32)q[2] << 16 | (__u32)q[3] << 8 | q[4];
	if (version != QS_QUIC_V1 && version != QS_QUIC_V2) {
		/* the worker answers with Version Negotiation: a little per source */
		if (!qs_allow(src, false)) {
			st->unknown_version_limited++;
			return XDP_DROP;
		}
		st->passed++;
		st->passed_unknown_version++;
		return XDP_PASS;
	}
	if (!(b0 & QS_FIXED_BIT)) {
		st->dropped_fixed_bit++;
		return XDP_DROP;
	}
	type = (b0 >> 4) & 3;
	if (type == (version == QS_QUIC_V1 ? 0 : 1)) {	/* Initial */
		if (dlen < QS_GUARD_MIN_INITIAL) {
			st->dropped_small_initial++;
			return XDP_DROP;
		}
		if (!qs_allow(src, true)) {
			st->rate_limited++;
			return XDP_DROP;
		}
		st->passed++;
		st->passed_initial++;
		return XDP_PASS;
	}
	st->passed++;	/* 0-RTT, Handshake: a handshake in progress */
	return XDP_PASS;
}

SEC("xdp")
int qs_guard(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct qs_guard_stats *st;
	struct qs_guard_src saddr, src;	/* full source; its bucket key */
	__u32 dst[4], zero = 0;
	struct udphdr *udp;
	bool fragment = false;
	void *cur;
	__u16 proto;

	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	proto = eth->h_proto;
	cur = eth + 1;
	/* 802.1Q, and 802.1ad outer + 802.1Q inner (QinQ) */
	for (int i = 0; i < 2; i++) {
		struct qs_vlan_hdr *vh = cur;

		if (proto != bpf_htons(QS_ETH_P_8021Q) && proto != bpf_htons(QS_ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > end)
			return XDP_PASS;
		proto = vh->proto;
		cur = vh + 1;
	}

	if (proto == bpf_htons(QS_ETH_P_IP)) {
		struct iphdr *ip = cur;

		if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5 ||
		    ip->protocol != IPPROTO_UDP)
			return XDP_PASS;
		/* a later fragment has no UDP header: nothing to judge */
		if (ip->frag_off & bpf_htons(QS_IP_OFFSET))
			return XDP_PASS;
		fragment = ip->frag_off & bpf_htons(QS_IP_MF);
		udp = cur + ip->ihl * 4;	/* IP options skipped by length */
		if ((void *)(udp + 1) > end)
			return XDP_PASS;
		dst[0] = 0;
		dst[1] = 0;
		dst[2] = bpf_htonl(0xffff);
		dst[3] = ip->daddr;
		if (!qs_is_ours(dst, udp->dest, true))
			return XDP_PASS;
		saddr.addr[0] = 0;
		saddr.addr[1] = 0;
		saddr.addr[2] = bpf_htonl(0xffff);
		saddr.addr[3] = ip->saddr;
		src = saddr;
	} else if (proto == bpf_htons(QS_ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;
		__u8 nh;

		if ((void *)(ip6 + 1) > end)
			return XDP_PASS;
		nh = ip6->nexthdr;
		cur = ip6 + 1;
		for (int i = 0; i < QS_V6_EXT_MAX; i++) {
			struct qs_v6_ext *x = cur;

			if (nh != QS_NEXTHDR_HOP && nh != QS_NEXTHDR_ROUTING &&
			    nh != QS_NEXTHDR_DEST && nh != QS_NEXTHDR_FRAGMENT)
				break;
			if ((void *)(x + 1) > end)
				return XDP_PASS;
			if (nh == QS_NEXTHDR_FRAGMENT) {
				if (x->frag_off & bpf_htons(0xfff8))
					return XDP_PASS;	/* not the first fragment */
				fragment = true;
				cur += 8;
			} else {
				cur += (x->len + 1) * 8;
			}
			nh = x->nexthdr;
		}
		if (nh != IPPROTO_UDP)
			return XDP_PASS;	/* not UDP, or a chain longer than we walk */
		udp = cur;
		if ((void *)(udp + 1) > end)
			return XDP_PASS;
		dst[0] = ip6->daddr.in6_u.u6_addr32[0];
		dst[1] = ip6->daddr.in6_u.u6_addr32[1];
		dst[2] = ip6->daddr.in6_u.u6_addr32[2];
		dst[3] = ip6->daddr.in6_u.u6_addr32[3];
		if (!qs_is_ours(dst, udp->dest, false))
			return XDP_PASS;
		saddr.addr[0] = ip6->saddr.in6_u.u6_addr32[0];
		saddr.addr[1] = ip6->saddr.in6_u.u6_addr32[1];
		saddr.addr[2] = ip6->saddr.in6_u.u6_addr32[2];
		saddr.addr[3] = ip6->saddr.in6_u.u6_addr32[3];
		/* one bucket per /64: a host picks any address in its /64 */
		src = saddr;
		src.addr[2] = 0;
		src.addr[3] = 0;
	} else {
		return XDP_PASS;
	}

	st = bpf_map_lookup_elem(&qs_guard_stats, &zero);
	if (!st)
		return XDP_PASS;
	if (fragment) {
		st->dropped_fragment++;
		return XDP_DROP;
	}
	return qs_judge(st, &saddr, &src, udp, end);
}

/*
 * Benchmark baseline: the cost of running any XDP program at all, so
 * `make bench-guard` can quote the guard's cost net of it.
 */
SEC("xdp")
int qs_guard_base(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
