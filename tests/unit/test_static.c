// SPDX-License-Identifier: MIT
/*
 * Unit tests of the static-file module against a real temporary docroot:
 * statuses, headers, traversal and symlink escapes, special files, Range,
 * MIME types, and that no descriptor leaks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "worker/handler/static.h"
#include "check.h"

static char base[] = "/tmp/qs-static-test.XXXXXX";
static char root[256];		/* base/root: the docroot */
static size_t root_len;		/* of its real path, for the escape check */
static char root_real[PATH_MAX];
static struct qs_docroot doc = QS_DOCROOT_INIT;
static bool escaped;		/* a served fd outside the docroot: fails the run */

#define HELLO_SIZE 100
/* RFC 9110's own example date */
#define HELLO_MTIME 784111777
#define HELLO_DATE "Sun, 06 Nov 1994 08:49:37 GMT"
#define SECRET "TOP-SECRET outside the docroot\n"

static int in_root(const char *name, char *path, size_t size)
{
	return snprintf(path, size, "%s/%s", root, name) >= (int)size ? -1 : 0;
}

static int build_docroot(void)
{
	char hello[HELLO_SIZE + 1], path[512], target[512];
	struct timespec ts[2] = { { HELLO_MTIME, 0 }, { HELLO_MTIME, 0 } };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int s;

	if (!mkdtemp(base))
		return -errno;
	snprintf(root, sizeof(root), "%s/root", base);
	for (int i = 0; i < HELLO_SIZE; i++)
		hello[i] = (char)('0' + i % 10);
	hello[HELLO_SIZE] = '\0';

	if (mkdir(root, 0755) || write_file(base, "secret", SECRET, strlen(SECRET)) ||
	    write_file(base, "outside-secret", SECRET, strlen(SECRET)) ||
	    write_file(root, "index.html", "<h1>home</h1>\n", 14) ||
	    write_file(root, "hello.txt", hello, HELLO_SIZE) ||
	    write_file(root, "empty.txt", "", 0) ||
	    write_file(root, "style.css", "a{}\n", 4) ||
	    write_file(root, "with space.txt", "space\n", 6) ||
	    write_file(root, "100%.txt", "percent\n", 8) ||
	    write_file(root, "info.php", "<?php secret(); ?>\n", 19) ||
	    write_file(root, ".env", "DB_PASSWORD=x\n", 14))
		return -1;
	in_root("hello.txt", path, sizeof(path));
	if (utimensat(AT_FDCWD, path, ts, 0))
		return -errno;

#define MKDIR(name) (in_root(name, path, sizeof(path)) || mkdir(path, 0755))
	if (MKDIR("sub") || MKDIR("noindex") || MKDIR("a") || MKDIR(".git") ||
	    MKDIR("index-is-dir") || MKDIR("index-is-dir/index.html"))
		return -1;
#undef MKDIR
	snprintf(path, sizeof(path), "%s/sub", root);
	if (write_file(path, "index.html", "<h1>sub</h1>\n", 13) ||
	    write_file(path, "page.html", "<p>page</p>\n", 12) ||
	    write_file(path, ".hidden", "hidden\n", 7))
		return -1;
	snprintf(path, sizeof(path), "%s/noindex", root);
	if (write_file(path, "file.txt", "file\n", 5))
		return -1;
	snprintf(path, sizeof(path), "%s/.git", root);
	if (write_file(path, "config", "[core]\n", 7))
		return -1;

	static const struct { const char *name, *target; } links[] = {
		{ "link-in", "hello.txt" },		/* stays inside: served */
		{ "sub/link-up", "../hello.txt" },	/* ".." but inside: served */
		{ "link-passwd", "/etc/passwd" },	/* absolute: escapes */
		{ "link-out", "../outside-secret" },	/* relative: escapes */
		{ "link-dir-out", ".." },		/* a directory outside */
		{ "link-proc", "/proc/self/root" },	/* a magic link */
		{ "loop", "loop" },
	};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		in_root(links[i].name, path, sizeof(path));
		snprintf(target, sizeof(target), "%s", links[i].target);
		if (symlink(target, path))
			return -errno;
	}
	in_root("fifo", path, sizeof(path));
	if (mkfifo(path, 0644))
		return -errno;
	in_root("sock", sun.sun_path, sizeof(sun.sun_path));
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sun, sizeof(sun)))
		return -errno;
	close(s);
	/* a char device like /dev/null; needs CAP_MKNOD, tested when we have it */
	in_root("null", path, sizeof(path));
	(void)!mknod(path, S_IFCHR | 0666, makedev(1, 3));

	if (!realpath(root, root_real))
		return -errno;
	root_len = strlen(root_real);
	return qs_docroot_open(&doc, root);
}

static void remove_docroot(void)
{
	qs_docroot_close(&doc);
	rm_tree(base);
}

/* Where a served descriptor points: it must be under the docroot. */
static bool fd_inside(int fd)
{
	char link[64], where[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, where, sizeof(where) - 1);
	if (n < 0)
		return false;
	where[n] = '\0';
	return !strncmp(where, root_real, root_len) && where[root_len] == '/';
}

/* Resolve and check the invariants every answer must hold. */
static int resolve_n(const char *method, const char *path, size_t len, const char *range,
		     struct qs_static_resp *r)
{
	int ret;
	bool body;

	/* nothing may block the worker (a FIFO): a blocked open ends in EINTR, a failure */
	alarm(2);
	ret = qs_static_resolve(&doc, method, path, len, range, r);
	alarm(0);
	body = (r->status == 200 || r->status == 206) && !r->head;
	if (r->fd >= 0 && (!body || !fd_inside(r->fd))) {
		fprintf(stderr, "  %s %.*s: fd %d for status %d, or outside the docroot\n",
			method, (int)len, path, r->fd, r->status);
		escaped = true;
	}
	if (body && r->fd < 0) {
		fprintf(stderr, "  %s %.*s: status %d without an fd\n", method, (int)len,
			path, r->status);
		escaped = true;
	}
	return ret;
}

static int resolve(const char *method, const char *path, const char *range,
		   struct qs_static_resp *r)
{
	return resolve_n(method, path, strlen(path), range, r);
}

static void done(struct qs_static_resp *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

/* The status for method path range, descriptor closed; -1 on a negative return. */
static int status_n(const char *method, const char *path, size_t len, const char *range)
{
	struct qs_static_resp r;
	int ret = resolve_n(method, path, len, range, &r);

	done(&r);
	return ret < 0 ? -1 : r.status;
}

static int status(const char *method, const char *path, const char *range)
{
	return status_n(method, path, strlen(path), range);
}

/* The body the response describes, read from its fd, NUL terminated. */
static int body(const struct qs_static_resp *r, char *buf, size_t size)
{
	ssize_t n;

	if (r->fd < 0 || r->length >= size)
		return -1;
	n = pread(r->fd, buf, r->length, (off_t)r->offset);
	if (n != (ssize_t)r->length)
		return -1;
	buf[n] = '\0';
	return 0;
}

static int test_docroot_open(void)
{
	struct qs_docroot d = QS_DOCROOT_INIT;
	char path[512];

	CHECK(doc.dirfd >= 0 && !strcmp(doc.path, root), "%d %s", doc.dirfd, doc.path);
	CHECK(qs_docroot_open(&d, "/nonexistent/qs-docroot") == -ENOENT && d.dirfd == -1, "enoent");
	snprintf(path, sizeof(path), "%s/hello.txt", root);
	CHECK(qs_docroot_open(&d, path) == -ENOTDIR && d.dirfd == -1, "a file");
	CHECK(qs_docroot_open(&d, "") == -EINVAL, "empty");
	CHECK(qs_docroot_open(&d, NULL) == -EINVAL, "null");
	CHECK(qs_docroot_open(&d, root) == 0 && d.dirfd >= 0, "again");
	qs_docroot_close(&d);
	CHECK(d.dirfd == -1, "closed");
	qs_docroot_close(&d);	/* idempotent */
	return 0;
}

static int test_get(void)
{
	struct qs_static_resp r;
	char buf[256], etag[64];
	struct stat st;

	CHECK(resolve("GET", "/hello.txt", NULL, &r) == 0, "ret");
	CHECK(r.status == 200 && r.fd >= 0 && !r.head, "status %d fd %d", r.status, r.fd);
	CHECK(r.size == HELLO_SIZE && r.offset == 0 && r.length == HELLO_SIZE,
	      "size %" PRIu64 " off %" PRIu64 " len %" PRIu64, r.size, r.offset, r.length);
	CHECK(!strcmp(r.content_type, "text/plain; charset=utf-8"), "%s", r.content_type);
	CHECK(!strcmp(r.last_modified, HELLO_DATE), "%s", r.last_modified);
	CHECK(!r.content_range[0] && !r.allow, "%s", r.content_range);
	CHECK(fstat(r.fd, &st) == 0, "fstat");
	snprintf(etag, sizeof(etag), "\"%" PRIx64 "-%x-%" PRIx64 "\"", (uint64_t)st.st_ino,
		 HELLO_SIZE, (uint64_t)HELLO_MTIME * 1000000000u);
	CHECK(!strcmp(r.etag, etag), "etag %s want %s", r.etag, etag);
	CHECK(fcntl(r.fd, F_GETFD) & FD_CLOEXEC, "cloexec");
	CHECK(body(&r, buf, sizeof(buf)) == 0 && !strncmp(buf, "0123456789", 10), "body");
	done(&r);

	CHECK(resolve("GET", "/style.css", NULL, &r) == 0 && r.status == 200, "css");
	CHECK(!strcmp(r.content_type, "text/css; charset=utf-8"), "%s", r.content_type);
	CHECK(r.etag[0] == '"' && r.etag[strlen(r.etag) - 1] == '"', "%s", r.etag);
	done(&r);

	/* an empty file: 200 with a zero-length body, fd still given */
	CHECK(resolve("GET", "/empty.txt", NULL, &r) == 0 && r.status == 200, "empty %d", r.status);
	CHECK(r.fd >= 0 && r.size == 0 && r.length == 0, "empty fd %d", r.fd);
	done(&r);
	return 0;
}

static int test_etag_changes(void)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { HELLO_MTIME + 1, 5 } };
	struct qs_static_resp r;
	char path[512], newp[512], before[64];

	CHECK(resolve("HEAD", "/style.css", NULL, &r) == 0 && r.status == 200, "head");
	snprintf(before, sizeof(before), "%s", r.etag);
	in_root("style.css", path, sizeof(path));
	CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0, "utimensat");
	CHECK(resolve("HEAD", "/style.css", NULL, &r) == 0 && strcmp(r.etag, before),
	      "mtime: %s == %s", r.etag, before);
	CHECK(!strcmp(r.last_modified, "Sun, 06 Nov 1994 08:49:38 GMT"), "%s", r.last_modified);
	/* same size and mtime, new inode (a deploy by rename): still a new tag */
	snprintf(before, sizeof(before), "%s", r.etag);
	CHECK(write_file(root, "style.new", "b{}\n", 4) == 0, "write");
	in_root("style.new", newp, sizeof(newp));
	CHECK(utimensat(AT_FDCWD, newp, ts, 0) == 0, "utimensat new");
	CHECK(rename(newp, path) == 0, "rename");
	CHECK(resolve("HEAD", "/style.css", NULL, &r) == 0 && strcmp(r.etag, before),
	      "inode: %s == %s", r.etag, before);
	return 0;
}

static int test_head(void)
{
	struct qs_static_resp r;

	CHECK(resolve("HEAD", "/hello.txt", NULL, &r) == 0, "ret");
	CHECK(r.status == 200 && r.head && r.fd == -1, "status %d head %d fd %d", r.status,
	      r.head, r.fd);
	CHECK(r.length == HELLO_SIZE && r.size == HELLO_SIZE, "len %" PRIu64, r.length);
	CHECK(!strcmp(r.last_modified, HELLO_DATE) && r.etag[0] == '"', "headers");
	CHECK(!strcmp(r.content_type, "text/plain; charset=utf-8"), "%s", r.content_type);
	/* Range is GET-only (RFC 9110 14.2) */
	CHECK(resolve("HEAD", "/hello.txt", "bytes=0-9", &r) == 0 && r.status == 200 &&
	      r.length == HELLO_SIZE && !r.content_range[0], "head+range %d", r.status);
	CHECK(resolve("HEAD", "/", NULL, &r) == 0 && r.status == 200 && r.length == 14 &&
	      r.fd == -1, "head / %d", r.status);
	CHECK(status("HEAD", "/nope", NULL) == 404, "head 404");
	CHECK(status("HEAD", "/fifo", NULL) == 403, "head fifo");
	return 0;
}

static int test_index(void)
{
	struct qs_static_resp r;
	char buf[256];

	CHECK(resolve("GET", "/", NULL, &r) == 0 && r.status == 200, "/ %d", r.status);
	CHECK(body(&r, buf, sizeof(buf)) == 0 && !strcmp(buf, "<h1>home</h1>\n"), "%s", buf);
	CHECK(!strcmp(r.content_type, "text/html; charset=utf-8"), "%s", r.content_type);
	done(&r);
	CHECK(resolve("GET", "/sub/", NULL, &r) == 0 && r.status == 200, "/sub/ %d", r.status);
	CHECK(body(&r, buf, sizeof(buf)) == 0 && !strcmp(buf, "<h1>sub</h1>\n"), "%s", buf);
	CHECK(!strcmp(r.content_type, "text/html; charset=utf-8"), "%s", r.content_type);
	done(&r);
	/* no trailing slash: the index too, no redirect */
	CHECK(resolve("GET", "/sub", NULL, &r) == 0 && r.status == 200, "/sub %d", r.status);
	CHECK(body(&r, buf, sizeof(buf)) == 0 && !strcmp(buf, "<h1>sub</h1>\n"), "%s", buf);
	done(&r);
	CHECK(status("GET", "/sub/index.html", NULL) == 200, "explicit");
	CHECK(status("GET", "//sub///page.html", NULL) == 200, "collapsed slashes");
	CHECK(status("GET", "///", NULL) == 200, "only slashes");
	CHECK(status("GET", "/noindex/", NULL) == 403, "no index: no listing");
	CHECK(status("GET", "/noindex", NULL) == 403, "no index, no slash");
	CHECK(status("GET", "/noindex/file.txt", NULL) == 200, "a file in it");
	CHECK(status("GET", "/index-is-dir/", NULL) == 403, "index.html is a directory");
	CHECK(status("GET", "/hello.txt/", NULL) == 404, "a file with a trailing slash");
	return 0;
}

static int test_not_found(void)
{
	CHECK(status("GET", "/nope", NULL) == 404, "nope");
	CHECK(status("GET", "/sub/nope.html", NULL) == 404, "sub/nope");
	CHECK(status("GET", "/nope/hello.txt", NULL) == 404, "nope dir");
	CHECK(status("GET", "/hello.txt/x", NULL) == 404, "file as dir");
	CHECK(status("GET", "/loop", NULL) == 404, "symlink loop");
	char seg[300];

	memset(seg, 'a', sizeof(seg) - 1);
	seg[0] = '/';
	seg[sizeof(seg) - 1] = '\0';
	CHECK(status("GET", seg, NULL) == 404, "a name longer than NAME_MAX");
	return 0;
}

static int test_methods(void)
{
	static const char *const methods[] = { "POST", "DELETE", "PUT", "OPTIONS", "PATCH",
					       "get", "head", "", "GET " };
	struct qs_static_resp r;

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		CHECK(resolve(methods[i], "/hello.txt", NULL, &r) == 0, "%s", methods[i]);
		CHECK(r.status == 405 && r.fd == -1 && r.allow && !strcmp(r.allow, "GET, HEAD"),
		      "%s: %d", methods[i], r.status);
		CHECK(!r.content_type && !r.etag[0], "%s: headers", methods[i]);
	}
	/* 405 tells nothing about the file */
	CHECK(status("POST", "/nope", NULL) == 405, "post nope");
	CHECK(status("POST", "/.env", NULL) == 405, "post .env");
	/* a malformed path is 400 first */
	CHECK(status("POST", "/%zz", NULL) == 400, "post %%zz");
	return 0;
}

/* Each must be refused (400/403/404) without an fd, and never be the secret. */
static int test_traversal(void)
{
	static const struct { const char *path; int want; } cases[] = {
		{ "/../secret", 400 },
		{ "/%2e%2e/secret", 400 },
		{ "/%2E%2E/secret", 400 },
		{ "/.%2e/secret", 400 },
		{ "/a/../../secret", 400 },
		{ "/sub/../../secret", 400 },
		{ "/%2e%2e%2fsecret", 400 },
		{ "/sub/..%2f..%2fsecret", 400 },
		{ "/sub/%2e%2e%2f%2e%2e%2fsecret", 400 },
		{ "/%2fetc%2fpasswd", 400 },
		{ "//etc/passwd", 404 },	/* collapses to etc/passwd in the docroot */
		{ "/..", 400 },
		{ "/.", 400 },
		{ "/./hello.txt", 400 },
		{ "/sub/..", 400 },
		{ "/hello.txt/..", 400 },
		{ "/..\\secret", 400 },
		{ "/%5c..%5csecret", 400 },
		{ "/sub\\..\\..\\secret", 400 },
		{ "/%00", 400 },
		{ "/hello.txt%00.html", 400 },
		{ "/%252e%252e/secret", 404 },	/* one decoding: a name "%2e%2e" */
		{ "/..;/secret", 404 },		/* a hidden name, not a parent */
		{ "/.../secret", 404 },
		{ "/link-passwd", 404 },	/* absolute symlink out */
		{ "/link-out", 404 },		/* relative symlink out */
		{ "/link-dir-out/secret", 404 },
		{ "/link-dir-out/root/hello.txt", 404 },
		{ "/link-proc/etc/passwd", 404 },
		{ "/link-proc", 404 },
		{ "../secret", 400 },
		{ "secret", 400 },
		{ "", 400 },
		{ "*", 400 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int m = 0; m < 2; m++) {
			const char *method = m ? "HEAD" : "GET";
			struct qs_static_resp r;
			int ret = resolve(method, cases[i].path, "bytes=0-", &r);

			CHECK(ret == 0 && r.fd == -1 && r.status == cases[i].want,
			      "%s %s: ret %d status %d (want %d) fd %d", method, cases[i].path,
			      ret, r.status, cases[i].want, r.fd);
			done(&r);
		}
	}
	/* an explicit length: a raw NUL inside :path */
	CHECK(status_n("GET", "/hello.txt\0.php", 15, NULL) == 400, "raw NUL");
	CHECK(status_n("GET", "/hello.txt\0", 11, NULL) == 400, "raw NUL at the end");
	CHECK(!escaped, "a served fd escaped the docroot");
	return 0;
}

static int test_symlinks_inside(void)
{
	struct qs_static_resp r;
	char buf[256];

	CHECK(resolve("GET", "/link-in", NULL, &r) == 0 && r.status == 200, "%d", r.status);
	CHECK(r.size == HELLO_SIZE && body(&r, buf, sizeof(buf)) == 0, "link-in body");
	/* typed by the requested name, as the client sees it */
	CHECK(!strcmp(r.content_type, "application/octet-stream"), "%s", r.content_type);
	done(&r);
	CHECK(resolve("GET", "/sub/link-up", NULL, &r) == 0 && r.status == 200, "%d", r.status);
	CHECK(r.size == HELLO_SIZE, "link-up size");
	done(&r);
	return 0;
}

static int test_special_files(void)
{
	struct stat st;
	char path[512];

	CHECK(status("GET", "/fifo", NULL) == 403, "fifo");
	CHECK(status("GET", "/fifo", "bytes=0-1") == 403, "fifo range");
	CHECK(status("GET", "/sock", NULL) == 403, "socket");
	in_root("null", path, sizeof(path));
	if (lstat(path, &st) == 0)
		CHECK(status("GET", "/null", NULL) == 403, "char device");
	else
		fprintf(stderr, "  (no CAP_MKNOD: device case not run)\n");
	return 0;
}

static int test_hidden_and_php(void)
{
	static const char *const paths[] = {
		"/.env", "/.git/config", "/.git/", "/.git", "/sub/.hidden", "/%2eenv",
		"/.well-known/security.txt", "/info.php", "/INFO.PHP", "/info.PhP",
		"/inf%6f.php", "/info.ph%70", "/info.php?x=1", "/x.phtml", "/x.phar",
		"/x.php5", "/x.phps", "/sub/x.php/",
	};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		CHECK(status("GET", paths[i], NULL) == 404, "%s", paths[i]);
		CHECK(status("HEAD", paths[i], NULL) == 404, "HEAD %s", paths[i]);
	}
	/* only the extension: these are fine names */
	CHECK(status("GET", "/nope.php.txt", NULL) == 404, "php.txt is an ordinary miss");
	CHECK(status("GET", "/hello.txt", NULL) == 200, "hello");
	return 0;
}

static int test_encoding(void)
{
	struct qs_static_resp r;
	char buf[64];

	CHECK(resolve("GET", "/with%20space.txt", NULL, &r) == 0 && r.status == 200, "%%20");
	CHECK(body(&r, buf, sizeof(buf)) == 0 && !strcmp(buf, "space\n"), "%s", buf);
	done(&r);
	CHECK(resolve("GET", "/100%25.txt", NULL, &r) == 0 && r.status == 200, "%%25");
	CHECK(body(&r, buf, sizeof(buf)) == 0 && !strcmp(buf, "percent\n"), "%s", buf);
	done(&r);
	CHECK(status("GET", "/hello%2Etxt", NULL) == 200, "encoded dot");
	CHECK(status("GET", "/%68%65%6c%6C%6f.txt", NULL) == 200, "all encoded");
	CHECK(status("GET", "/with space.txt", NULL) == 400, "raw space");
	CHECK(status("GET", "/%zz", NULL) == 400, "%%zz");
	CHECK(status("GET", "/%4", NULL) == 400, "%%4");
	CHECK(status("GET", "/%", NULL) == 400, "%%");
	CHECK(status("GET", "/%%41", NULL) == 400, "%%%%41");
	CHECK(status("GET", "/%4?x", NULL) == 400, "%% cut by the query");
	CHECK(status("GET", "/%g1", NULL) == 400, "%%g1");
	CHECK(status("GET", "/a%2fb", NULL) == 400, "%%2f");
	CHECK(status("GET", "/a%2Fb", NULL) == 400, "%%2F");
	/* bytes >= 0x80 are names (UTF-8) like any other: absent here */
	CHECK(status("GET", "/caf%C3%A9", NULL) == 404, "utf-8 encoded");
	CHECK(status("GET", "/caf\xc3\xa9", NULL) == 404, "utf-8 raw");
	return 0;
}

static int test_control(void)
{
	static const char *const paths[] = {
		"/hello\x01.txt", "/hello.txt\x7f", "/a\r\nb", "/a\tb", "/%0d%0a",
		"/%7f", "/%1f", "/hello.txt%0a", "/\x1b[31m",
	};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		CHECK(status("GET", paths[i], NULL) == 400, "case %zu", i);
	return 0;
}

static int test_query(void)
{
	struct qs_static_resp r;
	char buf[256];

	CHECK(status("GET", "/hello.txt?x=1", NULL) == 200, "query");
	CHECK(status("GET", "/hello.txt?", NULL) == 200, "empty query");
	CHECK(status("GET", "/hello.txt#frag", NULL) == 200, "fragment");
	CHECK(status("GET", "/hello.txt?a=%zz&b=\\..", NULL) == 200, "query not decoded");
	CHECK(resolve("GET", "/hello.txt?../../secret", NULL, &r) == 0 && r.status == 200,
	      "query traversal");
	CHECK(r.size == HELLO_SIZE && body(&r, buf, sizeof(buf)) == 0 &&
	      !strncmp(buf, "0123", 4), "hello, not the secret");
	done(&r);
	CHECK(resolve("GET", "/?x", NULL, &r) == 0 && r.status == 200 && r.length == 14, "/?x");
	done(&r);
	CHECK(resolve("GET", "/sub?x", NULL, &r) == 0 && r.status == 200 && r.length == 13,
	      "/sub?x");
	done(&r);
	CHECK(status("GET", "/hello%3ftxt", NULL) == 404, "an encoded ? is a name");
	return 0;
}

static int test_uri_too_long(void)
{
	char path[QS_STATIC_PATH_MAX + 2];

	memset(path, 'a', sizeof(path));
	path[0] = '/';
	CHECK(status_n("GET", path, QS_STATIC_PATH_MAX + 1, NULL) == 414, "4097");
	/* the limit holds for the whole :path, query included */
	memcpy(path, "/hello.txt?", 11);
	CHECK(status_n("GET", path, QS_STATIC_PATH_MAX + 1, NULL) == 414, "long query");
	CHECK(status_n("GET", path, QS_STATIC_PATH_MAX, NULL) == 200, "4096 with a query");
	memset(path, 'a', sizeof(path));
	for (int i = 0; i < QS_STATIC_PATH_MAX; i += 2)
		path[i] = '/';
	CHECK(status_n("GET", path, QS_STATIC_PATH_MAX, NULL) == 404, "4096, many segments");
	CHECK(status_n("POST", path, QS_STATIC_PATH_MAX + 1, NULL) == 414, "414 before 405");
	return 0;
}

/* method, path, Range -> status, offset, length, Content-Range */
static int test_range(void)
{
	static const struct {
		const char *path, *range;
		int status;
		uint64_t off, len;
		const char *cr;
	} cases[] = {
		{ "/hello.txt", "bytes=0-9", 206, 0, 10, "bytes 0-9/100" },
		{ "/hello.txt", "bytes=-5", 206, 95, 5, "bytes 95-99/100" },
		{ "/hello.txt", "bytes=5-", 206, 5, 95, "bytes 5-99/100" },
		{ "/hello.txt", "bytes=0-0", 206, 0, 1, "bytes 0-0/100" },
		{ "/hello.txt", "bytes=99-99", 206, 99, 1, "bytes 99-99/100" },
		{ "/hello.txt", "bytes=90-1000", 206, 90, 10, "bytes 90-99/100" },
		{ "/hello.txt", "bytes=-1000", 206, 0, 100, "bytes 0-99/100" },
		{ "/hello.txt", "bytes=0-18446744073709551616", 206, 0, 100, "bytes 0-99/100" },
		{ "/hello.txt", "bytes=-18446744073709551616", 206, 0, 100, "bytes 0-99/100" },
		{ "/hello.txt", "BYTES=0-9", 206, 0, 10, "bytes 0-9/100" },
		{ "/hello.txt", "bytes= 1-2 ", 206, 1, 2, "bytes 1-2/100" },
		{ "/hello.txt", "bytes=100000-", 416, 0, 0, "bytes */100" },
		{ "/hello.txt", "bytes=100-", 416, 0, 0, "bytes */100" },
		{ "/hello.txt", "bytes=100-100", 416, 0, 0, "bytes */100" },
		{ "/hello.txt", "bytes=5-2", 416, 0, 0, "bytes */100" },
		{ "/hello.txt", "bytes=-0", 416, 0, 0, "bytes */100" },
		{ "/hello.txt", "bytes=18446744073709551616-", 416, 0, 0, "bytes */100" },
		{ "/hello.txt", "bytes=99999999999999999999999999999999999999-", 416, 0, 0,
		  "bytes */100" },
		{ "/hello.txt", "bytes=0-1,3-4", 200, 0, 100, "" },
		{ "/hello.txt", "bytes=0-9,", 200, 0, 100, "" },
		{ "/hello.txt", "bytes=abc", 200, 0, 100, "" },
		{ "/hello.txt", "bytes=", 200, 0, 100, "" },
		{ "/hello.txt", "bytes=-", 200, 0, 100, "" },
		{ "/hello.txt", "bytes=--5", 200, 0, 100, "" },
		{ "/hello.txt", "bytes=+1-2", 200, 0, 100, "" },
		{ "/hello.txt", "bytes=1", 200, 0, 100, "" },
		{ "/hello.txt", "bytes=1-2x", 200, 0, 100, "" },
		{ "/hello.txt", "bytes = 0-9", 200, 0, 100, "" },
		{ "/hello.txt", "items=0-9", 200, 0, 100, "" },
		{ "/hello.txt", "", 200, 0, 100, "" },
		{ "/empty.txt", "bytes=0-0", 416, 0, 0, "bytes */0" },
		{ "/empty.txt", "bytes=0-", 416, 0, 0, "bytes */0" },
		{ "/empty.txt", "bytes=-5", 416, 0, 0, "bytes */0" },
		{ "/empty.txt", "bytes=abc", 200, 0, 0, "" },
	};
	struct qs_static_resp r;
	char buf[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(resolve("GET", cases[i].path, cases[i].range, &r) == 0, "%s", cases[i].range);
		CHECK(r.status == cases[i].status && r.offset == cases[i].off &&
		      r.length == cases[i].len && !strcmp(r.content_range, cases[i].cr),
		      "%s %s: %d %" PRIu64 "+%" PRIu64 " '%s'", cases[i].path, cases[i].range,
		      r.status, r.offset, r.length, r.content_range);
		if (r.status == 416)
			CHECK(r.fd == -1 && !r.content_type && !r.etag[0], "416 without a body");
		else
			CHECK(r.fd >= 0 && r.content_type && r.etag[0] && r.last_modified[0],
			      "%s: fd and headers", cases[i].range);
		if (r.status == 206) {
			CHECK(body(&r, buf, sizeof(buf)) == 0 && buf[0] == (char)('0' + r.offset % 10),
			      "body at %" PRIu64, r.offset);
		}
		done(&r);
	}
	return 0;
}

static int test_parse_range(void)
{
	uint64_t off = 7, len = 7;

	CHECK(qs_parse_range(NULL, 100, &off, &len) == -1, "NULL");
	CHECK(qs_parse_range("bytes=0-", UINT64_MAX, &off, &len) == 0 && off == 0 &&
	      len == UINT64_MAX, "whole 2^64-1: %" PRIu64, len);
	CHECK(qs_parse_range("bytes=18446744073709551614-", UINT64_MAX, &off, &len) == 0 &&
	      off == UINT64_MAX - 1 && len == 1, "last byte of 2^64-1");
	CHECK(qs_parse_range("bytes=18446744073709551615-", UINT64_MAX, &off, &len) == 1,
	      "past 2^64-1");
	CHECK(qs_parse_range("bytes=-18446744073709551615", UINT64_MAX, &off, &len) == 0 &&
	      off == 0 && len == UINT64_MAX, "suffix 2^64-1");
	CHECK(qs_parse_range("bytes=184467440737095516150-1", 100, &off, &len) == 1, "B < A");
	CHECK(qs_parse_range("bytes=0-5", 0, &off, &len) == 1, "size 0");
	CHECK(qs_parse_range("bytes=-1", 1, &off, &len) == 0 && off == 0 && len == 1, "-1 of 1");
	CHECK(qs_parse_range("bytes=0-0,1-1", 10, &off, &len) == -1, "two");
	CHECK(qs_parse_range("bytes=0-\t", 10, &off, &len) == 0 && len == 10, "tab");
	CHECK(qs_parse_range("bytes=0 -1", 10, &off, &len) == -1, "blank inside");
	return 0;
}

static int test_mime(void)
{
	static const struct { const char *name, *type; } cases[] = {
		{ "a.html", "text/html; charset=utf-8" },
		{ "A.HTML", "text/html; charset=utf-8" },
		{ "x.htm", "text/html; charset=utf-8" },
		{ "x.css", "text/css; charset=utf-8" },
		{ "x.js", "text/javascript; charset=utf-8" },
		{ "x.mjs", "text/javascript; charset=utf-8" },
		{ "x.json", "application/json" },
		{ "x.txt", "text/plain; charset=utf-8" },
		{ "x.xml", "application/xml" },
		{ "x.svg", "image/svg+xml" },
		{ "x.png", "image/png" },
		{ "x.jpg", "image/jpeg" },
		{ "x.JPEG", "image/jpeg" },
		{ "x.gif", "image/gif" },
		{ "x.webp", "image/webp" },
		{ "x.avif", "image/avif" },
		{ "favicon.ico", "image/x-icon" },
		{ "x.woff", "font/woff" },
		{ "x.woff2", "font/woff2" },
		{ "x.ttf", "font/ttf" },
		{ "x.pdf", "application/pdf" },
		{ "x.zip", "application/zip" },
		{ "x.tar.gz", "application/gzip" },
		{ "x.mp4", "video/mp4" },
		{ "x.webm", "video/webm" },
		{ "x.wasm", "application/wasm" },
		{ "app.js.map", "application/json" },
		{ "x.csv", "text/csv; charset=utf-8" },
		{ "README.md", "text/markdown; charset=utf-8" },
		{ "sub/dir/x.css", "text/css; charset=utf-8" },
		{ "README", "application/octet-stream" },
		{ ".bashrc", "application/octet-stream" },
		{ "x.", "application/octet-stream" },
		{ "x.unknown", "application/octet-stream" },
		{ "x.html5", "application/octet-stream" },
		{ "dir.html/file", "application/octet-stream" },
		{ "", "application/octet-stream" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(!strcmp(qs_mime_type(cases[i].name), cases[i].type), "%s: %s",
		      cases[i].name, qs_mime_type(cases[i].name));
	CHECK(!strcmp(qs_mime_type(NULL), "application/octet-stream"), "NULL");
	return 0;
}

static int test_bad_arguments(void)
{
	struct qs_docroot closed = QS_DOCROOT_INIT;
	struct qs_static_resp r;

	CHECK(qs_static_resolve(&closed, "GET", "/", 1, NULL, &r) == -EINVAL &&
	      r.status == 500 && r.fd == -1, "closed docroot");
	CHECK(qs_static_resolve(&doc, NULL, "/", 1, NULL, &r) == -EINVAL && r.fd == -1, "method");
	CHECK(qs_static_resolve(&doc, "GET", NULL, 1, NULL, &r) == -EINVAL, "path");
	CHECK(qs_static_resolve(&doc, "GET", NULL, 0, NULL, &r) == 0 && r.status == 400,
	      "empty path");
	CHECK(qs_static_resolve(&doc, "GET", "/", 1, NULL, NULL) == -EINVAL, "out");
	return 0;
}

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!dir)
		return -1;
	while ((e = readdir(dir)))
		n++;
	closedir(dir);
	return n;
}

static int test_fd_leak(void)
{
	static const struct { const char *method, *path, *range; } mix[] = {
		{ "GET", "/hello.txt", NULL },
		{ "GET", "/hello.txt", "bytes=0-9" },
		{ "GET", "/hello.txt", "bytes=100000-" },
		{ "GET", "/hello.txt", "bytes=0-1,3-4" },
		{ "HEAD", "/hello.txt", NULL },
		{ "GET", "/", NULL },
		{ "GET", "/sub", NULL },
		{ "HEAD", "/sub/", "bytes=0-0" },
		{ "GET", "/noindex/", NULL },
		{ "GET", "/index-is-dir/", NULL },
		{ "GET", "/fifo", NULL },
		{ "GET", "/sock", NULL },
		{ "GET", "/link-in", NULL },
		{ "GET", "/link-out", NULL },
		{ "GET", "/link-passwd", NULL },
		{ "GET", "/link-proc/etc/passwd", NULL },
		{ "GET", "/loop", NULL },
		{ "GET", "/nope", NULL },
		{ "GET", "/hello.txt/", NULL },
		{ "GET", "/../secret", NULL },
		{ "GET", "/%zz", NULL },
		{ "GET", "/.env", NULL },
		{ "POST", "/hello.txt", NULL },
		{ "GET", "/empty.txt", "bytes=0-0" },
	};
	int before = count_fds(), after;
	unsigned long long seed = 1;

	CHECK(before > 0, "/proc/self/fd");
	for (int i = 0; i < 10000; i++) {
		size_t k = qs_test_rand(&seed) % (sizeof(mix) / sizeof(mix[0]));

		CHECK(status(mix[k].method, mix[k].path, mix[k].range) > 0, "%s", mix[k].path);
	}
	after = count_fds();
	CHECK(before == after, "fds before %d after %d", before, after);
	CHECK(!escaped, "a served fd escaped the docroot");
	return 0;
}

/* RFC 9110 13: If-None-Match, If-Modified-Since, If-Range */
static int test_conditional(void)
{
	struct qs_static_resp r;
	char list[200], weak[80];

	CHECK(resolve("GET", "/hello.txt", NULL, &r) == 0 && r.status == 200, "get");
	/* If-None-Match: the ETag, in a list, weak or "*" */
	CHECK(qs_not_modified(r.etag, NULL, &r), "own etag");
	snprintf(list, sizeof(list), "\"x\", %s , \"y\"", r.etag);
	CHECK(qs_not_modified(list, NULL, &r), "in a list: %s", list);
	snprintf(weak, sizeof(weak), "W/%s", r.etag);
	CHECK(qs_not_modified(weak, NULL, &r), "weak comparison: %s", weak);
	CHECK(qs_not_modified("*", NULL, &r), "*");
	CHECK(!qs_not_modified("\"other\"", NULL, &r), "another etag");
	CHECK(!qs_not_modified("not-a-tag", NULL, &r), "garbage");
	CHECK(!qs_not_modified("", NULL, &r), "empty");
	/* If-None-Match given: If-Modified-Since is ignored (RFC 9110 13.1.3) */
	CHECK(!qs_not_modified("\"other\"", HELLO_DATE, &r), "INM wins");
	/* If-Modified-Since: not before Last-Modified, not in the future */
	CHECK(qs_not_modified(NULL, HELLO_DATE, &r), "same date");
	CHECK(qs_not_modified(NULL, "Mon, 07 Nov 1994 08:49:37 GMT", &r), "a day later");
	CHECK(!qs_not_modified(NULL, "Sun, 06 Nov 1994 08:49:36 GMT", &r), "a second earlier");
	CHECK(!qs_not_modified(NULL, "Fri, 01 Jan 2100 00:00:00 GMT", &r), "future");
	CHECK(!qs_not_modified(NULL, "Sunday, 06-Nov-94 08:49:37 GMT", &r), "RFC 850 date");
	CHECK(!qs_not_modified(NULL, "Sun, 06 Xyz 1994 08:49:37 GMT", &r), "bad month");
	CHECK(!qs_not_modified(NULL, "Sun, 06 Nov 1994 08:49:37 UTC", &r), "not GMT");
	CHECK(!qs_not_modified(NULL, "", &r), "empty date");
	CHECK(!qs_not_modified(NULL, NULL, &r), "no condition");
	/* If-Range: the strong ETag or the exact date */
	CHECK(qs_if_range_matches(r.etag, &r), "if-range etag");
	CHECK(!qs_if_range_matches(weak, &r), "if-range weak");
	CHECK(!qs_if_range_matches("\"other\"", &r), "if-range other");
	CHECK(qs_if_range_matches(HELLO_DATE, &r), "if-range date");
	CHECK(!qs_if_range_matches("Mon, 07 Nov 1994 08:49:37 GMT", &r), "if-range other date");
	done(&r);
	/* only a 200 is ever not modified */
	CHECK(resolve("GET", "/hello.txt", "bytes=0-9", &r) == 0 && r.status == 206, "range");
	CHECK(!qs_not_modified(r.etag, NULL, &r), "206");
	done(&r);
	CHECK(resolve("GET", "/nope.txt", NULL, &r) == 0 && r.status == 404, "404");
	CHECK(!qs_not_modified("*", NULL, &r), "404 with *");
	done(&r);
	return 0;
}

static void on_alarm(int sig)
{
	(void)sig;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART: EINTR */
	int err;

	sigaction(SIGALRM, &sa, NULL);
	err = build_docroot();

	if (err) {
		fprintf(stderr, "cannot build the test docroot under %s: %s\n", base,
			strerror(err < 0 ? -err : EIO));
		remove_docroot();
		return 1;
	}
	RUN(test_docroot_open);
	RUN(test_get);
	RUN(test_head);
	RUN(test_index);
	RUN(test_not_found);
	RUN(test_methods);
	RUN(test_traversal);
	RUN(test_symlinks_inside);
	RUN(test_special_files);
	RUN(test_hidden_and_php);
	RUN(test_encoding);
	RUN(test_control);
	RUN(test_query);
	RUN(test_uri_too_long);
	RUN(test_range);
	RUN(test_parse_range);
	RUN(test_mime);
	RUN(test_bad_arguments);
	RUN(test_etag_changes);
	RUN(test_conditional);
	RUN(test_fd_leak);
	remove_docroot();
	return DONE();
}
