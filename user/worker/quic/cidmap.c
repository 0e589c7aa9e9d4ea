// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "quicsteer/cid.h"
#include "worker/quic/cidmap.h"

struct qs_cidmap_entry {
	struct qs_cidmap_entry *next;
	uint8_t len;
	uint8_t cid[NGTCP2_MAX_CIDLEN];
	void *value;
};

/* SipHash-1-3 of up to 20 bytes (a CID), any length. */
static uint64_t hash_cid(const struct qs_cidmap *m, const uint8_t *p, size_t len)
{
	uint64_t v0 = m->k0 ^ 0x736f6d6570736575ULL, v1 = m->k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = m->k0 ^ 0x6c7967656e657261ULL, v3 = m->k1 ^ 0x7465646279746573ULL;
	uint64_t b;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		b = qs_le64(p + i);
		v3 ^= b;
		QS_SIPROUND(v0, v1, v2, v3);
		v0 ^= b;
	}
	b = (uint64_t)len << 56;
	for (size_t j = 0; i + j < len; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	QS_SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	QS_SIPROUND(v0, v1, v2, v3);
	QS_SIPROUND(v0, v1, v2, v3);
	QS_SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

int qs_cidmap_init(struct qs_cidmap *m)
{
	memset(m, 0, sizeof(*m));
	if (getrandom(&m->k0, sizeof(m->k0), 0) != sizeof(m->k0) ||
	    getrandom(&m->k1, sizeof(m->k1), 0) != sizeof(m->k1))
		return -errno;
	m->nbuckets = 64;
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	return m->buckets ? 0 : -ENOMEM;
}

void qs_cidmap_free(struct qs_cidmap *m)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct qs_cidmap_entry *e = m->buckets[i], *n;

		for (; e; e = n) {
			n = e->next;
			free(e);
		}
	}
	free(m->buckets);
	m->buckets = NULL;
	m->count = 0;
}

static void grow(struct qs_cidmap *m)
{
	size_t n = m->nbuckets * 2;
	struct qs_cidmap_entry **b = calloc(n, sizeof(*b));

	if (!b)
		return;	/* keep working with longer chains */
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct qs_cidmap_entry *e = m->buckets[i], *next;

		for (; e; e = next) {
			size_t h = hash_cid(m, e->cid, e->len) & (n - 1);

			next = e->next;
			e->next = b[h];
			b[h] = e;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
}

int qs_cidmap_add(struct qs_cidmap *m, const uint8_t *cid, size_t len, void *value)
{
	struct qs_cidmap_entry *e;
	size_t h;

	if (len > NGTCP2_MAX_CIDLEN)
		return -EINVAL;
	if (qs_cidmap_get(m, cid, len))
		return -EEXIST;
	if (m->count >= m->nbuckets)
		grow(m);
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->len = (uint8_t)len;
	memcpy(e->cid, cid, len);
	e->value = value;
	h = hash_cid(m, cid, len) & (m->nbuckets - 1);
	e->next = m->buckets[h];
	m->buckets[h] = e;
	m->count++;
	return 0;
}

void *qs_cidmap_get(const struct qs_cidmap *m, const uint8_t *cid, size_t len)
{
	struct qs_cidmap_entry *e;

	if (len > NGTCP2_MAX_CIDLEN)
		return NULL;
	e = m->buckets[hash_cid(m, cid, len) & (m->nbuckets - 1)];
	for (; e; e = e->next)
		if (e->len == len && memcmp(e->cid, cid, len) == 0)
			return e->value;
	return NULL;
}

void qs_cidmap_del(struct qs_cidmap *m, const uint8_t *cid, size_t len)
{
	struct qs_cidmap_entry **pp, *e;

	if (len > NGTCP2_MAX_CIDLEN)
		return;
	pp = &m->buckets[hash_cid(m, cid, len) & (m->nbuckets - 1)];
	for (; (e = *pp); pp = &e->next)
		if (e->len == len && memcmp(e->cid, cid, len) == 0) {
			*pp = e->next;
			free(e);
			m->count--;
			return;
		}
}
