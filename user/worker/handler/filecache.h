/* SPDX-License-Identifier: MIT */
/*
 * A per-worker cache of small static files: their bytes and response
 * headers, so a hot 1 KB file costs no openat2/fstat/pread/close per
 * request.  An entry lives QS_FCACHE_TTL_MS, then the next request
 * resolves the file again (a changed file shows within that time, like
 * nginx's open_file_cache_valid).  Bounded: entry count and bytes.
 */
#ifndef QS_WORKER_FILECACHE_H
#define QS_WORKER_FILECACHE_H

#include <stddef.h>
#include <stdint.h>

#include "worker/handler/static.h"

#define QS_FCACHE_MAX_FILE   (64u << 10)   /* larger files are streamed */
#define QS_FCACHE_MAX_BYTES  (16u << 20)
#define QS_FCACHE_MAX_ENTRIES 1024
#define QS_FCACHE_TTL_MS     1000

struct qs_fcache_entry {
	struct qs_fcache_entry *next;       /* hash chain */
	struct qs_fcache_entry *lru_prev, *lru_next;
	uint64_t expires_ms;
	size_t keylen;
	char *key;                          /* the path, query cut off */
	struct qs_static_resp resp;         /* status 200, fd -1 */
	uint8_t *data;
	size_t len;
	unsigned variants;                  /* precompressed files found (QS_CODING_BIT) */
};

struct qs_fcache {
	struct qs_fcache_entry **buckets;
	size_t nbuckets;
	size_t max_file;                    /* larger bodies are not kept (QS_FCACHE_MAX_FILE) */
	size_t count, bytes;
	struct qs_fcache_entry *lru_head, *lru_tail;   /* head: most recent */
};

int qs_fcache_init(struct qs_fcache *fc);
void qs_fcache_free(struct qs_fcache *fc);

/* The entry for path (query ignored) if present and fresh, else NULL. */
const struct qs_fcache_entry *qs_fcache_get(struct qs_fcache *fc, const char *path,
					    size_t pathlen, uint64_t now_ms);

/*
 * Remember a 200 answer whose whole body is in fd (not consumed: pread).
 * Does nothing for large files or when reading fails (NULL).
 */
struct qs_fcache_entry *qs_fcache_put(struct qs_fcache *fc, const char *path, size_t pathlen,
		   const struct qs_static_resp *resp, int fd, uint64_t now_ms);

/*
 * The same from memory: data (malloc'd, len bytes) becomes the entry's, or
 * is left to the caller when not taken (NULL).
 */
struct qs_fcache_entry *qs_fcache_put_data(struct qs_fcache *fc, const char *path,
					   size_t pathlen, const struct qs_static_resp *resp,
					   uint8_t *data, size_t len, uint64_t now_ms);

#endif
