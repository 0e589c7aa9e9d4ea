// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ngtcp2/ngtcp2_crypto_ossl.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "worker/counters.h"
#include "common/config.h"
#include "quicsteer/steer.h"
#include "worker/mem.h"
#include "worker/quic/quic.h"
#include "worker/quic/quic-int.h"
#include "worker/quic/tickets.h"
#include "worker/site.h"

#define MAX_WINDOW      (6u << 20)
/*
 * A stream's receive window only ever carries a request body, which the
 * worker holds until its handler consumes it: 2 MB bounds that per stream and
 * still fills a 40 ms path at 50 MB/s (nginx gives 64 KB).
 */
#define MAX_STREAM_WINDOW (2u << 20)

ngtcp2_tstamp qs_now(void)
{
	return qs_clock_ns();	/* the handlers' deadlines share the clock */
}

/* Tokens carry wall-clock time: every worker (and host) must agree on it. */
ngtcp2_tstamp qs_wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (ngtcp2_tstamp)ts.tv_sec * NGTCP2_SECONDS + (ngtcp2_tstamp)ts.tv_nsec;
}

void qs_fill_random(void *p, size_t n)
{
	if (RAND_bytes(p, (int)n) != 1) {
		/* no safe way to go on minting CIDs and tokens */
		pr_warn("RAND_bytes failed: the worker exits");
		abort();
	}
}

/* ---- timer heap -------------------------------------------------------- */

static void heap_swap(struct qs_server *s, size_t a, size_t b)
{
	struct qs_conn *t = s->heap[a];

	s->heap[a] = s->heap[b];
	s->heap[b] = t;
	s->heap[a]->heap_idx = a;
	s->heap[b]->heap_idx = b;
}

static void heap_up(struct qs_server *s, size_t i)
{
	while (i > 0 && s->heap[(i - 1) / 2]->expiry > s->heap[i]->expiry) {
		heap_swap(s, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct qs_server *s, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < s->heap_len && s->heap[l]->expiry < s->heap[m]->expiry)
			m = l;
		if (r < s->heap_len && s->heap[r]->expiry < s->heap[m]->expiry)
			m = r;
		if (m == i)
			return;
		heap_swap(s, i, m);
		i = m;
	}
}

static int heap_push(struct qs_server *s, struct qs_conn *c)
{
	if (s->heap_len == s->heap_cap) {
		size_t cap = s->heap_cap ? s->heap_cap * 2 : 64;
		struct qs_conn **h = realloc(s->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		s->heap = h;
		s->heap_cap = cap;
	}
	c->heap_idx = s->heap_len;
	s->heap[s->heap_len++] = c;
	heap_up(s, c->heap_idx);
	return 0;
}

static void heap_remove(struct qs_server *s, struct qs_conn *c)
{
	size_t i = c->heap_idx;

	if (i >= s->heap_len || s->heap[i] != c)
		return;
	s->heap_len--;
	if (i != s->heap_len) {
		s->heap[i] = s->heap[s->heap_len];
		s->heap[i]->heap_idx = i;
		heap_down(s, i);
		heap_up(s, i);
	}
	c->heap_idx = (size_t)-1;
}

static void update_expiry(struct qs_conn *c)
{
	struct qs_server *s = c->srv;
	ngtcp2_tstamp e = c->state == QS_CONN_LIVE ? ngtcp2_conn_get_expiry(c->qc) : c->deadline;

	c->expiry = e;
	heap_down(s, c->heap_idx);
	heap_up(s, c->heap_idx);
}

ngtcp2_tstamp qs_server_next_deadline(const struct qs_server *s)
{
	ngtcp2_tstamp next = s->heap_len ? s->heap[0]->expiry : UINT64_MAX;

	if (s->draining && s->drain_deadline < next)
		next = s->drain_deadline;
	return next;
}

/* ---- sending ------------------------------------------------------------- */

/* Keep a written batch the socket refused, after those kept before. */
static void hold_tx(struct qs_conn *c, const ngtcp2_path *path, uint8_t ecn, const uint8_t *data,
		    size_t len, size_t gso)
{
	struct qs_held_tx *h = malloc(sizeof(*h) + len), **tail = &c->blocked;

	if (!h)
		return;	/* lost: ngtcp2 sends it again when it finds it lost */
	h->next = NULL;
	h->ep = path->user_data;
	memcpy(&h->local.ss, path->local.addr, path->local.addrlen);
	h->local.len = path->local.addrlen;
	memcpy(&h->remote.ss, path->remote.addr, path->remote.addrlen);
	h->remote.len = path->remote.addrlen;
	h->len = len;
	h->gso = gso;
	h->ecn = ecn;
	memcpy(h->data, data, len);
	if (!c->blocked)
		c->srv->n_blocked++;
	while (*tail)
		tail = &(*tail)->next;
	*tail = h;
}

static int send_batch(struct qs_conn *c, const ngtcp2_path *path, uint8_t ecn,
		      const uint8_t *data, size_t len, size_t gso)
{
	struct qs_endpoint *ep = path->user_data;
	int ret;

	ret = qs_net_send(ep, path->local.addr, path->local.addrlen, path->remote.addr,
			  path->remote.addrlen, ecn, data, len, gso);
	if (ret == -EAGAIN && c && !c->blocked) {
		/* keep it: the socket buffer is full, send when writable */
		hold_tx(c, path, ecn, data, len, gso);
		return -EAGAIN;
	}
	if (ret == 0) {
		struct qs_server *s = c ? c->srv : NULL;

		if (s) {
			count(&s->stats->tx_datagrams, gso ? (len + gso - 1) / gso : 1);
			count(&s->stats->tx_bytes, len);
		}
	}
	return ret;
}

/* Send what the socket refused before; 0 when nothing is left blocked. */
static int send_blocked(struct qs_conn *c)
{
	if (!c->blocked)
		return 0;
	while (c->blocked) {
		struct qs_held_tx *h = c->blocked;

		if (qs_net_send(h->ep, (struct sockaddr *)&h->local.ss, h->local.len,
				(struct sockaddr *)&h->remote.ss, h->remote.len, h->ecn, h->data,
				h->len, h->gso) == -EAGAIN)
			return -EAGAIN;
		c->blocked = h->next;
		free(h);
	}
	c->srv->n_blocked--;
	return 0;
}

/* Stateless packets (VN, reset, Retry): no connection, best effort. */
void qs_send_stateless(struct qs_server *s, struct qs_endpoint *ep, const struct qs_rx *rx,
			   const uint8_t *data, size_t len)
{
	if (qs_net_send(ep, (const struct sockaddr *)&rx->local.ss, rx->local.len,
			(const struct sockaddr *)&rx->remote.ss, rx->remote.len, 0,
			data, len, len) == 0) {
		count(&s->stats->tx_datagrams, 1);
		count(&s->stats->tx_bytes, len);
	}
}

/* ---- connection lifetime -------------------------------------------------- */

/* What ngtcp2's loss recovery saw, when the connection goes (--log-level debug). */
static void log_conn_info(struct qs_conn *c)
{
	ngtcp2_conn_info ci;
	char a[64];

	ngtcp2_conn_get_conn_info(c->qc, &ci);
	pr_debug("connection from %s closed: %" PRIu64 " packets sent (%" PRIu64 " bytes), %"
		 PRIu64 " lost (%" PRIu64 " bytes), %" PRIu64 " received; srtt %" PRIu64
		 " us, cwnd %" PRIu64,
		 qs_addr_str(ngtcp2_conn_get_path(c->qc)->remote.addr, a, sizeof(a)),
		 ci.pkt_sent, ci.bytes_sent, ci.pkt_lost, ci.bytes_lost, ci.pkt_recv,
		 (uint64_t)(ci.smoothed_rtt / NGTCP2_MICROSECONDS), ci.cwnd);
}

void qs_conn_free(struct qs_conn *c)
{
	struct qs_server *s = c->srv;
	ngtcp2_cid cids[16];
	size_t n;

	if (c->qc) {
		const ngtcp2_cid *odcid = ngtcp2_conn_get_client_initial_dcid(c->qc);

		if (qs_log_get_level() >= QS_LOG_DEBUG)
			log_conn_info(c);

		qs_cidmap_del(&s->map, odcid->data, odcid->datalen);
		n = ngtcp2_conn_get_scid(c->qc, NULL);
		if (n > sizeof(cids) / sizeof(cids[0]))
			n = sizeof(cids) / sizeof(cids[0]);
		ngtcp2_conn_get_scid(c->qc, cids);
		for (size_t i = 0; i < n; i++)
			qs_cidmap_del(&s->map, cids[i].data, cids[i].datalen);
	}
	heap_remove(s, c);
	qs_conn_validated(c);	/* off the half-open list */
	/* streams going away may schedule a write of c: unlink it after them */
	c->srv->app->conn_free(c);
	if (c->in_write_list) {
		struct qs_conn **pp = &s->write_list;

		while (*pp && *pp != c)
			pp = &(*pp)->next_write;
		if (*pp)
			*pp = c->next_write;
	}
	if (c->ssl) {
		SSL_set_app_data(c->ssl, NULL);
		SSL_free(c->ssl);
	}
	if (c->ossl_ctx)
		ngtcp2_crypto_ossl_ctx_del(c->ossl_ctx);
	if (c->qc)
		ngtcp2_conn_del(c->qc);
	if (c->qlog_fd >= 0)
		close(c->qlog_fd);
	if (c->blocked) {
		while (c->blocked) {
			struct qs_held_tx *h = c->blocked;

			c->blocked = h->next;
			free(h);
		}
		s->n_blocked--;
	}
	free(c->closebuf);
	free(c);
	s->n_conns--;
	count(&s->stats->conn_closed, 1);
	count_set(&s->stats->conn_active, s->n_conns);
}

/* Enter the closing period with a CONNECTION_CLOSE, or free at once (true). */
bool qs_conn_close(struct qs_conn *c)
{
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;
	ngtcp2_ssize n;
	ngtcp2_tstamp now = qs_now();

	if (c->state != QS_CONN_LIVE)
		return false;
	if (c->last_error.type == NGTCP2_CCERR_TYPE_IDLE_CLOSE) {
		qs_conn_free(c);
		return true;
	}
	if (ngtcp2_conn_in_draining_period(c->qc)) {
		c->state = QS_CONN_DRAINING;
		c->deadline = now + 3 * ngtcp2_conn_get_pto(c->qc);
		update_expiry(c);
		return false;
	}
	c->closebuf = malloc(NGTCP2_MAX_UDP_PAYLOAD_SIZE);
	if (!c->closebuf) {
		qs_conn_free(c);
		return true;
	}
	ngtcp2_path_storage_zero(&ps);
	n = ngtcp2_conn_write_connection_close(c->qc, &ps.path, &pi, c->closebuf,
					       NGTCP2_MAX_UDP_PAYLOAD_SIZE, &c->last_error, now);
	if (n <= 0) {
		qs_conn_free(c);
		return true;
	}
	c->closelen = (size_t)n;
	c->state = QS_CONN_CLOSING;
	c->close_next = 1;
	c->deadline = now + 3 * ngtcp2_conn_get_pto(c->qc);
	send_batch(c, &ps.path, 0, c->closebuf, c->closelen, c->closelen);
	update_expiry(c);
	return false;
}

/* ---- writing --------------------------------------------------------------- */

/*
 * Write and send at most one send quantum, then tell ngtcp2 when the next
 * may go (ngtcp2_conn_update_pkt_tx_time) and return: ngtcp2 paces only
 * through that call, and its expiry (the connection's timer) includes the
 * pacing time, so the rest goes out as the pacer allows, not as one burst
 * up to the congestion window.  With --pacing off (for measurement only)
 * it writes until ngtcp2 has nothing more or the window is full, and the
 * pacing time is set once after that burst, as before.  0, or -1 when the
 * connection closed (-2: and was freed).
 */
static int conn_write(struct qs_conn *c)
{
	struct qs_server *s = c->srv;
	ngtcp2_path_storage ps, prev;
	ngtcp2_pkt_info pi;
	ngtcp2_tstamp ts = qs_now();
	size_t max_udp = ngtcp2_conn_get_max_tx_udp_payload_size(c->qc);
	size_t path_max = ngtcp2_conn_get_path_max_tx_udp_payload_size(c->qc);
	size_t quantum = ngtcp2_conn_get_send_quantum(c->qc), cap = sizeof(s->txbuf);
	size_t pos = 0, gso = 0, sent = 0;      /* sent: of this quantum, in earlier batches */
	uint8_t prev_ecn = 0;
	uint8_t *buf = s->txbuf;
	ngtcp2_ssize nwrite = 0;

	if (c->state != QS_CONN_LIVE)
		return 0;
	if (send_blocked(c) == -EAGAIN)
		return 0;
	if (quantum < path_max)
		quantum = path_max;
	if (!s->cfg->pacing)
		quantum = SIZE_MAX;	/* the unpaced loop, kept to measure against */
	ngtcp2_path_storage_zero(&ps);
	ngtcp2_path_storage_zero(&prev);

	for (;;) {
		nghttp3_vec vec[16];
		nghttp3_ssize nvec = 0;
		int64_t stream_id = -1;
		int fin = 0;
		ngtcp2_ssize ndatalen = -1;
		/* PADDING: equal-sized packets make long GSO batches (one
		 * sendmsg for many) instead of a batch ending at every short one */
		uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE | NGTCP2_WRITE_STREAM_FLAG_PADDING;
		size_t room = cap - pos;
		bool full = sent + pos + path_max > quantum;   /* the quantum is written */

		if (c->h3 && ngtcp2_conn_get_max_data_left(c->qc)) {
			nvec = nghttp3_conn_writev_stream(c->h3, &stream_id, &fin, vec, 16);
			if (nvec < 0) {
				ngtcp2_ccerr_set_application_error(
					&c->last_error, nghttp3_err_infer_quic_app_error_code((int)nvec),
					NULL, 0);
				return qs_conn_close(c) ? -2 : -1;
			}
		}
		if (fin)
			flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
		if (room > max_udp)
			room = max_udp;
		if (full || (room < path_max && pos)) {
			nwrite = full ? 0 : 1;	/* a full buffer: send, then go on */
			goto flush;
		}
		nwrite = ngtcp2_conn_writev_stream(c->qc, &ps.path, &pi, buf + pos, room,
						   &ndatalen, flags, stream_id,
						   (const ngtcp2_vec *)vec, (size_t)nvec, ts);
		if (nwrite < 0) {
			switch (nwrite) {
			case NGTCP2_ERR_STREAM_DATA_BLOCKED:
				nghttp3_conn_block_stream(c->h3, stream_id);
				continue;
			case NGTCP2_ERR_STREAM_SHUT_WR:
				nghttp3_conn_shutdown_stream_write(c->h3, stream_id);
				continue;
			case NGTCP2_ERR_WRITE_MORE:
				if (nghttp3_conn_add_write_offset(c->h3, stream_id, (size_t)ndatalen)) {
					ngtcp2_ccerr_set_application_error(&c->last_error,
						NGHTTP3_H3_INTERNAL_ERROR, NULL, 0);
					return qs_conn_close(c) ? -2 : -1;
				}
				continue;
			}
			ngtcp2_ccerr_set_liberr(&c->last_error, (int)nwrite, NULL, 0);
			return qs_conn_close(c) ? -2 : -1;
		}
		if (ndatalen >= 0 && c->h3 &&
		    nghttp3_conn_add_write_offset(c->h3, stream_id, (size_t)ndatalen)) {
			ngtcp2_ccerr_set_application_error(&c->last_error,
							   NGHTTP3_H3_INTERNAL_ERROR, NULL, 0);
			return qs_conn_close(c) ? -2 : -1;
		}
		if (nwrite == 0)
			goto flush;

		if (pos == 0) {
			ngtcp2_path_copy(&prev.path, &ps.path);
			prev_ecn = pi.ecn;
			gso = (size_t)nwrite;
			pos = (size_t)nwrite;
		} else if (!ngtcp2_path_eq(&prev.path, &ps.path) || prev_ecn != pi.ecn ||
			   (size_t)nwrite > gso) {
			/* cannot join the batch: send the batch, start a new one */
			if (send_batch(c, &prev.path, prev_ecn, buf, pos, gso) == -EAGAIN) {
				/* the new path's packet is written: keep it for later too */
				hold_tx(c, &ps.path, pi.ecn, buf + pos, (size_t)nwrite,
					(size_t)nwrite);
				goto out;
			}
			sent += pos;
			memmove(buf, buf + pos, (size_t)nwrite);
			ngtcp2_path_copy(&prev.path, &ps.path);
			prev_ecn = pi.ecn;
			gso = (size_t)nwrite;
			pos = (size_t)nwrite;
		} else {
			pos += (size_t)nwrite;
			if ((size_t)nwrite < gso)
				goto flush;	/* a short one ends a GSO batch */
		}
		if (cap - pos < path_max || sent + pos + path_max > quantum)
			goto flush;
		continue;
flush:
		if (pos) {
			if (send_batch(c, &prev.path, prev_ecn, buf, pos, gso) == -EAGAIN)
				goto out;
			sent += pos;
			pos = 0;
			if (nwrite != 0 && sent + path_max <= quantum)
				continue;	/* there may be more to write */
		}
		break;
	}
out:
	ngtcp2_conn_update_pkt_tx_time(c->qc, ts);
	update_expiry(c);
	return 0;
}

void qs_conn_schedule_write(struct qs_conn *c)
{
	if (c->in_write_list)
		return;
	c->in_write_list = true;
	c->next_write = c->srv->write_list;
	c->srv->write_list = c;
}

void qs_server_flush(struct qs_server *s)
{
	while (s->write_list) {
		struct qs_conn *c = s->write_list;

		s->write_list = c->next_write;
		c->in_write_list = false;
		conn_write(c);
	}
}

/* ---- ngtcp2 callbacks ------------------------------------------------------ */

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
	return ((struct qs_conn *)ref->user_data)->qc;
}

static void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
	(void)ctx;
	qs_fill_random(dest, len);
}

/* Mint a CID of ours: it routes back to this (generation, worker). */
int qs_mint_cid(struct qs_server *s, ngtcp2_cid *cid)
{
	const struct qs_shared *sh = &s->secrets;
	uint8_t rnd[QS_CID_PRF_LEN];

	qs_fill_random(rnd, sizeof(rnd));
	cid->datalen = QS_CID_LEN;
	return qs_cid_encode(cid->data, &sh->cid_keys[sh->cur_config], sh->cur_config,
			     sh->server_id, sh->server_id_len, s->gen, s->id, rnd);
}

static int get_new_cid(ngtcp2_conn *qc, ngtcp2_cid *cid, ngtcp2_stateless_reset_token *token,
		       size_t cidlen, void *user_data)
{
	struct qs_conn *c = user_data;
	struct qs_server *s = c->srv;

	(void)qc;
	(void)cidlen;
	do {
		if (qs_mint_cid(s, cid))
			return NGTCP2_ERR_CALLBACK_FAILURE;
	} while (qs_cidmap_get(&s->map, cid->data, cid->datalen));
	if (ngtcp2_crypto_generate_stateless_reset_token(token->data, s->secrets.static_secret,
							 sizeof(s->secrets.static_secret), cid))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (qs_cidmap_add(&s->map, cid->data, cid->datalen, c))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int remove_cid(ngtcp2_conn *qc, const ngtcp2_cid *cid, void *user_data)
{
	struct qs_conn *c = user_data;

	(void)qc;
	qs_cidmap_del(&c->srv->map, cid->data, cid->datalen);
	return 0;
}

static void submit_new_token(struct qs_conn *c, const ngtcp2_path *path)
{
	struct qs_server *s = c->srv;
	uint8_t token[NGTCP2_CRYPTO_MAX_REGULAR_TOKENLEN];
	ngtcp2_ssize n;

	n = ngtcp2_crypto_generate_regular_token(token, s->secrets.static_secret,
						 sizeof(s->secrets.static_secret),
						 path->remote.addr, path->remote.addrlen,
						 qs_wall_now());
	if (n > 0)
		ngtcp2_conn_submit_new_token(c->qc, token, (size_t)n);
}

static int on_handshake_completed(ngtcp2_conn *qc, void *user_data)
{
	struct qs_conn *c = user_data;

	c->handshake_done = true;
	qs_conn_validated(c);
	count(&c->srv->stats->handshakes, 1);
	qs_tickets_on_handshake(c);
	c->srv->app->on_handshake(c);
	submit_new_token(c, ngtcp2_conn_get_path(qc));
	return 0;
}

static int on_path_validation(ngtcp2_conn *qc, uint32_t flags, const ngtcp2_path *path,
			      const ngtcp2_path *old_path, ngtcp2_path_validation_result res,
			      void *user_data)
{
	struct qs_conn *c = user_data;

	(void)qc;
	(void)old_path;
	if (res != NGTCP2_PATH_VALIDATION_RESULT_SUCCESS)
		return 0;
	count(&c->srv->stats->migrations, 1);
	c->migrated = true;
	if (qs_log_get_level() >= QS_LOG_DEBUG) {
		char a[64];

		pr_debug("connection migrated to %s",
			 qs_addr_str(path->remote.addr, a, sizeof(a)));
	}
	if (flags & NGTCP2_PATH_VALIDATION_FLAG_NEW_TOKEN)
		submit_new_token(c, path);
	return 0;
}

static int on_recv_tx_key(ngtcp2_conn *qc, ngtcp2_encryption_level level, void *user_data)
{
	struct qs_conn *c = user_data;

	(void)qc;
	if (level != NGTCP2_ENCRYPTION_LEVEL_1RTT)
		return 0;
	return c->srv->app->setup(c) ? NGTCP2_ERR_CALLBACK_FAILURE : 0;
}

static int on_recv_stream_data(ngtcp2_conn *qc, uint32_t flags, int64_t stream_id,
			       uint64_t offset, const uint8_t *data, size_t datalen,
			       void *user_data, void *stream_user_data)
{
	struct qs_conn *c = user_data;
	nghttp3_ssize n;

	(void)offset;
	(void)stream_user_data;
	if (!c->h3)
		return 0;
	n = nghttp3_conn_read_stream(c->h3, stream_id, data, datalen,
				     flags & NGTCP2_STREAM_DATA_FLAG_FIN);
	if (n < 0) {
		pr_debug("stream %" PRId64 ": nghttp3: %s", stream_id, nghttp3_strerror((int)n));
		if (!nghttp3_err_is_fatal((int)n)) {
			/* a malformed request (a Content-Length the body does not
			 * match, a header block over our limit): reset that stream,
			 * keep the connection and its other requests */
			ngtcp2_conn_shutdown_stream(qc, 0, stream_id,
						    nghttp3_err_infer_quic_app_error_code((int)n));
			ngtcp2_conn_extend_max_offset(qc, datalen);
			return 0;
		}
		ngtcp2_ccerr_set_application_error(&c->last_error,
			nghttp3_err_infer_quic_app_error_code((int)n), NULL, 0);
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	/* framing is consumed at once; body bytes when the handler takes them */
	ngtcp2_conn_extend_max_stream_offset(qc, stream_id, (uint64_t)n);
	ngtcp2_conn_extend_max_offset(qc, (uint64_t)n);
	return 0;
}

static int on_acked_stream_data_offset(ngtcp2_conn *qc, int64_t stream_id, uint64_t offset,
				       uint64_t datalen, void *user_data, void *stream_user_data)
{
	struct qs_conn *c = user_data;

	(void)qc;
	(void)offset;
	(void)stream_user_data;
	if (c->h3 && nghttp3_conn_add_ack_offset(c->h3, stream_id, datalen))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int on_stream_close(ngtcp2_conn *qc, uint32_t flags, int64_t stream_id,
			   uint64_t app_error_code, void *user_data, void *stream_user_data)
{
	struct qs_conn *c = user_data;
	int rv;

	(void)stream_user_data;
	if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET))
		app_error_code = NGHTTP3_H3_NO_ERROR;
	if (!c->h3)
		return 0;
	rv = nghttp3_conn_close_stream(c->h3, stream_id, app_error_code);
	if (rv == NGHTTP3_ERR_STREAM_NOT_FOUND) {
		if (ngtcp2_is_bidi_stream(stream_id))
			ngtcp2_conn_extend_max_streams_bidi(qc, 1);
		return 0;
	}
	if (rv) {
		ngtcp2_ccerr_set_application_error(&c->last_error,
			nghttp3_err_infer_quic_app_error_code(rv), NULL, 0);
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int on_stream_reset(ngtcp2_conn *qc, int64_t stream_id, uint64_t final_size,
			   uint64_t app_error_code, void *user_data, void *stream_user_data)
{
	struct qs_conn *c = user_data;

	(void)qc;
	(void)final_size;
	(void)app_error_code;
	(void)stream_user_data;
	if (c->h3 && nghttp3_conn_shutdown_stream_read(c->h3, stream_id))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int on_stream_stop_sending(ngtcp2_conn *qc, int64_t stream_id, uint64_t app_error_code,
				  void *user_data, void *stream_user_data)
{
	return on_stream_reset(qc, stream_id, 0, app_error_code, user_data, stream_user_data);
}

static int on_extend_max_remote_streams_bidi(ngtcp2_conn *qc, uint64_t max_streams,
					     void *user_data)
{
	struct qs_conn *c = user_data;

	(void)qc;
	if (c->h3)
		nghttp3_conn_set_max_client_streams_bidi(c->h3, max_streams);
	return 0;
}

static int on_extend_max_stream_data(ngtcp2_conn *qc, int64_t stream_id, uint64_t max_data,
				     void *user_data, void *stream_user_data)
{
	struct qs_conn *c = user_data;

	(void)qc;
	(void)max_data;
	(void)stream_user_data;
	if (c->h3 && nghttp3_conn_unblock_stream(c->h3, stream_id))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static const ngtcp2_callbacks callbacks = {
	.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb,
	.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
	.handshake_completed = on_handshake_completed,
	.encrypt = ngtcp2_crypto_encrypt_cb,
	.decrypt = ngtcp2_crypto_decrypt_cb,
	.hp_mask = ngtcp2_crypto_hp_mask_cb,
	.recv_stream_data = on_recv_stream_data,
	.acked_stream_data_offset = on_acked_stream_data_offset,
	.stream_close = on_stream_close,
	.rand = rand_cb,
	.remove_connection_id = remove_cid,
	.update_key = ngtcp2_crypto_update_key_cb,
	.path_validation = on_path_validation,
	.stream_reset = on_stream_reset,
	.extend_max_remote_streams_bidi = on_extend_max_remote_streams_bidi,
	.extend_max_stream_data = on_extend_max_stream_data,
	.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
	.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
	.stream_stop_sending = on_stream_stop_sending,
	.version_negotiation = ngtcp2_crypto_version_negotiation_cb,
	.recv_tx_key = on_recv_tx_key,
	.get_new_connection_id2 = get_new_cid,
	.get_path_challenge_data2 = ngtcp2_crypto_get_path_challenge_data2_cb,
};

/* ---- accepting ------------------------------------------------------------- */

static void qlog_write(void *user_data, uint32_t flags, const void *data, size_t len)
{
	struct qs_conn *c = user_data;

	(void)flags;
	if (c->qlog_fd >= 0 && len && write(c->qlog_fd, data, len) != (ssize_t)len) {
		pr_warn("qlog: writing to --qlog-dir %s failed: %s; this connection's qlog "
			"stops (disk full?)", c->srv->cfg->qlog_dir, strerror(errno));
		close(c->qlog_fd);
		c->qlog_fd = -1;
	}
}

/* --qlog-dir: the connection's qlog file, named by its client's first DCID */
static void qlog_open(struct qs_conn *c, const ngtcp2_cid *odcid, ngtcp2_settings *settings)
{
	const char *dir = c->srv->cfg->qlog_dir;
	char path[sizeof(c->srv->cfg->qlog_dir) + 2 * NGTCP2_MAX_CIDLEN + 8];
	int n = snprintf(path, sizeof(path), "%s/", dir);

	for (size_t i = 0; i < odcid->datalen; i++)
		n += snprintf(path + n, sizeof(path) - (size_t)n, "%02x", odcid->data[i]);
	snprintf(path + n, sizeof(path) - (size_t)n, ".sqlog");
	c->qlog_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_APPEND, 0640);
	if (c->qlog_fd < 0) {
		pr_warn("qlog: cannot create %s: %s (--qlog-dir must be a directory the "
			"workers' --user can write)", path, strerror(errno));
		return;
	}
	settings->qlog_write = qlog_write;
}

struct qs_conn *qs_conn_new(struct qs_server *s, struct qs_endpoint *ep,
				const struct qs_rx *rx, const ngtcp2_pkt_hd *hd,
				const ngtcp2_cid *ocid, ngtcp2_token_type token_type)
{
	const struct qs_config *cfg = s->cfg;
	ngtcp2_settings settings;
	ngtcp2_transport_params params;
	ngtcp2_cid scid;
	ngtcp2_path path = qs_rx_path(rx, ep);
	struct qs_conn *c;
	uint32_t pktnum;

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->srv = s;
	c->heap_idx = (size_t)-1;
	c->qlog_fd = -1;
	do {
		if (qs_mint_cid(s, &scid))
			goto fail;
	} while (qs_cidmap_get(&s->map, scid.data, scid.datalen));

	ngtcp2_settings_default(&settings);
	settings.initial_ts = qs_now();
	/* a half-open connection holds a slot of the table: not for the idle timeout */
	settings.handshake_timeout = (ngtcp2_duration)cfg->handshake_timeout_ms * NGTCP2_MILLISECONDS;
	settings.token = hd->token;
	settings.tokenlen = hd->tokenlen;
	settings.token_type = token_type;
	/*
	 * CUBIC by default.  BBR was the default while conn_write burst to the
	 * congestion window: then ngtcp2's pacing of CUBIC (srtt / (1.25 cwnd)
	 * per byte) measured 2x BBR's latency for small responses.  With the
	 * paced loop (one send quantum per write), medians of 3 rounds each,
	 * 2026-12-07: 1 KB requests/s CUBIC/BBR 1.05x and 1.10x (1 worker),
	 * 0.88x and 1.18x (2), 100 MB 1.15x and 0.90x; through a 40 Mbit/s
	 * link with a 32-packet queue and 10 ms each way (make bench-pace) a
	 * 20 MB download lost 175 packets with CUBIC and 615 with BBR (BBR's
	 * startup overshoots the queue), at 4.18 and 4.10 MB/s.
	 */
	settings.cc_algo = cfg->cc == QS_CC_CUBIC ? NGTCP2_CC_ALGO_CUBIC :
			   cfg->cc == QS_CC_RENO ? NGTCP2_CC_ALGO_RENO : NGTCP2_CC_ALGO_BBR;
	settings.max_window = MAX_WINDOW;
	settings.max_stream_window = MAX_STREAM_WINDOW;
	qs_fill_random(&pktnum, sizeof(pktnum));
	settings.initial_pkt_num = pktnum & INT32_MAX;
	if (cfg->qlog_dir[0])
		qlog_open(c, ocid ? ocid : &hd->dcid, &settings);

	ngtcp2_transport_params_default(&params);
	params.initial_max_stream_data_bidi_local = QS_TP_STREAM_WINDOW;
	params.initial_max_stream_data_bidi_remote = QS_TP_STREAM_WINDOW;
	params.initial_max_stream_data_uni = QS_TP_STREAM_WINDOW;
	params.initial_max_data = QS_TP_CONN_WINDOW;
	params.initial_max_streams_bidi = cfg->max_streams;
	params.initial_max_streams_uni = QS_TP_STREAMS_UNI;
	params.max_idle_timeout = (ngtcp2_duration)cfg->idle_timeout_ms * NGTCP2_MILLISECONDS;
	params.active_connection_id_limit = QS_TP_CID_LIMIT;
	/* the XDP guard drops packets with the fixed bit clear: no greasing then */
	params.grease_quic_bit = cfg->n_xdp_guard == 0;
	params.stateless_reset_token_present = 1;
	if (ocid) {
		params.original_dcid = *ocid;
		params.retry_scid = hd->dcid;
		params.retry_scid_present = 1;
	} else {
		params.original_dcid = hd->dcid;
	}
	params.original_dcid_present = 1;
	if (ngtcp2_crypto_generate_stateless_reset_token(params.stateless_reset_token,
							 s->secrets.static_secret,
							 sizeof(s->secrets.static_secret), &scid))
		goto fail;

	if (ngtcp2_conn_server_new(&c->qc, &hd->scid, &scid, &path, hd->version, &callbacks,
				   &settings, &params, &qs_ngtcp2_mem, c))
		goto fail;

	c->ssl = SSL_new(s->ssl_ctx);
	if (!c->ssl || ngtcp2_crypto_ossl_ctx_new((ngtcp2_crypto_ossl_ctx **)&c->ossl_ctx, c->ssl))
		goto fail;
	if (ngtcp2_crypto_ossl_configure_server_session(c->ssl))
		goto fail;
	c->ref.get_conn = get_conn;
	c->ref.user_data = c;
	SSL_set_app_data(c->ssl, &c->ref);
	SSL_set_accept_state(c->ssl);
	qs_tickets_conn_init(c);
	ngtcp2_conn_set_tls_native_handle(c->qc, c->ossl_ctx);

	c->expiry = UINT64_MAX;
	if (heap_push(s, c))
		goto fail;
	s->n_conns++;
	count(&s->stats->conn_accepted, 1);
	count_set(&s->stats->conn_active, s->n_conns);
	return c;
fail:
	if (c->ssl) {
		SSL_set_app_data(c->ssl, NULL);
		SSL_free(c->ssl);
	}
	if (c->ossl_ctx)
		ngtcp2_crypto_ossl_ctx_del(c->ossl_ctx);
	if (c->qc)
		ngtcp2_conn_del(c->qc);
	if (c->qlog_fd >= 0)
		close(c->qlog_fd);
	free(c);
	return NULL;
}

void qs_server_read(struct qs_server *s, struct qs_endpoint *ep, const struct qs_rx *rx,
		    const uint8_t *data, size_t len)
{
	ngtcp2_version_cid vc;
	struct qs_conn *c;
	int rv;

	rv = ngtcp2_pkt_decode_version_cid(&vc, data, len, QS_CID_LEN);
	if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
		qs_send_version_negotiation(s, ep, rx, &vc);
		return;
	}
	if (rv) {
		count(&s->stats->rx_dropped, 1);
		return;
	}
	c = qs_cidmap_get(&s->map, vc.dcid, vc.dcidlen);
	if (!c) {
		if (data[0] & 0x80) {
			qs_accept_initial(s, ep, rx, data, len);
		} else {
			/* not a connection of this worker (any more): the client
			 * learns at once instead of waiting for its idle timeout */
			if (len >= QS_CID_LEN + 22)
				qs_send_stateless_reset(s, ep, rx, vc.dcid, vc.dcidlen, len);
			count(&s->stats->rx_dropped, 1);
		}
		return;
	}
	if (c->state == QS_CONN_CLOSING) {
		/* repeat the CONNECTION_CLOSE on packets 1, 2, 4, 8... */
		if (++c->close_rx >= c->close_next) {
			ngtcp2_path path = qs_rx_path(rx, ep);

			c->close_next *= 2;
			send_batch(c, &path, 0, c->closebuf, c->closelen, c->closelen);
		}
		return;
	}
	if (c->state == QS_CONN_DRAINING)
		return;
	{
		ngtcp2_path path = qs_rx_path(rx, ep);
		ngtcp2_pkt_info pi = { .ecn = rx->ecn };

		/*
		 * The path of this packet, for requests that start while it is read:
		 * ngtcp2 switches its own current path only after the packet's
		 * frames, so a request that came from the client's new address
		 * would otherwise be told the old one (REMOTE_ADDR/PORT).
		 */
		s->rx_conn = c;
		s->rx_path = &path;
		rv = ngtcp2_conn_read_pkt(c->qc, &path, &pi, data, len, qs_now());
		s->rx_conn = NULL;
		s->rx_path = NULL;
	}
	if (rv) {
		switch (rv) {
		case NGTCP2_ERR_DRAINING:
			qs_conn_close(c);	/* enters draining */
			return;
		case NGTCP2_ERR_DROP_CONN:
			qs_conn_free(c);
			return;
		case NGTCP2_ERR_CRYPTO:
			if (!c->last_error.error_code)
				ngtcp2_ccerr_set_tls_alert(&c->last_error,
					ngtcp2_conn_get_tls_alert(c->qc), NULL, 0);
			break;
		default:
			if (!c->last_error.error_code)
				ngtcp2_ccerr_set_liberr(&c->last_error, rv, NULL, 0);
		}
		qs_conn_close(c);
		return;
	}
	qs_conn_schedule_write(c);
}

void qs_server_on_timer(struct qs_server *s)
{
	ngtcp2_tstamp now = qs_now();
	int rv;

	while (s->heap_len && s->heap[0]->expiry <= now) {
		struct qs_conn *c = s->heap[0];

		if (c->state != QS_CONN_LIVE) {
			qs_conn_free(c);	/* closing or draining period is over */
			continue;
		}
		rv = ngtcp2_conn_handle_expiry(c->qc, now);
		if (rv) {
			/* idle or handshake timeout: dropped silently */
			if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT)
				count(&s->stats->hs_timeout, 1);
			ngtcp2_ccerr_set_liberr(&c->last_error, NGTCP2_ERR_IDLE_CLOSE, NULL, 0);
			c->last_error.type = NGTCP2_CCERR_TYPE_IDLE_CLOSE;
			qs_conn_close(c);
			continue;
		}
		if (conn_write(c) == -2)
			continue;
		if (c->state == QS_CONN_LIVE && c->expiry <= now) {
			/* nothing moved the deadline: avoid spinning on it.  Never
			 * the pacer's: ngtcp2_conn_handle_expiry drops a pacing time
			 * that is due, and conn_write sets the next one after now */
			c->expiry = now + NGTCP2_MILLISECONDS;
			heap_down(s, c->heap_idx);
		}
	}
	qs_server_flush(s);
}

void qs_server_on_writable(struct qs_server *s)
{
	/* the blocked batches are few: walk the heap for them */
	for (size_t i = 0; i < s->heap_len && s->n_blocked; i++) {
		struct qs_conn *c = s->heap[i];

		if (c->blocked && send_blocked(c) == 0)
			qs_conn_schedule_write(c);
	}
	qs_server_flush(s);
}

void qs_server_start_drain(struct qs_server *s)
{
	if (s->draining)
		return;
	s->draining = true;
	s->drain_deadline = qs_now() + (ngtcp2_tstamp)s->cfg->drain_timeout_ms * NGTCP2_MILLISECONDS;
	for (size_t i = 0; i < s->heap_len; i++) {
		struct qs_conn *c = s->heap[i];

		if (c->state == QS_CONN_LIVE && c->h3 && !c->goaway_sent) {
			nghttp3_conn_shutdown(c->h3);	/* GOAWAY */
			c->goaway_sent = true;
			qs_conn_schedule_write(c);
		}
	}
	qs_server_flush(s);
}

bool qs_server_drained(struct qs_server *s)
{
	bool busy = false;

	if (!s->draining)
		return false;
	for (size_t i = 0; i < s->heap_len; i++)
		if (s->heap[i]->state == QS_CONN_LIVE && s->heap[i]->streams)
			busy = true;
	if (busy && qs_now() < s->drain_deadline)
		return false;
	/* close what is left, politely */
	while (s->heap_len) {
		struct qs_conn *c = s->heap[s->heap_len - 1];

		if (c->state == QS_CONN_LIVE) {
			ngtcp2_ccerr_set_application_error(&c->last_error, NGHTTP3_H3_NO_ERROR,
							   NULL, 0);
			if (qs_conn_close(c))
				continue;
		}
		qs_conn_free(c);
	}
	return true;
}

int qs_server_init(struct qs_server *s)
{
	int ret = qs_cidmap_init(&s->map);

	if (ret)
		return ret;
	s->sr_tokens = QS_SR_BURST;
	s->sr_last = qs_now();
	s->hs_window = qs_now();
	/* the gauges of a worker that crashed: it took its connections along */
	count_set(&s->stats->conn_active, 0);
	count_set(&s->stats->conn_unvalidated, 0);
	return 0;
}

void qs_server_free(struct qs_server *s)
{
	while (s->heap_len)
		qs_conn_free(s->heap[s->heap_len - 1]);
	free(s->heap);
	s->heap = NULL;
	qs_cidmap_free(&s->map);
	explicit_bzero(&s->secrets, sizeof(s->secrets));
}
