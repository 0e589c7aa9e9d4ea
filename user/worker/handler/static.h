/* SPDX-License-Identifier: MIT */
/*
 * Static files for the HTTP/3 worker: maps one request (:method, :path,
 * Range) to a status, headers and an open file descriptor, never reaching
 * outside the docroot.  Plain libc and Linux syscalls (openat2), no
 * allocation, no QUIC: the worker sends what this returns.
 *
 * Decisions an operator should know (tests/unit/test_static.c holds each):
 *  - Only GET and HEAD serve files; any other method gets 405 with
 *    Allow: GET, HEAD.  Methods are case-sensitive ("get" is 405).
 *  - Order of checks: 414 (whole :path longer than QS_STATIC_PATH_MAX),
 *    400 (syntax), 405 (method), 404 (hidden or PHP names), then the
 *    filesystem.
 *  - 400: no leading '/', malformed %XX, a raw or decoded control byte
 *    (< 0x20 or 0x7f, so also NUL), a raw space, a raw or decoded
 *    backslash, a decoded '/' (%2F: a segment must not hide a separator),
 *    a "." or ".." segment after decoding (a client that normalizes, as
 *    RFC 3986 asks, never sends one).  Query ('?') and fragment ('#') are
 *    cut off before decoding; repeated slashes collapse.
 *  - 404 without touching the filesystem: a segment starting with '.'
 *    (/.git/config, /.env, and also /.well-known/), and a last segment
 *    with a PHP extension (.php .php3-.php8 .phtml .phar .phps, any
 *    case): the worker routes PHP elsewhere, so reaching here with one
 *    means a routing bug, and PHP source must never be sent.
 *  - Symlinks work while they stay inside the docroot (RESOLVE_BENEATH);
 *    one that escapes, and "magic" /proc links, give 404, not 403, so a
 *    client cannot tell "escapes" from "absent".  ENOENT, ENOTDIR, ELOOP,
 *    ENAMETOOLONG also give 404; EACCES, EPERM, ENXIO, ENODEV give 403.
 *  - A directory serves its index.html (also without a trailing slash:
 *    no redirect, so relative links in that index resolve one level up);
 *    no index.html, or one that is not a regular file, gives 403 (no
 *    listings).  A trailing slash after a file is 404.
 *  - Only regular files are served; a FIFO, device or socket is 403.  The
 *    open uses O_NONBLOCK so a FIFO never blocks the worker (the file is
 *    opened before fstat tells its type: mount the docroot nodev).
 *  - HEAD: out->fd is -1 (no body needed), head = true, length = size
 *    (the Content-Length a GET would have).  HEAD ignores Range, as
 *    RFC 9110 14.2 requires for every method but GET.
 *  - Range: one "bytes=" range; see qs_parse_range().
 *  - Conditional GET/HEAD: If-None-Match, If-Modified-Since, If-Range
 *    (see qs_not_modified(); the worker answers 304).
 *  - ETag: strong, "INODE-SIZE-MTIMENS" in hex; it changes whenever the
 *    file is replaced or written with a new mtime (an in-place rewrite to
 *    the same size within one mtime tick is not seen).
 *  - Result fds are O_RDONLY|O_CLOEXEC|O_NONBLOCK; the caller closes them.
 */
#ifndef QS_WORKER_STATIC_H
#define QS_WORKER_STATIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/docroot.h"

/* Longest :path accepted, query included; longer is 414. */
#define QS_STATIC_PATH_MAX 4096


struct qs_static_resp {
	int status;                /* 200 206 400 403 404 405 414 416 500 */
	int fd;                    /* 200/206 GET: the file; else -1.  Caller closes */
	uint64_t offset;           /* body range within fd (200: 0) */
	uint64_t length;           /* body bytes = Content-Length (also for HEAD) */
	uint64_t size;             /* whole file size (200, 206, 416), else 0 */
	const char *content_type;  /* static string for 200/206, else NULL */
	char content_range[80];    /* 206 "bytes A-B/SIZE", 416 "bytes * /SIZE" without the space, else "" */
	char last_modified[40];    /* 200/206: IMF-fixdate of st_mtime, else "" */
	char etag[64];             /* 200/206: strong, quoted, else "" */
	const char *allow;         /* 405: "GET, HEAD", else NULL */
	bool head;                 /* HEAD: send headers only */
};

/*
 * Resolve one request against the docroot.  method is the :method (NUL
 * terminated); path/pathlen the :path (need not be NUL terminated; the
 * query is ignored); range the Range value or NULL.  Returns 0 with out
 * filled, error statuses included.  Returns -errno for internal failures
 * (no openat2, EMFILE, ENOMEM, EIO, bad arguments ...) with out still
 * filled as a 500, so the caller may send it and count the cause; the
 * missing openat2 (kernel < 5.6) is logged here, once.  Whatever the
 * result, out->fd is -1 unless status is 200/206 for a GET.
 */
int qs_static_resolve(const struct qs_docroot *d, const char *method,
		      const char *path, size_t pathlen, const char *range,
		      struct qs_static_resp *out);

/*
 * Content-Type by the extension of name's last segment (case-insensitive,
 * a built-in table); "application/octet-stream" otherwise.  Text types
 * carry "; charset=utf-8".
 */
const char *qs_mime_type(const char *name);

/*
 * Parse one Range value against a representation of size bytes.
 * Accepts "bytes=A-B", "bytes=A-", "bytes=-N" (unit case-insensitive,
 * blanks around the range).  Numbers saturate at 2^64-1, so huge ones
 * are simply "past the end".  Returns
 *    0  satisfiable: *off, *len (>= 1) set, clamped to the file;
 *    1  unsatisfiable, answer 416: A >= size, B < A, "-0", or size 0;
 *   -1  ignore the header and send 200: NULL, another unit, garbage,
 *       or more than one range (RFC 9110 lets a server ignore Range).
 */
int qs_parse_range(const char *value, uint64_t size, uint64_t *off, uint64_t *len);

/*
 * Conditional requests (RFC 9110 13), for a GET or HEAD that resolved to
 * 200.  qs_etag_listed: an If-None-Match value lists etag, by the weak
 * comparison ("W/" ignored), or is "*"; a value that is not a list of
 * entity-tags matches nothing.  qs_not_modified: answer 304, by
 * If-None-Match when given (If-Modified-Since is then ignored), else by
 * an If-Modified-Since IMF-fixdate not before Last-Modified and not in the
 * future (other date formats are ignored).  qs_if_range_matches: an
 * If-Range entity-tag equals the ETag (strong comparison) or its date
 * equals Last-Modified exactly; if not, the Range is ignored (200).
 */
bool qs_etag_listed(const char *list, const char *etag);
bool qs_not_modified(const char *if_none_match, const char *if_modified_since,
		     const struct qs_static_resp *r);
bool qs_if_range_matches(const char *value, const struct qs_static_resp *r);

#endif
