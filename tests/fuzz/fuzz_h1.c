// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the HTTP/1.1 request head parser and chunked body
 * decoder (user/worker/http/h1parse.c): the bytes a client sends on a TCP
 * connection.  Input: byte 0 is the size of the pieces the rest arrives in
 * (1 to 256: the parser must give the same answer however it is split);
 * the rest is a request: its head, then (when the head says chunked) the
 * body.  Each piece is parsed from an exact-size copy so ASan sees any
 * overread.
 *
 * abort() on any broken promise: a result other than 0, a head length, or
 * -400/-414/-431/-501/-505; a different result for the whole input and for
 * its pieces; a head accepted with a method that is not 1-15 token bytes,
 * a field name that is not a lowercase token, a value with NUL, CR or LF
 * or whitespace at either end, Content-Length with chunked, HTTP/1.1
 * without an authority, a path not starting with '/' (but OPTIONS *); the
 * decoder taking more than it was given or data outside what it took.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *   -Iuser tests/fuzz/fuzz_h1.c user/worker/http/h1parse.c -o .output/fuzz_h1
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/http/h1parse.h"

#define MAX_BYTES 4096

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "fuzz_h1: " __VA_ARGS__);                      \
		fprintf(stderr, "\n");                                         \
		abort();                                                       \
	} while (0)

static bool tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

/* The head of data[0..len) given in pieces of step bytes, into a growing copy. */
static int parse_pieces(const uint8_t *data, size_t len, size_t step, struct qs_h1_head *h)
{
	struct qs_h1_scan scan = { 0 };
	uint8_t *buf = NULL;
	size_t have = 0;
	int r = 0;

	while (!r && have < len) {
		size_t n = len - have < step ? len - have : step;
		uint8_t *b = malloc(have + n);

		if (!b)
			abort();
		if (have)
			memcpy(b, buf, have);
		memcpy(b + have, data + have, n);
		free(buf);
		buf = b;
		have += n;
		r = qs_h1_parse_head(buf, have, MAX_BYTES, &scan, h);
	}
	if (r > 0)
		memcpy((uint8_t *)data, buf, (size_t)r);	/* names as lowercased */
	free(buf);
	return r;
}

static void check_head(const struct qs_h1_head *h)
{
	if (!h->method_len || h->method_len > 15)
		FAIL("method length %zu", h->method_len);
	for (size_t i = 0; i < h->method_len; i++)
		if (!tchar(h->method[i]) && !(h->method[i] >= 'A' && h->method[i] <= 'Z'))
			FAIL("method byte %#x", h->method[i]);
	if (!h->path_len || (h->path[0] != '/' && !(h->path_len == 1 && h->path[0] == '*')))
		FAIL("path");
	if (h->minor > 1 || (h->minor == 1 && !h->authority))
		FAIL("HTTP/1.%u, authority %p", h->minor, (const void *)h->authority);
	if (h->chunked && h->content_length >= 0)
		FAIL("Content-Length with chunked");
	if (h->n_fields > QS_H1_MAX_FIELDS)
		FAIL("%u fields", h->n_fields);
	for (unsigned i = 0; i < h->n_fields; i++) {
		const struct qs_h1_field *f = &h->fields[i];

		if (!f->nl)
			FAIL("empty name");
		for (size_t k = 0; k < f->nl; k++)
			if (!tchar(f->name[k]))
				FAIL("name byte %#x", f->name[k]);
		for (size_t k = 0; k < f->vl; k++)
			if (!f->value[k] || f->value[k] == '\r' || f->value[k] == '\n')
				FAIL("value byte %#x", f->value[k]);
		if (f->vl && (f->value[0] == ' ' || f->value[0] == '\t' ||
			      f->value[f->vl - 1] == ' ' || f->value[f->vl - 1] == '\t'))
			FAIL("value not trimmed");
	}
}

static void decode_body(const uint8_t *data, size_t len, size_t step)
{
	struct qs_h1_chunked d = { 0 };
	size_t off = 0;

	while (off < len && !qs_h1_chunked_done(&d)) {
		size_t n = len - off < step ? len - off : step, dl;
		uint8_t *piece = malloc(n);
		int64_t took;

		if (!piece)
			abort();
		memcpy(piece, data + off, n);
		took = qs_h1_chunked(&d, piece, n, &dl);
		free(piece);
		if (took == -400)
			return;
		if (took < 0 || (size_t)took > n || dl > (size_t)took)
			FAIL("took %lld of %zu, data %zu", (long long)took, n, dl);
		if (took == 0)
			FAIL("no progress");
		off += (size_t)took;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct qs_h1_head h1, h2;
	size_t step;
	uint8_t *whole;
	int r1, r2;

	if (size < 1)
		return 0;
	step = (size_t)data[0] + 1;
	data++;
	size--;
	whole = malloc(size ? size : 1);
	if (!whole)
		abort();
	memcpy(whole, data, size);
	{
		struct qs_h1_scan scan = { 0 };

		r1 = qs_h1_parse_head(whole, size, MAX_BYTES, &scan, &h1);
	}
	r2 = parse_pieces(whole, size, step, &h2);
	/* a limit can be hit by the whole before its end is seen in pieces, or the reverse */
	if (r1 != r2 && !(r1 == -431 || r2 == -431 || r1 == -414 || r2 == -414))
		FAIL("whole %d, in pieces of %zu: %d", r1, step, r2);
	if (r1 < 0 && r1 != -400 && r1 != -414 && r1 != -417 && r1 != -431 && r1 != -501 &&
	    r1 != -505)
		FAIL("result %d", r1);
	if (r1 > 0) {
		if ((size_t)r1 > size)
			FAIL("head %d of %zu", r1, size);
		check_head(&h1);
		if (h1.chunked)
			decode_body(whole + r1, size - (size_t)r1, step);
	}
	free(whole);
	return 0;
}
