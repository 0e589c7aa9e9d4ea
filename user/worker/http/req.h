/* SPDX-License-Identifier: MIT */
/*
 * The request layer: one protocol-neutral request and response API between
 * the protocols (http/h3.c today; HTTP/2 and HTTP/1.1 later) and the
 * handlers (handler/: static files, scripts).  A handler sees a struct qs_req
 * and answers through qs_respond()/qs_send()/qs_send_file()/qs_end(); it
 * never sees ngtcp2 or nghttp3.
 *
 * The protocol layer calls the handler's start() once the header block is
 * in and the request may run, then body() with the body bytes (end: the
 * body is complete, exactly once), proceed() when the client took response
 * bytes and can take more, and close() when the stream is gone.
 *
 * Backpressure both ways goes through this API.  Request body: every byte
 * delivered to body() is the handler's until it calls qs_req_consume() (the
 * protocol then lets the client send as many more: QUIC flow control
 * today) or qs_req_hold() (the handler keeps the bytes in a buffer its
 * stream window bounds: the connection-wide credit may be given back now,
 * so that requests waiting on the handler never block the bodies of the
 * others).  Response body: qs_send_backlog() says a window's worth waits
 * for the client: stop producing until proceed().
 *
 * What every response gets is added here, once for every protocol: the
 * status counters, `server` and `date` (RFC 9110 6.6.1), error pages.
 */
#ifndef QS_WORKER_HTTP_REQ_H
#define QS_WORKER_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "worker/http/trace.h"
#include "worker/http/encode.h"

struct qs_req;
struct qs_site;

/* A response field: name (lowercase) and value, not NUL-terminated. */
struct qs_field {
	const char *name;
	const char *value;
	size_t name_len, value_len;
};

#define QS_FIELD(n, v, vl) { (n), (v), sizeof(n) - 1, (vl) }

/* Most fields a response may carry (the handler's; the layer adds its own). */
#define QS_RESP_FIELDS_MAX 256

struct qs_handler {
	const char *name;
	const char *upstream;       /* the access log's "upstream" ("static"); NULL: internal */
	bool rate_limited;          /* --rate-limit counts its requests (the costly ones) */
	/* The header block is in and the request may run: 0 or -errno. */
	int (*start)(struct qs_req *req);
	/*
	 * Body bytes in order; end: the body is complete (then len may be 0).
	 * Called with end exactly once unless the stream goes first.  NULL: the
	 * handler takes no body (the layer consumes and drops it).
	 */
	int (*body)(struct qs_req *req, const uint8_t *data, size_t len, bool end);
	/* The client took response bytes: it can take more (may be NULL). */
	void (*proceed)(struct qs_req *req);
	/* The stream is gone: free what the handler holds (may be NULL). */
	void (*close)(struct qs_req *req);
};

/* What a protocol implements for its requests (http/h3.c). */
struct qs_proto_ops {
	/* fields: the complete list, :status aside; body: a body follows */
	int (*respond)(struct qs_req *req, const struct qs_field *f, size_t n, bool body);
	int (*send)(struct qs_req *req, const uint8_t *data, size_t len);
	/* the body's last part: len bytes of fd from off; fd is the protocol's now */
	int (*send_file)(struct qs_req *req, int fd, uint64_t off, uint64_t len);
	void (*end)(struct qs_req *req);
	void (*abort)(struct qs_req *req);
	bool (*backlog)(struct qs_req *req);
	void (*consume)(struct qs_req *req, uint64_t n);
	void (*hold)(struct qs_req *req, uint64_t n);
	/* the handler wants no more of the body: stop it, drop what comes */
	void (*stop_body)(struct qs_req *req);
	/* the client's and our address as of the latest packet */
	void (*addr)(const struct qs_req *req, const struct sockaddr **peer,
		     const struct sockaddr **local);
};

/* A request's place on one of the site's timeout lists, and its last activity. */
struct qs_req_wait {
	struct qs_req_wait *next, *prev;
	uint64_t at;                /* ns, CLOCK_MONOTONIC_COARSE */
	bool on;
};

struct qs_req_waits {
	struct qs_req_wait *head, *tail;    /* oldest activity first */
};

struct qs_tls_info {
	const char *version;        /* "TLSv1.3"; NULL without TLS */
	const char *cipher;
	bool resumed;
};

struct qs_req {
	/* the request, filled by the protocol before start(); read-only to handlers */
	char method[16];
	char *path;                 /* :path with the query, NUL-terminated */
	size_t pathlen;
	char *authority;            /* NULL when absent */
	const char *scheme;         /* "https" */
	const char *protocol;       /* "HTTP/3", "HTTP/2.0", "HTTP/1.1": CGI's SERVER_PROTOCOL */
	/* over TCP while HTTP/3 listens on the port: `h3=":PORT"; ma=86400`, else NULL */
	const char *alt_svc;
	char *range, *if_none_match, *if_modified_since, *if_range;
	char *accept_encoding;      /* NULL when absent (http/encode.c) */
	char *content_type;
	char *fields;               /* every regular field, "name\0value\0"... */
	size_t fields_len, fields_cap;
	int64_t content_length;     /* -1: none given */
	uint64_t id;                /* unique within the worker */
	/* x-request-id (http/trace.h): the client's when sane, else ours; final at the
	 * end of the header block */
	char request_id[QS_REQ_ID_MAX + 1];
	uint8_t request_id_len;
	bool request_id_refused;    /* an x-request-id came that we do not keep */
	struct qs_trace trace;      /* traceparent: given, and our span */
	struct qs_tls_info tls;
	/* backend slots the client's connection holds now (handlers count theirs) */
	unsigned *conn_busy;
	/* response files the connection holds open now (the layer counts them) */
	unsigned *conn_files;
	bool head;                  /* the method is HEAD: no response body */
	bool early;                 /* received in 0-RTT (may be a replay: RFC 8470) */
	struct qs_site *site;
	/* the connection's path changed (QUIC migration); NULL over TCP */
	const bool *conn_migrated;
	/* the response, kept by the layer */
	int status;                 /* 0 until respond */
	/* for the access log (the layer and the protocols keep them) */
	uint64_t start_ns;          /* CLOCK_MONOTONIC: the header block began */
	uint64_t bytes_in;          /* body bytes received */
	uint64_t bytes_out;         /* body bytes sent: see qs_req_sent() */
	uint64_t upstream_at, upstream_ns;   /* a backend: request written .. its end */
	bool ended;                 /* the handler gave the whole response */
	bool aborted;               /* ... or reset it */
	bool logged;
	/*
	 * the layer's timeouts: waiting for the header block, for body bytes,
	 * for the client to take the response; and the wait for a file slot
	 */
	struct qs_req_wait header_wait, body_wait, send_wait, file_wait;
	/* the handler chosen by the site's router, and its state */
	const struct qs_handler *handler;
	void *hdata;
	const struct qs_proto_ops *ops;
	struct qs_enc *enc;         /* the response's compression filter, or NULL */
};

/*
 * The response head: status and the handler's fields (at most
 * QS_RESP_FIELDS_MAX); body: qs_send()/qs_send_file() and qs_end() follow
 * (for HEAD, pass what a GET would and no body: the layer drops it).
 * 0 or -errno; -EALREADY when the request was answered already.
 */
int qs_respond(struct qs_req *req, int status, const struct qs_field *f, size_t n, bool body);

static inline int qs_send(struct qs_req *req, const uint8_t *data, size_t len)
{
	if (req->head || !len)
		return 0;
	return req->enc ? qs_enc_send(req, data, len) : req->ops->send(req, data, len);
}

/*
 * The handler's source paused (a script flushed): what the compression filter
 * holds goes out now.  Without the filter the bytes went out already.
 */
static inline int qs_flush(struct qs_req *req)
{
	return req->enc ? qs_enc_flush(req) : 0;
}

/* The last part of the body; the file descriptor is the layer's now. */
int qs_send_file(struct qs_req *req, int fd, uint64_t off, uint64_t len);

static inline void qs_end(struct qs_req *req)
{
	req->ended = true;
	if (req->enc)
		qs_enc_end(req);
	else
		req->ops->end(req);
}

/* Reset the stream: a failure after the response head went out. */
static inline void qs_abort(struct qs_req *req)
{
	req->aborted = true;
	qs_enc_free(req);
	req->ops->abort(req);
}

/* True while a window's worth waits for the client: stop producing. */
static inline bool qs_send_backlog(struct qs_req *req)
{
	return req->ops->backlog(req);
}

static inline void qs_req_consume(struct qs_req *req, uint64_t n)
{
	if (n)
		req->ops->consume(req, n);
}

static inline void qs_req_hold(struct qs_req *req, uint64_t n)
{
	if (n)
		req->ops->hold(req, n);
}

/* The handler wants no more of the body (answered early): refuse the rest. */
void qs_req_stop_body(struct qs_req *req);

/*
 * Before a handler opens a file to send: true when the client's connection
 * holds --files-per-connection open already.  The request then waits its
 * turn (no timeout runs: the files ahead of it end or time out) and the
 * handler's proceed() is called once one of them is closed.  A hundred
 * large downloads on one connection then hold a bounded number of
 * descriptors, and the worker's limit (--max-connections times this)
 * cannot be reached.
 */
bool qs_req_file_wait(struct qs_req *req);

static inline void qs_req_addr(const struct qs_req *req, const struct sockaddr **peer,
			       const struct sockaddr **local)
{
	req->ops->addr(req, peer, local);
}

/*
 * A complete error answer, a small HTML page (none for HEAD); allow and
 * content_range may be NULL.  Does nothing if the request was answered.
 */
int qs_respond_error(struct qs_req *req, int status, const char *allow,
		     const char *content_range);

/* The reason phrase of a status (RFC 9110 15), "" for one it does not name. */
const char *qs_http_reason(int status);

/* The next value of a "name\0value\0" field list at *off, or NULL. */
static inline bool qs_req_next_field(const struct qs_req *req, size_t *off, const char **name,
				     size_t *nl, const char **value, size_t *vl);

/*
 * A handler's upstream server has the request from now / is done with it:
 * the access log's upstream_ms.  The first begin counts (a retry on
 * another connection is part of the wait); an end without a begin is
 * ignored, a second end too.  The end returns the time it measured in ns
 * (for the handler's own figures), 0 when it measured none.
 */
void qs_req_upstream_begin(struct qs_req *req);
uint64_t qs_req_upstream_end(struct qs_req *req);

/*
 * The peer's address as text (an IPv4-mapped IPv6 address as IPv4) and its
 * port; "" and 0 for another family.
 */
void qs_sockaddr_host(const struct sockaddr *sa, char host[46], unsigned *port);

/* ---- for protocols ------------------------------------------------------ */

/*
 * Response body bytes handed to the connection, for the access log: HTTP/3
 * what went to nghttp3 for the stream (ngtcp2 sends it as flow control and
 * congestion allow), HTTP/2 and HTTP/1.1 what went into the TLS output
 * queue.  Acknowledgements are not what counts: a client that closes as
 * soon as it has everything never acknowledges the last packets.  A
 * transfer cut short counts up to a stream's window (HTTP/3: at most
 * 4 MB) or the TCP output queue (256 KB) more than the client got.
 */
static inline void qs_req_sent(struct qs_req *req, uint64_t n)
{
	req->bytes_out += n;
}

/*
 * A header block begins: the header timeout runs until its end
 * (qs_req_headers_end() stops it).
 */
void qs_req_headers_begin(struct qs_req *req);
void qs_req_header_timeout_stop(struct qs_req *req);

/*
 * One field of the request's header block as the protocol decoded it (a
 * pseudo-header's name starts with ':'), kept in req (http/fields.c).
 * Returns 0; the status to refuse the request with: 400 for a malformed
 * name, value, :method or Content-Length, 503 when the worker holds its
 * budget of request fields (the fields kept so far are let go); or
 * -ENOMEM.
 */
int qs_req_header(struct qs_req *req, const uint8_t *name, size_t nl, const uint8_t *value,
		  size_t vl);
/* The header block is complete: its timeout stops, req->head is set, the request
 * id is final (qs_req_ids); 0, or 400 without :method or :path. */
int qs_req_headers_end(struct qs_req *req);
/*
 * Make the request id final (a generated one unless a sane one came); the
 * layer calls it again before answering a request refused before its
 * header block ended.  Idempotent.
 */
void qs_req_ids(struct qs_req *req);
/*
 * The same, and our span final (a new trace unless a valid one came), for
 * those who read it: a handler's upstream, the access log, a response to
 * a given trace.
 * Not made otherwise (a static file without a log costs no random ids).
 * Idempotent: all of them see the same span.
 */
void qs_req_trace(struct qs_req *req);

/*
 * The header block is complete (req->head set) and the request may run:
 * pick its handler (the site's router) and start it.  0 or -errno (reset
 * the stream).
 */
int qs_req_start(struct qs_req *req);
/* Body bytes for the handler; 0 or -errno. */
int qs_req_body(struct qs_req *req, const uint8_t *data, size_t len, bool end);

/* The client took response bytes (HTTP/3: acknowledged them). */
void qs_req_proceed(struct qs_req *req);

/* The stream is gone: the handler lets go of req, then the protocol frees it. */
void qs_req_close(struct qs_req *req);
/* Free the request's own strings. */
void qs_req_free_fields(struct qs_req *req);
/* The protocol closed the file qs_send_file() gave it (sent, or the stream went). */
void qs_req_file_closed(struct qs_req *req);
/*
 * The layer's share of the worker's event loop: the client header timeout
 * (a header block not complete for --client-header-timeout: the stream is
 * reset), the client body timeout
 * (no body byte for --client-body-timeout: 408, the rest refused) and the
 * send timeout (the client took no response byte for --send-timeout: the
 * stream is reset, and its handler lets go).
 */
void qs_http_site_init(struct qs_site *site);

/*
 * The request fields every request of a worker may hold at once.  A header
 * block costs the client a few bytes (QPACK) and the worker up to
 * --max-header-bytes until its request ends, and a request without its FIN
 * lives until --client-body-timeout: without a bound, streams x connections
 * of them would grow the worker without limit.
 */
#define QS_REQ_FIELDS_BUDGET (64u << 20)

/*
 * Response bytes the worker holds for its clients: queued by handlers and
 * sent but not yet acknowledged (the protocols count them here).  Each
 * stream holds at most its window, but streams x connections of stalled
 * readers would grow the worker without limit: past
 * --max-response-memory, new requests get 503 and those running go on.
 */
void qs_resp_held(struct qs_site *site, int64_t delta);

/* Append a regular field to req->fields; 0, -ENOMEM, or -ENOBUFS over the budget. */
int qs_req_add_field(struct qs_req *req, const uint8_t *name, size_t nl, const uint8_t *value,
		     size_t vl);

static inline bool qs_req_next_field(const struct qs_req *req, size_t *off, const char **name,
				     size_t *nl, const char **value, size_t *vl)
{
	const char *n, *v;

	if (*off >= req->fields_len)
		return false;
	n = req->fields + *off;
	*nl = __builtin_strlen(n);
	v = n + *nl + 1;
	*vl = __builtin_strlen(v);
	*off += *nl + *vl + 2;
	*name = n;
	*value = v;
	return true;
}

#endif
