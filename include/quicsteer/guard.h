/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types of the XDP guard (bpf/guard.bpf.c), shared by the program, the
 * loader, the unit tests and bench/test scripts.  Field names are what
 * `bpftool map dump` prints, so they are part of the operator interface:
 * only append.
 */
#ifndef QUICSTEER_GUARD_H
#define QUICSTEER_GUARD_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Pin names under /sys/fs/bpf/quicsteer/<instance>/ (beside the steering maps) */
#define QS_PIN_GUARD_STATS   "qs_guard_stats"
#define QS_PIN_GUARD_CFG     "qs_guard_cfg"
#define QS_PIN_GUARD_BLOCK   "qs_guard_block"
#define QS_PIN_GUARD_SOURCES "qs_guard_src"

#define QS_GUARD_PROG_NAME   "qs_guard"
#define QS_GUARD_MAX_LISTENERS 8
#define QS_GUARD_INSTANCE_MAX 32
#define QS_GUARD_SOURCES     65536   /* LRU: sources tracked at once */
#define QS_GUARD_BLOCK_MAX   16384   /* blocklist prefixes */
#define QS_GUARD_MAGIC       0x71736764u /* "qsgd": marks our read-only data */

/*
 * Smallest QUIC packet: 1 flags byte, a 4-byte packet number and the
 * 16-byte header-protection sample (RFC 9000 10.3: 21 bytes).
 */
#define QS_GUARD_MIN_QUIC    21
/* RFC 9000 14.1: a server MUST discard a client Initial in a smaller datagram */
#define QS_GUARD_MIN_INITIAL 1200

/*
 * Per-CPU, one entry.  Every UDP datagram to a listen address increments
 * exactly one of the counters up to unknown_version_limited; the last two
 * break `passed` down.  Traffic to other ports is not counted (untouched).
 */
struct qs_guard_stats {
	__u64 passed;                /* handed to the stack (and the workers) */
	__u64 dropped_short;         /* empty or < 21 bytes: cannot be QUIC */
	__u64 dropped_fixed_bit;     /* v1/v2 long or short header with the fixed bit clear */
	__u64 dropped_small_initial; /* client Initial in a datagram < 1200 bytes */
	__u64 rate_limited;          /* Initial over its source's token bucket */
	__u64 blocked;               /* source in the operator blocklist */
	__u64 unknown_version_limited; /* unknown-version long header over its bucket */
	__u64 dropped_fragment;      /* first IP fragment of a datagram to us (QUIC never fragments) */
	__u64 dropped_malformed;     /* UDP length < 8 or beyond the frame */
	__u64 passed_initial;        /* of passed: Initials within their bucket */
	__u64 passed_unknown_version; /* of passed: unknown versions within their bucket */
};

/*
 * One entry (key 0), tunable at run time with bpftool.  Rates are per
 * source (IPv4 /32, IPv6 /64) and second; a rate or a burst of 0 turns
 * that limit off.
 */
struct qs_guard_config {
	__u32 initial_rate;
	__u32 initial_burst;
	__u32 unknown_rate;          /* long headers of versions other than v1/v2 */
	__u32 unknown_burst;
};

/* LRU hash key: IPv4 as ::ffff:a.b.c.d, IPv6 its /64 (low 64 bits zero). */
struct qs_guard_src {
	__u32 addr[4];
};

/*
 * GCRA state ("theoretical arrival time", ns of the coarse monotonic
 * clock): one 64-bit word per limit, updated with compare-and-swap, so
 * CPUs racing on one source never let more through than the bucket holds.
 */
struct qs_guard_bucket {
	__u64 initial_tat;
	__u64 unknown_tat;
};

/*
 * LPM-trie key: prefixlen in host byte order, then 16 address bytes in
 * network order; IPv4 prefixes are IPv4-mapped (::ffff:0:0/96 + n), so
 * 198.18.2.0/24 is prefixlen 120, ::ffff:198.18.2.0.
 */
struct qs_guard_prefix {
	__u32 prefixlen;
	__u8 addr[16];
};

/* LPM-trie value: datagrams dropped because of this prefix. */
struct qs_guard_block {
	__u64 hits;
};

enum qs_guard_wild {
	QS_GUARD_EXACT = 0,          /* this address only */
	QS_GUARD_ANY4 = 1,           /* 0.0.0.0 */
	QS_GUARD_ANY = 2,            /* [::] dual-stack: IPv4 and IPv6 */
};

/* A listen address; IPv4 as ::ffff:a.b.c.d.  Port in network order. */
struct qs_guard_listener {
	__u32 addr[4];
	__u16 port;
	__u8 wild;                   /* enum qs_guard_wild */
	__u8 _pad;
};

/*
 * The program's read-only data (its .rodata is this one struct): set by
 * the loader before load.  The instance name lets a restarted loader
 * recognise the guard a crashed run of the same instance left attached.
 */
struct qs_guard_ro {
	__u32 magic;                 /* QS_GUARD_MAGIC */
	__u32 n_listeners;
	struct qs_guard_listener listeners[QS_GUARD_MAX_LISTENERS];
	char instance[QS_GUARD_INSTANCE_MAX + 1];
};

#endif /* QUICSTEER_GUARD_H */
