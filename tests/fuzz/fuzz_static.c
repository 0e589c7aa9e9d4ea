// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the static-file module.  Input: the :path bytes, then
 * optionally '\n' and a Range value ('\n' can never be part of a valid path,
 * so nothing is lost by the split), which also serves as an If-None-Match,
 * If-Modified-Since and If-Range value.  Each input is resolved as GET and as
 * HEAD against a small docroot made once under /tmp (with escaping symlinks,
 * a FIFO, hidden and PHP files, a secret next to it), as it is and again
 * behind a name that exists (picked by its first byte, since a blind fuzzer
 * rarely spells one); the Range value is also parsed against a few sizes.
 * abort() on any broken promise: an fd for a non-body answer, a body without
 * one, a served file outside the docroot or not regular, a range outside the
 * file, a leaked descriptor.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *   -Iuser tests/fuzz/fuzz_static.c user/worker/handler/static.c user/common/docroot.c user/common/log.c \
 *   -o .output/fuzz_static
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/handler/static.h"

static char base[] = "/tmp/qs-fuzz-static.XXXXXX";
static char root_real[PATH_MAX];
static size_t root_len;
static struct qs_docroot doc = QS_DOCROOT_INIT;

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "fuzz_static: " __VA_ARGS__);                  \
		fprintf(stderr, "\n");                                         \
		abort();                                                       \
	} while (0)

static void put(const char *name, const char *text)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", base, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		FAIL("cannot write %s: %s", path, strerror(errno));
	close(fd);
}

static void make(const char *kind, const char *name, const char *target)
{
	char path[PATH_MAX];
	int err = 0;

	snprintf(path, sizeof(path), "%s/%s", base, name);
	if (!strcmp(kind, "dir"))
		err = mkdir(path, 0755);
	else if (!strcmp(kind, "link"))
		err = symlink(target, path);
	else if (!strcmp(kind, "fifo"))
		err = mkfifo(path, 0644);
	if (err)
		FAIL("cannot make %s %s: %s", kind, path, strerror(errno));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	qs_docroot_close(&doc);
	/* FTW_PHYS: never follow our own escaping symlinks */
	nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char root[PATH_MAX];

	(void)argc, (void)argv;
	if (!mkdtemp(base))
		FAIL("mkdtemp %s: %s", base, strerror(errno));
	atexit(cleanup);
	put("secret", "outside\n");
	make("dir", "root", NULL);
	put("root/index.html", "<h1>home</h1>\n");
	put("root/a.txt", "0123456789abcdefghij");
	put("root/empty", "");
	put("root/sp ace.txt", "space\n");
	put("root/p%.txt", "percent\n");
	put("root/.env", "hidden\n");
	put("root/info.php", "<?php ?>\n");
	make("dir", "root/sub", NULL);
	put("root/sub/index.html", "<h1>sub</h1>\n");
	put("root/sub/b.css", "b{}\n");
	make("dir", "root/noindex", NULL);
	make("link", "root/link-in", "a.txt");
	make("link", "root/sub/link-up", "../a.txt");
	make("link", "root/link-out", "../secret");
	make("link", "root/link-abs", "/etc/passwd");
	make("link", "root/link-dir", "..");
	make("link", "root/link-proc", "/proc/self/root");
	make("fifo", "root/fifo", NULL);

	snprintf(root, sizeof(root), "%s/root", base);
	if (!realpath(root, root_real) || qs_docroot_open(&doc, root))
		FAIL("cannot open the docroot %s", root);
	root_len = strlen(root_real);
	return 0;
}

/* The lowest free descriptor: it moves if anything leaked. */
static int lowest_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		FAIL("open /dev/null: %s", strerror(errno));
	close(fd);
	return fd;
}

static void check_inside(int fd)
{
	char link[64], where[PATH_MAX];
	struct stat st;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, where, sizeof(where) - 1);
	if (n < 0)
		FAIL("readlink %s: %s", link, strerror(errno));
	where[n] = '\0';
	if (strncmp(where, root_real, root_len) || where[root_len] != '/')
		FAIL("served %s, outside the docroot %s", where, root_real);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		FAIL("served %s, not a regular file", where);
}

static bool content_range_ok(const struct qs_static_resp *r)
{
	const char *cr = r->content_range;

	if (r->status == 206)
		return !strncmp(cr, "bytes ", 6) && cr[6] >= '0' && cr[6] <= '9' && r->length;
	if (r->status == 416)
		return !strncmp(cr, "bytes */", 8);
	return !cr[0];
}

static void check_resp(const char *method, int ret, const struct qs_static_resp *r)
{
	bool body = (r->status == 200 || r->status == 206) && !r->head;

	switch (r->status) {
	case 200: case 206: case 400: case 403: case 404:
	case 405: case 414: case 416:
		break;
	case 500:
		/* nothing here should be an internal failure */
	default:
		FAIL("%s: status %d (ret %d)", method, r->status, ret);
	}
	if (ret)
		FAIL("%s: ret %d with status %d", method, ret, r->status);
	if (body != (r->fd >= 0))
		FAIL("%s: status %d head %d with fd %d", method, r->status, r->head, r->fd);
	if (r->fd >= 0)
		check_inside(r->fd);
	if (r->status == 200 || r->status == 206) {
		if (r->offset > r->size || r->length > r->size - r->offset)
			FAIL("%s: range %" PRIu64 "+%" PRIu64 " outside %" PRIu64, method,
			     r->offset, r->length, r->size);
		if (!r->content_type || r->etag[0] != '"' || !r->last_modified[0])
			FAIL("%s: %d without its headers", method, r->status);
	}
	if (!content_range_ok(r))
		FAIL("%s: status %d with Content-Range '%s'", method, r->status, r->content_range);
	if ((r->status == 405) != (r->allow != NULL))
		FAIL("%s: status %d with Allow %p", method, r->status, (void *)r->allow);
}

static void check_range(const char *range, uint64_t size)
{
	uint64_t off = 0, len = 0;
	int r = qs_parse_range(range, size, &off, &len);

	if (r < -1 || r > 1)
		FAIL("qs_parse_range: %d", r);
	if (r == 0 && (!len || off >= size || len > size - off))
		FAIL("range '%s' on %" PRIu64 ": %" PRIu64 "+%" PRIu64, range, size, off, len);
	if (r == 0 && size == 0)
		FAIL("range '%s' satisfiable on an empty file", range);
}

/* Names in the docroot, each the start of a second :path. */
static const char *const known[] = {
	"/", "/index.html", "/a.txt", "/empty", "/sub", "/sub/", "/sub/b.css",
	"/sub/link-up", "/noindex/", "/link-in", "/link-out", "/link-abs",
	"/link-dir/", "/link-proc/", "/fifo", "/sp%20ace.txt", "/p%25.txt",
	"/.env", "/info.php", "/a.txt/",
};

/* One :path as GET and as HEAD. */
static void resolve(const char *path, size_t len, const char *range)
{
	static const char *const methods[] = { "GET", "HEAD" };

	for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
		struct qs_static_resp r;
		int ret = qs_static_resolve(&doc, methods[m], path, len, range, &r);

		check_resp(methods[m], ret, &r);
		/* the second value doubles as a conditional field: only a 200 is "not modified" */
		if (range && (qs_not_modified(range, NULL, &r) || qs_not_modified(NULL, range, &r)) &&
		    r.status != 200)
			FAIL("%s: status %d not modified", methods[m], r.status);
		if (range && r.status != 200 && r.status != 206 && qs_if_range_matches(range, &r))
			FAIL("%s: If-Range matched a %d", methods[m], r.status);
		if (r.status == 200 && !qs_not_modified(r.etag, NULL, &r))
			FAIL("%s: its own ETag %s does not match", methods[m], r.etag);
		if (r.fd >= 0)
			close(r.fd);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t sizes[] = { 0, 1, 20, 1000, UINT64_MAX - 1, UINT64_MAX };
	const uint8_t *nl = memchr(data, '\n', size);
	size_t pathlen = nl ? (size_t)(nl - data) : size;
	char *range = NULL, *path;
	int before = lowest_fd();

	if (nl) {
		size_t n = size - pathlen - 1;

		range = malloc(n + 1);
		if (!range)
			return 0;
		memcpy(range, nl + 1, n);
		range[n] = '\0';
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_range(range, sizes[i]);
	/* the bytes as they came, straight from the fuzzer's buffer: ASan sees any overread */
	resolve((const char *)data, pathlen, range);
	/* and behind a name that exists, chosen by the first byte */
	if (pathlen) {
		const char *name = known[data[0] % (sizeof(known) / sizeof(known[0]))];
		size_t n = strlen(name);

		path = malloc(n + pathlen - 1);
		if (path) {
			memcpy(path, name, n);
			memcpy(path + n, data + 1, pathlen - 1);
			resolve(path, n + pathlen - 1, range);
			free(path);
		}
	}
	free(range);
	if (lowest_fd() != before)
		FAIL("a descriptor leaked");
	return 0;
}
