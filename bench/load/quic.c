// SPDX-License-Identifier: MIT
/*
 * quicsteer-load: one QUIC connection: its UDP socket, ngtcp2 callbacks,
 * reading, writing, timers and life cycle.  HTTP/3 is in h3.c, TLS in tls.c.
 *
 * Callbacks never free the connection: they record what went wrong (c->why,
 * c->ccerr) and return an error; the caller of ngtcp2 (read, write, timer)
 * then closes the connection.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "conn.h"
#include "worker/mem.h"

#define RX_BATCH      32          /* datagrams per recvmmsg */
#define RX_BUFSZ      65536       /* loopback may carry large datagrams */
#define RX_PER_EVENT  256         /* then let other connections have a turn */
#define SOCK_BUFSZ    (8 << 20)   /* a 100 MB download must not overflow the socket */
#define TX_BUFSZ      65536
#define MAX_WINDOW    (64u << 20) /* flow-control auto-tuning limits */
#define MAX_STREAM_WINDOW (32u << 20)
/* --rate: credit goes back in steps of at least this much (one MAX_DATA each) */
#define PACE_CHUNK    (16u << 10)

enum fail_kind { FAIL_CONN, FAIL_TIMEOUT };

static uint8_t txbuf[TX_BUFSZ];
static uint8_t rxbufs[RX_BATCH][RX_BUFSZ];

/* ---------------------------------------------------------------- helpers */

void conn_set_why(struct load_conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->why[0])
		return; /* keep the first cause */
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
}

void conn_set_app_error(struct load_conn *c, uint64_t code)
{
	if (c->ccerr_set)
		return;
	ngtcp2_ccerr_set_application_error(&c->ccerr, code, NULL, 0);
	c->ccerr_set = true;
}

static void set_liberr(struct load_conn *c, int liberr)
{
	if (c->ccerr_set)
		return;
	ngtcp2_ccerr_set_liberr(&c->ccerr, liberr, NULL, 0);
	c->ccerr_set = true;
}

/* ---------------------------------------------------------------- ngtcp2 callbacks */

static void fill_random(uint8_t *dest, size_t len)
{
	if (RAND_bytes(dest, (int)len) == 1)
		return;
	while (len) { /* OpenSSL's DRBG failing is unheard of; the kernel's pool then */
		ssize_t n = getrandom(dest, len, 0);

		if (n > 0) {
			dest += n;
			len -= (size_t)n;
		}
	}
}

static void cb_rand(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *rand_ctx)
{
	(void)rand_ctx;
	fill_random(dest, destlen);
}

static int cb_new_cid(ngtcp2_conn *qc, ngtcp2_cid *cid, ngtcp2_stateless_reset_token *token,
		      size_t cidlen, void *user_data)
{
	(void)qc; (void)user_data;
	fill_random(cid->data, cidlen);
	cid->datalen = cidlen;
	/* A client never sends stateless resets: any unpredictable token will do. */
	fill_random(token->data, sizeof(token->data));
	return 0;
}

static int cb_recv_rx_key(ngtcp2_conn *qc, ngtcp2_encryption_level level, void *user_data)
{
	(void)qc;
	if (level != NGTCP2_ENCRYPTION_LEVEL_1RTT)
		return 0;
	return conn_setup_h3(user_data) == 0 ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
}

static int cb_handshake_completed(ngtcp2_conn *qc, void *user_data)
{
	struct load_conn *c = user_data;
	struct load_stats *st = &c->run->st;
	const unsigned char *alpn = NULL;
	unsigned int alpnlen = 0;

	(void)qc;
	SSL_get0_alpn_selected(c->ssl, &alpn, &alpnlen);
	if (alpnlen != 2 || memcmp(alpn, "h3", 2) != 0) {
		conn_set_why(c, "the server did not select ALPN h3");
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	c->hs_done = true;
	st->hs_ok++;
	c->resumed = SSL_session_reused(c->ssl);
	if (c->resumed)
		st->hs_resumed++;
	else
		st->hs_full++;
	if (c->early) {
		st->early_offered++;
		if (SSL_get_early_data_status(c->ssl) == SSL_EARLY_DATA_ACCEPTED)
			st->early_accepted++;
		else
			st->early_rejected++;
	}
	/* after a refused 0-RTT, HTTP/3 starts again in 1-RTT */
	if (conn_setup_h3(c) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (load_stats_add(&st->hs_lat, &st->nhs, &st->caphs, load_now() - c->t_start) != 0)
		load_err(c->run, "out of memory for handshake times");
	return 0;
}

static int cb_recv_stream_data(ngtcp2_conn *qc, uint32_t flags, int64_t stream_id,
			       uint64_t offset, const uint8_t *data, size_t datalen,
			       void *user_data, void *stream_user_data)
{
	struct load_conn *c = user_data;
	nghttp3_ssize n;

	(void)qc; (void)offset; (void)stream_user_data;
	if (!c->h3)
		return 0;
	n = nghttp3_conn_read_stream(c->h3, stream_id, data, datalen,
				     flags & NGTCP2_STREAM_DATA_FLAG_FIN);
	if (n < 0) {
		conn_set_why(c, "HTTP/3 error on stream %" PRId64 ": %s", stream_id,
			nghttp3_strerror((int)n));
		conn_set_app_error(c, nghttp3_err_infer_quic_app_error_code((int)n));
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	/* What nghttp3 consumed itself (frame headers, QPACK); body bytes are in h3_recv_data. */
	conn_consumed(c, stream_id, (uint64_t)n);
	return 0;
}

/*
 * --rate: the connection's credit (MAX_DATA) goes back to the server no
 * faster than the rate since the connection started, so the server sends no
 * faster (a download that lasts, without a slow network).  True when some
 * credit went back: there is a MAX_DATA to send.
 */
static bool conn_pace(struct load_conn *c, uint64_t now)
{
	uint64_t allowed = (uint64_t)((double)c->run->cfg.rate * (double)(now - c->t_start) / 1e9);
	uint64_t give;

	if (!c->credit_owed || allowed <= c->credit_given)
		return false;
	give = allowed - c->credit_given;
	if (give > c->credit_owed)
		give = c->credit_owed;
	ngtcp2_conn_extend_max_offset(c->qc, give);
	c->credit_given += give;
	c->credit_owed -= give;
	return true;
}

/* n bytes of stream_id are used: their credit goes back (the connection's paced with --rate) */
void conn_consumed(struct load_conn *c, int64_t stream_id, uint64_t n)
{
	ngtcp2_conn_extend_max_stream_offset(c->qc, stream_id, n);
	if (!c->run->cfg.rate) {
		ngtcp2_conn_extend_max_offset(c->qc, n);
		return;
	}
	c->credit_owed += n;
	conn_pace(c, load_now());
}

static int cb_acked_stream_data_offset(ngtcp2_conn *qc, int64_t stream_id, uint64_t offset,
				       uint64_t datalen, void *user_data, void *stream_user_data)
{
	struct load_conn *c = user_data;
	int rv;

	(void)qc; (void)offset; (void)stream_user_data;
	if (!c->h3)
		return 0;
	if ((rv = nghttp3_conn_add_ack_offset(c->h3, stream_id, datalen)) != 0) {
		conn_set_why(c, "nghttp3_conn_add_ack_offset: %s", nghttp3_strerror(rv));
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int cb_stream_close(ngtcp2_conn *qc, uint32_t flags, int64_t stream_id,
			   uint64_t app_error_code, void *user_data, void *stream_user_data)
{
	struct load_conn *c = user_data;
	int rv;

	(void)stream_user_data;
	if (!c->h3)
		return 0;
	if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET))
		app_error_code = NGHTTP3_H3_NO_ERROR;
	rv = nghttp3_conn_close_stream(c->h3, stream_id, app_error_code);
	if (rv == NGHTTP3_ERR_STREAM_NOT_FOUND) {
		/* A server stream that never carried data: nghttp3 never saw it. */
		if (!ngtcp2_is_bidi_stream(stream_id))
			ngtcp2_conn_extend_max_streams_uni(qc, 1);
		return 0;
	}
	if (rv != 0) {
		conn_set_why(c, "nghttp3_conn_close_stream: %s", nghttp3_strerror(rv));
		conn_set_app_error(c, nghttp3_err_infer_quic_app_error_code(rv));
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int shutdown_read(struct load_conn *c, int64_t stream_id)
{
	int rv;

	if (!c->h3)
		return 0;
	if ((rv = nghttp3_conn_shutdown_stream_read(c->h3, stream_id)) != 0) {
		conn_set_why(c, "nghttp3_conn_shutdown_stream_read: %s", nghttp3_strerror(rv));
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int cb_stream_reset(ngtcp2_conn *qc, int64_t stream_id, uint64_t final_size,
			   uint64_t app_error_code, void *user_data, void *stream_user_data)
{
	(void)qc; (void)final_size; (void)app_error_code; (void)stream_user_data;
	return shutdown_read(user_data, stream_id);
}

static int cb_stream_stop_sending(ngtcp2_conn *qc, int64_t stream_id, uint64_t app_error_code,
				  void *user_data, void *stream_user_data)
{
	(void)qc; (void)app_error_code; (void)stream_user_data;
	return shutdown_read(user_data, stream_id);
}

static int cb_extend_max_stream_data(ngtcp2_conn *qc, int64_t stream_id, uint64_t max_data,
				     void *user_data, void *stream_user_data)
{
	struct load_conn *c = user_data;
	int rv;

	(void)qc; (void)max_data; (void)stream_user_data;
	if (c->run->cfg.stall_headers) {
		struct load_req *r = conn_find_req(c, stream_id, c->run->cfg.concurrency);

		if (r && r->stalled)
			return 0;	/* it stays blocked */
	}
	if (c->h3 && (rv = nghttp3_conn_unblock_stream(c->h3, stream_id)) != 0) {
		conn_set_why(c, "nghttp3_conn_unblock_stream: %s", nghttp3_strerror(rv));
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int cb_recv_stateless_reset(ngtcp2_conn *qc, const ngtcp2_pkt_stateless_reset2 *sr,
				   void *user_data)
{
	(void)qc; (void)sr;
	((struct load_conn *)user_data)->got_reset = true;
	return 0;
}

/* The server refused our 0-RTT: ngtcp2 forgot its streams, so HTTP/3 starts over
 * and the same requests go again in 1-RTT; they neither failed nor count twice. */
static int cb_early_rejected(ngtcp2_conn *qc, void *user_data)
{
	struct load_conn *c = user_data;

	(void)qc;
	for (unsigned i = 0; i < c->run->cfg.concurrency; i++) {
		if (!c->reqs[i].in_use)
			continue;
		conn_req_put(c, &c->reqs[i]);
		c->run->st.started--;
		c->submitted--;
	}
	if (c->h3)
		nghttp3_conn_del(c->h3);
	c->h3 = NULL;
	return 0;
}

static const ngtcp2_callbacks quic_callbacks = {
	.client_initial = ngtcp2_crypto_client_initial_cb,
	.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
	.handshake_completed = cb_handshake_completed,
	.encrypt = ngtcp2_crypto_encrypt_cb,
	.decrypt = ngtcp2_crypto_decrypt_cb,
	.hp_mask = ngtcp2_crypto_hp_mask_cb,
	.recv_stream_data = cb_recv_stream_data,
	.acked_stream_data_offset = cb_acked_stream_data_offset,
	.stream_close = cb_stream_close,
	.recv_retry = ngtcp2_crypto_recv_retry_cb,
	.rand = cb_rand,
	.update_key = ngtcp2_crypto_update_key_cb,
	.stream_reset = cb_stream_reset,
	.extend_max_stream_data = cb_extend_max_stream_data,
	.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
	.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
	.stream_stop_sending = cb_stream_stop_sending,
	.version_negotiation = ngtcp2_crypto_version_negotiation_cb,
	.recv_rx_key = cb_recv_rx_key,
	.recv_stateless_reset2 = cb_recv_stateless_reset,
	.get_new_connection_id2 = cb_new_cid,
	.get_path_challenge_data2 = ngtcp2_crypto_get_path_challenge_data2_cb,
	.tls_early_data_rejected = cb_early_rejected,
};

/* ---------------------------------------------------------------- socket */

static int conn_socket(struct load_conn *c)
{
	const struct load_cfg *cfg = &c->run->cfg;
	int sz = SOCK_BUFSZ, fd;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	fd = socket(cfg->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	c->fd = fd;
	/* FORCE works as root and ignores rmem_max; otherwise take what the sysctl allows. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	/* GRO: a server's GSO batch arrives as one buffer (fewer syscalls, cheaper client). */
	c->gro = setsockopt(fd, IPPROTO_UDP, UDP_GRO, &(int){ 1 }, sizeof(int)) == 0;
	if (cfg->addr.ss_family == AF_INET) {
		int v = IP_PMTUDISC_PROBE; /* DF set, so path MTU probes are not fragmented */

		setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v));
	} else {
		int v = IPV6_PMTUDISC_PROBE;

		setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof(v));
	}
	/* Connected: the kernel picks our own source port, filters other senders, and
	 * reports the server's ICMP port unreachable as ECONNREFUSED. */
	if (connect(fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen) != 0)
		return -errno;
	c->locallen = sizeof(c->local);
	if (getsockname(fd, (struct sockaddr *)&c->local, &c->locallen) != 0)
		return -errno;
	if (epoll_ctl(c->run->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		return -errno;
	return 0;
}

static ngtcp2_path conn_path(struct load_conn *c);

/*
 * --migrate-after: the client moves, as a phone does when its address
 * changes: a new socket (new source port), the old one closed, and ngtcp2
 * validates the new path with a fresh connection ID.
 */
int conn_migrate(struct load_conn *c)
{
	ngtcp2_path path;
	int rv;

	epoll_ctl(c->run->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	rv = conn_socket(c);
	if (rv) {
		conn_set_why(c, "new socket for the migration: %s", strerror(-rv));
		return -1;
	}
	path = conn_path(c);
	rv = ngtcp2_conn_initiate_migration(c->qc, &path, load_now());
	if (rv) {
		conn_set_why(c, "ngtcp2_conn_initiate_migration: %s", ngtcp2_strerror(rv));
		return -1;
	}
	c->run->st.migrations++;
	return 0;
}

static ngtcp2_path conn_path(struct load_conn *c)
{
	ngtcp2_path path = {
		.local = { .addr = (struct sockaddr *)&c->local, .addrlen = c->locallen },
		.remote = { .addr = (struct sockaddr *)&c->run->cfg.addr,
			    .addrlen = c->run->cfg.addrlen },
		.user_data = c,
	};
	return path;
}

/* ---------------------------------------------------------------- life cycle */

static bool conn_active(const struct load_conn *c)
{
	return c && !c->closed;
}

static void conn_release(struct load_conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	c->run->active--;
	if (c->fd >= 0) {
		epoll_ctl(c->run->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	if (c->h3)
		nghttp3_conn_del(c->h3);
	c->h3 = NULL;
	/* SSL first: freeing it can release pending QUIC records through ngtcp2_crypto_ossl,
	 * which reaches the ngtcp2_conn and its ossl context through c->ref. */
	SSL_free(c->ssl);
	c->ssl = NULL;
	ngtcp2_crypto_ossl_ctx_del(c->ossl); /* does not free the SSL */
	c->ossl = NULL;
	if (c->qc)
		ngtcp2_conn_del(c->qc);
	c->qc = NULL;
}

/* Send CONNECTION_CLOSE (best effort: the connection is going away anyway). */
static void conn_send_close(struct load_conn *c, const ngtcp2_ccerr *ce)
{
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;
	ngtcp2_ssize n;

	if (!c->qc || ngtcp2_conn_in_closing_period2(c->qc) ||
	    ngtcp2_conn_in_draining_period2(c->qc))
		return;
	ngtcp2_path_storage_zero(&ps);
	n = ngtcp2_conn_write_connection_close(c->qc, &ps.path, &pi, txbuf, sizeof(txbuf), ce,
					       load_now());
	/* Not checked: a lost CONNECTION_CLOSE only means the server times the connection out. */
	if (n > 0)
		send(c->fd, txbuf, (size_t)n, 0);
}

static unsigned local_port(const struct load_conn *c)
{
	if (c->local.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&c->local)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&c->local)->sin_port);
}

/* The connection failed: its in-flight requests failed with it. */
static void conn_fail(struct load_conn *c, enum fail_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void conn_fail(struct load_conn *c, enum fail_kind kind, const char *fmt, ...)
{
	struct load_run *run = c->run;
	struct load_stats *st = &run->st;
	char msg[512], lost_msg[64] = "";
	va_list ap;
	unsigned lost = 0;
	bool add_why;

	if (c->closed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (unsigned i = 0; i < run->cfg.concurrency; i++) {
		if (!c->reqs[i].in_use)
			continue;
		st->failed++;
		if (kind == FAIL_TIMEOUT)
			st->failed_timeout++;
		else
			st->failed_conn++;
		lost++;
		conn_req_put(c, &c->reqs[i]);
	}
	st->conns_failed++;
	if (!c->hs_done)
		st->hs_failed++;
	/* A callback's own explanation, when the message does not carry it already. */
	add_why = c->why[0] && !strstr(msg, c->why);
	if (lost)
		snprintf(lost_msg, sizeof(lost_msg), "; %u request(s) in flight failed", lost);
	load_err(run, "connection %u (local port %u): %s%s%s%s%s%s", c->id, local_port(c),
		 c->hs_done ? "" : "handshake failed: ", msg, add_why ? " (" : "",
		 add_why ? c->why : "", add_why ? ")" : "", lost_msg);
	if (c->ccerr_set)
		conn_send_close(c, &c->ccerr);
	conn_release(c);
}

void load_conn_finish(struct load_conn *c)
{
	ngtcp2_ccerr ce;

	if (!conn_active(c))
		return;
	for (unsigned i = 0; i < c->run->cfg.concurrency; i++) {
		if (c->reqs[i].in_use) {
			c->run->st.cancelled++;
			conn_req_put(c, &c->reqs[i]);
		}
	}
	ngtcp2_ccerr_default(&ce);
	ngtcp2_ccerr_set_application_error(&ce, NGHTTP3_H3_NO_ERROR, NULL, 0);
	conn_send_close(c, &ce);
	conn_release(c);
}

void load_conn_free(struct load_conn *c)
{
	if (!c)
		return;
	if (!c->closed)
		conn_release(c);
	free(c->reqs);
	free(c->pending);
	free(c);
}

/* ---------------------------------------------------------------- sending */

static void conn_want_out(struct load_conn *c, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };

	epoll_ctl(c->run->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* 0: sent (or queued because the socket is full), -1: the connection failed. */
static int conn_send(struct load_conn *c, const uint8_t *pkt, size_t len)
{
	for (;;) {
		if (send(c->fd, pkt, len, 0) >= 0) {
			c->run->st.tx_datagrams++;
			c->run->st.tx_bytes += len;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
			if (!c->pending && !(c->pending = malloc(TX_BUFSZ))) {
				conn_fail(c, FAIL_CONN, "out of memory");
				return -1;
			}
			if (pkt != c->pending)
				memcpy(c->pending, pkt, len);
			c->pending_len = len;
			conn_want_out(c, true);
			return 0;
		}
		if (errno == ECONNREFUSED)
			conn_fail(c, FAIL_CONN, "send: Connection refused (ICMP port unreachable: "
				  "no server on %s port %s?)", c->run->cfg.host, c->run->cfg.port);
		else
			conn_fail(c, FAIL_CONN, "send: %s", strerror(errno));
		return -1;
	}
}

static int conn_write(struct load_conn *c)
{
	const struct load_cfg *run_cfg = &c->run->cfg;
	ngtcp2_path_storage ps;
	size_t maxlen, max_pkts, npkts = 0;
	uint64_t ts;

	if (c->closed)
		return -1;
	if (c->pending_len) {
		size_t len = c->pending_len;

		c->pending_len = 0;
		if (conn_send(c, c->pending, len) != 0)
			return -1;
		if (c->pending_len)
			return 0; /* still full: wait for EPOLLOUT */
		conn_want_out(c, false);
	}
	conn_fill(c);

	ngtcp2_path_storage_zero(&ps);
	maxlen = ngtcp2_conn_get_max_tx_udp_payload_size2(c->qc);
	if (maxlen > sizeof(txbuf))
		maxlen = sizeof(txbuf);
	max_pkts = ngtcp2_conn_get_send_quantum2(c->qc) / maxlen;
	if (max_pkts == 0)
		max_pkts = 1;
	ts = load_now();
	for (;;) {
		nghttp3_vec vec[16];
		nghttp3_ssize nvec = 0;
		int64_t sid = -1;
		int fin = 0, rv;
		uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
		ngtcp2_ssize ndata = -1, n;
		ngtcp2_pkt_info pi;
		struct load_req *stalled_req = NULL;

		if (c->h3 && ngtcp2_conn_get_max_data_left2(c->qc)) {
			nvec = nghttp3_conn_writev_stream(c->h3, &sid, &fin, vec, 16);
			if (nvec < 0) {
				conn_set_app_error(c, nghttp3_err_infer_quic_app_error_code((int)nvec));
				conn_fail(c, FAIL_CONN, "nghttp3_conn_writev_stream: %s",
					  nghttp3_strerror((int)nvec));
				return -1;
			}
		}
		if (nvec > 0 && run_cfg->stall_headers && ngtcp2_is_bidi_stream(sid)) {
			/* a header block that never ends: its first bytes, then nothing */
			struct load_req *r = conn_find_req(c, sid, run_cfg->concurrency);
			uint64_t left = r && r->sent < run_cfg->stall_headers ?
					run_cfg->stall_headers - r->sent : 0;

			if (r && !left) {
				r->stalled = true;
				nghttp3_conn_block_stream(c->h3, sid);
				continue;
			}
			for (nghttp3_ssize i = 0; i < nvec; i++) {
				if (vec[i].len >= left) {
					vec[i].len = (size_t)left;
					nvec = i + 1;
					fin = 0;
					break;
				}
				left -= vec[i].len;
			}
			if (r)
				stalled_req = r;
		}
		if (fin)
			flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
		/* nghttp3_vec and ngtcp2_vec are both { uint8_t *base; size_t len; }. */
		n = ngtcp2_conn_writev_stream(c->qc, &ps.path, &pi, txbuf, maxlen, &ndata, flags, sid,
					      (const ngtcp2_vec *)vec, (size_t)nvec, ts);
		if (n < 0) {
			switch (n) {
			case NGTCP2_ERR_STREAM_DATA_BLOCKED:
				nghttp3_conn_block_stream(c->h3, sid);
				continue;
			case NGTCP2_ERR_STREAM_SHUT_WR:
				nghttp3_conn_shutdown_stream_write(c->h3, sid);
				continue;
			case NGTCP2_ERR_WRITE_MORE:
				if (stalled_req)
					stalled_req->sent += (size_t)ndata;
				if ((rv = nghttp3_conn_add_write_offset(c->h3, sid, (size_t)ndata)) != 0) {
					conn_set_app_error(c, nghttp3_err_infer_quic_app_error_code(rv));
					conn_fail(c, FAIL_CONN, "nghttp3_conn_add_write_offset: %s",
						  nghttp3_strerror(rv));
					return -1;
				}
				continue;
			}
			set_liberr(c, (int)n);
			conn_fail(c, FAIL_CONN, "ngtcp2_conn_writev_stream: %s",
				  c->why[0] ? c->why : ngtcp2_strerror((int)n));
			return -1;
		}
		if (ndata >= 0 && stalled_req)
			stalled_req->sent += (size_t)ndata;
		if (ndata >= 0 && (rv = nghttp3_conn_add_write_offset(c->h3, sid, (size_t)ndata)) != 0) {
			conn_set_app_error(c, nghttp3_err_infer_quic_app_error_code(rv));
			conn_fail(c, FAIL_CONN, "nghttp3_conn_add_write_offset: %s", nghttp3_strerror(rv));
			return -1;
		}
		if (n == 0)
			break; /* nothing more, or congestion/pacing limited */
		if (conn_send(c, txbuf, (size_t)n) != 0)
			return -1;
		if (c->pending_len || ++npkts >= max_pkts)
			break;
	}
	ngtcp2_conn_update_pkt_tx_time(c->qc, ts);
	c->expiry = ngtcp2_conn_get_expiry2(c->qc);
	return 0;
}

/* ---------------------------------------------------------------- receiving */

static void conn_read_error(struct load_conn *c, int rv)
{
	char desc[300];

	switch (rv) {
	case NGTCP2_ERR_DRAINING:
		if (c->got_reset) {
			conn_fail(c, FAIL_CONN, "the server sent a stateless reset (it does not know "
				  "this connection)");
			return;
		}
		conn_describe_ccerr(ngtcp2_conn_get_ccerr2(c->qc), desc, sizeof(desc));
		if (c->inflight == 0 && (c->goaway || c->run->stopping)) {
			conn_release(c); /* a clean close after GOAWAY or at the end */
			return;
		}
		conn_fail(c, FAIL_CONN, "closed by the server: %s", desc);
		return;
	case NGTCP2_ERR_CRYPTO: {
		long vr = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
		uint8_t alert = ngtcp2_conn_get_tls_alert2(c->qc);

		if (!c->ccerr_set) {
			ngtcp2_ccerr_set_tls_alert(&c->ccerr, alert, NULL, 0);
			c->ccerr_set = true;
		}
		if (vr != X509_V_OK)
			conn_fail(c, FAIL_CONN, "certificate verification failed: %s (--insecure "
				  "accepts self-signed test certificates; --cacert FILE)",
				  X509_verify_cert_error_string(vr));
		else
			conn_fail(c, FAIL_CONN, "TLS error: alert %u (%s)", alert,
				  SSL_alert_desc_string_long(alert));
		return;
	}
	case NGTCP2_ERR_DROP_CONN:
		conn_fail(c, FAIL_CONN, "connection dropped by ngtcp2%s%s", c->why[0] ? ": " : "",
			  c->why);
		return;
	case NGTCP2_ERR_CALLBACK_FAILURE:
		set_liberr(c, rv);
		conn_fail(c, FAIL_CONN, "%s", c->why[0] ? c->why : "callback failed");
		return;
	default:
		set_liberr(c, rv);
		conn_fail(c, FAIL_CONN, "ngtcp2_conn_read_pkt: %s", ngtcp2_strerror(rv));
		return;
	}
}

/* The segment size of a GRO-coalesced buffer, or 0. */
static size_t gro_segment(struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_UDP && cm->cmsg_type == UDP_GRO) {
			int v;

			memcpy(&v, CMSG_DATA(cm), sizeof(v));
			return v > 0 ? (size_t)v : 0;
		}
	}
	return 0;
}

static void conn_read(struct load_conn *c)
{
	struct mmsghdr msgs[RX_BATCH];
	struct iovec iov[RX_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctrl[RX_BATCH];
	size_t total = 0;

	while (total < RX_PER_EVENT) {
		ngtcp2_path path = conn_path(c);
		ngtcp2_pkt_info pi = { 0 };
		int n;

		for (int i = 0; i < RX_BATCH; i++) {
			iov[i].iov_base = rxbufs[i];
			iov[i].iov_len = RX_BUFSZ;
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			if (c->gro) {
				msgs[i].msg_hdr.msg_control = ctrl[i].buf;
				msgs[i].msg_hdr.msg_controllen = sizeof(ctrl[i].buf);
			}
		}
		n = recvmmsg(c->fd, msgs, RX_BATCH, 0, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			if (errno == ECONNREFUSED)
				conn_fail(c, FAIL_CONN, "recv: Connection refused (ICMP port "
					  "unreachable: no server on %s port %s?)", c->run->cfg.host,
					  c->run->cfg.port);
			else
				conn_fail(c, FAIL_CONN, "recv: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			size_t len = msgs[i].msg_len, seg = c->gro ? gro_segment(&msgs[i].msg_hdr) : 0;
			uint64_t now = load_now();

			if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
				continue;
			if (!seg)
				seg = len;
			for (size_t off = 0; off < len; off += seg) {
				size_t dlen = len - off < seg ? len - off : seg;
				int rv;

				c->run->st.rx_datagrams++;
				c->run->st.rx_bytes += dlen;
				rv = ngtcp2_conn_read_pkt(c->qc, &path, &pi, rxbufs[i] + off, dlen, now);
				if (rv != 0) {
					conn_read_error(c, rv);
					return;
				}
			}
		}
		total += (size_t)n;
		if (n < RX_BATCH)
			break;
	}
	conn_write(c);
}

/* --reconnect: a connection whose requests are all answered closes (CONNECTION_CLOSE
 * with H3_NO_ERROR, as a browser leaving a site) and frees its slot for a new one. */
static void conn_maybe_done(struct load_conn *c)
{
	struct load_run *run = c->run;
	ngtcp2_ccerr ce;

	if (!run->cfg.reconnect || c->closed || !c->hs_done || c->inflight ||
	    c->submitted < run->cfg.concurrency)
		return;
	ngtcp2_ccerr_default(&ce);
	ngtcp2_ccerr_set_application_error(&ce, NGHTTP3_H3_NO_ERROR, NULL, 0);
	conn_send_close(c, &ce);
	run->st.conns_done++;
	conn_release(c);
	c->recycle = true;
}

bool load_conn_recyclable(const struct load_conn *c)
{
	/* --conn-rate: a failed connection (counted) gives its slot too, or a run
	 * whose connections fail would stall once every slot held one */
	return c && c->closed && (c->recycle || c->run->cfg.conn_rate);
}

void load_conn_on_events(struct load_conn *c, uint32_t events)
{
	if (c->closed)
		return;
	if (events & (EPOLLIN | EPOLLERR))
		conn_read(c);
	if (!c->closed && (events & EPOLLOUT))
		conn_write(c);
	conn_maybe_done(c);
}

void load_conn_on_timer(struct load_conn *c, uint64_t now)
{
	const struct load_cfg *cfg = &c->run->cfg;
	bool paced;
	int rv;

	if (c->closed)
		return;
	if (c->inflight && now - c->last_progress >= cfg->timeout_ns) {
		conn_set_app_error(c, NGHTTP3_H3_REQUEST_CANCELLED);
		conn_fail(c, FAIL_TIMEOUT, "no response data for %.1f s with %u request(s) in flight",
			  (double)cfg->timeout_ns / LOAD_NS_PER_S, c->inflight);
		return;
	}
	paced = conn_pace(c, now);
	if (c->expiry > now) {
		if (paced)
			conn_write(c);	/* the MAX_DATA */
		return;
	}
	rv = ngtcp2_conn_handle_expiry(c->qc, now);
	if (rv == NGTCP2_ERR_IDLE_CLOSE) {
		if (c->inflight == 0 && (c->goaway || c->run->stopping)) {
			conn_release(c);
			return;
		}
		conn_fail(c, FAIL_CONN, "idle timeout: nothing from the server for %.1f s",
			  (double)cfg->timeout_ns / LOAD_NS_PER_S);
		return;
	}
	if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
		conn_fail(c, FAIL_CONN, "no handshake within %.1f s (is a QUIC server listening?)",
			  (double)cfg->timeout_ns / LOAD_NS_PER_S);
		return;
	}
	if (rv != 0) {
		set_liberr(c, rv);
		conn_fail(c, FAIL_CONN, "ngtcp2_conn_handle_expiry: %s", ngtcp2_strerror(rv));
		return;
	}
	conn_write(c);
	conn_maybe_done(c);
}

uint64_t load_conn_deadline(const struct load_conn *c)
{
	uint64_t d;

	if (!c || c->closed)
		return UINT64_MAX;
	d = c->expiry;
	if (c->inflight && c->last_progress + c->run->cfg.timeout_ns < d)
		d = c->last_progress + c->run->cfg.timeout_ns;
	if (c->credit_owed) {
		/* --rate: when the next PACE_CHUNK (or what is owed) may go back */
		uint64_t chunk = c->credit_owed < PACE_CHUNK ? c->credit_owed : PACE_CHUNK;
		uint64_t t = c->t_start + (uint64_t)((double)(c->credit_given + chunk) * 1e9 /
						      (double)c->run->cfg.rate);

		if (t < d)
			d = t;
	}
	return d;
}

/* Create connection number id and start its handshake.  NULL only when out of memory; a
 * connection that cannot start is returned closed (and counted as failed). */
struct load_conn *load_conn_new(struct load_run *run, unsigned id)
{
	const struct load_cfg *cfg = &run->cfg;
	struct load_conn *c = calloc(1, sizeof(*c));
	ngtcp2_settings settings;
	ngtcp2_transport_params params;
	ngtcp2_cid dcid, scid;
	ngtcp2_path path;
	int rv;

	if (!c)
		return NULL;
	c->run = run;
	c->id = id;
	c->fd = -1;
	c->expiry = UINT64_MAX;
	ngtcp2_ccerr_default(&c->ccerr);
	c->reqs = calloc(cfg->concurrency, sizeof(*c->reqs));
	if (!c->reqs) {
		free(c);
		return NULL;
	}
	for (unsigned i = cfg->concurrency; i-- > 0;) {
		c->reqs[i].next_free = c->free_reqs;
		c->free_reqs = &c->reqs[i];
	}
	run->active++;
	c->t_start = load_now();

	if ((rv = conn_socket(c)) != 0) {
		conn_fail(c, FAIL_CONN, "UDP socket to %s:%s: %s", cfg->host, cfg->port, strerror(-rv));
		return c;
	}

	dcid.datalen = 18;
	fill_random(dcid.data, dcid.datalen);
	scid.datalen = 17;
	fill_random(scid.data, scid.datalen);

	ngtcp2_settings_default(&settings);
	settings.initial_ts = c->t_start;
	settings.handshake_timeout = cfg->timeout_ns;
	settings.max_window = MAX_WINDOW;
	settings.max_stream_window = MAX_STREAM_WINDOW;

	ngtcp2_transport_params_default(&params);
	params.initial_max_stream_data_bidi_local = 8u << 20; /* responses on our streams */
	params.initial_max_stream_data_uni = 1u << 20;        /* control and QPACK streams */
	params.initial_max_data = 16u << 20;
	if (cfg->rate) {
		/* a window of about 1/8 s: the server runs ahead of the rate by that much */
		params.initial_max_data = cfg->rate / 8 > 64u << 10 ? cfg->rate / 8 : 64u << 10;
		if (params.initial_max_data > 16u << 20)
			params.initial_max_data = 16u << 20;
		settings.max_window = params.initial_max_data;
	}
	params.initial_max_streams_bidi = 0;                  /* a client needs no server pushes */
	params.initial_max_streams_uni = 100;
	params.max_idle_timeout = cfg->timeout_ns;

	path = conn_path(c);
	rv = ngtcp2_conn_client_new(&c->qc, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1,
				    &quic_callbacks, &settings, &params, &qs_ngtcp2_mem, c);
	if (rv != 0) {
		conn_fail(c, FAIL_CONN, "ngtcp2_conn_client_new: %s", ngtcp2_strerror(rv));
		return c;
	}
	if (conn_tls_init(c) != 0) {
		conn_fail(c, FAIL_CONN, "TLS session setup: %s",
			  ERR_reason_error_string(ERR_get_error()) ?: "failed");
		return c;
	}
	/* 0-RTT: HTTP/3 and the requests go out with the Initial, on the remembered limits */
	if (c->early && conn_setup_h3(c) != 0) {
		conn_fail(c, FAIL_CONN, "HTTP/3 set-up for 0-RTT: %s", c->why);
		return c;
	}
	conn_write(c); /* the Initial (and the 0-RTT requests) */
	return c;
}
