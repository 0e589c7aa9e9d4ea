// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/config.h"
#include "common/log.h"
#include "loader/pool.h"
#include "loader/supervisor.h"
#include "loader/textconn.h"

void qs_pool_init(struct qs_pool *p)
{
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}

int qs_pool_setup(struct qs_pool *p, const struct qs_config *cfg, const char *status_socket,
		  const char *status_path)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&p->addr;
	const char *where = status_socket;
	ssize_t n;

	qs_pool_close(p);
	qs_pool_init(p);
	if (!status_path || !status_path[0])
		return 0;	/* unknown: nothing to ask */
	if (cfg->fastcgi == QS_FASTCGI_TCP && !status_socket) {
		where = cfg->fastcgi_addr;
		if (qs_addr_parse(where, &p->addr, &p->addr_len)) {
			pr_warn("--php-status-path: the pool's address %s is not IPv4:PORT or "
				"[IPv6]:PORT, which the status query needs", where);
			return -EINVAL;
		}
	} else {
		if (!status_socket)
			where = cfg->fastcgi_addr;
		if (strlen(where) >= sizeof(un->sun_path)) {
			pr_warn("php-fpm status: the socket path %s is longer than a unix "
				"socket's %zu bytes", where, sizeof(un->sun_path) - 1);
			return -ENAMETOOLONG;
		}
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, where);
		p->addr_len = sizeof(*un);
	}
	n = qs_fpm_status_request(p->req, sizeof(p->req), status_path);
	if (n < 0 || strlen(status_path) >= sizeof(p->path)) {
		pr_warn("--php-status-path '%s': expected the pool's pm.status_path, a path "
			"starting with '/' of at most %zu bytes", status_path, sizeof(p->path) - 1);
		return -EINVAL;
	}
	p->req_len = (size_t)n;
	snprintf(p->where, sizeof(p->where), "%s%s", cfg->fastcgi == QS_FASTCGI_TCP &&
		 !status_socket ? "tcp:" : "", where);
	snprintf(p->path, sizeof(p->path), "%s", status_path);
	p->asked = true;
	return 0;
}

/* The query is over: it got no status, for the reason fmt says. */
static void finish(struct qs_pool *p, enum qs_pool_state state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void finish(struct qs_pool *p, enum qs_pool_state state, const char *fmt, ...)
{
	va_list ap;

	qs_pool_close(p);
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	/* said once, not every QS_POOL_INTERVAL_MS while it lasts */
	if (p->state != state)
		pr_warn("php-fpm status (%s, %s): %s", p->where, p->path, p->why);
	p->failures++;
	p->state = state;
	p->at = time(NULL);
}

/* The query is over: the status is in p->last. */
static void succeed(struct qs_pool *p)
{
	qs_pool_close(p);
	if (p->state != QS_POOL_UP && p->at)
		pr_info("php-fpm status (%s, %s) answers again", p->where, p->path);
	p->why[0] = '\0';
	p->state = QS_POOL_UP;
	p->at = time(NULL);
}

/* connect() or a connection's error: down when nothing listens there. */
static void failed_connect(struct qs_pool *p, int err)
{
	if (err == ECONNREFUSED || err == ENOENT)
		finish(p, QS_POOL_DOWN, "nothing listens on %s: %s", p->where, strerror(err));
	else if (err == EAGAIN)
		finish(p, QS_POOL_FAILING, "%s: its listen backlog is full", p->where);
	else
		finish(p, QS_POOL_FAILING, "cannot connect to %s: %s", p->where, strerror(err));
}

static void start(struct qs_pool *p, long long now)
{
	p->next_ms = now + QS_POOL_INTERVAL_MS;
	p->deadline_ms = now + QS_POOL_TIMEOUT_MS;
	p->req_off = 0;
	p->in_len = 0;
	p->sent = false;
	p->fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		finish(p, QS_POOL_FAILING, "socket: %s", strerror(errno));
		return;
	}
	if (connect(p->fd, (struct sockaddr *)&p->addr, p->addr_len) && errno != EINPROGRESS)
		failed_connect(p, errno);
}

int qs_pool_tick(struct qs_pool *p)
{
	long long now = qs_now_ms();

	if (!p->asked)
		return -1;
	if (p->fd >= 0 && now >= p->deadline_ms)
		finish(p, QS_POOL_FAILING, "no status answer within %d ms (%s)",
		       QS_POOL_TIMEOUT_MS, p->sent ? "request sent" : "not connected");
	if (p->fd < 0 && now >= p->next_ms)
		start(p, now);
	if (p->fd >= 0)
		return (int)(p->deadline_ms - now);
	return (int)(p->next_ms - now);
}

int qs_pool_pollfds(const struct qs_pool *p, struct pollfd *pfd)
{
	if (p->fd < 0)
		return 0;
	pfd->fd = p->fd;
	pfd->events = p->sent ? POLLIN : POLLOUT;
	return 1;
}

static void send_request(struct qs_pool *p)
{
	int err = 0;
	socklen_t len = sizeof(err);
	ssize_t n;

	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err) {
		failed_connect(p, err);
		return;
	}
	n = send(p->fd, p->req + p->req_off, p->req_len - p->req_off, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN)
			return;
		failed_connect(p, errno);
		return;
	}
	p->req_off += (size_t)n;
	p->sent = p->req_off == p->req_len;
}

static void read_answer(struct qs_pool *p)
{
	const char *why;
	ssize_t n;

	/* one byte more than the limit: an answer that fills it is too large */
	n = read(p->fd, p->in + p->in_len, sizeof(p->in) - p->in_len);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			finish(p, QS_POOL_FAILING, "reading the status from %s: %s", p->where,
			       strerror(errno));
		return;
	}
	p->in_len += (size_t)n;
	if (p->in_len > QS_FPM_STATUS_MAX) {
		finish(p, QS_POOL_FAILING, "the status answer is larger than %d bytes",
		       QS_FPM_STATUS_MAX);
		return;
	}
	if (n > 0)
		return;
	/* php-fpm closes after the answer (the connection is not kept) */
	if (qs_fpm_status_parse(p->in, p->in_len, &p->last, &why))
		finish(p, QS_POOL_FAILING, "%s", why);
	else
		succeed(p);
}

void qs_pool_handle(struct qs_pool *p, const struct pollfd *pfd, int n)
{
	for (int k = 0; k < n && p->fd >= 0; k++) {
		if (pfd[k].fd != p->fd || !pfd[k].revents)
			continue;
		if (!p->sent)
			send_request(p);
		else
			read_answer(p);
	}
}

void qs_pool_down(struct qs_pool *p, const char *why)
{
	if (!p->asked || p->state == QS_POOL_DOWN)
		return;
	finish(p, QS_POOL_DOWN, "%s", why);
	p->next_ms = 0;	/* asked again as soon as it may be back */
}

void qs_pool_close(struct qs_pool *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

const char *qs_pool_state_name(enum qs_pool_state s)
{
	switch (s) {
	case QS_POOL_UP: return "up";
	case QS_POOL_DOWN: return "down";
	case QS_POOL_FAILING: return "failing";
	default: return "unknown";
	}
}

void qs_pool_metrics(const struct qs_pool *p, struct qs_mbuf *b)
{
	const struct qs_fpm_pool *l = &p->last;

	if (!p->asked)
		return;	/* no status page: unknown, nothing to say */
	qs_mbuf_printf(b, "# HELP quicsteer_phpfpm_status_up 1 when php-fpm's status page "
		       "answered the last query (every %d s)\n"
		       "# TYPE quicsteer_phpfpm_status_up gauge\nquicsteer_phpfpm_status_up %d\n"
		       "# HELP quicsteer_phpfpm_status_failures_total status queries that got "
		       "no status (php-fpm down, no answer in time, a bad answer)\n"
		       "# TYPE quicsteer_phpfpm_status_failures_total counter\n"
		       "quicsteer_phpfpm_status_failures_total %llu\n",
		       QS_POOL_INTERVAL_MS / 1000, p->state == QS_POOL_UP, p->failures);
	if (p->state != QS_POOL_UP)
		return;	/* no figures rather than stale ones */
	qs_mbuf_printf(b, "# HELP quicsteer_phpfpm_active_processes pool processes running a "
		       "request\n# TYPE quicsteer_phpfpm_active_processes gauge\n"
		       "quicsteer_phpfpm_active_processes %llu\n"
		       "# HELP quicsteer_phpfpm_idle_processes pool processes waiting for a "
		       "request\n# TYPE quicsteer_phpfpm_idle_processes gauge\n"
		       "quicsteer_phpfpm_idle_processes %llu\n"
		       "# HELP quicsteer_phpfpm_total_processes pool processes\n"
		       "# TYPE quicsteer_phpfpm_total_processes gauge\n"
		       "quicsteer_phpfpm_total_processes %llu\n"
		       "# HELP quicsteer_phpfpm_listen_queue connections waiting for a pool "
		       "process\n# TYPE quicsteer_phpfpm_listen_queue gauge\n"
		       "quicsteer_phpfpm_listen_queue %llu\n"
		       "# HELP quicsteer_phpfpm_max_children_reached_total times the pool "
		       "reached pm.max_children (dynamic, ondemand)\n"
		       "# TYPE quicsteer_phpfpm_max_children_reached_total counter\n"
		       "quicsteer_phpfpm_max_children_reached_total %llu\n"
		       "# HELP quicsteer_phpfpm_accepted_connections_total connections the pool "
		       "accepted since php-fpm started\n"
		       "# TYPE quicsteer_phpfpm_accepted_connections_total counter\n"
		       "quicsteer_phpfpm_accepted_connections_total %llu\n"
		       "# HELP quicsteer_phpfpm_slow_requests_total requests over "
		       "request_slowlog_timeout\n# TYPE quicsteer_phpfpm_slow_requests_total counter\n"
		       "quicsteer_phpfpm_slow_requests_total %llu\n",
		       (unsigned long long)l->active, (unsigned long long)l->idle,
		       (unsigned long long)l->total, (unsigned long long)l->listen_queue,
		       (unsigned long long)l->max_children_reached,
		       (unsigned long long)l->accepted_conn, (unsigned long long)l->slow_requests);
}
