/* SPDX-License-Identifier: MIT */
/*
 * Request ids and W3C Trace Context (traceparent), once for every protocol.
 *
 * Request id: an incoming `x-request-id` is kept when it is sane: 1 to
 * QS_REQ_ID_MAX bytes of letters, digits and - _ . : + / = @ (what UUIDs,
 * hex, base64 and the ids of common proxies and tracers use; nothing that
 * needs quoting in a log, a header or a shell).  Anything else, or a
 * second x-request-id field, is replaced by one of ours: 32 lowercase hex
 * digits, a random 64-bit prefix drawn when the worker starts and a 64-bit
 * counter, so ids are unique across workers and restarts without a system
 * call per request.
 *
 * traceparent (W3C Trace Context, version 00): `00-` 32 hex trace-id `-`
 * 16 hex parent-id `-` 2 hex flags, lowercase, 55 bytes; trace-id and
 * parent-id not all zeros; version ff is invalid.  A later version is read
 * as version 00 is when it is at least 55 bytes long and byte 55, if any,
 * is '-' (the specification's rule for versions it does not know).  A
 * valid one makes our span its child: same trace-id and flags, its
 * parent-id kept as our parent; otherwise (none, invalid, or given twice)
 * a new trace starts with a random trace-id.  Either way our span gets a
 * new random span-id, and what we send on (to the handler's backend, in
 * the response) is version 00.
 */
#ifndef QS_WORKER_HTTP_TRACE_H
#define QS_WORKER_HTTP_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QS_REQ_ID_MAX       64
#define QS_TRACEPARENT_LEN  55
#define QS_TRACE_SAMPLED    0x01
#define QS_TRACE_RANDOM     0x02    /* Trace Context level 2: the trace-id is random */

/* A request's trace context. */
struct qs_trace {
	uint8_t trace_id[16];
	uint8_t parent_id[8];       /* the caller's span, when given */
	uint8_t span_id[8];         /* ours */
	uint8_t flags;
	uint8_t state;              /* enum qs_trace_state */
};

enum qs_trace_state {
	QS_TRACE_NONE,              /* no traceparent (yet) */
	QS_TRACE_GIVEN,             /* one valid traceparent: trace_id, parent_id, flags */
	QS_TRACE_INVALID,           /* malformed, or given twice: a new trace */
	QS_TRACE_STARTED,           /* ids final: our span made, from what was given or anew */
	QS_TRACE_CONTINUED,         /* ... as a child of the given parent */
};

/* The worker's id source: a fast PRNG (xoshiro256**) seeded from getrandom once. */
struct qs_idgen {
	uint64_t s[4];
	uint64_t n;
	char prefix[16];            /* of request ids: 64 random bits in hex */
	bool seeded;
};

/* x-request-id is one we keep. */
bool qs_reqid_valid(const uint8_t *v, size_t n);

/* A traceparent field's value into t (state GIVEN); -EINVAL when it is invalid. */
int qs_traceparent_parse(const uint8_t *v, size_t n, struct qs_trace *t);

/*
 * Make the trace context final: our span, and a new trace unless one was
 * given.  Does nothing the second time.
 */
void qs_trace_start(struct qs_trace *t, struct qs_idgen *g);

/* "00-<trace-id>-<span-id>-<flags>" of our span, NUL-terminated. */
void qs_traceparent_format(const struct qs_trace *t, char out[QS_TRACEPARENT_LEN + 1]);

/* A new request id: 32 hex digits, NUL-terminated; returns 32. */
size_t qs_reqid_new(struct qs_idgen *g, char out[33]);

uint64_t qs_idgen_next(struct qs_idgen *g);

/* n bytes as 2n lowercase hex digits (no NUL). */
void qs_hex(char *out, const uint8_t *b, size_t n);

#endif
