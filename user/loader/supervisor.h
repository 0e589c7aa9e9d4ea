/* SPDX-License-Identifier: MIT */
/*
 * Worker processes: fork one per (generation, id), each in a session of
 * its own, fork it again with the same id and the same sockets when it
 * dies, stop them all on shutdown; and tell whether a running one still
 * runs its event loop.
 */
#ifndef QS_LOADER_SUPERVISOR_H
#define QS_LOADER_SUPERVISOR_H

#include <stdbool.h>
#include <sys/types.h>

#include "quicsteer/steer.h"
#include "common/shared.h"

#include <openssl/ssl.h>

struct qs_config;
struct qs_docroot;
struct qs_rate;
struct qs_strike;
struct qs_tickets;

struct qs_worker_slot {
	bool used;
	unsigned gen, id;
	int fds[QS_MAX_LISTENERS];
	unsigned n_fds;
	int tcp_fds[QS_MAX_LISTENERS];   /* HTTPS over TCP: listening, one per listener */
	unsigned n_tcp_fds;
	pid_t pid;
	long long restart_at_ms;     /* pending restart, 0 = none */
	long long window_start_ms;   /* crash-loop detection */
	unsigned crashes_in_window;
	unsigned backoff_ms;
	bool retiring;               /* old generation: draining, never restarted */
	long long kill_at_ms;        /* ... SIGKILL if still there then */
	long long probe_sent_ms;     /* the liveness probe now pending, 0 = none */
	bool serving;                /* its event loop took the probe sent at its start */
	unsigned restarts;           /* in this generation, after it died */
};

struct qs_supervisor {
	struct qs_worker_slot slots[QS_WORKER_SLOTS];
	struct qs_worker_stats *stats;   /* mmap of qs_worker_stats */
	const struct qs_shared *shared;
	const struct qs_tickets *tickets;
	struct qs_strike *strike;
	struct qs_strike *tokens;        /* NEW_TOKEN tokens used on the host */
	struct qs_rate *rate;            /* --rate-limit, or NULL */
	uid_t uid;
	gid_t gid;
	const char *user;
	const struct qs_config *cfg;
	SSL_CTX *ssl_ctx;
	SSL_CTX *tcp_ssl_ctx;            /* NULL with --tcp off */
	const struct qs_docroot *docroot;
	bool probe;                      /* send liveness probes (for /health) */
	long long next_probe_ms;
	/* fds every child must close (the loader's own: BPF, other sockets) */
	void (*close_in_child)(void *arg, const struct qs_worker_slot *keep);
	void *cb_arg;
	/* a child that is not a worker (php-fpm) exited; both get cb_arg */
	void (*other_child)(void *arg, pid_t pid, int status, bool stopping);
	/* a retiring worker is gone: its sockets can go (gets cb_arg) */
	void (*retired)(void *arg, struct qs_worker_slot *slot);
};

int qs_supervisor_start(struct qs_supervisor *sv, struct qs_worker_slot *slot);
/* Reap children; schedule restarts.  `stopping` = do not restart. */
void qs_supervisor_reap(struct qs_supervisor *sv, bool stopping);
/*
 * Start workers whose restart time has come, note the ones that began to
 * serve; returns ms until the next thing to do, or -1.
 */
int qs_supervisor_tick(struct qs_supervisor *sv);
/* SIGTERM all, wait up to timeout_ms, then SIGKILL; returns when all are gone. */
void qs_supervisor_stop_all(struct qs_supervisor *sv, int timeout_ms);
unsigned qs_supervisor_running(const struct qs_supervisor *sv);
/* Whether every worker of gen (workers of them) runs its event loop. */
bool qs_supervisor_gen_serving(const struct qs_supervisor *sv, unsigned gen, unsigned workers);
/* Old generation: SIGTERM (GOAWAY, drain), SIGKILL after grace_ms; no restarts. */
void qs_supervisor_retire(struct qs_supervisor *sv, struct qs_worker_slot *slot, int grace_ms);

enum qs_worker_health {
	QS_WORKER_UP,
	QS_WORKER_DOWN,      /* no process, or one that exited */
	QS_WORKER_STOPPED,   /* SIGSTOP, or held by a tracer */
	QS_WORKER_HUNG,      /* its event loop has not read a probe in time */
};

/* Whether the worker of slot serves; *since_ms: how long the probe is pending. */
enum qs_worker_health qs_supervisor_health(const struct qs_worker_slot *slot, long long *since_ms);

long long qs_now_ms(void);

#endif
