// SPDX-License-Identifier: MIT
/* Requests per client address, shared by the workers (ratelimit.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "common/ratelimit.h"

#define TIME_BITS 40u
#define TIME_MASK ((1ull << TIME_BITS) - 1)
#define TAG(w)    ((w) >> TIME_BITS)
#define TIME(w)   ((w) & TIME_MASK)

static uint64_t slots_bytes(const struct qs_rate *r)
{
	return r->nbuckets * QS_RATE_WAYS * sizeof(uint64_t);
}

struct qs_rate *qs_rate_create(uint64_t clients, unsigned per_s, unsigned burst)
{
	uint64_t nb = 1;
	struct qs_rate *r;

	if (!per_s || !burst || per_s > 1000000) {
		errno = EINVAL;
		return NULL;
	}
	while (nb * QS_RATE_WAYS < clients)
		nb <<= 1;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->nbuckets = nb;
	r->interval_us = 1000000u / per_s;
	r->tolerance_us = r->interval_us * burst;
	if (getrandom(r->key, sizeof(r->key), 0) != sizeof(r->key)) {
		free(r);
		return NULL;
	}
	r->slot = mmap(NULL, slots_bytes(r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);	/* zero: empty slots */
	if (r->slot == MAP_FAILED) {
		free(r);
		return NULL;
	}
	return r;
}

void qs_rate_destroy(struct qs_rate *r)
{
	if (!r)
		return;
	munmap(r->slot, slots_bytes(r));
	free(r);
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The client's key: an IPv4 address, or an IPv6 one's /64 (IPv4-mapped as IPv4). */
static uint64_t client_hash(const struct qs_rate *r, const struct sockaddr *sa)
{
	uint64_t hi = 0, lo = 0;

	if (sa->sa_family == AF_INET) {
		lo = ((const struct sockaddr_in *)sa)->sin_addr.s_addr;
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a)) {
			memcpy(&lo, a + 12, 4);
		} else {
			memcpy(&hi, a, 8);
			hi |= 1;	/* never an IPv4 client's */
		}
	}
	return mix(mix(lo ^ r->key[0]) ^ hi ^ r->key[1]);
}

/* a - b for times modulo 2^40, as a signed distance */
static int64_t tdiff(uint64_t a, uint64_t b)
{
	uint64_t d = (a - b) & TIME_MASK;

	return d & (1ull << (TIME_BITS - 1)) ? (int64_t)d - (int64_t)(1ull << TIME_BITS) :
					       (int64_t)d;
}

bool qs_rate_take(struct qs_rate *r, const struct sockaddr *peer, uint64_t now_us,
		  uint32_t *retry_s)
{
	uint64_t h = client_hash(r, peer), now = now_us & TIME_MASK;
	uint64_t tag = (h >> TIME_BITS) | 1;	/* 0: an empty slot */
	uint64_t *b = &r->slot[(h & (r->nbuckets - 1)) * QS_RATE_WAYS];

	for (int attempt = 0; attempt < 4; attempt++) {
		uint64_t *mine = NULL, *take = NULL, old = 0, tat;
		int64_t furthest = INT64_MAX;

		for (unsigned i = 0; i < QS_RATE_WAYS; i++) {
			uint64_t w = __atomic_load_n(&b[i], __ATOMIC_RELAXED);
			int64_t ahead = tdiff(TIME(w), now);

			if (TAG(w) == tag) {
				mine = &b[i];
				old = w;
				break;
			}
			/* empty or idle (its time passed): free; else the least limited */
			if (!w || ahead <= 0) {
				if (furthest > INT64_MIN) {
					take = &b[i];
					old = w;
					furthest = INT64_MIN;
				}
			} else if (ahead < furthest) {
				take = &b[i];
				old = w;
				furthest = ahead;
			}
		}
		if (mine) {
			int64_t ahead = tdiff(TIME(old), now);

			tat = (ahead > 0 ? TIME(old) : now) + r->interval_us;
			if (tdiff(tat, now) > (int64_t)r->tolerance_us) {
				uint64_t wait = (uint64_t)(tdiff(tat, now) - (int64_t)r->tolerance_us);

				*retry_s = (uint32_t)((wait + 999999) / 1000000);
				if (!*retry_s)
					*retry_s = 1;
				return false;
			}
		} else {
			mine = take;
			tat = now + r->interval_us;
		}
		if (__atomic_compare_exchange_n(mine, &old, tag << TIME_BITS | (tat & TIME_MASK),
						false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return true;
	}
	return true;	/* contended: let it through */
}
