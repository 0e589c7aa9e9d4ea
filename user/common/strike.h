/* SPDX-License-Identifier: MIT */
/*
 * The host's 0-RTT anti-replay register, shared by every worker: a
 * ClientHello (identified by a keyed hash of its random, which its PSK
 * binder covers, so a replay cannot change it) may have its early data
 * accepted once per host.  OpenSSL accepts early data only while the
 * ticket age the client claims is within 10 s of the real one, so a
 * replay older than that is refused anyway; entries live a little longer
 * (QS_STRIKE_TTL) and then free their slot.
 *
 * Lock-free: buckets of 8 slots (one cache line), each slot one 64-bit
 * word (40-bit tag | 24-bit expiry second), claimed with a compare-and-
 * swap.  Two workers racing with the same tag: the later CAS sees the
 * earlier entry in its re-check and refuses, so at most one accepts (both
 * may refuse: safe).  A bucket full of live entries refuses too (counted):
 * fail closed, the client falls back to 1-RTT.
 */
#ifndef QS_COMMON_STRIKE_H
#define QS_COMMON_STRIKE_H

#include <stdint.h>

#define QS_STRIKE_TTL   20u     /* seconds an entry is kept */
#define QS_STRIKE_WAYS  8u

enum qs_strike_result {
	QS_STRIKE_FRESH,        /* first time: recorded, accept */
	QS_STRIKE_REPLAY,       /* seen within the window: refuse */
	QS_STRIKE_FULL,         /* no free slot in its bucket: refuse */
};

struct qs_strike {
	uint64_t nbuckets;      /* power of two */
	uint64_t slot[];        /* nbuckets * QS_STRIKE_WAYS */
};

/* entries: rounded up to a power of two times QS_STRIKE_WAYS. */
struct qs_strike *qs_strike_create(uint64_t entries);
void qs_strike_destroy(struct qs_strike *r);
uint64_t qs_strike_bytes(const struct qs_strike *r);

/* hash: a keyed hash of the ClientHello random; now_s: CLOCK_MONOTONIC seconds. */
enum qs_strike_result qs_strike_check(struct qs_strike *r, uint64_t hash, uint32_t now_s);

#endif
