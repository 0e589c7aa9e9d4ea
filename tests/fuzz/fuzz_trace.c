// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for what reads request ids and trace context from
 * clients (user/worker/http/trace.c) and for the JSON escaping of what
 * logs carry from them (user/common/json.c).  The input goes whole, in an
 * exact-size allocation so ASan sees any overread, to:
 *
 * - qs_traceparent_parse: abort() unless an accepted value is 55 bytes or
 *   more (after optional whitespace), its ids are not all zeros and are
 *   the hex the input says; our span formatted from it parses again, with
 *   the same trace-id and flags.
 * - qs_reqid_valid: abort() if a value kept is empty, too long or holds a
 *   byte outside the documented set.
 * - qs_json_escape: abort() unless the output, with room enough, covers
 *   the whole input and is valid UTF-8 with no raw control character and
 *   no quote or backslash that is not escaped; with byte 0 of the input
 *   as a cap, it never writes past the cap.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *   -Iuser tests/fuzz/fuzz_trace.c user/worker/http/trace.c user/common/json.c \
 *   -o .output/fuzz_trace
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "worker/http/trace.h"

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "fuzz_trace: " __VA_ARGS__);                   \
		fprintf(stderr, "\n");                                         \
		abort();                                                       \
	} while (0)

static void check_traceparent(const uint8_t *v, size_t n)
{
	struct qs_trace t = { 0 }, again = { 0 };
	struct qs_idgen g = { 0 };
	char out[QS_TRACEPARENT_LEN + 1], hex[33];
	size_t lead = 0;

	if (qs_traceparent_parse(v, n, &t))
		return;
	while (lead < n && (v[lead] == ' ' || v[lead] == '\t'))
		lead++;
	if (n - lead < QS_TRACEPARENT_LEN)
		FAIL("accepted %zu bytes", n - lead);
	qs_hex(hex, t.trace_id, 16);
	if (memcmp(hex, v + lead + 3, 32) || !memcmp(hex, "00000000000000000000000000000000", 32))
		FAIL("trace-id %.32s from %.32s", hex, (const char *)v + lead + 3);
	qs_hex(hex, t.parent_id, 8);
	if (memcmp(hex, v + lead + 36, 16) || !memcmp(hex, "0000000000000000", 16))
		FAIL("parent-id %.16s", hex);
	qs_trace_start(&t, &g);
	if (t.state != QS_TRACE_CONTINUED)
		FAIL("state %u after start", t.state);
	qs_traceparent_format(&t, out);
	if (qs_traceparent_parse((const uint8_t *)out, strlen(out), &again) ||
	    memcmp(again.trace_id, t.trace_id, 16) || again.flags != t.flags ||
	    memcmp(again.parent_id, t.span_id, 8))
		FAIL("our own traceparent %s does not read back", out);
}

static void check_reqid(const uint8_t *v, size_t n)
{
	if (!qs_reqid_valid(v, n))
		return;
	if (n == 0 || n > QS_REQ_ID_MAX)
		FAIL("kept an id of %zu bytes", n);
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		      (v[i] >= '0' && v[i] <= '9') || (v[i] && strchr("-_.:+/=@", v[i]))))
			FAIL("kept byte 0x%02x", v[i]);
}

static void check_escape(const uint8_t *v, size_t n)
{
	size_t cap = n * QS_JSON_ESC_MAX, used, len, small;
	char *out = malloc(cap + 1), *cut;

	if (!out)
		abort();
	len = qs_json_escape(out, cap, v, n, &used);
	if (used != n || len > cap)
		FAIL("escaped %zu of %zu bytes into %zu", used, n, len);
	for (size_t i = 0; i < len;) {
		uint8_t c = (uint8_t)out[i];
		size_t seq = qs_utf8_seq((const uint8_t *)out + i, len - i);

		if (!seq || c < 0x20 || c == 0x7f)
			FAIL("byte 0x%02x at %zu of the output", c, i);
		if (c == '\\') {
			if (i + 1 >= len || !strchr("\"\\u", out[i + 1]))
				FAIL("a lone backslash at %zu", i);
			i += out[i + 1] == 'u' ? QS_JSON_ESC_MAX : 2;
			continue;
		}
		if (c == '"')
			FAIL("an unescaped quote at %zu", i);
		i += seq;
	}
	/* a cap from the first byte: never past it, never a partial escape */
	small = n ? v[0] % 32 : 0;
	cut = malloc(small + 1);
	if (!cut)
		abort();
	len = qs_json_escape(cut, small, v, n, &used);
	if (len > small || used > n || memcmp(cut, out, len))
		FAIL("capped at %zu: %zu bytes, not a prefix of the whole", small, len);
	free(cut);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *v = malloc(size ? size : 1);

	if (!v)
		abort();
	memcpy(v, data, size);
	check_traceparent(v, size);
	check_reqid(v, size);
	check_escape(v, size);
	free(v);
	return 0;
}
