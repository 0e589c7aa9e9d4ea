/* SPDX-License-Identifier: MIT */
/*
 * The worker's allocator for ngtcp2 and nghttp3 (ngtcp2_mem, nghttp3_mem):
 * every packet, frame, stream and QPACK field of a connection is a small
 * malloc/free pair, and glibc's per-thread cache (7 blocks per size) is too
 * shallow for a worker juggling thousands of them: its slow path measured
 * 10 % of the CPU of a 1 KB request.  Blocks up to 4 KB come from free
 * lists per 64-byte class; at most QS_MEM_CACHE_MAX bytes are kept (the
 * rest goes back to malloc), so the cache is bounded.  One worker, one
 * thread: no locking.
 */
#ifndef QS_WORKER_MEM_H
#define QS_WORKER_MEM_H

#include <stddef.h>

#include <ngtcp2/ngtcp2.h>
#include <nghttp3/nghttp3.h>

#define QS_MEM_CACHE_MAX (2u << 20)

extern const ngtcp2_mem qs_ngtcp2_mem;
extern const nghttp3_mem qs_nghttp3_mem;

void *qs_malloc(size_t n);
void *qs_calloc(size_t nmemb, size_t size);
void *qs_realloc(void *p, size_t n);
void qs_free(void *p);

/* Bytes held in the free lists (tests, debugging). */
size_t qs_mem_cached(void);

#endif
