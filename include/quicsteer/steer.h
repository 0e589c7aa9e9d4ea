/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types of the pinned BPF maps, shared by bpf/steer.bpf.c, the loader,
 * the workers and the test tools.  Field names are what `bpftool map dump`
 * prints, so they are part of the operator interface: only append.
 */
#ifndef QUICSTEER_STEER_H
#define QUICSTEER_STEER_H

#include "cid.h"

/* Pin names under /sys/fs/bpf/quicsteer/<instance>/ */
#define QS_PIN_ROOT        "/sys/fs/bpf/quicsteer"
#define QS_PIN_SOCKS       "qs_socks"
#define QS_PIN_STATE       "qs_state"
#define QS_PIN_CID_KEYS    "qs_cid_keys"
#define QS_PIN_STATS       "qs_steer_stats"
#define QS_PIN_WORKERS     "qs_worker_stats"
#define QS_PIN_PROG_FMT    "qs_steer_l%u"   /* one program per listener */
#define QS_PIN_BASELINE_FMT "qs_baseline_l%u" /* --steering baseline */
#define QS_PIN_TCP_SOCKS   "qs_tcp_socks"
#define QS_PIN_TCP_STATS   "qs_tcp_steer_stats"
#define QS_PIN_TCP_PROG_FMT "qs_tcp_steer_l%u" /* the TCP group's, per listener */

/* One entry (key 0): what the program needs besides the CID keys. */
struct qs_steer_state {
	__u32 cur_gen;                 /* generation that takes new flows */
	__u32 cur_config;              /* config id new CIDs are minted with */
	__u32 live[QS_MAX_GENS];       /* workers per generation */
};

/*
 * Per-CPU, one entry.  Every datagram the program sees increments exactly
 * one of the first five counters; select_failed counts hash-path
 * selections the kernel refused (it then falls back to its own hash).
 */
struct qs_steer_stats {
	__u64 cid_routed;     /* our CID, owner's socket selected */
	__u64 new_flow;       /* long header without our CID: hashed */
	__u64 unroutable;     /* short header whose DCID is not ours: hashed */
	__u64 stale;          /* our CID, but its (gen, worker) has no socket */
	__u64 malformed;      /* too short to parse (empty, truncated) */
	__u64 select_failed;  /* hash path: no live worker or select error */
};

/*
 * Per-CPU, one entry: the TCP program.  Every call increments exactly one
 * of the first three counters (a migration by the state of what moves);
 * select_failed counts those where no current socket could be selected
 * (the kernel then hashes over the listeners left in the group).
 */
struct qs_tcp_steer_stats {
	__u64 new_conn;       /* a SYN: a socket of the current generation */
	__u64 migrated_req;   /* a request (SYN received) of a closed listener */
	__u64 migrated_child; /* an established connection in a closed listener's queue */
	__u64 select_failed;  /* no live socket of the current generation selected */
};

/*
 * php-fpm's time per PHP request (from the request written to php-fpm to
 * its end), as a histogram: bucket[i] counts the requests that took at
 * most the i-th bound of user/common/phptime.h and more than the one
 * before (the loader makes them cumulative), the last one those above
 * every bound.
 */
#define QS_PHP_TIME_BUCKETS 15

struct qs_php_time {
	__u64 bucket[QS_PHP_TIME_BUCKETS];
	__u64 sum_us;         /* microseconds, all requests counted */
};

/*
 * Worker counters, one entry per (gen, worker) = gen * 64 + worker, in an
 * mmap-able array the loader maps before forking: workers write it,
 * bpftool and tests read it.  Monotonic for the life of the instance,
 * across worker restarts.
 */
struct qs_worker_stats {
	__u64 pid;            /* current process, 0 when not running */
	__u64 starts;         /* times the loader (re)started this worker */
	__u64 rx_datagrams;
	__u64 rx_bytes;
	__u64 rx_short;       /* short-header packets */
	__u64 rx_long;        /* long-header packets */
	__u64 rx_cid_own;     /* DCID decodes to this (gen, worker) */
	__u64 rx_cid_foreign; /* DCID decodes to another (gen, worker) */
	__u64 rx_cid_other;   /* DCID is not one of ours */
	__u64 rx_malformed;   /* empty or truncated */
	/* QUIC and HTTP/3 (the worker's server) */
	__u64 conn_accepted;  /* connections created from a client Initial */
	__u64 conn_closed;
	__u64 conn_active;    /* gauge */
	__u64 handshakes;     /* handshakes completed */
	__u64 migrations;     /* path validations that succeeded (client moved) */
	__u64 stateless_resets;
	__u64 retries;        /* Retry packets sent */
	__u64 version_negotiations;
	__u64 tokens_rejected; /* Retry / NEW_TOKEN tokens that failed to verify */
	__u64 conn_refused;   /* Initials refused (CONNECTION_CLOSE): --max-connections reached */
	__u64 req_2xx;
	__u64 req_3xx;
	__u64 req_4xx;
	__u64 req_5xx;
	__u64 tx_datagrams;
	__u64 tx_bytes;
	__u64 rx_dropped;     /* datagrams the server could not use (no conn, bad header) */
	/* session resumption and 0-RTT */
	__u64 hs_full;        /* handshakes completed without resumption */
	__u64 hs_resumed;     /* handshakes that resumed a ticket */
	__u64 tickets_issued;
	__u64 ticket_unknown_key; /* tickets not decrypted: no key of that name */
	__u64 ticket_expired;     /* decrypted, but older than the ticket lifetime */
	__u64 ticket_corrupt;     /* bad MAC, bad encoding, no quicsteer data */
	__u64 early_offered;      /* ClientHellos with early data */
	__u64 early_accepted;
	__u64 early_rej_replay;   /* the host saw this ClientHello before */
	__u64 early_rej_settings; /* the ticket remembers larger limits */
	__u64 early_rej_policy;   /* --early-data off */
	__u64 early_rej_host;     /* the ticket was issued under another host's register */
	__u64 early_rej_other;    /* not resumed, ticket age out of window */
	__u64 req_early;          /* requests run before the handshake completed */
	__u64 req_deferred;       /* unsafe 0-RTT requests held until the handshake */
	__u64 req_too_early;      /* unsafe 0-RTT requests answered 425 */
	/* PHP */
	__u64 php_retries;        /* requests sent again: a kept-alive FastCGI connection was gone */
	__u64 req_rate_limited;   /* PHP requests answered 429 over --rate-limit */
	__u64 php_finishers;      /* scripts learnt to answer early and run on (fastcgi_finish_request) */
	/* half-open connections and address validation (quic/accept.c) */
	__u64 conn_unvalidated;   /* gauge: connections whose client address is not validated */
	__u64 hs_timeout;         /* dropped: no handshake within --handshake-timeout */
	__u64 hs_evicted;         /* dropped: the oldest half-open one, for a validated client */
	__u64 retry_unvalidated;  /* Retries sent because of --retry-unvalidated (also in retries) */
	__u64 tokens_reused;      /* NEW_TOKEN tokens the host saw before (or register full) */
	/* the request layer's limits (http/req.c) */
	__u64 req_header_timeouts; /* streams reset: header block not complete in time */
	__u64 req_file_waits;     /* requests that waited for a file slot of their connection */
	__u64 req_resp_budget;    /* requests answered 503: --max-response-memory held */
	__u64 resp_held;          /* gauge: response bytes held for clients */
	__u64 resp_compressed;    /* responses sent compressed by the server (not precompressed) */
	__u64 compress_in;        /* bytes through the encoders, before and after */
	__u64 compress_out;
	__u64 resp_precompressed; /* static files answered with a precompressed variant */
	/* HTTPS over TCP (worker/tcp/, http/h1.c, http/h2.c) */
	__u64 tcp_accepted;       /* TCP connections accepted */
	__u64 tcp_closed;
	__u64 tcp_active;         /* gauge */
	__u64 tcp_refused;        /* closed at once: --max-tcp-connections reached */
	__u64 tcp_hs_full;        /* TLS handshakes over TCP, full */
	__u64 tcp_hs_resumed;     /* ... resumed from a ticket */
	__u64 tcp_hs_failed;      /* ... failed or timed out */
	__u64 req_h1;             /* requests over HTTP/1.1 */
	__u64 req_h2;             /* requests over HTTP/2 */
	__u64 req_h3;             /* requests over HTTP/3 */
	__u64 h1_bad_requests;    /* HTTP/1.1 requests refused 400 and closed (smuggling, syntax) */
	__u64 h2_floods;          /* HTTP/2 connections ended with GOAWAY for a flood */
	__u64 access_log_dropped; /* access log lines dropped: a write failed or was short */
	struct qs_php_time php_time; /* not a counter: /metrics shows it as a histogram */
};

#define QS_WORKER_SLOTS (QS_MAX_GENS * QS_MAX_WORKERS)

#endif /* QUICSTEER_STEER_H */
