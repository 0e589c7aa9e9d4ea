// SPDX-License-Identifier: MIT
/*
 * Unit tests of the XDP guard with BPF_PROG_TEST_RUN: the program the
 * loader attaches (same object, rodata set the same way), run by the
 * kernel over crafted frames.  Each case checks the verdict and that
 * exactly the expected counter moved (or none, for traffic that is not
 * ours).  Needs root; exits 77 (skip) without it unless CI=true.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>

#include "quicsteer/guard.h"
#include "guard.skel.h"
#include "check.h"

#define XDP_DROP_ 1
#define XDP_PASS_ 2
#define QUIC_V2 0x6b3343cfu
#define PORT 4433

static struct guard *skel;
static int prog_fd, stats_fd, block_fd, src_fd;
static int ncpus;
static unsigned long long seed = 42;

/* ---- frames ------------------------------------------------------------ */

struct frame {
	unsigned char b[2048];
	int len;
};

struct spec {
	int v6;              /* 0: IPv4 */
	const char *src, *dst;
	int vlans;           /* 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q) */
	int ip_opt_words;    /* IPv4 options, 4-byte words */
	int proto;           /* 0: UDP */
	int dport;           /* 0: PORT */
	const unsigned char *ext; int ext_len;  /* IPv6 extension headers (raw) */
	int first_nh;        /* IPv6: next header of the fixed header when ext given */
	int frag_off;        /* IPv4 frag_off field, host order */
	int udp_len;         /* 0: computed */
	int pad;             /* bytes after the datagram (Ethernet padding) */
};

static int put16(unsigned char *p, unsigned v) { p[0] = v >> 8; p[1] = v; return 2; }

/* eth [vlans] ip udp payload; returns the offset of the UDP payload */
static int build(struct frame *f, const struct spec *s, const unsigned char *pl, int plen)
{
	unsigned char *p = f->b;
	int off = 12, l4;

	memset(f->b, 0, sizeof(f->b));
	memcpy(p, "\x02\0\0\0\0\x01\x02\0\0\0\0\x02", 12);
	if (s->vlans == 2) {
		off += put16(p + off, 0x88a8);
		off += put16(p + off, 100);
	}
	if (s->vlans >= 1) {
		off += put16(p + off, 0x8100);
		off += put16(p + off, 200);
	}
	off += put16(p + off, s->v6 ? 0x86dd : 0x0800);
	int ulen = s->udp_len ? s->udp_len : 8 + plen;

	if (!s->v6) {
		int ihl = 5 + s->ip_opt_words;

		p[off] = 0x40 | ihl;
		put16(p + off + 2, ihl * 4 + 8 + plen);
		put16(p + off + 6, s->frag_off);
		p[off + 8] = 64;
		p[off + 9] = s->proto ? s->proto : 17;
		inet_pton(AF_INET, s->src ? s->src : "198.18.1.2", p + off + 12);
		inet_pton(AF_INET, s->dst ? s->dst : "198.18.0.1", p + off + 16);
		for (int i = 0; i < s->ip_opt_words * 4; i++)
			p[off + 20 + i] = 1;	/* NOP options */
		l4 = off + ihl * 4;
	} else {
		p[off] = 0x60;
		put16(p + off + 4, s->ext_len + 8 + plen);
		p[off + 6] = s->ext ? s->first_nh : (s->proto ? s->proto : 17);
		p[off + 7] = 64;
		inet_pton(AF_INET6, s->src ? s->src : "2001:db8:1::2", p + off + 8);
		inet_pton(AF_INET6, s->dst ? s->dst : "2001:db8::1", p + off + 24);
		if (s->ext_len)
			memcpy(p + off + 40, s->ext, s->ext_len);	/* s->ext may be NULL */
		l4 = off + 40 + s->ext_len;
	}
	put16(p + l4, 50000);
	put16(p + l4 + 2, s->dport ? s->dport : PORT);
	put16(p + l4 + 4, ulen);
	memcpy(p + l4 + 8, pl, plen);
	f->len = l4 + 8 + plen + s->pad;
	return l4 + 8;
}

/* QUIC payloads */
enum { SHORT, INITIAL1, INITIAL2, HANDSHAKE1, HANDSHAKE2, ZERORTT1, UNKNOWN, NOFIX_SHORT,
       NOFIX_LONG1, NOFIX_LONG2, NOFIX_UNKNOWN };

static int quic(unsigned char *pl, int kind, int len)
{
	static const unsigned char v1[4] = { 0, 0, 0, 1 }, v2[4] = { 0x6b, 0x33, 0x43, 0xcf },
				   vx[4] = { 0x1a, 0x2a, 0x3a, 0x4a };
	const unsigned char *ver = v1;

	qs_test_fill(&seed, pl, len);
	switch (kind) {
	case SHORT: pl[0] = 0x40 | (pl[0] & 0x3f); return len;
	case NOFIX_SHORT: pl[0] &= 0x3f; return len;
	case INITIAL1: pl[0] = 0xc0 | (pl[0] & 0x0f); break;
	case INITIAL2: pl[0] = 0xd0 | (pl[0] & 0x0f); ver = v2; break;
	case HANDSHAKE1: pl[0] = 0xe0 | (pl[0] & 0x0f); break;
	case HANDSHAKE2: pl[0] = 0xf0 | (pl[0] & 0x0f); ver = v2; break;
	case ZERORTT1: pl[0] = 0xd0 | (pl[0] & 0x0f); break;
	case UNKNOWN: pl[0] = 0xc0 | (pl[0] & 0x3f); ver = vx; break;
	case NOFIX_LONG1: pl[0] = 0x80 | (pl[0] & 0x0f); break;
	case NOFIX_LONG2: pl[0] = 0x90 | (pl[0] & 0x0f); ver = v2; break;
	case NOFIX_UNKNOWN: pl[0] = 0x80 | (pl[0] & 0x3f); ver = vx; break;
	}
	if (len >= 5)
		memcpy(pl + 1, ver, 4);
	return len;
}

/* ---- running and counting ------------------------------------------------ */

#define NFIELDS (sizeof(struct qs_guard_stats) / 8)
#define F(name) (offsetof(struct qs_guard_stats, name) / 8)
#define NONE ((size_t)-1)

static const char *field_names[NFIELDS] = {
	"passed", "dropped_short", "dropped_fixed_bit", "dropped_small_initial", "rate_limited",
	"blocked", "unknown_version_limited", "dropped_fragment", "dropped_malformed",
	"passed_initial", "passed_unknown_version",
};

static int read_stats(__u64 out[NFIELDS])
{
	struct qs_guard_stats v[256];
	__u32 zero = 0;

	memset(out, 0, NFIELDS * 8);
	if (bpf_map_lookup_elem(stats_fd, &zero, v))
		return -errno;
	for (int c = 0; c < ncpus; c++)
		for (size_t i = 0; i < NFIELDS; i++)
			out[i] += ((__u64 *)&v[c])[i];
	return 0;
}

static int run(const struct frame *f, __u32 *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->b, .data_size_in = (__u32)f->len,
		    .repeat = 1);
	int ret = bpf_prog_test_run_opts(prog_fd, &o);

	*retval = o.retval;
	return ret;
}

/*
 * Run f; the verdict must be `verdict` and the counters must have moved by
 * exactly one in `field` (and `sub`, a breakdown of passed), or not at
 * all for NONE.
 */
static int expect_(const struct frame *f, __u32 verdict, size_t field, size_t sub,
		   const char *what, int line)
{
	__u64 before[NFIELDS], after[NFIELDS];
	__u32 ret;

	if (read_stats(before) || run(f, &ret) || read_stats(after)) {
		fprintf(stderr, "  line %d %s: test run failed: %s\n", line, what, strerror(errno));
		return -1;
	}
	if (ret != verdict) {
		fprintf(stderr, "  line %d %s (frame %d bytes): verdict %s, expected %s\n", line,
			what, f->len, ret == XDP_PASS_ ? "PASS" : ret == XDP_DROP_ ? "DROP" : "?",
			verdict == XDP_PASS_ ? "PASS" : "DROP");
		return -1;
	}
	for (size_t i = 0; i < NFIELDS; i++) {
		__u64 want = (i == field || i == sub) ? 1 : 0;

		if (after[i] - before[i] != want) {
			fprintf(stderr, "  line %d %s (frame %d bytes): %s moved by %llu, expected %llu\n",
				line, what, f->len, field_names[i],
				(unsigned long long)(after[i] - before[i]), (unsigned long long)want);
			return -1;
		}
	}
	return 0;
}

#define EXPECT(f, v, field, sub, what) \
	do { if (expect_(f, v, field, sub, what, __LINE__)) return -1; } while (0)

static void set_limits(__u32 ir, __u32 ib, __u32 ur, __u32 ub)
{
	struct qs_guard_config c = { ir, ib, ur, ub };
	__u32 zero = 0;

	bpf_map_update_elem(bpf_map__fd(skel->maps.qs_guard_cfg), &zero, &c, BPF_ANY);
}

/* every case starts with empty buckets, so limits never leak between cases */
static void reset_sources(void)
{
	struct qs_guard_src k, next;

	while (bpf_map_get_next_key(src_fd, NULL, &next) == 0) {
		k = next;
		bpf_map_delete_elem(src_fd, &k);
	}
}

/* a frame: spec + QUIC kind + datagram length */
static void mk(struct frame *f, const struct spec *s, int kind, int len)
{
	unsigned char pl[1600];

	build(f, s, pl, quic(pl, kind, len));
}

/* ---- cases ----------------------------------------------------------------- */

static int test_pass_cases(void)
{
	struct spec v4 = { 0 }, v6 = { .v6 = 1 };
	struct frame f;

	reset_sources();
	mk(&f, &v4, SHORT, 40);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "v4 short header");
	mk(&f, &v6, SHORT, 21);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "v6 short header of 21 bytes");
	mk(&f, &v4, HANDSHAKE1, 100);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "v1 Handshake");
	mk(&f, &v6, HANDSHAKE2, 100);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "v2 Handshake");
	mk(&f, &v4, ZERORTT1, 300);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "v1 0-RTT");
	mk(&f, &v4, INITIAL1, 1200);
	EXPECT(&f, XDP_PASS_, F(passed), F(passed_initial), "v1 Initial of 1200");
	mk(&f, &v6, INITIAL2, 1350);
	EXPECT(&f, XDP_PASS_, F(passed), F(passed_initial), "v2 Initial of 1350");
	mk(&f, &v4, UNKNOWN, 1200);
	EXPECT(&f, XDP_PASS_, F(passed), F(passed_unknown_version), "unknown version");
	mk(&f, &v4, NOFIX_UNKNOWN, 1200);
	EXPECT(&f, XDP_PASS_, F(passed), F(passed_unknown_version),
	       "unknown version, fixed bit clear (not ours to judge)");
	return 0;
}

static int test_drop_short(void)
{
	struct spec v4 = { 0 }, v6 = { .v6 = 1 };
	struct frame f;

	for (int len = 0; len < QS_GUARD_MIN_QUIC; len++) {
		mk(&f, len & 1 ? &v6 : &v4, len & 2 ? INITIAL1 : SHORT, len);
		EXPECT(&f, XDP_DROP_, F(dropped_short), NONE, "datagram under 21 bytes");
	}
	mk(&f, &v4, SHORT, QS_GUARD_MIN_QUIC);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "21 bytes");
	return 0;
}

static int test_drop_fixed_bit(void)
{
	struct spec v4 = { 0 }, v6 = { .v6 = 1 };
	struct frame f;

	mk(&f, &v4, NOFIX_SHORT, 60);
	EXPECT(&f, XDP_DROP_, F(dropped_fixed_bit), NONE, "v4 short, fixed bit clear");
	mk(&f, &v6, NOFIX_SHORT, 60);
	EXPECT(&f, XDP_DROP_, F(dropped_fixed_bit), NONE, "v6 short, fixed bit clear");
	mk(&f, &v4, NOFIX_LONG1, 1200);
	EXPECT(&f, XDP_DROP_, F(dropped_fixed_bit), NONE, "v1 Initial, fixed bit clear");
	mk(&f, &v6, NOFIX_LONG2, 1200);
	EXPECT(&f, XDP_DROP_, F(dropped_fixed_bit), NONE, "v2 Initial, fixed bit clear");
	return 0;
}

static int test_drop_small_initial(void)
{
	struct spec v4 = { 0 }, v6 = { .v6 = 1 };
	struct frame f;
	int lens[] = { 21, 100, 1199 };

	reset_sources();
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		mk(&f, &v4, INITIAL1, lens[i]);
		EXPECT(&f, XDP_DROP_, F(dropped_small_initial), NONE, "v1 Initial < 1200");
		mk(&f, &v6, INITIAL2, lens[i]);
		EXPECT(&f, XDP_DROP_, F(dropped_small_initial), NONE, "v2 Initial < 1200");
	}
	/* a v1 packet with v2's Initial type bits is 0-RTT: not an Initial */
	mk(&f, &v4, ZERORTT1, 500);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "v1 0-RTT of 500");
	/* and v2's Initial type in v1 is not checked as one either way */
	mk(&f, &v4, INITIAL1, 1200);
	EXPECT(&f, XDP_PASS_, F(passed), F(passed_initial), "v1 Initial of 1200");
	return 0;
}

static int test_initial_rate_limit(void)
{
	struct spec a = { .src = "198.18.1.7" }, b = { .src = "198.18.1.8" };
	struct spec a6 = { .v6 = 1, .src = "2001:db8:7:7::1" }, a6b = { .v6 = 1, .src = "2001:db8:7:7::2:3" },
		    c6 = { .v6 = 1, .src = "2001:db8:7:8::1" };
	struct frame f;

	set_limits(1, 3, 1, 2);
	reset_sources();
	for (int i = 0; i < 3; i++) {
		mk(&f, &a, INITIAL1, 1200);
		EXPECT(&f, XDP_PASS_, F(passed), F(passed_initial), "Initial within burst");
	}
	mk(&f, &a, INITIAL2, 1200);
	EXPECT(&f, XDP_DROP_, F(rate_limited), NONE, "4th Initial from one /32");
	mk(&f, &a, SHORT, 1200);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "short header of a limited source");
	mk(&f, &a, HANDSHAKE1, 1200);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "Handshake of a limited source");
	mk(&f, &b, INITIAL1, 1200);
	EXPECT(&f, XDP_PASS_, F(passed), F(passed_initial), "another /32 has its own bucket");
	/* IPv6: one bucket per /64 */
	for (int i = 0; i < 3; i++) {
		mk(&f, i & 1 ? &a6b : &a6, INITIAL1, 1200);
		EXPECT(&f, XDP_PASS_, F(passed), F(passed_initial), "v6 Initial within burst");
	}
	mk(&f, &a6b, INITIAL1, 1200);
	EXPECT(&f, XDP_DROP_, F(rate_limited), NONE, "4th Initial from one /64, other host");
	mk(&f, &c6, INITIAL1, 1200);
	EXPECT(&f, XDP_PASS_, F(passed), F(passed_initial), "next /64 has its own bucket");
	/* burst 0: the limit is off */
	set_limits(1, 0, 1, 2);
	mk(&f, &a, INITIAL1, 1200);
	EXPECT(&f, XDP_PASS_, F(passed), F(passed_initial), "limit off");
	set_limits(1, 3, 1, 2);
	/* the bucket refills at the rate: one more after a second (coarse clock) */
	usleep(1100 * 1000);
	mk(&f, &a, INITIAL1, 1200);
	EXPECT(&f, XDP_PASS_, F(passed), F(passed_initial), "refilled after 1.1 s at 1/s");
	mk(&f, &a, INITIAL1, 1200);
	EXPECT(&f, XDP_DROP_, F(rate_limited), NONE, "and only one");
	return 0;
}

static int test_unknown_version_rate_limit(void)
{
	struct spec a = { .src = "198.18.1.9" };
	struct frame f;

	set_limits(1, 3, 1, 2);
	reset_sources();
	for (int i = 0; i < 2; i++) {
		mk(&f, &a, UNKNOWN, 1200);
		EXPECT(&f, XDP_PASS_, F(passed), F(passed_unknown_version), "unknown version");
	}
	mk(&f, &a, UNKNOWN, 1200);
	EXPECT(&f, XDP_DROP_, F(unknown_version_limited), NONE, "3rd unknown version");
	/* the Initial bucket is separate */
	mk(&f, &a, INITIAL1, 1200);
	EXPECT(&f, XDP_PASS_, F(passed), F(passed_initial), "Initial after unknown versions");
	return 0;
}

static int add_block(const char *addr, int plen, int v6)
{
	struct qs_guard_prefix k = { 0 };
	struct qs_guard_block v = { 0 };

	if (v6) {
		inet_pton(AF_INET6, addr, k.addr);
		k.prefixlen = (__u32)plen;
	} else {
		k.addr[10] = k.addr[11] = 0xff;
		inet_pton(AF_INET, addr, k.addr + 12);
		k.prefixlen = 96 + (__u32)plen;
	}
	return bpf_map_update_elem(block_fd, &k, &v, BPF_ANY);
}

static int del_block(const char *addr, int plen, int v6)
{
	struct qs_guard_prefix k = { 0 };

	if (v6) {
		inet_pton(AF_INET6, addr, k.addr);
		k.prefixlen = (__u32)plen;
	} else {
		k.addr[10] = k.addr[11] = 0xff;
		inet_pton(AF_INET, addr, k.addr + 12);
		k.prefixlen = 96 + (__u32)plen;
	}
	return bpf_map_delete_elem(block_fd, &k);
}

static int test_blocklist(void)
{
	struct spec in = { .src = "198.18.9.77" }, out = { .src = "198.18.10.1" };
	struct spec in6 = { .v6 = 1, .src = "2001:db8:bad:1::5" }, out6 = { .v6 = 1, .src = "2001:db8:bad0::5" };
	struct qs_guard_prefix k = { .prefixlen = 120 };
	struct qs_guard_block v;
	struct frame f;

	reset_sources();
	CHECK(add_block("198.18.9.0", 24, 0) == 0, "add v4: %s", strerror(errno));
	CHECK(add_block("2001:db8:bad::", 48, 1) == 0, "add v6: %s", strerror(errno));
	mk(&f, &in, SHORT, 100);
	EXPECT(&f, XDP_DROP_, F(blocked), NONE, "v4 source in a blocked /24, short header");
	mk(&f, &in, INITIAL1, 1200);
	EXPECT(&f, XDP_DROP_, F(blocked), NONE, "v4 source in a blocked /24, Initial");
	mk(&f, &out, SHORT, 100);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "v4 source outside");
	mk(&f, &in6, SHORT, 100);
	EXPECT(&f, XDP_DROP_, F(blocked), NONE, "v6 source in a blocked /48");
	mk(&f, &out6, SHORT, 100);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "v6 source outside");
	k.addr[10] = k.addr[11] = 0xff;
	inet_pton(AF_INET, "198.18.9.0", k.addr + 12);
	CHECK(bpf_map_lookup_elem(block_fd, &k, &v) == 0 && v.hits == 2, "hits %llu",
	      (unsigned long long)v.hits);
	CHECK(del_block("198.18.9.0", 24, 0) == 0 && del_block("2001:db8:bad::", 48, 1) == 0,
	      "delete: %s", strerror(errno));
	mk(&f, &in, SHORT, 100);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "unblocked");
	mk(&f, &in6, SHORT, 100);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "v6 unblocked");
	return 0;
}

static int test_other_traffic_untouched(void)
{
	struct spec other_port = { .dport = 4434 }, tcp = { .proto = 6 },
		    other_addr = { .dst = "198.18.0.2" }, v6_other = { .v6 = 1, .dst = "2001:db8::2" },
		    v6_on_any4 = { .v6 = 1, .dport = 8443 }, v4_on_any4 = { .dport = 8443, .dst = "203.0.113.1" },
		    v4_on_dual = { .dport = 9443, .dst = "198.51.100.1" },
		    v6_on_dual = { .v6 = 1, .dport = 9443, .dst = "2001:db8::99" },
		    v6_tcp = { .v6 = 1, .proto = 6 };
	struct frame f;

	/* garbage that the guard would drop if it were ours */
	mk(&f, &other_port, NOFIX_SHORT, 5);
	EXPECT(&f, XDP_PASS_, NONE, NONE, "UDP to another port");
	mk(&f, &tcp, NOFIX_SHORT, 5);
	EXPECT(&f, XDP_PASS_, NONE, NONE, "TCP to our port");
	mk(&f, &v6_tcp, NOFIX_SHORT, 5);
	EXPECT(&f, XDP_PASS_, NONE, NONE, "v6 TCP to our port");
	mk(&f, &other_addr, NOFIX_SHORT, 5);
	EXPECT(&f, XDP_PASS_, NONE, NONE, "our port on another v4 address");
	mk(&f, &v6_other, NOFIX_SHORT, 5);
	EXPECT(&f, XDP_PASS_, NONE, NONE, "our port on another v6 address");
	mk(&f, &v6_on_any4, NOFIX_SHORT, 5);
	EXPECT(&f, XDP_PASS_, NONE, NONE, "IPv6 to a 0.0.0.0 listener's port");
	mk(&f, &v4_on_any4, NOFIX_SHORT, 5);
	EXPECT(&f, XDP_DROP_, F(dropped_short), NONE, "IPv4 to a 0.0.0.0 listener");
	mk(&f, &v4_on_dual, NOFIX_SHORT, 5);
	EXPECT(&f, XDP_DROP_, F(dropped_short), NONE, "IPv4 to a [::] listener");
	mk(&f, &v6_on_dual, NOFIX_SHORT, 5);
	EXPECT(&f, XDP_DROP_, F(dropped_short), NONE, "IPv6 to a [::] listener");
	/* ARP and an unknown ethertype */
	memset(f.b, 0, sizeof(f.b));
	f.b[12] = 0x08; f.b[13] = 0x06;
	f.len = 60;
	EXPECT(&f, XDP_PASS_, NONE, NONE, "ARP");
	f.b[12] = 0x88; f.b[13] = 0xcc;
	EXPECT(&f, XDP_PASS_, NONE, NONE, "LLDP");
	/* an IPv4 header that lies about its length */
	mk(&f, &(struct spec){ 0 }, NOFIX_SHORT, 5);
	f.b[14] = 0x44;	/* ihl 4 */
	EXPECT(&f, XDP_PASS_, NONE, NONE, "IPv4 ihl < 5");
	return 0;
}

static int test_vlan(void)
{
	struct spec q = { .vlans = 1 }, qq = { .vlans = 2 }, qq6 = { .vlans = 2, .v6 = 1 },
		    q_other = { .vlans = 1, .dport = 53 };
	struct frame f;

	reset_sources();
	mk(&f, &q, SHORT, 50);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "802.1Q short header");
	mk(&f, &q, INITIAL1, 1000);
	EXPECT(&f, XDP_DROP_, F(dropped_small_initial), NONE, "802.1Q small Initial");
	mk(&f, &qq, NOFIX_SHORT, 50);
	EXPECT(&f, XDP_DROP_, F(dropped_fixed_bit), NONE, "QinQ fixed bit clear");
	mk(&f, &qq6, INITIAL1, 1200);
	EXPECT(&f, XDP_PASS_, F(passed), F(passed_initial), "QinQ IPv6 Initial");
	mk(&f, &q_other, NOFIX_SHORT, 5);
	EXPECT(&f, XDP_PASS_, NONE, NONE, "802.1Q to another port");
	return 0;
}

static int test_ipv4_options(void)
{
	struct frame f;

	for (int w = 0; w <= 10; w++) {
		struct spec s = { .ip_opt_words = w };

		mk(&f, &s, INITIAL1, 600);
		EXPECT(&f, XDP_DROP_, F(dropped_small_initial), NONE, "IPv4 options, small Initial");
		mk(&f, &s, SHORT, 60);
		EXPECT(&f, XDP_PASS_, F(passed), NONE, "IPv4 options, short header");
	}
	return 0;
}

static int test_fragments(void)
{
	static const unsigned char hop_dst[] = {
		60, 0, 1, 4, 0, 0, 0, 0,            /* hop-by-hop -> dest opts, PadN */
		17, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* dest opts (16) -> UDP */
	};
	static const unsigned char frag_first[] = { 17, 0, 0x00, 0x01, 0, 0, 0, 1 };
	static const unsigned char frag_later[] = { 17, 0, 0x05, 0x00, 0, 0, 0, 1 };
	static const unsigned char five[] = {
		60, 0, 1, 4, 0, 0, 0, 0, 60, 0, 1, 4, 0, 0, 0, 0, 60, 0, 1, 4, 0, 0, 0, 0,
		60, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0,
	};
	struct spec mf = { .frag_off = 0x2000 }, later = { .frag_off = 0x0010 },
		    df = { .frag_off = 0x4000 },
		    x6 = { .v6 = 1, .ext = hop_dst, .ext_len = sizeof(hop_dst), .first_nh = 0 },
		    f6 = { .v6 = 1, .ext = frag_first, .ext_len = 8, .first_nh = 44 },
		    l6 = { .v6 = 1, .ext = frag_later, .ext_len = 8, .first_nh = 44 },
		    long6 = { .v6 = 1, .ext = five, .ext_len = sizeof(five), .first_nh = 0 };
	struct frame f;

	mk(&f, &df, SHORT, 60);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "IPv4 DF set");
	mk(&f, &mf, SHORT, 60);
	EXPECT(&f, XDP_DROP_, F(dropped_fragment), NONE, "IPv4 first fragment");
	mk(&f, &later, NOFIX_SHORT, 60);
	EXPECT(&f, XDP_PASS_, NONE, NONE, "IPv4 later fragment (no UDP header)");
	mk(&f, &x6, NOFIX_SHORT, 60);
	EXPECT(&f, XDP_DROP_, F(dropped_fixed_bit), NONE, "IPv6 hop-by-hop + dest opts");
	mk(&f, &x6, SHORT, 60);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "IPv6 hop-by-hop + dest opts, valid");
	mk(&f, &f6, SHORT, 60);
	EXPECT(&f, XDP_DROP_, F(dropped_fragment), NONE, "IPv6 first fragment");
	mk(&f, &l6, NOFIX_SHORT, 60);
	EXPECT(&f, XDP_PASS_, NONE, NONE, "IPv6 later fragment");
	mk(&f, &long6, NOFIX_SHORT, 60);
	EXPECT(&f, XDP_PASS_, NONE, NONE, "IPv6 chain of 5 extension headers (documented limit)");
	return 0;
}

/* UDP length vs the frame: Ethernet padding is fine, a lying length is not */
static int test_udp_length(void)
{
	struct spec pad = { .pad = 30 }, big = { .udp_len = 8 + 61 }, tiny = { .udp_len = 7 };
	struct frame f;

	mk(&f, &pad, SHORT, 21);
	EXPECT(&f, XDP_PASS_, F(passed), NONE, "21-byte datagram in a padded frame");
	pad.pad = 40;
	mk(&f, &pad, INITIAL1, 20);
	EXPECT(&f, XDP_DROP_, F(dropped_short), NONE, "padding does not make a datagram longer");
	mk(&f, &big, SHORT, 60);
	EXPECT(&f, XDP_DROP_, F(dropped_malformed), NONE, "UDP length beyond the frame");
	mk(&f, &tiny, SHORT, 60);
	EXPECT(&f, XDP_DROP_, F(dropped_malformed), NONE, "UDP length < 8");
	return 0;
}

/*
 * Every truncation of valid frames: a frame cut inside its headers is not
 * ours to judge (PASS, uncounted); cut after the UDP header its UDP length
 * overruns the frame (DROP, dropped_malformed).  The kernel rejects
 * frames shorter than an Ethernet header before the program runs.
 */
static int test_truncated_every_length(void)
{
	static const unsigned char hop[] = { 17, 0, 1, 4, 0, 0, 0, 0 };
	struct spec specs[] = {
		{ 0 }, { .v6 = 1 }, { .vlans = 2 }, { .ip_opt_words = 3 },
		{ .v6 = 1, .vlans = 1, .ext = hop, .ext_len = 8, .first_nh = 0 },
	};
	int kinds[] = { INITIAL1, SHORT, UNKNOWN };

	set_limits(0, 0, 0, 0);	/* no limits: the verdict depends on the bytes only */
	for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++)
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			struct frame full, f;
			unsigned char pl[1600];
			int plen = quic(pl, kinds[k], kinds[k] == SHORT ? 60 : 1200);
			int hdrs = build(&full, &specs[s], pl, plen);

			for (int len = ETH_HLEN; len < full.len; len++) {
				f = full;
				f.len = len;
				if (len < hdrs)
					EXPECT(&f, XDP_PASS_, NONE, NONE, "cut inside the headers");
				else
					EXPECT(&f, XDP_DROP_, F(dropped_malformed), NONE,
					       "cut inside the datagram");
			}
			f = full;
			EXPECT(&f, XDP_PASS_, F(passed),
			       kinds[k] == INITIAL1 ? F(passed_initial) :
			       kinds[k] == UNKNOWN ? F(passed_unknown_version) : NONE, "whole frame");
		}
	set_limits(1, 3, 1, 2);
	return 0;
}

static int setup(void)
{
	struct qs_guard_ro *ro;
	int ret;

	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0 || ncpus > 256)
		return -EINVAL;
	skel = guard__open();
	if (!skel)
		return -errno;
	ro = (struct qs_guard_ro *)&skel->rodata->qs_guard_ro;
	/* 198.18.0.1:4433, [2001:db8::1]:4433, 0.0.0.0:8443, [::]:9443 */
	ro->n_listeners = 4;
	ro->listeners[0].addr[2] = htonl(0xffff);
	inet_pton(AF_INET, "198.18.0.1", &ro->listeners[0].addr[3]);
	ro->listeners[0].port = htons(PORT);
	inet_pton(AF_INET6, "2001:db8::1", ro->listeners[1].addr);
	ro->listeners[1].port = htons(PORT);
	ro->listeners[2].port = htons(8443);
	ro->listeners[2].wild = QS_GUARD_ANY4;
	ro->listeners[3].port = htons(9443);
	ro->listeners[3].wild = QS_GUARD_ANY;
	snprintf(ro->instance, sizeof(ro->instance), "unit-test");
	bpf_program__set_autoload(skel->progs.qs_guard_base, false);
	ret = guard__load(skel);
	if (ret)
		return ret;
	prog_fd = bpf_program__fd(skel->progs.qs_guard);
	stats_fd = bpf_map__fd(skel->maps.qs_guard_stats);
	block_fd = bpf_map__fd(skel->maps.qs_guard_block);
	src_fd = bpf_map__fd(skel->maps.qs_guard_src);
	set_limits(1, 3, 1, 2);
	return 0;
}

int main(void)
{
	const char *ci = getenv("CI");
	int ret;

	if (geteuid() != 0) {
		printf("skipped: the guard unit tests load BPF (run as root)\n");
		return ci && !strcmp(ci, "true") ? 1 : 77;
	}
	ret = setup();
	if (ret) {
		printf("FAIL setup: cannot load bpf/guard.bpf.c: %s\n", strerror(-ret));
		return 1;
	}
	RUN(test_pass_cases);
	RUN(test_drop_short);
	RUN(test_drop_fixed_bit);
	RUN(test_drop_small_initial);
	RUN(test_initial_rate_limit);
	RUN(test_unknown_version_rate_limit);
	RUN(test_blocklist);
	RUN(test_other_traffic_untouched);
	RUN(test_vlan);
	RUN(test_ipv4_options);
	RUN(test_fragments);
	RUN(test_udp_length);
	RUN(test_truncated_every_length);
	guard__destroy(skel);
	return DONE();
}
