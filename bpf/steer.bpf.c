// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sk_reuseport selector: hand every QUIC datagram to the socket of the
 * (generation, worker) that minted its Destination Connection ID; hash
 * everything else over the current generation.  Never drops.
 *
 * One copy of this program is loaded per listen address (each is its own
 * reuseport group, and the kernel only selects within the group); the
 * copies share every map and differ only in qs_listener.
 *
 * qs_tcp_steer does the same for the listener's TCP group (HTTPS over TCP):
 * a new connection goes to a socket of the current generation, and so does
 * whatever waits in a listener that stops (see the program).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "quicsteer/steer.h"

#define UDP_HDR_LEN 8
#define QUIC_LONG_FORM 0x80
/* long header: flags(1) version(4) dcid_len(1) dcid */
#define QUIC_LONG_DCID_OFF 6
#define QUIC_SHORT_DCID_OFF 1

const volatile __u32 qs_listener = 0;

struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, QS_MAX_LISTENERS * QS_SLOTS_PER_LISTENER);
	__type(key, __u32);
	__type(value, __u64);
} qs_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct qs_steer_state);
} qs_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, QS_CID_CONFIGS);
	__type(key, __u32);
	__type(value, struct qs_cid_key);
} qs_cid_keys SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct qs_steer_stats);
} qs_steer_stats SEC(".maps");

/* The TCP listeners: the same slots as qs_socks (listener, gen, worker). */
struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, QS_MAX_LISTENERS * QS_SLOTS_PER_LISTENER);
	__type(key, __u32);
	__type(value, __u64);
} qs_tcp_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct qs_tcp_steer_stats);
} qs_tcp_steer_stats SEC(".maps");

/* Not used by the program: defined here so it is created with BTF. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, QS_WORKER_SLOTS);
	__type(key, __u32);
	__type(value, struct qs_worker_stats);
} qs_worker_stats SEC(".maps");

static __always_inline int select_slot(struct sk_reuseport_md *md, __u32 slot)
{
	__u32 key = slot;

	return bpf_sk_select_reuseport(md, &qs_socks, &key, 0);
}

/* New flows and everything not ours: the current generation, by 4-tuple hash. */
static __always_inline int select_by_hash(struct sk_reuseport_md *md, __u32 hash,
					  struct qs_steer_stats *stats)
{
	const struct qs_steer_state *st;
	__u32 zero = 0, gen, live;

	st = bpf_map_lookup_elem(&qs_state, &zero);
	if (!st)
		goto fail;
	gen = st->cur_gen & (QS_MAX_GENS - 1);
	live = st->live[gen];
	if (live == 0 || live > QS_MAX_WORKERS ||
	    select_slot(md, qs_slot(qs_listener, gen, hash % live)) < 0)
		goto fail;
	return SK_PASS;
fail:
	/* SK_PASS without a selection: the kernel hashes over the group */
	stats->select_failed++;
	return SK_PASS;
}

SEC("sk_reuseport")
int qs_steer(struct sk_reuseport_md *md)
{
	/* ctx fields read once: the verifier rejects loads from a moved ctx */
	__u8 *data = md->data, *data_end = md->data_end;
	__u32 len = md->len, hash = md->hash;
	__u64 buf64[QS_CID_LEN / 8];	/* 8-byte aligned: stack loads must be */
	__u8 *buf = (__u8 *)buf64;
	const struct qs_cid_key *key;
	struct qs_steer_stats *stats;
	struct qs_cid_owner owner;
	__u8 *quic = data + UDP_HDR_LEN;
	const __u8 *cid;
	__u32 zero = 0, off, config;
	int is_long;

	stats = bpf_map_lookup_elem(&qs_steer_stats, &zero);
	if (!stats)
		return SK_PASS;

	if (len < UDP_HDR_LEN + 1) {
		stats->malformed++;
		return select_by_hash(md, hash, stats);
	}
	if (quic + 1 <= data_end) {
		is_long = quic[0] & QUIC_LONG_FORM;
	} else {
		if (bpf_skb_load_bytes(md, UDP_HDR_LEN, buf, 1) < 0) {
			stats->malformed++;
			return select_by_hash(md, hash, stats);
		}
		is_long = buf[0] & QUIC_LONG_FORM;
	}

	if (is_long) {
		/* A DCID of another length is a client's choice: a new flow. */
		off = UDP_HDR_LEN + QUIC_LONG_DCID_OFF;
		if (len < off + QS_CID_LEN) {
			stats->malformed++;
			return select_by_hash(md, hash, stats);
		}
		if (quic + QUIC_LONG_DCID_OFF <= data_end) {
			if (quic[5] != QS_CID_LEN)
				goto new_flow;
		} else {
			if (bpf_skb_load_bytes(md, UDP_HDR_LEN + 5, buf, 1) < 0)
				goto new_flow;
			if (buf[0] != QS_CID_LEN)
				goto new_flow;
		}
	} else {
		off = UDP_HDR_LEN + QUIC_SHORT_DCID_OFF;
		if (len < off + QS_CID_LEN) {
			stats->malformed++;
			return select_by_hash(md, hash, stats);
		}
	}

	/* Direct packet access when the linear part holds the CID. */
	if (data + off + QS_CID_LEN <= data_end) {
		cid = data + off;
	} else {
		if (bpf_skb_load_bytes(md, off, buf, QS_CID_LEN) < 0)
			goto not_ours;
		cid = buf;
	}

	config = qs_cid_config(cid);
	if (config >= QS_CID_CONFIGS)
		goto not_ours;
	key = bpf_map_lookup_elem(&qs_cid_keys, &config);
	if (!key || !key->installed || qs_cid_decode(cid, key, &owner) < 0)
		goto not_ours;

	if (select_slot(md, qs_slot(qs_listener, owner.gen, owner.worker)) == 0) {
		stats->cid_routed++;
		return SK_PASS;
	}
	stats->stale++;
	return select_by_hash(md, hash, stats);

not_ours:
	if (!is_long) {
		stats->unroutable++;
		return select_by_hash(md, hash, stats);
	}
new_flow:
	stats->new_flow++;
	return select_by_hash(md, hash, stats);
}

/*
 * Benchmark baseline (--steering baseline): the cost of running any
 * sk_reuseport program at all, so `make bench-steer` can quote the steering
 * program's cost net of it.  Selects nothing: the kernel hashes.
 */
SEC("sk_reuseport")
int qs_baseline(struct sk_reuseport_md *md)
{
	return SK_PASS;
}

/*
 * The TCP group's selector, attached as SELECT_OR_MIGRATE: the kernel calls
 * it for every SYN (migrating_sk NULL) and, once a listener leaves the group
 * (a draining worker's shutdown(SHUT_RD), a close), for every connection
 * that listener still holds: each request in SYN-RECV (migrating_sk in
 * TCP_NEW_SYN_RECV, when its ACK or its SYN-ACK retransmission comes) and
 * each established child in its accept queue (at once).  Both kinds go to a
 * socket of the current generation, by hash, so a reload refuses and resets
 * nothing; a listener that stops is out of qs_tcp_socks already (the kernel
 * removes it), so it is never picked again.  SK_PASS without a selection
 * lets the kernel hash over the listeners left; never SK_DROP, which resets.
 */
SEC("sk_reuseport/migrate")
int qs_tcp_steer(struct sk_reuseport_md *md)
{
	struct bpf_sock *migrating = md->migrating_sk;
	const struct qs_steer_state *st;
	struct qs_tcp_steer_stats *stats;
	__u32 zero = 0, hash = md->hash, gen, live, key;

	stats = bpf_map_lookup_elem(&qs_tcp_steer_stats, &zero);
	if (!stats)
		return SK_PASS;
	if (!migrating)
		stats->new_conn++;
	else if (migrating->state == BPF_TCP_NEW_SYN_RECV)
		stats->migrated_req++;
	else
		stats->migrated_child++;

	st = bpf_map_lookup_elem(&qs_state, &zero);
	if (!st)
		goto fail;
	gen = st->cur_gen & (QS_MAX_GENS - 1);
	live = st->live[gen];
	if (live == 0 || live > QS_MAX_WORKERS)
		goto fail;
	/*
	 * The hashed worker's listener may be stopping too (quicsteerd
	 * stopping: every worker drains): then the next live one.
	 */
	for (__u32 i = 0; i < QS_MAX_WORKERS && i < live; i++) {
		key = qs_slot(qs_listener, gen, (hash + i) % live);
		if (bpf_sk_select_reuseport(md, &qs_tcp_socks, &key, 0) == 0)
			return SK_PASS;
	}
fail:
	stats->select_failed++;
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
