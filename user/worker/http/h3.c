// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/counters.h"
#include "common/config.h"
#include "quicsteer/steer.h"
#include "worker/http/h3.h"
#include "worker/mem.h"
#include "worker/handler/php.h"
#include "worker/quic/quic.h"
#include "worker/handler/static.h"

#define CHUNK_SIZE      (32u << 10)
#define STREAM_WIN_MIN  (256u << 10)   /* bytes in flight per stream, at least */
#define STREAM_WIN_MAX  (4u << 20)     /* ... at most (follows cwnd in between) */
#define CONN_TX_MAX     (8u << 20)     /* response bytes in flight per connection */
#define SERVER_NAME     "quicsteer"

/* ---- streams ----------------------------------------------------------- */

static void stream_free(struct qs_stream *st)
{
	struct qs_conn *c = st->conn;
	struct qs_chunk *ch, *next;

	qs_php_stream_closed(st);
	/*
	 * Body bytes received but never credited (held for php-fpm, or for a
	 * 0-RTT request that never ran): the connection's window gets them
	 * back, or a client that keeps abandoning uploads would shrink it.
	 */
	if (st->php_credit - st->php_conn_credited + st->early_len)
		ngtcp2_conn_extend_max_offset(c->qc, st->php_credit - st->php_conn_credited +
					      st->early_len);
	for (ch = st->head; ch; ch = next) {
		next = ch->next;
		free(ch);
	}
	for (ch = st->pend_head; ch; ch = next) {
		next = ch->next;
		free(ch);
	}
	c->tx_unacked -= st->unacked < c->tx_unacked ? st->unacked : c->tx_unacked;
	if (st->fd >= 0)
		close(st->fd);
	if (st->prev)
		st->prev->next = st->next;
	else
		c->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	free(st->path);
	free(st->authority);
	free(st->range);
	free(st->if_none_match);
	free(st->if_modified_since);
	free(st->if_range);
	free(st->hdrs);
	free(st->content_type);
	qs_h3_body_free(st);
	free(st->early_body);
	free(st);
}

static struct qs_stream *stream_new(struct qs_conn *c, int64_t id)
{
	struct qs_stream *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->id = id;
	st->conn = c;
	st->fd = -1;
	st->req_content_length = -1;
	st->next = c->streams;
	if (c->streams)
		c->streams->prev = st;
	c->streams = st;
	return st;
}

static struct qs_chunk *chunk_append(struct qs_stream *st, size_t len)
{
	struct qs_chunk *ch = malloc(sizeof(*ch) + len);

	if (!ch)
		return NULL;
	ch->next = NULL;
	ch->len = len;
	if (st->tail)
		st->tail->next = ch;
	else
		st->head = ch;
	st->tail = ch;
	st->unacked += len;
	st->conn->tx_unacked += len;
	return ch;
}

/* ---- responses ------------------------------------------------------------ */

static size_t stream_window(struct qs_stream *st)
{
	ngtcp2_conn_info ci;
	uint64_t w;

	ngtcp2_conn_get_conn_info(st->conn->qc, &ci);
	w = ci.cwnd;
	if (w < STREAM_WIN_MIN)
		w = STREAM_WIN_MIN;
	if (w > STREAM_WIN_MAX)
		w = STREAM_WIN_MAX;
	return (size_t)w;
}

/*
 * nghttp3 asks for body bytes.  Files are read a chunk at a time and the
 * chunk lives until acknowledged, so a stream holds at most its window.
 */
static nghttp3_ssize read_data(nghttp3_conn *h3, int64_t stream_id, nghttp3_vec *vec,
			       size_t veccnt, uint32_t *pflags, void *conn_ud, void *stream_ud)
{
	struct qs_stream *st = stream_ud;
	struct qs_chunk *ch;
	size_t n;
	ssize_t got;

	(void)h3;
	(void)stream_id;
	(void)conn_ud;
	if (veccnt == 0)
		return 0;
	if (st->eof) {
		*pflags |= NGHTTP3_DATA_FLAG_EOF;
		return 0;
	}
	if (st->php) {
		/* hand over what php-fpm sent; wait for more until END_REQUEST */
		size_t n = 0;

		while (st->pend_head && n < veccnt) {
			ch = st->pend_head;
			st->pend_head = ch->next;
			if (!st->pend_head)
				st->pend_tail = NULL;
			st->pend_bytes -= ch->len;
			ch->next = NULL;
			if (st->tail)
				st->tail->next = ch;
			else
				st->head = ch;
			st->tail = ch;
			st->unacked += ch->len;
			st->conn->tx_unacked += ch->len;
			vec[n].base = ch->data;
			vec[n].len = ch->len;
			n++;
		}
		if (!st->pend_head && st->php_done) {
			st->eof = true;
			*pflags |= NGHTTP3_DATA_FLAG_EOF;
		}
		if (n == 0 && !st->eof) {
			st->blocked = true;
			return NGHTTP3_ERR_WOULDBLOCK;
		}
		return (nghttp3_ssize)n;
	}
	if (st->fd < 0) {
		/* a body built in memory: its one chunk is already queued */
		st->eof = true;
		*pflags |= NGHTTP3_DATA_FLAG_EOF;
		if (!st->tail)
			return 0;
		vec[0].base = st->tail->data;
		vec[0].len = st->tail->len;
		return 1;
	}
	/* bounded memory: per stream (follows cwnd) and per connection */
	if (st->unacked >= stream_window(st) || st->conn->tx_unacked >= CONN_TX_MAX) {
		st->blocked = true;
		if (st->conn->tx_unacked >= CONN_TX_MAX)
			st->conn->budget_blocked = true;
		return NGHTTP3_ERR_WOULDBLOCK;
	}
	n = st->file_left < CHUNK_SIZE ? (size_t)st->file_left : CHUNK_SIZE;
	ch = chunk_append(st, n);
	if (!ch)
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	got = pread(st->fd, ch->data, n, (off_t)st->file_off);
	if (got != (ssize_t)n) {
		/* the file shrank under us: the promised length cannot be met */
		pr_warn("stream %" PRId64 ": reading the file failed at offset %" PRIu64 ": %s",
			st->id, st->file_off, got < 0 ? strerror(errno) : "file truncated");
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	}
	st->file_off += n;
	st->file_left -= n;
	vec[0].base = ch->data;
	vec[0].len = n;
	if (st->file_left == 0) {
		st->eof = true;
		*pflags |= NGHTTP3_DATA_FLAG_EOF;
		close(st->fd);
		st->fd = -1;
	}
	return 1;
}

static void count_status(struct qs_conn *c, int status)
{
	struct qs_worker_stats *ws = c->srv->stats;

	if (status < 300)
		count(&ws->req_2xx, 1);
	else if (status < 400)
		count(&ws->req_3xx, 1);
	else if (status < 500)
		count(&ws->req_4xx, 1);
	else
		count(&ws->req_5xx, 1);
}

/* Decimal digits of v, ending at end (no NUL); snprintf showed in profiles. */
static char *u64_str(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

#define NV(n, v, vl) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP3_NV_FLAG_NONE }

static const char *reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 425: return "Too Early";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/* An error page: small, built in memory. */
static int respond_error(struct qs_stream *st, int status, const char *allow,
			 const char *content_range)
{
	struct qs_conn *c = st->conn;
	char status_s[8], len_s[24], body[256];
	nghttp3_nv nva[6];
	size_t n = 0;
	int blen;
	bool head = strcmp(st->method, "HEAD") == 0;
	nghttp3_data_reader dr = { .read_data = read_data };

	blen = snprintf(body, sizeof(body),
			"<!DOCTYPE html><title>%d %s</title><h1>%d %s</h1>\n",
			status, reason(status), status, reason(status));
	snprintf(status_s, sizeof(status_s), "%d", status);
	snprintf(len_s, sizeof(len_s), "%d", blen);
	nva[n++] = (nghttp3_nv)NV(":status", status_s, strlen(status_s));
	nva[n++] = (nghttp3_nv)NV("server", SERVER_NAME, sizeof(SERVER_NAME) - 1);
	nva[n++] = (nghttp3_nv)NV("content-type", "text/html; charset=utf-8", 24);
	nva[n++] = (nghttp3_nv)NV("content-length", len_s, strlen(len_s));
	if (allow)
		nva[n++] = (nghttp3_nv)NV("allow", allow, strlen(allow));
	if (content_range && content_range[0])
		nva[n++] = (nghttp3_nv)NV("content-range", content_range, strlen(content_range));
	if (st->php) {
		/*
		 * A PHP stream's reader takes its bytes from the pending list
		 * and ends at php_done: the page goes there, and nothing follows
		 * it (without this the headers went and the stream never ended).
		 */
		if (!head && qs_h3_body_append(st, (const uint8_t *)body, (size_t)blen))
			return -ENOMEM;
		st->php_done = true;
	} else if (!head) {
		struct qs_chunk *ch = chunk_append(st, (size_t)blen);

		if (!ch)
			return -ENOMEM;
		memcpy(ch->data, body, (size_t)blen);
	}
	st->responded = true;
	st->status = status;
	count_status(c, status);
	return nghttp3_conn_submit_response(c->h3, st->id, nva, n, head ? NULL : &dr);
}

int qs_h3_respond_error(struct qs_stream *st, int status)
{
	if (st->responded)
		return 0;
	return respond_error(st, status, NULL, NULL);
}

int qs_h3_submit(struct qs_stream *st, int status, const nghttp3_nv *nva, size_t n, bool body)
{
	nghttp3_data_reader dr = { .read_data = read_data };

	st->responded = true;
	st->status = status;
	count_status(st->conn, status);
	if (!body)
		st->php_done = true;
	return nghttp3_conn_submit_response(st->conn->h3, st->id, nva, n, body ? &dr : NULL);
}

int qs_h3_body_append(struct qs_stream *st, const uint8_t *data, size_t len)
{
	struct qs_chunk *ch = malloc(sizeof(*ch) + len);

	if (!ch)
		return -ENOMEM;
	ch->next = NULL;
	ch->len = len;
	memcpy(ch->data, data, len);
	if (st->pend_tail)
		st->pend_tail->next = ch;
	else
		st->pend_head = ch;
	st->pend_tail = ch;
	st->pend_bytes += len;
	if (st->blocked) {
		st->blocked = false;
		nghttp3_conn_resume_stream(st->conn->h3, st->id);
	}
	return 0;
}

void qs_h3_body_end(struct qs_stream *st)
{
	st->php_done = true;
	if (st->blocked) {
		st->blocked = false;
		nghttp3_conn_resume_stream(st->conn->h3, st->id);
	}
}

bool qs_h3_body_backlog(struct qs_stream *st)
{
	return st->unacked + st->pend_bytes >= stream_window(st);
}

void qs_h3_abort(struct qs_stream *st)
{
	ngtcp2_conn_shutdown_stream(st->conn->qc, 0, st->id, NGHTTP3_H3_INTERNAL_ERROR);
}

/* Headers of a 200/206 file answer into nva; returns how many. */
static size_t file_headers(nghttp3_nv *nva, const struct qs_static_resp *r, char *status_s,
			   char *len_buf, size_t len_size)
{
	char *len_s = u64_str(len_buf + len_size, r->length);
	size_t n = 0;

	status_s[0] = '2';
	status_s[1] = '0';
	status_s[2] = r->status == 206 ? '6' : '0';
	nva[n++] = (nghttp3_nv)NV(":status", status_s, 3);
	nva[n++] = (nghttp3_nv)NV("server", SERVER_NAME, sizeof(SERVER_NAME) - 1);
	nva[n++] = (nghttp3_nv)NV("content-type", r->content_type, strlen(r->content_type));
	nva[n++] = (nghttp3_nv)NV("content-length", len_s, (size_t)(len_buf + len_size - len_s));
	nva[n++] = (nghttp3_nv)NV("accept-ranges", "bytes", 5);
	if (r->last_modified[0])
		nva[n++] = (nghttp3_nv)NV("last-modified", r->last_modified, strlen(r->last_modified));
	if (r->etag[0])
		nva[n++] = (nghttp3_nv)NV("etag", r->etag, strlen(r->etag));
	if (r->content_range[0])
		nva[n++] = (nghttp3_nv)NV("content-range", r->content_range, strlen(r->content_range));
	return n;
}

/* 304: the validators again, no body (RFC 9110 15.4.5). */
static int respond_not_modified(struct qs_stream *st, const struct qs_static_resp *r)
{
	nghttp3_nv nva[4];
	size_t n = 0;

	nva[n++] = (nghttp3_nv)NV(":status", "304", 3);
	nva[n++] = (nghttp3_nv)NV("server", SERVER_NAME, sizeof(SERVER_NAME) - 1);
	if (r->last_modified[0])
		nva[n++] = (nghttp3_nv)NV("last-modified", r->last_modified, strlen(r->last_modified));
	if (r->etag[0])
		nva[n++] = (nghttp3_nv)NV("etag", r->etag, strlen(r->etag));
	st->responded = true;
	st->status = 304;
	count_status(st->conn, 304);
	return nghttp3_conn_submit_response(st->conn->h3, st->id, nva, n, NULL);
}

static int respond_static(struct qs_stream *st)
{
	struct qs_conn *c = st->conn;
	struct qs_server *s = c->srv;
	const struct qs_fcache_entry *e;
	struct qs_static_resp r;
	char status_s[4], len_buf[24];
	nghttp3_nv nva[9];
	size_t n;
	nghttp3_data_reader dr = { .read_data = read_data };
	bool head = strcmp(st->method, "HEAD") == 0;
	uint64_t now_ms = qs_now() / NGTCP2_MILLISECONDS;
	int ret;

	/* a hot small file: no syscalls (Range is always resolved) */
	if (!st->range && (head || strcmp(st->method, "GET") == 0) &&
	    (e = qs_fcache_get(&s->fcache, st->path, st->pathlen, now_ms))) {
		if (qs_not_modified(st->if_none_match, st->if_modified_since, &e->resp))
			return respond_not_modified(st, &e->resp);
		n = file_headers(nva, &e->resp, status_s, len_buf, sizeof(len_buf));
		st->responded = true;
		st->status = 200;
		count_status(c, 200);
		if (head || e->len == 0)
			return nghttp3_conn_submit_response(c->h3, st->id, nva, n, NULL);
		{
			struct qs_chunk *ch = chunk_append(st, e->len);

			if (!ch)
				return -ENOMEM;
			memcpy(ch->data, e->data, e->len);
		}
		return nghttp3_conn_submit_response(c->h3, st->id, nva, n, &dr);
	}

	ret = qs_static_resolve(s->docroot, st->method, st->path, st->pathlen, st->range, &r);
	if ((r.status == 206 || r.status == 416) && st->if_range &&
	    !qs_if_range_matches(st->if_range, &r)) {
		/* the client's copy is another version: the whole file, not a part */
		if (r.fd >= 0)
			close(r.fd);
		ret = qs_static_resolve(s->docroot, st->method, st->path, st->pathlen, NULL, &r);
	}
	if (qs_not_modified(st->if_none_match, st->if_modified_since, &r)) {
		if (r.fd >= 0)
			close(r.fd);
		return respond_not_modified(st, &r);
	}
	if (ret < 0 && r.status == 0)
		r.status = 500;
	if (ret < 0)
		pr_debug("stream %" PRId64 ": %s: %s", st->id, st->path, strerror(-ret));
	if (r.status != 200 && r.status != 206) {
		if (r.fd >= 0)
			close(r.fd);
		return respond_error(st, r.status, r.allow, r.content_range);
	}
	if (!r.head)
		qs_fcache_put(&s->fcache, st->path, st->pathlen, &r, r.fd, now_ms);
	n = file_headers(nva, &r, status_s, len_buf, sizeof(len_buf));
	st->responded = true;
	st->status = r.status;
	count_status(c, r.status);
	if (r.head || r.length == 0) {
		if (r.fd >= 0)
			close(r.fd);
		return nghttp3_conn_submit_response(c->h3, st->id, nva, n, NULL);
	}
	st->fd = r.fd;
	st->file_off = r.offset;
	st->file_left = r.length;
	return nghttp3_conn_submit_response(c->h3, st->id, nva, n, &dr);
}

/*
 * Where a request goes.  Static files for now; the FastCGI backend will be
 * chosen here (by script extension or front controller) beside them.
 */
static int route(struct qs_stream *st)
{
	if (st->too_large)
		return respond_error(st, 431, NULL, NULL);
	if (st->bad || !st->path || !st->method[0])
		return respond_error(st, 400, NULL, NULL);
	if (st->php)
		return qs_php_start(st);
	return respond_static(st);
}

/* ---- nghttp3 callbacks ----------------------------------------------------- */

static int on_acked_stream_data(nghttp3_conn *h3, int64_t stream_id, uint64_t datalen,
				void *conn_ud, void *stream_ud)
{
	struct qs_stream *st = stream_ud;

	(void)h3;
	(void)conn_ud;
	if (!st)
		return 0;
	{
		uint64_t n = datalen < st->unacked ? datalen : st->unacked;

		st->unacked -= n;
		st->conn->tx_unacked -= n < st->conn->tx_unacked ? n : st->conn->tx_unacked;
	}
	while (datalen && st->head) {
		struct qs_chunk *ch = st->head;
		size_t left = ch->len - st->head_acked;

		if (datalen < left) {
			st->head_acked += datalen;
			break;
		}
		datalen -= left;
		st->head = ch->next;
		if (!st->head)
			st->tail = NULL;
		st->head_acked = 0;
		free(ch);
	}
	if (st->blocked && st->unacked < stream_window(st) &&
	    st->conn->tx_unacked < CONN_TX_MAX) {
		st->blocked = false;
		nghttp3_conn_resume_stream(st->conn->h3, stream_id);
	}
	if (st->php_conn)
		qs_php_on_acked(st);
	/*
	 * Streams held back by the connection budget may go on (a stream held
	 * by its own window resumes on its own acknowledgements, one waiting
	 * for php-fpm when data comes): scan only after the budget blocked.
	 */
	if (st->conn->budget_blocked && st->conn->tx_unacked < CONN_TX_MAX / 2) {
		st->conn->budget_blocked = false;
		for (struct qs_stream *o = st->conn->streams; o; o = o->next)
			if (o->blocked && !o->php && o->unacked < stream_window(o)) {
				o->blocked = false;
				nghttp3_conn_resume_stream(st->conn->h3, o->id);
			}
	}
	return 0;
}

static int on_stream_close(nghttp3_conn *h3, int64_t stream_id, uint64_t app_error_code,
			   void *conn_ud, void *stream_ud)
{
	struct qs_conn *c = conn_ud;
	struct qs_stream *st = stream_ud;

	(void)h3;
	(void)app_error_code;
	if (st)
		stream_free(st);
	if (ngtcp2_is_bidi_stream(stream_id) && !ngtcp2_conn_is_local_stream(c->qc, stream_id))
		ngtcp2_conn_extend_max_streams_bidi(c->qc, 1);
	return 0;
}

/* Append to a growing buffer (doubling from first_cap); 0 or -ENOMEM. */
static int buf_append(uint8_t **buf, size_t *len, size_t *cap, size_t first_cap,
		      const uint8_t *data, size_t n)
{
	if (*len + n > *cap) {
		size_t c = *cap ? *cap : first_cap;
		uint8_t *b;

		while (c < *len + n)
			c *= 2;
		b = realloc(*buf, c);
		if (!b)
			return -ENOMEM;
		*buf = b;
		*cap = c;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	return 0;
}

/*
 * Bodies without Content-Length are held whole for PHP (CGI needs the
 * length first) with their credit returned as they come, so no window
 * bounds them: this does, for the worker (8 MB each, 48 MB in all, counted
 * as allocated).
 */
static size_t held_bytes;

void qs_h3_body_release(struct qs_stream *st)
{
	held_bytes -= st->body_held < held_bytes ? st->body_held : held_bytes;
	st->body_held = 0;
}

void qs_h3_body_free(struct qs_stream *st)
{
	qs_h3_body_release(st);
	free(st->body);
	st->body = NULL;
}

static int on_recv_data(nghttp3_conn *h3, int64_t stream_id, const uint8_t *data,
			size_t datalen, void *conn_ud, void *stream_ud)
{
	struct qs_conn *c = conn_ud;
	struct qs_stream *st = stream_ud;

	(void)h3;
	if (st && st->deferred) {
		/*
		 * Held, and not credited: the stream's flow-control window (what
		 * the client may send before the handshake) bounds it.
		 */
		return buf_append(&st->early_body, &st->early_len, &st->early_cap, 4096, data,
				  datalen) ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
	}
	if (st)
		st->body_bytes += datalen;
	if (st && st->php_stream_body) {
		/* credit returns when php-fpm has the bytes (qs_php_body) */
		st->body_len += datalen;
		return qs_php_body(st, data, datalen, false) ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
	}
	if (st && st->php && !st->body_too_large && !st->body_busy) {
		if (st->body_len + datalen > QS_PHP_BODY_MAX) {
			st->body_too_large = true;	/* answered 413 at the end */
			qs_h3_body_free(st);
		} else {
			size_t cap = st->body_cap;

			if (buf_append(&st->body, &st->body_len, &st->body_cap, 16384, data,
				       datalen))
				return NGHTTP3_ERR_CALLBACK_FAILURE;
			/* the budget counts what is allocated, not what is filled */
			held_bytes += st->body_cap - cap;
			st->body_held += st->body_cap - cap;
			if (held_bytes > QS_PHP_HELD_MAX) {
				st->body_busy = true;	/* answered 503 at the end */
				qs_h3_body_free(st);
			}
		}
	}
	/* static files take no body: discard it and give the credit back */
	ngtcp2_conn_extend_max_stream_offset(c->qc, stream_id, datalen);
	ngtcp2_conn_extend_max_offset(c->qc, datalen);
	return 0;
}

static int on_deferred_consume(nghttp3_conn *h3, int64_t stream_id, size_t consumed,
			       void *conn_ud, void *stream_ud)
{
	struct qs_conn *c = conn_ud;

	(void)h3;
	(void)stream_ud;
	ngtcp2_conn_extend_max_stream_offset(c->qc, stream_id, consumed);
	ngtcp2_conn_extend_max_offset(c->qc, consumed);
	return 0;
}

static int on_begin_headers(nghttp3_conn *h3, int64_t stream_id, void *conn_ud,
			    void *stream_ud)
{
	struct qs_conn *c = conn_ud;
	struct qs_stream *st;

	(void)stream_ud;
	st = stream_new(c, stream_id);
	if (!st)
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	nghttp3_conn_set_stream_user_data(h3, stream_id, st);
	return 0;
}

static char *dup_value(nghttp3_rcbuf *value, size_t *len)
{
	nghttp3_vec v = nghttp3_rcbuf_get_buf(value);
	char *s = malloc(v.len + 1);

	if (!s)
		return NULL;
	memcpy(s, v.base, v.len);
	s[v.len] = '\0';
	if (len)
		*len = v.len;
	return s;
}

static int on_recv_header(nghttp3_conn *h3, int64_t stream_id, int32_t token,
			  nghttp3_rcbuf *name, nghttp3_rcbuf *value, uint8_t flags,
			  void *conn_ud, void *stream_ud)
{
	struct qs_conn *c = conn_ud;
	struct qs_stream *st = stream_ud;
	nghttp3_vec n = nghttp3_rcbuf_get_buf(name), v = nghttp3_rcbuf_get_buf(value);

	(void)h3;
	(void)stream_id;
	(void)flags;
	if (!st)
		return 0;
	/* the same accounting as SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114 4.2.2) */
	st->header_bytes += n.len + v.len + 32;
	if (st->header_bytes > c->srv->cfg->max_header_bytes) {
		st->too_large = true;
		return 0;
	}
	switch (token) {
	case NGHTTP3_QPACK_TOKEN__METHOD:
		if (v.len == 0 || v.len >= sizeof(st->method)) {
			st->bad = true;
			break;
		}
		memcpy(st->method, v.base, v.len);
		st->method[v.len] = '\0';
		break;
	case NGHTTP3_QPACK_TOKEN__PATH:
		free(st->path);
		st->path = dup_value(value, &st->pathlen);
		if (!st->path)
			return NGHTTP3_ERR_CALLBACK_FAILURE;
		break;
	case NGHTTP3_QPACK_TOKEN__AUTHORITY:
		free(st->authority);
		st->authority = dup_value(value, NULL);
		break;
	case NGHTTP3_QPACK_TOKEN_RANGE:
		free(st->range);
		st->range = dup_value(value, NULL);
		break;
	case NGHTTP3_QPACK_TOKEN_IF_NONE_MATCH:
		free(st->if_none_match);
		st->if_none_match = dup_value(value, NULL);
		break;
	case NGHTTP3_QPACK_TOKEN_IF_MODIFIED_SINCE:
		free(st->if_modified_since);
		st->if_modified_since = dup_value(value, NULL);
		break;
	case NGHTTP3_QPACK_TOKEN_IF_RANGE:
		free(st->if_range);
		st->if_range = dup_value(value, NULL);
		break;
	case NGHTTP3_QPACK_TOKEN_CONTENT_LENGTH: {
		/* nghttp3 checked it is a number and will hold the body to it */
		uint64_t cl = 0;

		for (size_t i = 0; i < v.len && cl < (1ULL << 60); i++)
			cl = cl * 10 + (uint64_t)(v.base[i] - '0');
		st->req_content_length = (int64_t)cl;
		break;
	}
	case NGHTTP3_QPACK_TOKEN_CONTENT_TYPE:
		free(st->content_type);
		st->content_type = dup_value(value, NULL);
		break;
	}
	/* every regular field, for FastCGI's HTTP_* params (bounded above) */
	if (n.len && n.base[0] != ':' && c->srv->cfg->fastcgi != QS_FASTCGI_OFF) {
		size_t need = st->hdrs_len + n.len + v.len + 2;

		if (need > st->hdrs_cap) {
			size_t cap = st->hdrs_cap ? st->hdrs_cap * 2 : 1024;
			char *h;

			while (cap < need)
				cap *= 2;
			h = realloc(st->hdrs, cap);
			if (!h)
				return NGHTTP3_ERR_CALLBACK_FAILURE;
			st->hdrs = h;
			st->hdrs_cap = cap;
		}
		memcpy(st->hdrs + st->hdrs_len, n.base, n.len);
		st->hdrs[st->hdrs_len + n.len] = '\0';
		memcpy(st->hdrs + st->hdrs_len + n.len + 1, v.base, v.len);
		st->hdrs[st->hdrs_len + n.len + 1 + v.len] = '\0';
		st->hdrs_len = need;
	}
	return 0;
}

static bool safe_method(const char *m)
{
	return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS");
}

static int dispatch(struct qs_conn *c, struct qs_stream *st, int64_t stream_id, int fin);

static int on_end_headers(nghttp3_conn *h3, int64_t stream_id, int fin, void *conn_ud,
			  void *stream_ud)
{
	struct qs_conn *c = conn_ud;
	struct qs_stream *st = stream_ud;

	(void)h3;
	if (!st || st->responded)
		return 0;
	if (!c->handshake_done && !st->too_large && !st->bad) {
		/*
		 * Arrived in 0-RTT, so it may be a replay (RFC 8470): safe methods
		 * run now, marked; others wait for the handshake, or get 425.
		 */
		if (safe_method(st->method)) {
			st->early = true;
			count(&c->srv->stats->req_early, 1);
		} else if (c->srv->cfg->early_unsafe_reject) {
			int ret = respond_error(st, 425, NULL, NULL);

			count(&c->srv->stats->req_too_early, 1);
			if (!fin)
				ngtcp2_conn_shutdown_stream_read(c->qc, 0, stream_id,
								 NGHTTP3_H3_NO_ERROR);
			qs_conn_schedule_write(c);
			return ret ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
		} else {
			st->deferred = true;
			st->deferred_hfin = fin;
			st->deferred_fin = fin;
			count(&c->srv->stats->req_deferred, 1);
			return 0;
		}
	}
	return dispatch(c, st, stream_id, fin);
}

/* The header block is in and the request may run: where it goes. */
static int dispatch(struct qs_conn *c, struct qs_stream *st, int64_t stream_id, int fin)
{
	int ret = 0;

	st->php = !st->too_large && !st->bad && qs_php_wants(c->srv, st->path, st->pathlen);
	if (!st->php && !st->too_large && !st->bad && st->path && c->srv->cfg->index[0] &&
	    c->srv->cfg->fastcgi != QS_FASTCGI_OFF) {
		/*
		 * front controller: what is not a static file goes to the index
		 * script; a file in the cache is one (no second resolution)
		 */
		struct qs_static_resp r;

		if (!qs_fcache_get(&c->srv->fcache, st->path, st->pathlen,
				   qs_now() / NGTCP2_MILLISECONDS)) {
			qs_static_resolve(c->srv->docroot, "HEAD", st->path, st->pathlen, NULL, &r);
			if (r.fd >= 0)
				close(r.fd);
			if (r.status == 404)
				st->php = st->front = true;
		}
	}
	if (st->php && !fin && st->req_content_length > 0) {
		int ret2;

		if ((uint64_t)st->req_content_length > c->srv->cfg->max_body) {
			ret2 = respond_error(st, 413, NULL, NULL);
			ngtcp2_conn_shutdown_stream_read(c->qc, 0, stream_id, NGHTTP3_H3_NO_ERROR);
		} else {
			/* a known length: stream the body to PHP as it comes */
			st->php_stream_body = true;
			ret2 = qs_php_start(st);
		}
		qs_conn_schedule_write(c);
		return ret2 ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
	}
	/* answer at once what needs no body; stop the body from coming */
	if (st->too_large || st->bad ||
	    (!st->php && strcmp(st->method, "GET") != 0 && strcmp(st->method, "HEAD") != 0)) {
		ret = route(st);
		if (!fin)
			ngtcp2_conn_shutdown_stream_read(c->qc, 0, stream_id, NGHTTP3_H3_NO_ERROR);
	}
	qs_conn_schedule_write(c);
	return ret ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
}

static int on_end_stream(nghttp3_conn *h3, int64_t stream_id, void *conn_ud, void *stream_ud)
{
	struct qs_conn *c = conn_ud;
	struct qs_stream *st = stream_ud;

	(void)h3;
	(void)stream_id;
	if (st && st->deferred) {
		st->deferred_fin = true;
		return 0;
	}
	if (st && st->php_stream_body) {
		qs_conn_schedule_write(c);
		return qs_php_body(st, NULL, 0, true) ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
	}
	if (!st || st->responded)
		return 0;
	qs_conn_schedule_write(c);
	return route(st) ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
}

static int on_stop_sending(nghttp3_conn *h3, int64_t stream_id, uint64_t app_error_code,
			   void *conn_ud, void *stream_ud)
{
	struct qs_conn *c = conn_ud;

	(void)h3;
	(void)stream_ud;
	if (ngtcp2_conn_shutdown_stream_read(c->qc, 0, stream_id, app_error_code))
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	return 0;
}

static int on_reset_stream(nghttp3_conn *h3, int64_t stream_id, uint64_t app_error_code,
			   void *conn_ud, void *stream_ud)
{
	struct qs_conn *c = conn_ud;

	(void)h3;
	(void)stream_ud;
	if (ngtcp2_conn_shutdown_stream_write(c->qc, 0, stream_id, app_error_code))
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	return 0;
}

static const nghttp3_callbacks h3_callbacks = {
	.acked_stream_data = on_acked_stream_data,
	.stream_close = on_stream_close,
	.recv_data = on_recv_data,
	.deferred_consume = on_deferred_consume,
	.begin_headers = on_begin_headers,
	.recv_header = on_recv_header,
	.end_headers = on_end_headers,
	.stop_sending = on_stop_sending,
	.end_stream = on_end_stream,
	.reset_stream = on_reset_stream,
};

void qs_h3_on_handshake(struct qs_conn *c)
{
	struct qs_stream *st, *next;

	if (!c->h3)
		return;
	for (st = c->streams; st; st = next) {
		next = st->next;
		if (!st->deferred)
			continue;
		/* as if it had just arrived: headers, the held body, its end */
		st->deferred = false;
		if (dispatch(c, st, st->id, st->deferred_hfin))
			goto fail;
		if (st->early_len &&
		    on_recv_data(c->h3, st->id, st->early_body, st->early_len, c, st))
			goto fail;
		free(st->early_body);
		st->early_body = NULL;
		st->early_len = st->early_cap = 0;
		if (st->deferred_fin && on_end_stream(c->h3, st->id, c, st))
			goto fail;
		continue;
fail:
		qs_h3_abort(st);
	}
}

int qs_conn_setup_h3(struct qs_conn *c)
{
	const ngtcp2_transport_params *params;
	nghttp3_settings settings;
	int64_t ctrl, qenc, qdec;

	if (c->h3)
		return 0;
	if (ngtcp2_conn_get_streams_uni_left(c->qc) < 3)
		return -1;	/* the client must allow our 3 unidirectional streams */
	nghttp3_settings_default(&settings);
	settings.max_field_section_size = c->srv->cfg->max_header_bytes;
	settings.qpack_max_dtable_capacity = QS_H3_QPACK_CAPACITY;
	settings.qpack_blocked_streams = QS_H3_QPACK_BLOCKED;
	/*
	 * Responses are encoded with the static table and literals only, as
	 * nginx and quiche do: no encoder-stream traffic, no blocked streams,
	 * and 6 % less worker CPU per 1 KB request measured here, for a few
	 * dozen bytes more per response header block.
	 */
	settings.qpack_encoder_max_dtable_capacity = 0;
	if (nghttp3_conn_server_new(&c->h3, &h3_callbacks, &settings, &qs_nghttp3_mem, c))
		return -1;
	params = ngtcp2_conn_get_local_transport_params(c->qc);
	nghttp3_conn_set_max_client_streams_bidi(c->h3, params->initial_max_streams_bidi);
	if (ngtcp2_conn_open_uni_stream(c->qc, &ctrl, NULL) ||
	    nghttp3_conn_bind_control_stream(c->h3, ctrl) ||
	    ngtcp2_conn_open_uni_stream(c->qc, &qenc, NULL) ||
	    ngtcp2_conn_open_uni_stream(c->qc, &qdec, NULL) ||
	    nghttp3_conn_bind_qpack_streams(c->h3, qenc, qdec))
		return -1;
	return 0;
}

void qs_h3_conn_free(struct qs_conn *c)
{
	while (c->streams)
		stream_free(c->streams);
	if (c->h3)
		nghttp3_conn_del(c->h3);
	c->h3 = NULL;
}
