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
};

int qs_conn_setup_h3(struct qs_conn *c);
void qs_h3_conn_free(struct qs_conn *c);

#endif
