// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/log.h"
#include "worker/handler/static.h"
#include "worker/http/date.h"

#ifndef SYS_openat2
#define SYS_openat2 437		/* the same number on every architecture */
#endif

#define INDEX_NAME "index.html"
/* a decoded path is never longer than the raw one; room for "/index.html" */
#define REL_MAX (QS_STATIC_PATH_MAX + sizeof("/" INDEX_NAME))
/* a rename racing a ".." walk under RESOLVE_BENEATH: the kernel asks to retry */
#define OPEN_RETRIES 3

/* ---- Content-Type ------------------------------------------------------ */

static const struct {
	const char *ext;
	const char *type;
} mime_table[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },	/* RFC 9239 */
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },			/* UTF-8 by definition */
	{ "map", "application/json" },
	{ "webmanifest", "application/manifest+json" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "csv", "text/csv; charset=utf-8" },
	{ "md", "text/markdown; charset=utf-8" },
	{ "xml", "application/xml" },			/* declares its own encoding */
	{ "rss", "application/rss+xml" },
	{ "atom", "application/atom+xml" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "apng", "image/apng" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "avif", "image/avif" },
	{ "ico", "image/x-icon" },
	{ "bmp", "image/bmp" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "ttf", "font/ttf" },
	{ "otf", "font/otf" },
	{ "pdf", "application/pdf" },
	{ "zip", "application/zip" },
	{ "gz", "application/gzip" },
	{ "tar", "application/x-tar" },
	{ "zst", "application/zstd" },
	{ "wasm", "application/wasm" },
	{ "mp4", "video/mp4" },
	{ "webm", "video/webm" },
	{ "mp3", "audio/mpeg" },
	{ "ogg", "audio/ogg" },
	{ "opus", "audio/ogg" },
	{ "wav", "audio/wav" },
	{ "flac", "audio/flac" },
};

/* The extension of name's last segment, or NULL ("a", ".env", "a."). */
static const char *extension(const char *name)
{
	const char *base = strrchr(name, '/');
	const char *dot;

	base = base ? base + 1 : name;
	dot = strrchr(base, '.');
	if (!dot || dot == base || !dot[1])
		return NULL;
	return dot + 1;
}

const char *qs_mime_type(const char *name)
{
	const char *ext = name ? extension(name) : NULL;

	if (ext)
		for (size_t i = 0; i < sizeof(mime_table) / sizeof(mime_table[0]); i++)
			if (!strcasecmp(ext, mime_table[i].ext))
				return mime_table[i].type;
	return "application/octet-stream";
}

/* What php-fpm would execute: its source must never go out as a file. */
static bool php_name(const char *seg, size_t len)
{
	static const char *const exts[] = {
		"php", "php3", "php4", "php5", "php7", "php8", "phtml", "phar", "phps",
	};
	char name[16];
	const char *ext;

	/* only the tail matters: ".php8" is at most 6 bytes with its dot */
	if (len >= sizeof(name)) {
		seg += len - (sizeof(name) - 1);
		len = sizeof(name) - 1;
	}
	memcpy(name, seg, len);
	name[len] = '\0';
	ext = strrchr(name, '.');
	if (!ext)
		return false;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (!strcasecmp(ext + 1, exts[i]))
			return true;
	return false;
}

/* ---- Range ------------------------------------------------------------- */

/* Decimal digits, saturating at UINT64_MAX; NULL when there is none. */
static const char *parse_u64(const char *p, uint64_t *v)
{
	const char *start = p;
	uint64_t n = 0;

	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
	}
	*v = n;
	return p == start ? NULL : p;
}

static const char *skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int qs_parse_range(const char *value, uint64_t size, uint64_t *off, uint64_t *len)
{
	uint64_t first, last = UINT64_MAX;
	const char *p;

	if (!value || strncasecmp(value, "bytes=", 6))
		return -1;
	p = skip_blanks(value + 6);
	if (*p == '-') {
		/* suffix: the last N bytes */
		p = parse_u64(p + 1, &last);
		if (!p || *skip_blanks(p))
			return -1;
		if (last == 0 || size == 0)
			return 1;
		*len = last < size ? last : size;
		*off = size - *len;
		return 0;
	}
	p = parse_u64(p, &first);
	if (!p || *p != '-')
		return -1;
	if (p[1] >= '0' && p[1] <= '9')
		p = parse_u64(p + 1, &last);
	else
		p++;
	/* anything left, a second range included, and the header is ignored */
	if (*skip_blanks(p))
		return -1;
	if (last < first || first >= size)
		return 1;
	if (last >= size)
		last = size - 1;
	*off = first;
	*len = last - first + 1;
	return 0;
}

/* ---- Path -------------------------------------------------------------- */

/*
 * The raw :path p[0..n) to rel: decoded, relative to the docroot, single
 * slashes, one trailing slash kept (it means "a directory"), "." for the
 * docroot itself.  Returns 0 or 400; *deny is set for a name that must
 * answer 404 whatever is on disk (hidden, PHP), once the method is known
 * to be fine.
 */
static int normalize(const char *p, size_t n, char *rel, bool *deny)
{
	size_t o = 0, seg = 0, last = 0, last_len = 0;

	*deny = false;
	if (n == 0 || p[0] != '/')
		return 400;
	for (size_t i = 1; i <= n; i++) {
		unsigned char c = i < n ? (unsigned char)p[i] : '/';
		int hi, lo;

		if (c == '?' || c == '#') {
			c = '/';
			n = i;
		}
		if (c == '/') {
			size_t len = o - seg;

			if (len == 0)
				continue;	/* "//": collapse */
			if (rel[seg] == '.' && (len == 1 || (len == 2 && rel[seg + 1] == '.')))
				return 400;
			if (rel[seg] == '.')
				*deny = true;
			last = seg;
			last_len = len;
			if (i < n)
				rel[o++] = '/';
			seg = o;
			continue;
		}
		if (c == '%') {
			if (n - i < 3 || (hi = qs_hex_digit(p[i + 1])) < 0 ||
			    (lo = qs_hex_digit(p[i + 2])) < 0)
				return 400;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
			/* a separator inside a segment means different things to different layers */
			if (c == '/')
				return 400;
		} else if (c == ' ') {
			return 400;
		}
		/* a backslash is a separator to some tools behind us (and on other systems) */
		if (c < 0x20 || c == 0x7f || c == '\\')
			return 400;
		rel[o++] = (char)c;
	}
	if (last_len && php_name(rel + last, last_len))
		*deny = true;
	if (o == 0)
		rel[o++] = '.';
	rel[o] = '\0';
	return 0;
}

/* ---- Resolve ----------------------------------------------------------- */

static int open_beneath(int dirfd, const char *rel)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = -1;

	for (int i = 0; i < OPEN_RETRIES; i++) {
		fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != EAGAIN)
			break;
	}
	return -errno;
}

/* An open or fstat error as a status; -errno when it is ours, not the client's. */
static int open_error(int err, struct qs_static_resp *out)
{
	static bool warned;

	switch (-err) {
	case ENOENT:
	case ENOTDIR:
	case ELOOP:
	case EXDEV:		/* escapes the docroot: do not tell it from absent */
	case ENAMETOOLONG:
		out->status = 404;
		return 0;
	case EACCES:
	case EPERM:
	case ENXIO:		/* a socket */
	case ENODEV:
		out->status = 403;
		return 0;
	case ENOSYS:
		if (!warned)
			pr_warn("static files: openat2() is missing (Linux >= 5.6 needed); "
				"every static request answers 500");
		warned = true;
		break;
	case EMFILE:
	case ENFILE:		/* out of descriptors: a moment's overload, not a fault */
		out->status = 503;
		return err;
	}
	out->status = 500;
	return err;
}

bool qs_etag_listed(const char *list, const char *etag)
{
	size_t elen;

	if (!list || !etag || !etag[0])
		return false;
	if (!strncmp(etag, "W/", 2))
		etag += 2;
	elen = strlen(etag);
	for (const char *p = list; *p;) {
		const char *end;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		if (*p == '*')
			return true;
		if (!strncmp(p, "W/", 2))
			p += 2;
		if (*p != '"' || !(end = strchr(p + 1, '"')))
			return false;	/* not an entity-tag: the field is ignored */
		if ((size_t)(end + 1 - p) == elen && !memcmp(p, etag, elen))
			return true;
		p = end + 1;
	}
	return false;
}

bool qs_not_modified(const char *if_none_match, const char *if_modified_since,
		     const struct qs_static_resp *r)
{
	int64_t since, mod;

	if (r->status != 200)
		return false;
	if (if_none_match)
		return qs_etag_listed(if_none_match, r->etag);
	if (!if_modified_since || !r->last_modified[0])
		return false;
	since = qs_parse_imf_fixdate(if_modified_since);
	mod = qs_parse_imf_fixdate(r->last_modified);
	/* a date from the future is no validator (RFC 9110 13.1.3) */
	return since >= 0 && mod >= 0 && mod <= since && since <= (int64_t)time(NULL);
}

bool qs_if_range_matches(const char *value, const struct qs_static_resp *r)
{
	if (value[0] == '"')
		return r->etag[0] && !strcmp(value, r->etag);	/* strong comparison */
	if (!strncmp(value, "W/", 2))
		return false;
	return r->last_modified[0] && !strcmp(value, r->last_modified);
}

static void reset(struct qs_static_resp *out)
{
	memset(out, 0, sizeof(*out));
	out->status = 500;
	out->fd = -1;
}

int qs_static_resolve(const struct qs_docroot *d, const char *method,
		      const char *path, size_t pathlen, const char *range,
		      struct qs_static_resp *out)
{
	char rel[REL_MAX];
	struct stat st;
	bool deny, get;
	size_t rlen;
	int fd = -1, ret = 0, r;

	if (!out)
		return -EINVAL;
	reset(out);
	if (!d || d->dirfd < 0 || !method || (!path && pathlen))
		return -EINVAL;
	if (pathlen > QS_STATIC_PATH_MAX) {
		out->status = 414;
		return 0;
	}
	out->status = normalize(path, pathlen, rel, &deny);
	if (out->status)
		return 0;
	get = !strcmp(method, "GET");
	out->head = !strcmp(method, "HEAD");
	if (!get && !out->head) {
		out->status = 405;
		out->allow = "GET, HEAD";
		return 0;
	}
	if (deny) {
		out->status = 404;
		return 0;
	}

	fd = open_beneath(d->dirfd, rel);
	if (fd < 0) {
		ret = open_error(fd, out);
		fd = -1;
		goto cleanup;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		out->status = 500;
		goto cleanup;
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		rlen = strlen(rel);
		if (!strcmp(rel, "."))
			rlen = 0;
		else if (rel[rlen - 1] != '/')
			rel[rlen++] = '/';
		memcpy(rel + rlen, INDEX_NAME, sizeof(INDEX_NAME));
		fd = open_beneath(d->dirfd, rel);
		if (fd == -ENOENT) {
			out->status = 403;	/* a directory without an index: no listing */
			fd = -1;
			goto cleanup;
		}
		if (fd < 0) {
			ret = open_error(fd, out);
			fd = -1;
			goto cleanup;
		}
		if (fstat(fd, &st)) {
			ret = -errno;
			out->status = 500;
			goto cleanup;
		}
	}
	if (!S_ISREG(st.st_mode)) {
		out->status = 403;
		goto cleanup;
	}

	out->size = (uint64_t)st.st_size;
	out->length = out->size;
	/* RFC 9110 14.2: Range is defined for GET only */
	r = get ? qs_parse_range(range, out->size, &out->offset, &out->length) : -1;
	if (r == 1) {
		out->status = 416;
		out->offset = out->length = 0;
		snprintf(out->content_range, sizeof(out->content_range), "bytes */%" PRIu64,
			 out->size);
		goto cleanup;
	}
	if (r == 0) {
		out->status = 206;
		snprintf(out->content_range, sizeof(out->content_range),
			 "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, out->offset,
			 out->offset + out->length - 1, out->size);
	} else {
		out->status = 200;
		out->offset = 0;
		out->length = out->size;
	}
	out->content_type = qs_mime_type(rel);
	qs_imf_fixdate(st.st_mtim.tv_sec, out->last_modified, sizeof(out->last_modified));
	snprintf(out->etag, sizeof(out->etag), "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"",
		 (uint64_t)st.st_ino, out->size,
		 (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec);
	if (get) {
		out->fd = fd;
		fd = -1;
	}
cleanup:
	if (fd >= 0)
		close(fd);
	return ret;
}
