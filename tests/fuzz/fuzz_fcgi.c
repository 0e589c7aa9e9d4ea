// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the FastCGI module: what php-fpm sends is untrusted.
 * Input: byte 0 picks where the rest is cut in two, byte 1 the CGI header
 * limit; the rest is
 *  - a server's byte stream for the record decoder (request id 1), each
 *    slice in its own exact-size allocation so ASan sees any overread,
 *    the STDOUT it yields then fed on to the CGI header parser;
 *  - the STDOUT bytes themselves, straight to the CGI header parser in the
 *    same two slices (a blind fuzzer rarely frames valid records);
 *  - data for the encoders, checked with their own size functions;
 *  - a client's PATH_INFO and a STDERR line for the log.
 * abort() on any broken promise: no progress, an event outside its slice,
 * an event after END_REQUEST, a field that is not a lowercase token or a
 * value with CR/LF/NUL, a dropped header that got through, a status out
 * of range, a write past the header buffer.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *   -Iuser tests/fuzz/fuzz_fcgi.c user/common/fcgi.c -o .output/fuzz_fcgi
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fcgi.h"

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "fuzz_fcgi: " __VA_ARGS__);                    \
		fprintf(stderr, "\n");                                         \
		abort();                                                       \
	} while (0)

#define CANARY 16

struct cgi_run {
	struct qs_cgi c;
	char *buf;
	size_t limit;
	int ret;		/* last qs_cgi_feed() result */
};

static void cgi_start(struct cgi_run *r, size_t limit)
{
	r->buf = malloc(limit + CANARY);
	if (!r->buf)
		abort();
	memset(r->buf + limit, 0xee, CANARY);
	r->limit = limit;
	r->ret = 0;
	qs_cgi_init(&r->c, r->buf, limit);
}

static void cgi_feed(struct cgi_run *r, const uint8_t *data, size_t len)
{
	size_t off = 0;
	int ret;

	if (r->ret < 0)
		return;
	ret = qs_cgi_feed(&r->c, data, len, &off);
	if (ret != 0 && ret != 1 && ret != -EINVAL && ret != -EMSGSIZE && ret != -ENODATA)
		FAIL("qs_cgi_feed returned %d", ret);
	if (off > len || (ret != 1 && off))
		FAIL("body offset %zu in a %zu-byte chunk (ret %d)", off, len, ret);
	if (r->ret == 1 && (ret != 1 || off))
		FAIL("feeding after completion gave %d, offset %zu", ret, off);
	r->ret = ret;
}

static bool tchar_lower(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch && strchr("!#$%&'*+-.^_`|~", ch);
}

static void cgi_finish(struct cgi_run *r)
{
	static const char *const dropped[] = {
		"connection", "keep-alive", "proxy-connection", "transfer-encoding",
		"upgrade", "te", "status",
	};
	struct qs_cgi_field f;
	size_t pos = 0, count = 0;
	int eof = qs_cgi_eof(&r->c);

	if ((r->ret == 1) != (eof == 0))
		FAIL("eof %d after feed %d", eof, r->ret);
	if (r->ret == 0 && eof != -ENODATA)
		FAIL("unfinished block gave %d, not -ENODATA", eof);
	if (eof && !*r->c.why)
		FAIL("error %d without a reason", eof);
	for (size_t i = 0; i < CANARY; i++)
		if ((unsigned char)r->buf[r->limit + i] != 0xee)
			FAIL("wrote past the %zu-byte header buffer", r->limit);
	if (eof == 0) {
		if (r->c.status < 200 || r->c.status > 599)
			FAIL("status %d", r->c.status);
		while (qs_cgi_next(&r->c, &pos, &f)) {
			if (!f.name_len || f.name_len != strlen(f.name) ||
			    f.value_len != strlen(f.value) || pos > r->c.out)
				FAIL("field %zu malformed", count);
			for (size_t i = 0; i < f.name_len; i++)
				if (!tchar_lower((unsigned char)f.name[i]))
					FAIL("name byte 0x%02x", (unsigned char)f.name[i]);
			for (size_t i = 0; i < f.value_len; i++)
				if (f.value[i] == '\r' || f.value[i] == '\n')
					FAIL("CR/LF in a value");
			if (f.value_len && (f.value[0] == ' ' || f.value[0] == '\t' ||
					    f.value[f.value_len - 1] == ' ' ||
					    f.value[f.value_len - 1] == '\t'))
				FAIL("value not trimmed");
			for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
				if (!strcmp(f.name, dropped[i]))
					FAIL("%s got through", f.name);
			count++;
		}
		if (count != r->c.count)
			FAIL("%zu fields iterated, %zu counted", count, r->c.count);
	} else if (qs_cgi_next(&r->c, &pos, &f)) {
		FAIL("fields after an error");
	}
	free(r->buf);
}

/* Feeds one slice, from its own allocation, through the decoder. */
static void decode_slice(struct qs_fcgi_parser *p, const uint8_t *src, size_t len,
			 struct cgi_run *cgi, bool *ended, int *err)
{
	uint8_t *copy = malloc(len ? len : 1);
	const uint8_t *b = copy;

	if (!copy)
		abort();
	memcpy(copy, src, len);
	while (len && !*err) {
		struct qs_fcgi_event ev;
		ssize_t n = qs_fcgi_parse(p, b, len, &ev);

		if (n < 0) {
			if (n != -EPROTONOSUPPORT && n != -EBADMSG && n != -ESRCH && n != -EPROTO)
				FAIL("qs_fcgi_parse returned %zd", n);
			if (!*p->why)
				FAIL("error %zd without a reason", n);
			*err = (int)n;
			break;
		}
		if (n == 0 || (size_t)n > len)
			FAIL("consumed %zd of %zu", n, len);
		if (ev.type == QS_FCGI_EV_NONE && (size_t)n != len)
			FAIL("stopped at %zd of %zu without an event", n, len);
		if (ev.type != QS_FCGI_EV_NONE && *ended)
			FAIL("event %d after END_REQUEST", ev.type);
		if (ev.type != QS_FCGI_EV_NONE && ev.id != 1)
			FAIL("event for id %u", ev.id);
		if (ev.len && (ev.data < b || ev.data + ev.len > b + n))
			FAIL("event data outside what was consumed");
		if (ev.type == QS_FCGI_EV_STDOUT)
			cgi_feed(cgi, ev.data, ev.len);
		if (ev.type == QS_FCGI_EV_END)
			*ended = true;
		b += n;
		len -= (size_t)n;
	}
	free(copy);
}

static void decode(const uint8_t *data, size_t size, size_t cut, size_t limit)
{
	struct qs_fcgi_parser p;
	struct cgi_run cgi;
	bool ended = false;
	int err = 0, eof;

	qs_fcgi_parser_reset(&p, 1);
	cgi_start(&cgi, limit);
	decode_slice(&p, data, cut, &cgi, &ended, &err);
	decode_slice(&p, data + cut, size - cut, &cgi, &ended, &err);
	eof = qs_fcgi_parse_eof(&p);
	if (err && eof != err)
		FAIL("eof %d after error %d", eof, err);
	if (!err && (eof == 0) != ended)
		FAIL("eof %d, ended %d", eof, ended);
	cgi_finish(&cgi);
}

static void cgi_direct(const uint8_t *data, size_t size, size_t cut, size_t limit)
{
	struct cgi_run cgi;
	uint8_t *a = malloc(cut ? cut : 1), *b = malloc(size - cut ? size - cut : 1);

	if (!a || !b)
		abort();
	memcpy(a, data, cut);
	memcpy(b, data + cut, size - cut);
	cgi_start(&cgi, limit);
	cgi_feed(&cgi, a, cut);
	cgi_feed(&cgi, b, size - cut);
	cgi_finish(&cgi);
	free(a);
	free(b);
}

/* The input as STDIN and as params: sizes as promised, never past the buffer. */
static void encode(const uint8_t *data, size_t size)
{
	size_t need = qs_fcgi_stream_size(size), room = need + CANARY;
	uint8_t *out = malloc(room), pbuf[600];
	struct qs_fcgi_params p;
	char hname[64];
	ssize_t n;

	if (!out)
		abort();
	memset(out, 0xee, room);
	n = qs_fcgi_stream(out, need, QS_FCGI_STDIN, 1, data, size);
	if (n < 0 || (size_t)n != need || qs_fcgi_stream_size(qs_fcgi_stream_fit(need)) > need)
		FAIL("stream of %zu: %zd, size %zu", size, n, need);
	for (size_t i = need; i < room; i++)
		if (out[i] != 0xee)
			FAIL("stream wrote past %zu", need);
	free(out);
	/* halves as name and value, then as a header name */
	qs_fcgi_params_init(&p, pbuf, sizeof(pbuf));
	if (size && qs_fcgi_params_add(&p, (const char *)data, size / 2 + 1,
				       (const char *)data + size / 2 + 1,
				       size - size / 2 - 1) == 0 &&
	    p.len != (size / 2 + 1 > 127 ? 4u : 1u) + (size - size / 2 - 1 > 127 ? 4u : 1u) + size)
		FAIL("pair of %zu bytes took %zu", size, p.len);
	qs_fcgi_params_append(&p, "; ", 2, (const char *)data, size);
	if (p.len > sizeof(pbuf))
		FAIL("params past the buffer");
	n = qs_fcgi_http_name(hname, sizeof(hname), (const char *)data, size);
	if (n >= 0 && ((size_t)n != size + 5 || strlen(hname) != (size_t)n))
		FAIL("HTTP_ name of %zu bytes: %zd", size, n);
	qs_fcgi_params_init(&p, pbuf, sizeof(pbuf));
	if (qs_fcgi_params_add_header(&p, (const char *)data, size, "v", 1) == 0 &&
	    ((n < 0 && n != -ENOSPC) || p.len != (size + 5 > 127 ? 4u : 1u) + 1 + size + 5 + 1))
		FAIL("header pair of %zu bytes took %zu (name %zd)", size, p.len, n);
	/* the fixed records, into a buffer of a size the input picks */
	{
		uint16_t id = size ? data[0] : 0;
		size_t room = size % 20;

		if (qs_fcgi_begin_request(pbuf, room, id, size & 1) > (ssize_t)room ||
		    qs_fcgi_abort_request(pbuf, room, id) > (ssize_t)room ||
		    qs_fcgi_stream_end(pbuf, room, QS_FCGI_PARAMS, id) > (ssize_t)room)
			FAIL("a fixed record past %zu bytes", room);
	}
}

/*
 * PATH_INFO from a client's path: what comes out is no longer than what
 * went in, starts with '/', and has no control byte, backslash, "." or
 * ".." segment; STDERR escaped for the log has no control byte.
 */
static void path_info(const uint8_t *data, size_t size)
{
	char *out = malloc(size + 1), *log = malloc(64);
	ssize_t n;

	if (!out || !log)
		abort();
	n = qs_cgi_path_info((const char *)data, size, out, size + 1);
	if (n != -EINVAL && (n < 0 || (size_t)n > size || (n && out[0] != '/') || out[n]))
		FAIL("path info %zd from %zu bytes", n, size);
	for (ssize_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];
		bool seg = i == 0 || out[i - 1] == '/';

		if (c < 0x20 || c == 0x7f || c == '\\')
			FAIL("path info byte 0x%02x at %zd", c, i);
		if (seg && c == '.' && (i + 1 == n || out[i + 1] == '/' ||
		    (out[i + 1] == '.' && (i + 2 == n || out[i + 2] == '/'))))
			FAIL("a dot segment in path info at %zd", i);
	}
	if (qs_fcgi_log_escape(log, 64, data, size) > size)
		FAIL("escape took more than it was given");
	for (const char *p = log; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			FAIL("a control byte in the escaped log line");
	free(out);
	free(log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cut, limit;

	if (size < 2)
		return 0;
	/* limits from tiny (the error path) to the 64 KB a worker would use */
	limit = data[1] < 250 ? (size_t)data[1] * 4 : 65536;
	data += 2;
	size -= 2;
	cut = size ? data[-2] % (size + 1) : 0;
	decode(data, size, cut, limit);
	cgi_direct(data, size, cut, limit);
	encode(data, size);
	path_info(data, size);
	return 0;
}
