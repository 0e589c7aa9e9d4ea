/* SPDX-License-Identifier: MIT */
/*
 * Binary upgrade (SIGUSR2, or the control socket): the running loader
 * replaces its own binary without closing a connection.
 *
 * 1. Preflight: the new binary runs as a child with the loader's arguments
 *    and --check-config, under a timeout; it must exit 0 after printing
 *    `quicsteerd-upgrade-protocol N FINGERPRINT` with our N and the
 *    fingerprint of the same listeners, instance, steering and metrics
 *    address.  Anything else: the old loader keeps running, and says why.
 * 2. Exec in place: the loader writes its state (upgrade_state.h) to a
 *    sealed memfd, clears close-on-exec on exactly the descriptors the
 *    state names and execs the new binary in its own process (same pid:
 *    the workers stay its children) with --upgrade-state FD.
 * 3. The new binary adopts the pinned maps, the sockets, the shared
 *    memory, the workers and php-fpm instead of creating them, then
 *    reloads into a generation of its own workers; the old one drains.
 *    If it cannot adopt, it hands the state back to the previous binary
 *    (an fd of it rides along) with --upgrade-failed, which resumes.
 */
#ifndef QS_LOADER_UPGRADE_H
#define QS_LOADER_UPGRADE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct loader;
struct qs_config;
struct qs_mbuf;
struct qs_up_state;

/* The preflight's bound: the new binary loads BPF objects, reads keys. */
#define QS_UPGRADE_CHECK_TIMEOUT_MS 10000

struct qs_upgrade {
	int argc;
	char **argv;                 /* main's, upgrade flags included */
	unsigned upgrades;           /* binary upgrades this instance went through */
	int last_ok;                 /* the last one: 1 ok, 0 failed, -1 none yet */
	time_t last_at;              /* its unix time, 0: none yet */
	char last[600];              /* its outcome: "ok: ..." or "failed: ..." */
	struct qs_up_state *adopting; /* while main adopts: the parsed state */
	/*
	 * The control socket's listener, carried across the exec like the
	 * metrics one: its owner sets it when it listens (-1: none) and, after
	 * an upgrade, finds the adopted listener here instead of binding again.
	 */
	int control_fd;
	int pending_fd;              /* the state to resume if main returns before adopting */
};

/* From main, first: keep argv for the exec. */
void qs_upgrade_init(struct loader *ld, int argc, char **argv);

/*
 * --check-config: everything a start would check short of taking the
 * instance (certificate, key, docroot, the BPF programs load); prints the
 * protocol line on stdout.  0 or -errno after logging why.
 */
int qs_upgrade_check(const struct qs_config *cfg);

/*
 * Replace the running binary by binary (NULL: QUICSTEER_UPGRADE_BINARY, else
 * the file /proc/self/exe names now).  Does not return when it succeeds:
 * the new binary answers on reply_fd (a control socket client; -1: nobody
 * asked) as the control socket does, "OK\n" or "ERR\n" then "ok: ..." or
 * "failed: ...", and closes it.  Returns -errno with why filled when the old
 * binary keeps running (then the caller answers).
 */
int qs_upgrade(struct loader *ld, const char *binary, int reply_fd, char *why, size_t len);

/*
 * main, with --upgrade-state: adopt the state instead of claiming the
 * instance and creating the BPF objects, sockets, shared memory and
 * workers.  On a failure it resumes the previous binary and does not
 * return; it returns -errno only when that is impossible (then main stops).
 */
int qs_upgrade_adopt(struct loader *ld);
/* ... php-fpm, after main prepared its configuration. */
int qs_upgrade_adopt_phpfpm(struct loader *ld);
/* ... at the end: the reload into the new binary's workers, and the answer. */
void qs_upgrade_finish(struct loader *ld);

/* In a worker forked while adopting: the caller's connection is not its own. */
void qs_upgrade_close_in_child(const struct loader *ld);

/* quicsteer_upgrades_total and the last result, for /metrics. */
void qs_upgrade_metrics(const struct loader *ld, struct qs_mbuf *b);

/* What the preflight compares: the configuration an upgrade cannot change. */
uint64_t qs_upgrade_fingerprint(const struct qs_config *cfg);

#endif
