/* SPDX-License-Identifier: MIT */
/*
 * Requests per client address, shared by every worker (--rate-limit):
 * a client's connections may land on any worker, so the count is the
 * host's.  GCRA (the generic cell rate algorithm, a token bucket kept as
 * one time): each client has a "theoretical arrival time"; a request
 * moves it on by one interval (1 s / rate) from max(it, now) and is let
 * through while that stays within burst intervals of now.
 *
 * Lock-free, as the 0-RTT register (strike.h): buckets of 8 slots (one
 * cache line), a slot one 64-bit word, 24-bit tag | 40-bit time (us,
 * CLOCK_MONOTONIC modulo 2^40, 12.7 days; compared modulo too), updated
 * with a compare-and-swap.  A client without a slot takes one that is
 * idle (its time passed) or, in a bucket of 8 busy clients, the one
 * furthest from its limit.  Contention or a full bucket lets the request
 * through (fail open: the limit is a defence, not a quota).  IPv4
 * addresses count each, IPv6 ones by /64 (a host's addresses).
 */
#ifndef QS_COMMON_RATELIMIT_H
#define QS_COMMON_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define QS_RATE_WAYS 8u

/* The geometry and key in each process's own memory; only the slots are shared. */
struct qs_rate {
	uint64_t nbuckets;          /* power of two */
	uint64_t interval_us;       /* 1 s / rate */
	uint64_t tolerance_us;      /* burst * interval */
	uint64_t key[2];            /* of the address hash: no client picks its bucket */
	uint64_t *slot;             /* nbuckets * QS_RATE_WAYS, MAP_SHARED */
};

/* clients: rounded up to a power of two times QS_RATE_WAYS; NULL and errno on failure. */
struct qs_rate *qs_rate_create(uint64_t clients, unsigned per_s, unsigned burst);
void qs_rate_destroy(struct qs_rate *r);

/*
 * One request from peer at now_us (CLOCK_MONOTONIC): true to let it
 * through; false over the limit, with *retry_s the seconds until one is
 * let through again (at least 1).
 */
bool qs_rate_take(struct qs_rate *r, const struct sockaddr *peer, uint64_t now_us,
		  uint32_t *retry_s);

#endif
