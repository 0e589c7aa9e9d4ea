// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/config.h"
#include "common/docroot.h"
#include "common/fcgi.h"
#include "common/log.h"
#include "common/phptime.h"
#include "quicsteer/steer.h"
#include "worker/counters.h"
#include "worker/handler/accel.h"
#include "worker/handler/php.h"
#include "worker/handler/static.h"
#include "worker/handler/unixdiag.h"
#include "worker/http/req.h"
#include "worker/site.h"

#define READ_CHUNK   (16u << 10)
#define FILE_PIECE   (32u << 10)   /* a file-held body goes to php-fpm this much at a time */
#define CGI_HDR_MAX  (64u << 10)
#define REQUEST_ID   1
#define RETRY_MAX    3             /* times a request is sent again (retry()) */
/*
 * What php-fpm sends on STDERR (PHP's messages: error_log(), warnings) is
 * the script's text, which a client may steer: each piece goes to the log
 * escaped (qs_fcgi_log_escape), cut at STDERR_LINE_MAX characters, and at
 * most STDERR_PER_SEC pieces a second per worker; what is over is counted
 * in one line when its second ends.  php-fpm's own log has them all.
 */
#define STDERR_LINE_MAX 1024
#define STDERR_PER_SEC  50
#define NS_PER_SEC      1000000000u
/*
 * php-fpm had nothing more this long: the script paused (flush(), then
 * work), and what the compression filter holds goes out.  Not at once:
 * a script's last bytes and its END come in separate writes, and a flush
 * between them costs a compressed block (and Brotli its small-input
 * setup: the demo page's server CPU went from 74 to 136 us with it).
 */
#define FLUSH_PAUSE_NS  (2u * 1000000u)

/* A request on its way to PHP: what this handler keeps of a qs_req. */
struct qs_php_req {
	struct qs_req *req;
	struct qs_php_ctx *ctx;
	bool front;                 /* via the front controller (--index) */
	bool started;               /* encoded, queued or on a connection */
	bool stream_body;           /* STDIN follows the body as it arrives */
	bool stdin_done;            /* the empty STDIN record is queued */
	bool body_stopped;          /* answered early: the rest of the body is refused */
	uint8_t *body;              /* request body held in memory */
	size_t body_len, body_cap;
	int body_fd;                /* ... or in an unlinked file (buffering on), else -1 */
	uint64_t file_len, file_off;    /* its bytes, and how many went to php-fpm */
	bool body_failed;           /* the file could not be written: 500 at the end */
	size_t body_held;           /* of body_cap, counted in the worker's budget */
	bool body_too_large;        /* answered 413 at the end */
	bool body_busy;             /* the budget was spent: 503 at the end */
	uint64_t credit;            /* body bytes queued, not yet consumed */
	struct qs_php_conn *conn;
	uint8_t *out;               /* encoded request waiting for a connection */
	size_t out_len, out_cap;
	bool queued;
	bool holds;                 /* counted in its client connection's busy slots */
	uint8_t retries;            /* sent again: kept-alive connections were gone */
	uint64_t script;            /* its script's hash (script_hash()) */
	bool keep;                  /* asks php-fpm to keep the connection (FCGI_KEEP_CONN) */
	struct qs_php_req *qnext;
};

struct qs_php_conn {
	struct qs_io io;            /* first: the loop calls back with its address */
	int fd;
	struct qs_php_ctx *ctx;
	struct qs_php_req *pr;
	uint8_t *out;               /* BEGIN_REQUEST .. empty STDIN, as it comes */
	size_t out_len, out_off, out_cap;
	struct qs_fcgi_parser parser;
	struct qs_cgi cgi;
	char *cgibuf;
	bool headers_sent;
	bool no_body;               /* 204/304: what the script writes is dropped */
	bool overrun_told;          /* wrote past its Content-Length: logged once */
	int64_t body_left;          /* of the script's Content-Length; -1: none */
	bool reading_paused;
	uint32_t events;            /* what epoll watches now */
	bool registered;
	uint64_t deadline;          /* ns; pushed on at every byte from php-fpm */
	bool idle;                  /* kept alive, waiting for the next request */
	bool reused;                /* this request went on a kept-alive connection */
	bool rx_any;                /* php-fpm sent something for this request */
	bool keep;                  /* ... and this request asked to keep it */
	size_t req_len;             /* the encoded request at the head of out */
	uint64_t tx;                /* bytes of this request written */
	uint64_t probe_at;          /* ns: is php-fpm's child reading it yet? 0: no check */
	bool probe_confirm;         /* ... the second look (QS_PHP_CONFIRM_NS) */
	uint64_t flush_at;          /* ns: the script paused, flush the compression; 0: no */
	uint64_t last_script;       /* the hash of the script this connection ran last */
	uint64_t probe_script;      /* ... before this request */
	uint32_t peer_ino;          /* php-fpm's end of it (unixdiag.h), 0: not known yet */
	bool dead;                  /* freed at the end of this loop iteration */
	struct qs_php_conn *next, *prev;   /* all of this worker's */
};

/*
 * Scripts found good in the last SCRIPT_TTL_MS: a hot script costs no
 * openat2/fstat/close per request.  Only good answers are kept, so a new
 * script is found at once; a removed one still reaches php-fpm for at
 * most the TTL (php-fpm answers 404 itself), as a static file stays in
 * the file cache (nginx's open_file_cache_valid).  256 slots, 64 KB.
 */
#define SCRIPT_SLOTS    256
#define SCRIPT_PATH_MAX 240
#define SCRIPT_TTL_MS   1000

struct script_slot {
	uint64_t expires_ns;
	uint32_t len;
	char path[SCRIPT_PATH_MAX];
};

/* The handler's per-worker state, on site->php. */
struct qs_php_ctx {
	struct qs_site *site;
	struct qs_loop_hook hook;
	/*
	 * The pool: php-fpm gives a child to each connection, kept-alive ones
	 * included, so a worker keeps at most its share of the pool's children
	 * (--php-max-children / workers) and queues the rest; idle connections
	 * can then never starve another worker.
	 */
	unsigned n_conns;
	struct qs_php_conn *all_conns;
	bool draining;              /* SIGTERM/reload: keep no connection idle */
	struct qs_php_req *queue_head, *queue_tail;
	unsigned n_queued;
	/*
	 * Connections closed during one batch of epoll events are freed after
	 * it: an event for one of them may still be further down the batch.
	 */
	struct qs_php_conn *graveyard;
	/*
	 * Scripts seen to end their response early and go on running
	 * (fastcgi_finish_request(): Symfony's kernel.terminate, Laravel's
	 * terminable middleware).  php-fpm keeps such a child on its
	 * kept-alive connection until the script ends, so a request given
	 * that connection would wait behind the script's afterwork: their
	 * requests ask php-fpm to close the connection instead.
	 */
	uint64_t finishers[QS_PHP_FINISHERS];
	unsigned finishers_next;
	int diag;                   /* unix_diag's netlink socket, -1: none (TCP php-fpm) */
	/*
	 * Bodies without Content-Length are held whole (CGI needs the length
	 * first) with their credit returned as they come, so no window bounds
	 * them: this does, for the worker (8 MB each, 48 MB in all, counted as
	 * allocated).
	 */
	size_t held_bytes;
	/*
	 * Bodies buffered in files (--body-temp-dir): their bytes, within
	 * --max-body-temp, and their descriptors, within QS_PHP_BODY_FILES_MAX
	 * (part of the descriptors the loader sets aside for the worker).
	 */
	uint64_t file_bytes;
	unsigned n_files;
	uint8_t *params;            /* scratch for one request's params */
	uint64_t stderr_since;      /* ns: the second STDERR pieces are counted in */
	unsigned stderr_lines;      /* logged in it */
	uint64_t stderr_dropped;    /* not logged in it */
	struct script_slot script_cache[SCRIPT_SLOTS];
};

static unsigned pool_share(const struct qs_config *cfg)
{
	unsigned n = cfg->php_max_children / (cfg->workers ? cfg->workers : 1);

	return n ? n : 1;
}

static void dispatch_queue(struct qs_php_ctx *ctx);

/* Children one client connection may hold (--php-max-per-connection). */
static unsigned conn_cap(const struct qs_config *cfg)
{
	unsigned n = cfg->php_max_per_conn ? cfg->php_max_per_conn : (pool_share(cfg) + 1) / 2;

	return n ? n : 1;
}

static bool conn_full(const struct qs_php_req *pr)
{
	return pr->req->conn_busy && *pr->req->conn_busy >= conn_cap(pr->ctx->site->cfg);
}

/* pr holds a child, or no longer: its client connection's count follows. */
static void hold_slot(struct qs_php_req *pr, bool holds)
{
	if (!pr || pr->holds == holds || !pr->req->conn_busy)
		return;
	pr->holds = holds;
	if (holds)
		(*pr->req->conn_busy)++;
	else
		(*pr->req->conn_busy)--;
}

static void touch(struct qs_php_conn *pc)
{
	pc->deadline = qs_clock_ns() +
		       (uint64_t)pc->ctx->site->cfg->fastcgi_timeout_ms * 1000000u;
}

/* The path without its query. */
static size_t uri_len(const char *path, size_t pathlen)
{
	const char *q = memchr(path, '?', pathlen);

	return q ? (size_t)(q - path) : pathlen;
}

/*
 * The script part of a path: up to and including the first ".php" that
 * ends the path or is followed by '/'; what follows (before the query) is
 * PATH_INFO, as nginx's fastcgi_split_path_info ^(.+?\.php)(/.*)$ splits
 * it.  0 when the path names no script.
 */
static size_t script_len(const char *path, size_t pathlen)
{
	size_t n = uri_len(path, pathlen);

	for (size_t i = 1; i + 4 <= n; i++)
		if (!memcmp(path + i, ".php", 4) && (i + 4 == n || path[i + 4] == '/'))
			return i + 4;
	return 0;
}

bool qs_php_wants(const struct qs_site *site, const char *path, size_t pathlen)
{
	if (site->cfg->fastcgi == QS_FASTCGI_OFF || !path)
		return false;
	return script_len(path, pathlen) > 0;
}

/*
 * The script must be a regular file inside the docroot, named without
 * tricks: no "..", no hidden segment, no percent-encoding, no control
 * bytes.  Scripts that fail never reach php-fpm (404).
 */
static int check_script(const struct qs_docroot *d, const char *path, size_t n)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	char rel[QS_STATIC_PATH_MAX];
	struct stat st;
	int fd;

	if (n < 2 || n >= sizeof(rel) || path[0] != '/')
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)path[i];

		if (ch < 0x20 || ch == 0x7f || ch == '%' || ch == '\\')
			return -EINVAL;
		if (ch == '/' && i + 1 < n && path[i + 1] == '.')
			return -EINVAL;	/* "..", "." and hidden segments */
	}
	memcpy(rel, path + 1, n - 1);
	rel[n - 1] = '\0';
	fd = (int)syscall(SYS_openat2, d->dirfd, rel, &how, sizeof(how));
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	close(fd);
	return 0;
}

static uint64_t script_hash(const char *path, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)path[i]) * 0x100000001b3ull;
	return h | 1;	/* 0: none */
}

static struct script_slot *script_slot(struct qs_php_ctx *ctx, const char *path, size_t n)
{
	return &ctx->script_cache[script_hash(path, n) % SCRIPT_SLOTS];
}

static bool is_finisher(const struct qs_php_ctx *ctx, uint64_t script)
{
	for (unsigned i = 0; i < QS_PHP_FINISHERS; i++)
		if (ctx->finishers[i] == script)
			return true;
	return false;
}

static int check_script_cached(struct qs_php_ctx *ctx, const char *path, size_t n)
{
	struct script_slot *slot = n < SCRIPT_PATH_MAX ? script_slot(ctx, path, n) : NULL;
	uint64_t now = qs_clock_ns();
	int ret;

	if (slot && slot->len == n && slot->expires_ns > now && !memcmp(slot->path, path, n))
		return 0;
	ret = check_script(ctx->site->docroot, path, n);
	if (!ret && slot) {
		memcpy(slot->path, path, n);
		slot->len = (uint32_t)n;
		slot->expires_ns = now + (uint64_t)SCRIPT_TTL_MS * 1000000u;
	}
	return ret;
}

static int add(struct qs_fcgi_params *p, const char *name, const char *value, size_t vlen)
{
	return qs_fcgi_params_add(p, name, strlen(name), value, vlen);
}

static int add_addr(struct qs_fcgi_params *p, const char *addr_name, const char *port_name,
		    const struct sockaddr *sa)
{
	char host[46], port[8];
	unsigned pnum;

	qs_sockaddr_host(sa, host, &pnum);
	snprintf(port, sizeof(port), "%u", pnum);
	if (add(p, addr_name, host, strlen(host)))
		return -ENOSPC;
	return add(p, port_name, port, strlen(port));
}

/*
 * The request id and the trace context: HTTP_TRACEPARENT is our span's, so
 * what the script calls out to becomes its child; TRACE_ID, SPAN_ID, and
 * PARENT_SPAN_ID when the trace came from the client (else absent).  The
 * client's own x-request-id stays HTTP_X_REQUEST_ID; REQUEST_ID is the one
 * the server uses (the same when it was sane).
 */
static int add_trace(struct qs_fcgi_params *p, const struct qs_req *st)
{
	char tp[QS_TRACEPARENT_LEN + 1], span[16], parent[16];
	int ret = 0;

	qs_traceparent_format(&st->trace, tp);
	qs_hex(span, st->trace.span_id, sizeof(st->trace.span_id));
	ret |= add(p, "REQUEST_ID", st->request_id, st->request_id_len);
	ret |= add(p, "HTTP_TRACEPARENT", tp, QS_TRACEPARENT_LEN);
	ret |= add(p, "TRACE_ID", tp + 3, 32);
	ret |= add(p, "SPAN_ID", span, sizeof(span));
	if (st->trace.state == QS_TRACE_CONTINUED) {
		qs_hex(parent, st->trace.parent_id, sizeof(st->trace.parent_id));
		ret |= add(p, "PARENT_SPAN_ID", parent, sizeof(parent));
	}
	return ret;
}

/*
 * The params of a request, into buf; its length or -errno: -EINVAL for a
 * PATH_INFO PHP must not see (qs_cgi_path_info: 400), -ENAMETOOLONG for
 * one over QS_STATIC_PATH_MAX (414), -ENOSPC when buf is full (431).
 */
static ssize_t build_params(struct qs_php_req *pr, uint8_t *buf, size_t size)
{
	const struct qs_req *st = pr->req;
	const struct qs_site *s = st->site;
	const struct sockaddr *peer, *local;
	size_t n = uri_len(st->path, st->pathlen);
	const char *query = n < st->pathlen ? st->path + n + 1 : "";
	size_t qlen = n < st->pathlen ? st->pathlen - n - 1 : 0;
	size_t sn = pr->front ? n : script_len(st->path, st->pathlen);
	char info[QS_STATIC_PATH_MAX + 1];
	ssize_t ilen;
	const char *root = s->docroot->path;
	char script[QS_STATIC_PATH_MAX + 4096], len_s[24], worker[16];
	struct qs_fcgi_params p;
	const char *authority = st->authority ? st->authority : "";
	char front[sizeof(s->cfg->index) + 1];
	const char *sname = st->path;
	size_t slen = sn;
	size_t hostlen = strcspn(authority, ":");
	bool cookie_seen = false;
	const char *name, *value;
	int ret = 0;

	/*
	 * The script's name is literal (check_script allows no '%' and no dot
	 * segment); what follows it goes decoded, as CGI and nginx give
	 * PATH_INFO, and is refused when a ".." could reach PHP that way.
	 */
	ilen = qs_cgi_path_info(st->path + sn, n - sn, info, sizeof(info));
	if (ilen < 0)
		return ilen == -ENOSPC ? -ENAMETOOLONG : ilen;
	qs_req_trace(pr->req);	/* our span, the same the response and the log give */
	qs_fcgi_params_init(&p, buf, size);
	if (pr->front) {
		snprintf(front, sizeof(front), "/%s", s->cfg->index);
		sname = front;
		slen = strlen(front);
	}
	snprintf(script, sizeof(script), "%s%.*s", root, (int)slen, sname);
	snprintf(len_s, sizeof(len_s), "%llu", (unsigned long long)(pr->stream_body ?
		 (uint64_t)st->content_length : pr->body_len + pr->file_len));
	snprintf(worker, sizeof(worker), "%u/%u", s->gen, s->id);
	ret |= add(&p, "SCRIPT_FILENAME", script, strlen(script));
	ret |= add(&p, "SCRIPT_NAME", sname, slen);
	ret |= add(&p, "PATH_INFO", info, (size_t)ilen);
	/* as nginx's $document_uri: the decoded path, or the index script it went to */
	ret |= add(&p, "DOCUMENT_URI", sname, slen);
	ret |= qs_fcgi_params_append(&p, "", 0, info, (size_t)ilen);
	ret |= add(&p, "DOCUMENT_ROOT", root, strlen(root));
	ret |= add(&p, "REQUEST_URI", st->path, st->pathlen);
	ret |= add(&p, "QUERY_STRING", query, qlen);
	ret |= add(&p, "REQUEST_METHOD", st->method, strlen(st->method));
	ret |= add(&p, "CONTENT_TYPE", st->content_type ? st->content_type : "",
		   st->content_type ? strlen(st->content_type) : 0);
	ret |= add(&p, "CONTENT_LENGTH", strcmp(len_s, "0") ? len_s : "",
		   strcmp(len_s, "0") ? strlen(len_s) : 0);
	ret |= add(&p, "SERVER_PROTOCOL", st->protocol, strlen(st->protocol));
	ret |= add(&p, "REQUEST_SCHEME", st->scheme, strlen(st->scheme));
	ret |= add(&p, "HTTPS", "on", 2);
	ret |= add(&p, "GATEWAY_INTERFACE", "CGI/1.1", 7);
	ret |= add(&p, "SERVER_SOFTWARE", "quicsteer/" QS_VERSION, strlen("quicsteer/" QS_VERSION));
	ret |= add(&p, "SERVER_NAME", authority, hostlen);
	ret |= add(&p, "QUICSTEER_WORKER", worker, strlen(worker));
	if (st->tls.version) {
		const char *cipher = st->tls.cipher;

		ret |= add(&p, "SSL_PROTOCOL", st->tls.version, strlen(st->tls.version));
		ret |= add(&p, "SSL_CIPHER", cipher ? cipher : "", cipher ? strlen(cipher) : 0);
		/* as nginx's $ssl_session_reused */
		ret |= add(&p, "SSL_SESSION_REUSED", st->tls.resumed ? "r" : ".", 1);
	}
	/* RFC 8470 5.1: what an intermediary adds to a request it got in 0-RTT */
	if (st->early)
		ret |= add(&p, "HTTP_EARLY_DATA", "1", 1);
	ret |= add_trace(&p, st);
	/* the client's current address: it changes when the client migrates */
	qs_req_addr(st, &peer, &local);
	ret |= add_addr(&p, "REMOTE_ADDR", "REMOTE_PORT", peer);
	ret |= add_addr(&p, "SERVER_ADDR", "SERVER_PORT", local);
	if (ret)
		return -ENOSPC;
	if (st->authority && qs_fcgi_params_add(&p, "HTTP_HOST", 9, authority, strlen(authority)))
		return -ENOSPC;
	/* every request field as HTTP_*; cookie fields joined by "; " (RFC 9114 4.2.1) */
	for (size_t off = 0, nl, vl; qs_req_next_field(st, &off, &name, &nl, &value, &vl);) {
		if (!strcmp(name, "cookie")) {
			const char *n2, *v2;
			size_t nl2, vl2;

			if (cookie_seen)
				continue;	/* joined below */
			cookie_seen = true;
			if (qs_fcgi_params_add(&p, "HTTP_COOKIE", 11, value, vl))
				return -ENOSPC;
			for (size_t o2 = off; qs_req_next_field(st, &o2, &n2, &nl2, &v2, &vl2);)
				if (!strcmp(n2, "cookie") && qs_fcgi_params_append(&p, "; ", 2, v2, vl2))
					return -ENOSPC;
			continue;
		}
		/* an intermediary adds Early-Data; a client's is never passed on */
		if (!strcmp(name, "early-data") || !strcmp(name, "host") ||
		    !strcmp(name, "content-type") || !strcmp(name, "content-length"))
			continue;
		/* ours replaces it (add_trace); a trace we restarted drops its state */
		if (!strcmp(name, "traceparent") ||
		    (!strcmp(name, "tracestate") && st->trace.state != QS_TRACE_CONTINUED))
			continue;
		ret = qs_fcgi_params_add_header(&p, name, nl, value, vl);
		if (ret == -ENOSPC)
			return ret;
		/* -EINVAL/-EPERM: a name PHP must not see (x_a forging x-a, "proxy") */
	}
	return (ssize_t)p.len;
}

/*
 * The request body held for PHP: body_free drops it and its share of the
 * worker's budget; body_release only the share, once the copy encoded for
 * php-fpm (which keeps it counted) has been written.
 */
static void body_release(struct qs_php_req *pr)
{
	struct qs_php_ctx *ctx = pr->ctx;

	ctx->held_bytes -= pr->body_held < ctx->held_bytes ? pr->body_held : ctx->held_bytes;
	pr->body_held = 0;
}

static void body_free(struct qs_php_req *pr)
{
	body_release(pr);
	free(pr->body);
	pr->body = NULL;
	if (pr->body_fd >= 0) {
		close(pr->body_fd);
		pr->ctx->n_files--;
		pr->ctx->file_bytes -= pr->file_len;
	}
	pr->body_fd = -1;
}

/*
 * Body bytes reached php-fpm: now the client may send as many more (flow
 * control is the backpressure: a slow script slows the upload).
 */
static void give_credit(struct qs_php_req *pr)
{
	if (!pr)
		return;
	body_release(pr);	/* a held body: its copy has gone to php-fpm */
	qs_req_consume(pr->req, pr->credit);
	pr->credit = 0;
}

static void conn_free(struct qs_php_conn *pc)
{
	struct qs_php_ctx *ctx = pc->ctx;

	if (pc->fd >= 0) {
		epoll_ctl(ctx->site->loop->epfd, EPOLL_CTL_DEL, pc->fd, NULL);
		close(pc->fd);
	}
	if (pc->pr) {
		give_credit(pc->pr);	/* the request lives on without its body's reader */
		hold_slot(pc->pr, false);
		pc->pr->conn = NULL;
	}
	if (pc->prev)
		pc->prev->next = pc->next;
	else
		ctx->all_conns = pc->next;
	if (pc->next)
		pc->next->prev = pc->prev;
	free(pc->out);
	free(pc->cgibuf);
	pc->out = NULL;
	pc->cgibuf = NULL;
	pc->fd = -1;
	pc->pr = NULL;
	pc->dead = true;
	pc->next = ctx->graveyard;
	ctx->graveyard = pc;
	ctx->n_conns--;
	dispatch_queue(ctx);	/* a slot is free */
}

/*
 * The worker drains (SIGTERM, or a reload's new generation took over):
 * close the idle kept-alive connections now and each busy one when its
 * request ends, so the pool's children serve the next generation at once.
 */
static void php_drain(void *ud)
{
	struct qs_php_ctx *ctx = ud;
	struct qs_php_conn *pc, *next;

	ctx->draining = true;
	for (pc = ctx->all_conns; pc; pc = next) {
		next = pc->next;
		if (pc->idle)
			conn_free(pc);
	}
}

/* Free the FastCGI connections closed during this batch of events. */
static void php_reap(void *ud)
{
	struct qs_php_ctx *ctx = ud;

	while (ctx->graveyard) {
		struct qs_php_conn *pc = ctx->graveyard;

		ctx->graveyard = pc->next;
		free(pc);
	}
}

static void watch(struct qs_php_conn *pc, uint32_t events)
{
	struct epoll_event ev = {
		.events = events,
		.data.u64 = QS_EV_IO_TAG | (uint64_t)(uintptr_t)&pc->io,
	};

	if (pc->registered && events == pc->events)
		return;
	/* paused is "no events" but still registered: MOD, not ADD */
	epoll_ctl(pc->ctx->site->loop->epfd, pc->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
		  pc->fd, &ev);
	pc->registered = true;
	pc->events = events;
}

static int connect_backend(const struct qs_config *cfg, int *pfd)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd;

	if (cfg->fastcgi == QS_FASTCGI_TCP) {
		char host[sizeof(cfg->fastcgi_addr)];
		char *colon;
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

		snprintf(host, sizeof(host), "%s", cfg->fastcgi_addr);
		colon = strrchr(host, ':');
		if (!colon)
			return -EINVAL;
		*colon = '\0';
		if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
			a4->sin_family = AF_INET;
			a4->sin_port = htons((uint16_t)atoi(colon + 1));
			len = sizeof(*a4);
		} else {
			char *h = host[0] == '[' ? host + 1 : host;

			if (h != host && h[strlen(h) - 1] == ']')
				h[strlen(h) - 1] = '\0';
			if (inet_pton(AF_INET6, h, &a6->sin6_addr) != 1)
				return -EINVAL;
			a6->sin6_family = AF_INET6;
			a6->sin6_port = htons((uint16_t)atoi(colon + 1));
			len = sizeof(*a6);
		}
	} else {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;

		un->sun_family = AF_UNIX;
		if (cfg->fastcgi == QS_FASTCGI_MANAGED)
			snprintf(un->sun_path, sizeof(un->sun_path), "%s/%s/php-fpm.sock",
				 QS_RUN_ROOT, cfg->instance);
		else
			snprintf(un->sun_path, sizeof(un->sun_path), "%s", cfg->fastcgi_addr);
		len = sizeof(*un);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
		int err = -errno;

		close(fd);
		return err;
	}
	*pfd = fd;
	return 0;
}

/* BEGIN_REQUEST, PARAMS and STDIN of st, into a new buffer; 0 or an HTTP status. */
static int encode_request(struct qs_php_req *pr)
{
	struct qs_php_ctx *ctx = pr->ctx;
	const struct qs_config *cfg = ctx->site->cfg;
	size_t psize = cfg->max_header_bytes + 16384, cap, len;
	uint8_t *out;
	ssize_t plen;

	/* scratch for the params, reused: one worker, one request at a time here */
	if (!ctx->params && !(ctx->params = malloc(psize)))
		return 500;
	plen = build_params(pr, ctx->params, psize);
	if (plen < 0)
		return plen == -EINVAL ? 400 : plen == -ENAMETOOLONG ? 414 : 431;
	cap = QS_FCGI_BEGIN_LEN + qs_fcgi_stream_size((size_t)plen) + QS_FCGI_STREAM_END_LEN +
	      qs_fcgi_stream_size(pr->body_len) + QS_FCGI_STREAM_END_LEN;
	out = malloc(cap);
	if (!out)
		return 500;
	pr->keep = cfg->fastcgi_keepalive && !is_finisher(ctx, pr->script);
	len = (size_t)qs_fcgi_begin_request(out, cap, REQUEST_ID, pr->keep);
	len += (size_t)qs_fcgi_stream(out + len, cap - len, QS_FCGI_PARAMS, REQUEST_ID,
				      ctx->params, (size_t)plen);
	len += (size_t)qs_fcgi_stream_end(out + len, cap - len, QS_FCGI_PARAMS, REQUEST_ID);
	if (!pr->stream_body && pr->body_fd < 0) {
		/* the whole body is here (or there is none); a file follows in pieces */
		if (pr->body_len)
			len += (size_t)qs_fcgi_stream(out + len, cap - len, QS_FCGI_STDIN,
						      REQUEST_ID, pr->body, pr->body_len);
		len += (size_t)qs_fcgi_stream_end(out + len, cap - len, QS_FCGI_STDIN, REQUEST_ID);
		pr->stdin_done = true;
	}
	free(pr->body);		/* its bytes are in out now, still counted as held */
	pr->body = NULL;
	pr->out = out;
	pr->out_len = len;
	pr->out_cap = cap;
	return 0;
}

/*
 * All of out reached php-fpm.  A large buffer (a held body) goes now, not
 * at the end of the request: it is no use, and counted no more.  (A
 * request that large is never sent again, see retry().)
 */
static void written(struct qs_php_conn *pc)
{
	pc->out_off = pc->out_len = 0;
	if (pc->out_cap > (256u << 10)) {
		free(pc->out);
		pc->out = NULL;
		pc->out_cap = 0;
		pc->req_len = 0;
	}
}

/* Put pr's encoded request on pc (idle or new). */
static void assign(struct qs_php_conn *pc, struct qs_php_req *pr)
{
	pc->pr = pr;
	pc->idle = false;
	pr->conn = pc;
	hold_slot(pr, true);
	pc->out = pr->out;	/* release() and conn_new() leave pc->out NULL */
	pc->out_len = pr->out_len;
	pc->out_cap = pr->out_cap;
	pc->out_off = 0;
	pc->req_len = pc->out_len;
	pc->rx_any = false;
	qs_req_upstream_begin(pr->req);	/* php-fpm's time runs from here */
	pc->keep = pr->keep;
	pc->tx = 0;
	/* on a kept-alive connection: look whether its child takes the request soon */
	pc->probe_script = pc->last_script;
	pc->probe_confirm = false;
	pc->probe_at = pc->reused && pc->probe_script && pc->ctx->diag >= 0 ?
		       qs_clock_ns() + QS_PHP_PROBE_NS : 0;
	pc->last_script = pr->script;
	pr->out = NULL;
	pr->out_len = pr->out_cap = 0;
	pc->headers_sent = false;
	pc->no_body = false;
	pc->overrun_told = false;
	pc->body_left = -1;
	pc->reading_paused = false;
	qs_cgi_init(&pc->cgi, pc->cgibuf, CGI_HDR_MAX);
	qs_fcgi_parser_reset(&pc->parser, REQUEST_ID);
	touch(pc);
	/*
	 * A request nearly always fits the socket buffer: write it now and
	 * leave epoll watching EPOLLIN alone (no epoll_ctl per request).
	 * What does not fit, or fails, goes through EPOLLOUT, where a
	 * failure is answered outside our caller's loop over the queue.
	 */
	while (pc->out_off < pc->out_len) {
		ssize_t n = write(pc->fd, pc->out + pc->out_off, pc->out_len - pc->out_off);

		if (n <= 0)
			break;
		pc->out_off += (size_t)n;
		pc->tx += (uint64_t)n;
	}
	if (pc->out_off < pc->out_len || (pr->body_fd >= 0 && !pr->stdin_done)) {
		watch(pc, EPOLLOUT | EPOLLIN);	/* a body from a file: flush_out reads it */
		return;
	}
	written(pc);
	give_credit(pr);
	watch(pc, EPOLLIN);
}

static void on_io(struct qs_io *io, uint32_t events);

/* A new connection to the pool, or NULL (the cause is logged). */
static struct qs_php_conn *conn_new(struct qs_php_ctx *ctx)
{
	struct qs_php_conn *pc = calloc(1, sizeof(*pc));
	int ret;

	if (!pc)
		return NULL;
	pc->cgibuf = malloc(CGI_HDR_MAX);
	if (!pc->cgibuf) {
		free(pc);
		return NULL;
	}
	pc->io.on_event = on_io;
	pc->ctx = ctx;
	ret = connect_backend(ctx->site->cfg, &pc->fd);
	if (ret) {
		pr_warn("cannot reach the FastCGI backend: %s", strerror(-ret));
		free(pc->cgibuf);
		free(pc);
		return NULL;
	}
	ctx->n_conns++;
	pc->next = ctx->all_conns;
	if (ctx->all_conns)
		ctx->all_conns->prev = pc;
	ctx->all_conns = pc;
	return pc;
}

static struct qs_php_conn *idle_conn(struct qs_php_ctx *ctx)
{
	for (struct qs_php_conn *pc = ctx->all_conns; pc; pc = pc->next)
		if (pc->idle)
			return pc;
	return NULL;
}

/*
 * The request's answer came without PHP's (an error): it holds nothing
 * more, and the rest of a streamed body is not wanted.
 */
static int answer(struct qs_php_req *pr, int status)
{
	free(pr->out);
	pr->out = NULL;
	if (pr->stream_body && !pr->stdin_done && !pr->body_stopped) {
		pr->body_stopped = true;
		qs_req_stop_body(pr->req);
	}
	return qs_respond_error(pr->req, status, NULL, NULL);
}

/*
 * Start pr on an idle connection or a new one: 1 started, 0 the pool is
 * full (pr waits), -1 php-fpm unreachable (pr answered 502).
 */
static int try_start(struct qs_php_ctx *ctx, struct qs_php_req *pr)
{
	struct qs_php_conn *pc;
	bool reused;

	if (conn_full(pr))
		return 0;	/* its connection holds its share: it waits its turn */
	pc = idle_conn(ctx);
	reused = pc != NULL;
	if (!pc) {
		if (ctx->n_conns >= pool_share(ctx->site->cfg))
			return 0;
		pc = conn_new(ctx);
		if (!pc) {
			answer(pr, 502);
			return -1;
		}
	}
	pc->reused = reused;
	assign(pc, pr);
	return 1;
}

static void dispatch_queue(struct qs_php_ctx *ctx)
{
	struct qs_php_req *prev = NULL, *pr, *next;
	bool down = false, recheck = true;

	/* oldest first, passing over requests whose connection holds its share */
	for (pr = ctx->queue_head; pr; pr = next) {
		next = pr->qnext;
		/* the pool changes only when one starts: no scan per request passed over */
		if (recheck && !idle_conn(ctx) && ctx->n_conns >= pool_share(ctx->site->cfg))
			return;
		recheck = false;
		if (!down && conn_full(pr)) {
			prev = pr;
			continue;
		}
		if (prev)
			prev->qnext = next;
		else
			ctx->queue_head = next;
		if (ctx->queue_tail == pr)
			ctx->queue_tail = prev;
		pr->qnext = NULL;
		pr->queued = false;
		ctx->n_queued--;
		/* one failed connect says it for the whole queue (no 1024 retries) */
		if (down)
			answer(pr, 502);
		else
			down = try_start(ctx, pr) < 0;
		recheck = true;
	}
}

/* The request goes to php-fpm: encoded now, on a connection now or queued. */
static int begin(struct qs_php_req *pr)
{
	struct qs_php_ctx *ctx = pr->ctx;
	struct qs_req *req = pr->req;
	size_t n = script_len(req->path, req->pathlen);
	const char *script = req->path;
	char front[sizeof(ctx->site->cfg->index) + 1];
	int ret;

	pr->started = true;
	if (pr->body_too_large)
		return answer(pr, 413);
	if (pr->body_failed)
		return answer(pr, 500);
	if (pr->body_busy)
		return answer(pr, 503);
	if (pr->front) {
		snprintf(front, sizeof(front), "/%s", ctx->site->cfg->index);
		script = front;
		n = strlen(front);
	}
	ret = check_script_cached(ctx, script, n);
	if (ret)
		return answer(pr, ret == -EINVAL ? 400 : 404);
	pr->script = script_hash(script, n);
	ret = encode_request(pr);
	if (ret)
		return answer(pr, ret);
	if (try_start(ctx, pr) != 0)
		return 0;
	/* every connection of this worker's share is busy: wait, boundedly */
	if (ctx->n_queued >= QS_PHP_QUEUE_MAX)
		return answer(pr, 503);
	pr->queued = true;
	if (ctx->queue_tail)
		ctx->queue_tail->qnext = pr;
	else
		ctx->queue_head = pr;
	ctx->queue_tail = pr;
	ctx->n_queued++;
	return 0;
}

/* The request on pc is complete: keep pc for the next one. */
static void release(struct qs_php_conn *pc)
{
	struct qs_php_ctx *ctx = pc->ctx;

	if (pc->pr) {
		hold_slot(pc->pr, false);
		pc->pr->conn = NULL;
	}
	pc->pr = NULL;
	pc->idle = true;
	free(pc->out);
	pc->out = NULL;
	/* a learnt finisher's child may run on: the connection is no use */
	if ((ctx->draining && !ctx->queue_head) || !pc->keep ||
	    (ctx->finishers_next && is_finisher(ctx, pc->last_script))) {
		conn_free(pc);	/* its php-fpm child goes back to the pool at once */
		return;
	}
	/* watch for php-fpm closing it while idle */
	watch(pc, EPOLLIN);
	dispatch_queue(ctx);
}

static int flush_out(struct qs_php_conn *pc);

static bool idempotent(const char *method)
{
	static const char *const m[] = { "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE" };

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (!strcmp(method, m[i]))
			return true;
	return false;
}

/*
 * A kept-alive connection that fails before php-fpm sent a byte for this
 * request was most likely closed by its child (pm.max_requests, an idle
 * child stopped) as the request went out: send it again on another
 * connection, first in the queue, up to RETRY_MAX times (each is another
 * kept-alive connection that was gone: with pm.max_requests = 3 and 4
 * children, once was not enough for 1 request in a few thousand).  Only when the whole request is still
 * here (no streamed body) and, unless not one byte of it was written, only
 * for an idempotent method: a child that died running a POST must not run it
 * twice (nginx's rule for fastcgi_next_upstream).
 */
static bool retry(struct qs_php_conn *pc, bool unsent)
{
	struct qs_php_ctx *ctx = pc->ctx;
	struct qs_php_req *pr = pc->pr;

	if (!pr || !pc->reused || pc->rx_any || pr->retries >= RETRY_MAX ||
	    pr->stream_body || pr->body_fd >= 0 ||
	    !pc->out || !pc->req_len || (!unsent && !idempotent(pr->req->method)))
		return false;
	pr->out = pc->out;
	pr->out_len = pc->req_len;
	pr->out_cap = pc->out_cap;
	pc->out = NULL;
	pr->retries++;
	hold_slot(pr, false);
	pr->conn = NULL;
	pc->pr = NULL;
	pr->queued = true;
	pr->qnext = ctx->queue_head;
	ctx->queue_head = pr;
	if (!ctx->queue_tail)
		ctx->queue_tail = pr;
	ctx->n_queued++;
	count(&ctx->site->stats->php_retries, 1);
	return true;
}

/* php-fpm is done with the request: its time in the histogram (/metrics). */
static void upstream_end(struct qs_req *req)
{
	struct qs_php_time *h = &req->site->stats->php_time;
	uint64_t ns = qs_req_upstream_end(req), us = ns / 1000;

	if (!ns)
		return;	/* none measured, or counted already */
	count(&h->bucket[qs_php_time_bucket(us)], 1);
	count(&h->sum_us, us);
}

/* php-fpm failed us: an error answer if nothing was sent yet, else a reset. */
static void fail(struct qs_php_conn *pc, int status, const char *why)
{
	struct qs_php_req *pr = pc->pr;

	if (pr) {
		upstream_end(pr->req);
		pr_warn("request %" PRIu64 ": FastCGI: %s", pr->req->id, why);
		if (!pc->headers_sent)
			answer(pr, status);
		else
			qs_abort(pr->req);
	}
	conn_free(pc);
}

/* Response fields a script may send (the layer adds server and date). */
#define CGI_FIELDS_MAX 254

/*
 * The script's head.  204 and 304 have no content (RFC 9110 15.3.5,
 * 15.4.5): what the script writes after them is dropped, and a 204 loses
 * its Content-Length (a 304's may stand: it tells the 200's length).
 * Otherwise the script's Content-Length is held against what it writes
 * (send_body, end_response): HTTP/3 calls a body of another length
 * malformed (RFC 9114 4.1.2), and the client's stack fails the request.
 */
static int send_headers(struct qs_php_conn *pc)
{
	struct qs_field f[CGI_FIELDS_MAX];
	size_t n = 0, pos = 0;
	struct qs_cgi_field cf;
	const char *accel = NULL;       /* x-accel-redirect's value, in the CGI buffer */
	size_t accel_len = 0;
	int status = pc->cgi.status;

	pc->no_body = status == 204 || status == 304;
	pc->body_left = pc->no_body ? -1 : pc->cgi.content_length;
	while (qs_cgi_next(&pc->cgi, &pos, &cf)) {
		if (status == 204 && !strcmp(cf.name, "content-length"))
			continue;
		/* never a silent cut (a Set-Cookie lost): the script's fault, 500 */
		if (n == CGI_FIELDS_MAX)
			return -E2BIG;
		if (!strcmp(cf.name, "x-accel-redirect")) {
			accel = cf.value;
			accel_len = cf.value_len;
		}
		f[n++] = (struct qs_field){ cf.name, cf.value, cf.name_len, cf.value_len };
	}
	pc->headers_sent = true;
	if (accel) {
		/* the file is the answer: what the script writes is dropped */
		pc->no_body = true;
		pc->body_left = -1;
		return qs_accel_respond(pc->pr->req, accel, accel_len, f, n);
	}
	return qs_respond(pc->pr->req, status, f, n, !pc->no_body);
}

/*
 * Body bytes from the script: dropped after a 204/304 and for HEAD, cut
 * at its Content-Length (logged once).  0, or -errno from qs_send().
 */
static int send_body(struct qs_php_conn *pc, const uint8_t *data, size_t len)
{
	struct qs_req *req = pc->pr->req;

	if (pc->no_body || req->head)
		return 0;
	if (pc->body_left >= 0) {
		if ((uint64_t)len > (uint64_t)pc->body_left) {
			if (!pc->overrun_told)
				pr_warn("request %" PRIu64 ": the script wrote more than its "
					"Content-Length of %" PRId64 ": the rest is dropped",
					req->id, pc->cgi.content_length);
			pc->overrun_told = true;
			len = (size_t)pc->body_left;
		}
		pc->body_left -= (int64_t)len;
	}
	return qs_send(req, data, len);
}

/*
 * The script is done: the response ends, unless it wrote less than its
 * Content-Length.  Then a clean end would pass a short body off as the
 * whole (a client that does not check keeps a truncated file): the stream
 * is reset instead.  HEAD sends no body, so it is never short.
 */
static void end_response(struct qs_php_conn *pc)
{
	struct qs_req *req = pc->pr->req;

	upstream_end(req);
	pc->flush_at = 0;
	if (pc->body_left > 0 && !req->head) {
		pr_warn("request %" PRIu64 ": the script ended %" PRId64 " bytes short of its "
			"Content-Length of %" PRId64 ": stream reset", req->id, pc->body_left,
			pc->cgi.content_length);
		qs_abort(req);
		return;
	}
	qs_end(req);
}

/* Once a second is over: its STDERR count starts again, what it dropped is logged. */
static void stderr_second(struct qs_php_ctx *ctx, uint64_t now)
{
	if (now - ctx->stderr_since < NS_PER_SEC)
		return;
	if (ctx->stderr_dropped)
		pr_warn("php: %" PRIu64 " more STDERR lines not logged (at most %u a second; "
			"php-fpm's log has them)", ctx->stderr_dropped, STDERR_PER_SEC);
	ctx->stderr_since = now;
	ctx->stderr_lines = 0;
	ctx->stderr_dropped = 0;
}

/* A piece of STDERR: one log line, escaped and cut, or counted when over the rate. */
static void log_stderr(struct qs_php_conn *pc, const uint8_t *data, size_t len)
{
	struct qs_php_ctx *ctx = pc->ctx;
	char line[STDERR_LINE_MAX + 1];
	size_t used;

	stderr_second(ctx, qs_clock_ns());
	if (ctx->stderr_lines >= STDERR_PER_SEC) {
		ctx->stderr_dropped++;
		return;
	}
	ctx->stderr_lines++;
	used = qs_fcgi_log_escape(line, sizeof(line), data, len);
	if (used < len)
		pr_warn("request %" PRIu64 ": php: %s... (%zu more bytes)", pc->pr->req->id,
			line, len - used);
	else
		pr_warn("request %" PRIu64 ": php: %s", pc->pr->req->id, line);
}

/* STDOUT bytes: headers first, then body.  -1 when pc was freed. */
static int on_stdout(struct qs_php_conn *pc, const uint8_t *data, size_t len)
{
	size_t body_off = 0;
	int ret;

	if (!pc->headers_sent) {
		ret = qs_cgi_feed(&pc->cgi, data, len, &body_off);
		if (ret == 0)
			return 0;
		if (ret < 0) {
			/* an invalid block is the script's fault: 500 */
			fail(pc, 500, pc->cgi.why);
			return -1;
		}
		ret = send_headers(pc);
		if (ret) {
			fail(pc, 500, ret == -E2BIG ? "the script sent more than 254 header fields" :
				      "cannot submit the response");
			return -1;
		}
		data += body_off;
		len -= body_off;
	}
	if (len && send_body(pc, data, len)) {
		fail(pc, 500, "out of memory");
		return -1;
	}
	return 0;
}

static void on_readable(struct qs_php_conn *pc)
{
	uint8_t buf[READ_CHUNK];
	ssize_t n;

	while (pc->pr && !pc->reading_paused) {
		n = read(pc->fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				return;
			/* nothing more for now: if it stays so, a pause (see FLUSH_PAUSE_NS) */
			if (errno == EAGAIN && pc->headers_sent && pc->pr->req->enc)
				pc->flush_at = qs_clock_ns() + FLUSH_PAUSE_NS;
			if (errno == EAGAIN)
				return;
			if (retry(pc, false)) {
				conn_free(pc);	/* the queue starts it again */
				return;
			}
			fail(pc, 502, strerror(errno));
			return;
		}
		touch(pc);
		if (n > 0) {
			pc->rx_any = true;
			pc->probe_at = 0;
		}
		if (n == 0) {
			if (qs_fcgi_parse_eof(&pc->parser)) {
				if (retry(pc, false)) {
					conn_free(pc);	/* the queue starts it again */
					return;
				}
				fail(pc, 502, "php-fpm closed the connection before the end");
				return;
			}
			conn_free(pc);
			return;
		}
		for (size_t off = 0; off < (size_t)n;) {
			struct qs_fcgi_event ev;
			ssize_t used = qs_fcgi_parse(&pc->parser, buf + off, (size_t)n - off, &ev);

			if (used < 0) {
				fail(pc, 502, pc->parser.why);
				return;
			}
			off += (size_t)used;
			switch (ev.type) {
			case QS_FCGI_EV_STDOUT:
				if (ev.len) {
					if (on_stdout(pc, ev.data, ev.len))
						return;
				} else if (!pc->headers_sent && qs_cgi_eof(&pc->cgi)) {
					fail(pc, 500, "empty or truncated CGI header block");
					return;
				}
				break;
			case QS_FCGI_EV_STDERR:
				if (ev.len)
					log_stderr(pc, ev.data, ev.len);
				break;
			case QS_FCGI_EV_END:
				if (!pc->headers_sent) {
					fail(pc, 500, "no response from the script");
					return;
				}
				end_response(pc);
				if (off != (size_t)n || pc->reading_paused ||
				    !pc->pr->stdin_done || pc->out_off < pc->out_len) {
					/* bytes after END, or a body php did not wait
					 * for: do not reuse the connection */
					conn_free(pc);
					return;
				}
				release(pc);
				return;
			default:
				break;
			}
		}
		/* bounded memory: stop reading while the client lags a window */
		if (qs_send_backlog(pc->pr->req)) {
			pc->reading_paused = true;
			watch(pc, 0);
		}
	}
}

static void on_io(struct qs_io *io, uint32_t events)
{
	struct qs_php_conn *pc = (struct qs_php_conn *)io;	/* io is the first member */

	if (pc->dead)
		return;
	if (pc->idle) {
		/* php-fpm closed a kept-alive connection (or talks out of turn) */
		conn_free(pc);
		return;
	}
	if (events & EPOLLOUT) {
		if (flush_out(pc))
			return;
	}
	if ((events & (EPOLLHUP | EPOLLERR)) && pc->reading_paused) {
		/* a hangup cannot be masked: leave epoll until reading resumes */
		epoll_ctl(pc->ctx->site->loop->epfd, EPOLL_CTL_DEL, pc->fd, NULL);
		pc->registered = false;
		pc->events = 0;
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		on_readable(pc);
}

/* The earliest FastCGI deadline. */
static uint64_t php_next_deadline(void *ud)
{
	struct qs_php_ctx *ctx = ud;
	uint64_t next = UINT64_MAX;

	/* a few hundred at most per worker (its share of the pool): a scan is cheap */
	for (struct qs_php_conn *pc = ctx->all_conns; pc; pc = pc->next) {
		if (!pc->idle && !pc->reading_paused && pc->deadline < next)
			next = pc->deadline;
		if (pc->probe_at && pc->probe_at < next)
			next = pc->probe_at;
		if (pc->flush_at && pc->flush_at < next)
			next = pc->flush_at;
	}
	/* the count of STDERR pieces not logged, when their second ends */
	if (ctx->stderr_dropped && ctx->stderr_since + NS_PER_SEC < next)
		next = ctx->stderr_since + NS_PER_SEC;
	return next;
}

/*
 * A request on a kept-alive connection got nothing for QS_PHP_PROBE_NS:
 * if php-fpm's child has read none of it (the kernel's count of the bytes
 * waiting at its end of a Unix socket; over TCP there is no telling), and
 * still none at QS_PHP_CONFIRM_NS, the child is still in the script
 * before, which ended its response early.
 */
static void probe(struct qs_php_conn *pc)
{
	struct qs_php_ctx *ctx = pc->ctx;
	uint32_t unread;

	pc->probe_at = 0;
	if (pc->idle || pc->rx_any || ctx->diag < 0 || is_finisher(ctx, pc->probe_script))
		return;
	if (qs_unixdiag_unread(ctx->diag, pc->fd, &pc->peer_ino, &unread) || unread < pc->tx)
		return;
	if (!pc->probe_confirm) {
		pc->probe_confirm = true;
		pc->probe_at = qs_clock_ns() + QS_PHP_CONFIRM_NS - QS_PHP_PROBE_NS;
		return;
	}
	ctx->finishers[ctx->finishers_next++ % QS_PHP_FINISHERS] = pc->probe_script;
	count(&ctx->site->stats->php_finishers, 1);
	pr_info("php: a script answered early (fastcgi_finish_request) and ran on, holding its "
		"php-fpm child and the kept-alive connection: its requests close their "
		"connection from now on");
}

/* Answer 504 (or reset) what waited too long for php-fpm. */
static void php_on_timer(void *ud, uint64_t now)
{
	struct qs_php_ctx *ctx = ud;
	struct qs_php_conn *pc = ctx->all_conns, *next;

	if (ctx->stderr_dropped)
		stderr_second(ctx, now);
	for (; pc; pc = next) {
		next = pc->next;
		if (pc->probe_at && pc->probe_at <= now)
			probe(pc);
		if (pc->flush_at && pc->flush_at <= now) {
			pc->flush_at = 0;
			if (pc->pr && pc->headers_sent && qs_flush(pc->pr->req)) {
				fail(pc, 500, "cannot compress the response");
				continue;
			}
		}
		/* a paused read waits for the client, not for php-fpm */
		if (!pc->idle && !pc->reading_paused && pc->deadline <= now)
			fail(pc, 504, "php-fpm sent nothing for --fastcgi-timeout");
	}
}

static int queue_stdin(uint8_t **buf, size_t *len, size_t *cap, const uint8_t *data,
		       size_t dlen, bool end);

/*
 * The next piece of a body held in a file, as STDIN records into pc's
 * drained out buffer (the empty record after the last): php-fpm gets it as
 * fast as it reads, and the worker holds one piece at a time.  0 or -errno.
 */
static int refill(struct qs_php_conn *pc)
{
	struct qs_php_req *pr = pc->pr;
	uint8_t piece[FILE_PIECE];
	uint64_t left = pr->file_len - pr->file_off;
	size_t n = left < sizeof(piece) ? (size_t)left : sizeof(piece);
	ssize_t got = 0;

	if (n) {
		got = pread(pr->body_fd, piece, n, (off_t)pr->file_off);
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		pr->file_off += (uint64_t)got;
	}
	pc->out_off = pc->out_len = 0;
	if (pr->file_off == pr->file_len)
		pr->stdin_done = true;
	return queue_stdin(&pc->out, &pc->out_len, &pc->out_cap, piece, (size_t)got,
			   pr->stdin_done);
}

/* Write what is queued for php-fpm; -1 when pc was freed. */
static int flush_out(struct qs_php_conn *pc)
{
	for (;;) {
		while (pc->out_off < pc->out_len) {
			ssize_t n = write(pc->fd, pc->out + pc->out_off,
					  pc->out_len - pc->out_off);

			if (n < 0) {
				if (errno == EAGAIN) {
					watch(pc, EPOLLOUT | (pc->reading_paused ? 0 : EPOLLIN));
					return 0;
				}
				if (retry(pc, pc->out_off == 0)) {
					conn_free(pc);	/* the queue starts it again */
					return -1;
				}
				fail(pc, 502, strerror(errno));
				return -1;
			}
			pc->out_off += (size_t)n;
			pc->tx += (uint64_t)n;
		}
		if (!pc->pr || pc->pr->body_fd < 0 || pc->pr->stdin_done)
			break;
		if (refill(pc)) {
			fail(pc, 500, "cannot read the buffered request body back");
			return -1;
		}
	}
	written(pc);
	give_credit(pc->pr);
	watch(pc, pc->reading_paused ? 0 : EPOLLIN);
	return 0;
}

/* Append STDIN records (or, with len 0 and end, the empty one) to a queue. */
static int queue_stdin(uint8_t **buf, size_t *len, size_t *cap, const uint8_t *data,
		       size_t dlen, bool end)
{
	size_t need = *len + (dlen ? qs_fcgi_stream_size(dlen) : 0) +
		      (end ? QS_FCGI_STREAM_END_LEN : 0);

	if (need > *cap) {
		size_t c = *cap ? *cap : 4096;
		uint8_t *b;

		while (c < need)
			c *= 2;
		b = realloc(*buf, c);
		if (!b)
			return -ENOMEM;
		*buf = b;
		*cap = c;
	}
	if (dlen)
		*len += (size_t)qs_fcgi_stream(*buf + *len, *cap - *len, QS_FCGI_STDIN, REQUEST_ID,
					       data, dlen);
	if (end)
		*len += (size_t)qs_fcgi_stream_end(*buf + *len, *cap - *len, QS_FCGI_STDIN,
						   REQUEST_ID);
	return 0;
}

/* Body bytes of a streamed request: to php-fpm as they come. */
static int stream_body(struct qs_php_req *pr, const uint8_t *data, size_t len, bool end)
{
	struct qs_php_conn *pc = pr->conn;
	int ret;

	if (pr->stdin_done || pr->body_stopped || (!pc && !pr->queued)) {
		/* the request is over (answered, or php-fpm done): drop the rest */
		qs_req_consume(pr->req, len);
		return 0;
	}
	if (pc && pc->out_off) {
		/* what php-fpm took is gone: the queue never outgrows the window */
		memmove(pc->out, pc->out + pc->out_off, pc->out_len - pc->out_off);
		pc->out_len -= pc->out_off;
		pc->out_off = 0;
	}
	ret = pc ? queue_stdin(&pc->out, &pc->out_len, &pc->out_cap, data, len, end)
		 : queue_stdin(&pr->out, &pr->out_len, &pr->out_cap, data, len, end);
	if (ret)
		return ret;
	pr->credit += len;
	if (!pc) {
		/*
		 * Waiting for a FastCGI connection: the body it holds is bounded
		 * by its stream window (not extended while it waits), so give
		 * the connection's credit back now.  Held against the connection
		 * too, waiting uploads would block the bodies of the running
		 * ones, which free the pool: a deadlock.
		 */
		qs_req_hold(pr->req, len);
	}
	if (end)
		pr->stdin_done = true;
	if (pc)
		flush_out(pc);	/* a failure is answered there */
	return 0;
}

/* Body bytes of a request without Content-Length: held whole, then sent. */
/* Write all of data to fd; 0 or -errno. */
static int write_all(int fd, const uint8_t *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The body outgrew memory: it goes on in an unlinked file (O_TMPFILE: never
 * visible, gone when the request is), what memory held first.
 */
static int spill(struct qs_php_req *pr, const uint8_t *data, size_t len)
{
	struct qs_php_ctx *ctx = pr->ctx;
	const char *dir = ctx->site->cfg->body_temp_dir;
	uint64_t more = len + (pr->body_fd < 0 ? pr->body_len : 0);
	int ret;

	/* the worker's share of the disk and of the descriptors: 503 beyond */
	if (ctx->file_bytes + more > ctx->site->cfg->max_body_temp ||
	    (pr->body_fd < 0 && ctx->n_files >= QS_PHP_BODY_FILES_MAX))
		return -ENOSPC;
	if (pr->body_fd < 0) {
		pr->body_fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (pr->body_fd < 0) {
			ret = -errno;
			pr_warn("request %" PRIu64 ": cannot buffer its body in %s: %s "
				"(--body-temp-dir must be a directory the workers' user can "
				"write, on a filesystem with O_TMPFILE)", pr->req->id, dir,
				strerror(-ret));
			return ret;
		}
		ctx->n_files++;
		ret = write_all(pr->body_fd, pr->body, pr->body_len);
		if (ret)
			goto fail;
		pr->file_len = pr->body_len;
		ctx->file_bytes += pr->body_len;
		body_release(pr);
		free(pr->body);
		pr->body = NULL;
		pr->body_len = pr->body_cap = 0;
	}
	ret = write_all(pr->body_fd, data, len);
	if (!ret) {
		pr->file_len += len;
		ctx->file_bytes += len;
		return 0;
	}
fail:
	pr_warn("request %" PRIu64 ": writing its body to %s failed: %s", pr->req->id, dir,
		strerror(-ret));
	return ret;
}

/*
 * Body bytes of a request that goes to php-fpm whole: in memory (with
 * buffering on up to --body-buffer-size, then in a file), up to --max-body
 * (with buffering off and no Content-Length, in memory up to
 * QS_PHP_BODY_MAX: CGI wants the length first).  Credited as they come:
 * the limits bound them.
 */
static int hold_body(struct qs_php_req *pr, const uint8_t *data, size_t len, bool end)
{
	struct qs_php_ctx *ctx = pr->ctx;
	const struct qs_config *cfg = ctx->site->cfg;
	uint64_t limit = cfg->max_body;

	if (!cfg->php_request_buffering && limit > QS_PHP_BODY_MAX)
		limit = QS_PHP_BODY_MAX;
	if (len && !pr->body_too_large && !pr->body_busy && !pr->body_failed) {
		if (pr->body_len + pr->file_len + len > limit) {
			pr->body_too_large = true;	/* answered 413 at the end */
			body_free(pr);
		} else if (pr->body_fd >= 0 || (cfg->php_request_buffering &&
						pr->body_len + len > cfg->body_buffer_size)) {
			int ret = spill(pr, data, len);

			if (ret == -ENOSPC)
				pr->body_busy = true;	/* answered 503 at the end */
			else if (ret)
				pr->body_failed = true;	/* answered 500 at the end */
			if (ret)
				body_free(pr);
		} else {
			size_t cap = pr->body_cap;

			if (pr->body_len + len > pr->body_cap) {
				size_t c = pr->body_cap ? pr->body_cap : 16384;
				uint8_t *b;

				while (c < pr->body_len + len)
					c *= 2;
				b = realloc(pr->body, c);
				if (!b)
					return -ENOMEM;
				pr->body = b;
				pr->body_cap = c;
			}
			memcpy(pr->body + pr->body_len, data, len);
			pr->body_len += len;
			/* the budget counts what is allocated, not what is filled */
			ctx->held_bytes += pr->body_cap - cap;
			pr->body_held += pr->body_cap - cap;
			if (ctx->held_bytes > QS_PHP_HELD_MAX) {
				pr->body_busy = true;	/* answered 503 at the end */
				body_free(pr);
			}
		}
	}
	qs_req_consume(pr->req, len);
	return end ? begin(pr) : 0;
}

static int php_body(struct qs_req *req, const uint8_t *data, size_t len, bool end)
{
	struct qs_php_req *pr = req->hdata;

	if (pr->stream_body)
		return stream_body(pr, data, len, end);
	if (pr->started) {
		qs_req_consume(req, len);	/* answered already: dropped */
		return 0;
	}
	return hold_body(pr, data, len, end);
}

static int start(struct qs_req *req, bool front)
{
	struct qs_php_ctx *ctx = req->site->php;
	struct qs_php_req *pr = calloc(1, sizeof(*pr));

	if (!pr)
		return -ENOMEM;
	pr->req = req;
	pr->ctx = ctx;
	pr->front = front;
	pr->body_fd = -1;
	req->hdata = pr;
	if (req->content_length <= 0)
		return 0;	/* held until its end: CGI wants the length first */
	if ((uint64_t)req->content_length > ctx->site->cfg->max_body) {
		int ret = answer(pr, 413);

		pr->started = true;
		qs_req_stop_body(req);
		return ret;
	}
	/*
	 * Buffering on: held whole, so a client that stalls mid-body never
	 * holds a php-fpm child; off: streamed to PHP as it comes.
	 */
	if (ctx->site->cfg->php_request_buffering)
		return 0;
	pr->stream_body = true;
	return begin(pr);
}

static int php_start(struct qs_req *req)
{
	return start(req, false);
}

static int php_start_front(struct qs_req *req)
{
	return start(req, true);
}

/* The client acknowledged data: maybe read from php-fpm again. */
static void php_proceed(struct qs_req *req)
{
	struct qs_php_req *pr = req->hdata;
	struct qs_php_conn *pc = pr ? pr->conn : NULL;

	if (pc && pc->reading_paused && !qs_send_backlog(req)) {
		pc->reading_paused = false;
		watch(pc, EPOLLIN);
		on_readable(pc);
	}
}

/* The stream is going away: drop its FastCGI connection. */
static void php_close(struct qs_req *req)
{
	struct qs_php_req *pr = req->hdata;
	struct qs_php_ctx *ctx;
	struct qs_php_conn *pc;

	if (!pr)
		return;
	ctx = pr->ctx;
	pc = pr->conn;
	if (pr->queued) {
		struct qs_php_req **pp = &ctx->queue_head, *prev = NULL;

		while (*pp && *pp != pr) {
			prev = *pp;
			pp = &(*pp)->qnext;
		}
		if (*pp)
			*pp = pr->qnext;
		if (ctx->queue_tail == pr)
			ctx->queue_tail = prev;
		pr->queued = false;
		ctx->n_queued--;
	}
	if (pc) {
		/* the client went away: closing the socket aborts the script */
		hold_slot(pr, false);
		pc->pr = NULL;
		pr->conn = NULL;
		conn_free(pc);
	}
	free(pr->out);
	body_free(pr);
	free(pr);
	req->hdata = NULL;
}

const struct qs_handler qs_php_handler = {
	.name = "php",
	.upstream = "php",
	.rate_limited = true,
	.start = php_start,
	.body = php_body,
	.proceed = php_proceed,
	.close = php_close,
};

const struct qs_handler qs_php_front_handler = {
	.name = "php (front controller)",
	.upstream = "php",
	.rate_limited = true,
	.start = php_start_front,
	.body = php_body,
	.proceed = php_proceed,
	.close = php_close,
};

int qs_php_ctx_new(struct qs_site *site)
{
	struct qs_php_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return -ENOMEM;
	ctx->site = site;
	ctx->hook = (struct qs_loop_hook){
		.ud = ctx,
		.next_deadline = php_next_deadline,
		.on_timer = php_on_timer,
		.drain = php_drain,
		.after_events = php_reap,
	};
	qs_loop_add_hook(site->loop, &ctx->hook);
	/* now, before the sandbox: to see a busy child on a Unix socket (probe()) */
	ctx->diag = site->cfg->fastcgi == QS_FASTCGI_TCP || site->cfg->fastcgi == QS_FASTCGI_OFF ?
		    -1 : qs_unixdiag_open();
	if (ctx->diag < 0)
		ctx->diag = -1;
	site->php = ctx;
	return 0;
}

void qs_php_ctx_free(struct qs_site *site)
{
	struct qs_php_ctx *ctx = site->php;

	if (!ctx)
		return;
	/* the streams went first, so every connection is idle or gone */
	while (ctx->all_conns)
		conn_free(ctx->all_conns);
	php_reap(ctx);
	if (ctx->diag >= 0)
		close(ctx->diag);
	free(ctx->params);
	free(ctx);
	site->php = NULL;
}
