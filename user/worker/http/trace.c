// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "worker/http/trace.h"

static const char hexdig[] = "0123456789abcdef";

void qs_hex(char *out, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[b[i] >> 4];
		out[2 * i + 1] = hexdig[b[i] & 15];
	}
}

bool qs_reqid_valid(const uint8_t *v, size_t n)
{
	if (n == 0 || n > QS_REQ_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("-_.:+/=@", c)) || !c)
			return false;
	}
	return true;
}

/* Lowercase hex only (the specification refuses uppercase); -1 otherwise. */
static int unhex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* 2n hex digits into n bytes; false on a non-hex digit */
static bool unhex_bytes(const uint8_t *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = unhex(s[2 * i]), lo = unhex(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= b[i];
	return !acc;
}

int qs_traceparent_parse(const uint8_t *v, size_t n, struct qs_trace *t)
{
	uint8_t version, flags;

	/* optional whitespace around a field value is not part of it (RFC 9110 5.5) */
	while (n && (v[0] == ' ' || v[0] == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n < QS_TRACEPARENT_LEN || !unhex_bytes(v, &version, 1) || version == 0xff)
		return -EINVAL;
	/* version 00 is exactly 55 bytes; a later one may add fields after a '-' */
	if (version == 0 ? n != QS_TRACEPARENT_LEN : n > QS_TRACEPARENT_LEN &&
	    v[QS_TRACEPARENT_LEN] != '-')
		return -EINVAL;
	if (v[2] != '-' || v[35] != '-' || v[52] != '-' ||
	    !unhex_bytes(v + 3, t->trace_id, 16) || !unhex_bytes(v + 36, t->parent_id, 8) ||
	    !unhex_bytes(v + 53, &flags, 1) ||
	    all_zero(t->trace_id, 16) || all_zero(t->parent_id, 8))
		return -EINVAL;
	t->flags = flags;
	t->state = QS_TRACE_GIVEN;
	return 0;
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* splitmix64, to spread a seed over xoshiro's state */
static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void seed(struct qs_idgen *g)
{
	uint64_t buf[5] = { 0 };
	struct timespec ts;

	/*
	 * Once per worker.  Should getrandom fail, time and pid still make
	 * the workers' sequences differ (ids need uniqueness, not secrecy).
	 */
	if (getrandom(buf, sizeof(buf), GRND_NONBLOCK) != (ssize_t)sizeof(buf)) {
		uint64_t x;

		clock_gettime(CLOCK_REALTIME, &ts);
		x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		x ^= (uint64_t)getpid() << 40;
		for (int i = 0; i < 5; i++)
			buf[i] ^= splitmix(&x);
	}
	for (int i = 0; i < 4; i++)
		g->s[i] = splitmix(&buf[i]);
	qs_hex(g->prefix, (const uint8_t *)&buf[4], 8);
	g->seeded = true;
}

uint64_t qs_idgen_next(struct qs_idgen *g)
{
	uint64_t *s = g->s, r, t;

	if (!g->seeded)
		seed(g);
	r = rotl(s[1] * 5, 7) * 9;
	t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

static void rand_bytes(struct qs_idgen *g, uint8_t *out, size_t n)
{
	do {
		for (size_t i = 0; i < n; i += 8) {
			uint64_t r = qs_idgen_next(g);

			memcpy(out + i, &r, n - i < 8 ? n - i : 8);
		}
	} while (all_zero(out, n));	/* all zeros is invalid (2^-64) */
}

void qs_trace_start(struct qs_trace *t, struct qs_idgen *g)
{
	if (t->state == QS_TRACE_STARTED || t->state == QS_TRACE_CONTINUED)
		return;
	rand_bytes(g, t->span_id, sizeof(t->span_id));
	if (t->state == QS_TRACE_GIVEN) {
		t->state = QS_TRACE_CONTINUED;
		return;
	}
	rand_bytes(g, t->trace_id, sizeof(t->trace_id));
	memset(t->parent_id, 0, sizeof(t->parent_id));
	/* we record every span in the access log: sampled; random trace-id */
	t->flags = QS_TRACE_SAMPLED | QS_TRACE_RANDOM;
	t->state = QS_TRACE_STARTED;
}

void qs_traceparent_format(const struct qs_trace *t, char out[QS_TRACEPARENT_LEN + 1])
{
	memcpy(out, "00-", 3);
	qs_hex(out + 3, t->trace_id, 16);
	out[35] = '-';
	qs_hex(out + 36, t->span_id, 8);
	out[52] = '-';
	qs_hex(out + 53, &t->flags, 1);
	out[55] = '\0';
}

size_t qs_reqid_new(struct qs_idgen *g, char out[33])
{
	uint8_t b[8];

	if (!g->seeded)
		seed(g);
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(g->n >> (56 - 8 * i));
	g->n++;
	memcpy(out, g->prefix, 16);
	qs_hex(out + 16, b, 8);
	out[32] = '\0';
	return 32;
}
