// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "common/config.h"
#include "common/log.h"
#include "quicsteer/steer.h"
#include "worker/counters.h"
#include "worker/http/h3.h"
#include "worker/mem.h"
#include "worker/quic/quic.h"
#include "worker/site.h"

#define CHUNK_SIZE      (32u << 10)
#define STREAM_WIN_MIN  (256u << 10)   /* bytes in flight per stream, at least */
#define STREAM_WIN_MAX  (4u << 20)     /* ... at most (follows cwnd in between) */
#define CONN_TX_MAX     (8u << 20)     /* response bytes in flight per connection */

static const struct qs_proto_ops h3_ops;

static inline struct qs_h3_stream *h3_stream(const struct qs_req *req)
{
	return (struct qs_h3_stream *)req;	/* req is the first member */
}

/*
 * The request side of a stream's life.  RECV_HEADERS -> RECV_BODY when
 * the request starts; -> DEFERRED when it came in 0-RTT with an unsafe
 * method (-> RECV_BODY once the handshake completes); RECV_BODY ->
 * BODY_DONE at the end of the body or when the handler (or a refusal)
 * stops it.  Nothing leaves BODY_DONE: later body bytes are credited and
 * dropped.
 */
static void set_state(struct qs_h3_stream *st, enum qs_h3_state to)
{
	st->state = to;
}

/* ---- streams ----------------------------------------------------------- */

static void stream_free(struct qs_h3_stream *st)
{
	struct qs_conn *c = st->conn;
	uint64_t owed;

	qs_req_close(&st->req);
	/*
	 * Body bytes received and never credited (held by a handler, or by a
	 * 0-RTT request that never ran): the connection's window gets them
	 * back, or a client that keeps abandoning uploads would shrink it.
	 */
	owed = st->uncredited - st->conn_ahead + st->early_len;
	if (owed)
		ngtcp2_conn_extend_max_offset(c->qc, owed);
	qs_chunks_free(st->head);
	c->tx_unacked -= st->unacked < c->tx_unacked ? st->unacked : c->tx_unacked;
	qs_resp_held(st->req.site, -(int64_t)st->unacked);
	qs_body_free(&st->req, &st->out);
	if (st->prev)
		st->prev->next = st->next;
	else
		c->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	qs_req_free_fields(&st->req);
	free(st->early_body);
	qs_free(st);
}

static struct qs_h3_stream *stream_new(struct qs_conn *c, int64_t id)
{
	/* streams and chunks churn with every request: the worker's free lists */
	struct qs_h3_stream *st = qs_calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->id = id;
	st->conn = c;
	qs_body_init(&st->out);
	st->req.content_length = -1;
	st->req.scheme = "https";
	st->req.protocol = "HTTP/3";
	st->req.site = c->srv->site;
	st->req.id = ++c->srv->site->next_req_id;
	st->req.conn_busy = &c->busy;
	st->req.conn_files = &c->files;
	st->req.ops = &h3_ops;
	st->next = c->streams;
	if (c->streams)
		c->streams->prev = st;
	c->streams = st;
	return st;
}

/* ---- responses ------------------------------------------------------------ */

static size_t stream_window(struct qs_h3_stream *st)
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

/* The chunk goes to the list nghttp3 holds until acknowledged. */
static void hand_over(struct qs_h3_stream *st, struct qs_chunk *ch, nghttp3_vec *vec)
{
	ch->next = NULL;
	if (st->tail)
		st->tail->next = ch;
	else
		st->head = ch;
	st->tail = ch;
	st->unacked += ch->len;
	st->conn->tx_unacked += ch->len;
	vec->base = ch->data;
	vec->len = ch->len;
}

/*
 * nghttp3 asks for body bytes: first what the handler queued, then its
 * file a chunk at a time.  A chunk lives until acknowledged, and a file is
 * read only while the stream and the connection are under their windows,
 * so a stream holds at most its window.
 */
static nghttp3_ssize read_data(nghttp3_conn *h3, int64_t stream_id, nghttp3_vec *vec,
			       size_t veccnt, uint32_t *pflags, void *conn_ud, void *stream_ud)
{
	struct qs_h3_stream *st = stream_ud;
	struct qs_chunk *ch;
	size_t n = 0;

	(void)h3;
	(void)stream_id;
	(void)conn_ud;
	if (veccnt == 0)
		return 0;
	if (st->eof) {
		*pflags |= NGHTTP3_DATA_FLAG_EOF;
		return 0;
	}
	while (n < veccnt && (ch = qs_body_pop(&st->out)))
		hand_over(st, ch, &vec[n++]);
	if (n == 0 && st->out.file_left) {
		size_t len = st->out.file_left < CHUNK_SIZE ? (size_t)st->out.file_left : CHUNK_SIZE;

		if (st->unacked >= stream_window(st) || st->conn->tx_unacked >= CONN_TX_MAX) {
			st->blocked = true;
			if (st->conn->tx_unacked >= CONN_TX_MAX)
				st->conn->budget_blocked = true;
			return NGHTTP3_ERR_WOULDBLOCK;
		}
		ch = qs_malloc(sizeof(*ch) + len);
		if (!ch)
			return NGHTTP3_ERR_CALLBACK_FAILURE;
		ch->len = len;
		if (qs_body_read_file(&st->req, &st->out, ch->data, len)) {
			qs_free(ch);
			return NGHTTP3_ERR_CALLBACK_FAILURE;
		}
		hand_over(st, ch, &vec[n++]);
		qs_resp_held(st->req.site, (int64_t)len);
	}
	if (qs_body_done(&st->out)) {
		st->eof = true;
		*pflags |= NGHTTP3_DATA_FLAG_EOF;
	}
	if (n == 0 && !st->eof) {
		st->blocked = true;
		return NGHTTP3_ERR_WOULDBLOCK;
	}
	return (nghttp3_ssize)n;
}

static void resume(struct qs_h3_stream *st)
{
	if (st->blocked) {
		st->blocked = false;
		nghttp3_conn_resume_stream(st->conn->h3, st->id);
	}
	qs_conn_schedule_write(st->conn);
}

static int h3_respond(struct qs_req *req, const struct qs_field *f, size_t n, bool body)
{
	struct qs_h3_stream *st = h3_stream(req);
	nghttp3_nv nva[QS_RESP_FIELDS_MAX + 3];
	nghttp3_data_reader dr = { .read_data = read_data };
	char status_s[4];
	int ret;

	if (n + 1 > sizeof(nva) / sizeof(nva[0]))
		return -E2BIG;
	status_s[0] = (char)('0' + req->status / 100 % 10);
	status_s[1] = (char)('0' + req->status / 10 % 10);
	status_s[2] = (char)('0' + req->status % 10);
	status_s[3] = '\0';
	nva[0] = (nghttp3_nv){ (uint8_t *)":status", (uint8_t *)status_s, 7, 3,
			       NGHTTP3_NV_FLAG_NONE };
	for (size_t i = 0; i < n; i++)
		nva[i + 1] = (nghttp3_nv){ (uint8_t *)f[i].name, (uint8_t *)f[i].value,
					   f[i].name_len, f[i].value_len, NGHTTP3_NV_FLAG_NONE };
	if (!body)
		st->out.ended = st->eof = true;
	ret = nghttp3_conn_submit_response(st->conn->h3, st->id, nva, n + 1, body ? &dr : NULL);
	qs_conn_schedule_write(st->conn);
	return ret ? -EIO : 0;
}

static int h3_send(struct qs_req *req, const uint8_t *data, size_t len)
{
	struct qs_h3_stream *st = h3_stream(req);
	int ret = qs_body_push(req, &st->out, data, len);

	if (!ret)
		resume(st);
	return ret;
}

static int h3_send_file(struct qs_req *req, int fd, uint64_t off, uint64_t len)
{
	struct qs_h3_stream *st = h3_stream(req);
	int ret = qs_body_file(&st->out, fd, off, len);

	if (!ret)
		resume(st);
	return ret;
}

static void h3_end(struct qs_req *req)
{
	struct qs_h3_stream *st = h3_stream(req);

	if (st->out.ended)
		return;
	st->out.ended = true;
	resume(st);
}

static void h3_abort(struct qs_req *req)
{
	struct qs_h3_stream *st = h3_stream(req);

	ngtcp2_conn_shutdown_stream(st->conn->qc, 0, st->id, NGHTTP3_H3_INTERNAL_ERROR);
	qs_conn_schedule_write(st->conn);
}

static bool h3_backlog(struct qs_req *req)
{
	struct qs_h3_stream *st = h3_stream(req);

	return st->unacked + st->out.bytes >= stream_window(st);
}

/* n body bytes are the handler's no more: the client may send as many again. */
static void h3_consume(struct qs_req *req, uint64_t n)
{
	struct qs_h3_stream *st = h3_stream(req);
	uint64_t ahead;

	if (n > st->uncredited)
		n = st->uncredited;
	ahead = n < st->conn_ahead ? n : st->conn_ahead;
	ngtcp2_conn_extend_max_stream_offset(st->conn->qc, st->id, n);
	if (n > ahead)
		ngtcp2_conn_extend_max_offset(st->conn->qc, n - ahead);
	st->conn_ahead -= ahead;
	st->uncredited -= n;
	qs_conn_schedule_write(st->conn);
}

/*
 * The handler keeps n bytes its stream window bounds: the connection's
 * credit comes back now, the stream's only when they are consumed.
 */
static void h3_hold(struct qs_req *req, uint64_t n)
{
	struct qs_h3_stream *st = h3_stream(req);
	uint64_t room = st->uncredited - st->conn_ahead;

	if (n > room)
		n = room;
	if (!n)
		return;
	ngtcp2_conn_extend_max_offset(st->conn->qc, n);
	st->conn_ahead += n;
	qs_conn_schedule_write(st->conn);
}

static void h3_stop_body(struct qs_req *req)
{
	struct qs_h3_stream *st = h3_stream(req);

	if (!st->recv_fin)
		ngtcp2_conn_shutdown_stream_read(st->conn->qc, 0, st->id, NGHTTP3_H3_NO_ERROR);
	set_state(st, QS_H3_BODY_DONE);
	qs_conn_schedule_write(st->conn);
}

static void h3_addr(const struct qs_req *req, const struct sockaddr **peer,
		    const struct sockaddr **local)
{
	const struct qs_h3_stream *st = h3_stream(req);
	const struct qs_conn *c = st->conn;
	const struct qs_server *s = c->srv;
	/* the path the request arrived on, when it starts as it arrives */
	const ngtcp2_path *path = s->rx_conn == c && s->rx_path ? s->rx_path :
				  ngtcp2_conn_get_path(c->qc);

	*peer = path->remote.addr;
	*local = path->local.addr;
}

static const struct qs_proto_ops h3_ops = {
	.respond = h3_respond,
	.send = h3_send,
	.send_file = h3_send_file,
	.end = h3_end,
	.abort = h3_abort,
	.backlog = h3_backlog,
	.consume = h3_consume,
	.hold = h3_hold,
	.stop_body = h3_stop_body,
	.addr = h3_addr,
};

/* ---- nghttp3 callbacks ----------------------------------------------------- */

static int on_acked_stream_data(nghttp3_conn *h3, int64_t stream_id, uint64_t datalen,
				void *conn_ud, void *stream_ud)
{
	struct qs_h3_stream *st = stream_ud;
	struct qs_conn *c;

	(void)h3;
	(void)conn_ud;
	if (!st)
		return 0;
	c = st->conn;
	{
		uint64_t n = datalen < st->unacked ? datalen : st->unacked;

		st->unacked -= n;
		c->tx_unacked -= n < c->tx_unacked ? n : c->tx_unacked;
		qs_resp_held(st->req.site, -(int64_t)n);
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
		qs_free(ch);
	}
	if (st->blocked && st->out.file_left && st->unacked < stream_window(st) &&
	    c->tx_unacked < CONN_TX_MAX) {
		st->blocked = false;
		nghttp3_conn_resume_stream(c->h3, stream_id);
	}
	qs_req_proceed(&st->req);
	/*
	 * Streams held back by the connection budget may go on (a stream held
	 * by its own window resumes on its own acknowledgements, one waiting
	 * for its handler when data comes): scan only after the budget blocked.
	 */
	if (c->budget_blocked && c->tx_unacked < CONN_TX_MAX / 2) {
		c->budget_blocked = false;
		for (struct qs_h3_stream *o = c->streams; o; o = o->next)
			if (o->blocked && o->out.file_left && o->unacked < stream_window(o)) {
				o->blocked = false;
				nghttp3_conn_resume_stream(c->h3, o->id);
			}
	}
	return 0;
}

static int on_stream_close(nghttp3_conn *h3, int64_t stream_id, uint64_t app_error_code,
			   void *conn_ud, void *stream_ud)
{
	struct qs_conn *c = conn_ud;
	struct qs_h3_stream *st = stream_ud;

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

static int on_recv_data(nghttp3_conn *h3, int64_t stream_id, const uint8_t *data,
			size_t datalen, void *conn_ud, void *stream_ud)
{
	struct qs_conn *c = conn_ud;
	struct qs_h3_stream *st = stream_ud;

	(void)h3;
	if (st && st->state == QS_H3_DEFERRED) {
		/*
		 * Held, and not credited: the stream's flow-control window (what
		 * the client may send before the handshake) bounds it.
		 */
		return buf_append(&st->early_body, &st->early_len, &st->early_cap, 4096, data,
				  datalen) ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
	}
	if (st && st->state == QS_H3_RECV_BODY) {
		/* the credit returns as the handler consumes the bytes */
		st->uncredited += datalen;
		return qs_req_body(&st->req, data, datalen, false) ?
		       NGHTTP3_ERR_CALLBACK_FAILURE : 0;
	}
	/* nobody takes it: drop it and give the credit back */
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
	struct qs_h3_stream *st;

	(void)stream_ud;
	st = stream_new(c, stream_id);
	if (!st)
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	nghttp3_conn_set_stream_user_data(h3, stream_id, st);
	qs_req_headers_begin(&st->req);
	return 0;
}

static int on_recv_header(nghttp3_conn *h3, int64_t stream_id, int32_t token,
			  nghttp3_rcbuf *name, nghttp3_rcbuf *value, uint8_t flags,
			  void *conn_ud, void *stream_ud)
{
	struct qs_conn *c = conn_ud;
	struct qs_h3_stream *st = stream_ud;
	struct qs_req *req;
	nghttp3_vec n = nghttp3_rcbuf_get_buf(name), v = nghttp3_rcbuf_get_buf(value);
	int ret = 0;

	(void)h3;
	(void)stream_id;
	(void)token;
	(void)flags;
	if (!st || st->reject)
		return 0;	/* refused: nothing more is kept */
	req = &st->req;
	/* the same accounting as SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114 4.2.2) */
	st->header_bytes += n.len + v.len + 32;
	if (st->header_bytes > c->srv->cfg->max_header_bytes) {
		st->reject = 431;
		return 0;
	}
	ret = qs_req_header(req, n.base, n.len, v.base, v.len);
	if (ret > 0) {
		st->reject = ret;
		return 0;
	}
	return ret ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
}

static bool safe_method(const char *m)
{
	return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS");
}

/* Answer with the layer's error page and take no more of the body. */
static int refuse(struct qs_h3_stream *st, int status)
{
	int ret = qs_respond_error(&st->req, status, NULL, NULL);

	h3_stop_body(&st->req);
	return ret;
}

/* The header block is in and the request may run: hand it to its handler. */
static int start_request(struct qs_h3_stream *st)
{
	struct qs_req *req = &st->req;
	SSL *ssl = st->conn->ssl;

	if (ssl) {
		req->tls.version = SSL_get_version(ssl);
		req->tls.cipher = SSL_get_cipher_name(ssl);
		req->tls.resumed = SSL_session_reused(ssl);
	}
	set_state(st, QS_H3_RECV_BODY);
	count(&st->conn->srv->stats->req_h3, 1);
	return qs_req_start(req);
}

static int on_end_headers(nghttp3_conn *h3, int64_t stream_id, int fin, void *conn_ud,
			  void *stream_ud)
{
	struct qs_conn *c = conn_ud;
	struct qs_h3_stream *st = stream_ud;
	int ret;

	(void)h3;
	(void)stream_id;
	if (!st || st->state != QS_H3_RECV_HEADERS)
		return 0;
	st->recv_fin = fin;
	ret = qs_req_headers_end(&st->req);
	if (!st->reject)
		st->reject = ret;
	if (st->reject) {
		ret = refuse(st, st->reject);
	} else if (!c->handshake_done && safe_method(st->req.method)) {
		/* arrived in 0-RTT, so it may be a replay (RFC 8470): run it, marked */
		st->req.early = true;
		count(&c->srv->stats->req_early, 1);
		ret = start_request(st);
	} else if (!c->handshake_done && c->srv->cfg->early_unsafe_reject) {
		count(&c->srv->stats->req_too_early, 1);
		ret = refuse(st, 425);
	} else if (!c->handshake_done) {
		/* an unsafe method in 0-RTT: it waits for the handshake */
		count(&c->srv->stats->req_deferred, 1);
		set_state(st, QS_H3_DEFERRED);
		return 0;
	} else {
		ret = start_request(st);
	}
	qs_conn_schedule_write(c);
	return ret ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
}

static int on_end_stream(nghttp3_conn *h3, int64_t stream_id, void *conn_ud, void *stream_ud)
{
	struct qs_conn *c = conn_ud;
	struct qs_h3_stream *st = stream_ud;

	(void)h3;
	(void)stream_id;
	if (!st)
		return 0;
	st->recv_fin = true;
	if (st->state != QS_H3_RECV_BODY)
		return 0;	/* deferred: replayed at the handshake; done: nothing */
	set_state(st, QS_H3_BODY_DONE);
	qs_conn_schedule_write(c);
	return qs_req_body(&st->req, NULL, 0, true) ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
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
	struct qs_h3_stream *st, *prev;

	if (!c->h3 || !c->streams)
		return;
	/* in the order they came: the list has the newest first */
	for (st = c->streams; st->next; st = st->next)
		;
	for (; st; st = prev) {
		uint8_t *body;
		size_t len;
		bool fin;

		prev = st->prev;
		if (st->state != QS_H3_DEFERRED)
			continue;
		/* as if it had just arrived: the request, the held body, its end */
		body = st->early_body;
		len = st->early_len;
		fin = st->recv_fin;
		st->early_body = NULL;
		st->early_len = st->early_cap = 0;
		if (start_request(st) ||
		    (len && on_recv_data(c->h3, st->id, body, len, c, st)) ||
		    (fin && on_end_stream(c->h3, st->id, c, st)))
			h3_abort(&st->req);
		free(body);
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

const struct qs_app_ops qs_h3_app = {
	.setup = qs_conn_setup_h3,
	.on_handshake = qs_h3_on_handshake,
	.conn_free = qs_h3_conn_free,
};
