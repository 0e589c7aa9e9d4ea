// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/log.h"
#include "loader/metrics.h"
#include "loader/supervisor.h"

#define CLIENT_MS 2000

void qs_metrics_init(struct qs_metrics *m)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	qs_textconn_init(m->c, QS_METRICS_CLIENTS);
}

int qs_metrics_open(struct qs_metrics *m, const char *addr, qs_metrics_render_fn render,
		    void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, err;

	if (m->fd >= 0) {	/* adopted from the previous binary (upgrade.c) */
		m->render = render;
		m->arg = arg;
		return 0;
	}
	qs_metrics_init(m);
	m->render = render;
	m->arg = arg;
	if (qs_addr_parse(addr, &ss, &len)) {
		pr_warn("metrics address '%s': expected IPv4:PORT or [IPv6]:PORT", addr);
		return -EINVAL;
	}
	m->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd < 0) {
		err = -errno;
		pr_warn("metrics endpoint %s: socket: %s", addr, strerror(errno));
		return err;
	}
	setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(m->fd, (struct sockaddr *)&ss, len) || listen(m->fd, 16)) {
		err = -errno;
		pr_warn("metrics endpoint %s: %s%s", addr, strerror(errno),
			err == -EADDRINUSE ? " (another process has it: pick another --metrics port)" :
			err == -EADDRNOTAVAIL ? " (no such local address)" : "");
		close(m->fd);
		m->fd = -1;
		return err;
	}
	pr_info("metrics on http://%s/metrics, health on http://%s/health", addr, addr);
	return 0;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* The request line is in: build the whole response. */
static void answer(struct qs_metrics *m, struct qs_textconn *c)
{
	struct qs_mbuf body = { 0 };
	char path[256] = "";
	int status = 400;
	bool head = false;

	c->in[c->in_len] = '\0';
	if (!strncmp(c->in, "GET ", 4) || (head = !strncmp(c->in, "HEAD ", 5))) {
		const char *p = c->in + (head ? 5 : 4);
		size_t n = strcspn(p, " ?\r\n");

		if (n < sizeof(path)) {
			memcpy(path, p, n);
			path[n] = '\0';
			status = m->render(m->arg, path, &body);
		}
	} else {
		status = 405;
	}
	if (body.oom)
		status = 500;
	if (status != 200 && status != 503 && status != 404)
		body.len = 0;
	qs_mbuf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		       "Connection: close\r\n%s\r\n", status, reason(status),
		       !strcmp(path, "/metrics") ? "text/plain; version=0.0.4; charset=utf-8" :
		       "text/plain; charset=utf-8", body.len,
		       status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head && body.len)
		qs_mbuf_printf(&c->out, "%.*s", (int)body.len, body.p);
	free(body.p);
	if (c->out.oom)
		qs_textconn_close(c);
}

static void client_io(struct qs_metrics *m, struct qs_textconn *c)
{
	if (!c->out.len) {
		ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);

		if (n <= 0) {
			if (n < 0 && errno == EAGAIN)
				return;
			qs_textconn_close(c);
			return;
		}
		c->in_len += (size_t)n;
		c->in[c->in_len] = '\0';
		/*
		 * Answer once the header block is in: closing with request bytes
		 * unread would reset the connection under the answer.
		 */
		if (!strstr(c->in, "\r\n\r\n") && !strstr(c->in, "\n\n")) {
			if (c->in_len == sizeof(c->in) - 1)
				qs_textconn_close(c);
			return;
		}
		answer(m, c);
		if (c->fd < 0)
			return;
	}
	if (qs_textconn_write(c))
		qs_textconn_close(c);
}

int qs_metrics_pollfds(const struct qs_metrics *m, struct pollfd *p)
{
	if (m->fd < 0)
		return 0;
	/* out of descriptors a moment ago: the listener would be readable at once */
	p[0] = (struct pollfd){ .fd = m->fd,
				.events = qs_accept_paused(m->paused_until_ms, qs_now_ms()) ? 0 : POLLIN };
	return 1 + qs_textconn_pollfds(m->c, QS_METRICS_CLIENTS, p + 1);
}

void qs_metrics_handle(struct qs_metrics *m, const struct pollfd *p, int n)
{
	long long now = qs_now_ms();

	if (m->fd < 0)
		return;
	for (int k = 0; k < n; k++) {
		struct qs_textconn *c;

		if (!p[k].revents)
			continue;
		if (p[k].fd == m->fd) {
			int fd;

			while ((fd = qs_textconn_accept(m->fd, now, &m->paused_until_ms,
							"metrics endpoint")) >= 0) {
				c = qs_textconn_free_slot(m->c, QS_METRICS_CLIENTS);
				if (!c) {
					close(fd);	/* busy: the scraper retries */
					continue;
				}
				c->fd = fd;
				c->deadline_ms = now + CLIENT_MS;
			}
			continue;
		}
		c = qs_textconn_by_fd(m->c, QS_METRICS_CLIENTS, p[k].fd);
		if (c)
			client_io(m, c);
	}
	for (int i = 0; i < QS_METRICS_CLIENTS; i++)
		if (m->c[i].fd >= 0 && m->c[i].deadline_ms <= now)
			qs_textconn_close(&m->c[i]);
}

int qs_metrics_timeout(const struct qs_metrics *m)
{
	return qs_accept_pause_timeout(m->paused_until_ms, qs_now_ms(),
				       qs_textconn_timeout(m->c, QS_METRICS_CLIENTS));
}

void qs_metrics_close(struct qs_metrics *m)
{
	qs_textconn_close_all(m->c, QS_METRICS_CLIENTS);
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}
