/* SPDX-License-Identifier: MIT */
/*
 * The worker's seccomp filter (libseccomp): once the event loop is set up,
 * only the system calls it makes from then on are allowed.  Any other call
 * is not executed: the worker logs its name and dies of SIGSYS, and the
 * loader starts a new one.
 */
#ifndef QS_WORKER_SANDBOX_H
#define QS_WORKER_SANDBOX_H

struct qs_config;

/*
 * Load the filter into the calling (single-threaded) process; who names it
 * in the message of a refused call ("worker 0/1"), cfg says which sockets
 * FastCGI opens.  No new privileges must already be set.  Returns 0 or a
 * negative errno after logging why.
 */
int qs_sandbox_enter(const char *who, const struct qs_config *cfg);

#endif
