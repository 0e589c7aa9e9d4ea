/* SPDX-License-Identifier: MIT */
/*
 * FastCGI's client side, as pure functions (the worker's PHP handler, the
 * loader's php-fpm status query): record
 * encoding into caller buffers, an incremental record decoder, the CGI
 * response header parser, and the params helpers.  No sockets, no event
 * loop, no allocation: every buffer is the caller's, every size bounded.
 *
 * Decisions a caller should know (tests/unit/test_fcgi.c holds each):
 *  - Records: content at most 65535 bytes, padded to a multiple of 8 (as
 *    the spec recommends), so a full record is 8 + 65535 + 1 bytes.
 *    Request id 0 belongs to management records: encoders refuse it.
 *  - Encoders check the room first: on -ENOSPC nothing was written.
 *  - Decoder: accepts only what a server may send a client: STDOUT,
 *    STDERR and END_REQUEST for the expected id; GET_VALUES_RESULT and
 *    UNKNOWN_TYPE (id 0) are checked and skipped without an event (we
 *    never send GET_VALUES nor a type php-fpm does not know, so there is
 *    nothing to act on).  Everything else is an error, sticky until
 *    qs_fcgi_parser_reset():
 *      -EPROTONOSUPPORT  version != 1
 *      -EBADMSG          a type a server never sends a client (BEGIN_REQUEST,
 *                        PARAMS, STDIN, ABORT, DATA, GET_VALUES, >= 12),
 *                        END_REQUEST/UNKNOWN_TYPE content length != 8,
 *                        a management record with a non-zero id
 *      -ESRCH            an application record for another request id
 *      -EPROTO           STDOUT/STDERR after its empty closing record,
 *                        any byte after END_REQUEST
 *    p->why names the cause in words for the log.  Each is a 502.
 *  - END_REQUEST is reported once its padding is read too: the connection
 *    is then at a record boundary and qs_fcgi_parser_reset() for the next
 *    request is safe.  Bytes after it in the same slice are -EPROTO (a
 *    server speaks only when asked).
 *  - END_REQUEST need not follow the empty STDOUT record (php-fpm sends
 *    it, the spec does not make the order a condition of the result).
 *    protocolStatus is reported as sent; only 0 (REQUEST_COMPLETE) is
 *    success.
 *  - CGI header parser: see struct qs_cgi below.
 *  - HTTP_* params: only header names of letters, digits and '-' map to
 *    a param (as nginx's ignore_invalid_headers/underscores_in_headers
 *    defaults do): "x_a" and "x-a" would both become HTTP_X_A, and letting
 *    either through lets a client forge the other.  "proxy" is refused
 *    (-EPERM): HTTP_PROXY is read as a proxy setting by many PHP HTTP
 *    libraries (httpoxy, CVE-2016-5385).
 */
#ifndef QS_COMMON_FCGI_H
#define QS_COMMON_FCGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- records ------------------------------------------------------------ */

#define QS_FCGI_VERSION      1
#define QS_FCGI_HEADER_LEN   8
#define QS_FCGI_CONTENT_MAX  65535
/* the longest record the encoders write: header, content, 1 byte padding */
#define QS_FCGI_RECORD_MAX   (QS_FCGI_HEADER_LEN + QS_FCGI_CONTENT_MAX + 1)
#define QS_FCGI_BEGIN_LEN    16	/* BEGIN_REQUEST record */
#define QS_FCGI_ABORT_LEN    8	/* ABORT_REQUEST record */
#define QS_FCGI_STREAM_END_LEN 8	/* the empty record closing PARAMS/STDIN */

enum qs_fcgi_type {
	QS_FCGI_BEGIN_REQUEST     = 1,
	QS_FCGI_ABORT_REQUEST     = 2,
	QS_FCGI_END_REQUEST       = 3,
	QS_FCGI_PARAMS            = 4,
	QS_FCGI_STDIN             = 5,
	QS_FCGI_STDOUT            = 6,
	QS_FCGI_STDERR            = 7,
	QS_FCGI_DATA              = 8,
	QS_FCGI_GET_VALUES        = 9,
	QS_FCGI_GET_VALUES_RESULT = 10,
	QS_FCGI_UNKNOWN_TYPE      = 11,
};

#define QS_FCGI_RESPONDER   1	/* BEGIN_REQUEST role */
#define QS_FCGI_KEEP_CONN   1	/* BEGIN_REQUEST flags */

/* END_REQUEST protocolStatus */
#define QS_FCGI_REQUEST_COMPLETE 0
#define QS_FCGI_CANT_MPX_CONN    1
#define QS_FCGI_OVERLOADED       2
#define QS_FCGI_UNKNOWN_ROLE     3

/* Padding that brings clen to a multiple of 8. */
static inline size_t qs_fcgi_padding(size_t clen)
{
	return (8 - (clen & 7)) & 7;
}

/*
 * The 8 header bytes of one record (version 1), for a caller that sends
 * content from its own buffer with writev instead of copying it.  Returns
 * the padding length it wrote into the header (qs_fcgi_padding(clen));
 * the caller sends that many bytes of any value (zeros) after the content.
 * clen must be <= QS_FCGI_CONTENT_MAX.
 */
size_t qs_fcgi_put_header(uint8_t hdr[QS_FCGI_HEADER_LEN], enum qs_fcgi_type type,
			  uint16_t id, size_t clen);

/*
 * BEGIN_REQUEST, role RESPONDER, with FCGI_KEEP_CONN when keep_conn (the
 * pool reuses connections; without it php-fpm closes after the request).
 * Returns QS_FCGI_BEGIN_LEN, -ENOSPC, or -EINVAL for id 0.
 */
ssize_t qs_fcgi_begin_request(void *buf, size_t size, uint16_t id, bool keep_conn);

/* ABORT_REQUEST.  Returns QS_FCGI_ABORT_LEN, -ENOSPC, or -EINVAL for id 0. */
ssize_t qs_fcgi_abort_request(void *buf, size_t size, uint16_t id);

/* Bytes qs_fcgi_stream() writes for len data bytes (0 for 0; SIZE_MAX if absurd). */
size_t qs_fcgi_stream_size(size_t len);

/*
 * The most data bytes whose records fit in room bytes: what the caller may
 * take from a request body when room bytes are free in its send buffer.
 */
size_t qs_fcgi_stream_fit(size_t room);

/*
 * data as PARAMS, STDIN or DATA records of at most 65535 content bytes,
 * each padded to 8.  len 0 writes nothing (the closing empty record is
 * qs_fcgi_stream_end(), so an empty read can never end the stream by
 * accident).  Returns the bytes written (qs_fcgi_stream_size(len)),
 * -ENOSPC, or -EINVAL (id 0, another type).
 */
ssize_t qs_fcgi_stream(void *buf, size_t size, enum qs_fcgi_type type, uint16_t id,
		       const void *data, size_t len);

/* The empty record that ends PARAMS or STDIN: QS_FCGI_STREAM_END_LEN, -ENOSPC, -EINVAL. */
ssize_t qs_fcgi_stream_end(void *buf, size_t size, enum qs_fcgi_type type, uint16_t id);

/* ---- params (the content of PARAMS records) ------------------------------ */

/* Longest name or value: lengths are 31 bits on the wire. */
#define QS_FCGI_PARAM_MAX 0x7fffffffu

/*
 * Name-value pairs appended into the caller's buffer; hand buf/len to
 * qs_fcgi_stream(PARAMS) when done.  Every add is all or nothing: on
 * error the builder is as it was, so a caller may skip one header and go
 * on (-ENOSPC is the caller's "request header too large").
 */
struct qs_fcgi_params {
	uint8_t *buf;
	size_t size;
	size_t len;
	size_t last;	/* offset of the last pair, SIZE_MAX before the first */
};

void qs_fcgi_params_init(struct qs_fcgi_params *p, void *buf, size_t size);

/* One pair.  0, -ENOSPC, or -EINVAL (empty name, a length over QS_FCGI_PARAM_MAX). */
int qs_fcgi_params_add(struct qs_fcgi_params *p, const char *name, size_t nlen,
		       const char *value, size_t vlen);

/* The same for NUL-terminated strings. */
int qs_fcgi_params_add_str(struct qs_fcgi_params *p, const char *name, const char *value);

/*
 * Extend the value of the last pair added with sep then more (the
 * length field grows from 1 to 4 bytes when needed).  For repeated
 * `cookie` fields, joined by "; " (RFC 9114 4.2.1): add the first as
 * HTTP_COOKIE, append the others.  0, -ENOSPC, -EINVAL (no pair yet,
 * too long).
 */
int qs_fcgi_params_append(struct qs_fcgi_params *p, const char *sep, size_t seplen,
			  const char *more, size_t morelen);

/*
 * "HTTP_" + name uppercased with '-' -> '_' (x-forwarded-for ->
 * HTTP_X_FORWARDED_FOR), NUL-terminated in out.  Returns its length, or
 * -EINVAL (empty name; a byte other than a letter, digit or '-', so also
 * every pseudo-header), -EPERM ("proxy"), -ENOSPC.
 */
ssize_t qs_fcgi_http_name(char *out, size_t size, const char *name, size_t nlen);

/* One request header as its HTTP_* pair; errors as qs_fcgi_http_name() and _add(). */
int qs_fcgi_params_add_header(struct qs_fcgi_params *p, const char *name, size_t nlen,
			      const char *value, size_t vlen);

/* ---- decoder ---------------------------------------------------------- */

enum qs_fcgi_event_type {
	QS_FCGI_EV_NONE = 0,	/* all input consumed, nothing to report yet */
	QS_FCGI_EV_STDOUT,	/* data/len; len 0: the stream's closing record */
	QS_FCGI_EV_STDERR,	/* data/len; len 0: the stream's closing record */
	QS_FCGI_EV_END,		/* app_status, protocol_status */
};

struct qs_fcgi_event {
	enum qs_fcgi_event_type type;
	uint16_t id;
	const uint8_t *data;	/* into the slice given to qs_fcgi_parse() */
	size_t len;
	uint32_t app_status;
	uint8_t protocol_status;
};

struct qs_fcgi_parser {
	uint16_t expect_id;
	uint8_t hdr[QS_FCGI_HEADER_LEN];
	uint8_t hlen;		/* header bytes held; 8 while inside a record */
	uint8_t body[8];	/* END_REQUEST / UNKNOWN_TYPE body */
	uint8_t blen;
	uint8_t pad;		/* padding bytes still to skip */
	uint32_t left;		/* content bytes still to come */
	bool stdout_done, stderr_done, ended;
	int err;		/* sticky */
	const char *why;	/* the cause of err, for the log; "" when none */
};

/* Ready for the response to request id (also to reuse a kept-alive connection). */
void qs_fcgi_parser_reset(struct qs_fcgi_parser *p, uint16_t id);

/*
 * Consume from data[0..len) up to the first event.  Returns the bytes
 * consumed (call again with the rest), ev->type QS_FCGI_EV_NONE when all
 * was consumed without an event, or a negative errno (see the top of this
 * file).  Records may be split anywhere: the events for one stream are
 * the same whatever the slicing, except that STDOUT/STDERR data may come
 * in more, smaller pieces.  ev->data points into data, valid as long as
 * the caller keeps it.
 */
ssize_t qs_fcgi_parse(struct qs_fcgi_parser *p, const void *data, size_t len,
		      struct qs_fcgi_event *ev);

/*
 * The connection closed (or the caller gives up): 0 when END_REQUEST was
 * seen and no record is half read, else -EBADMSG (a truncated record) or
 * -ECONNABORTED (closed between records before END_REQUEST).
 */
int qs_fcgi_parse_eof(struct qs_fcgi_parser *p);

/* ---- CGI response header block (the start of STDOUT) ------------------- */

/*
 * Headers as php-fpm writes them: "Name: value" lines, CRLF or LF, up to
 * an empty line.  Held in the caller's buffer, whose size is the limit on
 * the whole block (blank line included); longer is -EMSGSIZE.  Lines are
 * rewritten in place as "name\0value\0" (never longer than the line), so
 * the buffer is the header list afterwards: see qs_cgi_next().
 *  - Names: RFC 9110 tokens, lowercased for HTTP/3.  Nothing may precede
 *    the colon (no "Name : v"); a line starting with SP/HTAB (obs-fold)
 *    is an invalid name.  Values: leading/trailing SP/HTAB trimmed; NUL,
 *    a CR not ending the line -> invalid.  Other control bytes stay (RFC
 *    9110 5.5 lets a recipient keep them; PHP's header() lets them by).
 *    Invalid -> -EINVAL (issue 4: the caller answers 500).
 *  - Status: "NNN" or "NNN reason", 200..599 (a 1xx cannot be a final
 *    answer, so it is -EINVAL as is a second Status); not a header.
 *    Without Status, Location gives 302 (CGI 6.2.3/6.2.4 and nginx; php
 *    itself usually sends Status too), else 200.
 *  - Content-Length: digits only, fits in 63 bits; kept as a header and
 *    reported in content_length (-1 when absent); a repeat with the same
 *    number is dropped, with another is -EINVAL.
 *  - Dropped: connection, keep-alive, proxy-connection, transfer-encoding,
 *    upgrade, te (RFC 9114 4.2: connection-specific, malformed in HTTP/3).
 *  - Repeated fields (set-cookie) are kept, in order.
 *  - The blank line first, or STDOUT ending before the blank line, is
 *    -ENODATA (the caller answers 500).
 *  Errors are sticky; c->why names the cause.
 */
struct qs_cgi {
	char *buf;
	size_t size;
	size_t out;		/* end of the rewritten fields */
	size_t len;		/* out + the partial line held */
	size_t raw;		/* block bytes seen */
	size_t count;		/* fields kept */
	int status;		/* when done: 200..599 */
	int64_t content_length;	/* -1 when absent */
	bool done;
	bool has_status, has_location;
	int err;
	const char *why;
};

struct qs_cgi_field {
	const char *name;	/* lowercase, NUL-terminated */
	size_t name_len;
	const char *value;	/* NUL-terminated */
	size_t value_len;
};

void qs_cgi_init(struct qs_cgi *c, char *buf, size_t size);

/*
 * One STDOUT chunk.  Returns 0 when all of data was taken and more is
 * needed, 1 when the block is complete (*body_off: where the body starts
 * in data; after completion every call returns 1 with *body_off 0), or
 * -EINVAL / -EMSGSIZE / -ENODATA.
 */
int qs_cgi_feed(struct qs_cgi *c, const void *data, size_t len, size_t *body_off);

/* STDOUT ended: 0 when the block was complete, else -ENODATA (or the sticky error). */
int qs_cgi_eof(struct qs_cgi *c);

/*
 * The kept fields in order: *pos starts at 0.  Returns true and fills f,
 * or false after the last one (and before completion).
 */
bool qs_cgi_next(const struct qs_cgi *c, size_t *pos, struct qs_cgi_field *f);

/* ---- CGI request variables and STDERR ---------------------------------- */

/*
 * PATH_INFO from the raw path after the script name (raw[0..n), query
 * cut off): percent-decoded, as CGI (RFC 3875 4.1.5) and nginx give it,
 * repeated slashes collapsed, into out (NUL-terminated).  Returns its
 * length, or -EINVAL for what PHP must never see and the client gets 400
 * for: a "." or ".." segment, raw or encoded (include("pages" .
 * $_SERVER["PATH_INFO"]) would climb out), an encoded '/' (a segment
 * must not hide a separator), a control byte raw or decoded (NUL
 * included), a backslash, a malformed %XX, a path not starting with '/';
 * -ENOSPC when out is too small (a decoded path is never longer than the
 * raw one: n + 1 always fits).  The rules are the static resolver's.
 */
ssize_t qs_cgi_path_info(const char *raw, size_t n, char *out, size_t size);

/*
 * STDERR bytes as one log line's text: control bytes (a newline inside
 * included), DEL and backslash as \xNN, other bytes as they are; a
 * trailing newline dropped.  Writes at most size - 1 characters and a
 * NUL (an escape is never cut in half); returns the input bytes taken,
 * so the caller can say how many were cut.  size >= 1.
 */
size_t qs_fcgi_log_escape(char *out, size_t size, const void *in, size_t len);

#endif
