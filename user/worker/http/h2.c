// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "common/config.h"
#include "common/log.h"
#include "quicsteer/steer.h"
#include "worker/counters.h"
#include "worker/http/body.h"
#include "worker/http/h2.h"
#include "worker/mem.h"
#include "worker/quic/quic.h"
#include "worker/site.h"

/* queued response bytes per stream before the handler is told to wait */
#define STREAM_BACKLOG (256u << 10)

/*
 * The request side of a stream's life, as in HTTP/3: RECV_HEADERS ->
 * RECV_BODY when the request starts; RECV_BODY -> BODY_DONE at the end of
 * the body or when the handler (or a refusal) stops it.  Nothing leaves
 * BODY_DONE: later body bytes are credited and dropped.
 */
enum h2_state {
	H2_RECV_HEADERS,
	H2_RECV_BODY,
	H2_BODY_DONE,
};

struct h2_stream {
	struct qs_req req;                  /* first: what the handler sees */
	int32_t id;
	struct h2_conn *h;
	struct h2_stream *next, *prev;      /* the connection's open streams */
	enum h2_state state;
	int reject;                         /* 400, 431 or 503: the header block is refused */
	size_t header_bytes;
	bool recv_fin;                      /* the client ended its side */
	/* request body: delivered to the handler and not yet credited */
	uint64_t uncredited;
	uint64_t conn_ahead;                /* ... of which the connection's credit was returned */
	struct qs_body_out out;             /* response: what the handler gave */
	bool deferred;                      /* the data source said DEFERRED */
	bool took;                          /* queued bytes were framed: tell the handler */
};

/* A token bucket: frames of one kind a connection may send. */
struct bucket {
	uint64_t at;                        /* ns of the last refill */
	unsigned tokens;
};

struct h2_conn {
	struct qs_tcp_conn *c;
	nghttp2_session *s;
	struct h2_stream *streams;
	unsigned n_streams;
	struct bucket rst, ctrl, idle;      /* idle: frames that carry nothing */
	bool in_recv;                       /* inside nghttp2_session_mem_recv */
	bool pumping, again;
	bool draining;                      /* shutdown notice sent: GOAWAY at its PING ack */
	bool goaway;                        /* the final GOAWAY is submitted */
	bool flooded;                       /* ended for a flood: nothing more is sent */
	bool closed;
};

static const struct qs_proto_ops h2_ops;

static inline struct h2_stream *h2_stream(const struct qs_req *req)
{
	return (struct h2_stream *)req;	/* req is the first member */
}

static void set_state(struct h2_stream *st, enum h2_state to)
{
	st->state = to;
}

static void pump(struct h2_conn *h);

/*
 * A handler's call asks for frames: they are made from the loop, since
 * making them may end the stream, and its request must outlive the call.
 */
static void schedule(struct h2_conn *h)
{
	if (h->in_recv || h->pumping)
		h->again = true;
	else
		qs_tcp_wake(h->c);
}

/* ---- flood limits -------------------------------------------------------- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Take a token; false when the bucket is empty (a flood). */
static bool bucket_take(struct bucket *b)
{
	uint64_t now = mono_ns();
	uint64_t add = (now - b->at) * QS_H2_FLOOD_RATE / 1000000000u;

	if (add) {
		b->tokens = b->tokens + add > QS_H2_FLOOD_BURST ? QS_H2_FLOOD_BURST :
			    b->tokens + (unsigned)add;
		b->at = now;
	}
	if (!b->tokens)
		return false;
	b->tokens--;
	return true;
}

/*
 * End the connection at once: a GOAWAY written as raw bytes (nghttp2 may
 * be in an error state, and whatever it still queues is not wanted), then
 * close once the queue is sent.  Frames already queued are whole, so the
 * GOAWAY starts a frame.
 */
static void goaway_now(struct h2_conn *h, uint32_t code, const char *why)
{
	uint32_t last = (uint32_t)nghttp2_session_get_last_proc_stream_id(h->s);
	uint8_t f[17] = { 0, 0, 8, NGHTTP2_GOAWAY, 0, 0, 0, 0, 0 };

	if (h->flooded || h->closed)
		return;
	h->flooded = true;
	f[9] = (uint8_t)(last >> 24 & 0x7f);
	f[10] = (uint8_t)(last >> 16);
	f[11] = (uint8_t)(last >> 8);
	f[12] = (uint8_t)last;
	f[13] = (uint8_t)(code >> 24);
	f[14] = (uint8_t)(code >> 16);
	f[15] = (uint8_t)(code >> 8);
	f[16] = (uint8_t)code;
	if (code == NGHTTP2_ENHANCE_YOUR_CALM) {
		count(&h->c->site->stats->h2_floods, 1);
		pr_debug("h2: %s: GOAWAY", why);
	}
	qs_tcp_send(h->c, f, sizeof(f));
	qs_tcp_close(h->c, true);
}

/* ---- streams ------------------------------------------------------------- */

static void stream_free(struct h2_stream *st)
{
	struct h2_conn *h = st->h;
	uint64_t owed;

	qs_req_close(&st->req);
	/*
	 * Body bytes received and never credited: the connection's window
	 * gets them back, or a client that keeps abandoning uploads would
	 * shrink it.
	 */
	owed = st->uncredited - st->conn_ahead;
	if (owed && !h->closed)
		nghttp2_session_consume_connection(h->s, owed);
	qs_body_free(&st->req, &st->out);
	if (st->prev)
		st->prev->next = st->next;
	else
		h->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	h->n_streams--;
	qs_req_free_fields(&st->req);
	qs_free(st);
}

static struct h2_stream *stream_new(struct h2_conn *h, int32_t id)
{
	struct qs_tcp_conn *c = h->c;
	struct h2_stream *st = qs_calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->id = id;
	st->h = h;
	qs_body_init(&st->out);
	st->req.content_length = -1;
	st->req.scheme = "https";
	st->req.protocol = "HTTP/2.0";
	st->req.alt_svc = c->alt_svc;
	st->req.tls = c->tls;
	st->req.site = c->site;
	st->req.id = ++c->site->next_req_id;
	st->req.conn_busy = &c->busy;
	st->req.conn_files = &c->files;
	st->req.ops = &h2_ops;
	st->next = h->streams;
	if (h->streams)
		h->streams->prev = st;
	h->streams = st;
	h->n_streams++;
	return st;
}

/* ---- responses ------------------------------------------------------------ */

/*
 * nghttp2 asks for a DATA frame's payload: first what the handler queued,
 * then its file.  The output goes to the TCP queue, which the pump keeps
 * under QS_TCP_OUT_HIGH, so a stream holds at most its backlog.
 */
static ssize_t read_data(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
			 uint32_t *flags, nghttp2_data_source *source, void *ud)
{
	struct h2_stream *st = source->ptr;
	size_t n;

	(void)s;
	(void)stream_id;
	(void)ud;
	n = qs_body_copy(&st->req, &st->out, buf, length);
	if (!st->out.head && st->out.file_left && n < length) {
		size_t len = length - n;

		if (len > st->out.file_left)
			len = (size_t)st->out.file_left;
		if (qs_body_read_file(&st->req, &st->out, buf + n, len))
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;	/* resets the stream */
		n += len;
	}
	qs_req_sent(&st->req, n);
	if (n)
		st->took = true;	/* the client takes bytes: its send timeout restarts */
	if (qs_body_done(&st->out)) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		return (ssize_t)n;
	}
	if (!n) {
		st->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

static void resume(struct h2_stream *st)
{
	if (st->deferred) {
		st->deferred = false;
		nghttp2_session_resume_data(st->h->s, st->id);
	}
	schedule(st->h);
}

static int h2_respond(struct qs_req *req, const struct qs_field *f, size_t n, bool body)
{
	struct h2_stream *st = h2_stream(req);
	nghttp2_nv nva[QS_RESP_FIELDS_MAX + 3];
	nghttp2_data_provider dp = { .source.ptr = st, .read_callback = read_data };
	char status_s[4];
	int ret;

	if (n + 1 > sizeof(nva) / sizeof(nva[0]))
		return -E2BIG;
	status_s[0] = (char)('0' + req->status / 100 % 10);
	status_s[1] = (char)('0' + req->status / 10 % 10);
	status_s[2] = (char)('0' + req->status % 10);
	status_s[3] = '\0';
	nva[0] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status_s, 7, 3,
			       NGHTTP2_NV_FLAG_NONE };
	for (size_t i = 0; i < n; i++)
		nva[i + 1] = (nghttp2_nv){ (uint8_t *)f[i].name, (uint8_t *)f[i].value,
					   f[i].name_len, f[i].value_len, NGHTTP2_NV_FLAG_NONE };
	if (!body)
		st->out.ended = true;
	ret = nghttp2_submit_response(st->h->s, st->id, nva, n + 1, body ? &dp : NULL);
	schedule(st->h);
	return ret ? -EIO : 0;
}

static int h2_send(struct qs_req *req, const uint8_t *data, size_t len)
{
	struct h2_stream *st = h2_stream(req);
	int ret = qs_body_push(req, &st->out, data, len);

	if (!ret)
		resume(st);
	return ret;
}

static int h2_send_file(struct qs_req *req, int fd, uint64_t off, uint64_t len)
{
	struct h2_stream *st = h2_stream(req);
	int ret = qs_body_file(&st->out, fd, off, len);

	if (!ret)
		resume(st);
	return ret;
}

static void h2_end(struct qs_req *req)
{
	struct h2_stream *st = h2_stream(req);

	if (st->out.ended)
		return;
	st->out.ended = true;
	resume(st);
}

static void h2_abort(struct qs_req *req)
{
	struct h2_stream *st = h2_stream(req);

	nghttp2_submit_rst_stream(st->h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
	schedule(st->h);
}

static bool h2_backlog(struct qs_req *req)
{
	return h2_stream(req)->out.bytes >= STREAM_BACKLOG;
}

/* n body bytes are the handler's no more: the client may send as many again. */
static void h2_consume(struct qs_req *req, uint64_t n)
{
	struct h2_stream *st = h2_stream(req);
	nghttp2_session *s = st->h->s;
	uint64_t ahead;

	if (n > st->uncredited)
		n = st->uncredited;
	ahead = n < st->conn_ahead ? n : st->conn_ahead;
	if (ahead)
		nghttp2_session_consume_stream(s, st->id, ahead);
	if (n > ahead)
		nghttp2_session_consume(s, st->id, n - ahead);
	st->conn_ahead -= ahead;
	st->uncredited -= n;
	schedule(st->h);
}

/*
 * The handler keeps n bytes its stream window bounds: the connection's
 * credit comes back now, the stream's only when they are consumed.
 */
static void h2_hold(struct qs_req *req, uint64_t n)
{
	struct h2_stream *st = h2_stream(req);
	uint64_t room = st->uncredited - st->conn_ahead;

	if (n > room)
		n = room;
	if (!n)
		return;
	nghttp2_session_consume_connection(st->h->s, n);
	st->conn_ahead += n;
	schedule(st->h);
}

/*
 * HTTP/2 has no STOP_SENDING: the rest of the body is credited and
 * dropped, and once the response is complete the stream is reset with
 * NO_ERROR (RFC 9113 8.1), which tells the client to stop sending.
 */
static void h2_stop_body(struct qs_req *req)
{
	set_state(h2_stream(req), H2_BODY_DONE);
}

static void h2_addr(const struct qs_req *req, const struct sockaddr **peer,
		    const struct sockaddr **local)
{
	qs_tcp_addr(h2_stream(req)->h->c, peer, local);
}

static const struct qs_proto_ops h2_ops = {
	.respond = h2_respond,
	.send = h2_send,
	.send_file = h2_send_file,
	.end = h2_end,
	.abort = h2_abort,
	.backlog = h2_backlog,
	.consume = h2_consume,
	.hold = h2_hold,
	.stop_body = h2_stop_body,
	.addr = h2_addr,
};

/* ---- the pump: frames to the TCP queue ------------------------------------ */

/*
 * Frame what nghttp2 has while the TCP queue is under QS_TCP_OUT_HIGH
 * (writable() resumes it), then tell the handlers whose queued bytes went
 * out.  Never inside nghttp2's own calls: recv() pumps after them.
 */
static void pump(struct h2_conn *h)
{
	struct qs_tcp_conn *c = h->c;

	if (h->closed || h->flooded)
		return;
	if (h->in_recv || h->pumping) {
		h->again = true;
		return;
	}
	h->pumping = true;
	do {
		struct h2_stream *st, *next;

		h->again = false;
		while (qs_tcp_queued(c) < QS_TCP_OUT_HIGH && !c->dead) {
			const uint8_t *data;
			ssize_t n = nghttp2_session_mem_send(h->s, &data);

			if (n < 0) {
				pr_debug("h2: sending failed: %s", nghttp2_strerror((int)n));
				h->pumping = false;
				goaway_now(h, NGHTTP2_INTERNAL_ERROR, NULL);
				return;
			}
			if (!n)
				break;
			if (qs_tcp_send(c, data, (size_t)n))
				break;
		}
		if (c->dead)
			break;
		for (st = h->streams; st; st = next) {
			next = st->next;
			if (st->took) {
				st->took = false;
				qs_req_proceed(&st->req);
			}
		}
	} while (h->again && !h->closed && !h->flooded && !c->dead);
	h->pumping = false;
	/*
	 * Lingering: the client still sends as it reads the answer's tail
	 * (WINDOW_UPDATE), and bytes that reach a closed socket make the
	 * kernel reset the connection and drop that tail: a drain cut every
	 * download larger than the socket buffers (tests/reloadload.test.sh).
	 */
	if (!c->dead && !h->flooded &&
	    !nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s))
		qs_tcp_close_lingering(c);
}

/* ---- nghttp2 callbacks ----------------------------------------------------- */

static struct h2_stream *stream_of(nghttp2_session *s, int32_t id)
{
	return nghttp2_session_get_stream_user_data(s, id);
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *st;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;	/* trailers: their fields are not kept */
	st = stream_new(h, frame->hd.stream_id);
	if (!st)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	nghttp2_session_set_stream_user_data(s, frame->hd.stream_id, st);
	qs_tcp_set_idle(h->c, false);
	qs_req_headers_begin(&st->req);
	return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
		     size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *st = stream_of(s, frame->hd.stream_id);
	int ret;

	(void)flags;
	if (!st || st->state != H2_RECV_HEADERS || st->reject)
		return 0;	/* trailers, or refused: nothing more is kept */
	/* SETTINGS_MAX_HEADER_LIST_SIZE's accounting (RFC 9113 6.5.2) */
	st->header_bytes += nl + vl + 32;
	if (st->header_bytes > h->c->site->cfg->max_header_bytes) {
		st->reject = 431;
		return 0;
	}
	ret = qs_req_header(&st->req, name, nl, value, vl);
	if (ret > 0) {
		st->reject = ret;
		return 0;
	}
	return ret ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

/* Answer with the layer's error page and take no more of the body. */
static int refuse(struct h2_stream *st, int status)
{
	int ret = qs_respond_error(&st->req, status, NULL, NULL);

	h2_stop_body(&st->req);
	return ret;
}

static void stream_error(struct h2_stream *st)
{
	nghttp2_submit_rst_stream(st->h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
}

static void end_headers(struct h2_conn *h, struct h2_stream *st, bool fin)
{
	int ret = qs_req_headers_end(&st->req);

	st->recv_fin = fin;
	if (!st->reject)
		st->reject = ret;
	if (st->reject) {
		ret = refuse(st, st->reject);
	} else {
		set_state(st, H2_RECV_BODY);
		count(&h->c->site->stats->req_h2, 1);
		ret = qs_req_start(&st->req);
	}
	if (!ret && fin && st->state == H2_RECV_BODY) {
		set_state(st, H2_BODY_DONE);
		ret = qs_req_body(&st->req, NULL, 0, true);
	}
	if (ret)
		stream_error(st);
}

/*
 * PRIORITY frames: we announce no RFC 7540 priorities, so nghttp2 drops
 * them unseen by on_frame_recv; their headers still come through here.
 */
static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *ud)
{
	struct h2_conn *h = ud;

	(void)s;
	if (hd->type == NGHTTP2_PRIORITY && !bucket_take(&h->idle)) {
		goaway_now(h, NGHTTP2_ENHANCE_YOUR_CALM, "PRIORITY flood");
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *st;
	bool fin = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;

	switch (frame->hd.type) {
	case NGHTTP2_RST_STREAM:
		if (!bucket_take(&h->rst)) {
			goaway_now(h, NGHTTP2_ENHANCE_YOUR_CALM, "RST_STREAM flood");
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		}
		return 0;
	case NGHTTP2_PING:
	case NGHTTP2_SETTINGS:
		if (frame->hd.flags & NGHTTP2_FLAG_ACK) {
			/* our drain's PING came back: the client saw the notice */
			if (frame->hd.type == NGHTTP2_PING && h->draining && !h->goaway) {
				h->goaway = true;
				nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE,
						      nghttp2_session_get_last_proc_stream_id(s),
						      NGHTTP2_NO_ERROR, NULL, 0);
			}
			return 0;
		}
		if (!bucket_take(&h->ctrl)) {
			goaway_now(h, NGHTTP2_ENHANCE_YOUR_CALM, frame->hd.type == NGHTTP2_PING ?
				   "PING flood" : "SETTINGS flood");
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		}
		return 0;
	case NGHTTP2_WINDOW_UPDATE:
		if (frame->window_update.window_size_increment < (int32_t)QS_H2_SMALL_WINDOW_UPDATE &&
		    !bucket_take(&h->idle)) {
			goaway_now(h, NGHTTP2_ENHANCE_YOUR_CALM, "WINDOW_UPDATE flood");
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		}
		return 0;
	case NGHTTP2_HEADERS:
		st = stream_of(s, frame->hd.stream_id);
		if (!st)
			return 0;
		if (st->state == H2_RECV_HEADERS) {
			end_headers(h, st, fin);
			return 0;
		}
		break;	/* trailers: only their END_STREAM matters */
	case NGHTTP2_DATA:
		if (!frame->hd.length && !fin && !bucket_take(&h->idle)) {
			goaway_now(h, NGHTTP2_ENHANCE_YOUR_CALM, "empty DATA flood");
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		}
		st = stream_of(s, frame->hd.stream_id);
		if (!st)
			return 0;
		break;
	default:
		return 0;
	}
	if (!fin)
		return 0;
	st->recv_fin = true;
	if (st->state != H2_RECV_BODY)
		return 0;
	set_state(st, H2_BODY_DONE);
	if (qs_req_body(&st->req, NULL, 0, true))
		stream_error(st);
	return 0;
}

static int on_data_chunk_recv(nghttp2_session *s, uint8_t flags, int32_t stream_id,
			      const uint8_t *data, size_t len, void *ud)
{
	struct h2_stream *st = stream_of(s, stream_id);

	(void)flags;
	(void)ud;
	if (st && st->state == H2_RECV_BODY) {
		/* the credit returns as the handler consumes the bytes */
		st->uncredited += len;
		if (qs_req_body(&st->req, data, len, false))
			stream_error(st);
		return 0;
	}
	/* nobody takes it: drop it and give the credit back */
	nghttp2_session_consume(s, stream_id, len);
	return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
	struct h2_stream *st;

	(void)ud;
	if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
	    (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS))
		return 0;
	st = stream_of(s, frame->hd.stream_id);
	/* answered before the body was all in: the client may stop sending it */
	if (st && !st->recv_fin)
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code,
			   void *ud)
{
	struct h2_conn *h = ud;
	struct h2_stream *st = stream_of(s, stream_id);

	(void)error_code;
	if (!st)
		return 0;
	nghttp2_session_set_stream_user_data(s, stream_id, NULL);
	stream_free(st);
	if (!h->n_streams)
		qs_tcp_set_idle(h->c, true);
	return 0;
}

static nghttp2_session_callbacks *h2_callbacks(void)
{
	static nghttp2_session_callbacks *cb;

	if (cb || nghttp2_session_callbacks_new(&cb))
		return cb;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	return cb;
}

static nghttp2_option *h2_options(void)
{
	static nghttp2_option *opt;

	if (opt || nghttp2_option_new(&opt))
		return opt;
	/* the body's credit returns as handlers consume it (qs_req_consume) */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_settings(opt, 32);
	/* acknowledgements the client does not read: a PING or SETTINGS flood */
	nghttp2_option_set_max_outbound_ack(opt, QS_H2_FLOOD_BURST);
	nghttp2_option_set_max_continuations(opt, QS_H2_MAX_CONTINUATIONS);
	/* nghttp2's own reset limit stays behind ours, so that ours counts it */
	nghttp2_option_set_stream_reset_rate_limit(opt, 2 * QS_H2_FLOOD_BURST,
						   2 * QS_H2_FLOOD_RATE);
	nghttp2_option_set_no_closed_streams(opt, 1);
	return opt;
}

/* ---- the transport's application ------------------------------------------ */

static int h2_open(struct qs_tcp_conn *c)
{
	const struct qs_config *cfg = c->site->cfg;
	struct h2_conn *h;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->max_streams },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, QS_TP_STREAM_WINDOW },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg->max_header_bytes },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1 },
	};
	nghttp2_session_callbacks *cb = h2_callbacks();
	nghttp2_option *opt = h2_options();

	if (!cb || !opt)
		return -ENOMEM;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->c = c;
	h->rst.tokens = h->ctrl.tokens = h->idle.tokens = QS_H2_FLOOD_BURST;
	h->rst.at = h->ctrl.at = h->idle.at = mono_ns();
	if (nghttp2_session_server_new2(&h->s, cb, h, opt)) {
		free(h);
		return -ENOMEM;
	}
	/* the connection window as QUIC's initial_max_data */
	if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) ||
	    nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0,
						  QS_TP_CONN_WINDOW)) {
		nghttp2_session_del(h->s);
		free(h);
		return -ENOMEM;
	}
	c->app_data = h;
	pump(h);
	return 0;
}

static bool flood_error(int err)
{
	return err == NGHTTP2_ERR_FLOODED || err == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS ||
	       err == NGHTTP2_ERR_TOO_MANY_SETTINGS;
}

static ssize_t h2_recv(struct qs_tcp_conn *c, const uint8_t *data, size_t len)
{
	struct h2_conn *h = c->app_data;
	ssize_t n;

	if (h->flooded)
		return (ssize_t)len;
	/* the client does not read what we answer: read no more of it either */
	if (qs_tcp_queued(c) >= QS_TCP_OUT_HIGH)
		return 0;
	h->in_recv = true;
	n = nghttp2_session_mem_recv(h->s, data, len);
	h->in_recv = false;
	if (n < 0) {
		if (flood_error((int)n))
			goaway_now(h, NGHTTP2_ENHANCE_YOUR_CALM, nghttp2_strerror((int)n));
		else if (!h->flooded)
			goaway_now(h, n == NGHTTP2_ERR_BAD_CLIENT_MAGIC ? NGHTTP2_PROTOCOL_ERROR :
				   NGHTTP2_INTERNAL_ERROR, NULL);
		return (ssize_t)len;
	}
	pump(h);
	return (ssize_t)len;
}

static void h2_writable(struct qs_tcp_conn *c)
{
	struct h2_conn *h = c->app_data;

	pump(h);
	qs_tcp_resume_read(c);
}

/*
 * The worker drains: a shutdown notice (GOAWAY with the largest stream id)
 * and a PING; its ack means the client has seen the notice, and the final
 * GOAWAY names the last stream taken (an idle connection gets it at
 * once).  The streams finish; then nghttp2 wants neither to read nor to
 * write, and the pump closes.
 */
static void h2_drain(struct qs_tcp_conn *c)
{
	struct h2_conn *h = c->app_data;

	if (h->draining)
		return;
	h->draining = true;
	if (!h->n_streams) {
		/* idle: a request on its way is retried elsewhere (GOAWAY says unseen) */
		h->goaway = true;
		nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE,
				      nghttp2_session_get_last_proc_stream_id(h->s),
				      NGHTTP2_NO_ERROR, NULL, 0);
	} else {
		nghttp2_submit_shutdown_notice(h->s);
		nghttp2_submit_ping(h->s, NGHTTP2_FLAG_NONE, NULL);
	}
	pump(h);
}

static void h2_close(struct qs_tcp_conn *c)
{
	struct h2_conn *h = c->app_data;

	if (!h)
		return;
	h->closed = true;
	while (h->streams)
		stream_free(h->streams);
	nghttp2_session_del(h->s);
	free(h);
	c->app_data = NULL;
}

const struct qs_tcp_app qs_h2_app = {
	.alpn = "h2",
	.open = h2_open,
	.recv = h2_recv,
	.writable = h2_writable,
	.drain = h2_drain,
	.close = h2_close,
};
