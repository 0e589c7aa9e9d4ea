/* SPDX-License-Identifier: MIT */
/*
 * What a worker serves requests from (the site: configuration, docroot,
 * counters, the handlers' per-worker contexts and the router that picks a
 * handler for each request), and how handlers reach the event loop: an
 * fd event source (struct qs_io, registered in the loop's epoll) and a
 * hook per module for deadlines, draining and the end of a batch of
 * events.  The transport and the protocols name no handler: the worker
 * (worker.c) puts the site together.
 */
#ifndef QS_WORKER_SITE_H
#define QS_WORKER_SITE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/docroot.h"

#include "worker/http/req.h"

struct qs_config;
struct qs_docroot;
struct qs_handler;
struct qs_req;
struct qs_worker_stats;
struct qs_static_ctx;
struct qs_php_ctx;
struct qs_alog;
struct qs_error_pages;
struct qs_rate;

/* The loop's clock: CLOCK_MONOTONIC in ns (the QUIC timers' too). */
static inline uint64_t qs_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* An fd in the worker's epoll: epoll data is QS_EV_IO_TAG | its address. */
struct qs_io {
	void (*on_event)(struct qs_io *io, uint32_t events);
};

#define QS_EV_IO_TAG (1ULL << 63)

/* A module's share of the event loop; every callback may be NULL. */
struct qs_loop_hook {
	void *ud;
	/* the earliest deadline (ns, qs_now() clock), UINT64_MAX if none */
	uint64_t (*next_deadline)(void *ud);
	/* handle what is due at now */
	void (*on_timer)(void *ud, uint64_t now);
	/* the worker drains (SIGTERM, or a reload's new generation took over) */
	void (*drain)(void *ud);
	/* a batch of events is over: free what was closed during it */
	void (*after_events)(void *ud);
	struct qs_loop_hook *next;
};

struct qs_loop {
	int epfd;
	struct qs_loop_hook *hooks;
};

static inline void qs_loop_add_hook(struct qs_loop *l, struct qs_loop_hook *h)
{
	h->next = l->hooks;
	l->hooks = h;
}

uint64_t qs_loop_next_deadline(const struct qs_loop *l);
void qs_loop_on_timer(struct qs_loop *l, uint64_t now);
void qs_loop_drain(struct qs_loop *l);
void qs_loop_after_events(struct qs_loop *l);

struct qs_site {
	const struct qs_config *cfg;
	const struct qs_docroot *docroot;
	struct qs_worker_stats *stats;
	unsigned gen, id;               /* this worker */
	struct qs_loop *loop;
	uint64_t next_req_id;
	struct qs_idgen ids;            /* request ids, trace and span ids (http/trace.h) */
	struct qs_alog *alog;           /* the access log (http/accesslog.c), NULL: off */
	bool keep_fields;               /* protocols collect every request field (qs_req.fields) */
	/* the handler of a request whose header block is in */
	const struct qs_handler *(*route)(struct qs_site *site, struct qs_req *req);
	/*
	 * The request layer's timeouts (http/req.c): requests waiting for
	 * their header block, for body bytes and responses waiting for the
	 * client, each list oldest activity first (one timeout per list, so
	 * moving a request to the tail keeps the order), checked by the
	 * layer's loop hook.  And the requests waiting for a file slot of
	 * their connection, in the order they came; files_closed: one was
	 * closed since the hook last looked.
	 */
	struct qs_req_waits header_waits, body_waits, send_waits, file_waits;
	bool files_closed;
	size_t fields_held;             /* of QS_REQ_FIELDS_BUDGET, counted as allocated */
	uint64_t resp_held;             /* response bytes held for clients (--max-response-memory) */
	struct qs_loop_hook http_hook;
	/* the handlers' per-worker state */
	struct qs_static_ctx *static_ctx;
	struct qs_php_ctx *php;
	struct qs_enc_ctx *enc_ctx;     /* the compression filter's (http/encode.c) */
	struct qs_error_pages *error_pages;     /* --error-pages, or NULL */
	struct qs_rate *rate;                   /* --rate-limit (shared by the workers), or NULL */
	struct qs_docroot accel_root;           /* --accel-redirect's DIR (handler/accel.c) */
};

#endif
