/* SPDX-License-Identifier: MIT */
/* quicsteer-load: one connection, shared by quic.c, h3.c and tls.c only. */
#ifndef QS_LOAD_CONN_H
#define QS_LOAD_CONN_H

#include "load.h"

struct load_req {
	struct load_req *next_free;
	int64_t stream_id;
	uint64_t t_start;
	uint64_t body;
	int status;
	bool in_use;
	bool body_given;           /* --stall-after: its part of the body went */
	uint64_t sent;             /* --stall-headers: stream bytes handed to QUIC */
	bool stalled;              /* --stall-headers: they are all it gets */
};

struct load_conn {
	struct load_run *run;
	unsigned id;
	int fd;
	bool closed;
	bool hs_done;
	bool goaway;               /* server sent GOAWAY: no new requests here */
	bool got_reset;            /* a stateless reset arrived */
	bool gro;                  /* UDP_GRO enabled on the socket */
	bool resumed;              /* the handshake resumed a session */
	bool early;                /* requests were sent in 0-RTT */
	bool recycle;              /* --reconnect: closed after its requests */
	unsigned submitted;        /* requests submitted on this connection */
	unsigned answered;         /* responses completed on this connection */
	uint64_t ttfb;             /* 0 until the first response field */
	ngtcp2_conn *qc;
	nghttp3_conn *h3;
	SSL *ssl;
	ngtcp2_crypto_ossl_ctx *ossl;
	ngtcp2_crypto_conn_ref ref;
	struct sockaddr_storage local;
	socklen_t locallen;
	ngtcp2_ccerr ccerr;        /* sent to the server when we close on an error */
	bool ccerr_set;
	char why[256];             /* set by a callback that failed */
	uint64_t t_start;
	uint64_t last_progress;    /* last response bytes (or request submitted) */
	uint64_t expiry;           /* ngtcp2 timer */
	uint64_t credit_owed;      /* --rate: connection credit not handed back yet */
	uint64_t credit_given;     /* --rate: handed back so far */
	unsigned inflight;
	struct load_req *reqs;
	struct load_req *free_reqs;
	uint8_t *pending;          /* one datagram the socket refused (EAGAIN) */
	size_t pending_len;
};

/* The request on stream_id, NULL if none (a linear scan: hostile-client modes only). */
static inline struct load_req *conn_find_req(struct load_conn *c, int64_t stream_id,
					     unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (c->reqs[i].in_use && c->reqs[i].stream_id == stream_id)
			return &c->reqs[i];
	return NULL;
}

/* quic.c */
int conn_migrate(struct load_conn *c);
void conn_consumed(struct load_conn *c, int64_t stream_id, uint64_t n);
void conn_set_why(struct load_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void conn_set_app_error(struct load_conn *c, uint64_t code);

/* h3.c */
int conn_setup_h3(struct load_conn *c);
void conn_fill(struct load_conn *c);
void conn_req_put(struct load_conn *c, struct load_req *r);

/* tls.c */
int conn_tls_init(struct load_conn *c);
void conn_describe_ccerr(const ngtcp2_ccerr *ce, char *buf, size_t len);
const char *h3_err_name(uint64_t code);

#endif /* QS_LOAD_CONN_H */
