// SPDX-License-Identifier: MIT
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/tickets.h"
#include "worker/counters.h"
#include "common/config.h"
#include "worker/handler/accel.h"
#include "worker/handler/files.h"
#include "worker/handler/php.h"
#include "worker/handler/route.h"
#include "worker/http/accesslog.h"
#include "worker/http/errpages.h"
#include "worker/http/h1.h"
#include "worker/http/h2.h"
#include "worker/http/h3.h"
#include "worker/quic/net.h"
#include "worker/quic/quic.h"
#include "worker/quic/tickets.h"
#include "worker/sandbox.h"
#include "worker/site.h"
#include "worker/tcp/tcp.h"
#include "worker/worker.h"

#define RX_BUDGET 64      /* datagrams per socket per wakeup, then flush */
#define EV_SIGNAL (~0u)

uint64_t qs_loop_next_deadline(const struct qs_loop *l)
{
	uint64_t next = UINT64_MAX;

	for (const struct qs_loop_hook *h = l->hooks; h; h = h->next)
		if (h->next_deadline) {
			uint64_t d = h->next_deadline(h->ud);

			if (d < next)
				next = d;
		}
	return next;
}

void qs_loop_on_timer(struct qs_loop *l, uint64_t now)
{
	for (struct qs_loop_hook *h = l->hooks; h; h = h->next)
		if (h->on_timer)
			h->on_timer(h->ud, now);
}

void qs_loop_drain(struct qs_loop *l)
{
	for (struct qs_loop_hook *h = l->hooks; h; h = h->next)
		if (h->drain)
			h->drain(h->ud);
}

void qs_loop_after_events(struct qs_loop *l)
{
	for (struct qs_loop_hook *h = l->hooks; h; h = h->next)
		if (h->after_events)
			h->after_events(h->ud);
}

/* The earliest deadline of the transport and of every module. */
static uint64_t next_deadline(const struct qs_server *s, const struct qs_loop *l)
{
	uint64_t a = qs_server_next_deadline(s), b = qs_loop_next_deadline(l);

	return a < b ? a : b;
}

/*
 * What requests are served from: the site, its handlers' contexts and the
 * router.  The transport and the protocols see only the site.
 */
static int site_init(struct qs_site *site, struct qs_loop *loop, const struct qs_worker_ctx *ctx)
{
	int ret;

	site->cfg = ctx->cfg;
	site->docroot = ctx->docroot;
	site->rate = ctx->rate;
	site->stats = ctx->stats;
	site->gen = ctx->gen;
	site->id = ctx->id;
	site->loop = loop;
	site->route = qs_route;
	qs_http_site_init(site);
	ret = qs_alog_init(site);
	if (!ret)
		ret = qs_static_ctx_new(site);
	if (ret)
		return ret;
	qs_error_pages_load(site);	/* what it cannot read is logged and left built-in */
	site->accel_root = (struct qs_docroot)QS_DOCROOT_INIT;
	if (qs_accel_open(site))
		pr_warn("--accel-redirect: cannot open %s as --user: x-accel-redirect answers "
			"500 until it can (make it readable by the workers' user)",
			ctx->cfg->accel_root);
	if (ctx->cfg->fastcgi != QS_FASTCGI_OFF) {
		site->keep_fields = true;	/* every field reaches PHP as HTTP_* */
		ret = qs_php_ctx_new(site);
	}
	return ret;
}

static void site_free(struct qs_site *site)
{
	qs_php_ctx_free(site);
	qs_static_ctx_free(site);
	qs_enc_ctx_free(site);
	qs_error_pages_free(site);
	qs_accel_close(site);
	qs_alog_free(site);	/* last: the requests closed before it wrote their lines */
}

static int drop_privileges(const struct qs_worker_ctx *ctx)
{
	if (setgroups(0, NULL) || setgid(ctx->gid) || setuid(ctx->uid)) {
		pr_warn("cannot switch to user %s (uid %u): %s", ctx->user,
			(unsigned)ctx->uid, strerror(errno));
		return -errno;
	}
	/* no way back: a compromised worker cannot regain root */
	if (ctx->uid != 0 && setuid(0) == 0) {
		pr_warn("privileges still recoverable after setuid: refusing to run");
		return -EPERM;
	}
	/*
	 * Nor through a setuid binary it could exec; and not dumpable, whatever
	 * fs.suid_dumpable says: PHP code running as the same user can neither
	 * ptrace a worker nor read its memory (the ticket keys, the token secret).
	 */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) {
		pr_warn("cannot set no_new_privs and non-dumpable: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * Count one datagram by its QUIC header and DCID: which worker minted the
 * CID tells whether steering delivered it to its owner.
 */
static void classify(struct qs_worker_ctx *ctx, const struct qs_shared *sh,
		     const uint8_t *p, size_t len)
{
	struct qs_worker_stats *st = ctx->stats;
	struct qs_cid_owner o;
	const uint8_t *dcid;

	count(&st->rx_datagrams, 1);
	count(&st->rx_bytes, len);
	if (len == 0) {
		count(&st->rx_malformed, 1);
		return;
	}
	if (p[0] & 0x80) {
		if (len < 6 + QS_CID_LEN) {
			count(&st->rx_malformed, 1);
			return;
		}
		count(&st->rx_long, 1);
		if (p[5] != QS_CID_LEN) {
			count(&st->rx_cid_other, 1);
			return;
		}
		dcid = p + 6;
	} else {
		if (len < 1 + QS_CID_LEN) {
			count(&st->rx_malformed, 1);
			return;
		}
		count(&st->rx_short, 1);
		dcid = p + 1;
	}
	if (qs_cid_decode_table(dcid, sh->cid_keys, &o) < 0)
		count(&st->rx_cid_other, 1);
	else if (o.gen == ctx->gen && o.worker == ctx->id)
		count(&st->rx_cid_own, 1);
	else
		count(&st->rx_cid_foreign, 1);
}

static void on_readable(struct qs_worker_ctx *ctx, struct qs_server *s, struct qs_endpoint *ep)
{
	struct qs_rx rx;

	for (int i = 0; i < RX_BUDGET; i++) {
		int ret = qs_net_recv(ep, s->rxbuf, sizeof(s->rxbuf), &rx);

		if (ret == -EAGAIN || ret == -EINTR)
			break;
		if (ret < 0) {
			pr_debug("recvmsg: %s", strerror(-ret));
			break;
		}
		if (rx.len == 0) {
			classify(ctx, &s->secrets, s->rxbuf, 0);
			continue;
		}
		/* a GRO batch holds datagrams of gso_size, the last maybe shorter */
		for (size_t off = 0; off < rx.len; off += rx.gso_size) {
			size_t n = rx.len - off < rx.gso_size ? rx.len - off : rx.gso_size;

			classify(ctx, &s->secrets, s->rxbuf + off, n);
			qs_server_read(s, ep, &rx, s->rxbuf + off, n);
		}
	}
	qs_server_flush(s);
}

static int setup_endpoints(struct qs_worker_ctx *ctx, struct qs_server *s)
{
	for (unsigned i = 0; i < ctx->n_fds; i++) {
		struct qs_endpoint *ep = &s->eps[i];
		int ret;

		ep->fd = ctx->fds[i];
		ep->addrlen = sizeof(ep->addr);
		if (getsockname(ep->fd, (struct sockaddr *)&ep->addr, &ep->addrlen))
			return -errno;
		ep->family = ep->addr.ss_family;
		ret = qs_net_setup_socket(ep->fd, ep->family);
		if (ret) {
			pr_warn("cannot set the socket options a QUIC server needs: %s",
				strerror(-ret));
			return ret;
		}
	}
	s->n_eps = ctx->n_fds;
	return 0;
}

/* EPOLLOUT only while a batch waits for socket buffer space. */
static void watch_writable(struct qs_server *s, int ep_fd, bool *watching)
{
	bool want = s->n_blocked > 0;

	if (want == *watching)
		return;
	for (unsigned i = 0; i < s->n_eps; i++) {
		struct epoll_event ev = {
			.events = EPOLLIN | (want ? EPOLLOUT : 0),
			.data.u64 = i,
		};

		epoll_ctl(ep_fd, EPOLL_CTL_MOD, s->eps[i].fd, &ev);
	}
	*watching = want;
}

/* Application protocols over TLS over TCP, by ALPN (NULL-terminated). */
static const struct qs_tcp_app *const tcp_apps[] = {
	&qs_h1_app,
	&qs_h2_app,
	NULL,
};

int qs_worker_main(struct qs_worker_ctx *ctx)
{
	struct epoll_event ev, events[64];
	struct qs_server *s = NULL;
	struct qs_tcp_server *tcp = NULL;
	struct qs_loop loop = { .epfd = -1 };
	struct qs_site site = { 0 };
	pid_t loader = getppid();
	bool watching_out = false;
	char name[32];
	sigset_t mask;
	int ep = -1, sfd = -1, ret = 1;

	snprintf(name, sizeof(name), "worker %u/%u", ctx->gen, ctx->id);
	qs_log_set_name(name);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);	/* reopen the access log (logrotate) */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0) {
		pr_warn("cannot set up the event loop: %s", strerror(errno));
		goto out;
	}
	if (drop_privileges(ctx))
		goto out;
	/*
	 * Die with the loader, even after its kill -9, so nothing is left
	 * behind.  Set after setuid(), which clears it.
	 */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != loader)
		goto out;
	/* QUIC pacing deadlines are microseconds apart: no 50 us timer slack */
	prctl(PR_SET_TIMERSLACK, 1UL);

	/* big (rx/tx buffers inside): keep it off the stack */
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out;
	s->cfg = ctx->cfg;
	s->gen = ctx->gen;
	s->id = ctx->id;
	s->stats = ctx->stats;
	s->shared_live = ctx->shared;
	s->ssl_ctx = ctx->ssl_ctx;
	s->tokens = ctx->tokens;
	memcpy(s->token_key, ctx->tickets->strike_key, sizeof(s->token_key));
	s->site = &site;
	s->app = &qs_h3_app;
	loop.epfd = ep;
	if (site_init(&site, &loop, ctx)) {
		pr_warn("cannot set up the request handlers: out of memory");
		goto out;
	}
	qs_shared_read(ctx->shared, &s->secrets);
	if (qs_tickets_setup(s->ssl_ctx, ctx->cfg, ctx->tickets, ctx->strike, ctx->stats)) {
		pr_warn("cannot install the session ticket callbacks");
		goto out;
	}
	if (qs_server_init(s) || setup_endpoints(ctx, s)) {
		pr_warn("cannot start the QUIC server: %s", strerror(errno));
		goto out;
	}
	if (ctx->tcp_ssl_ctx && ctx->n_tcp_fds) {
		/* the same ticket keys as QUIC; no 0-RTT over TCP */
		if (qs_tickets_setup(ctx->tcp_ssl_ctx, ctx->cfg, ctx->tickets, ctx->strike,
				     ctx->stats)) {
			pr_warn("cannot install the session ticket callbacks for TCP");
			goto out;
		}
		SSL_CTX_set_max_early_data(ctx->tcp_ssl_ctx, 0);
		tcp = qs_tcp_server_new(&site, ctx->tcp_ssl_ctx, ctx->tcp_fds, ctx->n_tcp_fds,
					tcp_apps, sizeof(tcp_apps) / sizeof(tcp_apps[0]) - 1);
		if (!tcp) {
			pr_warn("cannot start serving TCP: %s", strerror(errno));
			goto out;
		}
	}

	ev.events = EPOLLIN;
	ev.data.u64 = EV_SIGNAL;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	for (unsigned i = 0; i < s->n_eps; i++) {
		ev.events = EPOLLIN;
		ev.data.u64 = i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, s->eps[i].fd, &ev)) {
			pr_warn("epoll_ctl: %s", strerror(errno));
			goto out;
		}
	}
	pr_debug("running as %s, %u sockets", ctx->user, ctx->n_fds);
	/* last: from here on, only what serving needs */
	if (ctx->cfg->seccomp && qs_sandbox_enter(name, ctx->cfg))
		goto out;

	for (;;) {
		ngtcp2_tstamp next = next_deadline(s, &loop), now = qs_now();
		struct timespec ts, *tsp = NULL;
		int n;

		if (next != UINT64_MAX) {
			ngtcp2_tstamp d = next > now ? next - now : 0;

			ts.tv_sec = (time_t)(d / NGTCP2_SECONDS);
			ts.tv_nsec = (long)(d % NGTCP2_SECONDS);
			tsp = &ts;
		}
		n = epoll_pwait2(ep, events, 64, tsp, NULL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			pr_warn("epoll_wait: %s", strerror(errno));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			uint64_t data = events[i].data.u64;
			uint32_t what = (uint32_t)data;

			if (data & QS_EV_IO_TAG) {
				struct qs_io *io = (struct qs_io *)(uintptr_t)(data & ~QS_EV_IO_TAG);

				io->on_event(io, events[i].events);
				qs_server_flush(s);
			} else if (what == EV_SIGNAL) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si))
					if (si.ssi_signo == SIGUSR1) {
						qs_alog_reopen(site.alog);
					} else if (si.ssi_signo != SIGHUP) {
						qs_server_start_drain(s);
						qs_loop_drain(&loop);
					}
			} else if (what < s->n_eps) {
				if (events[i].events & EPOLLOUT)
					qs_server_on_writable(s);
				if (events[i].events & (EPOLLIN | EPOLLERR))
					on_readable(ctx, s, &s->eps[what]);
			}
		}
		now = qs_now();
		if (qs_loop_next_deadline(&loop) <= now)
			qs_loop_on_timer(&loop, now);
		if (qs_server_next_deadline(s) <= now)
			qs_server_on_timer(s);	/* flushes what the modules' timers wrote too */
		else
			qs_server_flush(s);
		qs_loop_after_events(&loop);
		watch_writable(s, ep, &watching_out);
		if (s->draining && qs_server_drained(s) && qs_tcp_drained(tcp)) {
			ret = 0;
			goto out;
		}
	}
out:
	if (s) {
		qs_server_free(s);
		free(s);
	}
	qs_tcp_server_free(tcp);
	site_free(&site);
	if (ep >= 0)
		close(ep);
	if (sfd >= 0)
		close(sfd);
	return ret;
}
