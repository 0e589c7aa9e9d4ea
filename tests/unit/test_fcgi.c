// SPDX-License-Identifier: MIT
/*
 * Unit tests of the FastCGI module: records checked byte for byte against
 * the spec's layout and through a small reference decoder written here,
 * the decoder fed every slicing of a server's stream and malformed ones,
 * the CGI header parser split at every byte, and the params helpers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/fcgi.h"
#include "check.h"

/* ---- a reference decoder, independent of the module's --------------------- */

struct rec {
	int type, id;
	size_t clen, pad;
	const uint8_t *content;
};

/* The records in b[0..len): count, or -1 if malformed or not padded to 8. */
static int split_records(const uint8_t *b, size_t len, struct rec *out, int max)
{
	size_t at = 0;
	int n = 0;

	while (at < len) {
		if (len - at < 8 || n == max || b[at] != 1 || b[at + 7] != 0)
			return -1;
		out[n].type = b[at + 1];
		out[n].id = b[at + 2] << 8 | b[at + 3];
		out[n].clen = (size_t)(b[at + 4] << 8 | b[at + 5]);
		out[n].pad = b[at + 6];
		out[n].content = b + at + 8;
		if ((out[n].clen + out[n].pad) % 8 || out[n].pad > 7 ||
		    len - at - 8 < out[n].clen + out[n].pad)
			return -1;
		for (size_t i = 0; i < out[n].pad; i++)
			if (b[at + 8 + out[n].clen + i])
				return -1;
		at += 8 + out[n].clen + out[n].pad;
		n++;
	}
	return n;
}

/* Pair number k of the params content: 0 and name/value, -1 if absent. */
static int ref_pair(const uint8_t *b, size_t len, int k, const uint8_t **name,
		    size_t *nlen, const uint8_t **value, size_t *vlen)
{
	size_t at = 0;

	for (int i = 0; at < len; i++) {
		*nlen = fcgi_nv_len(b, &at);
		*vlen = fcgi_nv_len(b, &at);
		*name = b + at;
		*value = b + at + *nlen;
		at += *nlen + *vlen;
		if (at > len)
			return -1;
		if (i == k)
			return 0;
	}
	return -1;
}

static int pair_is(const uint8_t *b, size_t len, int k, const char *name, const char *value,
		   size_t vlen)
{
	const uint8_t *n, *v;
	size_t nl, vl;

	if (ref_pair(b, len, k, &n, &nl, &v, &vl))
		return 0;
	return nl == strlen(name) && !memcmp(n, name, nl) && vl == vlen && !memcmp(v, value, vl);
}

/* ---- encoding ------------------------------------------------------------ */

static int test_begin_abort(void)
{
	static const uint8_t begin[] = { 1, 1, 0x12, 0x34, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0 };
	static const uint8_t abort_[] = { 1, 2, 0, 7, 0, 0, 0, 0 };
	uint8_t buf[32];

	memset(buf, 0xaa, sizeof(buf));
	CHECK(qs_fcgi_begin_request(buf, sizeof(buf), 0x1234, true) == 16, "begin");
	CHECK(!memcmp(buf, begin, 16), "begin bytes");
	CHECK(buf[16] == 0xaa, "wrote past the record");
	CHECK(qs_fcgi_begin_request(buf, sizeof(buf), 0x1234, false) == 16, "begin");
	CHECK(buf[10] == 0, "flags without keep_conn %u", buf[10]);
	CHECK(qs_fcgi_begin_request(buf, 15, 1, true) == -ENOSPC, "short buffer");
	CHECK(qs_fcgi_begin_request(buf, 16, 0, true) == -EINVAL, "id 0");
	CHECK(qs_fcgi_abort_request(buf, sizeof(buf), 7) == 8, "abort");
	CHECK(!memcmp(buf, abort_, 8), "abort bytes");
	CHECK(qs_fcgi_abort_request(buf, 7, 7) == -ENOSPC, "short buffer");
	CHECK(qs_fcgi_abort_request(buf, 8, 0) == -EINVAL, "id 0");
	return 0;
}

/* Written out from the spec: FCGI_NameValuePair11 and a padded PARAMS record. */
static int test_params_exact(void)
{
	static const char expect[] =
		"\x01\x04\x00\x01\x00\x2c\x04\x00"	/* PARAMS, id 1, 44 bytes, pad 4 */
		"\x0f\x12SCRIPT_FILENAME/var/www/index.php"
		"\x07\x00" "HTTPS_X"			/* an empty value */
		"\x00\x00\x00\x00"
		"\x01\x04\x00\x01\x00\x00\x00\x00";	/* the empty PARAMS */
	uint8_t pbuf[128], out[128];
	struct qs_fcgi_params p;
	ssize_t n, m;

	qs_fcgi_params_init(&p, pbuf, sizeof(pbuf));
	CHECK(!qs_fcgi_params_add_str(&p, "SCRIPT_FILENAME", "/var/www/index.php"), "add");
	CHECK(!qs_fcgi_params_add(&p, "HTTPS_X", 7, NULL, 0), "add empty");
	CHECK(p.len == 44, "len %zu", p.len);
	n = qs_fcgi_stream(out, sizeof(out), QS_FCGI_PARAMS, 1, pbuf, p.len);
	CHECK(n == 56, "stream %zd", n);
	m = qs_fcgi_stream_end(out + n, sizeof(out) - (size_t)n, QS_FCGI_PARAMS, 1);
	CHECK(m == 8, "end %zd", m);
	CHECK(sizeof(expect) - 1 == 64, "expect %zu", sizeof(expect) - 1);
	CHECK(!memcmp(out, expect, 64), "bytes differ");
	return 0;
}

static int test_params_long(void)
{
	static uint8_t pbuf[4096];
	char name[200], value[300];
	struct qs_fcgi_params p;

	memset(name, 'N', sizeof(name));
	memset(value, 'v', sizeof(value));
	qs_fcgi_params_init(&p, pbuf, sizeof(pbuf));
	CHECK(!qs_fcgi_params_add(&p, name, 127, value, 127), "127/127");
	CHECK(p.len == 2 + 254 && pbuf[0] == 127 && pbuf[1] == 127, "1-byte lengths");
	CHECK(!qs_fcgi_params_add(&p, name, 128, value, 300), "128/300");
	CHECK(!memcmp(pbuf + 256, "\x80\x00\x00\x80\x80\x00\x01\x2c", 8), "4-byte lengths");
	CHECK(!qs_fcgi_params_add(&p, name, 200, value, 5), "200/5");
	CHECK(!memcmp(pbuf + 256 + 8 + 428, "\x80\x00\x00\xc8\x05", 5), "mixed lengths");
	CHECK(p.len == 256 + 8 + 428 + 5 + 205, "len %zu", p.len);
	CHECK(pair_is(pbuf, p.len, 0, "", value, 127) == 0, "name check works");
	name[127] = '\0';
	CHECK(pair_is(pbuf, p.len, 0, name, value, 127), "pair 0");
	name[127] = 'N';
	for (int k = 0; k < 3; k++) {
		static const size_t nlens[] = { 127, 128, 200 }, vlens[] = { 127, 300, 5 };
		const uint8_t *n, *v;
		size_t nl, vl;

		CHECK(!ref_pair(pbuf, p.len, k, &n, &nl, &v, &vl), "pair %d", k);
		CHECK(nl == nlens[k] && vl == vlens[k], "lengths %zu %zu", nl, vl);
	}
	CHECK(qs_fcgi_params_add(&p, "", 0, "x", 1) == -EINVAL, "empty name");
	CHECK(qs_fcgi_params_add(&p, "x", 1, "x", (size_t)QS_FCGI_PARAM_MAX + 1) == -EINVAL,
	      "value over 31 bits");
	return 0;
}

static int test_params_enospc(void)
{
	uint8_t pbuf[24], copy[24];
	struct qs_fcgi_params p;

	qs_fcgi_params_init(&p, pbuf, sizeof(pbuf));
	CHECK(!qs_fcgi_params_add_str(&p, "A", "0123456789"), "fits");	/* 13 */
	memcpy(copy, pbuf, sizeof(pbuf));
	CHECK(qs_fcgi_params_add_str(&p, "B", "012345678") == -ENOSPC, "one byte over");
	CHECK(p.len == 13 && !memcmp(copy, pbuf, 13), "changed on -ENOSPC");
	CHECK(qs_fcgi_params_append(&p, "; ", 2, "x", 1) == 0, "append");	/* 16 */
	CHECK(qs_fcgi_params_add_str(&p, "B", "012345") == -ENOSPC, "over");
	CHECK(!qs_fcgi_params_add_str(&p, "B", "01234"), "exactly full");
	CHECK(p.len == 24, "len %zu", p.len);
	CHECK(qs_fcgi_params_add_str(&p, "C", "") == -ENOSPC, "full");
	CHECK(qs_fcgi_params_append(&p, "", 0, "x", 1) == -ENOSPC, "append when full");
	CHECK(pair_is(pbuf, p.len, 0, "A", "0123456789; x", 13), "pair 0");
	CHECK(pair_is(pbuf, p.len, 1, "B", "01234", 5), "pair 1");
	return 0;
}

static int test_params_split(void)
{
	static uint8_t pbuf[100000], out[110000], joined[100000];
	static char value[33000];
	struct qs_fcgi_params p;
	struct rec r[8];
	size_t at = 0;
	ssize_t n;
	int nrec;

	for (size_t i = 0; i < sizeof(value); i++)
		value[i] = (char)('a' + i % 26);
	qs_fcgi_params_init(&p, pbuf, sizeof(pbuf));
	for (int i = 0; i < 3; i++) {
		char name[5] = { 'B', 'I', 'G', (char)('0' + i), '\0' };

		CHECK(!qs_fcgi_params_add(&p, name, 4, value, sizeof(value)), "add %d", i);
	}
	CHECK(p.len == 3 * (1 + 4 + 4 + sizeof(value)), "len %zu", p.len);	/* 99027 */
	n = qs_fcgi_stream(out, sizeof(out), QS_FCGI_PARAMS, 9, pbuf, p.len);
	CHECK(n > 0 && (size_t)n == qs_fcgi_stream_size(p.len), "stream %zd", n);
	nrec = split_records(out, (size_t)n, r, 8);
	CHECK(nrec == 2, "records %d", nrec);
	CHECK(r[0].clen == 65535 && r[0].pad == 1, "first %zu+%zu", r[0].clen, r[0].pad);
	CHECK(r[1].clen == p.len - 65535 && r[1].pad == qs_fcgi_padding(r[1].clen),
	      "second %zu+%zu", r[1].clen, r[1].pad);
	for (int i = 0; i < nrec; i++) {
		CHECK(r[i].type == QS_FCGI_PARAMS && r[i].id == 9, "record %d", i);
		memcpy(joined + at, r[i].content, r[i].clen);
		at += r[i].clen;
	}
	CHECK(at == p.len && !memcmp(joined, pbuf, at), "content differs");
	CHECK(pair_is(joined, at, 2, "BIG2", value, sizeof(value)), "last pair");
	return 0;
}

static int test_stdin_split(void)
{
	static uint8_t data[150000], out[160000];
	unsigned long long seed = 4;
	struct rec r[8];
	ssize_t n;
	int nrec;

	qs_test_fill(&seed, data, sizeof(data));
	memset(out, 0xaa, sizeof(out));
	n = qs_fcgi_stream(out, sizeof(out), QS_FCGI_STDIN, 3, data, sizeof(data));
	/* 65535+1, 65535+1, 18930+6 content and padding, 3 headers */
	CHECK(n == 3 * 8 + 65536 * 2 + 18936, "stream %zd", n);
	CHECK(out[n] == 0xaa, "wrote past the end");
	nrec = split_records(out, (size_t)n, r, 8);
	CHECK(nrec == 3, "records %d", nrec);
	CHECK(r[2].clen == 18930 && r[2].pad == 6, "last %zu+%zu", r[2].clen, r[2].pad);
	CHECK(!memcmp(r[0].content, data, 65535) && !memcmp(r[1].content, data + 65535, 65535) &&
	      !memcmp(r[2].content, data + 131070, 18930), "content differs");
	CHECK(r[0].type == QS_FCGI_STDIN && r[2].id == 3, "type/id");
	CHECK(qs_fcgi_stream_end(out, 8, QS_FCGI_STDIN, 3) == 8, "end");
	CHECK(!memcmp(out, "\x01\x05\x00\x03\x00\x00\x00\x00", 8), "end bytes");
	CHECK(qs_fcgi_stream(out, sizeof(out), QS_FCGI_STDIN, 3, data, 0) == 0, "len 0");
	CHECK(qs_fcgi_stream(out, (size_t)n - 1, QS_FCGI_STDIN, 3, data, sizeof(data)) ==
	      -ENOSPC, "one byte short");
	CHECK(qs_fcgi_stream(out, sizeof(out), QS_FCGI_STDOUT, 3, data, 1) == -EINVAL, "type");
	CHECK(qs_fcgi_stream(out, sizeof(out), QS_FCGI_STDIN, 0, data, 1) == -EINVAL, "id 0");
	CHECK(qs_fcgi_stream_end(out, 7, QS_FCGI_STDIN, 3) == -ENOSPC, "end short");
	CHECK(qs_fcgi_stream_end(out, 8, QS_FCGI_BEGIN_REQUEST, 3) == -EINVAL, "end type");
	/* the sizes of 1..16 bytes: padded to 8 */
	for (size_t len = 1; len <= 16; len++)
		CHECK(qs_fcgi_stream_size(len) == 8 + (len + 7) / 8 * 8, "size of %zu", len);
	CHECK(qs_fcgi_stream_size(65535) == 65544 && qs_fcgi_stream_size(65536) == 65544 + 16,
	      "sizes at the split");
	return 0;
}

static int test_stream_fit(void)
{
	unsigned long long seed = 5;

	for (size_t i = 0; i < 300000; i++) {
		size_t room = i < 200000 ? i : (size_t)(qs_test_rand(&seed) % (1ULL << 40));
		size_t fit = qs_fcgi_stream_fit(room);

		CHECK(qs_fcgi_stream_size(fit) <= room, "fit(%zu) = %zu too big", room, fit);
		CHECK(qs_fcgi_stream_size(fit + 1) > room, "fit(%zu) = %zu not the most", room, fit);
	}
	CHECK(qs_fcgi_stream_size(SIZE_MAX) == SIZE_MAX, "absurd size");
	CHECK(qs_fcgi_stream_size(qs_fcgi_stream_fit(SIZE_MAX)) < SIZE_MAX, "huge room");
	return 0;
}

static int test_cookie_append(void)
{
	static uint8_t pbuf[1024];
	char big[200], expect[300];
	struct qs_fcgi_params p;

	memset(big, 'c', sizeof(big));
	qs_fcgi_params_init(&p, pbuf, sizeof(pbuf));
	CHECK(qs_fcgi_params_append(&p, "; ", 2, "a=1", 3) == -EINVAL, "no pair yet");
	CHECK(!qs_fcgi_params_add_header(&p, "cookie", 6, "a=1", 3), "add");
	CHECK(!qs_fcgi_params_append(&p, "; ", 2, "b=2", 3), "append");
	CHECK(pair_is(pbuf, p.len, 0, "HTTP_COOKIE", "a=1; b=2", 8), "joined");
	CHECK(p.len == 2 + 11 + 8, "len %zu", p.len);
	/* crossing 127 bytes: the value length grows to 4 bytes */
	CHECK(!qs_fcgi_params_append(&p, "; ", 2, big, 117), "to 127");
	CHECK(pbuf[1] == 127 && p.len == 2 + 11 + 127, "still 1 byte %u", pbuf[1]);
	CHECK(!qs_fcgi_params_append(&p, "", 0, big, 1), "to 128");
	CHECK(pbuf[1] == 0x80 && p.len == 5 + 11 + 128, "4 bytes %u", pbuf[1]);
	memcpy(expect, "a=1; b=2; ", 10);
	memcpy(expect + 10, big, 118);
	CHECK(pair_is(pbuf, p.len, 0, "HTTP_COOKIE", expect, 128), "after the move");
	/* an earlier pair stays, a later one is the one appended to */
	CHECK(!qs_fcgi_params_add_str(&p, "HTTP_COOKIE2", "z"), "second pair");
	CHECK(!qs_fcgi_params_append(&p, "; ", 2, big, 150), "append to it");
	CHECK(pair_is(pbuf, p.len, 0, "HTTP_COOKIE", expect, 128), "first intact");
	memcpy(expect, "z; ", 3);
	memcpy(expect + 3, big, 150);
	CHECK(pair_is(pbuf, p.len, 1, "HTTP_COOKIE2", expect, 153), "second joined");
	/* -ENOSPC when the 3-byte move does not fit */
	qs_fcgi_params_init(&p, pbuf, 2 + 1 + 127 + 2);
	CHECK(!qs_fcgi_params_add(&p, "N", 1, big, 127), "127");
	CHECK(qs_fcgi_params_append(&p, "", 0, big, 1) == -ENOSPC, "move does not fit");
	CHECK(pbuf[1] == 127 && p.len == 130, "changed on -ENOSPC");
	return 0;
}

static int test_http_name(void)
{
	static const struct {
		const char *in, *out;
		int err;
	} cases[] = {
		{ "x-forwarded-for", "HTTP_X_FORWARDED_FOR", 0 },
		{ "user-agent", "HTTP_USER_AGENT", 0 },
		{ "accept", "HTTP_ACCEPT", 0 },
		{ "X-Mixed-9", "HTTP_X_MIXED_9", 0 },
		{ "x_forwarded_for", NULL, -EINVAL },	/* would forge the one above */
		{ ":path", NULL, -EINVAL },
		{ "a.b", NULL, -EINVAL },
		{ "a b", NULL, -EINVAL },
		{ "", NULL, -EINVAL },
		{ "proxy", NULL, -EPERM },
		{ "Proxy", NULL, -EPERM },
		{ "proxy-authorization", "HTTP_PROXY_AUTHORIZATION", 0 },
	};
	static uint8_t pbuf[256];
	struct qs_fcgi_params p;
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ssize_t n = qs_fcgi_http_name(out, sizeof(out), cases[i].in, strlen(cases[i].in));

		if (cases[i].err) {
			CHECK(n == cases[i].err, "%s: %zd", cases[i].in, n);
			continue;
		}
		CHECK(n == (ssize_t)strlen(cases[i].out) && !strcmp(out, cases[i].out),
		      "%s: %zd %s", cases[i].in, n, out);
	}
	CHECK(qs_fcgi_http_name(out, 11, "accept", 6) == -ENOSPC, "no room for the NUL");
	CHECK(qs_fcgi_http_name(out, 12, "accept", 6) == 11, "just fits");
	qs_fcgi_params_init(&p, pbuf, sizeof(pbuf));
	CHECK(!qs_fcgi_params_add_header(&p, "accept-language", 15, "en", 2), "add");
	CHECK(qs_fcgi_params_add_header(&p, "early_data", 10, "1", 1) == -EINVAL, "underscore");
	CHECK(qs_fcgi_params_add_header(&p, "proxy", 5, "x", 1) == -EPERM, "proxy");
	CHECK(pair_is(pbuf, p.len, 0, "HTTP_ACCEPT_LANGUAGE", "en", 2), "pair");
	CHECK(p.len == 2 + 20 + 2, "len %zu", p.len);
	return 0;
}

/* ---- decoder ------------------------------------------------------------- */

/* Appends one record, with the padding given (the server's choice). */
static size_t put_rec(uint8_t *b, size_t at, int type, int id, const void *content,
		      size_t clen, size_t pad)
{
	b[at] = 1;
	b[at + 1] = (uint8_t)type;
	b[at + 2] = (uint8_t)(id >> 8);
	b[at + 3] = (uint8_t)id;
	b[at + 4] = (uint8_t)(clen >> 8);
	b[at + 5] = (uint8_t)clen;
	b[at + 6] = (uint8_t)pad;
	b[at + 7] = 0;
	if (clen)
		memcpy(b + at + 8, content, clen);
	memset(b + at + 8 + clen, 0x5a, pad);
	return at + 8 + clen + pad;
}

/* What a client makes of a stream: all it should depend on. */
struct seen {
	uint8_t out[140000], err[1000];
	size_t out_len, err_len;
	int out_ends, err_ends, ends;
	uint32_t app;
	int proto;
	int error;		/* the first negative return */
	int eof;		/* qs_fcgi_parse_eof() */
};

static int feed(struct qs_fcgi_parser *p, struct seen *s, const uint8_t *b, size_t len)
{
	while (len) {
		struct qs_fcgi_event ev;
		ssize_t n = qs_fcgi_parse(p, b, len, &ev);

		if (n < 0) {
			s->error = (int)n;
			return -1;
		}
		if (n == 0 || (size_t)n > len)
			return -2;	/* no progress or overrun: a bug */
		if (ev.type == QS_FCGI_EV_NONE && (size_t)n != len)
			return -2;
		if (ev.type != QS_FCGI_EV_NONE && ev.id != p->expect_id)
			return -2;
		if (ev.type == QS_FCGI_EV_STDOUT) {
			if (!ev.len)
				s->out_ends++;
			else if (ev.data < b || ev.data + ev.len > b + len ||
				 s->out_len + ev.len > sizeof(s->out))
				return -2;
			if (ev.len)
				memcpy(s->out + s->out_len, ev.data, ev.len);
			s->out_len += ev.len;
		} else if (ev.type == QS_FCGI_EV_STDERR) {
			if (!ev.len)
				s->err_ends++;
			else if (s->err_len + ev.len > sizeof(s->err))
				return -2;
			if (ev.len)
				memcpy(s->err + s->err_len, ev.data, ev.len);
			s->err_len += ev.len;
		} else if (ev.type == QS_FCGI_EV_END) {
			s->ends++;
			s->app = ev.app_status;
			s->proto = ev.protocol_status;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static int same(const struct seen *a, const struct seen *b)
{
	return a->out_len == b->out_len && !memcmp(a->out, b->out, a->out_len) &&
	       a->err_len == b->err_len && !memcmp(a->err, b->err, a->err_len) &&
	       a->out_ends == b->out_ends && a->err_ends == b->err_ends &&
	       a->ends == b->ends && a->app == b->app && a->proto == b->proto &&
	       a->error == b->error && a->eof == b->eof;
}

/* Feeds the stream in slices cut at cuts[0..ncuts) (ascending). */
static int run_sliced(const uint8_t *b, size_t len, uint16_t id, const size_t *cuts,
		      int ncuts, struct seen *s)
{
	struct qs_fcgi_parser p;
	size_t at = 0;

	memset(s, 0, sizeof(*s));
	qs_fcgi_parser_reset(&p, id);
	for (int i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		int r = feed(&p, s, b + at, end - at);

		if (r == -2)
			return -1;
		if (r == -1)
			break;
		at = end;
	}
	s->eof = qs_fcgi_parse_eof(&p);
	return 0;
}

static uint8_t stream[140000];

/* A php-fpm-like response with everything a server may put in it. */
static size_t build_stream(void)
{
	static uint8_t big[70000];
	static const char head[] = "Content-type: text/html\r\n\r\nhello ";
	static const uint8_t end[8] = { 0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0 };
	static const uint8_t unknown[8] = { 42 };
	unsigned long long seed = 7;
	size_t at = 0;

	qs_test_fill(&seed, big, sizeof(big));
	at = put_rec(stream, at, QS_FCGI_STDOUT, 1, head, strlen(head), qs_fcgi_padding(strlen(head)));
	at = put_rec(stream, at, QS_FCGI_STDERR, 1, "PHP Warning: x", 14, 0);	/* no padding */
	at = put_rec(stream, at, QS_FCGI_GET_VALUES_RESULT, 0, "\x01\x01" "ab", 4, 4);
	at = put_rec(stream, at, QS_FCGI_STDOUT, 1, big, 65535, 255);	/* the most padding */
	at = put_rec(stream, at, QS_FCGI_UNKNOWN_TYPE, 0, unknown, 8, 0);
	at = put_rec(stream, at, QS_FCGI_STDOUT, 1, big + 65535, 4465, 3);
	at = put_rec(stream, at, QS_FCGI_STDOUT, 1, NULL, 0, 0);
	at = put_rec(stream, at, QS_FCGI_STDERR, 1, NULL, 0, 5);	/* padding after nothing */
	at = put_rec(stream, at, QS_FCGI_END_REQUEST, 1, end, 8, 8);
	return at;
}

static int test_decode_whole(void)
{
	static struct seen s;
	size_t len = build_stream();

	CHECK(!run_sliced(stream, len, 1, NULL, 0, &s), "bug");
	CHECK(s.error == 0 && s.eof == 0, "error %d eof %d", s.error, s.eof);
	CHECK(s.out_len == 33 + 70000, "stdout %zu", s.out_len);
	CHECK(!memcmp(s.out, "Content-type: text/html\r\n\r\nhello ", 33), "stdout start");
	CHECK(s.err_len == 14 && !memcmp(s.err, "PHP Warning: x", 14), "stderr");
	CHECK(s.out_ends == 1 && s.err_ends == 1 && s.ends == 1, "ends %d %d %d",
	      s.out_ends, s.err_ends, s.ends);
	CHECK(s.app == 0x01020304 && s.proto == QS_FCGI_REQUEST_COMPLETE, "app %x proto %d",
	      s.app, s.proto);
	return 0;
}

static int test_decode_sliced(void)
{
	static struct seen whole, s;
	size_t len = build_stream(), cut;
	unsigned long long seed = 8;

	CHECK(!run_sliced(stream, len, 1, NULL, 0, &whole), "bug");
	/* two slices, cut at every byte */
	for (cut = 0; cut <= len; cut++) {
		CHECK(!run_sliced(stream, len, 1, &cut, 1, &s), "bug at %zu", cut);
		CHECK(same(&whole, &s), "differs when cut at %zu", cut);
	}
	/* one byte at a time */
	{
		static size_t cuts[140000];

		for (size_t i = 0; i < len; i++)
			cuts[i] = i + 1;
		CHECK(!run_sliced(stream, len, 1, cuts, (int)len - 1, &s), "bug");
		CHECK(same(&whole, &s), "differs fed byte by byte");
	}
	/* random slicings */
	for (int round = 0; round < 200; round++) {
		size_t cuts[64];
		int n = 0;

		for (size_t at = 0; n < 64;) {
			at += 1 + qs_test_rand(&seed) % (round % 2 ? 20 : 9000);
			if (at >= len)
				break;
			cuts[n++] = at;
		}
		CHECK(!run_sliced(stream, len, 1, cuts, n, &s), "bug");
		CHECK(same(&whole, &s), "differs in round %d", round);
	}
	return 0;
}

/* One record after a good STDOUT record: the error it gives. */
static int bad_record(int version, int type, int id, const void *content, size_t clen)
{
	static struct seen s;
	uint8_t b[256];
	size_t at = put_rec(b, 0, QS_FCGI_STDOUT, 1, "ok", 2, 6);
	size_t start = at;

	at = put_rec(b, at, type, id, content, clen, 0);
	b[start] = (uint8_t)version;
	if (run_sliced(b, at, 1, NULL, 0, &s))
		return 1;
	return s.out_len >= 2 ? s.error : 2;
}

static int test_decode_malformed(void)
{
	static const uint8_t end[8];
	static const int server_never[] = { 0, QS_FCGI_BEGIN_REQUEST, QS_FCGI_ABORT_REQUEST,
					    QS_FCGI_PARAMS, QS_FCGI_STDIN, QS_FCGI_DATA,
					    QS_FCGI_GET_VALUES, 12, 200, 255 };

	CHECK(bad_record(1, QS_FCGI_STDOUT, 1, "x", 1) == 0, "good record");
	CHECK(bad_record(0, QS_FCGI_STDOUT, 1, "x", 1) == -EPROTONOSUPPORT, "version 0");
	CHECK(bad_record(2, QS_FCGI_STDOUT, 1, "x", 1) == -EPROTONOSUPPORT, "version 2");
	for (size_t i = 0; i < sizeof(server_never) / sizeof(server_never[0]); i++)
		CHECK(bad_record(1, server_never[i], 1, end, 8) == -EBADMSG, "type %d",
		      server_never[i]);
	CHECK(bad_record(1, QS_FCGI_STDOUT, 2, "x", 1) == -ESRCH, "other id");
	CHECK(bad_record(1, QS_FCGI_STDOUT, 0, "x", 1) == -ESRCH, "id 0");
	CHECK(bad_record(1, QS_FCGI_STDERR, 0x101, "x", 1) == -ESRCH, "other id stderr");
	CHECK(bad_record(1, QS_FCGI_END_REQUEST, 2, end, 8) == -ESRCH, "END other id");
	CHECK(bad_record(1, QS_FCGI_END_REQUEST, 1, end, 7) == -EBADMSG, "END 7 bytes");
	CHECK(bad_record(1, QS_FCGI_END_REQUEST, 1, NULL, 0) == -EBADMSG, "END empty");
	CHECK(bad_record(1, QS_FCGI_UNKNOWN_TYPE, 0, end, 4) == -EBADMSG, "UNKNOWN 4 bytes");
	CHECK(bad_record(1, QS_FCGI_GET_VALUES_RESULT, 1, NULL, 0) == -EBADMSG,
	      "management with an id");
	return 0;
}

static int test_decode_sequence(void)
{
	static const uint8_t end[8] = { 0, 0, 0, 0, QS_FCGI_OVERLOADED };
	static struct seen s;
	struct qs_fcgi_parser p;
	struct qs_fcgi_event ev;
	uint8_t b[256];
	size_t at;

	/* STDOUT after its closing record */
	at = put_rec(b, 0, QS_FCGI_STDOUT, 1, NULL, 0, 0);
	at = put_rec(b, at, QS_FCGI_STDOUT, 1, "x", 1, 7);
	CHECK(!run_sliced(b, at, 1, NULL, 0, &s) && s.error == -EPROTO, "%d", s.error);
	at = put_rec(b, 0, QS_FCGI_STDERR, 1, NULL, 0, 0);
	at = put_rec(b, at, QS_FCGI_STDERR, 1, NULL, 0, 0);
	CHECK(!run_sliced(b, at, 1, NULL, 0, &s) && s.error == -EPROTO, "%d", s.error);
	/* anything after END_REQUEST; END without a closed STDOUT is fine */
	at = put_rec(b, 0, QS_FCGI_END_REQUEST, 1, end, 8, 0);
	CHECK(!run_sliced(b, at, 1, NULL, 0, &s) && s.error == 0 && s.eof == 0, "END alone");
	CHECK(s.proto == QS_FCGI_OVERLOADED, "protocol status %d", s.proto);
	at = put_rec(b, at, QS_FCGI_STDOUT, 1, "x", 1, 0);
	CHECK(!run_sliced(b, at, 1, NULL, 0, &s) && s.error == -EPROTO, "%d", s.error);
	/* errors are sticky and say why; reset starts over */
	qs_fcgi_parser_reset(&p, 1);
	b[0] = 9;
	CHECK(qs_fcgi_parse(&p, b, at, &ev) == -EPROTONOSUPPORT, "version");
	CHECK(*p.why, "no reason given");
	b[0] = 1;
	CHECK(qs_fcgi_parse(&p, b, at, &ev) == -EPROTONOSUPPORT, "not sticky");
	CHECK(qs_fcgi_parse_eof(&p) == -EPROTONOSUPPORT, "eof not sticky");
	qs_fcgi_parser_reset(&p, 1);
	CHECK(qs_fcgi_parse(&p, b, 16, &ev) == 16 && ev.type == QS_FCGI_EV_END, "after reset");
	/* the next request on the kept-alive connection */
	qs_fcgi_parser_reset(&p, 2);
	CHECK(qs_fcgi_parse(&p, b, 16, &ev) == -ESRCH, "old id after reset");
	/* nothing fed */
	CHECK(qs_fcgi_parse(&p, b, 0, &ev) == -ESRCH && ev.type == QS_FCGI_EV_NONE, "empty");
	return 0;
}

static int test_decode_truncated(void)
{
	static const uint8_t end[8];
	static struct seen s;
	uint8_t b[512];
	size_t at, full;

	at = put_rec(b, 0, QS_FCGI_STDOUT, 1, "hello", 5, 3);
	full = put_rec(b, at, QS_FCGI_END_REQUEST, 1, end, 8, 0);
	/* cut anywhere inside a record: -EBADMSG; between records before END: -ECONNABORTED */
	for (size_t cut = 0; cut < full; cut++) {
		CHECK(!run_sliced(b, cut, 1, NULL, 0, &s), "bug");
		CHECK(s.error == 0, "error %d at %zu", s.error, cut);
		CHECK(s.eof == ((cut == 0 || cut == at) ? -ECONNABORTED : -EBADMSG),
		      "eof %d at %zu", s.eof, cut);
	}
	/* the largest record a header can announce, only partly sent */
	at = put_rec(b, 0, QS_FCGI_STDOUT, 1, NULL, 0, 255);
	b[4] = b[5] = 0xff;
	memset(b + 8, 'x', 100);
	CHECK(!run_sliced(b, 108, 1, NULL, 0, &s), "bug");
	CHECK(s.out_len == 100 && s.out_ends == 0 && s.eof == -EBADMSG, "%zu %d", s.out_len,
	      s.eof);
	return 0;
}

/*
 * Two responses on one kept-alive connection, fed byte by byte, the parser
 * reset for the next id on each END: the padded END never leaves bytes
 * behind to be read as a header.
 */
static int test_decode_keepalive(void)
{
	static const uint8_t end[8] = { 0, 0, 0, 3 };
	struct qs_fcgi_parser p;
	struct qs_fcgi_event ev;
	uint8_t b[512];
	size_t at, len;
	int ends = 0, out = 0;
	uint16_t id = 1;

	at = put_rec(b, 0, QS_FCGI_STDOUT, 1, "a", 1, 7);
	at = put_rec(b, at, QS_FCGI_END_REQUEST, 1, end, 8, 8);	/* ends at 48 */
	len = put_rec(b, at, QS_FCGI_STDOUT, 2, "b", 1, 7);
	len = put_rec(b, len, QS_FCGI_END_REQUEST, 2, end, 8, 200);
	qs_fcgi_parser_reset(&p, id);
	for (size_t i = 0; i < len; i++) {
		ssize_t n = qs_fcgi_parse(&p, b + i, 1, &ev);

		CHECK(n == 1, "byte %zu: %zd (%s)", i, n, p.why);
		if (ev.type == QS_FCGI_EV_STDOUT)
			CHECK(ev.len == 1 && ev.data[0] == "ab"[out++], "stdout at %zu", i);
		if (ev.type == QS_FCGI_EV_END) {
			CHECK(ev.id == id && ev.app_status == 3, "end at %zu", i);
			CHECK(i == (id == 1 ? at - 1 : len - 1), "END before its padding, at %zu", i);
			CHECK(!qs_fcgi_parse_eof(&p), "eof after END");
			ends++;
			qs_fcgi_parser_reset(&p, ++id);
		}
	}
	CHECK(ends == 2 && out == 2, "ends %d out %d", ends, out);
	/* cut inside END's padding: no END yet, and a truncated record */
	qs_fcgi_parser_reset(&p, 1);
	for (size_t i = 0; i < at - 1;) {
		ssize_t n = qs_fcgi_parse(&p, b + i, at - 1 - i, &ev);

		CHECK(n > 0 && ev.type != QS_FCGI_EV_END, "at %zu: %zd %d", i, n, ev.type);
		i += (size_t)n;
	}
	CHECK(qs_fcgi_parse_eof(&p) == -EBADMSG, "eof inside padding");
	return 0;
}

/* ---- CGI header block ---------------------------------------------------- */

struct cgi_result {
	int ret;		/* 1 done, or the error */
	int status;
	int64_t content_length;
	char fields[4096];	/* "name=value\n"... */
	char body[256];
	size_t body_len;
};

/* Feeds text in slices cut at cuts[], then eof; the body is what followed the block. */
static int cgi_run(const char *text, size_t len, const size_t *cuts, int ncuts,
		   size_t limit, struct cgi_result *r)
{
	static char buf[70000 + 16];
	struct qs_cgi c;
	size_t at = 0, pos = 0, off;
	struct qs_cgi_field f;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	memset(buf, 0xee, sizeof(buf));
	if (limit > sizeof(buf) - 16)
		return -1;
	qs_cgi_init(&c, buf, limit);
	for (int i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		ret = qs_cgi_feed(&c, text + at, end - at, &off);
		if (ret < 0)
			break;
		if (off > end - at || (ret == 0 && off))
			return -1;
		if (ret == 1) {
			if (r->body_len + (end - at - off) > sizeof(r->body))
				return -1;
			memcpy(r->body + r->body_len, text + at + off, end - at - off);
			r->body_len += end - at - off;
		}
		at = end;
	}
	if (ret >= 0)
		ret = qs_cgi_eof(&c) ? qs_cgi_eof(&c) : 1;
	for (size_t i = limit; i < limit + 16; i++)
		if ((unsigned char)buf[i] != 0xee)
			return -1;	/* wrote past the buffer */
	r->ret = ret;
	if (ret < 0 && !*c.why)
		return -1;
	if (ret != 1)
		return 0;
	r->status = c.status;
	r->content_length = c.content_length;
	while (qs_cgi_next(&c, &pos, &f)) {
		size_t l = strlen(r->fields);

		if (f.name_len != strlen(f.name) || f.value_len != strlen(f.value))
			return -1;
		snprintf(r->fields + l, sizeof(r->fields) - l, "%s=%s\n", f.name, f.value);
	}
	return 0;
}

static int cgi(const char *text, struct cgi_result *r)
{
	return cgi_run(text, strlen(text), NULL, 0, 65536, r);
}

static int test_cgi_php(void)
{
	static const char text[] =
		"X-Powered-By: PHP/8.2.7\r\n"
		"Set-Cookie: a=1; path=/\r\n"
		"Expires: Thu, 19 Nov 1981 08:52:00 GMT\r\n"
		"Set-Cookie: b=2\r\n"
		"Cache-Control: no-store, no-cache, must-revalidate\r\n"
		"Set-Cookie: a=3\r\n"
		"Content-type: text/html; charset=UTF-8\r\n"
		"\r\n"
		"<html>\r\n\r\nbody</html>";
	static struct cgi_result r;

	CHECK(!cgi(text, &r) && r.ret == 1, "%d", r.ret);
	CHECK(r.status == 200 && r.content_length == -1, "status %d", r.status);
	CHECK(!strcmp(r.fields, "x-powered-by=PHP/8.2.7\n"
				"set-cookie=a=1; path=/\n"
				"expires=Thu, 19 Nov 1981 08:52:00 GMT\n"
				"set-cookie=b=2\n"
				"cache-control=no-store, no-cache, must-revalidate\n"
				"set-cookie=a=3\n"
				"content-type=text/html; charset=UTF-8\n"), "%s", r.fields);
	CHECK(r.body_len == 21 && !memcmp(r.body, "<html>\r\n\r\nbody</html>", 21), "body");
	return 0;
}

static int test_cgi_status(void)
{
	static const struct {
		const char *text;
		int ret, status;
	} cases[] = {
		{ "Status: 404 Not Found\r\nContent-type: text/html\r\n\r\n", 1, 404 },
		{ "Content-type: text/html\r\nStatus: 201\r\n\r\n", 1, 201 },
		{ "Status:503  Busy  \n\n", 1, 503 },
		{ "Status: 599\n\n", 1, 599 },
		{ "Status: 200 OK\n\n", 1, 200 },
		{ "Location: /login\r\n\r\n", 1, 302 },
		{ "Location: https://example.com/\r\n\r\n", 1, 302 },
		{ "Location: /x\r\nStatus: 301 Moved Permanently\r\n\r\n", 1, 301 },
		{ "Status: 303\r\nLocation: /x\r\n\r\n", 1, 303 },
		{ "Status: 20\n\n", -EINVAL, 0 },
		{ "Status: 2000\n\n", -EINVAL, 0 },
		{ "Status: 200OK\n\n", -EINVAL, 0 },
		{ "Status: abc\n\n", -EINVAL, 0 },
		{ "Status: \n\n", -EINVAL, 0 },
		{ "Status: 099\n\n", -EINVAL, 0 },
		{ "Status: 100 Continue\n\n", -EINVAL, 0 },
		{ "Status: 600\n\n", -EINVAL, 0 },
		{ "Status: -20\n\n", -EINVAL, 0 },
		{ "Status: 200\nStatus: 404\n\n", -EINVAL, 0 },
	};
	static struct cgi_result r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(!cgi(cases[i].text, &r), "bug: %s", cases[i].text);
		CHECK(r.ret == cases[i].ret, "%s: %d", cases[i].text, r.ret);
		CHECK(r.status == cases[i].status, "%s: %d", cases[i].text, r.status);
		CHECK(!strstr(r.fields, "status"), "Status forwarded: %s", r.fields);
	}
	CHECK(!cgi("Location: /login\r\n\r\n", &r) && !strcmp(r.fields, "location=/login\n"),
	      "%s", r.fields);
	return 0;
}

static int test_cgi_line_ends(void)
{
	static struct cgi_result r;

	CHECK(!cgi("A: 1\nB: 2\n\nbody", &r) && r.ret == 1, "LF");
	CHECK(!strcmp(r.fields, "a=1\nb=2\n") && r.body_len == 4, "%s", r.fields);
	CHECK(!cgi("A: 1\r\nB: 2\n\r\nbody", &r) && r.ret == 1, "mixed");
	CHECK(!strcmp(r.fields, "a=1\nb=2\n") && r.body_len == 4, "%s", r.fields);
	/* the block ends at the first blank line; what follows is body, even "\r\n" */
	CHECK(!cgi("A: 1\n\n\r\nB: 2\n", &r) && r.ret == 1 && r.body_len == 7, "body");
	/* a CR not before the LF is inside the value */
	CHECK(!cgi("A: 1\r\r\n\r\n", &r) && r.ret == -EINVAL, "CR CR LF");
	CHECK(!cgi("A: 1\rB: 2\r\n\r\n", &r) && r.ret == -EINVAL, "bare CR");
	return 0;
}

static int test_cgi_split(void)
{
	static const char text[] =
		"Status: 302 Found\r\n"
		"Location: /next\n"
		"Set-Cookie: s=1\r\n"
		"Set-Cookie: t=2\r\n"
		"Connection: close\r\n"
		"Content-Length: 5\r\n"
		"\r\n"
		"hello";
	static struct cgi_result whole, r;
	size_t len = strlen(text);
	static size_t cuts[256];

	CHECK(!cgi(text, &whole) && whole.ret == 1 && whole.status == 302, "whole");
	CHECK(whole.body_len == 5 && !memcmp(whole.body, "hello", 5), "body");
	for (size_t cut = 0; cut <= len; cut++) {
		CHECK(!cgi_run(text, len, &cut, 1, 65536, &r), "bug at %zu", cut);
		CHECK(r.ret == 1 && r.status == 302 && r.content_length == 5 &&
		      !strcmp(r.fields, whole.fields) && r.body_len == 5 &&
		      !memcmp(r.body, "hello", 5), "differs cut at %zu: %s", cut, r.fields);
	}
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	CHECK(!cgi_run(text, len, cuts, (int)len - 1, 65536, &r), "bug");
	CHECK(r.ret == 1 && !strcmp(r.fields, whole.fields) && r.body_len == 5,
	      "differs byte by byte");
	return 0;
}

static int test_cgi_too_large(void)
{
	static char text[70000];
	static struct cgi_result r;
	size_t len, cut = 3;

	/* 20-byte lines "X-A: 12345678901234\r\n" less one, and the blank line */
	len = 0;
	for (int i = 0; i < 10; i++)
		len += (size_t)sprintf(text + len, "X-%c: 12345678901234\r\n", 'a' + i);
	CHECK(len == 210, "len %zu", len);
	strcpy(text + len, "\r\nbody");
	/* exactly the limit (blank line included) passes, one byte less does not */
	CHECK(!cgi_run(text, len + 6, NULL, 0, 212, &r) && r.ret == 1, "at the limit %d", r.ret);
	CHECK(r.body_len == 4, "body %zu", r.body_len);
	CHECK(!cgi_run(text, len + 6, NULL, 0, 211, &r) && r.ret == -EMSGSIZE, "%d", r.ret);
	CHECK(!cgi_run(text, len + 6, &cut, 1, 211, &r) && r.ret == -EMSGSIZE, "split %d", r.ret);
	/* one line longer than the limit, never a newline */
	memset(text, 'a', sizeof(text));
	CHECK(!cgi_run(text, sizeof(text), NULL, 0, 65536, &r) && r.ret == -EMSGSIZE,
	      "endless line %d", r.ret);
	CHECK(!cgi_run(text, 100, NULL, 0, 0, &r) && r.ret == -EMSGSIZE, "no buffer");
	return 0;
}

static int test_cgi_invalid(void)
{
	static const char *const bad[] = {
		"Bad Name: x\n\n",
		"NoColon\n\n",
		": empty name\n\n",
		"Name : space before the colon\n\n",
		"Na(me: x\n\n",
		"Na\"me: x\n\n",
		"Na/me: x\n\n",
		"Na\x80me: x\n\n",
		"A: 1\n folded\n\n",
		"A: 1\n\tfolded: x\n\n",
		"HTTP/1.1 200 OK\r\n\r\n",
		":status: 200\n\n",
	};
	static struct cgi_result r;
	static const char nul[] = "A: x\0y\r\n\r\n";
	static const char nul_name[] = "A\0: x\r\n\r\n";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!cgi(bad[i], &r) && r.ret == -EINVAL, "%s: %d", bad[i], r.ret);
	CHECK(!cgi_run(nul, sizeof(nul) - 1, NULL, 0, 100, &r) && r.ret == -EINVAL, "NUL value");
	CHECK(!cgi_run(nul_name, sizeof(nul_name) - 1, NULL, 0, 100, &r) && r.ret == -EINVAL,
	      "NUL name");
	/* what stays valid: tchar names, obs-text, HTAB, other CTLs, empty values */
	CHECK(!cgi("X-!#$%&'*+-.^_`|~09: a\tb \xe9\x01\nX-Empty:\nX-Blank:   \n\n", &r) &&
	      r.ret == 1, "valid %d", r.ret);
	CHECK(!strcmp(r.fields, "x-!#$%&'*+-.^_`|~09=a\tb \xe9\x01\nx-empty=\nx-blank=\n"),
	      "%s", r.fields);
	return 0;
}

static int test_cgi_empty(void)
{
	static struct cgi_result r;
	char buf[64];
	struct qs_cgi c;
	size_t off;

	CHECK(!cgi("\r\nbody", &r) && r.ret == -ENODATA, "CRLF first %d", r.ret);
	CHECK(!cgi("\nbody", &r) && r.ret == -ENODATA, "LF first %d", r.ret);
	CHECK(!cgi("", &r) && r.ret == -ENODATA, "no STDOUT %d", r.ret);
	CHECK(!cgi("Content-type: text/html\r\n", &r) && r.ret == -ENODATA, "no blank line");
	CHECK(!cgi("Content-type: text/ht", &r) && r.ret == -ENODATA, "ends mid-line");
	CHECK(!cgi("\r", &r) && r.ret == -ENODATA, "a lone CR");
	/* only dropped fields: not empty, and 200 */
	CHECK(!cgi("Connection: close\r\n\r\n", &r) && r.ret == 1 && r.status == 200 &&
	      !r.fields[0], "only dropped %d", r.ret);
	/* feeding on after completion: all body; errors stay */
	qs_cgi_init(&c, buf, sizeof(buf));
	CHECK(qs_cgi_feed(&c, "A: b\n\nxy", 8, &off) == 1 && off == 6, "off %zu", off);
	CHECK(qs_cgi_feed(&c, "more", 4, &off) == 1 && off == 0, "after done");
	CHECK(qs_cgi_eof(&c) == 0, "eof");
	qs_cgi_init(&c, buf, sizeof(buf));
	CHECK(qs_cgi_feed(&c, "\n", 1, &off) == -ENODATA, "empty");
	CHECK(qs_cgi_feed(&c, "A: b\n\n", 6, &off) == -ENODATA, "not sticky");
	CHECK(qs_cgi_eof(&c) == -ENODATA, "eof");
	return 0;
}

static int test_cgi_dropped(void)
{
	static struct cgi_result r;

	CHECK(!cgi("Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nA: 1\r\n"
		   "Proxy-Connection: x\r\nTransfer-Encoding: chunked\r\nUpgrade: h2c\r\n"
		   "TE: trailers\r\nCONNECTION: close\r\nB: 2\r\n\r\n", &r) && r.ret == 1,
	      "%d", r.ret);
	CHECK(!strcmp(r.fields, "a=1\nb=2\n"), "%s", r.fields);
	/* names that only start like one are kept */
	CHECK(!cgi("Connections: 1\r\nTE2: 2\r\n\r\n", &r) && r.ret == 1, "%d", r.ret);
	CHECK(!strcmp(r.fields, "connections=1\nte2=2\n"), "%s", r.fields);
	return 0;
}

static int test_cgi_content_length(void)
{
	static const char *const bad[] = {
		"Content-Length: abc\n\n",
		"Content-Length: -1\n\n",
		"Content-Length: +5\n\n",
		"Content-Length: 4 2\n\n",
		"Content-Length: 42, 42\n\n",
		"Content-Length:\n\n",
		"Content-Length: 0x10\n\n",
		"Content-Length: 9223372036854775808\n\n",
		"Content-Length: 99999999999999999999999\n\n",
		"Content-Length: 1\nContent-Length: 2\n\n",
	};
	static struct cgi_result r;

	CHECK(!cgi("Content-Length: 42\r\n\r\n", &r) && r.ret == 1 && r.content_length == 42,
	      "%d %lld", r.ret, (long long)r.content_length);
	CHECK(!strcmp(r.fields, "content-length=42\n"), "%s", r.fields);
	CHECK(!cgi("content-length:  0 \n\n", &r) && r.ret == 1 && r.content_length == 0, "0");
	CHECK(!cgi("Content-Length: 9223372036854775807\n\n", &r) &&
	      r.content_length == INT64_MAX, "max");
	CHECK(!cgi("Content-Length: 007\nX: y\nContent-Length: 7\n\n", &r) && r.ret == 1 &&
	      r.content_length == 7, "same twice");
	CHECK(!strcmp(r.fields, "content-length=007\nx=y\n"), "%s", r.fields);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!cgi(bad[i], &r) && r.ret == -EINVAL, "%s: %d", bad[i], r.ret);
	return 0;
}

/* PATH_INFO: decoded; what could climb out or hide a separator is refused. */
static int test_path_info(void)
{
	static const struct { const char *raw, *want; } good[] = {
		{ "", "" },
		{ "/", "/" },
		{ "/archive/2026/x.html", "/archive/2026/x.html" },
		{ "/%41%20b", "/A b" },
		{ "/caf%c3%a9", "/caf\xc3\xa9" },
		{ "/a//b///", "/a/b/" },
		{ "/.well-known/x", "/.well-known/x" },	/* hidden is not traversal */
		{ "/a/...", "/a/..." },
		{ "/..a/b..", "/..a/b.." },
		{ "/%25", "/%" },			/* decoded once only */
	};
	static const char *const bad[] = {
		"/..", "/a/../../etc/passwd", "/a/..", "/a/../", "/.", "/./x", "/a/./b",
		"/%2e%2e/x", "/%2E%2e", "/.%2e/x", "/%2e", "/a/%2e/b",
		"/a%2fb", "/a%2F..%2Fb", "/%2f",
		"/a%00b", "/%0a", "/%1b[31m", "/%7f", "/a\tb",
		"/a\\b", "/a%5cb",
		"/%", "/%4", "/%zz", "/%4g",
		"x", "a/b",
	};
	char out[64];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ssize_t n = qs_cgi_path_info(good[i].raw, strlen(good[i].raw), out, sizeof(out));

		CHECK(n == (ssize_t)strlen(good[i].want) && !strcmp(out, good[i].want),
		      "'%s' -> %zd '%s', expected '%s'", good[i].raw, n, n >= 0 ? out : "",
		      good[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(qs_cgi_path_info(bad[i], strlen(bad[i]), out, sizeof(out)) == -EINVAL,
		      "'%s' refused", bad[i]);
	/* the raw length + 1 is always room enough; less is -ENOSPC, never a cut */
	CHECK(qs_cgi_path_info("/abc", 4, out, 5) == 4, "n + 1");
	CHECK(qs_cgi_path_info("/abc", 4, out, 4) == -ENOSPC, "n");
	CHECK(qs_cgi_path_info("/%41", 4, out, 3) == 2 && !strcmp(out, "/A"), "decoded fits");
	return 0;
}

/* STDERR for the log: no control byte gets through, nothing is cut mid-escape. */
static int test_log_escape(void)
{
	const char msg[] = "PHP message: one\x1b[31mred\nsecond\\line\r\x7f\x00z\xc3\xa9\n";
	char out[256];
	size_t used;

	used = qs_fcgi_log_escape(out, sizeof(out), msg, sizeof(msg) - 1);
	CHECK(used == sizeof(msg) - 1, "all taken: %zu", used);
	CHECK(!strcmp(out, "PHP message: one\\x1b[31mred\\x0asecond\\x5cline\\x0d\\x7f\\x00z"
		      "\xc3\xa9"), "%s", out);
	for (const char *p = out; *p; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "a control byte at %zu",
		      (size_t)(p - out));
	/* only the last newline is a line end */
	used = qs_fcgi_log_escape(out, sizeof(out), "a\n\n", 3);
	CHECK(used == 3 && !strcmp(out, "a\\x0a"), "%zu %s", used, out);
	used = qs_fcgi_log_escape(out, sizeof(out), "", 0);
	CHECK(used == 0 && !out[0], "empty");
	/* the cap: whole characters and whole escapes only */
	used = qs_fcgi_log_escape(out, 6, "abcdefgh", 8);
	CHECK(used == 5 && !strcmp(out, "abcde"), "%zu %s", used, out);
	used = qs_fcgi_log_escape(out, 6, "ab\x1b" "cd", 5);
	CHECK(used == 2 && !strcmp(out, "ab"), "no half escape: %zu %s", used, out);
	used = qs_fcgi_log_escape(out, 7, "ab\x1b" "cd", 5);
	CHECK(used == 3 && !strcmp(out, "ab\\x1b"), "%zu %s", used, out);
	used = qs_fcgi_log_escape(out, 1, "abc", 3);
	CHECK(used == 0 && !out[0], "size 1");
	return 0;
}

int main(void)
{
	RUN(test_begin_abort);
	RUN(test_params_exact);
	RUN(test_params_long);
	RUN(test_params_enospc);
	RUN(test_params_split);
	RUN(test_stdin_split);
	RUN(test_stream_fit);
	RUN(test_cookie_append);
	RUN(test_http_name);
	RUN(test_decode_whole);
	RUN(test_decode_sliced);
	RUN(test_decode_malformed);
	RUN(test_decode_sequence);
	RUN(test_decode_truncated);
	RUN(test_decode_keepalive);
	RUN(test_cgi_php);
	RUN(test_cgi_status);
	RUN(test_cgi_line_ends);
	RUN(test_cgi_split);
	RUN(test_cgi_too_large);
	RUN(test_cgi_invalid);
	RUN(test_cgi_empty);
	RUN(test_cgi_dropped);
	RUN(test_cgi_content_length);
	RUN(test_path_info);
	RUN(test_log_escape);
	return DONE();
}
