/* SPDX-License-Identifier: MIT */
/*
 * The HTTP/1.1 request-head parser and chunked-body decoder (RFC 9112):
 * pure, no I/O, no allocation, so that tests/unit/test_h1.c and
 * tests/fuzz/fuzz_h1.c can feed them any bytes.
 *
 * Our own, and strict.  Debian 12 packages two HTTP/1 parsers:
 * nodejs/http-parser (libhttp-parser-dev 2.9.4), archived and unmaintained
 * since 2022, and llhttp only as JavaScript sources (node-llhttp).  Neither
 * a maintained C library, and both are lenient where request smuggling
 * lives (obs-fold, bare LF, whitespace before the colon, lists in
 * Content-Length are accepted or left to the caller).  This one accepts
 * only what RFC 9112 allows a client to send, and anything ambiguous is a
 * status to refuse the request with (then the connection closes):
 *
 *   400  bare CR or LF, NUL or control bytes, obs-fold, whitespace before
 *        a colon, a malformed request line, a Content-Length that is not
 *        1*DIGIT or is repeated, Content-Length with Transfer-Encoding,
 *        Transfer-Encoding repeated or in HTTP/1.0, no Host (1.1) or two,
 *        an absolute-form target for another host than Host
 *   414  a request line over QS_H1_MAX_LINE
 *   431  over QS_H1_MAX_FIELDS fields, or a head over max_bytes
 *   501  a transfer coding other than `chunked`
 *   505  an HTTP version other than 1.0 and 1.1
 */
#ifndef QS_WORKER_HTTP_H1PARSE_H
#define QS_WORKER_HTTP_H1PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QS_H1_MAX_LINE    8192u    /* request line */
#define QS_H1_MAX_FIELDS  100u
#define QS_H1_MAX_CHUNK_EXT 4096u  /* chunk extensions of one chunk (dropped) */
#define QS_H1_MAX_TRAILERS  8192u  /* the trailer section (dropped) */

struct qs_h1_field {
	const uint8_t *name, *value;    /* the name lowercased in place */
	size_t nl, vl;
};

/* Where the search for the end of a head got to: zero it for each request. */
struct qs_h1_scan {
	size_t pos;             /* bytes looked at */
	size_t line_start;      /* where the current line begins */
	unsigned lines;
};

struct qs_h1_head {
	const uint8_t *method, *path, *authority;  /* authority: Host, or the target's */
	size_t method_len, path_len, authority_len;
	unsigned minor;                 /* HTTP/1.minor */
	struct qs_h1_field fields[QS_H1_MAX_FIELDS];
	unsigned n_fields;
	int64_t content_length;         /* -1: none */
	bool chunked;
	bool close, keep_alive;         /* Connection: close / keep-alive */
	bool expect_continue;
};

/*
 * Look for a complete head in buf[0..len) (what came so far; scan keeps
 * what earlier calls saw) and parse it into h (pointing into buf, whose
 * field names are lowercased).  Returns the head's length, 0 when more is
 * needed, or the negated status to refuse the request with.
 */
int qs_h1_parse_head(uint8_t *buf, size_t len, size_t max_bytes, struct qs_h1_scan *scan,
		     struct qs_h1_head *h);

/* A chunked body's decoder: zero it for each body. */
struct qs_h1_chunked {
	int state;
	uint64_t left;          /* data bytes left in this chunk */
	unsigned digits, ext, trailers;
};

/*
 * Decode from in[0..len): returns the bytes taken (>= 0) or -400.  When
 * *data_len is set non-zero, the last *data_len bytes taken are body data
 * (one chunk's part per call: call again with the rest).  The body is
 * complete when qs_h1_chunked_done().
 */
int64_t qs_h1_chunked(struct qs_h1_chunked *d, const uint8_t *in, size_t len, size_t *data_len);
bool qs_h1_chunked_done(const struct qs_h1_chunked *d);

#endif
