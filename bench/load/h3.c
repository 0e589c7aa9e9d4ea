// SPDX-License-Identifier: MIT
/* quicsteer-load: HTTP/3 on one connection: requests out, responses counted. */
#include <inttypes.h>
#include <string.h>

#include "conn.h"
#include "worker/mem.h"

static struct load_req *req_get(struct load_conn *c)
{
	struct load_req *r = c->free_reqs;

	if (!r)
		return NULL;
	c->free_reqs = r->next_free;
	memset(r, 0, sizeof(*r));
	r->in_use = true;
	c->inflight++;
	c->run->inflight++;
	return r;
}

void conn_req_put(struct load_conn *c, struct load_req *r)
{
	r->in_use = false;
	r->next_free = c->free_reqs;
	c->free_reqs = r;
	c->inflight--;
	c->run->inflight--;
}

/* The end of a response: count it, then forget the stream (its slot is reused). */
static void req_done(struct load_conn *c, struct load_req *r)
{
	struct load_run *run = c->run;
	struct load_stats *st = &run->st;
	uint64_t now = load_now();
	int cls = r->status / 100;

	c->last_progress = now;
	if (run->cfg.expect_size >= 0 && r->body != (uint64_t)run->cfg.expect_size) {
		st->failed++;
		st->failed_size++;
		load_err(run, "connection %u: stream %" PRId64 ": status %d, body of %" PRIu64
			 " bytes, expected %" PRId64, c->id, r->stream_id, r->status, r->body,
			 run->cfg.expect_size);
	} else {
		st->completed++;
		st->status[cls >= 1 && cls <= 5 ? cls : 0]++;
		if (load_stats_add(&st->lat, &st->nlat, &st->caplat, now - r->t_start) != 0)
			load_err(run, "out of memory for latencies");
		if ((cls < 2 || cls > 3) && !run->cfg.any_status)
			load_err(run, "connection %u: stream %" PRId64 ": status %d", c->id,
				 r->stream_id, r->status);
	}
	nghttp3_conn_set_stream_user_data(c->h3, r->stream_id, NULL);
	conn_req_put(c, r);
	if (++c->answered == run->cfg.migrate_after)
		conn_migrate(c);
}

static int h3_recv_header(nghttp3_conn *h3, int64_t stream_id, int32_t token,
			  nghttp3_rcbuf *name, nghttp3_rcbuf *value, uint8_t flags,
			  void *user_data, void *stream_user_data)
{
	struct load_conn *c = user_data;
	struct load_req *r = stream_user_data;
	nghttp3_vec v;
	int status = 0;

	(void)h3; (void)stream_id; (void)name; (void)flags;
	if (!r || token != NGHTTP3_QPACK_TOKEN__STATUS)
		return 0;
	v = nghttp3_rcbuf_get_buf(value);
	for (size_t i = 0; i < v.len && i < 3; i++)
		status = status * 10 + (v.base[i] >= '0' && v.base[i] <= '9' ? v.base[i] - '0' : 0);
	if (status >= 200) /* 1xx are interim: the final status follows */
		r->status = status;
	c->last_progress = load_now();
	if (!c->ttfb) {
		struct load_stats *st = &c->run->st;
		int rv;

		c->ttfb = c->last_progress - c->t_start;
		if (c->resumed)
			rv = load_stats_add(&st->ttfb_resumed, &st->nttfb_resumed,
					    &st->capttfb_resumed, c->ttfb);
		else
			rv = load_stats_add(&st->ttfb_full, &st->nttfb_full, &st->capttfb_full,
					    c->ttfb);
		if (rv != 0)
			load_err(c->run, "out of memory for first-byte times");
	}
	return 0;
}

static int h3_recv_data(nghttp3_conn *h3, int64_t stream_id, const uint8_t *data,
			size_t datalen, void *user_data, void *stream_user_data)
{
	struct load_conn *c = user_data;
	struct load_req *r = stream_user_data;

	(void)h3; (void)data;
	c->run->st.body_bytes += datalen;
	if (r)
		r->body += datalen;
	c->last_progress = load_now();
	/* --stop-reading-after: a client that stops taking the response */
	if (c->run->cfg.stop_reading_after && r && r->body >= c->run->cfg.stop_reading_after)
		return 0;
	/* Bodies are discarded at once: hand the credit back to the server right away. */
	conn_consumed(c, stream_id, datalen);
	return 0;
}

static int h3_deferred_consume(nghttp3_conn *h3, int64_t stream_id, size_t consumed,
			       void *user_data, void *stream_user_data)
{
	(void)h3; (void)stream_user_data;
	conn_consumed(user_data, stream_id, consumed);
	return 0;
}

static int h3_end_stream(nghttp3_conn *h3, int64_t stream_id, void *user_data,
			 void *stream_user_data)
{
	(void)h3; (void)stream_id;
	if (stream_user_data)
		req_done(user_data, stream_user_data);
	return 0;
}

static int h3_stream_close(nghttp3_conn *h3, int64_t stream_id, uint64_t app_error_code,
			   void *user_data, void *stream_user_data)
{
	struct load_conn *c = user_data;
	struct load_req *r = stream_user_data;

	(void)h3;
	if (!ngtcp2_is_bidi_stream(stream_id)) {
		ngtcp2_conn_extend_max_streams_uni(c->qc, 1);
		return 0;
	}
	if (!r)
		return 0; /* response already counted */
	c->run->st.failed++;
	c->run->st.failed_reset++;
	load_err(c->run, "connection %u: stream %" PRId64 " closed before the end of the response"
		 " (%" PRIu64 " body bytes received): 0x%" PRIx64 " %s", c->id, stream_id, r->body,
		 app_error_code, h3_err_name(app_error_code));
	conn_req_put(c, r);
	return 0;
}

static int h3_stop_sending(nghttp3_conn *h3, int64_t stream_id, uint64_t app_error_code,
			   void *user_data, void *stream_user_data)
{
	struct load_conn *c = user_data;

	(void)h3; (void)stream_user_data;
	if (ngtcp2_conn_shutdown_stream_read(c->qc, 0, stream_id, app_error_code) != 0)
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	return 0;
}

static int h3_reset_stream(nghttp3_conn *h3, int64_t stream_id, uint64_t app_error_code,
			   void *user_data, void *stream_user_data)
{
	struct load_conn *c = user_data;

	(void)h3; (void)stream_user_data;
	if (ngtcp2_conn_shutdown_stream_write(c->qc, 0, stream_id, app_error_code) != 0)
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	return 0;
}

static int h3_shutdown(nghttp3_conn *h3, int64_t id, void *user_data)
{
	struct load_conn *c = user_data;

	(void)h3; (void)id;
	if (!c->goaway) {
		c->goaway = true;
		c->run->st.conns_goaway++;
		if (!c->run->stopping)
			load_err(c->run, "connection %u: server sent GOAWAY: no new requests on it",
				 c->id);
	}
	return 0;
}

int conn_setup_h3(struct load_conn *c)
{
	nghttp3_callbacks cb = {
		.stream_close = h3_stream_close,
		.recv_data = h3_recv_data,
		.deferred_consume = h3_deferred_consume,
		.recv_header = h3_recv_header,
		.stop_sending = h3_stop_sending,
		.end_stream = h3_end_stream,
		.reset_stream = h3_reset_stream,
		.shutdown = h3_shutdown,
	};
	nghttp3_settings settings;
	int64_t ctrl, qenc, qdec;
	int rv;

	if (c->h3)
		return 0;
	if (ngtcp2_conn_get_streams_uni_left2(c->qc) < 3) {
		conn_set_why(c, "the server allows fewer than 3 unidirectional streams (HTTP/3 needs 3)");
		return -1;
	}
	nghttp3_settings_default(&settings);
	settings.qpack_max_dtable_capacity = 4096;
	settings.qpack_blocked_streams = 100;
	rv = nghttp3_conn_client_new(&c->h3, &cb, &settings, &qs_nghttp3_mem, c);
	if (rv != 0) {
		conn_set_why(c, "nghttp3_conn_client_new: %s", nghttp3_strerror(rv));
		return -1;
	}
	if ((rv = ngtcp2_conn_open_uni_stream(c->qc, &ctrl, NULL)) != 0 ||
	    (rv = ngtcp2_conn_open_uni_stream(c->qc, &qenc, NULL)) != 0 ||
	    (rv = ngtcp2_conn_open_uni_stream(c->qc, &qdec, NULL)) != 0) {
		conn_set_why(c, "ngtcp2_conn_open_uni_stream: %s", ngtcp2_strerror(rv));
		return -1;
	}
	if ((rv = nghttp3_conn_bind_control_stream(c->h3, ctrl)) != 0 ||
	    (rv = nghttp3_conn_bind_qpack_streams(c->h3, qenc, qdec)) != 0) {
		conn_set_why(c, "nghttp3 stream binding: %s", nghttp3_strerror(rv));
		return -1;
	}
	return 0;
}

/* --data: the whole body at once; it lives as long as the run */
static nghttp3_ssize read_body(nghttp3_conn *h3, int64_t stream_id, nghttp3_vec *vec,
			       size_t veccnt, uint32_t *pflags, void *conn_ud, void *stream_ud)
{
	struct load_conn *c = conn_ud;
	const struct load_cfg *cfg = &c->run->cfg;
	struct load_req *r = stream_ud;

	(void)h3;
	(void)stream_id;
	(void)veccnt;
	vec[0].base = cfg->body;
	vec[0].len = cfg->body_len;
	if (cfg->stall_after && cfg->stall_after < cfg->body_len) {
		/* a stalled upload: its first part, then never the rest */
		if (r->body_given)
			return NGHTTP3_ERR_WOULDBLOCK;
		r->body_given = true;
		vec[0].len = cfg->stall_after;
		return 1;
	}
	*pflags |= NGHTTP3_DATA_FLAG_EOF;
	return 1;
}

/* Open streams for new requests while this connection has room for them. */
void conn_fill(struct load_conn *c)
{
	struct load_run *run = c->run;
	const struct load_cfg *cfg = &run->cfg;

	while (c->h3 && !c->goaway && !run->stopping && c->free_reqs &&
	       (!cfg->requests || run->st.started < cfg->requests) &&
	       (!(cfg->reconnect || cfg->ramp) || c->submitted < cfg->concurrency)) {
		const char *path = cfg->paths[run->next_path % cfg->nurls];
		const uint8_t nc = NGHTTP3_NV_FLAG_NO_COPY_NAME | NGHTTP3_NV_FLAG_NO_COPY_VALUE;
#define NV(n, v) { (const uint8_t *)(n), (const uint8_t *)(v), sizeof(n) - 1, strlen(v), nc }
		nghttp3_nv nva[6 + 16] = {
			NV(":method", cfg->method ? cfg->method : "GET"),
			NV(":scheme", "https"),
			NV(":authority", cfg->authority),
			NV(":path", path),
			NV("user-agent", "quicsteer-load"),
		};
		size_t nnv = 5;

		if (cfg->body && !cfg->no_content_length)
			nva[nnv++] = (nghttp3_nv)NV("content-length", cfg->body_len_s);
#undef NV
		for (unsigned h = 0; h < cfg->nhdrs; h++)
			nva[nnv++] = (nghttp3_nv){ (const uint8_t *)cfg->hdr_name[h],
						   (const uint8_t *)cfg->hdr_value[h],
						   strlen(cfg->hdr_name[h]),
						   strlen(cfg->hdr_value[h]), nc };
		struct load_req *r;
		int64_t sid;
		int rv;

		rv = ngtcp2_conn_open_bidi_stream(c->qc, &sid, NULL);
		if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED)
			return; /* at the server's MAX_STREAMS: retried after the next packet */
		if (rv != 0) {
			conn_set_why(c, "ngtcp2_conn_open_bidi_stream: %s", ngtcp2_strerror(rv));
			return;
		}
		r = req_get(c);
		r->stream_id = sid;
		r->t_start = load_now();
		static const nghttp3_data_reader body_reader = { .read_data = read_body };

		rv = nghttp3_conn_submit_request(c->h3, sid, nva, nnv,
						 cfg->body ? &body_reader : NULL, r);
		if (rv != 0) {
			conn_req_put(c, r);
			ngtcp2_conn_shutdown_stream(c->qc, 0, sid, NGHTTP3_H3_REQUEST_CANCELLED);
			if (rv != NGHTTP3_ERR_CONN_CLOSING)
				load_err(run, "connection %u: nghttp3_conn_submit_request: %s", c->id,
					 nghttp3_strerror(rv));
			c->goaway = true;
			return;
		}
		run->next_path++;
		run->st.started++;
		c->submitted++;
		c->last_progress = r->t_start;
	}
}
