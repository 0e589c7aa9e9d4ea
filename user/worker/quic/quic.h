/* SPDX-License-Identifier: MIT */
/*
 * A worker's QUIC server: ngtcp2 connections with the OpenSSL 3.5 backend,
 * connection IDs minted with include/quicsteer/cid.h by this worker's
 * (generation, id), version negotiation, stateless resets (rate-limited),
 * Retry and NEW_TOKEN tokens from the secret every worker shares, and the
 * timers of all connections in one heap; the event loop sleeps until the
 * earliest (epoll_pwait2 timeout: re-arming a timerfd on every change of
 * the earliest deadline cost a tenth of a busy worker).
 */
#ifndef QS_WORKER_QUIC_H
#define QS_WORKER_QUIC_H

/*
 * What this server promises a client (transport parameters, HTTP/3
 * SETTINGS); tickets remember them (quic/tickets.c) so 0-RTT is refused
 * after a change that lowers them.
 */
#define QS_TP_STREAM_WINDOW  (256u << 10)   /* initial_max_stream_data_* */
#define QS_TP_CONN_WINDOW    (1u << 20)     /* initial_max_data */
#define QS_TP_STREAMS_UNI    3u
#define QS_TP_CID_LIMIT      7u
#define QS_H3_QPACK_CAPACITY 4096u
#define QS_H3_QPACK_BLOCKED  100u

#include <stdbool.h>
#include <stdint.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <nghttp3/nghttp3.h>
#include <openssl/ssl.h>

#include "common/shared.h"
#include "worker/quic/cidmap.h"
#include "worker/quic/net.h"

struct qs_config;
struct qs_site;
struct qs_worker_stats;
struct qs_h3_stream;
struct qs_strike;

enum qs_conn_state { QS_CONN_LIVE, QS_CONN_CLOSING, QS_CONN_DRAINING };

struct qs_conn {
	struct qs_server *srv;
	ngtcp2_conn *qc;
	ngtcp2_crypto_conn_ref ref;
	SSL *ssl;
	void *ossl_ctx;                 /* ngtcp2_crypto_ossl_ctx */
	nghttp3_conn *h3;
	ngtcp2_ccerr last_error;
	enum qs_conn_state state;
	ngtcp2_tstamp deadline;         /* closing/draining period end */
	uint8_t *closebuf;              /* CONNECTION_CLOSE to repeat while closing */
	size_t closelen;
	unsigned close_rx, close_next;  /* resend on packets 1, 2, 4, 8, ... */
	ngtcp2_tstamp expiry;           /* heap key */
	size_t heap_idx;
	bool handshake_done;
	unsigned busy;                  /* backend slots its requests hold (req.conn_busy) */
	unsigned files;                 /* response files its streams hold open (req.conn_files) */
	bool migrated;                  /* a path validation succeeded: the client moved */
	/* client address not validated yet (no token, no handshake): on the
	 * server's half-open list, oldest first */
	bool unvalidated;
	ngtcp2_tstamp unv_since;
	struct qs_conn *unv_prev, *unv_next;
	/* session resumption and 0-RTT (quic/tickets.c) */
	uint8_t tkt_unknown;            /* the ticket named a key we do not have */
	uint8_t early_refused;          /* enum qs_early_refusal */
	uint8_t early_counted;          /* 0-RTT counters done for this handshake */
	bool goaway_sent;
	bool in_write_list;
	bool budget_blocked;            /* a stream waits for the connection's send budget */
	struct qs_conn *next_write;
	struct qs_h3_stream *streams;   /* open request streams */
	uint64_t tx_unacked;            /* response body bytes held until acked */
	/* what the socket refused (EAGAIN), in order, sent when it is writable */
	struct qs_held_tx *blocked;
	int qlog_fd;                    /* --qlog-dir: this connection's file, or -1 */
};

/* A batch written and not sent: ngtcp2 counts it sent, so it must go. */
struct qs_held_tx {
	struct qs_held_tx *next;
	struct qs_endpoint *ep;
	struct qs_addr local, remote;
	size_t len, gso;
	uint8_t ecn;
	uint8_t data[];
};

/*
 * The application protocol on the connections (HTTP/3, http/h3.c), as the
 * worker installs it: the transport calls it, never the other way round.
 */
struct qs_app_ops {
	/* 1-RTT keys are in: open the application's streams; 0 or -1 */
	int (*setup)(struct qs_conn *c);
	/* the handshake completed: run what waited for it */
	void (*on_handshake)(struct qs_conn *c);
	/* the connection goes: free the application's state */
	void (*conn_free)(struct qs_conn *c);
};

enum qs_early_refusal {
	QS_EARLY_OK,
	QS_EARLY_REPLAY,                /* seen before on this host (or register full) */
	QS_EARLY_SETTINGS,              /* the ticket remembers larger limits */
	QS_EARLY_HOST,                  /* issued under another host's register */
};

struct qs_server {
	const struct qs_config *cfg;
	unsigned gen, id;
	struct qs_worker_stats *stats;
	const struct qs_shared *shared_live;  /* re-read on key changes */
	struct qs_shared secrets;             /* this worker's snapshot */
	SSL_CTX *ssl_ctx;
	struct qs_site *site;                 /* what requests are served from */
	const struct qs_app_ops *app;
	struct qs_endpoint eps[8];
	unsigned n_eps;
	struct qs_cidmap map;
	struct qs_conn *rx_conn;              /* the connection reading a packet now */
	const ngtcp2_path *rx_path;           /* ... and the path it came on */
	struct qs_conn **heap;
	size_t heap_len, heap_cap;
	struct qs_conn *write_list;
	unsigned n_conns;
	unsigned n_blocked;                   /* conns with a blocked batch */
	/* stateless reset token bucket */
	double sr_tokens;
	ngtcp2_tstamp sr_last;
	/* handshake rate, for --retry auto */
	ngtcp2_tstamp hs_window;
	unsigned hs_count;
	/* half-open connections of unvalidated clients (quic/accept.c) */
	struct qs_conn *unv_head, *unv_tail;
	unsigned n_unvalidated;
	/* NEW_TOKEN tokens honoured on this host, single use (shared register) */
	struct qs_strike *tokens;
	uint64_t token_key[2];
	bool draining;                        /* SIGTERM: GOAWAY sent, no new conns */
	ngtcp2_tstamp drain_deadline;
	uint8_t rxbuf[65536];
	uint8_t txbuf[65536];
};

int qs_server_init(struct qs_server *s);
void qs_server_free(struct qs_server *s);

/* One received datagram (one GRO segment) on endpoint ep. */
void qs_server_read(struct qs_server *s, struct qs_endpoint *ep, const struct qs_rx *rx,
		    const uint8_t *data, size_t len);
/* Write everything pending on the connections that received data. */
void qs_server_flush(struct qs_server *s);
/* The earliest deadline of any connection (UINT64_MAX: none). */
ngtcp2_tstamp qs_server_next_deadline(const struct qs_server *s);
/* Handle every deadline that has passed. */
void qs_server_on_timer(struct qs_server *s);
/* An endpoint became writable: retry blocked batches. */
void qs_server_on_writable(struct qs_server *s);
/* SIGTERM: GOAWAY everywhere, stop accepting; done when it returns true. */
void qs_server_start_drain(struct qs_server *s);
bool qs_server_drained(struct qs_server *s);

ngtcp2_tstamp qs_now(void);

/* The application wrote something on c: write it out at the end of this batch. */
void qs_conn_schedule_write(struct qs_conn *c);

#endif
