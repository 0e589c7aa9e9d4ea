// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/json.h"
#include "common/log.h"
#include "quicsteer/steer.h"
#include "worker/counters.h"
#include "worker/http/accesslog.h"
#include "worker/http/req.h"
#include "worker/site.h"

/*
 * 64 KB per worker.  A line is about 450 bytes, so a flush every ~70
 * requests under load; a line holds at most ALOG_LINE_MAX (the path is
 * cut to fit, and says so), so one always fits after a flush.
 */
#define ALOG_BUF        (64u << 10)
#define ALOG_FLUSH      (32u << 10)
#define ALOG_LINE_MAX   (8u << 10)
#define ALOG_PATH_MAX   (ALOG_LINE_MAX - 1536)  /* escaped path bytes; the rest fits in 1.5 KB */
#define ALOG_PERIOD_NS  1000000000ull

struct qs_alog {
	struct qs_site *site;
	const char *path;
	int fd;                     /* -1: could not open: lines are dropped */
	char *buf;
	size_t len;
	uint64_t flush_at;          /* CLOCK_MONOTONIC: a second after the oldest line */
	struct qs_loop_hook hook;
	time_t sec;                 /* the second `when` holds */
	char when[24];              /* "2026-12-07T13:32:03" */
	bool told;                  /* a failed write was logged (once until one works) */
};

/* ---- writing --------------------------------------------------------------- */

static uint64_t lines_in(const char *p, size_t n)
{
	uint64_t k = 0;

	for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
		k++;
	return k;
}

/* One write of everything buffered; what it does not take is dropped, counted. */
static void flush(struct qs_alog *a)
{
	ssize_t n = 0;
	size_t done;

	if (!a->len)
		return;
	if (a->fd >= 0)
		n = write(a->fd, a->buf, a->len);
	done = n > 0 ? (size_t)n : 0;
	if (done < a->len) {
		count(&a->site->stats->access_log_dropped, lines_in(a->buf + done, a->len - done));
		if (!a->told && a->fd >= 0)
			pr_warn("access log %s: %s: %zu bytes dropped (counted in "
				"access_log_dropped)", a->path,
				n < 0 ? strerror(errno) : "short write (disk full?)", a->len - done);
		a->told = a->fd >= 0;
	} else {
		a->told = false;
	}
	a->len = 0;
}

static uint64_t alog_next_deadline(void *ud)
{
	struct qs_alog *a = ud;

	return a->len ? a->flush_at : UINT64_MAX;
}

static void alog_on_timer(void *ud, uint64_t now)
{
	struct qs_alog *a = ud;

	if (a->len && a->flush_at <= now)
		flush(a);
}

/* The worker drains: what it logged so far is out now, not in a second. */
static void alog_drain(void *ud)
{
	flush(ud);
}

static int open_log(const char *path)
{
	/* created by the loader: a worker neither creates files nor follows a planted link */
	return open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
}

int qs_alog_init(struct qs_site *site)
{
	struct qs_alog *a;

	if (!site->cfg->access_log[0])
		return 0;
	a = calloc(1, sizeof(*a));
	if (!a || !(a->buf = malloc(ALOG_BUF))) {
		free(a);
		return -ENOMEM;
	}
	a->site = site;
	a->path = site->cfg->access_log;
	a->fd = open_log(a->path);
	if (a->fd < 0)
		pr_warn("cannot open the access log %s: %s: its lines are dropped until "
			"SIGUSR1 reopens it (the loader creates it for the workers' user)",
			a->path, strerror(errno));
	a->hook = (struct qs_loop_hook){
		.ud = a,
		.next_deadline = alog_next_deadline,
		.on_timer = alog_on_timer,
		.drain = alog_drain,
	};
	qs_loop_add_hook(site->loop, &a->hook);
	site->alog = a;
	return 0;
}

void qs_alog_free(struct qs_site *site)
{
	struct qs_alog *a = site->alog;

	if (!a)
		return;
	flush(a);
	if (a->fd >= 0)
		close(a->fd);
	free(a->buf);
	free(a);
	site->alog = NULL;	/* the hook goes with the loop */
}

void qs_alog_reopen(struct qs_alog *a)
{
	int fd;

	if (!a)
		return;
	flush(a);	/* what was logged so far belongs to the old file */
	fd = open_log(a->path);
	if (fd < 0) {
		pr_warn("cannot reopen the access log %s: %s; %s", a->path, strerror(errno),
			a->fd >= 0 ? "writing on to the old file" : "lines are dropped");
		return;
	}
	if (a->fd >= 0)
		close(a->fd);
	a->fd = fd;
	a->told = false;
	pr_info("access log %s reopened", a->path);
}

/* ---- a line -------------------------------------------------------------------- */

struct line {
	char *p;
	size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

#define PUT(l, lit) put(l, lit, sizeof(lit) - 1)

static void put_u64(struct line *l, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		l->p[l->len++] = tmp[--n];
}

/* ns as milliseconds with 3 decimals */
static void put_ms(struct line *l, uint64_t ns)
{
	uint64_t us = ns / 1000;

	put_u64(l, us / 1000);
	l->p[l->len++] = '.';
	l->p[l->len++] = (char)('0' + us / 100 % 10);
	l->p[l->len++] = (char)('0' + us / 10 % 10);
	l->p[l->len++] = (char)('0' + us % 10);
}

static void put_bool(struct line *l, bool b)
{
	if (b)
		PUT(l, "true");
	else
		PUT(l, "false");
}

/* A JSON string of at most max escaped bytes; *cut: it did not all fit. */
static void put_str(struct line *l, const char *s, size_t n, size_t max, bool *cut)
{
	size_t used;

	l->p[l->len++] = '"';
	l->len += qs_json_escape(l->p + l->len, max, s, n, &used);
	l->p[l->len++] = '"';
	if (cut)
		*cut = used < n;
}

static void put_hex(struct line *l, const uint8_t *b, size_t n)
{
	l->p[l->len++] = '"';
	qs_hex(l->p + l->len, b, n);
	l->len += 2 * n;
	l->p[l->len++] = '"';
}

/* RFC 3339, UTC, milliseconds; the date part made once a second */
static void put_time(struct qs_alog *a, struct line *l, const struct timespec *ts)
{
	if (ts->tv_sec != a->sec) {
		struct tm tm;

		gmtime_r(&ts->tv_sec, &tm);
		strftime(a->when, sizeof(a->when), "%Y-%m-%dT%H:%M:%S", &tm);
		a->sec = ts->tv_sec;
	}
	l->p[l->len++] = '"';
	put(l, a->when, strlen(a->when));
	l->p[l->len++] = '.';
	l->p[l->len++] = (char)('0' + ts->tv_nsec / 100000000 % 10);
	l->p[l->len++] = (char)('0' + ts->tv_nsec / 10000000 % 10);
	l->p[l->len++] = (char)('0' + ts->tv_nsec / 1000000 % 10);
	PUT(l, "Z\"");
}

/* "HTTP/3" -> "h3", "HTTP/2.0" -> "h2", "HTTP/1.1" -> "h1.1" */
static const char *proto_name(const char *protocol)
{
	if (!strcmp(protocol, "HTTP/3"))
		return "h3";
	if (!strcmp(protocol, "HTTP/2.0"))
		return "h2";
	if (!strcmp(protocol, "HTTP/1.0"))
		return "h1.0";
	return "h1.1";
}

void qs_alog_request(struct qs_alog *a, struct qs_req *req)
{
	struct qs_site *site = a->site;
	uint64_t now = qs_clock_ns(), dur;
	const struct sockaddr *peer, *local;
	struct timespec wall;
	char host[46];
	unsigned port;
	struct line l;
	bool cut = false;

	if (ALOG_BUF - a->len < ALOG_LINE_MAX)
		flush(a);
	if (!a->len)
		a->flush_at = now + ALOG_PERIOD_NS;
	l.p = a->buf + a->len;
	l.len = 0;
	qs_req_trace(req);	/* not made yet, or a stream reset before its header block ended */
	dur = req->start_ns && req->start_ns < now ? now - req->start_ns : 0;
	/* when the request began: now on the wall clock, less its duration */
	clock_gettime(CLOCK_REALTIME, &wall);
	wall.tv_sec -= (time_t)(dur / 1000000000u);
	wall.tv_nsec -= (long)(dur % 1000000000u);
	if (wall.tv_nsec < 0) {
		wall.tv_nsec += 1000000000;
		wall.tv_sec--;
	}
	PUT(&l, "{\"time\":");
	put_time(a, &l, &wall);
	/* request ids and addresses need no escaping: their charset is ours */
	PUT(&l, ",\"request_id\":\"");
	put(&l, req->request_id, req->request_id_len);
	PUT(&l, "\",\"trace_id\":");
	put_hex(&l, req->trace.trace_id, sizeof(req->trace.trace_id));
	PUT(&l, ",\"span_id\":");
	put_hex(&l, req->trace.span_id, sizeof(req->trace.span_id));
	PUT(&l, ",\"parent_id\":");
	if (req->trace.state == QS_TRACE_CONTINUED)
		put_hex(&l, req->trace.parent_id, sizeof(req->trace.parent_id));
	else
		PUT(&l, "null");
	qs_req_addr(req, &peer, &local);
	qs_sockaddr_host(peer, host, &port);
	PUT(&l, ",\"client\":\"");
	put(&l, host, strlen(host));
	PUT(&l, "\",\"client_port\":");
	put_u64(&l, port);
	PUT(&l, ",\"migrated\":");
	put_bool(&l, req->conn_migrated && *req->conn_migrated);
	PUT(&l, ",\"protocol\":\"");
	put(&l, proto_name(req->protocol), strlen(proto_name(req->protocol)));
	PUT(&l, "\",\"method\":");
	put_str(&l, req->method, strlen(req->method), 6 * sizeof(req->method), NULL);
	PUT(&l, ",\"path\":");
	if (req->path)
		put_str(&l, req->path, req->pathlen, ALOG_PATH_MAX, &cut);
	else
		PUT(&l, "null");
	if (cut)
		PUT(&l, ",\"path_cut\":true");
	PUT(&l, ",\"status\":");
	put_u64(&l, (uint64_t)req->status);
	PUT(&l, ",\"bytes_in\":");
	put_u64(&l, req->bytes_in);
	PUT(&l, ",\"bytes_out\":");
	put_u64(&l, req->bytes_out);
	PUT(&l, ",\"duration_ms\":");
	put_ms(&l, dur);
	PUT(&l, ",\"upstream\":\"");
	/* a handler that names none answers for the server itself */
	if (req->handler && req->handler->upstream)
		put(&l, req->handler->upstream, strlen(req->handler->upstream));
	else
		PUT(&l, "internal");
	PUT(&l, "\",\"upstream_ms\":");
	if (req->upstream_ns)
		put_ms(&l, req->upstream_ns - 1);
	else
		PUT(&l, "null");
	PUT(&l, ",\"worker\":");
	put_u64(&l, site->id);
	PUT(&l, ",\"generation\":");
	put_u64(&l, site->gen);
	PUT(&l, ",\"tls_resumed\":");
	put_bool(&l, req->tls.resumed);
	PUT(&l, ",\"early_data\":");
	put_bool(&l, req->early);
	PUT(&l, ",\"aborted\":");
	put_bool(&l, req->aborted || !req->ended);
	PUT(&l, "}\n");
	a->len += l.len;
	if (a->len >= ALOG_FLUSH)
		flush(a);
}
