/* SPDX-License-Identifier: MIT */
/*
 * JSON string escaping for log lines (the server's own in --log-format
 * json, and the access log).  What is logged comes from clients (a path, a
 * method) or from libraries, so any byte may arrive: quotes, backslashes
 * and control characters are escaped (RFC 8259 7), valid UTF-8 passes as
 * it is, and a byte that is not part of valid UTF-8 becomes \u00XX, so
 * every line is valid JSON and no client can end a string, add a field or
 * split a line.  (\u00XX reads back as U+00XX: the raw byte is not
 * recoverable, but the line stays parseable and the byte visible.)
 */
#ifndef QS_COMMON_JSON_H
#define QS_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most one input byte becomes: \u00XX. */
#define QS_JSON_ESC_MAX 6

/*
 * s[0..n) escaped into dst (no quotes, no NUL), at most cap bytes: an
 * escape or a UTF-8 sequence is never cut.  Returns the bytes written;
 * *used (may be NULL) gets how many input bytes they cover, n when all fit.
 */
size_t qs_json_escape(char *dst, size_t cap, const void *s, size_t n, size_t *used);

/* The length of the valid UTF-8 sequence at s[0..n), or 0 if there is none. */
size_t qs_utf8_seq(const uint8_t *s, size_t n);

#endif
