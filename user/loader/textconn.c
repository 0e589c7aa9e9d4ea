// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "loader/supervisor.h"
#include "loader/textconn.h"

void qs_mbuf_printf(struct qs_mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = b->cap ? b->cap * 2 : 4096;
			char *p;

			while (cap - b->len <= (size_t)n)
				cap *= 2;
			/* a metrics page is a few hundred KB at most */
			if (cap > (8u << 20) || !(p = realloc(b->p, cap))) {
				b->oom = true;
				return;
			}
			b->p = p;
			b->cap = cap;
		}
	}
}

void qs_textconn_init(struct qs_textconn *c, int n)
{
	memset(c, 0, sizeof(*c) * (size_t)n);
	for (int i = 0; i < n; i++)
		c[i].fd = -1;
}

struct qs_textconn *qs_textconn_free_slot(struct qs_textconn *c, int n)
{
	for (int i = 0; i < n; i++)
		if (c[i].fd < 0)
			return &c[i];
	return NULL;
}

int qs_textconn_pollfds(const struct qs_textconn *c, int n, struct pollfd *p)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		if (c[i].fd >= 0)
			/* a waiting one: POLLHUP and POLLERR only (a client gone) */
			p[k++] = (struct pollfd){ .fd = c[i].fd,
						  .events = c[i].waiting ? 0 :
							    c[i].out.len && !c[i].lingering ?
							    POLLOUT : POLLIN };
	return k;
}

int qs_textconn_timeout(const struct qs_textconn *c, int n)
{
	long long now = qs_now_ms(), next = -1;

	for (int i = 0; i < n; i++)
		if (c[i].fd >= 0 && (next < 0 || c[i].deadline_ms < next))
			next = c[i].deadline_ms;
	if (next < 0)
		return -1;
	return next <= now ? 0 : (int)(next - now);
}

struct qs_textconn *qs_textconn_by_fd(struct qs_textconn *c, int n, int fd)
{
	for (int i = 0; i < n; i++)
		if (c[i].fd == fd)
			return &c[i];
	return NULL;
}

bool qs_textconn_write(struct qs_textconn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = write(c->fd, c->out.p + c->out_off, c->out.len - c->out_off);

		if (n < 0) {
			if (errno != EAGAIN)
				qs_textconn_close(c);
			return false;
		}
		c->out_off += (size_t)n;
	}
	return true;
}

void qs_textconn_linger(struct qs_textconn *c)
{
	char sink[512];
	ssize_t n;

	if (!c->lingering) {
		c->lingering = true;
		shutdown(c->fd, SHUT_WR);
	}
	while ((n = read(c->fd, sink, sizeof(sink))) > 0)
		;
	if (n == 0 || errno != EAGAIN)
		qs_textconn_close(c);
}

void qs_textconn_close(struct qs_textconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->out.p);
	qs_textconn_init(c, 1);
}

void qs_textconn_close_fds(struct qs_textconn *c, int n)
{
	for (int i = 0; i < n; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
}

void qs_textconn_close_all(struct qs_textconn *c, int n)
{
	for (int i = 0; i < n; i++)
		qs_textconn_close(&c[i]);
}

int qs_textconn_accept(int lfd, long long now, long long *paused_until_ms, const char *what)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0)
			return fd;
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN) {
			pr_warn("%s: accept: %s; pausing %d ms", what, strerror(errno),
				QS_ACCEPT_PAUSE_MS);
			*paused_until_ms = now + QS_ACCEPT_PAUSE_MS;
		}
		return -1;
	}
}
