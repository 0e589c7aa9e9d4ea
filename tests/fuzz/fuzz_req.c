// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for a request's header block into its struct qs_req
 * (user/worker/http/fields.c, what http/h3.c hands nghttp3's fields to).
 * Input: byte 0 says whether the site keeps the regular fields (bit 0) and
 * how much of the worker's budget of request fields is already held (the
 * other bits: from none to all of it); the rest is the fields, one a line,
 * the name up to the first ':' after its first byte (":path:/a" is :path,
 * "range:bytes=0-1" is range), each name and value in its own exact-size
 * allocation so ASan sees any overread.  The fields are fed in order until
 * one refuses the request, as a protocol does; then the block ends.
 *
 * abort() on any broken promise: a result other than 0, 400, 503 or
 * -ENOMEM; a field accepted whose name is not a lowercase token or whose
 * value holds NUL, CR or LF; :method, :path and Content-Length not the last
 * ones given; the kept field list not exactly the regular fields given, in
 * order; a request without :method or :path accepted; the budget not back
 * where it was once the request is freed; a request id that is not sane or
 * a trace context not final at the end of the block.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *   -Iuser tests/fuzz/fuzz_req.c user/worker/http/fields.c user/worker/http/req.c \
 *   user/worker/http/date.c user/worker/http/trace.c user/worker/http/accesslog.c \
 *   user/common/log.c user/common/json.c -o .output/fuzz_req
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/http/req.h"
#include "worker/site.h"

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "fuzz_req: " __VA_ARGS__);                     \
		fprintf(stderr, "\n");                                         \
		abort();                                                       \
	} while (0)

/* What the last accepted field of each kind said. */
struct expect {
	const uint8_t *method, *path;
	size_t method_len, path_len;
	int64_t content_length;
	size_t fields_off;      /* how much of the field list is checked */
};

static bool lower_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

static bool named(const uint8_t *n, size_t nl, const char *s)
{
	return nl == strlen(s) && !memcmp(n, s, nl);
}

/* An accepted field: well formed, and where the request says it is. */
static void check_accepted(struct qs_req *req, struct expect *e, const uint8_t *n, size_t nl,
			   const uint8_t *v, size_t vl)
{
	const char *fn, *fv;
	size_t fnl, fvl;

	if (!nl || (n[0] == ':' && nl == 1))
		FAIL("an empty name accepted");
	for (size_t i = n[0] == ':'; i < nl; i++)
		if (!lower_tchar(n[i]))
			FAIL("name byte 0x%02x accepted", n[i]);
	if (memchr(v, '\0', vl) || memchr(v, '\r', vl) || memchr(v, '\n', vl))
		FAIL("a value with NUL, CR or LF accepted");
	if (named(n, nl, ":method"))
		e->method = v, e->method_len = vl;
	if (named(n, nl, ":path"))
		e->path = v, e->path_len = vl;
	if (named(n, nl, "content-length")) {
		if (req->content_length < 0)
			FAIL("content-length accepted as %lld", (long long)req->content_length);
		e->content_length = req->content_length;
	}
	if (n[0] == ':' || !req->site->keep_fields) {
		if (req->fields_len != e->fields_off)
			FAIL("%.*s went to the field list", (int)nl, (const char *)n);
		return;
	}
	if (!qs_req_next_field(req, &e->fields_off, &fn, &fnl, &fv, &fvl))
		FAIL("field %.*s not kept", (int)nl, (const char *)n);
	if (fnl != nl || memcmp(fn, n, nl) || fvl != vl || memcmp(fv, v, vl))
		FAIL("field %.*s kept as %s", (int)nl, (const char *)n, fn);
	if (e->fields_off != req->fields_len)
		FAIL("more in the field list than was given");
}

static void check_request(struct qs_req *req, const struct expect *e, int end)
{
	if (e->method && (strlen(req->method) != e->method_len ||
			  memcmp(req->method, e->method, e->method_len)))
		FAIL(":method is '%s'", req->method);
	if (!e->method && req->method[0])
		FAIL(":method '%s' from nowhere", req->method);
	if (e->path && (!req->path || req->pathlen != e->path_len ||
			memcmp(req->path, e->path, e->path_len) || req->path[e->path_len]))
		FAIL(":path is not the last one given");
	if (!e->path && req->path)
		FAIL(":path from nowhere");
	if (req->content_length != e->content_length)
		FAIL("content-length %lld, %lld given", (long long)req->content_length,
		     (long long)e->content_length);
	if (end != 0 && end != 400)
		FAIL("the end of the block gave %d", end);
	if ((end == 0) != (req->path && req->method[0]))
		FAIL("the end of the block gave %d with :path %p :method '%s'", end,
		     (void *)req->path, req->method);
	if (req->head != !strcmp(req->method, "HEAD"))
		FAIL("head %d for %s", req->head, req->method);
	/* whatever came, the id is final and sane (x-request-id) ... */
	if (!qs_reqid_valid((const uint8_t *)req->request_id, req->request_id_len) ||
	    strlen(req->request_id) != req->request_id_len)
		FAIL("request id '%s'", req->request_id);
	/* ... and so is our span once asked for (traceparent), the id unchanged */
	qs_req_trace(req);
	if (req->trace.state != QS_TRACE_STARTED && req->trace.state != QS_TRACE_CONTINUED)
		FAIL("trace state %u once asked for", req->trace.state);
	if (strlen(req->request_id) != req->request_id_len)
		FAIL("request id changed by the trace");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qs_site site = { 0 };
	struct qs_req req = { 0 };
	struct expect e = { .content_length = -1 };
	const uint8_t *p, *end;
	uint8_t *copies[2 * 64];
	size_t ncopies = 0, held;
	int ret = 0;

	if (!size)
		return 0;
	site.keep_fields = data[0] & 1;
	/* bits 1..7: from none of the budget held to all of it, in 1/128ths */
	held = (size_t)(data[0] >> 1) * (QS_REQ_FIELDS_BUDGET / 128);
	site.fields_held = held;
	req.site = &site;
	req.content_length = -1;

	for (p = data + 1, end = data + size; p < end && ret == 0 && ncopies < 2 * 64;) {
		const uint8_t *line_end = memchr(p, '\n', (size_t)(end - p)) ?: end;
		const uint8_t *colon = line_end - p > 1 ? memchr(p + 1, ':', (size_t)(line_end - p - 1))
							: NULL;
		size_t nl = colon ? (size_t)(colon - p) : (size_t)(line_end - p);
		size_t vl = colon ? (size_t)(line_end - colon - 1) : 0;
		uint8_t *n = malloc(nl ? nl : 1), *v = malloc(vl ? vl : 1);

		if (!n || !v)
			abort();
		memcpy(n, p, nl);
		if (vl)
			memcpy(v, colon + 1, vl);
		copies[ncopies++] = n;
		copies[ncopies++] = v;
		ret = qs_req_header(&req, n, nl, v, vl);
		if (ret == 0) {
			check_accepted(&req, &e, n, nl, v, vl);
		} else if (ret == 503) {
			if (req.fields || req.fields_len || req.path || site.fields_held != held)
				FAIL("503 with the fields still held");
			e.path = NULL;	/* let go with the rest */
		} else if (ret != 400 && ret != -ENOMEM) {
			FAIL("qs_req_header returned %d", ret);
		}
		p = line_end + 1;
	}
	check_request(&req, &e, qs_req_headers_end(&req));
	qs_req_free_fields(&req);
	if (site.fields_held != held)
		FAIL("%zu bytes of the budget held after the request, %zu before",
		     site.fields_held, held);
	for (size_t i = 0; i < ncopies; i++)
		free(copies[i]);
	return 0;
}
