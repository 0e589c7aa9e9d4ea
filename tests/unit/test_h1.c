// SPDX-License-Identifier: MIT
/*
 * The HTTP/1.1 head parser and chunked decoder (http/h1parse.c): what
 * RFC 9112 allows is read, every smuggling shape is refused, however the
 * bytes are split.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "worker/http/h1parse.h"

#define MAX_BYTES 65536

/* Parse s whole: the result of qs_h1_parse_head (head length, 0, -status). */
static int parse(const char *s, struct qs_h1_head *h)
{
	static uint8_t buf[1 << 17];
	struct qs_h1_scan scan = { 0 };
	size_t len = strlen(s);

	memcpy(buf, s, len);
	return qs_h1_parse_head(buf, len, MAX_BYTES, &scan, h);
}

/* s given a byte at a time: the first non-zero result */
static int parse_bytewise(const char *s, size_t len, struct qs_h1_head *h)
{
	static uint8_t buf[1 << 17];
	struct qs_h1_scan scan = { 0 };
	int r = 0;

	for (size_t i = 1; i <= len && !r; i++) {
		buf[i - 1] = (uint8_t)s[i - 1];
		r = qs_h1_parse_head(buf, i, MAX_BYTES, &scan, h);
	}
	return r;
}

static int test_simple_get(void)
{
	static struct qs_h1_head h;
	const char *s = "GET /a?b=c HTTP/1.1\r\nHost: Example.org\r\nX-Long-Name:  v w \t\r\n\r\n";

	CHECK(parse(s, &h) == (int)strlen(s), "head length");
	CHECK(h.method_len == 3 && !memcmp(h.method, "GET", 3), "method");
	CHECK(h.path_len == 6 && !memcmp(h.path, "/a?b=c", 6), "path");
	CHECK(h.authority_len == 11 && !memcmp(h.authority, "Example.org", 11), "authority");
	CHECK(h.minor == 1 && h.content_length == -1 && !h.chunked, "version, no body");
	CHECK(h.n_fields == 2, "fields %u", h.n_fields);
	CHECK(h.fields[1].nl == 11 && !memcmp(h.fields[1].name, "x-long-name", 11),
	      "lowercased name");
	CHECK(h.fields[1].vl == 3 && !memcmp(h.fields[1].value, "v w", 3), "OWS trimmed");
	CHECK(parse_bytewise(s, strlen(s), &h) == (int)strlen(s), "byte at a time");
	return 0;
}

static int test_incomplete_needs_more(void)
{
	static struct qs_h1_head h;

	CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\n", &h) == 0, "no end yet");
	CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\n\r", &h) == 0, "CR waits for its LF");
	return 0;
}

static int test_keepalive_close_expect_http10(void)
{
	static struct qs_h1_head h;

	CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", &h) > 0 &&
	      h.close && h.keep_alive, "connection tokens");
	CHECK(parse("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
		    "Content-Length: 3\r\n\r\n", &h) > 0 && h.expect_continue &&
	      h.content_length == 3, "expect");
	CHECK(parse("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n"
		    "Content-Length: 3\r\n\r\n", &h) == -417, "an unknown expectation");
	CHECK(parse("GET / HTTP/1.0\r\n\r\n", &h) > 0 && h.minor == 0 && !h.authority,
	      "1.0 without Host");
	CHECK(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &h) > 0 && h.method_len == 3,
	      "empty lines before the request line");
	return 0;
}

static int test_targets(void)
{
	static struct qs_h1_head h;

	CHECK(parse("GET https://A.example:443/x?y HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
		    &h) > 0 && h.path_len == 4 && !memcmp(h.path, "/x?y", 4) &&
	      h.authority_len == 13, "absolute-form for Host's host");
	CHECK(parse("GET http://a HTTP/1.1\r\nHost: a\r\n\r\n", &h) > 0 && h.path_len == 1 &&
	      h.path[0] == '/', "absolute-form without a path");
	CHECK(parse("GET http://b/ HTTP/1.1\r\nHost: a\r\n\r\n", &h) == -400, "another host");
	CHECK(parse("GET http://u@a/ HTTP/1.1\r\nHost: u@a\r\n\r\n", &h) == -400, "userinfo");
	CHECK(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &h) > 0, "asterisk-form");
	CHECK(parse("GET * HTTP/1.1\r\nHost: a\r\n\r\n", &h) == -400, "asterisk for GET");
	CHECK(parse("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", &h) == -400,
	      "authority-form");
	return 0;
}

/* each: refused with this status (whole, and a byte at a time) */
static const struct {
	const char *req;
	int status;
} bad[] = {
	/* smuggling: the framing must have one meaning */
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,2\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999999999999\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\n Content-Length: 5\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\tContent-Length: 5\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
	{ "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501 },
	/* line endings, NUL and controls */
	{ "GET / HTTP/1.1\nHost: a\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\r\n\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400 },
	/* the request line and names */
	{ "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400 },
	{ "GET / http/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "VERYLONGMETHODNAME / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505 },
	{ "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505 },
	{ "GET / HTTP/1.1\r\nX(: a\r\nHost: a\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost a\r\n\r\n", 400 },
	/* Host */
	{ "GET / HTTP/1.1\r\n\r\n", 400 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400 },
};

static int test_refused(void)
{
	static struct qs_h1_head h;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(parse(bad[i].req, &h) == -bad[i].status, "%zu: %d, not %d", i,
		      parse(bad[i].req, &h), -bad[i].status);
		CHECK(parse_bytewise(bad[i].req, strlen(bad[i].req), &h) == -bad[i].status,
		      "%zu byte at a time", i);
	}
	return 0;
}

static int test_nul_refused(void)
{
	static struct qs_h1_head h;
	const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";

	CHECK(parse_bytewise(s, sizeof(s) - 1, &h) == -400, "NUL in a value");
	return 0;
}

static int test_limits(void)
{
	static struct qs_h1_head h;
	static char s[1 << 17];
	int n;

	n = sprintf(s, "GET /");
	memset(s + n, 'a', QS_H1_MAX_LINE);
	CHECK(parse(s, &h) == -414, "long request line, incomplete");
	n = sprintf(s, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (unsigned i = 0; i < QS_H1_MAX_FIELDS; i++)
		n += sprintf(s + n, "X-%u: 1\r\n", i);
	strcpy(s + n, "\r\n");
	CHECK(parse(s, &h) == -431, "one field too many");
	n = sprintf(s, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	memset(s + n, 'a', MAX_BYTES);
	s[n + MAX_BYTES] = '\0';
	CHECK(parse(s, &h) == -431, "over max_bytes, incomplete");
	return 0;
}

static int test_pipelined_heads(void)
{
	static struct qs_h1_head h;
	const char *s = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
	int n = parse(s, &h);

	CHECK(n == (int)strlen(s) / 2, "the first head only: %d", n);
	CHECK(h.path_len == 2 && !memcmp(h.path, "/1", 2), "first path");
	CHECK(parse(s + n, &h) == n && !memcmp(h.path, "/2", 2), "then the second");
	return 0;
}

/* Decode a whole chunked body fed in pieces of step bytes: its data, or -1. */
static long decode(const char *in, size_t len, size_t step, char *out)
{
	struct qs_h1_chunked d = { 0 };
	size_t off = 0, o = 0, dl;

	while (off < len && !qs_h1_chunked_done(&d)) {
		size_t n = len - off < step ? len - off : step;
		int64_t took = qs_h1_chunked(&d, (const uint8_t *)in + off, n, &dl);

		if (took < 0)
			return -1;
		memcpy(out + o, in + off + took - dl, dl);
		o += dl;
		off += (size_t)took;
	}
	return qs_h1_chunked_done(&d) ? (long)o : -2;
}

static int test_chunked(void)
{
	const char *ok = "5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
			 "0\r\nTrailer: x\r\n\r\n";
	char out[128];

	for (size_t step = 1; step < 80; step++) {
		CHECK(decode(ok, strlen(ok), step, out) == 31, "step %zu", step);
		CHECK(!memcmp(out, "helloabcdefghijklmnopqrstuvwxyz", 31), "data, step %zu", step);
	}
	CHECK(decode("0\r\n\r\n", 5, 5, out) == 0, "empty body");
	CHECK(decode("fffffffffffffffff\r\n", 19, 19, out) == -1, "huge chunk size");
	CHECK(decode("ffffffffffffff\r\n", 16, 16, out) == -2, "big, but no overflow: waits");
	CHECK(decode("x\r\n", 3, 3, out) == -1, "not hex");
	CHECK(decode("\r\n", 2, 2, out) == -1, "no size");
	CHECK(decode("5 \r\nhello\r\n0\r\n\r\n", 16, 16, out) == -1, "space after the size");
	CHECK(decode("5\nhello\r\n0\r\n\r\n", 14, 14, out) == -1, "bare LF after the size");
	CHECK(decode("5\r\nhelloX\r\n0\r\n\r\n", 16, 16, out) == -1, "data longer than said");
	CHECK(decode("5\r\nhello\r\n0\r\nX: a\nb\r\n\r\n", 24, 24, out) == -1,
	      "bare LF in a trailer");
	CHECK(decode("5\r\nhello\r\n0\r\nX: a\x00\r\n\r\n", 21, 21, out) == -1, "NUL in a trailer");
	return 0;
}

static int test_chunked_bounds(void)
{
	static char in[20000];
	char out[16];
	int n;

	n = sprintf(in, "1;");
	memset(in + n, 'e', QS_H1_MAX_CHUNK_EXT + 1);
	n += QS_H1_MAX_CHUNK_EXT + 1;
	n += sprintf(in + n, "\r\na\r\n0\r\n\r\n");
	CHECK(decode(in, (size_t)n, 100, out) == -1, "chunk extensions over the bound");
	n = sprintf(in, "0\r\n");
	for (int i = 0; i < 1000; i++)
		n += sprintf(in + n, "X: 123456789\r\n");
	n += sprintf(in + n, "\r\n");
	CHECK(decode(in, (size_t)n, 100, out) == -1, "trailers over the bound");
	return 0;
}

int main(void)
{
	RUN(test_simple_get);
	RUN(test_incomplete_needs_more);
	RUN(test_keepalive_close_expect_http10);
	RUN(test_targets);
	RUN(test_refused);
	RUN(test_nul_refused);
	RUN(test_limits);
	RUN(test_pipelined_heads);
	RUN(test_chunked);
	RUN(test_chunked_bounds);
	return DONE();
}
