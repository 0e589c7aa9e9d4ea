/* SPDX-License-Identifier: MIT */
/*
 * The loader's metrics and health endpoint (--metrics ADDR:PORT): a tiny
 * HTTP/1.1 server on the loader's poll loop, GET only, one response per
 * connection.  Bounded: at most QS_METRICS_CLIENTS connections at once
 * (more are closed at once), 1 KB of request, 2 s per connection; it
 * never blocks the loader.  What it serves comes from a render callback.
 */
#ifndef QS_LOADER_METRICS_H
#define QS_LOADER_METRICS_H

#include <poll.h>

#include "loader/textconn.h"

#define QS_METRICS_CLIENTS 8

/* Fill body for path ("/metrics", "/health", ...); returns the HTTP status. */
typedef int (*qs_metrics_render_fn)(void *arg, const char *path, struct qs_mbuf *body);

struct qs_metrics {
	int fd;                 /* listening; -1 when off */
	qs_metrics_render_fn render;
	void *arg;
	long long paused_until_ms;  /* accept failed (EMFILE): not polled till then */
	struct qs_textconn c[QS_METRICS_CLIENTS];
};

/* Off, nothing open (before qs_metrics_open, or instead of it). */
void qs_metrics_init(struct qs_metrics *m);
/*
 * Listen on addr ("127.0.0.1:9473", "[::1]:9473"); 0 or -errno after a
 * pr_warn.  A listener already in m->fd (a binary upgrade adopted it) is kept.
 */
int qs_metrics_open(struct qs_metrics *m, const char *addr, qs_metrics_render_fn render,
		    void *arg);
/* pollfds for the listener and the clients, into p (room for 1 + CLIENTS); how many. */
int qs_metrics_pollfds(const struct qs_metrics *m, struct pollfd *p);
/* After poll: accept, read, answer, close what p says is ready or overdue. */
void qs_metrics_handle(struct qs_metrics *m, const struct pollfd *p, int n);
/* ms until the next client deadline, or -1. */
int qs_metrics_timeout(const struct qs_metrics *m);
void qs_metrics_close(struct qs_metrics *m);

#endif
