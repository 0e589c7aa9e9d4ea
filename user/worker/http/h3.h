/* SPDX-License-Identifier: MIT */
/*
 * HTTP/3 on a QUIC connection (nghttp3): request streams, their headers and
 * bodies, and responses whose bodies stream in bounded chunks that are
 * freed when the peer acknowledges them.  A request goes to a handler:
 * static files today; the FastCGI backend plugs in beside it (route()).
 */
#ifndef QS_WORKER_H3_H
#define QS_WORKER_H3_H

#include <stdbool.h>
#include <stdint.h>

#include <nghttp3/nghttp3.h>

struct qs_conn;
struct qs_php_conn;

struct qs_chunk {
	struct qs_chunk *next;
	size_t len;
	uint8_t data[];
};

struct qs_stream {
	int64_t id;
	struct qs_conn *conn;
	struct qs_stream *next, *prev;      /* the connection's open streams */
	/* request */
	char method[16];
	char *path;                         /* :path, NUL-terminated */
	size_t pathlen;
	char *authority;
	char *range;
	char *if_none_match, *if_modified_since, *if_range;  /* conditional GET */
	size_t header_bytes;
	bool too_large;                     /* header block over the limit: 431 */
	bool bad;                           /* malformed pseudo-headers: 400 */
	bool responded;
	uint64_t body_bytes;
	/* response body: a file region, or chunks already filled */
	int fd;
	uint64_t file_off, file_left;
	struct qs_chunk *head, *tail;       /* handed to nghttp3, not yet acked */
	size_t head_acked;                  /* bytes of head acknowledged */
	uint64_t unacked;
	bool blocked;                       /* read_data said WOULDBLOCK */
	bool eof;                           /* all body bytes handed over */
	int status;
	/* PHP (handler/php.c) */
	bool php;                           /* goes to FastCGI */
	bool front;                         /* via the front controller (--index) */
	bool php_done;                      /* END_REQUEST: no more body will come */
	char *hdrs;                         /* request fields, "name\0value\0"... */
	size_t hdrs_len, hdrs_cap;
	char *content_type;
	uint8_t *body;                      /* request body, held up to QS_PHP_BODY_MAX */
	size_t body_len, body_cap;
	bool body_too_large;
	bool body_busy;                     /* the worker's held-body budget was spent: 503 */
	size_t body_held;                   /* of body_len, counted in that budget */
	struct qs_php_conn *php_conn;
	uint8_t *php_out;                   /* encoded request waiting for a connection */
	size_t php_out_len, php_out_cap;
	int64_t req_content_length;         /* -1: none given */
	bool php_stream_body;               /* STDIN follows the body as it arrives */
	bool php_stdin_done;                /* the empty STDIN record is queued */
	uint64_t php_credit;                /* body bytes queued, flow control not yet returned */
	uint64_t php_conn_credited;         /* ... of which the connection's credit was returned */
	bool php_queued;
	bool php_retried;                   /* sent again once: a kept-alive connection was gone */
	struct qs_stream *php_qnext;
	struct qs_chunk *pend_head, *pend_tail;  /* from php-fpm, not yet handed over */
	size_t pend_bytes;
	/* 0-RTT */
	bool early;                         /* run before the handshake completed */
	bool deferred;                      /* unsafe method in 0-RTT: waits for it */
	bool deferred_hfin;                 /* the header block ended the stream */
	bool deferred_fin;                  /* the request is complete */
	uint8_t *early_body;                /* body received while deferred */
	size_t early_len, early_cap;
};

int qs_conn_setup_h3(struct qs_conn *c);
/* The handshake completed: run the requests that waited for it. */
void qs_h3_on_handshake(struct qs_conn *c);
void qs_h3_conn_free(struct qs_conn *c);

/* For handlers that answer later (php.c) */
int qs_h3_respond_error(struct qs_stream *st, int status);
/* Submit a response; body: its bytes come with qs_h3_body_append(). */
int qs_h3_submit(struct qs_stream *st, int status, const nghttp3_nv *nva, size_t n, bool body);
int qs_h3_body_append(struct qs_stream *st, const uint8_t *data, size_t len);
/*
 * The request body held for PHP: qs_h3_body_free drops it and its share
 * of the worker's budget; qs_h3_body_release only the share, once the
 * copy encoded for php-fpm (which keeps it counted) has been written.
 */
void qs_h3_body_free(struct qs_stream *st);
void qs_h3_body_release(struct qs_stream *st);
void qs_h3_body_end(struct qs_stream *st);
/* True while a window's worth waits for the client: stop producing. */
bool qs_h3_body_backlog(struct qs_stream *st);
/* Reset the response stream (the backend failed after the headers). */
void qs_h3_abort(struct qs_stream *st);

#endif
