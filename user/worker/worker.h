/* SPDX-License-Identifier: MIT */
/*
 * A worker: owns one socket per listener for its (generation, id).  For
 * now a datagram loop that classifies every datagram by its DCID and
 * counts it (the HTTP/3 server replaces the handling, not the loop).
 */
#ifndef QS_WORKER_WORKER_H
#define QS_WORKER_WORKER_H

#include <sys/types.h>

#include "quicsteer/steer.h"
#include "common/shared.h"

struct qs_worker_ctx {
	unsigned gen, id;
	int fds[QS_MAX_LISTENERS];
	unsigned n_fds;
	struct qs_worker_stats *stats;     /* this worker's slot, shared */
	const struct qs_shared *shared;
	uid_t uid;
	gid_t gid;
	const char *user;
};

/* Runs in the forked child; returns the process exit code. */
int qs_worker_main(struct qs_worker_ctx *ctx);

#endif
