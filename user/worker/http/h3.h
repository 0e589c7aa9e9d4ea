/* SPDX-License-Identifier: MIT */
/*
 * HTTP/3 on a QUIC connection (nghttp3), mapped to the request layer
 * (http/req.h) and nothing else: a request stream's header block becomes
 * a struct qs_req, its body goes to the handler with QUIC flow-control
 * credit returned as the handler consumes it, and the response streams in
 * bounded chunks that are freed when the peer acknowledges them.
 */
#ifndef QS_WORKER_HTTP_H3_H
#define QS_WORKER_HTTP_H3_H

#include <stdbool.h>
#include <stdint.h>

#include "worker/http/body.h"
#include "worker/http/req.h"

struct qs_conn;

/*
 * A request stream's life, request side; changed only through
 * set_state() in h3.c.  The response side is its send queue below.
 */
enum qs_h3_state {
	QS_H3_RECV_HEADERS,      /* the header block is arriving */
	QS_H3_DEFERRED,          /* 0-RTT, unsafe method: held until the handshake */
	QS_H3_RECV_BODY,         /* the handler runs and takes the body as it comes */
	QS_H3_BODY_DONE,         /* the handler has the whole body, or wants no more */
};

struct qs_h3_stream {
	struct qs_req req;                  /* what the handler sees */
	int64_t id;
	struct qs_conn *conn;
	struct qs_h3_stream *next, *prev;   /* the connection's open streams */
	enum qs_h3_state state;
	int reject;                         /* 400, 431 or 503: the header block is refused */
	size_t header_bytes;
	bool recv_fin;                      /* the client ended its side */
	/* request body: delivered to the handler and not yet credited */
	uint64_t uncredited;
	uint64_t conn_ahead;                /* ... of which the connection's credit was returned */
	/* a deferred 0-RTT request's body, not credited (its stream window bounds it) */
	uint8_t *early_body;
	size_t early_len, early_cap;
	struct qs_body_out out;             /* response: what the handler gave */
	struct qs_chunk *head, *tail;       /* handed to nghttp3, not yet acked */
	size_t head_acked;                  /* bytes of head acknowledged */
	uint64_t unacked;
	bool blocked;                       /* read_data said WOULDBLOCK */
	bool eof;                           /* all body bytes handed over */
};

/* HTTP/3 as the transport's application (quic.h) */
extern const struct qs_app_ops qs_h3_app;

int qs_conn_setup_h3(struct qs_conn *c);
/* The handshake completed: run the requests that waited for it. */
void qs_h3_on_handshake(struct qs_conn *c);
void qs_h3_conn_free(struct qs_conn *c);

#endif
