/* SPDX-License-Identifier: MIT */
/*
 * Connection lookup by connection ID: every SCID a connection issued and
 * the client's Initial DCID map to it.  Chained hash table, keyed SipHash
 * (a client chooses the Initial DCIDs: no hash flooding), grows by doubling.
 */
#ifndef QS_WORKER_CIDMAP_H
#define QS_WORKER_CIDMAP_H

#include <stddef.h>
#include <stdint.h>

#include <ngtcp2/ngtcp2.h>

struct qs_cidmap_entry;

struct qs_cidmap {
	struct qs_cidmap_entry **buckets;
	size_t nbuckets;      /* power of two */
	size_t count;
	uint64_t k0, k1;
};

int qs_cidmap_init(struct qs_cidmap *m);
void qs_cidmap_free(struct qs_cidmap *m);
/* 0, -EEXIST, -ENOMEM */
int qs_cidmap_add(struct qs_cidmap *m, const uint8_t *cid, size_t len, void *value);
void *qs_cidmap_get(const struct qs_cidmap *m, const uint8_t *cid, size_t len);
void qs_cidmap_del(struct qs_cidmap *m, const uint8_t *cid, size_t len);

#endif
