// SPDX-License-Identifier: MIT
/*
 * Unit tests of what reads request ids and traceparent from clients
 * (http/trace.c) and of the JSON escaping of log lines (common/json.c).
 */
#include <string.h>

#include "common/json.h"
#include "worker/http/trace.h"
#include "check.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"

static int parse(const char *s, struct qs_trace *t)
{
	memset(t, 0, sizeof(*t));
	return qs_traceparent_parse((const uint8_t *)s, strlen(s), t);
}

static int test_traceparent_valid(void)
{
	struct qs_trace t;
	char out[QS_TRACEPARENT_LEN + 1], hex[33];

	CHECK(parse("00-" TID "-" PID "-01", &t) == 0, "the specification's example refused");
	CHECK(t.state == QS_TRACE_GIVEN && t.flags == 1, "state %u flags %u", t.state, t.flags);
	qs_hex(hex, t.trace_id, 16);
	CHECK(!memcmp(hex, TID, 32), "trace-id %.32s", hex);
	qs_hex(hex, t.parent_id, 8);
	CHECK(!memcmp(hex, PID, 16), "parent-id %.16s", hex);
	CHECK(parse(" 00-" TID "-" PID "-00\t", &t) == 0, "whitespace around refused");
	/* a later version: read as 00, what follows after a '-' ignored */
	CHECK(parse("cc-" TID "-" PID "-01", &t) == 0, "version cc refused");
	CHECK(parse("cc-" TID "-" PID "-01-what-the-future-adds", &t) == 0,
	      "version cc with more fields refused");
	/* our span: same trace, new span, the parent kept */
	{
		struct qs_idgen g = { 0 };

		CHECK(parse("00-" TID "-" PID "-01", &t) == 0, "refused");
		qs_trace_start(&t, &g);
		CHECK(t.state == QS_TRACE_CONTINUED, "state %u", t.state);
		qs_traceparent_format(&t, out);
		CHECK(strlen(out) == QS_TRACEPARENT_LEN && !memcmp(out, "00-" TID "-", 36) &&
		      memcmp(out + 36, PID, 16) && !strcmp(out + 52, "-01"), "%s", out);
		/* idempotent */
		{
			char again[QS_TRACEPARENT_LEN + 1];

			qs_trace_start(&t, &g);
			qs_traceparent_format(&t, again);
			CHECK(!strcmp(out, again), "a second start changed %s to %s", out, again);
		}
	}
	return 0;
}

static int test_traceparent_invalid(void)
{
	static const char *const bad[] = {
		"",
		"00",
		"00-" TID "-" PID "-0",                       /* short */
		"00-" TID "-" PID "-01-",                     /* 00 is exactly 55 */
		"00-" TID "-" PID "-011",
		"ff-" TID "-" PID "-01",                      /* version ff */
		"0g-" TID "-" PID "-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-" PID "-01",   /* uppercase */
		"00-00000000000000000000000000000000-" PID "-01",   /* zero trace-id */
		"00-" TID "-0000000000000000-01",             /* zero parent-id */
		"00_" TID "-" PID "-01",
		"00-" TID "_" PID "-01",
		"00-" TID "-" PID "_01",
		"00-" TID "-" PID "-0x",
		"cc-" TID "-" PID "-01x",                     /* more, but not after '-' */
		"00-" TID "-" PID "-01\r",
	};
	struct qs_trace t;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(parse(bad[i], &t) == -EINVAL, "'%s' accepted", bad[i]);
	return 0;
}

static bool lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

static int test_new_trace_and_ids(void)
{
	struct qs_idgen g = { 0 };
	struct qs_trace a = { 0 }, b = { .state = QS_TRACE_INVALID };
	char ta[QS_TRACEPARENT_LEN + 1], tb[QS_TRACEPARENT_LEN + 1], r1[33], r2[33];

	qs_trace_start(&a, &g);
	qs_trace_start(&b, &g);
	CHECK(a.state == QS_TRACE_STARTED && b.state == QS_TRACE_STARTED, "states %u %u",
	      a.state, b.state);
	qs_traceparent_format(&a, ta);
	qs_traceparent_format(&b, tb);
	CHECK(memcmp(ta + 3, tb + 3, 32), "two new traces share a trace-id: %s", ta);
	CHECK(lower_hex(ta + 3, 32) && lower_hex(ta + 36, 16) && !strcmp(ta + 52, "-03"), "%s", ta);
	/* what we send, we accept */
	{
		struct qs_trace c;

		CHECK(parse(ta, &c) == 0, "our own %s refused", ta);
	}
	CHECK(qs_reqid_new(&g, r1) == 32 && qs_reqid_new(&g, r2) == 32, "length");
	CHECK(strcmp(r1, r2) && !memcmp(r1, r2, 16) && lower_hex(r1, 32), "%s %s", r1, r2);
	CHECK(qs_reqid_valid((const uint8_t *)r1, 32), "our own id %s refused", r1);
	return 0;
}

static int test_request_id_charset(void)
{
	static const char *const good[] = {
		"a", "f47ac10b-58cc-4372-a567-0e02b2c3d479", "req_1.2:3+4/5=@x",
		"0123456789012345678901234567890123456789012345678901234567890123",
	};
	static const char *const bad[] = {
		"", "a b", "a\"b", "a\\b", "a;b", "a,b", "\xff", "<script>", "a\tb",
		"01234567890123456789012345678901234567890123456789012345678901234",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(qs_reqid_valid((const uint8_t *)good[i], strlen(good[i])), "'%s' refused",
		      good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!qs_reqid_valid((const uint8_t *)bad[i], strlen(bad[i])), "'%s' kept", bad[i]);
	CHECK(!qs_reqid_valid((const uint8_t *)"a\0b", 3), "NUL kept");
	return 0;
}

static const char *esc(const char *s, size_t n, size_t cap)
{
	static char out[256];
	size_t len = qs_json_escape(out, cap < sizeof(out) ? cap : sizeof(out) - 1, s, n, NULL);

	out[len] = '\0';
	return out;
}

static int test_json_escape(void)
{
	const char *r;
	size_t used;
	char buf[8];

	r = esc("/a\"b\\c", 6, 255);
	CHECK(!strcmp(r, "/a\\\"b\\\\c"), "%s", r);
	r = esc("a\nb\x01\x7f", 5, 255);
	CHECK(!strcmp(r, "a\\u000ab\\u0001\\u007f"), "%s", r);
	r = esc("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, 255);    /* é € 😀 pass */
	CHECK(!strcmp(r, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), "%s", r);
	/* invalid: lone continuation, overlong, surrogate, above U+10FFFF, cut */
	r = esc("\x80\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82", 12, 255);
	CHECK(!strcmp(r, "\\u0080\\u00c0\\u00af\\u00ed\\u00a0\\u0080\\u00f4\\u0090\\u0080"
		      "\\u0080\\u00e2\\u0082"), "%s", r);
	r = esc("a\0b", 3, 255);
	CHECK(!strcmp(r, "a\\u0000b"), "%s", r);
	/* never an escape cut in half */
	CHECK(qs_json_escape(buf, 5, "ab\n", 3, &used) == 2 && used == 2, "cut an escape");
	CHECK(qs_json_escape(buf, 3, "a\xe2\x82\xac", 4, &used) == 1 && used == 1,
	      "cut a UTF-8 sequence");
	return 0;
}

int main(void)
{
	RUN(test_traceparent_valid);
	RUN(test_traceparent_invalid);
	RUN(test_new_trace_and_ids);
	RUN(test_request_id_charset);
	RUN(test_json_escape);
	return DONE();
}
