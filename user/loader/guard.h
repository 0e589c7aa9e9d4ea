/* SPDX-License-Identifier: MIT */
/*
 * The loader's side of the XDP guard (bpf/guard.bpf.c): attach it with
 * libxdp to the --xdp-guard interfaces, pin its maps beside the steering
 * maps, detach it on stop, and find and replace the guard a crashed run
 * of the same instance left attached.
 */
#ifndef QS_LOADER_GUARD_H
#define QS_LOADER_GUARD_H

#include <stdbool.h>

#include "common/config.h"

struct guard;
struct xdp_program;

struct qs_guard {
	struct guard *skel;
	struct xdp_program *prog;
	unsigned n_attached;
	int ifindex[QS_GUARD_MAX_IFACES];
	int mode[QS_GUARD_MAX_IFACES];          /* enum xdp_attach_mode */
	const char *ifname[QS_GUARD_MAX_IFACES];
};

/* Route libxdp's messages through our logger, one level lower. */
void qs_guard_setup_logging(void);

/*
 * Detach every guard of this instance still attached to an interface of
 * this network namespace (a run that was killed leaves it: XDP outlives
 * the process).  Guards of other instances and other programs are left
 * alone.  Returns how many were removed, or -errno.
 */
int qs_guard_remove_stale(const char *instance);

/*
 * Load the guard for cfg's listen addresses and limits, attach it to
 * every cfg->xdp_guard interface (native mode, else generic), pin its
 * maps in pin_dir.  On error nothing stays attached.
 */
int qs_guard_start(struct qs_guard *g, const struct qs_config *cfg, const char *pin_dir);

/* Detach from every interface and free; the pins go with the pin dir. */
void qs_guard_stop(struct qs_guard *g);

#endif
