/* SPDX-License-Identifier: MIT */
/*
 * Memory the loader shares with every worker (MAP_SHARED, created before
 * the first fork): secrets the workers need and the steering state they
 * mint CIDs by.  Locked, never dumped, wiped on exit.  The loader is the
 * only writer, and a worker maps it read-only before it drops its
 * privileges (qs_secret_readonly); `seq` is a seqlock so a rotation never
 * shows a torn key.
 */
#ifndef QS_COMMON_SHARED_H
#define QS_COMMON_SHARED_H

#include "quicsteer/cid.h"

struct qs_shared {
	unsigned seq;                             /* odd while the loader writes */
	unsigned cur_config;                      /* config id to mint with */
	unsigned char server_id[QS_CID_SID_MAX];
	unsigned server_id_len;
	struct qs_cid_key cid_keys[QS_CID_CONFIGS];
	/*
	 * Stateless-reset tokens and Retry / NEW_TOKEN tokens derive from this,
	 * so a reset or a token from any worker is valid at every worker.
	 */
	unsigned char static_secret[32];
};

/*
 * Shared memory for secrets, created before the first fork: zeroed, locked,
 * left out of core dumps; unmap wipes it.  Backed by a memfd (*fd, close-
 * on-exec, its size sealed) so that a worker can map the same pages
 * read-only for good.  NULL if it cannot be made.
 */
void *qs_secret_map(size_t len, const char *what, int *fd);
void qs_secret_unmap(void *p, size_t len, int fd);
/*
 * Map the secrets a previous loader binary made (a binary upgrade): fd must
 * be a sealed memfd of exactly len bytes.  NULL with errno set; takes fd on
 * success.
 */
void *qs_secret_adopt(int fd, size_t len, const char *what);

/*
 * In a worker, while it may still open /proc/self/fd: the pages at p
 * mapped again in place, read-only, from a read-only descriptor of the
 * memfd, which is then closed.  A MAP_SHARED mapping of a file opened
 * read-only cannot be made writable (mprotect: EACCES), so the worker
 * cannot change what the loader and the other workers rely on.
 */
int qs_secret_readonly(const void *p, size_t len, int fd, const char *what);

struct qs_shared *qs_shared_create(int *fd);
void qs_shared_destroy(struct qs_shared *sh, int fd);

/* Writer side (loader). */
static inline void qs_shared_write_begin(struct qs_shared *sh)
{
	__atomic_store_n(&sh->seq, sh->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void qs_shared_write_end(struct qs_shared *sh)
{
	__atomic_store_n(&sh->seq, sh->seq + 1, __ATOMIC_RELEASE);
}

/* Reader side (workers): copy a consistent snapshot. */
static inline void qs_shared_read(const struct qs_shared *sh, struct qs_shared *out)
{
	unsigned s1, s2;

	do {
		s1 = __atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE);
		__builtin_memcpy(out, (const void *)sh, sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&sh->seq, __ATOMIC_RELAXED);
	} while ((s1 & 1) || s1 != s2);
}

#endif
