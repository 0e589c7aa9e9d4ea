// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/strike.h"

#define EXP_BITS 24u
#define EXP_MASK ((1u << EXP_BITS) - 1)

struct qs_strike *qs_strike_create(uint64_t entries)
{
	return qs_strike_create_ttl(entries, QS_STRIKE_TTL);
}

struct qs_strike *qs_strike_create_ttl(uint64_t entries, uint32_t ttl_s)
{
	uint64_t nb = 1;
	struct qs_strike *r;
	int err;

	if (ttl_s == 0 || ttl_s > QS_STRIKE_TTL_MAX) {
		errno = EINVAL;
		return NULL;
	}
	while (nb * QS_STRIKE_WAYS < entries)
		nb <<= 1;
	r = malloc(sizeof(*r));
	if (!r)
		return NULL;
	r->nbuckets = nb;
	r->ttl = ttl_s;
	/* a memfd, not an anonymous mapping: a binary upgrade keeps the entries */
	r->fd = memfd_create("quicsteer-strike", MFD_CLOEXEC);
	if (r->fd < 0 || ftruncate(r->fd, (off_t)qs_strike_bytes(r)))
		goto fail;
	r->slot = mmap(NULL, qs_strike_bytes(r), PROT_READ | PROT_WRITE,
		       MAP_SHARED, r->fd, 0);	/* zero: empty slots */
	if (r->slot == MAP_FAILED)
		goto fail;
	return r;
fail:
	err = errno;
	if (r->fd >= 0)
		close(r->fd);
	free(r);
	errno = err;
	return NULL;
}

struct qs_strike *qs_strike_adopt(int fd, uint64_t nbuckets, uint64_t ttl_s)
{
	struct qs_strike *r;
	struct stat st;

	if (nbuckets == 0 || (nbuckets & (nbuckets - 1)) || nbuckets > (1ull << 32) ||
	    ttl_s == 0 || ttl_s > QS_STRIKE_TTL_MAX || fstat(fd, &st) ||
	    (uint64_t)st.st_size != nbuckets * QS_STRIKE_WAYS * sizeof(uint64_t)) {
		errno = EINVAL;
		return NULL;
	}
	r = malloc(sizeof(*r));
	if (!r)
		return NULL;
	r->nbuckets = nbuckets;
	r->ttl = ttl_s;
	r->fd = fd;
	r->slot = mmap(NULL, qs_strike_bytes(r), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r->slot == MAP_FAILED) {
		free(r);
		return NULL;
	}
	return r;
}

uint64_t qs_strike_bytes(const struct qs_strike *r)
{
	return r->nbuckets * QS_STRIKE_WAYS * sizeof(uint64_t);
}

void qs_strike_destroy(struct qs_strike *r)
{
	if (!r)
		return;
	munmap(r->slot, qs_strike_bytes(r));
	close(r->fd);
	free(r);
}

/* A slot holds a live entry while its expiry second is ahead of now (mod 2^24). */
static bool live(uint64_t v, uint32_t now, uint32_t ttl)
{
	uint32_t d = ((uint32_t)v - now) & EXP_MASK;

	return v && d != 0 && d <= ttl;
}

enum qs_strike_result qs_strike_check(struct qs_strike *r, uint64_t hash, uint32_t now_s)
{
	/* the bucket from the low bits, the tag from the high 40 (never 0) */
	uint64_t *b = &r->slot[(hash & (r->nbuckets - 1)) * QS_STRIKE_WAYS];
	uint64_t tag = (hash >> EXP_BITS) | 1;
	uint32_t ttl = (uint32_t)r->ttl;
	uint64_t mine = tag << EXP_BITS | ((now_s + ttl) & EXP_MASK);

	for (;;) {
		int free_slot = -1;
		uint64_t seen = 0;

		for (unsigned i = 0; i < QS_STRIKE_WAYS; i++) {
			uint64_t v = __atomic_load_n(&b[i], __ATOMIC_ACQUIRE);

			if (live(v, now_s, ttl)) {
				if (v >> EXP_BITS == tag)
					return QS_STRIKE_REPLAY;
			} else if (free_slot < 0) {
				free_slot = (int)i;
				seen = v;
			}
		}
		if (free_slot < 0)
			return QS_STRIKE_FULL;
		if (!__atomic_compare_exchange_n(&b[free_slot], &seen, mine, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			continue;	/* someone took it: look again */
		/* a racer with the same tag that got in first wins */
		for (unsigned i = 0; i < QS_STRIKE_WAYS; i++) {
			uint64_t v;

			if ((int)i == free_slot)
				continue;
			v = __atomic_load_n(&b[i], __ATOMIC_ACQUIRE);
			if (live(v, now_s, ttl) && v >> EXP_BITS == tag)
				return QS_STRIKE_REPLAY;
		}
		return QS_STRIKE_FRESH;
	}
}
