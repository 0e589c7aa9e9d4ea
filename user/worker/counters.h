/* SPDX-License-Identifier: MIT */
/*
 * Bumping this worker's counters in the shared qs_worker_stats slot.  The
 * worker is the only writer of its slot, so a relaxed load and store is
 * enough (readers see whole 64-bit values); a locked add on every datagram
 * showed in profiles.
 */
#ifndef QS_WORKER_COUNTERS_H
#define QS_WORKER_COUNTERS_H

#include <linux/types.h>

static inline void count(__u64 *c, __u64 n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline void count_set(__u64 *c, __u64 v)
{
	__atomic_store_n(c, v, __ATOMIC_RELAXED);
}

#endif
