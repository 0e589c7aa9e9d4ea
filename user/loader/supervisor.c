// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "loader/supervisor.h"
#include "worker/worker.h"

#define CRASH_WINDOW_MS   10000
#define CRASHES_BEFORE_BACKOFF 3
#define BACKOFF_MIN_MS    250
#define BACKOFF_MAX_MS    30000

/*
 * Liveness probe: with --metrics, a running worker of the current
 * generation gets SIGHUP every PROBE_INTERVAL_MS unless the last one is
 * still pending.  The worker blocks SIGHUP and reads it from its signalfd
 * in its event loop (and does nothing else with it), so a probe pending
 * longer than PROBE_LIMIT_MS means a loop that does not run: hung, or
 * frozen where /proc shows no stop.  A signal, not a heartbeat in shared
 * memory: the worker writes nothing another worker could forge, and the
 * worker code is not involved.  One wake-up a second per worker.
 * Every worker also gets one at its start, whether or not --metrics is on:
 * once it is taken, the worker serves (its sockets, TLS context and
 * sandbox are set up and its loop runs), which is what readiness and a
 * reload wait for.  Until then the supervisor looks every SERVING_POLL_MS
 * (every SERVING_SLOW_POLL_MS after the first second: a worker stopped
 * before its loop must not keep the loader busy).
 */
#define PROBE_SIGNAL      SIGHUP
#define PROBE_INTERVAL_MS 1000
#define PROBE_LIMIT_MS    3000
#define SERVING_POLL_MS   10
#define SERVING_SLOW_POLL_MS 250

long long qs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static struct qs_worker_stats *stats_of(struct qs_supervisor *sv,
					const struct qs_worker_slot *s)
{
	return &sv->stats[s->gen * QS_MAX_WORKERS + s->id];
}

int qs_supervisor_start(struct qs_supervisor *sv, struct qs_worker_slot *slot)
{
	struct qs_worker_ctx ctx;
	sigset_t all, old;
	pid_t pid;

	/* the child must not run our signal handling before it sets its own */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		sigprocmask(SIG_SETMASK, &old, NULL);
		pr_warn("cannot fork worker %u/%u: %s", slot->gen, slot->id, strerror(errno));
		return err;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		sigset_t probe;

		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		/*
		 * A probe before the worker takes it on its signalfd must not
		 * kill it, nor must SIGUSR1 (reopen the logs), which the loader
		 * sends every worker: blocked, it waits for the worker's signalfd.
		 */
		sigemptyset(&probe);
		sigaddset(&probe, PROBE_SIGNAL);
		sigaddset(&probe, SIGUSR1);
		sigprocmask(SIG_SETMASK, &probe, NULL);
		/*
		 * Nothing read from the operator's terminal, no signal from its
		 * keys (a process group of its own).  Not a session of its own:
		 * with the kernel's autogroups (sched_autogroup_enabled, outside
		 * a cgroup such as a systemd service's) every session is a
		 * scheduling group of its own, and each worker alone in one
		 * against the load's took 30 % more CPU per PHP request (make
		 * bench-php).  The terminal stays out of its reach all the same:
		 * its seccomp filter allows no ioctl (TIOCSTI), and PHP, the
		 * untrusted code, runs in php-fpm's session (phpfpm.c).
		 */
		if (devnull > STDIN_FILENO) {
			dup2(devnull, STDIN_FILENO);
			close(devnull);
		}
		setpgid(0, 0);
		if (sv->close_in_child)
			sv->close_in_child(sv->cb_arg, slot);
		memset(&ctx, 0, sizeof(ctx));
		ctx.gen = slot->gen;
		ctx.id = slot->id;
		memcpy(ctx.fds, slot->fds, sizeof(ctx.fds));
		ctx.n_fds = slot->n_fds;
		memcpy(ctx.tcp_fds, slot->tcp_fds, sizeof(ctx.tcp_fds));
		ctx.n_tcp_fds = slot->n_tcp_fds;
		ctx.tcp_ssl_ctx = sv->tcp_ssl_ctx;
		ctx.stats = stats_of(sv, slot);
		ctx.shared = sv->shared;
		ctx.tickets = sv->tickets;
		ctx.strike = sv->strike;
		ctx.tokens = sv->tokens;
		ctx.rate = sv->rate;
		ctx.uid = sv->uid;
		ctx.gid = sv->gid;
		ctx.user = sv->user;
		ctx.cfg = sv->cfg;
		ctx.ssl_ctx = sv->ssl_ctx;
		ctx.docroot = sv->docroot;
		_exit(qs_worker_main(&ctx));
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	slot->pid = pid;
	slot->restart_at_ms = 0;
	slot->serving = false;
	/* blocked in the child until its event loop reads it: see PROBE_SIGNAL */
	slot->probe_sent_ms = kill(pid, PROBE_SIGNAL) == 0 ? qs_now_ms() : 0;
	__atomic_store_n(&stats_of(sv, slot)->pid, (__u64)pid, __ATOMIC_RELAXED);
	__atomic_fetch_add(&stats_of(sv, slot)->starts, 1, __ATOMIC_RELAXED);
	pr_debug("worker %u/%u started, pid %d", slot->gen, slot->id, (int)pid);
	return 0;
}

static struct qs_worker_slot *slot_by_pid(struct qs_supervisor *sv, pid_t pid)
{
	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++)
		if (sv->slots[i].used && sv->slots[i].pid == pid)
			return &sv->slots[i];
	return NULL;
}

void qs_supervisor_reap(struct qs_supervisor *sv, bool stopping)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct qs_worker_slot *s = slot_by_pid(sv, pid);
		long long now = qs_now_ms();

		if (!s) {
			if (sv->other_child)
				sv->other_child(sv->cb_arg, pid, status, stopping);
			continue;
		}
		s->pid = 0;
		__atomic_store_n(&stats_of(sv, s)->pid, 0, __ATOMIC_RELAXED);
		if (s->retiring) {
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				pr_info("worker %u/%u of the previous generation drained and exited",
					s->gen, s->id);
			else
				pr_warn("worker %u/%u of the previous generation ended with %s %d",
					s->gen, s->id, WIFSIGNALED(status) ? "signal" : "status",
					WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			s->retiring = false;
			s->restart_at_ms = 0;
			if (sv->retired)
				sv->retired(sv->cb_arg, s);
			continue;
		}
		if (stopping) {
			pr_debug("worker %u/%u (pid %d) stopped", s->gen, s->id, (int)pid);
			continue;
		}
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
			pr_warn("worker %u/%u (pid %d) killed by its seccomp filter: it made a "
				"system call outside its allow-list (its last log line names "
				"it; --seccomp off runs without the filter: please report the "
				"call); restarting it on the same socket", s->gen, s->id, (int)pid);
		else if (WIFSIGNALED(status))
			pr_warn("worker %u/%u (pid %d) killed by signal %d (%s); restarting it "
				"on the same socket", s->gen, s->id, (int)pid, WTERMSIG(status),
				strsignal(WTERMSIG(status)));
		else
			pr_warn("worker %u/%u (pid %d) exited with status %d; restarting it "
				"on the same socket", s->gen, s->id, (int)pid, WEXITSTATUS(status));

		/* restart at once, unless it keeps crashing: then back off */
		if (now - s->window_start_ms > CRASH_WINDOW_MS) {
			s->window_start_ms = now;
			s->crashes_in_window = 0;
			s->backoff_ms = 0;
		}
		s->crashes_in_window++;
		if (s->crashes_in_window > CRASHES_BEFORE_BACKOFF) {
			s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
			if (s->backoff_ms > BACKOFF_MAX_MS)
				s->backoff_ms = BACKOFF_MAX_MS;
			pr_warn("worker %u/%u crashed %u times in %d s: next start in %u ms",
				s->gen, s->id, s->crashes_in_window, CRASH_WINDOW_MS / 1000,
				s->backoff_ms);
		}
		s->restart_at_ms = now + s->backoff_ms + (s->backoff_ms ? 0 : 1);
		s->restarts++;
	}
}

/*
 * /proc/PID/status: the state letter into *state and whether PROBE_SIGNAL
 * is pending for the process; -errno when it is gone.
 */
static int read_status(pid_t pid, char *state, bool *probe_pending)
{
	unsigned long long pending = 0;
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*state = '?';
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "State: %c", state) == 1)
			continue;
		if (sscanf(line, "ShdPnd: %llx", &pending) == 1)
			break;
	}
	fclose(f);
	*probe_pending = pending >> (PROBE_SIGNAL - 1) & 1;
	return 0;
}

static void probe(struct qs_supervisor *sv, long long now)
{
	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++) {
		struct qs_worker_slot *s = &sv->slots[i];
		bool pending;
		char state;

		if (!s->used || !s->pid || s->retiring)
			continue;
		if (read_status(s->pid, &state, &pending) || pending)
			continue;
		/* the last one was taken: the loop runs; send the next */
		if (kill(s->pid, PROBE_SIGNAL) == 0)
			s->probe_sent_ms = now;
	}
}

enum qs_worker_health qs_supervisor_health(const struct qs_worker_slot *s, long long *since_ms)
{
	bool pending;
	char state;

	*since_ms = 0;
	if (!s->used || s->pid <= 0 || read_status(s->pid, &state, &pending) || state == 'Z' ||
	    state == 'X')
		return QS_WORKER_DOWN;
	/* T: SIGSTOP; t: a tracer holds it */
	if (state == 'T' || state == 't')
		return QS_WORKER_STOPPED;
	if (pending && s->probe_sent_ms) {
		*since_ms = qs_now_ms() - s->probe_sent_ms;
		if (*since_ms > PROBE_LIMIT_MS)
			return QS_WORKER_HUNG;
	}
	return QS_WORKER_UP;
}

/* A starting worker whose start probe is taken: it serves. */
static bool started_serving(struct qs_worker_slot *s)
{
	bool pending;
	char state;

	if (read_status(s->pid, &state, &pending) || state == 'Z' || state == 'X')
		return false;
	return !pending;
}

int qs_supervisor_tick(struct qs_supervisor *sv)
{
	long long now = qs_now_ms(), next = -1;

	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++) {
		struct qs_worker_slot *s = &sv->slots[i];

		if (!s->used || !s->pid || s->serving || s->retiring)
			continue;
		if (s->probe_sent_ms && started_serving(s)) {
			s->serving = true;
			pr_debug("worker %u/%u (pid %d) serves", s->gen, s->id, (int)s->pid);
		} else {
			int poll_ms = now - s->probe_sent_ms < 1000 ? SERVING_POLL_MS :
				      SERVING_SLOW_POLL_MS;

			if (next < 0 || poll_ms < next)
				next = poll_ms;
		}
	}

	if (sv->probe) {
		if (sv->next_probe_ms <= now) {
			probe(sv, now);
			sv->next_probe_ms = now + PROBE_INTERVAL_MS;
		}
		if (next < 0 || sv->next_probe_ms - now < next)
			next = sv->next_probe_ms - now;
	}

	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++) {
		struct qs_worker_slot *s = &sv->slots[i];

		if (s->used && s->retiring && s->pid) {
			if (s->kill_at_ms <= now) {
				pr_warn("worker %u/%u of the previous generation still runs after "
					"its drain: killing it", s->gen, s->id);
				kill(s->pid, SIGKILL);
				s->kill_at_ms = now + 1000;
			}
			if (next < 0 || s->kill_at_ms - now < next)
				next = s->kill_at_ms - now;
			continue;
		}
		if (!s->used || s->pid || !s->restart_at_ms)
			continue;
		if (s->restart_at_ms <= now) {
			if (qs_supervisor_start(sv, s) < 0)
				s->restart_at_ms = now + BACKOFF_MAX_MS / 30;
			else
				continue;
		}
		if (next < 0 || s->restart_at_ms - now < next)
			next = s->restart_at_ms - now;
	}
	return (int)next;
}

void qs_supervisor_retire(struct qs_supervisor *sv, struct qs_worker_slot *slot, int grace_ms)
{
	slot->retiring = true;
	slot->restart_at_ms = 0;
	slot->kill_at_ms = qs_now_ms() + grace_ms;
	if (slot->pid) {
		kill(slot->pid, SIGTERM);
	} else {
		/* was down, waiting for a restart: gone now, as if reaped */
		slot->retiring = false;
		if (sv->retired)
			sv->retired(sv->cb_arg, slot);
	}
}

unsigned qs_supervisor_running(const struct qs_supervisor *sv)
{
	unsigned n = 0;

	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++)
		if (sv->slots[i].used && sv->slots[i].pid)
			n++;
	return n;
}

bool qs_supervisor_gen_serving(const struct qs_supervisor *sv, unsigned gen, unsigned workers)
{
	for (unsigned w = 0; w < workers; w++) {
		const struct qs_worker_slot *s = &sv->slots[gen * QS_MAX_WORKERS + w];

		if (!s->used || !s->pid || !s->serving)
			return false;
	}
	return true;
}

void qs_supervisor_stop_all(struct qs_supervisor *sv, int timeout_ms)
{
	long long deadline = qs_now_ms() + timeout_ms;

	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++) {
		sv->slots[i].restart_at_ms = 0;
		if (sv->slots[i].used && sv->slots[i].pid)
			kill(sv->slots[i].pid, SIGTERM);
	}
	while (qs_supervisor_running(sv) && qs_now_ms() < deadline) {
		qs_supervisor_reap(sv, true);
		if (qs_supervisor_running(sv))
			poll(NULL, 0, 10);
	}
	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++)
		if (sv->slots[i].used && sv->slots[i].pid) {
			pr_warn("worker %u/%u (pid %d) did not stop in %d ms: killing it",
				sv->slots[i].gen, sv->slots[i].id, (int)sv->slots[i].pid,
				timeout_ms);
			kill(sv->slots[i].pid, SIGKILL);
		}
	while (qs_supervisor_running(sv)) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);
		struct qs_worker_slot *s;

		if (pid < 0 && errno == ECHILD)
			break;
		if (pid > 0 && (s = slot_by_pid(sv, pid))) {
			s->pid = 0;
			__atomic_store_n(&stats_of(sv, s)->pid, 0, __ATOMIC_RELAXED);
		} else if (pid > 0 && sv->other_child) {
			sv->other_child(sv->cb_arg, pid, status, true);
		}
	}
}
