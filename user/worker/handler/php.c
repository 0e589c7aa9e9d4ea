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

#include <openssl/ssl.h>

#include "common/log.h"
#include "common/config.h"
#include "quicsteer/steer.h"
#include "worker/counters.h"
#include "worker/handler/fcgi.h"
#include "worker/http/h3.h"
#include "worker/quic/net.h"
#include "worker/handler/php.h"
#include "worker/quic/quic.h"
#include "worker/handler/static.h"

#define READ_CHUNK   (16u << 10)
#define CGI_HDR_MAX  (64u << 10)
#define REQUEST_ID   1

struct qs_php_conn {
	int fd;
	struct qs_server *srv;
	struct qs_stream *st;
	uint8_t *out;               /* BEGIN_REQUEST .. empty STDIN, as it comes */
	size_t out_len, out_off, out_cap;
	struct qs_fcgi_parser parser;
	struct qs_cgi cgi;
	char *cgibuf;
	bool headers_sent;
	bool reading_paused;
	uint32_t events;            /* what epoll watches now */
	bool registered;
	uint64_t deadline;          /* ns; pushed on at every byte from php-fpm */
	bool idle;                  /* kept alive, waiting for the next request */
	bool reused;                /* this request went on a kept-alive connection */
	bool rx_any;                /* php-fpm sent something for this request */
	size_t req_len;             /* the encoded request at the head of out */
	bool dead;                  /* freed at the end of this loop iteration */
	struct qs_php_conn *next, *prev;   /* all of this worker's */
};

/*
 * The pool: php-fpm gives a child to each connection, kept-alive ones
 * included, so a worker keeps at most its share of the pool's children
 * (--php-max-children / workers) and queues the rest; idle connections
 * can then never starve another worker (DESIGN.md).
 */
static unsigned n_conns;
static struct qs_php_conn *all_conns;
static bool draining;           /* SIGTERM/reload: keep no connection idle */
static struct qs_stream *queue_head, *queue_tail;
static unsigned n_queued;
/*
 * Connections closed during one batch of epoll events are freed after it:
 * an event for one of them may still be further down the batch.
 */
static struct qs_php_conn *graveyard;

static unsigned pool_share(const struct qs_config *cfg)
{
	unsigned n = cfg->php_max_children / (cfg->workers ? cfg->workers : 1);

	return n ? n : 1;
}

static void dispatch_queue(struct qs_server *s);

static void touch(struct qs_php_conn *pc)
{
	pc->deadline = qs_now() + (uint64_t)pc->srv->cfg->fastcgi_timeout_ms * NGTCP2_MILLISECONDS;
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

bool qs_php_wants(const struct qs_server *s, const char *path, size_t pathlen)
{
	if (s->cfg->fastcgi == QS_FASTCGI_OFF || !path)
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

static struct script_slot script_cache[SCRIPT_SLOTS];

static struct script_slot *script_slot(const char *path, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)path[i]) * 0x100000001b3ull;
	return &script_cache[h % SCRIPT_SLOTS];
}

static int check_script_cached(const struct qs_docroot *d, const char *path, size_t n)
{
	struct script_slot *slot = n < SCRIPT_PATH_MAX ? script_slot(path, n) : NULL;
	uint64_t now = qs_now();
	int ret;

	if (slot && slot->len == n && slot->expires_ns > now && !memcmp(slot->path, path, n))
		return 0;
	ret = check_script(d, path, n);
	if (!ret && slot) {
		memcpy(slot->path, path, n);
		slot->len = (uint32_t)n;
		slot->expires_ns = now + (uint64_t)SCRIPT_TTL_MS * NGTCP2_MILLISECONDS;
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
	char host[INET6_ADDRSTRLEN] = "", port[8];
	const void *a = NULL;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (a)
		inet_ntop(sa->sa_family, a, host, sizeof(host));
	/* a dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d */
	if (!strncmp(host, "::ffff:", 7) && strchr(host, '.'))
		memmove(host, host + 7, strlen(host + 7) + 1);
	snprintf(port, sizeof(port), "%u", qs_addr_port(sa));
	if (add(p, addr_name, host, strlen(host)))
		return -ENOSPC;
	return add(p, port_name, port, strlen(port));
}

/* The params of a request, into buf; its length or -errno. */
static ssize_t build_params(struct qs_stream *st, uint8_t *buf, size_t size)
{
	struct qs_conn *c = st->conn;
	struct qs_server *s = c->srv;
	/* the path the request arrived on, when it starts as it arrives */
	const ngtcp2_path *path = s->rx_conn == c && s->rx_path ? s->rx_path :
				  ngtcp2_conn_get_path(c->qc);
	size_t n = uri_len(st->path, st->pathlen);
	const char *query = n < st->pathlen ? st->path + n + 1 : "";
	size_t qlen = n < st->pathlen ? st->pathlen - n - 1 : 0;
	size_t sn = st->front ? n : script_len(st->path, st->pathlen);
	const char *info = st->path + sn;
	size_t ilen = n - sn;
	const char *root = s->docroot->path;
	char script[QS_STATIC_PATH_MAX + 4096], len_s[24], worker[16];
	struct qs_fcgi_params p;
	const char *authority = st->authority ? st->authority : "";
	char front[sizeof(s->cfg->index) + 1];
	const char *sname = st->path;
	size_t slen = sn;
	size_t hostlen = strcspn(authority, ":");
	bool cookie_seen = false;
	int ret = 0;

	qs_fcgi_params_init(&p, buf, size);
	if (st->front) {
		snprintf(front, sizeof(front), "/%s", s->cfg->index);
		sname = front;
		slen = strlen(front);
	}
	snprintf(script, sizeof(script), "%s%.*s", root, (int)slen, sname);
	snprintf(len_s, sizeof(len_s), "%llu", (unsigned long long)(st->php_stream_body ?
		 (uint64_t)st->req_content_length : st->body_len));
	snprintf(worker, sizeof(worker), "%u/%u", s->gen, s->id);
	ret |= add(&p, "SCRIPT_FILENAME", script, strlen(script));
	ret |= add(&p, "SCRIPT_NAME", sname, slen);
	ret |= add(&p, "PATH_INFO", info, ilen);
	/* as nginx's $document_uri: the path, or the index script it went to */
	ret |= add(&p, "DOCUMENT_URI", st->front ? sname : st->path, st->front ? slen : n);
	ret |= add(&p, "DOCUMENT_ROOT", root, strlen(root));
	ret |= add(&p, "REQUEST_URI", st->path, st->pathlen);
	ret |= add(&p, "QUERY_STRING", query, qlen);
	ret |= add(&p, "REQUEST_METHOD", st->method, strlen(st->method));
	ret |= add(&p, "CONTENT_TYPE", st->content_type ? st->content_type : "",
		   st->content_type ? strlen(st->content_type) : 0);
	ret |= add(&p, "CONTENT_LENGTH", strcmp(len_s, "0") ? len_s : "",
		   strcmp(len_s, "0") ? strlen(len_s) : 0);
	ret |= add(&p, "SERVER_PROTOCOL", "HTTP/3", 6);
	ret |= add(&p, "REQUEST_SCHEME", "https", 5);
	ret |= add(&p, "HTTPS", "on", 2);
	ret |= add(&p, "GATEWAY_INTERFACE", "CGI/1.1", 7);
	ret |= add(&p, "SERVER_SOFTWARE", "quicsteer/" QS_VERSION, strlen("quicsteer/" QS_VERSION));
	ret |= add(&p, "SERVER_NAME", authority, hostlen);
	ret |= add(&p, "QUICSTEER_WORKER", worker, strlen(worker));
	if (c->ssl) {
		const char *ver = SSL_get_version(c->ssl), *cipher = SSL_get_cipher_name(c->ssl);

		ret |= add(&p, "SSL_PROTOCOL", ver, strlen(ver));
		ret |= add(&p, "SSL_CIPHER", cipher ? cipher : "", cipher ? strlen(cipher) : 0);
		/* as nginx's $ssl_session_reused */
		ret |= add(&p, "SSL_SESSION_REUSED", SSL_session_reused(c->ssl) ? "r" : ".", 1);
	}
	/* RFC 8470 5.1: what an intermediary adds to a request it got in 0-RTT */
	if (st->early)
		ret |= add(&p, "HTTP_EARLY_DATA", "1", 1);
		/* the client's current address: it changes when the client migrates */
	ret |= add_addr(&p, "REMOTE_ADDR", "REMOTE_PORT", path->remote.addr);
	ret |= add_addr(&p, "SERVER_ADDR", "SERVER_PORT", path->local.addr);
	if (ret)
		return -ENOSPC;
	if (st->authority && qs_fcgi_params_add(&p, "HTTP_HOST", 9, authority, strlen(authority)))
		return -ENOSPC;
	/* every request field as HTTP_*; cookie fields joined by "; " (RFC 9114 4.2.1) */
	for (size_t off = 0; off < st->hdrs_len;) {
		const char *name = st->hdrs + off, *value = name + strlen(name) + 1;
		size_t nl = strlen(name), vl = strlen(value);

		off += nl + vl + 2;
		if (!strcmp(name, "cookie")) {
			if (cookie_seen)
				continue;	/* joined below */
			cookie_seen = true;
			if (qs_fcgi_params_add(&p, "HTTP_COOKIE", 11, value, vl))
				return -ENOSPC;
			for (size_t o2 = off; o2 < st->hdrs_len;) {
				const char *n2 = st->hdrs + o2, *v2 = n2 + strlen(n2) + 1;

				o2 += strlen(n2) + strlen(v2) + 2;
				if (!strcmp(n2, "cookie") &&
				    qs_fcgi_params_append(&p, "; ", 2, v2, strlen(v2)))
					return -ENOSPC;
			}
			continue;
		}
		/* an intermediary adds Early-Data; a client's is never passed on */
		if (!strcmp(name, "early-data") || !strcmp(name, "host") ||
		    !strcmp(name, "content-type") || !strcmp(name, "content-length"))
			continue;
		ret = qs_fcgi_params_add_header(&p, name, nl, value, vl);
		if (ret == -ENOSPC)
			return ret;
		/* -EINVAL/-EPERM: a name PHP must not see (x_a forging x-a, "proxy") */
	}
	return (ssize_t)p.len;
}

static void give_credit(struct qs_stream *st);

static void conn_free(struct qs_php_conn *pc)
{
	if (pc->fd >= 0) {
		epoll_ctl(pc->srv->epfd, EPOLL_CTL_DEL, pc->fd, NULL);
		close(pc->fd);
	}
	if (pc->st) {
		give_credit(pc->st);	/* the stream lives on without its body's reader */
		pc->st->php_conn = NULL;
	}
	if (pc->prev)
		pc->prev->next = pc->next;
	else
		all_conns = pc->next;
	if (pc->next)
		pc->next->prev = pc->prev;
	free(pc->out);
	free(pc->cgibuf);
	pc->out = NULL;
	pc->cgibuf = NULL;
	pc->fd = -1;
	pc->st = NULL;
	pc->dead = true;
	pc->next = graveyard;
	graveyard = pc;
	n_conns--;
	dispatch_queue(pc->srv);	/* a slot is free */
}

void qs_php_drain(void)
{
	struct qs_php_conn *pc, *next;

	draining = true;
	for (pc = all_conns; pc; pc = next) {
		next = pc->next;
		if (pc->idle)
			conn_free(pc);
	}
}

void qs_php_reap(void)
{
	while (graveyard) {
		struct qs_php_conn *pc = graveyard;

		graveyard = pc->next;
		free(pc);
	}
}

static void watch(struct qs_php_conn *pc, uint32_t events)
{
	struct epoll_event ev = {
		.events = events,
		.data.u64 = QS_EV_PHP_TAG | (uint64_t)(uintptr_t)pc,
	};

	if (pc->registered && events == pc->events)
		return;
	/* paused is "no events" but still registered: MOD, not ADD */
	epoll_ctl(pc->srv->epfd, pc->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, pc->fd, &ev);
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
static int encode_request(struct qs_stream *st, uint8_t **pout, size_t *plen_out)
{
	struct qs_server *s = st->conn->srv;
	size_t psize = s->cfg->max_header_bytes + 16384, cap, len;
	/* scratch for the params, reused: one worker, one request at a time here */
	static uint8_t *params;
	uint8_t *out;
	ssize_t plen;

	if (!params && !(params = malloc(psize)))
		return 500;
	plen = build_params(st, params, psize);
	if (plen < 0)
		return 431;
	cap = QS_FCGI_BEGIN_LEN + qs_fcgi_stream_size((size_t)plen) + QS_FCGI_STREAM_END_LEN +
	      qs_fcgi_stream_size(st->body_len) + QS_FCGI_STREAM_END_LEN;
	out = malloc(cap);
	if (!out)
		return 500;
	len = (size_t)qs_fcgi_begin_request(out, cap, REQUEST_ID, s->cfg->fastcgi_keepalive);
	len += (size_t)qs_fcgi_stream(out + len, cap - len, QS_FCGI_PARAMS, REQUEST_ID,
				      params, (size_t)plen);
	len += (size_t)qs_fcgi_stream_end(out + len, cap - len, QS_FCGI_PARAMS, REQUEST_ID);
	if (!st->php_stream_body) {
		/* the whole body is here (or there is none) */
		if (st->body_len)
			len += (size_t)qs_fcgi_stream(out + len, cap - len, QS_FCGI_STDIN,
						      REQUEST_ID, st->body, st->body_len);
		len += (size_t)qs_fcgi_stream_end(out + len, cap - len, QS_FCGI_STDIN, REQUEST_ID);
		st->php_stdin_done = true;
	}
	free(st->body);		/* its bytes are in out now, still counted as held */
	st->body = NULL;
	*pout = out;
	*plen_out = len;
	st->php_out_cap = cap;
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

/* Put st's encoded request on pc (idle or new). */
static void assign(struct qs_php_conn *pc, struct qs_stream *st)
{
	pc->st = st;
	pc->idle = false;
	st->php_conn = pc;
	pc->out = st->php_out;	/* release() and conn_new() leave pc->out NULL */
	pc->out_len = st->php_out_len;
	pc->out_cap = st->php_out_cap;
	pc->out_off = 0;
	pc->req_len = pc->out_len;
	pc->rx_any = false;
	st->php_out = NULL;
	st->php_out_len = st->php_out_cap = 0;
	pc->headers_sent = false;
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
	}
	if (pc->out_off < pc->out_len) {
		watch(pc, EPOLLOUT | EPOLLIN);
		return;
	}
	written(pc);
	give_credit(st);
	watch(pc, EPOLLIN);
}

/* A new connection to the pool, or NULL (the cause is logged). */
static struct qs_php_conn *conn_new(struct qs_server *s)
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
	pc->srv = s;
	ret = connect_backend(s->cfg, &pc->fd);
	if (ret) {
		pr_warn("cannot reach the FastCGI backend: %s", strerror(-ret));
		free(pc->cgibuf);
		free(pc);
		return NULL;
	}
	n_conns++;
	pc->next = all_conns;
	if (all_conns)
		all_conns->prev = pc;
	all_conns = pc;
	return pc;
}

static struct qs_php_conn *idle_conn(void)
{
	for (struct qs_php_conn *pc = all_conns; pc; pc = pc->next)
		if (pc->idle)
			return pc;
	return NULL;
}

/* The backend is unreachable: 502, and the request is done with. */
static void answer_502(struct qs_stream *st)
{
	free(st->php_out);
	st->php_out = NULL;
	qs_h3_respond_error(st, 502);
	qs_conn_schedule_write(st->conn);
}

/*
 * Start st on an idle connection or a new one: 1 started, 0 the pool is
 * full (st waits), -1 php-fpm unreachable (st answered 502).
 */
static int try_start(struct qs_server *s, struct qs_stream *st)
{
	struct qs_php_conn *pc = idle_conn();
	bool reused = pc != NULL;

	if (!pc) {
		if (n_conns >= pool_share(s->cfg))
			return 0;
		pc = conn_new(s);
		if (!pc) {
			answer_502(st);
			return -1;
		}
	}
	pc->reused = reused;
	assign(pc, st);
	return 1;
}

static void dispatch_queue(struct qs_server *s)
{
	bool down = false;

	while (queue_head) {
		struct qs_stream *st = queue_head;

		if (!idle_conn() && n_conns >= pool_share(s->cfg))
			return;
		queue_head = st->php_qnext;
		if (!queue_head)
			queue_tail = NULL;
		st->php_qnext = NULL;
		st->php_queued = false;
		n_queued--;
		/* one failed connect says it for the whole queue (no 1024 retries) */
		if (down)
			answer_502(st);
		else
			down = try_start(s, st) < 0;
	}
}

int qs_php_start(struct qs_stream *st)
{
	struct qs_server *s = st->conn->srv;
	size_t n = script_len(st->path, st->pathlen);
	const char *script = st->path;
	char front[sizeof(s->cfg->index) + 1];
	int ret;

	if (st->body_too_large)
		return qs_h3_respond_error(st, 413);
	if (st->body_busy)
		return qs_h3_respond_error(st, 503);
	if (st->front) {
		snprintf(front, sizeof(front), "/%s", s->cfg->index);
		script = front;
		n = strlen(front);
	}
	ret = check_script_cached(s->docroot, script, n);
	if (ret)
		return qs_h3_respond_error(st, ret == -EINVAL ? 400 : 404);
	ret = encode_request(st, &st->php_out, &st->php_out_len);
	if (ret)
		return qs_h3_respond_error(st, ret);
	if (try_start(s, st) != 0)
		return 0;
	/* every connection of this worker's share is busy: wait, boundedly */
	if (n_queued >= QS_PHP_QUEUE_MAX) {
		free(st->php_out);
		st->php_out = NULL;
		return qs_h3_respond_error(st, 503);
	}
	st->php_queued = true;
	if (queue_tail)
		queue_tail->php_qnext = st;
	else
		queue_head = st;
	queue_tail = st;
	n_queued++;
	return 0;
}

/* The request on pc is complete: keep pc for the next one. */
static void release(struct qs_php_conn *pc)
{
	if (pc->st)
		pc->st->php_conn = NULL;
	pc->st = NULL;
	pc->idle = true;
	free(pc->out);
	pc->out = NULL;
	if ((draining && !queue_head) || !pc->srv->cfg->fastcgi_keepalive) {
		conn_free(pc);	/* its php-fpm child goes back to the pool at once */
		return;
	}
	/* watch for php-fpm closing it while idle */
	watch(pc, EPOLLIN);
	dispatch_queue(pc->srv);
}

/*
 * Body bytes reached php-fpm: now the client may send as many more
 * (QUIC flow control is the backpressure: a slow script slows the upload).
 */
static void give_credit(struct qs_stream *st)
{
	if (!st)
		return;
	qs_h3_body_release(st);	/* a held body: its copy has gone to php-fpm */
	if (!st->php_credit)
		return;
	ngtcp2_conn_extend_max_stream_offset(st->conn->qc, st->id, st->php_credit);
	if (st->php_credit > st->php_conn_credited)
		ngtcp2_conn_extend_max_offset(st->conn->qc, st->php_credit - st->php_conn_credited);
	st->php_credit = st->php_conn_credited = 0;
	qs_conn_schedule_write(st->conn);
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
 * child stopped) as the request went out: send it again, once, on another
 * connection, first in the queue.  Only when the whole request is still
 * here (no streamed body) and, unless not one byte of it was written, only
 * for an idempotent method: a child that died running a POST must not run it
 * twice (nginx's rule for fastcgi_next_upstream).
 */
static bool retry(struct qs_php_conn *pc, bool unsent)
{
	struct qs_stream *st = pc->st;

	if (!st || !pc->reused || pc->rx_any || st->php_retried || st->php_stream_body ||
	    !pc->out || !pc->req_len || (!unsent && !idempotent(st->method)))
		return false;
	st->php_out = pc->out;
	st->php_out_len = pc->req_len;
	st->php_out_cap = pc->out_cap;
	pc->out = NULL;
	st->php_retried = true;
	st->php_conn = NULL;
	pc->st = NULL;
	st->php_queued = true;
	st->php_qnext = queue_head;
	queue_head = st;
	if (!queue_tail)
		queue_tail = st;
	n_queued++;
	count(&pc->srv->stats->php_retries, 1);
	return true;
}

/* php-fpm failed us: an error answer if nothing was sent yet, else a reset. */
static void fail(struct qs_php_conn *pc, int status, const char *why)
{
	struct qs_stream *st = pc->st;

	if (st) {
		pr_warn("stream %" PRId64 ": FastCGI: %s", st->id, why);
		if (!pc->headers_sent)
			qs_h3_respond_error(st, status);
		else
			qs_h3_abort(st);
		qs_conn_schedule_write(st->conn);
	}
	conn_free(pc);
}

static int send_headers(struct qs_php_conn *pc)
{
	struct qs_stream *st = pc->st;
	nghttp3_nv nva[256];
	size_t n = 0, pos = 0;
	struct qs_cgi_field f;
	char status_s[4];

	snprintf(status_s, sizeof(status_s), "%d", pc->cgi.status);
	nva[n++] = (nghttp3_nv){ (uint8_t *)":status", (uint8_t *)status_s, 7, 3,
				 NGHTTP3_NV_FLAG_NONE };
	nva[n++] = (nghttp3_nv){ (uint8_t *)"server", (uint8_t *)"quicsteer", 6, 9,
				 NGHTTP3_NV_FLAG_NONE };
	while (qs_cgi_next(&pc->cgi, &pos, &f)) {
		/* never a silent cut (a Set-Cookie lost): the script's fault, 500 */
		if (n == sizeof(nva) / sizeof(nva[0]))
			return -E2BIG;
		nva[n++] = (nghttp3_nv){ (uint8_t *)f.name, (uint8_t *)f.value, f.name_len,
					 f.value_len, NGHTTP3_NV_FLAG_NONE };
	}
	pc->headers_sent = true;
	return qs_h3_submit(st, pc->cgi.status, nva, n, strcmp(st->method, "HEAD") != 0);
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
			/* an invalid block is the script's fault: 500 (issue 4) */
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
	if (len && strcmp(pc->st->method, "HEAD") != 0 && qs_h3_body_append(pc->st, data, len)) {
		fail(pc, 500, "out of memory");
		return -1;
	}
	return 0;
}

static void on_readable(struct qs_php_conn *pc)
{
	uint8_t buf[READ_CHUNK];
	ssize_t n;

	while (pc->st && !pc->reading_paused) {
		n = read(pc->fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (retry(pc, false)) {
				conn_free(pc);	/* the queue starts it again */
				return;
			}
			fail(pc, 502, strerror(errno));
			return;
		}
		touch(pc);
		if (n > 0)
			pc->rx_any = true;
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
					pr_warn("stream %" PRId64 ": php: %.*s", pc->st->id,
						(int)(ev.len > 1000 ? 1000 : ev.len), (const char *)ev.data);
				break;
			case QS_FCGI_EV_END:
				if (!pc->headers_sent) {
					fail(pc, 500, "no response from the script");
					return;
				}
				qs_h3_body_end(pc->st);
				qs_conn_schedule_write(pc->st->conn);
				if (off != (size_t)n || pc->reading_paused ||
				    !pc->st->php_stdin_done || pc->out_off < pc->out_len) {
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
		qs_conn_schedule_write(pc->st->conn);
		/* bounded memory: stop reading while the client lags a window */
		if (qs_h3_body_backlog(pc->st)) {
			pc->reading_paused = true;
			watch(pc, 0);
		}
	}
}

void qs_php_on_event(struct qs_server *s, void *conn, uint32_t events)
{
	struct qs_php_conn *pc = conn;

	(void)s;
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
		epoll_ctl(pc->srv->epfd, EPOLL_CTL_DEL, pc->fd, NULL);
		pc->registered = false;
		pc->events = 0;
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		on_readable(pc);
}

void qs_php_on_acked(struct qs_stream *st)
{
	struct qs_php_conn *pc = st->php_conn;

	if (pc && pc->reading_paused && !qs_h3_body_backlog(st)) {
		pc->reading_paused = false;
		watch(pc, EPOLLIN);
		on_readable(pc);
	}
}

void qs_php_stream_closed(struct qs_stream *st)
{
	struct qs_php_conn *pc = st->php_conn;

	if (st->php_queued) {
		struct qs_stream **pp = &queue_head, *prev = NULL;

		while (*pp && *pp != st) {
			prev = *pp;
			pp = &(*pp)->php_qnext;
		}
		if (*pp)
			*pp = st->php_qnext;
		if (queue_tail == st)
			queue_tail = prev;
		st->php_queued = false;
		n_queued--;
	}
	free(st->php_out);
	st->php_out = NULL;
	if (!pc)
		return;
	/* the client went away: closing the socket aborts the script */
	pc->st = NULL;
	st->php_conn = NULL;
	conn_free(pc);
}

uint64_t qs_php_next_deadline(void)
{
	uint64_t next = UINT64_MAX;

	/* a few hundred at most per worker (QS_PHP_CONNS_MAX): a scan is cheap */
	for (struct qs_php_conn *pc = all_conns; pc; pc = pc->next)
		if (!pc->idle && !pc->reading_paused && pc->deadline < next)
			next = pc->deadline;
	return next;
}

void qs_php_on_timer(uint64_t now)
{
	struct qs_php_conn *pc = all_conns, *next;

	for (; pc; pc = next) {
		next = pc->next;
		/* a paused read waits for the client, not for php-fpm */
		if (!pc->idle && !pc->reading_paused && pc->deadline <= now)
			fail(pc, 504, "php-fpm sent nothing for --fastcgi-timeout");
	}
}

/* Write what is queued for php-fpm; -1 when pc was freed. */
static int flush_out(struct qs_php_conn *pc)
{
	while (pc->out_off < pc->out_len) {
		ssize_t n = write(pc->fd, pc->out + pc->out_off, pc->out_len - pc->out_off);

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
	}
	written(pc);
	give_credit(pc->st);
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

int qs_php_body(struct qs_stream *st, const uint8_t *data, size_t len, bool end)
{
	struct qs_php_conn *pc = st->php_conn;
	int ret;

	if (st->php_stdin_done)
		return 0;
	if (!pc && !st->php_queued) {
		/* the request is over (answered, or php-fpm done): drop the rest */
		ngtcp2_conn_extend_max_stream_offset(st->conn->qc, st->id, len);
		ngtcp2_conn_extend_max_offset(st->conn->qc, len);
		return 0;
	}
	if (pc && pc->out_off) {
		/* what php-fpm took is gone: the queue never outgrows the window */
		memmove(pc->out, pc->out + pc->out_off, pc->out_len - pc->out_off);
		pc->out_len -= pc->out_off;
		pc->out_off = 0;
	}
	ret = pc ? queue_stdin(&pc->out, &pc->out_len, &pc->out_cap, data, len, end)
		 : queue_stdin(&st->php_out, &st->php_out_len, &st->php_out_cap, data, len, end);
	if (ret)
		return ret;
	st->php_credit += len;
	if (!pc) {
		/*
		 * Waiting for a FastCGI connection: the body it holds is bounded
		 * by its stream window (not extended while it waits), so give
		 * the connection's credit back now.  Held against the connection
		 * too, waiting uploads would block the bodies of the running
		 * ones, which free the pool: a deadlock.
		 */
		ngtcp2_conn_extend_max_offset(st->conn->qc, len);
		st->php_conn_credited += len;
	}
	if (end)
		st->php_stdin_done = true;
	if (pc)
		flush_out(pc);	/* a failure is answered there */
	return 0;
}
