// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#include <openssl/err.h>

#include "common/config.h"
#include "common/log.h"
#include "quicsteer/steer.h"
#include "worker/counters.h"
#include "worker/site.h"
#include "worker/tcp/tcp.h"

#define READ_CHUNK   (16u << 10)    /* one TLS record */
#define OUT_MAX      (8u << 20)     /* an application that queues more is broken: close */
#define APPS_MAX     4
#define LINGER_POLL_NS (10u * 1000000u) /* the kernel says nothing when the client acks */

/*
 * The timeout lists: a connection is on at most one, and each list has one
 * timeout, so appending keeps it ordered and the oldest is first.
 */
enum {
	TL_HANDSHAKE,   /* TLS handshake not complete: --handshake-timeout */
	TL_IDLE,        /* kept alive with no request: --keepalive-timeout */
	TL_FLUSH,       /* closing once its queue is sent: --send-timeout */
	TL_LINGER,      /* shut for writing, dropping what comes: QS_TCP_LINGER_MS */
	TL_N,
};

struct tlist {
	struct qs_tcp_conn *head, *tail;
};

struct qs_tcp_listener {
	struct qs_io io;                /* first: the loop calls back with its address */
	struct qs_tcp_server *srv;
	int fd;
	char alt_svc[48];
};

struct qs_tcp_server {
	struct qs_site *site;
	SSL_CTX *ctx;
	const struct qs_tcp_app *apps[APPS_MAX];
	unsigned n_apps;
	struct qs_tcp_listener ls[QS_MAX_LISTENERS];
	unsigned n_ls;
	struct qs_tcp_conn *conns;      /* every open connection */
	unsigned n_conns;
	struct tlist lists[TL_N];
	struct qs_tcp_conn *ready;      /* to flush or to read again: from the hook */
	struct qs_tcp_conn *dead;       /* closed during a batch of events: freed after it */
	struct qs_loop_hook hook;
	bool draining;
	uint64_t drain_until;
};

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t list_timeout_ns(const struct qs_tcp_server *srv, int l)
{
	const struct qs_config *cfg = srv->site->cfg;
	unsigned ms = l == TL_HANDSHAKE ? cfg->handshake_timeout_ms :
		      l == TL_IDLE ? cfg->keepalive_timeout_ms :
		      l == TL_LINGER ? QS_TCP_LINGER_MS : cfg->send_timeout_ms;

	return (uint64_t)ms * 1000000u;
}

static void tl_unlink(struct qs_tcp_conn *c)
{
	struct tlist *l;

	if (c->t_list < 0)
		return;
	l = &c->srv->lists[c->t_list];
	if (c->t_prev)
		c->t_prev->t_next = c->t_next;
	else
		l->head = c->t_next;
	if (c->t_next)
		c->t_next->t_prev = c->t_prev;
	else
		l->tail = c->t_prev;
	c->t_prev = c->t_next = NULL;
	c->t_list = -1;
}

/* (Re)start the clock of list which (-1: none). */
static void tl_set(struct qs_tcp_conn *c, int which)
{
	struct tlist *l;

	tl_unlink(c);
	if (which < 0)
		return;
	l = &c->srv->lists[which];
	c->t_at = coarse_ns();
	c->t_list = which;
	c->t_prev = l->tail;
	if (l->tail)
		l->tail->t_next = c;
	else
		l->head = c;
	l->tail = c;
}

static void make_ready(struct qs_tcp_conn *c)
{
	if (c->in_ready || c->dead)
		return;
	c->in_ready = true;
	c->r_next = c->srv->ready;
	c->srv->ready = c;
}

static const char *ssl_reason(void)
{
	static char buf[160];
	unsigned long e = ERR_get_error();

	if (!e)
		return "connection closed";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* ---- closing ------------------------------------------------------------- */

/* Off the socket and every list; freed (and the application told) after the batch. */
static void conn_kill(struct qs_tcp_conn *c)
{
	struct qs_tcp_server *srv = c->srv;

	if (c->dead)
		return;
	c->dead = true;
	tl_unlink(c);
	if (c->fd >= 0) {
		epoll_ctl(srv->site->loop->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	count(&srv->site->stats->tcp_closed, 1);
	count_set(&srv->site->stats->tcp_active, srv->n_conns);
	c->next = srv->dead;
	srv->dead = c;
}

static void conn_free(struct qs_tcp_conn *c)
{
	if (c->app && c->app->close)
		c->app->close(c);
	qs_resp_held(c->site, -(int64_t)qs_tcp_queued(c));
	SSL_free(c->ssl);
	free(c->out);
	free(c->in_held);
	free(c);
}

static void free_dead(struct qs_tcp_server *srv)
{
	/* an application's close() may close others: take the list as it grows */
	while (srv->dead) {
		struct qs_tcp_conn *c = srv->dead;

		srv->dead = c->next;
		conn_free(c);
	}
}

/* Read and drop what the client still sends; closed at its end, or past the limits. */
static void linger_read(struct qs_tcp_conn *c)
{
	uint8_t buf[READ_CHUNK];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0 || (c->linger_bytes += (uint32_t)n) > QS_TCP_LINGER_BYTES) {
			conn_kill(c);
			return;
		}
	}
}

/*
 * Every LINGER_POLL_NS: while the client acknowledges the answer's tail
 * (what the socket still holds shrinks), the lingering goes on.  A drained
 * HTTP/2 connection's tail can be the socket's whole send buffer, megabytes
 * that a slow reader takes longer than QS_TCP_LINGER_MS to read.
 */
static void linger_poll(struct qs_tcp_conn *c)
{
	int unacked;

	if (!ioctl(c->fd, SIOCOUTQ, &unacked) && unacked < c->unacked) {
		c->unacked = unacked;
		tl_set(c, TL_LINGER);
	}
	linger_read(c);
}

void qs_tcp_close(struct qs_tcp_conn *c, bool flush)
{
	if (c->dead || c->lingering)
		return;
	if (flush && qs_tcp_queued(c)) {
		c->closing = true;
		tl_set(c, TL_FLUSH);
		make_ready(c);
		return;
	}
	if (flush && c->handshake_done) {
		/* close_notify: the client tells a complete answer from a cut one */
		ERR_clear_error();
		SSL_shutdown(c->ssl);
	}
	if (flush && c->linger && c->handshake_done) {
		/* the TLS records are out: shut our side, drop what comes (TLS or not) */
		c->closing = c->lingering = true;
		shutdown(c->fd, SHUT_WR);
		c->unacked = INT_MAX;
		tl_set(c, TL_LINGER);
		linger_read(c);
		return;
	}
	conn_kill(c);
}

void qs_tcp_close_lingering(struct qs_tcp_conn *c)
{
	c->linger = true;
	qs_tcp_close(c, true);
}

/* ---- writing ------------------------------------------------------------- */

/* Write what is queued until the socket is full; -1 when the connection died. */
static int flush(struct qs_tcp_conn *c)
{
	while (c->out_off < c->out_len) {
		size_t len = c->out_len - c->out_off;
		int n;

		ERR_clear_error();
		n = SSL_write(c->ssl, c->out + c->out_off, len > INT32_MAX ? INT32_MAX : (int)len);
		if (n <= 0) {
			int err = SSL_get_error(c->ssl, n);

			if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ)
				return 0;	/* EPOLLOUT (edge-triggered, always armed) resumes */
			pr_debug("tcp: write to a client failed: %s", ssl_reason());
			conn_kill(c);
			return -1;
		}
		c->out_off += (size_t)n;
		qs_resp_held(c->site, -(int64_t)n);
		if (c->t_list == TL_FLUSH)
			tl_set(c, TL_FLUSH);	/* progress: the send timeout runs from now */
	}
	c->out_off = c->out_len = 0;
	if (c->closing) {
		qs_tcp_close(c, true);
		return -1;
	}
	return 0;
}

/* After a flush: an application that was held back may produce again. */
static void after_flush(struct qs_tcp_conn *c)
{
	if (c->dead || !c->over_high || qs_tcp_queued(c) >= QS_TCP_OUT_HIGH)
		return;
	c->over_high = false;
	if (c->app && c->app->writable)
		c->app->writable(c);
}

int qs_tcp_send(struct qs_tcp_conn *c, const uint8_t *data, size_t len)
{
	if (c->dead || c->closing)
		return 0;
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 16384;
		uint8_t *b;

		/* move what is left to the front before growing */
		if (c->out_off) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		while (cap < c->out_len + len)
			cap *= 2;
		if (cap > OUT_MAX) {
			pr_warn("tcp: an application queued over %u bytes on one connection: "
				"closed", OUT_MAX);
			conn_kill(c);
			return -ENOBUFS;
		}
		if (cap > c->out_cap) {
			b = realloc(c->out, cap);
			if (!b)
				return -ENOMEM;
			c->out = b;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	qs_resp_held(c->site, (int64_t)len);	/* in the worker's budget until written */
	if (qs_tcp_queued(c) >= QS_TCP_OUT_HIGH)
		c->over_high = true;
	make_ready(c);		/* written once the batch is over: fewer, fuller records */
	return 0;
}

/* ---- reading ------------------------------------------------------------- */

/* Give bytes to the application; false when it paused or the connection died. */
static bool deliver(struct qs_tcp_conn *c, const uint8_t *data, size_t len)
{
	ssize_t took = c->app->recv(c, data, len);

	if (c->dead)
		return false;
	if (took < 0) {
		qs_tcp_close(c, true);
		return false;
	}
	if ((size_t)took >= len)
		return true;
	/* keep the rest until the application asks again */
	free(c->in_held);
	c->in_held = malloc(len - (size_t)took);
	if (!c->in_held) {
		conn_kill(c);
		return false;
	}
	memcpy(c->in_held, data + took, len - (size_t)took);
	c->in_len = len - (size_t)took;
	c->in_off = 0;
	c->read_paused = true;
	return false;
}

static void handshake_done(struct qs_tcp_conn *c)
{
	struct qs_tcp_server *srv = c->srv;
	struct qs_worker_stats *st = srv->site->stats;
	const unsigned char *alpn = NULL;
	unsigned alen = 0;

	c->handshake_done = true;
	c->tls.version = SSL_get_version(c->ssl);
	c->tls.cipher = SSL_get_cipher_name(c->ssl);
	c->tls.resumed = SSL_session_reused(c->ssl);
	count(c->tls.resumed ? &st->tcp_hs_resumed : &st->tcp_hs_full, 1);
	SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
	/* no ALPN: HTTP/1.1, as every client that sends none means */
	for (unsigned i = 0; i < srv->n_apps && !c->app; i++)
		if (alpn ? strlen(srv->apps[i]->alpn) == alen &&
			   !memcmp(srv->apps[i]->alpn, alpn, alen) :
			   !strcmp(srv->apps[i]->alpn, "http/1.1"))
			c->app = srv->apps[i];
	if (!c->app) {
		pr_debug("tcp: no application for ALPN %.*s: closed", (int)alen,
			 alpn ? (const char *)alpn : "");
		conn_kill(c);
		return;
	}
	c->idle = true;
	tl_set(c, TL_IDLE);
	if (c->app->open(c)) {
		c->app = NULL;	/* nothing of it to free */
		conn_kill(c);
		return;
	}
	if (srv->draining && c->app->drain)
		c->app->drain(c);
}

static void do_read(struct qs_tcp_conn *c)
{
	uint8_t buf[READ_CHUNK];

	if (!c->handshake_done) {
		int r;

		ERR_clear_error();
		r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			int err = SSL_get_error(c->ssl, r);

			if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
				return;
			pr_debug("tcp: TLS handshake failed: %s", ssl_reason());
			count(&c->srv->site->stats->tcp_hs_failed, 1);
			conn_kill(c);
			return;
		}
		handshake_done(c);
		if (c->dead)
			return;
	}
	/* what the application left last time comes first */
	if (c->in_len) {
		size_t len = c->in_len - c->in_off;
		ssize_t took = c->app->recv(c, c->in_held + c->in_off, len);

		if (c->dead)
			return;
		if (took < 0) {
			qs_tcp_close(c, true);
			return;
		}
		if ((size_t)took < len) {
			c->in_off += (size_t)took;
			c->read_paused = true;
			return;
		}
		free(c->in_held);
		c->in_held = NULL;
		c->in_len = c->in_off = 0;
	}
	while (!c->read_paused && !c->closing && !c->dead) {
		int n;

		ERR_clear_error();
		n = SSL_read(c->ssl, buf, sizeof(buf));
		if (n <= 0) {
			int err = SSL_get_error(c->ssl, n);

			if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
				return;
			/* the client closed (close_notify or EOF) or broke the stream */
			conn_kill(c);
			return;
		}
		if (!deliver(c, buf, (size_t)n))
			return;
	}
}

void qs_tcp_resume_read(struct qs_tcp_conn *c)
{
	if (!c->read_paused || c->dead)
		return;
	c->read_paused = false;
	c->read_again = true;	/* from the hook: never inside the application's call */
	make_ready(c);
}

void qs_tcp_wake(struct qs_tcp_conn *c)
{
	if (c->dead || c->closing)
		return;
	c->wake = true;
	make_ready(c);
}

void qs_tcp_set_idle(struct qs_tcp_conn *c, bool idle)
{
	if (c->dead || c->closing || c->idle == idle)
		return;
	c->idle = idle;
	tl_set(c, idle ? TL_IDLE : -1);
}

static void on_conn_event(struct qs_io *io, uint32_t events)
{
	struct qs_tcp_conn *c = (struct qs_tcp_conn *)io;

	if (c->dead)
		return;
	if (c->lingering) {
		linger_read(c);
		return;
	}
	if ((events & EPOLLOUT) && c->handshake_done) {
		if (flush(c))
			return;
		after_flush(c);
		if (c->dead)
			return;
	}
	/*
	 * Read on every event: a handshake (and a TLS 1.3 ticket after it)
	 * that wanted to write goes on when the socket is writable again;
	 * with nothing to read this costs one recv.
	 */
	do_read(c);
}

/* ---- accepting ----------------------------------------------------------- */

static void conn_new(struct qs_tcp_listener *l, int fd)
{
	struct qs_tcp_server *srv = l->srv;
	struct qs_worker_stats *st = srv->site->stats;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET };
	struct qs_tcp_conn *c;
	socklen_t len;
	int one = 1;

	if (srv->n_conns >= srv->site->cfg->max_tcp_conns) {
		count(&st->tcp_refused, 1);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->io.on_event = on_conn_event;
	c->srv = srv;
	c->site = srv->site;
	c->fd = fd;
	c->t_list = -1;
	c->alt_svc = l->alt_svc[0] ? l->alt_svc : NULL;
	len = sizeof(c->peer);
	getpeername(fd, (struct sockaddr *)&c->peer, &len);
	len = sizeof(c->local);
	getsockname(fd, (struct sockaddr *)&c->local, &len);
	/* responses are written whole by the batch: no Nagle delay on their tail */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->ssl = SSL_new(srv->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
		SSL_free(c->ssl);
		close(fd);
		free(c);
		return;
	}
	SSL_set_accept_state(c->ssl);
	ev.data.u64 = QS_EV_IO_TAG | (uint64_t)(uintptr_t)&c->io;
	if (epoll_ctl(srv->site->loop->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		SSL_free(c->ssl);
		close(fd);
		free(c);
		return;
	}
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	count(&st->tcp_accepted, 1);
	count_set(&st->tcp_active, srv->n_conns);
	tl_set(c, TL_HANDSHAKE);
}

static void on_listen_event(struct qs_io *io, uint32_t events)
{
	struct qs_tcp_listener *l = (struct qs_tcp_listener *)io;

	(void)events;
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				pr_warn("tcp: cannot accept: %s (the descriptor limit: see "
					"--max-tcp-connections)", strerror(errno));
			return;	/* EAGAIN: the queue is empty */
		}
		conn_new(l, fd);
	}
}

/* ---- the loop hook: timeouts, the ready list, the drain ------------------ */

static uint64_t tcp_next_deadline(void *ud)
{
	struct qs_tcp_server *srv = ud;
	uint64_t next = srv->draining && srv->conns ? srv->drain_until : UINT64_MAX;

	if (srv->ready)
		return 0;
	if (srv->lists[TL_LINGER].head && coarse_ns() + LINGER_POLL_NS < next)
		next = coarse_ns() + LINGER_POLL_NS;
	for (int l = 0; l < TL_N; l++) {
		const struct qs_tcp_conn *c = srv->lists[l].head;

		if (c && c->t_at + list_timeout_ns(srv, l) < next)
			next = c->t_at + list_timeout_ns(srv, l);
	}
	return next;
}

static void run_ready(struct qs_tcp_server *srv)
{
	while (srv->ready) {
		struct qs_tcp_conn *c = srv->ready;

		srv->ready = c->r_next;
		c->in_ready = false;
		if (c->dead || c->lingering)
			continue;
		if (c->read_again) {
			c->read_again = false;
			do_read(c);
			if (c->dead)
				continue;
		}
		if (c->wake) {
			c->wake = false;
			if (c->app && c->app->writable)
				c->app->writable(c);
			if (c->dead)
				continue;
		}
		if (flush(c))
			continue;
		after_flush(c);
	}
}

static void tcp_on_timer(void *ud, uint64_t now)
{
	struct qs_tcp_server *srv = ud;
	uint64_t coarse = coarse_ns();

	run_ready(srv);
	for (struct qs_tcp_conn *c = srv->lists[TL_LINGER].head, *next; c; c = next) {
		next = c->t_next;
		linger_poll(c);	/* may move it to the end, or close it */
	}
	for (int l = 0; l < TL_N; l++) {
		uint64_t to = list_timeout_ns(srv, l);
		struct qs_tcp_conn *c;

		while ((c = srv->lists[l].head) && c->t_at + to <= coarse) {
			if (l == TL_HANDSHAKE)
				count(&srv->site->stats->tcp_hs_failed, 1);
			conn_kill(c);	/* unlinks it */
		}
	}
	if (srv->draining && srv->conns && now >= srv->drain_until) {
		pr_info("tcp: %u connections still open at --drain-timeout: closed",
			srv->n_conns);
		while (srv->conns)
			conn_kill(srv->conns);
	}
}

static void tcp_drain(void *ud)
{
	struct qs_tcp_server *srv = ud;
	struct qs_tcp_conn *c, *next;

	if (srv->draining)
		return;
	srv->draining = true;
	/*
	 * No new connections: the listener leaves its reuseport group, and
	 * the group's steering program (bpf/steer.bpf.c, qs_tcp_steer) moves
	 * what waits in its queues to the current generation instead of the
	 * kernel resetting it.
	 */
	for (unsigned i = 0; i < srv->n_ls; i++) {
		epoll_ctl(srv->site->loop->epfd, EPOLL_CTL_DEL, srv->ls[i].fd, NULL);
		shutdown(srv->ls[i].fd, SHUT_RD);
	}
	srv->drain_until = qs_clock_ns() + (uint64_t)srv->site->cfg->drain_timeout_ms * 1000000u;
	for (c = srv->conns; c; c = next) {
		next = c->next;
		c->draining = true;
		if (!c->app)
			continue;	/* in its handshake: drained once it completes */
		if (c->app->drain)
			c->app->drain(c);
		else
			qs_tcp_close(c, true);
	}
}

static void tcp_after_events(void *ud)
{
	free_dead(ud);
}

bool qs_tcp_drained(const struct qs_tcp_server *srv)
{
	return !srv || !srv->conns;
}

/* ---- set-up -------------------------------------------------------------- */

struct qs_tcp_server *qs_tcp_server_new(struct qs_site *site, SSL_CTX *ctx, const int *fds,
					unsigned n_fds, const struct qs_tcp_app *const *apps,
					unsigned n_apps)
{
	struct qs_tcp_server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return NULL;
	srv->site = site;
	srv->ctx = ctx;
	for (unsigned i = 0; i < n_apps && i < APPS_MAX; i++)
		srv->apps[srv->n_apps++] = apps[i];
	for (unsigned i = 0; i < n_fds && i < QS_MAX_LISTENERS; i++) {
		struct qs_tcp_listener *l = &srv->ls[srv->n_ls];
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		unsigned port = 0;

		l->io.on_event = on_listen_event;
		l->srv = srv;
		l->fd = fds[i];
		if (!getsockname(l->fd, (struct sockaddr *)&ss, &len))
			port = ntohs(ss.ss_family == AF_INET6 ?
				     ((struct sockaddr_in6 *)&ss)->sin6_port :
				     ((struct sockaddr_in *)&ss)->sin_port);
		/* HTTP/3 listens on the same address and port (RFC 7838 3: same host) */
		if (site->cfg->alt_svc && port)
			snprintf(l->alt_svc, sizeof(l->alt_svc), "h3=\":%u\"; ma=86400", port);
		ev.data.u64 = QS_EV_IO_TAG | (uint64_t)(uintptr_t)&l->io;
		if (epoll_ctl(site->loop->epfd, EPOLL_CTL_ADD, l->fd, &ev)) {
			int err = errno;

			qs_tcp_server_free(srv);
			errno = err;
			return NULL;
		}
		srv->n_ls++;
		on_listen_event(&l->io, EPOLLIN);	/* what queued before we listened */
	}
	srv->hook = (struct qs_loop_hook){
		.ud = srv,
		.next_deadline = tcp_next_deadline,
		.on_timer = tcp_on_timer,
		.drain = tcp_drain,
		.after_events = tcp_after_events,
	};
	qs_loop_add_hook(site->loop, &srv->hook);
	return srv;
}

void qs_tcp_server_free(struct qs_tcp_server *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_kill(srv->conns);
	free_dead(srv);
	for (unsigned i = 0; i < srv->n_ls; i++)
		epoll_ctl(srv->site->loop->epfd, EPOLL_CTL_DEL, srv->ls[i].fd, NULL);
	free(srv);
}
