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
 *
 * A second register, whose entries live as long as a NEW_TOKEN token
 * (qs_strike_create_ttl), makes those tokens single use on the host: the
 * worker's accept path records a keyed hash of each token it honours.
 */
#ifndef QS_COMMON_STRIKE_H
#define QS_COMMON_STRIKE_H

#include <stdint.h>

#define QS_STRIKE_TTL   20u     /* seconds an entry is kept (0-RTT) */
#define QS_STRIKE_TTL_MAX (1u << 22) /* well inside the 24-bit expiry field */
/* NEW_TOKEN tokens are valid this long: their register keeps entries as long */
#define QS_NEW_TOKEN_TTL 3600u
#define QS_STRIKE_WAYS  8u

enum qs_strike_result {
	QS_STRIKE_FRESH,        /* first time: recorded, accept */
	QS_STRIKE_REPLAY,       /* seen within the window: refuse */
	QS_STRIKE_FULL,         /* no free slot in its bucket: refuse */
};

/*
 * The geometry lives in each process's own memory (the loader's, copied
 * into every worker by fork), only the slots are shared: a worker that
 * scribbles over the shared memory can spoil entries, never make another
 * process index or unmap out of bounds.
 */
struct qs_strike {
	uint64_t nbuckets;      /* power of two */
	uint64_t ttl;           /* seconds an entry is kept */
	uint64_t *slot;         /* nbuckets * QS_STRIKE_WAYS, MAP_SHARED */
	int fd;                 /* the slots' memfd (close-on-exec): a binary upgrade hands it on */
};

/* entries: rounded up to a power of two times QS_STRIKE_WAYS; QS_STRIKE_TTL. */
struct qs_strike *qs_strike_create(uint64_t entries);
/* ... entries kept ttl_s seconds (1..QS_STRIKE_TTL_MAX; else NULL, EINVAL). */
struct qs_strike *qs_strike_create_ttl(uint64_t entries, uint32_t ttl_s);
/*
 * The register of a previous loader binary, from its memfd: NULL (errno
 * EINVAL) unless the geometry is one qs_strike_create_ttl makes and the
 * file has exactly its size.  Takes fd on success.
 */
struct qs_strike *qs_strike_adopt(int fd, uint64_t nbuckets, uint64_t ttl_s);
void qs_strike_destroy(struct qs_strike *r);
uint64_t qs_strike_bytes(const struct qs_strike *r);

/* hash: a keyed hash of what must be seen once; now_s: CLOCK_MONOTONIC seconds. */
enum qs_strike_result qs_strike_check(struct qs_strike *r, uint64_t hash, uint32_t now_s);

#endif
