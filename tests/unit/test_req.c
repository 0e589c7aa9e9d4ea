// SPDX-License-Identifier: MIT
/*
 * Unit tests of the request layer (http/req.c) with the real handlers
 * (handler/files.c, handler/php.c, handler/route.c) driven by a fake
 * protocol: a struct qs_proto_ops that records what a handler answers
 * (status, fields, body bytes, file regions, end, abort) and the flow
 * control it gives back (consume, hold, stop_body), over a real docroot
 * in a temporary directory.  A mistake in the glue between the layer and
 * a handler shows here, not only as an end-to-end timeout.
 *
 * PHP runs without php-fpm (a socket path nobody listens on: 502), and
 * against a fake php-fpm the test plays on a unix socket, one FastCGI
 * request at a time, through the site's real epoll loop.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/docroot.h"
#include "quicsteer/steer.h"
#include "common/fcgi.h"
#include "worker/handler/files.h"
#include "worker/handler/php.h"
#include "worker/handler/route.h"
#include "worker/http/accesslog.h"
#include "worker/http/date.h"
#include "worker/http/req.h"
#include "worker/site.h"
#include "check.h"

static char base[] = "/tmp/qs-req-test.XXXXXX";
static char root[256];		/* base/root: the docroot */
static char root_real[PATH_MAX];
static char nosock[100];	/* where no php-fpm listens */
static char fpmsock[100];	/* where the test plays php-fpm */

static struct qs_docroot doc = QS_DOCROOT_INIT;
static struct qs_config cfg;
static struct qs_worker_stats stats;
static struct qs_loop loop = { .epfd = -1 };
static struct qs_site site;

#define HELLO_SIZE 100
/* RFC 9110's own example date */
#define HELLO_MTIME 784111777
#define HELLO_DATE "Sun, 06 Nov 1994 08:49:37 GMT"
#define SECRET "TOP-SECRET outside the docroot\n"
#define BIG_SIZE (100u << 10)	/* over the file cache's limit: always a file region */

static char hello[HELLO_SIZE];

/* ---- the fake protocol ---------------------------------------------------- */

#define FAKE_FIELDS 32

struct fake {
	struct qs_req req;		/* first: the ops get &f->req */
	/* what the handler answered */
	int responds;
	int status;			/* req->status when respond came */
	bool resp_body;			/* the body flag respond got */
	size_t nfields;
	char fname[FAKE_FIELDS][64];
	char fvalue[FAKE_FIELDS][512];
	uint8_t *body;
	size_t body_len, body_cap;
	int sends, files, ends, aborts, stop_bodies, addrs;
	bool file_inside;		/* every file region came from under the docroot */
	bool late;			/* bytes or a respond after the answer was complete */
	/* flow control */
	uint64_t delivered;		/* body bytes given to the handler */
	uint64_t consumed, held;
	bool backlog;			/* what qs_send_backlog() says */
};

static struct fake *fake_of(struct qs_req *req)
{
	return (struct fake *)req;
}

/* The answer is complete: ended, a file region (the last part), or no body. */
static bool complete(const struct fake *f)
{
	return f->ends || f->files || (f->responds && !f->resp_body);
}

static int append(struct fake *f, const uint8_t *data, size_t len)
{
	if (f->body_len + len > f->body_cap) {
		size_t cap = f->body_cap ? f->body_cap : 4096;
		uint8_t *b;

		while (cap < f->body_len + len)
			cap *= 2;
		b = realloc(f->body, cap);
		if (!b)
			return -ENOMEM;
		f->body = b;
		f->body_cap = cap;
	}
	memcpy(f->body + f->body_len, data, len);
	f->body_len += len;
	return 0;
}

static int fake_respond(struct qs_req *req, const struct qs_field *fl, size_t n, bool body)
{
	struct fake *f = fake_of(req);

	if (complete(f))
		f->late = true;
	f->responds++;
	f->status = req->status;
	f->resp_body = body;
	f->nfields = 0;
	for (size_t i = 0; i < n && i < FAKE_FIELDS; i++) {
		snprintf(f->fname[i], sizeof(f->fname[i]), "%.*s", (int)fl[i].name_len,
			 fl[i].name);
		snprintf(f->fvalue[i], sizeof(f->fvalue[i]), "%.*s", (int)fl[i].value_len,
			 fl[i].value);
		f->nfields++;
	}
	return 0;
}

static int fake_send(struct qs_req *req, const uint8_t *data, size_t len)
{
	struct fake *f = fake_of(req);

	if (!f->responds || complete(f))
		f->late = true;
	f->sends++;
	return append(f, data, len);
}

static bool fd_inside(int fd)
{
	char link[64], where[PATH_MAX];
	size_t rl = strlen(root_real);
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, where, sizeof(where) - 1);
	if (n < 0)
		return false;
	where[n] = '\0';
	return !strncmp(where, root_real, rl) && where[rl] == '/';
}

static int fake_send_file(struct qs_req *req, int fd, uint64_t off, uint64_t len)
{
	struct fake *f = fake_of(req);
	uint8_t *buf = malloc(len ? len : 1);
	ssize_t got;
	int ret = 0;

	if (!f->responds || complete(f))
		f->late = true;
	if (!f->files)
		f->file_inside = true;
	f->files++;
	f->file_inside &= fd_inside(fd);
	got = buf ? pread(fd, buf, len, (off_t)off) : -1;
	if (got != (ssize_t)len)
		ret = -EIO;
	else
		ret = append(f, buf, len);
	free(buf);
	close(fd);	/* the protocol's now */
	return ret;
}

static void fake_end(struct qs_req *req)
{
	struct fake *f = fake_of(req);

	if (!f->responds)
		f->late = true;
	f->ends++;
}

static void fake_abort(struct qs_req *req)
{
	fake_of(req)->aborts++;
}

static bool fake_backlog(struct qs_req *req)
{
	return fake_of(req)->backlog;
}

static void fake_consume(struct qs_req *req, uint64_t n)
{
	fake_of(req)->consumed += n;
}

static void fake_hold(struct qs_req *req, uint64_t n)
{
	fake_of(req)->held += n;
}

static void fake_stop_body(struct qs_req *req)
{
	fake_of(req)->stop_bodies++;
}

/* what addr() reports: [2001:db8::1]:1234 and 192.0.2.7:443 (set in main) */
static struct sockaddr_in6 peer_addr = { .sin6_family = AF_INET6 };
static struct sockaddr_in local_addr = { .sin_family = AF_INET };

static void fake_addr(const struct qs_req *req, const struct sockaddr **peer,
		      const struct sockaddr **local)
{
	fake_of((struct qs_req *)req)->addrs++;
	*peer = (const struct sockaddr *)&peer_addr;
	*local = (const struct sockaddr *)&local_addr;
}

static const struct qs_proto_ops fake_ops = {
	.respond = fake_respond,
	.send = fake_send,
	.send_file = fake_send_file,
	.end = fake_end,
	.abort = fake_abort,
	.backlog = fake_backlog,
	.consume = fake_consume,
	.hold = fake_hold,
	.stop_body = fake_stop_body,
	.addr = fake_addr,
};

static void fake_init(struct fake *f, const char *method, const char *path)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->req.method, sizeof(f->req.method), "%s", method);
	f->req.path = strdup(path);
	f->req.pathlen = strlen(path);
	f->req.content_length = -1;
	/* what a protocol fills in before qs_req_start() */
	f->req.head = !strcmp(method, "HEAD");
	f->req.id = ++site.next_req_id;
	f->req.scheme = "https";
	f->req.protocol = "HTTP/3";
	f->req.site = &site;
	f->req.ops = &fake_ops;
}

static void fake_set(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
}

/* Body bytes as a protocol delivers them: none once the handler stopped the body. */
static int fake_body(struct fake *f, const void *data, size_t len, bool end)
{
	if (f->stop_bodies)
		return 0;	/* the protocol credits and drops them itself */
	f->delivered += len;
	return qs_req_body(&f->req, data, len, end);
}

static void fake_close(struct fake *f)
{
	if (!f->req.site)
		return;	/* closed and cleared already */
	qs_req_close(&f->req);
	qs_req_free_fields(&f->req);
	free(f->body);
	f->body = NULL;
}

static const char *field(const struct fake *f, const char *name)
{
	for (size_t i = 0; i < f->nfields; i++)
		if (!strcmp(f->fname[i], name))
			return f->fvalue[i];
	return NULL;
}

/* fields every response has its own of: the date, the request id, our span */
static bool per_response(const char *name)
{
	return !strcmp(name, "date") || !strcmp(name, "x-request-id") ||
	       !strcmp(name, "traceparent");
}

static unsigned field_count(const struct fake *f, const char *name)
{
	unsigned n = 0;

	for (size_t i = 0; i < f->nfields; i++)
		n += !strcmp(f->fname[i], name);
	return n;
}

/* A whole request without a body: start, then the end of the (empty) body. */
static int request(struct fake *f, const char *method, const char *path)
{
	int ret;

	fake_init(f, method, path);
	ret = qs_req_start(&f->req);
	if (!ret)
		ret = fake_body(f, NULL, 0, true);
	return ret;
}

/* ---- the docroot ---------------------------------------------------------- */

static int set_mtime(const char *name)
{
	struct timespec ts[2] = { { HELLO_MTIME, 0 }, { HELLO_MTIME, 0 } };
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, name);
	return utimensat(AT_FDCWD, path, ts, 0) ? -errno : 0;
}

static int build_docroot(void)
{
	static const char *const copies[] = { "get.txt", "cache.txt", "head.txt", "inm.txt",
					      "range.txt", "body.txt" };
	char path[512];
	uint8_t *big;
	int ret;

	if (!mkdtemp(base))
		return -errno;
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(nosock, sizeof(nosock), "%s/no-php-fpm.sock", base);
	snprintf(fpmsock, sizeof(fpmsock), "%s/php-fpm.sock", base);
	for (int i = 0; i < HELLO_SIZE; i++)
		hello[i] = (char)('0' + i % 10);
	if (mkdir(root, 0755) || write_file(base, "secret", SECRET, strlen(SECRET)) ||
	    write_file(base, "secret.php", SECRET, strlen(SECRET)) ||
	    write_file(root, "app.php", "<?php echo 1;\n", 14) ||
	    write_file(root, "index.php", "<?php route();\n", 15))
		return -1;
	/* one file per test where the file cache's state matters */
	for (size_t i = 0; i < sizeof(copies) / sizeof(copies[0]); i++)
		if (write_file(root, copies[i], hello, HELLO_SIZE) || set_mtime(copies[i]))
			return -1;
	big = malloc(BIG_SIZE);
	if (!big)
		return -ENOMEM;
	for (size_t i = 0; i < BIG_SIZE; i++)
		big[i] = (uint8_t)(i * 7 + i / 251);
	ret = write_file(root, "big.bin", big, BIG_SIZE);
	free(big);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "%s/link-out", root);
	if (symlink("../secret", path))
		return -errno;
	snprintf(path, sizeof(path), "%s/link-out.php", root);
	if (symlink("../secret.php", path))
		return -errno;
	if (!realpath(root, root_real))
		return -errno;
	return qs_docroot_open(&doc, root);
}

static void remove_docroot(void)
{
	qs_docroot_close(&doc);
	rm_tree(base);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ---- checks every answer must pass ---------------------------------------- */

/* server and date on every response; date an IMF-fixdate of now */
static int check_common(const struct fake *f)
{
	const char *date = field(f, "date");
	int64_t t;

	CHECK(f->responds == 1, "responded %d times", f->responds);
	CHECK(!f->late, "bytes, an end or a second head after the answer was complete");
	CHECK(field(f, "server") && !strcmp(field(f, "server"), "quicsteer"), "server: %s",
	      field(f, "server") ? field(f, "server") : "(none)");
	CHECK(field_count(f, "server") == 1 && field_count(f, "date") == 1,
	      "server x%u, date x%u", field_count(f, "server"), field_count(f, "date"));
	CHECK(date && strlen(date) == 29, "date: %s", date ? date : "(none)");
	t = qs_parse_imf_fixdate(date);
	CHECK(t > 0 && t >= (int64_t)time(NULL) - 2 && t <= (int64_t)time(NULL) + 1,
	      "date %s is not now", date);
	CHECK(complete(f), "the answer never ended");
	return 0;
}

/* content-length agrees with the body bytes that went out */
static int check_length(const struct fake *f, bool head)
{
	const char *cl = field(f, "content-length");

	CHECK(cl, "no content-length");
	if (head) {
		CHECK(f->body_len == 0 && !f->resp_body, "HEAD got %zu body bytes (body %d)",
		      f->body_len, f->resp_body);
		return 0;
	}
	CHECK(strtoull(cl, NULL, 10) == f->body_len, "content-length %s, %zu bytes sent", cl,
	      f->body_len);
	return 0;
}

/* ---- static files ---------------------------------------------------------- */

static int test_get_file(void)
{
	struct fake f;
	uint64_t ok = stats.req_2xx;
	const char *etag;
	int fds = open_fds();

	CHECK(request(&f, "GET", "/get.txt") == 0, "start or end failed");
	CHECK(f.req.handler == &qs_static_handler, "routed to %s", f.req.handler->name);
	CHECK(f.status == 200, "status %d", f.status);
	if (check_common(&f) || check_length(&f, false))
		return -1;
	CHECK(f.resp_body, "200 with a body announced none");
	CHECK(f.body_len == HELLO_SIZE && !memcmp(f.body, hello, HELLO_SIZE), "%zu body bytes",
	      f.body_len);
	CHECK(!strncmp(field(&f, "content-type") ?: "", "text/plain", 10), "content-type %s",
	      field(&f, "content-type") ?: "(none)");
	etag = field(&f, "etag");
	CHECK(etag && etag[0] == '"' && etag[strlen(etag) - 1] == '"' && strlen(etag) > 2,
	      "etag %s", etag ?: "(none)");
	CHECK(field(&f, "last-modified") && !strcmp(field(&f, "last-modified"), HELLO_DATE),
	      "last-modified %s", field(&f, "last-modified") ?: "(none)");
	/* a file the cache has not seen is a region of its file, from the docroot */
	CHECK(f.files == 1 && f.file_inside, "files %d, inside %d", f.files, f.file_inside);
	CHECK(stats.req_2xx == ok + 1, "req_2xx %llu, was %llu", (unsigned long long)stats.req_2xx,
	      (unsigned long long)ok);
	CHECK(f.stop_bodies == 0 && f.aborts == 0 && f.consumed == 0,
	      "stop_body %d abort %d consumed %llu", f.stop_bodies, f.aborts,
	      (unsigned long long)f.consumed);
	fake_close(&f);
	CHECK(open_fds() == fds, "%d descriptors open, %d before", open_fds(), fds);
	return 0;
}

static int test_get_cached(void)
{
	struct fake a, b;
	int ret = -1;

	CHECK(request(&a, "GET", "/cache.txt") == 0, "first GET failed");
	CHECK(a.status == 200 && a.files == 1, "first: status %d, files %d", a.status, a.files);
	if (request(&b, "GET", "/cache.txt?v=2")) {
		fprintf(stderr, "  second GET failed\n");
		goto out;
	}
	/* the second comes from the file cache: the bytes, not the file */
	if (b.status != 200 || b.files != 0 || b.sends != 1 || check_common(&b) ||
	    check_length(&b, false)) {
		fprintf(stderr, "  second: status %d files %d sends %d\n", b.status, b.files,
			b.sends);
		goto out;
	}
	if (b.body_len != a.body_len || memcmp(a.body, b.body, a.body_len)) {
		fprintf(stderr, "  the cached body differs (%zu, %zu bytes)\n", a.body_len,
			b.body_len);
		goto out;
	}
	for (size_t i = 0; i < a.nfields; i++) {
		const char *v = field(&b, a.fname[i]);

		if (per_response(a.fname[i]))
			continue;
		if (!v || strcmp(v, a.fvalue[i])) {
			fprintf(stderr, "  %s: %s first, %s from the cache\n", a.fname[i],
				a.fvalue[i], v ?: "(none)");
			goto out;
		}
	}
	if (b.nfields != a.nfields) {
		fprintf(stderr, "  %zu fields first, %zu from the cache\n", a.nfields, b.nfields);
		goto out;
	}
	ret = 0;
out:
	fake_close(&a);
	fake_close(&b);
	return ret;
}

/* HEAD: the fields a GET gets, no body; uncached, then from the cache. */
static int test_head(void)
{
	struct fake h1, g, h2;
	int ret = -1;

	request(&h1, "HEAD", "/head.txt");
	request(&g, "GET", "/head.txt");
	request(&h2, "HEAD", "/head.txt");
	if (h1.status != 200 || g.status != 200 || h2.status != 200) {
		fprintf(stderr, "  statuses %d %d %d\n", h1.status, g.status, h2.status);
		goto out;
	}
	if (check_common(&h1) || check_length(&h1, true) || check_common(&h2) ||
	    check_length(&h2, true) || check_length(&g, false))
		goto out;
	if (h2.files || h2.sends || h1.files || h1.sends) {
		fprintf(stderr, "  HEAD sent a body: files %d/%d sends %d/%d\n", h1.files,
			h2.files, h1.sends, h2.sends);
		goto out;
	}
	for (size_t i = 0; i < g.nfields; i++) {
		const char *v1 = field(&h1, g.fname[i]), *v2 = field(&h2, g.fname[i]);

		if (per_response(g.fname[i]))
			continue;
		if (!v1 || !v2 || strcmp(v1, g.fvalue[i]) || strcmp(v2, g.fvalue[i])) {
			fprintf(stderr, "  %s: GET %s, HEAD %s, HEAD cached %s\n", g.fname[i],
				g.fvalue[i], v1 ?: "(none)", v2 ?: "(none)");
			goto out;
		}
	}
	ret = 0;
out:
	fake_close(&h1);
	fake_close(&g);
	fake_close(&h2);
	return ret;
}

/* Other methods: 405 at once, the body stopped, not waited for. */
static int test_post_405(void)
{
	struct fake f;

	fake_init(&f, "POST", "/get.txt");
	f.req.content_length = 1000;
	CHECK(qs_req_start(&f.req) == 0, "start failed");
	CHECK(f.status == 405, "status %d", f.status);
	CHECK(f.stop_bodies == 1, "stop_body called %d times", f.stop_bodies);
	if (check_common(&f) || check_length(&f, false))
		return -1;
	CHECK(field(&f, "allow") && !strcmp(field(&f, "allow"), "GET, HEAD"), "allow %s",
	      field(&f, "allow") ?: "(none)");
	CHECK(fake_body(&f, "x", 1, false) == 0 && f.delivered == 0, "body after stop_body");
	fake_close(&f);

	/* an unknown method too, and HEAD never gets a body */
	fake_init(&f, "DELETE", "/nope");
	CHECK(qs_req_start(&f.req) == 0, "start failed");
	CHECK(f.status == 405 && f.stop_bodies == 1, "DELETE: status %d stop %d", f.status,
	      f.stop_bodies);
	fake_close(&f);
	return 0;
}

/* A GET with a body: every byte consumed as it comes, the answer at the end. */
static int test_get_with_body(void)
{
	static const uint8_t junk[64];
	struct fake f;

	fake_init(&f, "GET", "/body.txt");
	f.req.content_length = 60;
	CHECK(qs_req_start(&f.req) == 0, "start failed");
	CHECK(f.responds == 0, "answered at start");
	for (size_t n = 10; n <= 30; n += 10) {
		CHECK(fake_body(&f, junk, n, false) == 0, "body failed");
		CHECK(f.responds == 0, "answered before the end of the body");
		CHECK(f.consumed == f.delivered, "consumed %llu of %llu",
		      (unsigned long long)f.consumed, (unsigned long long)f.delivered);
	}
	CHECK(fake_body(&f, NULL, 0, true) == 0, "end failed");
	CHECK(f.status == 200 && f.consumed == 60 && f.held == 0, "status %d consumed %llu",
	      f.status, (unsigned long long)f.consumed);
	if (check_common(&f) || check_length(&f, false))
		return -1;
	CHECK(f.stop_bodies == 0, "stop_body after the whole body");
	fake_close(&f);
	return 0;
}

static int not_modified(const char *path, const char *inm, bool cached)
{
	struct fake f;

	fake_init(&f, "GET", path);
	fake_set(&f.req.if_none_match, inm);
	CHECK(qs_req_start(&f.req) == 0 && fake_body(&f, NULL, 0, true) == 0, "failed");
	CHECK(f.status == 304, "%s: status %d", cached ? "cached" : "uncached", f.status);
	if (check_common(&f))
		return -1;
	CHECK(!f.resp_body && f.body_len == 0 && f.files == 0 && f.sends == 0,
	      "304 with a body: announced %d, %zu bytes", f.resp_body, f.body_len);
	CHECK(field(&f, "etag") && !strcmp(field(&f, "etag"), inm), "etag %s",
	      field(&f, "etag") ?: "(none)");
	fake_close(&f);
	return 0;
}

static int test_if_none_match(void)
{
	struct fake f;
	char etag[80];

	/* HEAD learns the etag and leaves the cache alone */
	request(&f, "HEAD", "/inm.txt");
	CHECK(f.status == 200 && field(&f, "etag"), "HEAD: %d", f.status);
	snprintf(etag, sizeof(etag), "%s", field(&f, "etag"));
	fake_close(&f);
	if (not_modified("/inm.txt", etag, false))
		return -1;
	/* another etag: the whole file */
	fake_init(&f, "GET", "/inm.txt");
	fake_set(&f.req.if_none_match, "\"other\"");
	CHECK(qs_req_start(&f.req) == 0 && fake_body(&f, NULL, 0, true) == 0, "failed");
	CHECK(f.status == 200 && f.body_len == HELLO_SIZE, "status %d, %zu bytes", f.status,
	      f.body_len);
	fake_close(&f);
	/* that GET put it in the cache: the cached answer honours it too */
	request(&f, "GET", "/inm.txt");
	CHECK(f.status == 200 && f.files == 0, "not from the cache: files %d", f.files);
	fake_close(&f);
	return not_modified("/inm.txt", etag, true);
}

static int test_range(void)
{
	struct fake f;
	int round;

	/* uncached, then cached: a Range is always resolved from the file */
	for (round = 0; round < 2; round++) {
		fake_init(&f, "GET", "/range.txt");
		fake_set(&f.req.range, "bytes=10-19");
		CHECK(qs_req_start(&f.req) == 0 && fake_body(&f, NULL, 0, true) == 0, "failed");
		CHECK(f.status == 206, "round %d: status %d", round, f.status);
		if (check_common(&f) || check_length(&f, false))
			return -1;
		CHECK(field(&f, "content-range") &&
		      !strcmp(field(&f, "content-range"), "bytes 10-19/100"),
		      "content-range %s", field(&f, "content-range") ?: "(none)");
		CHECK(f.body_len == 10 && !memcmp(f.body, hello + 10, 10), "%zu bytes",
		      f.body_len);
		CHECK(f.files == 1 && f.file_inside, "files %d", f.files);
		fake_close(&f);
		request(&f, "GET", "/range.txt");	/* into the cache */
		fake_close(&f);
	}
	/* past the end: 416, an error page whose length is right */
	fake_init(&f, "GET", "/range.txt");
	fake_set(&f.req.range, "bytes=200-300");
	CHECK(qs_req_start(&f.req) == 0 && fake_body(&f, NULL, 0, true) == 0, "failed");
	CHECK(f.status == 416, "status %d", f.status);
	if (check_common(&f) || check_length(&f, false))
		return -1;
	CHECK(field(&f, "content-range") && !strcmp(field(&f, "content-range"), "bytes */100"),
	      "content-range %s", field(&f, "content-range") ?: "(none)");
	fake_close(&f);
	/* a large file: the region is not the cache's */
	fake_init(&f, "GET", "/big.bin");
	fake_set(&f.req.range, "bytes=70000-");
	CHECK(qs_req_start(&f.req) == 0 && fake_body(&f, NULL, 0, true) == 0, "failed");
	CHECK(f.status == 206 && f.body_len == BIG_SIZE - 70000, "status %d, %zu bytes",
	      f.status, f.body_len);
	CHECK(f.body[0] == (uint8_t)(70000 * 7 + 70000 / 251), "wrong offset");
	fake_close(&f);
	return 0;
}

static int test_not_found(void)
{
	struct fake f;
	uint64_t nf = stats.req_4xx;

	request(&f, "GET", "/missing.txt");
	CHECK(f.status == 404, "status %d", f.status);
	if (check_common(&f) || check_length(&f, false))
		return -1;
	CHECK(f.body_len > 0 && memmem(f.body, f.body_len, "404", 3), "no error page");
	CHECK(!strncmp(field(&f, "content-type") ?: "", "text/html", 9), "content-type %s",
	      field(&f, "content-type") ?: "(none)");
	CHECK(stats.req_4xx == nf + 1, "req_4xx %llu", (unsigned long long)stats.req_4xx);
	fake_close(&f);
	/* HEAD: the length a GET would get, no bytes */
	request(&f, "HEAD", "/missing.txt");
	CHECK(f.status == 404, "status %d", f.status);
	if (check_common(&f) || check_length(&f, true))
		return -1;
	CHECK(strtoul(field(&f, "content-length"), NULL, 10) > 0, "content-length 0");
	fake_close(&f);
	return 0;
}

/* Nothing outside the docroot is ever served, however the path is written. */
static int test_escape(void)
{
	static const char *const paths[] = {
		"/../secret", "/%2e%2e/secret", "/%2E%2E/secret", "//../secret",
		"/sub/../../secret", "/link-out", "/./../secret", "/..%2fsecret",
		"/..\\secret", "/link-out?x", "/..", "/../",
	};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		for (int round = 0; round < 2; round++) {	/* the cache must not learn it */
			struct fake f;

			request(&f, "GET", paths[i]);
			CHECK(f.status == 400 || f.status == 403 || f.status == 404,
			      "%s: status %d", paths[i], f.status);
			CHECK(f.files == 0 && !memmem(f.body ?: (uint8_t *)"", f.body_len,
						      "TOP-SECRET", 10),
			      "%s: served", paths[i]);
			if (check_common(&f) || check_length(&f, false))
				return -1;
			fake_close(&f);
		}
	}
	return 0;
}

/* The layer answers once: a second head is refused, an error page is a no-op. */
static int test_respond_twice(void)
{
	struct fake f;
	struct qs_field fl[1] = { QS_FIELD("x-one", "1", 1) };

	fake_init(&f, "GET", "/x");
	CHECK(qs_respond(&f.req, 200, fl, 1, true) == 0, "first respond failed");
	CHECK(qs_respond(&f.req, 500, fl, 1, false) == -EALREADY, "second respond not refused");
	CHECK(qs_respond_error(&f.req, 503, NULL, NULL) == 0, "error page after an answer");
	CHECK(f.responds == 1 && f.req.status == 200 && f.status == 200 && f.sends == 0,
	      "responds %d status %d sends %d", f.responds, f.req.status, f.sends);
	/* server, date, x-request-id and the handler's (no traceparent: none given) */
	CHECK(field(&f, "x-one") && f.nfields == 4 && !field(&f, "traceparent"), "%zu fields",
	      f.nfields);
	/* what a protocol can carry: QS_RESP_FIELDS_MAX, no more */
	{
		static struct qs_field many[QS_RESP_FIELDS_MAX + 1];
		struct fake g;

		for (size_t i = 0; i <= QS_RESP_FIELDS_MAX; i++)
			many[i] = (struct qs_field)QS_FIELD("x-many", "v", 1);
		fake_init(&g, "GET", "/x");
		CHECK(qs_respond(&g.req, 200, many, QS_RESP_FIELDS_MAX + 1, false) == -E2BIG,
		      "too many fields accepted");
		CHECK(g.responds == 0 && g.req.status == 0, "refused head went out");
		CHECK(qs_respond(&g.req, 200, many, QS_RESP_FIELDS_MAX, false) == 0,
		      "%d fields refused", QS_RESP_FIELDS_MAX);
		fake_close(&g);
	}
	fake_close(&f);
	return 0;
}

/* HEAD through the layer: the head a GET gets, the body dropped, a file closed. */
static int test_head_layer(void)
{
	struct qs_field fl[1] = { QS_FIELD("content-length", "5", 1) };
	struct fake f;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), fds;

	CHECK(fd >= 0, "/dev/null: %s", strerror(errno));
	fds = open_fds();
	fake_init(&f, "HEAD", "/x");
	CHECK(qs_respond(&f.req, 200, fl, 1, true) == 0, "respond failed");
	CHECK(f.responds == 1 && !f.resp_body, "HEAD announced a body");
	CHECK(qs_send(&f.req, (const uint8_t *)"hello", 5) == 0 && f.sends == 0,
	      "HEAD sent %d times", f.sends);
	CHECK(qs_send_file(&f.req, fd, 0, 5) == 0, "send_file failed");
	CHECK(f.files == 0 && f.ends == 1 && f.body_len == 0, "files %d ends %d bytes %zu",
	      f.files, f.ends, f.body_len);
	CHECK(open_fds() == fds - 1, "the file was not closed");
	fake_close(&f);
	/* a GET's empty file region: no bytes, the end, the file closed */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fake_init(&f, "GET", "/x");
	CHECK(qs_respond(&f.req, 200, fl, 0, true) == 0, "respond failed");
	CHECK(qs_send_file(&f.req, fd, 0, 0) == 0 && f.files == 0 && f.ends == 1,
	      "empty region: files %d ends %d", f.files, f.ends);
	CHECK(open_fds() == fds - 1, "the file was not closed");
	fake_close(&f);
	return 0;
}

/* ---- routing ------------------------------------------------------------------ */

static const struct qs_handler *route(const char *path)
{
	struct fake f;
	const struct qs_handler *h;

	fake_init(&f, "GET", path);
	h = qs_route(&site, &f.req);
	fake_close(&f);
	return h;
}

static int test_route(void)
{
	struct fake f;

	cfg.fastcgi = QS_FASTCGI_OFF;
	cfg.index[0] = '\0';
	CHECK(route("/app.php") == &qs_static_handler, "PHP off: .php not static");
	CHECK(route("/hello.txt") == &qs_static_handler, "PHP off: .txt not static");
	/* ... and the static handler never sends PHP source */
	request(&f, "GET", "/app.php");
	CHECK(f.status == 404 && !memmem(f.body, f.body_len, "<?php", 5), "status %d", f.status);
	fake_close(&f);

	cfg.fastcgi = QS_FASTCGI_UNIX;
	CHECK(route("/app.php") == &qs_php_handler, "PHP on: .php not PHP");
	CHECK(route("/app.php/extra?q=1") == &qs_php_handler, "PATH_INFO not PHP");
	CHECK(route("/missing.php") == &qs_php_handler, "missing .php not PHP");
	CHECK(route("/get.txt") == &qs_static_handler, "PHP on: .txt not static");
	CHECK(route("/missing.txt") == &qs_static_handler, "without --index: not static");

	snprintf(cfg.index, sizeof(cfg.index), "index.php");
	CHECK(route("/missing") == &qs_php_front_handler, "missing path: not the front");
	CHECK(route("/blog/post?id=3") == &qs_php_front_handler, "pretty URL: not the front");
	CHECK(route("/get.txt") == &qs_static_handler, "existing file: not static");
	CHECK(route("/get.txt?x=1") == &qs_static_handler, "file with a query: not static");
	CHECK(route("/app.php") == &qs_php_handler, "a script: not PHP");
	cfg.fastcgi = QS_FASTCGI_OFF;
	CHECK(route("/missing") == &qs_static_handler, "--index without PHP: not static");
	cfg.index[0] = '\0';
	return 0;
}

/* ---- PHP without php-fpm -------------------------------------------------------- */

static bool pool_empty(void)
{
	/* the PHP context's hook: a busy FastCGI connection has a deadline */
	for (struct qs_loop_hook *h = loop.hooks; h; h = h->next) {
		if (h == &site.http_hook)
			continue;	/* the request layer's timeouts, not the pool */
		if (h->after_events)
			h->after_events(h->ud);
		if (h->next_deadline && h->next_deadline(h->ud) != UINT64_MAX)
			return false;
	}
	return true;
}

static void php_on(const char *sock)
{
	cfg.fastcgi = QS_FASTCGI_UNIX;
	snprintf(cfg.fastcgi_addr, sizeof(cfg.fastcgi_addr), "%s", sock);
}

static int test_php_unreachable(void)
{
	struct fake f;
	uint64_t bad = stats.req_5xx;
	int fds = open_fds();

	php_on(nosock);
	fake_init(&f, "GET", "/app.php?a=1");
	CHECK(qs_req_start(&f.req) == 0, "start failed");
	CHECK(f.req.handler == &qs_php_handler, "routed to %s", f.req.handler->name);
	CHECK(f.responds == 0, "answered before the end of the body");
	CHECK(fake_body(&f, NULL, 0, true) == 0, "end failed");
	CHECK(f.status == 502, "status %d", f.status);
	if (check_common(&f) || check_length(&f, false))
		return -1;
	CHECK(f.addrs == 1, "params built %d times", f.addrs);
	CHECK(stats.req_5xx == bad + 1, "req_5xx %llu", (unsigned long long)stats.req_5xx);
	CHECK(pool_empty(), "the pool holds a connection");
	fake_close(&f);
	CHECK(open_fds() == fds, "%d descriptors open, %d before", open_fds(), fds);
	CHECK(pool_empty(), "the pool holds a connection after close");

	/* with a declared body: it starts at once, answers 502 and refuses the body */
	fake_init(&f, "PUT", "/app.php");
	f.req.content_length = 5;
	CHECK(qs_req_start(&f.req) == 0, "start failed");
	CHECK(f.status == 502, "status %d", f.status);
	CHECK(f.stop_bodies == 1, "stop_body %d", f.stop_bodies);
	CHECK(fake_body(&f, "hello", 5, false) == 0 && fake_body(&f, NULL, 0, true) == 0,
	      "body failed");
	CHECK(f.consumed == f.delivered, "consumed %llu of %llu",
	      (unsigned long long)f.consumed, (unsigned long long)f.delivered);
	fake_close(&f);
	CHECK(open_fds() == fds, "%d descriptors open, %d before", open_fds(), fds);
	return 0;
}

static int test_php_too_large(void)
{
	char big[1000];
	struct fake f;

	php_on(nosock);
	cfg.max_body = 1000;
	fake_init(&f, "POST", "/app.php");
	f.req.content_length = 1001;
	CHECK(qs_req_start(&f.req) == 0, "start failed");
	CHECK(f.status == 413, "status %d", f.status);
	CHECK(f.stop_bodies == 1, "stop_body %d", f.stop_bodies);
	if (check_common(&f) || check_length(&f, false))
		return -1;
	CHECK(f.addrs == 0 && pool_empty(), "went to php-fpm");
	fake_close(&f);
	/* exactly the limit is fine (and reaches for php-fpm: 502 here) */
	fake_init(&f, "POST", "/app.php");
	f.req.content_length = 1000;
	CHECK(qs_req_start(&f.req) == 0, "start failed");
	CHECK(f.status == 502 && f.stop_bodies == 1, "status %d stop %d", f.status,
	      f.stop_bodies);
	fake_close(&f);
	/* without Content-Length --max-body holds too: 413 at the end */
	memset(big, 'x', sizeof(big));
	fake_init(&f, "POST", "/app.php");
	CHECK(qs_req_start(&f.req) == 0, "start failed");
	CHECK(fake_body(&f, big, 600, false) == 0 && fake_body(&f, big, 401, false) == 0,
	      "body failed");
	CHECK(fake_body(&f, NULL, 0, true) == 0, "end failed");
	CHECK(f.status == 413, "status %d", f.status);
	CHECK(f.consumed == f.delivered, "consumed %llu of %llu",
	      (unsigned long long)f.consumed, (unsigned long long)f.delivered);
	CHECK(f.addrs == 0 && pool_empty(), "went to php-fpm");
	fake_close(&f);
	/* ... and exactly the limit reaches for php-fpm */
	fake_init(&f, "POST", "/app.php");
	CHECK(qs_req_start(&f.req) == 0, "start failed");
	CHECK(fake_body(&f, big, 1000, true) == 0, "body failed");
	CHECK(f.status == 502, "status %d", f.status);
	fake_close(&f);
	cfg.max_body = 64u << 20;
	return 0;
}

static int test_php_missing_script(void)
{
	static const char *const out[] = { "/../secret.php", "/link-out.php", "/%2e%2e/secret.php",
					   "/sub/../../secret.php" };
	struct fake f;

	php_on(nosock);
	request(&f, "GET", "/missing.php");
	CHECK(f.req.handler == &qs_php_handler, "routed to %s", f.req.handler->name);
	CHECK(f.status == 404, "status %d", f.status);
	if (check_common(&f) || check_length(&f, false))
		return -1;
	CHECK(f.addrs == 0 && pool_empty(), "went to php-fpm");
	fake_close(&f);
	/* with a declared body the answer comes at start */
	fake_init(&f, "POST", "/missing.php/info");
	f.req.content_length = 3;
	CHECK(qs_req_start(&f.req) == 0, "start failed");
	CHECK(f.status == 404, "status %d", f.status);
	CHECK(fake_body(&f, "abc", 3, true) == 0 && f.consumed == f.delivered,
	      "consumed %llu of %llu", (unsigned long long)f.consumed,
	      (unsigned long long)f.delivered);
	fake_close(&f);
	/* scripts outside the docroot, however named, never reach php-fpm */
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		request(&f, "GET", out[i]);
		CHECK(f.status == 400 || f.status == 404, "%s: status %d", out[i], f.status);
		CHECK(f.addrs == 0 && !memmem(f.body, f.body_len, "TOP-SECRET", 10), "%s: served",
		      out[i]);
		fake_close(&f);
	}
	return 0;
}

/* No Content-Length: the body is held, its credit returned as it comes. */
static int test_php_body_without_length(void)
{
	uint8_t chunk[1500];
	struct fake f;

	php_on(nosock);
	memset(chunk, 'b', sizeof(chunk));
	fake_init(&f, "POST", "/app.php");
	CHECK(qs_req_start(&f.req) == 0, "start failed");
	for (int i = 0; i < 5; i++) {
		CHECK(fake_body(&f, chunk, sizeof(chunk), false) == 0, "body failed");
		CHECK(f.consumed == f.delivered, "consumed %llu of %llu",
		      (unsigned long long)f.consumed, (unsigned long long)f.delivered);
		CHECK(f.responds == 0, "answered before the end");
	}
	CHECK(fake_body(&f, NULL, 0, true) == 0, "end failed");
	CHECK(f.status == 502, "status %d", f.status);
	CHECK(f.addrs == 1, "params built %d times", f.addrs);
	if (check_common(&f) || check_length(&f, false))
		return -1;
	fake_close(&f);
	return 0;
}

/* close() in every state frees what the handler holds (ASan/valgrind see the rest). */
static int test_php_close(void)
{
	uint8_t chunk[4096];
	struct fake f;
	int fds = open_fds();

	php_on(nosock);
	memset(chunk, 'c', sizeof(chunk));
	/* a held body, the request never ends */
	fake_init(&f, "POST", "/app.php");
	CHECK(qs_req_start(&f.req) == 0, "start failed");
	for (int i = 0; i < 8; i++)
		fake_body(&f, chunk, sizeof(chunk), false);
	CHECK(f.req.hdata, "no handler state to free");
	fake_close(&f);
	CHECK(f.req.hdata == NULL && f.req.handler == NULL, "close left state");
	/* started, never a byte of body */
	fake_init(&f, "GET", "/app.php");
	CHECK(qs_req_start(&f.req) == 0, "start failed");
	fake_close(&f);
	/* answered 413 */
	fake_init(&f, "POST", "/app.php");
	f.req.content_length = (int64_t)cfg.max_body + 1;
	qs_req_start(&f.req);
	fake_close(&f);
	CHECK(pool_empty(), "the pool holds a connection");
	CHECK(open_fds() == fds, "%d descriptors open, %d before", open_fds(), fds);
	return 0;
}

/* ---- PHP against a fake php-fpm ------------------------------------------------ */

struct fpm_req {
	uint8_t params[16384];
	size_t params_len;
	uint8_t stdin_[65536];
	size_t stdin_len;
	bool stdin_done;
	bool begun;
	bool keep_conn;
};

/* Read what the worker wrote on s (non-blocking) and take its records apart. */
static int fpm_read(int s, struct fpm_req *r, uint8_t *buf, size_t *have, size_t cap)
{
	ssize_t n;

	while ((n = read(s, buf + *have, cap - *have)) > 0)
		*have += (size_t)n;
	for (;;) {
		size_t clen, pad;
		int type;

		if (*have < 8)
			return 0;
		CHECK(buf[0] == 1, "FastCGI version %d", buf[0]);
		type = buf[1];
		clen = (size_t)buf[4] << 8 | buf[5];
		pad = buf[6];
		if (*have < 8 + clen + pad)
			return 0;
		switch (type) {
		case QS_FCGI_BEGIN_REQUEST:
			r->begun = true;
			r->keep_conn = buf[8 + 2] & QS_FCGI_KEEP_CONN;
			break;
		case QS_FCGI_PARAMS:
			CHECK(r->params_len + clen <= sizeof(r->params), "params too long");
			memcpy(r->params + r->params_len, buf + 8, clen);
			r->params_len += clen;
			break;
		case QS_FCGI_STDIN:
			if (!clen)
				r->stdin_done = true;
			CHECK(r->stdin_len + clen <= sizeof(r->stdin_), "stdin too long");
			memcpy(r->stdin_ + r->stdin_len, buf + 8, clen);
			r->stdin_len += clen;
			break;
		default:
			CHECK(0, "record type %d", type);
		}
		memmove(buf, buf + 8 + clen + pad, *have - 8 - clen - pad);
		*have -= 8 + clen + pad;
	}
}

/* A param's value, into out; false when absent. */
static bool param(const struct fpm_req *r, const char *name, char *out, size_t size)
{
	size_t at = 0;

	while (at < r->params_len) {
		size_t nl = fcgi_nv_len(r->params, &at), vl = fcgi_nv_len(r->params, &at);

		if (nl == strlen(name) && !memcmp(r->params + at, name, nl)) {
			snprintf(out, size, "%.*s", (int)vl, (const char *)r->params + at + nl);
			return true;
		}
		at += nl + vl;
	}
	return false;
}

/* Run the site's loop once: what epoll reports goes to its qs_io. */
static void loop_once(int timeout_ms)
{
	struct epoll_event ev[8];
	int n = epoll_wait(loop.epfd, ev, 8, timeout_ms);

	for (int i = 0; i < n; i++) {
		if (ev[i].data.u64 & QS_EV_IO_TAG) {
			struct qs_io *io = (struct qs_io *)(uintptr_t)(ev[i].data.u64 & ~QS_EV_IO_TAG);

			io->on_event(io, ev[i].events);
		}
	}
	for (struct qs_loop_hook *h = loop.hooks; h; h = h->next)
		if (h->after_events)
			h->after_events(h->ud);
}

/* One record as php-fpm writes it (the module encodes only what it sends). */
static size_t fpm_record(uint8_t *out, int type, const void *data, size_t len)
{
	size_t pad = (8 - len % 8) % 8;

	out[0] = 1;
	out[1] = (uint8_t)type;
	out[2] = 0;
	out[3] = 1;
	out[4] = (uint8_t)(len >> 8);
	out[5] = (uint8_t)len;
	out[6] = (uint8_t)pad;
	out[7] = 0;
	memcpy(out + 8, data, len);
	memset(out + 8 + len, 0, pad);
	return 8 + len + pad;
}

static int fpm_reply(int s, const char *stdout_text)
{
	static const uint8_t end[8] = { 0 };	/* app status 0, REQUEST_COMPLETE */
	uint8_t out[4096];
	size_t len = 0;

	len += fpm_record(out, QS_FCGI_STDOUT, stdout_text, strlen(stdout_text));
	len += fpm_record(out + len, QS_FCGI_STDOUT, "", 0);
	len += fpm_record(out + len, QS_FCGI_END_REQUEST, end, sizeof(end));
	return write(s, out, len) == (ssize_t)len ? 0 : -1;
}

/*
 * A request with a declared body against a php-fpm the test plays: the
 * params carry the request and the fake protocol's address, the body
 * streams as STDIN with its credit returned once written, the CGI answer
 * becomes the response, the connection is kept for the next request.
 */
/* A listening socket where the test plays php-fpm (fpmsock), or -1. */
static int fpm_listen(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int l;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fpmsock);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l >= 0 && (bind(l, (struct sockaddr *)&sun, sizeof(sun)) || listen(l, 8))) {
		close(l);
		l = -1;
	}
	return l;
}

static int test_php_fake_fpm(void)
{
	static struct fpm_req r;
	static uint8_t buf[1 << 17];
	size_t have = 0;
	struct fake f;
	char v[512], script[512];
	int l, s = -1, fds, ret = -1;
	static const char body[] = "name=value&x=1";

	l = fpm_listen();
	CHECK(l >= 0, "cannot listen on %s: %s", fpmsock, strerror(errno));
	fds = open_fds();
	php_on(fpmsock);
	cfg.fastcgi_keepalive = true;
	memset(&r, 0, sizeof(r));

	fake_init(&f, "POST", "/app.php/more?q=1");
	fake_set(&f.req.authority, "example.test:4433");
	fake_set(&f.req.content_type, "application/x-www-form-urlencoded");
	qs_req_add_field(&f.req, (const uint8_t *)"x-custom", 8, (const uint8_t *)"yes", 3);
	qs_req_add_field(&f.req, (const uint8_t *)"cookie", 6, (const uint8_t *)"a=1", 3);
	qs_req_add_field(&f.req, (const uint8_t *)"cookie", 6, (const uint8_t *)"b=2", 3);
	f.req.content_length = (int64_t)strlen(body);
	if (qs_req_start(&f.req) || f.responds) {
		fprintf(stderr, "  start failed or answered %d\n", f.status);
		goto out;
	}
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (s < 0 || fpm_read(s, &r, buf, &have, sizeof(buf))) {
		fprintf(stderr, "  no connection from the handler\n");
		goto out;
	}
	if (!r.begun || !r.keep_conn || r.stdin_done) {
		fprintf(stderr, "  begun %d keep %d stdin_done %d before the body\n", r.begun,
			r.keep_conn, r.stdin_done);
		goto out;
	}
	/* the body in two parts: each credited once php-fpm has it */
	if (fake_body(&f, body, 5, false) || f.consumed != 5 || fake_body(&f, body + 5,
	    strlen(body) - 5, true) || f.consumed != strlen(body) || f.held) {
		fprintf(stderr, "  consumed %llu held %llu of %llu\n",
			(unsigned long long)f.consumed, (unsigned long long)f.held,
			(unsigned long long)f.delivered);
		goto out;
	}
	if (fpm_read(s, &r, buf, &have, sizeof(buf)) || !r.stdin_done ||
	    r.stdin_len != strlen(body) || memcmp(r.stdin_, body, r.stdin_len)) {
		fprintf(stderr, "  STDIN %zu bytes, done %d\n", r.stdin_len, r.stdin_done);
		goto out;
	}
#define PARAM(name, want)                                                               \
	do {                                                                            \
		if (!param(&r, name, v, sizeof(v)) || strcmp(v, want)) {                \
			fprintf(stderr, "  %s = %s, want %s\n", name, v, want);         \
			goto out;                                                       \
		}                                                                       \
	} while (0)
	v[0] = '\0';
	PARAM("REQUEST_METHOD", "POST");
	PARAM("SERVER_PROTOCOL", "HTTP/3");
	PARAM("REQUEST_URI", "/app.php/more?q=1");
	PARAM("SCRIPT_NAME", "/app.php");
	PARAM("PATH_INFO", "/more");
	PARAM("QUERY_STRING", "q=1");
	PARAM("CONTENT_LENGTH", "14");
	PARAM("CONTENT_TYPE", "application/x-www-form-urlencoded");
	PARAM("HTTP_HOST", "example.test:4433");
	PARAM("SERVER_NAME", "example.test");
	PARAM("HTTP_X_CUSTOM", "yes");
	PARAM("HTTP_COOKIE", "a=1; b=2");
	PARAM("REMOTE_ADDR", "2001:db8::1");
	PARAM("REMOTE_PORT", "1234");
	PARAM("SERVER_ADDR", "192.0.2.7");
	PARAM("SERVER_PORT", "443");
	snprintf(script, sizeof(script), "%s/app.php", root);
	PARAM("SCRIPT_FILENAME", script);
#undef PARAM
	if (param(&r, "HTTP_EARLY_DATA", v, sizeof(v))) {
		fprintf(stderr, "  HTTP_EARLY_DATA on a request not in 0-RTT\n");
		goto out;
	}
	if (fpm_reply(s, "Status: 201 Created\r\nContent-Type: text/plain\r\n"
			 "X-Php: yes\r\n\r\nhello from php")) {
		fprintf(stderr, "  cannot answer\n");
		goto out;
	}
	for (int i = 0; i < 10 && !complete(&f); i++)
		loop_once(200);
	if (f.status != 201 || check_common(&f) || !f.ends ||
	    f.body_len != 14 || memcmp(f.body, "hello from php", 14) ||
	    !field(&f, "x-php") || strcmp(field(&f, "content-type") ?: "", "text/plain")) {
		fprintf(stderr, "  status %d ends %d body %zu\n", f.status, f.ends, f.body_len);
		goto out;
	}
	/* the connection stays for the next request (keep-alive), idle */
	if (!pool_empty()) {
		fprintf(stderr, "  the connection is not idle\n");
		goto out;
	}
	fake_close(&f);
	memset(&f, 0, sizeof(f));

	/* a second request goes on the same connection; closed before the answer */
	memset(&r, 0, sizeof(r));
	fake_init(&f, "GET", "/app.php");
	if (qs_req_start(&f.req) || fake_body(&f, NULL, 0, true) || f.responds) {
		fprintf(stderr, "  second start failed or answered %d\n", f.status);
		goto out;
	}
	if (accept4(l, NULL, NULL, SOCK_CLOEXEC) >= 0) {
		fprintf(stderr, "  a new connection, the kept one unused\n");
		goto out;
	}
	if (fpm_read(s, &r, buf, &have, sizeof(buf)) || !r.begun || !r.stdin_done) {
		fprintf(stderr, "  the second request did not come on the kept connection\n");
		goto out;
	}
	if (pool_empty()) {
		fprintf(stderr, "  the busy connection has no deadline\n");
		goto out;
	}
	/* the client goes: the FastCGI connection is closed (php-fpm aborts the script) */
	fake_close(&f);
	memset(&f, 0, sizeof(f));
	loop_once(0);
	if (!pool_empty() || read(s, buf, 1) != 0) {
		fprintf(stderr, "  the connection outlived its request\n");
		goto out;
	}
	ret = 0;
out:
	fake_close(&f);
	if (s >= 0)
		close(s);
	if (ret == 0 && open_fds() != fds) {
		fprintf(stderr, "  %d descriptors open, %d before\n", open_fds(), fds);
		ret = -1;
	}
	close(l);
	unlink(fpmsock);
	cfg.fastcgi_keepalive = false;
	return ret;
}

/*
 * --php-request-buffering on: php-fpm sees nothing until the body is whole
 * (a stalled upload holds no child); a small body stays in memory, a large
 * one goes through an unlinked file in --body-temp-dir and reaches php-fpm
 * a piece at a time; every body byte is credited as it arrives.
 */
static int test_php_buffered(void)
{
	static struct fpm_req r;
	static uint8_t buf[1 << 17], body[50000];
	static const size_t sizes[] = { 10, sizeof(body) };
	size_t have = 0;
	struct fake f;
	char v[64], want[16];
	int l, s = -1, fds, ret = -1;
	DIR *d;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7 + i / 251);
	l = fpm_listen();
	CHECK(l >= 0, "cannot listen on %s: %s", fpmsock, strerror(errno));
	fds = open_fds();
	php_on(fpmsock);
	cfg.php_request_buffering = true;
	cfg.body_buffer_size = 1000;
	snprintf(cfg.body_temp_dir, sizeof(cfg.body_temp_dir), "%s", base);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t len = sizes[k];

		memset(&r, 0, sizeof(r));
		have = 0;
		fake_init(&f, "POST", "/app.php");
		f.req.content_length = (int64_t)len;
		if (qs_req_start(&f.req) || f.responds) {
			fprintf(stderr, "  %zu: start failed or answered %d\n", len, f.status);
			goto out;
		}
		/* the body in pieces: credited at once, php-fpm not asked yet */
		for (size_t off = 0; off < len; off += 7000) {
			size_t n = len - off < 7000 ? len - off : 7000;

			if (fake_body(&f, body + off, n, false) || f.consumed != f.delivered) {
				fprintf(stderr, "  %zu: consumed %llu of %llu\n", len,
					(unsigned long long)f.consumed,
					(unsigned long long)f.delivered);
				goto out;
			}
		}
		if ((s = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
			fprintf(stderr, "  %zu: php-fpm asked before the body was whole\n", len);
			goto out;
		}
		/* nothing left in the directory to see: O_TMPFILE */
		d = opendir(base);
		for (struct dirent *e; d && (e = readdir(d));)
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
			    strcmp(e->d_name, "root") && strncmp(e->d_name, "secret", 6) &&
			    strcmp(e->d_name, "php-fpm.sock")) {
				fprintf(stderr, "  a visible file in the temp dir: %s\n", e->d_name);
				closedir(d);
				goto out;
			}
		if (d)
			closedir(d);
		if (fake_body(&f, NULL, 0, true)) {
			fprintf(stderr, "  %zu: end failed\n", len);
			goto out;
		}
		s = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		for (int i = 0; s >= 0 && i < 100 && !r.stdin_done; i++) {
			if (fpm_read(s, &r, buf, &have, sizeof(buf)))
				break;
			if (!r.stdin_done)
				loop_once(50);
		}
		if (s < 0 || !r.stdin_done || r.stdin_len != len || memcmp(r.stdin_, body, len)) {
			fprintf(stderr, "  %zu: STDIN %zu bytes, done %d\n", len, r.stdin_len,
				r.stdin_done);
			goto out;
		}
		snprintf(want, sizeof(want), "%zu", len);
		if (!param(&r, "CONTENT_LENGTH", v, sizeof(v)) || strcmp(v, want)) {
			fprintf(stderr, "  %zu: CONTENT_LENGTH %s\n", len, v);
			goto out;
		}
		fake_close(&f);
		memset(&f, 0, sizeof(f));
		loop_once(0);
		close(s);
		s = -1;
	}
	ret = 0;
out:
	fake_close(&f);
	if (s >= 0)
		close(s);
	loop_once(0);
	if (ret == 0 && open_fds() != fds) {
		fprintf(stderr, "  %d descriptors open, %d before\n", open_fds(), fds);
		ret = -1;
	}
	close(l);
	unlink(fpmsock);
	cfg.php_request_buffering = false;
	return ret;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * --client-body-timeout: a request whose body stalls gets 408 and its body
 * refused once the timeout passes since its last byte, not before; a
 * request whose body ended is off the clock.
 */
static int test_client_body_timeout(void)
{
	struct fake f, g;
	uint64_t t;

	php_on(nosock);
	fake_init(&f, "POST", "/app.php");
	CHECK(qs_req_start(&f.req) == 0, "start failed");
	CHECK(fake_body(&f, "abc", 3, false) == 0, "body failed");
	t = mono_ns();
	CHECK(site.http_hook.next_deadline(&site) <= t + 30000000000ull &&
	      site.http_hook.next_deadline(&site) > t + 29000000000ull, "deadline %llu from now",
	      (unsigned long long)(site.http_hook.next_deadline(&site) - t));
	/* a GET whose body ended at once is not waited for */
	request(&g, "GET", "/get.txt");
	CHECK(!g.req.body_wait.on && g.status == 200, "GET on the body list, status %d",
	      g.status);
	site.http_hook.on_timer(&site, t + 29000000000ull);
	CHECK(f.responds == 0, "answered %d before the timeout", f.status);
	site.http_hook.on_timer(&site, t + 31000000000ull);
	CHECK(f.status == 408 && f.stop_bodies == 1, "status %d, stop_body %d", f.status,
	      f.stop_bodies);
	CHECK(g.aborts == 0, "the finished GET was touched");
	fake_close(&g);
	fake_close(&f);
	CHECK(!site.body_waits.head && !site.send_waits.head, "requests left on the lists");
	return 0;
}

/*
 * --send-timeout: a response the client takes nothing of is reset after
 * the timeout since it last took bytes (proceed() restarts the clock).
 */
static int test_send_timeout(void)
{
	struct fake f, h;
	uint64_t t;

	request(&f, "GET", "/big.bin");
	CHECK(f.status == 200 && f.files == 1 && f.req.send_wait.on, "status %d files %d",
	      f.status, f.files);
	request(&h, "HEAD", "/big.bin");
	CHECK(!h.req.send_wait.on, "a HEAD waits for the client");
	t = mono_ns();
	site.http_hook.on_timer(&site, t + 59000000000ull);
	CHECK(f.aborts == 0, "reset before the timeout");
	qs_req_proceed(&f.req);	/* the client took bytes */
	CHECK(f.req.send_wait.at >= t - 20000000ull, "proceed did not restart the clock");
	site.http_hook.on_timer(&site, t + 61000000000ull);
	CHECK(f.aborts == 1 && !f.req.send_wait.on, "aborts %d", f.aborts);
	fake_close(&h);
	fake_close(&f);
	CHECK(!site.body_waits.head && !site.send_waits.head, "requests left on the lists");
	return 0;
}

/*
 * Request ids and trace context through the layer: a sane x-request-id
 * and a valid traceparent come back in the response (our span, the same
 * trace), others are replaced; every request closed leaves exactly one
 * access log line with what the layer knows.
 */
static int test_request_ids_and_access_log(void)
{
	static const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	struct fake f, g;
	char buf[8192], *second;
	ssize_t n;
	int fd;

	snprintf(cfg.access_log, sizeof(cfg.access_log), "%s/access.log", base);
	fd = open(cfg.access_log, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0, "create %s", cfg.access_log);
	close(fd);
	CHECK(qs_alog_init(&site) == 0 && site.alog, "access log not set up");

	fake_init(&f, "GET", "/get.txt");
	memcpy(f.req.request_id, "abc-123", 8);
	f.req.request_id_len = 7;
	CHECK(qs_traceparent_parse((const uint8_t *)tp, strlen(tp), &f.req.trace) == 0,
	      "traceparent refused");
	qs_req_headers_begin(&f.req);
	qs_req_header_timeout_stop(&f.req);
	qs_req_ids(&f.req);
	CHECK(qs_req_start(&f.req) == 0 && fake_body(&f, NULL, 0, true) == 0, "request failed");
	CHECK(f.status == 200 && field(&f, "x-request-id") &&
	      !strcmp(field(&f, "x-request-id"), "abc-123"), "x-request-id %s",
	      field(&f, "x-request-id"));
	CHECK(field(&f, "traceparent") && !strncmp(field(&f, "traceparent"), tp, 36) &&
	      strcmp(field(&f, "traceparent"), tp), "traceparent %s", field(&f, "traceparent"));
	fake_close(&f);

	/* nothing given: a 404 answered with ids of ours */
	fake_init(&g, "GET", "/nothing-here");
	qs_req_headers_begin(&g.req);
	qs_req_header_timeout_stop(&g.req);
	CHECK(qs_req_start(&g.req) == 0 && fake_body(&g, NULL, 0, true) == 0, "request failed");
	CHECK(g.status == 404 && field(&g, "x-request-id") &&
	      strlen(field(&g, "x-request-id")) == 32, "x-request-id %s", field(&g, "x-request-id"));
	fake_close(&g);
	fake_close(&g);	/* closed twice: still one line */

	qs_alog_free(&site);	/* flushes */
	fd = open(cfg.access_log, O_RDONLY | O_CLOEXEC);
	cfg.access_log[0] = '\0';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CHECK(n > 0, "nothing logged");
	buf[n] = '\0';
	second = strchr(buf, '\n');
	CHECK(second && strchr(second + 1, '\n') && !strchr(second + 1, '\n')[1],
	      "not two lines: %s", buf);
	CHECK(strstr(buf, "\"request_id\":\"abc-123\"") &&
	      strstr(buf, "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"") &&
	      strstr(buf, "\"parent_id\":\"00f067aa0ba902b7\"") &&
	      strstr(buf, "\"protocol\":\"h3\",\"method\":\"GET\",\"path\":\"/get.txt\","
		     "\"status\":200") &&
	      strstr(buf, "\"upstream\":\"static\",\"upstream_ms\":null") &&
	      strstr(buf, "\"client\":\"2001:db8::1\",\"client_port\":1234"), "first line %s", buf);
	CHECK(strstr(second, "\"path\":\"/nothing-here\",\"status\":404") &&
	      strstr(second, "\"parent_id\":null"), "second line %s", second + 1);
	return 0;
}

int main(void)
{
	int err;

	peer_addr.sin6_port = htons(1234);
	inet_pton(AF_INET6, "2001:db8::1", &peer_addr.sin6_addr);
	local_addr.sin_port = htons(443);
	inet_pton(AF_INET, "192.0.2.7", &local_addr.sin_addr);

	err = build_docroot();
	if (err) {
		fprintf(stderr, "cannot build the test docroot under %s: %s\n", base,
			strerror(err < 0 ? -err : EIO));
		remove_docroot();
		return 1;
	}
	cfg.max_header_bytes = 16384;
	cfg.max_body = 64u << 20;
	cfg.php_max_children = 4;
	cfg.workers = 1;
	cfg.fastcgi_timeout_ms = 5000;
	loop.epfd = epoll_create1(EPOLL_CLOEXEC);
	site.cfg = &cfg;
	site.docroot = &doc;
	site.stats = &stats;
	site.loop = &loop;
	site.route = qs_route;
	site.keep_fields = true;
	cfg.client_body_timeout_ms = 30000;
	cfg.send_timeout_ms = 60000;
	/* the limits added with them, as their defaults */
	cfg.client_header_timeout_ms = 10000;
	cfg.max_response_memory = 256u << 20;
	cfg.files_per_conn = 16;
	cfg.max_body_temp = 1ULL << 30;
	qs_http_site_init(&site);
	if (loop.epfd < 0 || qs_static_ctx_new(&site) || qs_php_ctx_new(&site)) {
		fprintf(stderr, "cannot set up the site: %s\n", strerror(errno));
		remove_docroot();
		return 1;
	}

	RUN(test_get_file);
	RUN(test_get_cached);
	RUN(test_head);
	RUN(test_post_405);
	RUN(test_get_with_body);
	RUN(test_if_none_match);
	RUN(test_range);
	RUN(test_not_found);
	RUN(test_escape);
	RUN(test_respond_twice);
	RUN(test_head_layer);
	RUN(test_route);
	RUN(test_php_unreachable);
	RUN(test_php_too_large);
	RUN(test_php_missing_script);
	RUN(test_php_body_without_length);
	RUN(test_php_close);
	RUN(test_php_fake_fpm);
	RUN(test_php_buffered);
	RUN(test_client_body_timeout);
	RUN(test_send_timeout);
	RUN(test_request_ids_and_access_log);

	qs_php_ctx_free(&site);
	qs_static_ctx_free(&site);
	close(loop.epfd);
	remove_docroot();
	return DONE();
}
