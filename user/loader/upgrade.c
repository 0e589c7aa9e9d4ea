// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/strike.h"
#include "loader/loader.h"
#include "loader/tls.h"
#include "loader/upgrade.h"
#include "loader/upgrade_state.h"
#include "quicsteer/guard.h"

extern char **environ;

#define PROTOCOL_LINE "quicsteerd-upgrade-protocol"

static int resume_previous(struct loader *ld, const struct qs_up_state *st, const char *why);
static int read_state(int fd, struct qs_up_state *st, char *why, size_t len);

/* atexit() takes no argument: the one loader of the process, while it adopts. */
static struct loader *exiting_loader;

/*
 * The new binary returns from main before it adopted the instance (its
 * configuration, users, certificate or log file failed, after the check
 * passed): hand the state back rather than let the workers die with us.
 */
static void resume_at_exit(void)
{
	struct loader *ld = exiting_loader;
	struct qs_up_state *st;
	char why[300];

	if (!ld || ld->up.pending_fd < 0)
		return;
	st = calloc(1, sizeof(*st));
	if (st && !read_state(ld->up.pending_fd, st, why, sizeof(why)))
		resume_previous(ld, st, "the new binary stopped before it adopted the instance "
				"(its reason is logged above)");
	free(st);
}

void qs_upgrade_init(struct loader *ld, int argc, char **argv)
{
	bool failed = false;
	int fd = -1;

	ld->up.argc = argc;
	ld->up.argv = argv;
	ld->up.last_ok = -1;
	ld->up.control_fd = -1;
	/* before the configuration is parsed: its errors must resume too */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--upgrade-state") && i + 1 < argc)
			fd = atoi(argv[i + 1]);
		else if (!strncmp(argv[i], "--upgrade-state=", 16))
			fd = atoi(argv[i] + 16);
		failed |= !strcmp(argv[i], "--upgrade-failed");
	}
	ld->up.pending_fd = failed || fd < 3 ? -1 : fd;
	if (ld->up.pending_fd < 0)
		return;
	exiting_loader = ld;
	atexit(resume_at_exit);
	/* fault injection for tests/upgrade.test.sh: fail before anything, consumed */
	if (getenv("QUICSTEER_TEST_FAIL_START")) {
		unsetenv("QUICSTEER_TEST_FAIL_START");
		fprintf(stderr, "quicsteerd: QUICSTEER_TEST_FAIL_START is set (a test)\n");
		exit(1);
	}
}

/* FNV-1a over what an upgrade cannot change: a restart can. */
uint64_t qs_upgrade_fingerprint(const struct qs_config *cfg)
{
	uint64_t h = 0xcbf29ce484222325ull;
	char buf[128];

	for (int part = -4; part < (int)cfg->n_listen; part++) {
		const char *s = buf;

		if (part == -4)
			s = cfg->instance;
		else if (part == -3)
			snprintf(buf, sizeof(buf), "steering=%d tcp=%d", (int)cfg->steering,
				 (int)cfg->tcp);
		else if (part == -2)
			s = cfg->metrics;
		else if (part == -1)
			snprintf(buf, sizeof(buf), "listeners=%u", cfg->n_listen);
		else
			s = cfg->listen[part].text;
		for (; *s; s++)
			h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
		h = (h ^ '\n') * 0x100000001b3ull;
	}
	return h;
}

int qs_upgrade_check(const struct qs_config *cfg)
{
	struct qs_docroot docroot = QS_DOCROOT_INIT;
	SSL_CTX *ctx, *tcp_ctx = NULL;
	struct qs_bpf bpf;
	int ret;

	ctx = qs_tls_ctx_new(cfg->cert, cfg->key);
	if (ctx && cfg->tcp)
		tcp_ctx = qs_tls_tcp_ctx_new(cfg->cert, cfg->key);
	SSL_CTX_free(ctx);
	SSL_CTX_free(tcp_ctx);
	if (!ctx || (cfg->tcp && !tcp_ctx))
		return -EINVAL;
	ret = qs_docroot_open(&docroot, cfg->docroot);
	if (ret)
		return ret;
	qs_docroot_close(&docroot);
	/* loaded, not pinned nor attached: the running instance is not touched */
	ret = qs_bpf_probe(cfg->steering);
	if (ret)
		return ret;
	ret = qs_bpf_load(&bpf, cfg->n_listen, cfg->steering, cfg->tcp);
	if (ret)
		return ret;
	qs_bpf_destroy(&bpf);
	printf("%s %d %016llx\n", PROTOCOL_LINE, QS_UPGRADE_PROTOCOL,
	       (unsigned long long)qs_upgrade_fingerprint(cfg));
	fflush(stdout);
	pr_info("configuration of instance '%s' checked: it would start", cfg->instance);
	return 0;
}

/*
 * RUN_DIR/upgrade: the outcome of the last upgrade, one line, replaced
 * whole; kept for `quicsteerctl status` too.
 */
static void set_status(struct loader *ld, const char *line)
{
	char path[192], tmp[200];
	int fd;

	snprintf(ld->up.last, sizeof(ld->up.last), "%s", line);
	ld->up.last_at = time(NULL);
	if (!ld->run_dir[0])	/* before the configuration named the instance */
		return;
	snprintf(path, sizeof(path), "%s/upgrade", ld->run_dir);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (dprintf(fd, "%s\n", line) < 0 || close(fd) || rename(tmp, path))
		unlink(tmp);
}

/* The previous binary resumes: what the failing one wrote to RUN_DIR/upgrade. */
static void load_status(struct loader *ld)
{
	char path[192], line[sizeof(ld->up.last)];
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "%s/upgrade", ld->run_dir);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && !fstat(fileno(f), &st)) {
		line[strcspn(line, "\n")] = '\0';
		snprintf(ld->up.last, sizeof(ld->up.last), "%s", line);
		ld->up.last_at = st.st_mtime;
	}
	fclose(f);
}

/* The control socket's answer (control.h): OK or ERR, then the line. */
static void reply(int fd, bool ok, const char *line)
{
	if (fd >= 0 && dprintf(fd, "%s\n%s\n", ok ? "OK" : "ERR", line) < 0)
		pr_debug("the caller of the upgrade is gone");
}

/* main's arguments without the upgrade's own, then extra (NULL-terminated). */
static char **exec_args(struct loader *ld, ...)
{
	char **v = calloc((size_t)ld->up.argc + 4, sizeof(*v));
	const char *extra;
	va_list ap;
	int n = 0;

	if (!v)
		return NULL;
	for (int i = 0; i < ld->up.argc; i++) {
		const char *a = ld->up.argv[i];

		if (i && (!strcmp(a, "--upgrade-state") || !strcmp(a, "--upgrade-failed") ||
			  !strcmp(a, "--check-config") || !strcmp(a, "-t") ||
			  !strncmp(a, "--upgrade-state=", 16))) {
			if (!strcmp(a, "--upgrade-state"))
				i++;
			continue;
		}
		v[n++] = ld->up.argv[i];
	}
	va_start(ap, ld);
	while ((extra = va_arg(ap, const char *)) && n < ld->up.argc + 3)
		v[n++] = (char *)extra;
	va_end(ap);
	return v;
}

static int set_cloexec(const int *fds, size_t n, bool on)
{
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		int fl = fcntl(fds[i], F_GETFD);

		if (fl < 0 || fcntl(fds[i], F_SETFD, on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC))
			ret = ret ? ret : -errno;
	}
	return ret;
}

static int resolve_binary(const char *binary, char *path, size_t len, char *why, size_t wlen)
{
	const char *env = getenv("QUICSTEER_UPGRADE_BINARY");
	ssize_t n;

	if (!binary && env && env[0])
		binary = env;
	if (binary) {
		snprintf(path, len, "%s", binary);
	} else {
		n = readlink("/proc/self/exe", path, len - 1);
		if (n <= 0) {
			snprintf(why, wlen, "cannot read /proc/self/exe: %s", strerror(errno));
			return -errno;
		}
		path[n] = '\0';
		/* a package upgrade replaced the file: the new one is at the old path */
		if (n > 10 && !strcmp(path + n - 10, " (deleted)"))
			path[n - 10] = '\0';
	}
	if (access(path, X_OK)) {
		int err = -errno;

		snprintf(why, wlen, "the new binary %s is not executable: %s", path,
			 strerror(errno));
		return err;
	}
	return 0;
}

/* The last non-empty line of out, for an error message. */
static const char *last_line(char *out, size_t n)
{
	char *p;

	while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	p = memrchr(out, '\n', n);
	return n ? (p ? p + 1 : out) : "no output";
}

/*
 * Run the new binary with our arguments and --check-config; read what it
 * prints (bounded), kill it after QS_UPGRADE_CHECK_TIMEOUT_MS.
 */
static int preflight(struct loader *ld, const char *path, char *why, size_t len)
{
	char out[4096], **argv = exec_args(ld, "--check-config", NULL);
	long long deadline = qs_now_ms() + QS_UPGRADE_CHECK_TIMEOUT_MS;
	unsigned long long fp = 0;
	bool timed_out = false;
	unsigned version = 0;
	size_t n = 0;
	int p[2], status = 0;
	const char *line;
	pid_t pid;

	if (!argv || pipe2(p, O_CLOEXEC)) {
		free(argv);
		snprintf(why, len, "cannot start the check: %s", strerror(errno));
		return -ENOMEM;
	}
	pid = fork();
	if (pid == 0) {
		sigset_t none;
		int nul = open("/dev/null", O_RDONLY);

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);	/* a timeout kills what it started too */
		if (nul >= 0)
			dup2(nul, STDIN_FILENO);
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		execv(path, argv);
		dprintf(STDERR_FILENO, "cannot execute %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	free(argv);
	if (pid < 0) {
		close(p[0]);
		snprintf(why, len, "cannot fork the check: %s", strerror(errno));
		return -EAGAIN;
	}
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		long long left = deadline - qs_now_ms();
		char chunk[512];
		ssize_t r;

		if (left <= 0) {
			timed_out = true;
			break;
		}
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;	/* the deadline is checked above */
		r = read(p[0], chunk, sizeof(chunk));
		if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
			break;
		/* keep the first bytes: the protocol line comes before any chatter */
		for (ssize_t i = 0; i < r && n < sizeof(out) - 1; i++)
			out[n++] = chunk[i];
	}
	close(p[0]);
	if (timed_out)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	out[n] = '\0';
	line = strstr(out, PROTOCOL_LINE " ");
	if (line)
		sscanf(line, PROTOCOL_LINE " %u %llx", &version, &fp);
	if (timed_out) {
		snprintf(why, len, "the new binary %s did not finish its check (--check-config) "
			 "in %d s", path, QS_UPGRADE_CHECK_TIMEOUT_MS / 1000);
		return -ETIMEDOUT;
	}
	if (WIFSIGNALED(status)) {
		snprintf(why, len, "the new binary %s was killed by signal %d (%s) in its check",
			 path, WTERMSIG(status), strsignal(WTERMSIG(status)));
		return -ECHILD;
	}
	if (WEXITSTATUS(status)) {
		snprintf(why, len, "the new binary %s failed its check (--check-config), "
			 "status %d: %.300s", path, WEXITSTATUS(status), last_line(out, n));
		return -EINVAL;
	}
	if (!line) {
		snprintf(why, len, "%s does not speak the upgrade protocol (no '%s' line): not "
			 "a quicsteerd, or one too old", path, PROTOCOL_LINE);
		return -EPROTO;
	}
	if (version != QS_UPGRADE_PROTOCOL) {
		snprintf(why, len, "%s speaks upgrade protocol %u, this binary %d: restart the "
			 "instance instead", path, version, QS_UPGRADE_PROTOCOL);
		return -EPROTO;
	}
	if (fp != qs_upgrade_fingerprint(&ld->cfg)) {
		snprintf(why, len, "the configuration changed in what an upgrade keeps (listen "
			 "addresses, instance, --steering, --tcp, --metrics): restart the "
			 "instance to apply that");
		return -EINVAL;
	}
	return 0;
}

/* What a worker slot carries across the exec, both ways (X: one field). */
#define SLOT_FIELDS(X) X(used) X(retiring) X(gen) X(id) X(n_fds) X(n_tcp_fds) X(pid) \
	X(crashes_in_window) X(backoff_ms) X(restart_at_ms) X(window_start_ms) X(kill_at_ms)

static void save_slot(struct qs_up_slot *d, const struct qs_worker_slot *s)
{
#define X(f) d->f = s->f;
	SLOT_FIELDS(X)
#undef X
	for (unsigned l = 0; l < QS_MAX_LISTENERS; l++) {
		d->fds[l] = l < s->n_fds ? s->fds[l] : -1;
		d->tcp_fds[l] = l < s->n_tcp_fds ? s->tcp_fds[l] : -1;
	}
}

static void load_slot(struct qs_worker_slot *s, const struct qs_up_slot *d)
{
#define X(f) s->f = d->f;
	SLOT_FIELDS(X)
#undef X
	memcpy(s->fds, d->fds, sizeof(s->fds));
	memcpy(s->tcp_fds, d->tcp_fds, sizeof(s->tcp_fds));
}

static void save(struct loader *ld, struct qs_up_state *st, int exe_fd, int reply_fd,
		 int state_fd)
{
	qs_up_init(st);
	st->fingerprint = qs_upgrade_fingerprint(&ld->cfg);
	st->gen = ld->gen;
	st->n_listen = ld->cfg.n_listen;
	st->retire_at_ms = ld->retire_at_ms;
	st->shared_fd = ld->shared_fd;
	st->tickets_fd = ld->keys.shm_fd;
	st->strike_fd = ld->strike->fd;
	st->tokens_fd = ld->tokens->fd;
	st->metrics_fd = ld->metrics.fd;
	st->exe_fd = exe_fd;
	st->reply_fd = reply_fd;
	st->state_fd = state_fd;
	st->control_fd = ld->up.control_fd;
	st->strike_buckets = ld->strike->nbuckets;
	st->strike_ttl = ld->strike->ttl;
	st->tokens_buckets = ld->tokens->nbuckets;
	st->tokens_ttl = ld->tokens->ttl;
	st->keys_next_change = ld->keys.next_change;
	st->keys_epoch = ld->keys.epoch;
	st->phpfpm_pid = ld->phpfpm.pid > 0 ? ld->phpfpm.pid : 0;
	st->phpfpm_restarts = ld->phpfpm.restarts;
	st->phpfpm_backoff_ms = ld->phpfpm.backoff_ms;
	st->phpfpm_started_ms = ld->phpfpm.started_ms;
	st->phpfpm_restart_at_ms = ld->phpfpm.restart_at_ms;
	st->upgrades = ld->up.upgrades;
	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++)
		save_slot(&st->slot[i], &ld->sv.slots[i]);
}

/* A sealed memfd holding st: the new binary cannot be handed a moving target. */
static int write_state(struct qs_up_state *st, int fd)
{
	const char *p = (const char *)st;
	size_t left = sizeof(*st);

	while (left) {
		ssize_t w = write(fd, p, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		left -= (size_t)w;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL))
		return -errno;
	return 0;
}

static int exec_new(struct loader *ld, const char *path, int reply_fd, char *why, size_t len)
{
	struct qs_up_state *st = calloc(1, sizeof(*st));
	int exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int state_fd = memfd_create("quicsteer-upgrade", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int fds[QS_UP_MAX_FDS], ret;
	char num[16], **argv = NULL;
	size_t n = 0;

	if (!st || exe_fd < 0 || state_fd < 0) {
		ret = -errno;
		snprintf(why, len, "cannot prepare the state for the new binary: %s",
			 strerror(errno));
		goto cleanup;
	}
	save(ld, st, exe_fd, reply_fd, state_fd);
	ret = write_state(st, state_fd);
	if (ret) {
		snprintf(why, len, "cannot write the state for the new binary: %s",
			 strerror(-ret));
		goto cleanup;
	}
	snprintf(num, sizeof(num), "%d", state_fd);
	argv = exec_args(ld, "--upgrade-state", num, NULL);
	if (!argv) {
		ret = -ENOMEM;
		snprintf(why, len, "out of memory");
		goto cleanup;
	}
	n = qs_up_fds(st, fds, QS_UP_MAX_FDS);
	ret = set_cloexec(fds, n, false);
	if (ret) {
		snprintf(why, len, "cannot keep a descriptor open across exec: %s",
			 strerror(-ret));
		goto cleanup;
	}
	pr_info("binary upgrade: executing %s in this process (pid %d) with the state of "
		"generation %u", path, (int)getpid(), ld->gen);
	/* what status shows if the new binary resumes us before it could say why */
	set_status(ld, "failed: the new binary stopped before it could say why (see the "
		   "loader's log); the previous binary resumed");
	execv(path, argv);
	ret = -errno;
	snprintf(why, len, "cannot execute %s: %s", path, strerror(errno));
cleanup:
	set_cloexec(fds, n, true);
	free(argv);
	free(st);
	if (exe_fd >= 0)
		close(exe_fd);
	if (state_fd >= 0)
		close(state_fd);
	return ret;
}

/* The generation that still drains (or is about to), or -1. */
static int draining_gen(const struct loader *ld)
{
	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++)
		if (ld->sv.slots[i].used && ld->sv.slots[i].gen != ld->gen)
			return (int)ld->sv.slots[i].gen;
	return ld->retire_at_ms ? (int)((ld->gen + QS_MAX_GENS - 1) % QS_MAX_GENS) : -1;
}

int qs_upgrade(struct loader *ld, const char *binary, int reply_fd, char *why, size_t len)
{
	char path[PATH_MAX], line[600];
	int ret = 0, draining = draining_gen(ld);

	why[0] = '\0';
	/* the new binary reloads at once: that would be refused */
	if (ld->rl.pending) {
		snprintf(why, len, "a reload is in progress (generation %u starting): upgrade "
			 "when it is done", ld->rl.gen);
		ret = -EBUSY;
	} else if (draining >= 0) {
		snprintf(why, len, "generation %d is still draining (at most %u s): upgrade "
			 "when it is gone", draining, ld->cfg.drain_timeout_ms / 1000 + 5);
		ret = -EBUSY;
	}
	if (!ret)
		ret = resolve_binary(binary, path, sizeof(path), why, len);
	if (!ret) {
		pr_info("binary upgrade: checking %s", path);
		ret = preflight(ld, path, why, len);
	}
	if (!ret)
		ret = exec_new(ld, path, reply_fd, why, len);	/* only returns on failure */
	pr_warn("binary upgrade refused: %s; this binary keeps serving", why);
	snprintf(line, sizeof(line), "failed: %s; the running binary keeps serving", why);
	set_status(ld, line);	/* the caller answers its client from why */
	ld->up.last_ok = 0;
	return ret;
}

/* ---- the new binary's side ---------------------------------------------- */

/*
 * Nobody can adopt the instance: main stops.  The workers and php-fpm die
 * with this process (their parent-death signal); the pins and runtime
 * files, which main's stop only removes when adopted, go here.
 */
static void abandon(struct loader *ld)
{
	static const char *const files[] = { "ticket-keys", "php-fpm.conf", "php-fpm.sock",
					     "php-fpm.pid" };
	char path[256];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", ld->run_dir, files[i]);
		unlink(path);
	}
	if (!ld->bpf.pinned)
		qs_bpf_remove_pins(ld->cfg.instance);
	qs_guard_remove_stale(ld->cfg.instance);
}

/*
 * The new binary could not adopt st: give it back to the previous binary,
 * which resumes without a reload.  Returns only when that cannot happen.
 */
static int resume_previous(struct loader *ld, const struct qs_up_state *st, const char *why)
{
	int fds[QS_UP_MAX_FDS];
	char line[600], num[16], **argv;
	size_t n;

	if (ld->cfg.upgrade_failed || !st) {
		pr_warn("binary upgrade: cannot adopt the running instance: %s; nothing to "
			"resume: stopping it", why);
		abandon(ld);
		return -EPROTO;
	}
	pr_warn("binary upgrade: this binary cannot adopt the running instance: %s; "
		"handing it back to the previous binary", why);
	snprintf(line, sizeof(line), "failed: the new binary could not adopt the running "
		 "instance: %s; the previous binary resumes", why);
	set_status(ld, line);
	reply(st->reply_fd, false, line);
	n = qs_up_fds(st, fds, QS_UP_MAX_FDS);
	snprintf(num, sizeof(num), "%d", st->state_fd);
	argv = exec_args(ld, "--upgrade-state", num, "--upgrade-failed", NULL);
	if (argv && !set_cloexec(fds, n, false))
		fexecve(st->exe_fd, argv, environ);
	pr_warn("binary upgrade: cannot resume the previous binary: %s; stopping",
		strerror(errno));
	free(argv);
	return -EPROTO;
}

static int read_state(int fd, struct qs_up_state *st, char *why, size_t len)
{
	size_t cap = sizeof(*st) + 1;	/* one more: a longer record is refused */
	char *buf = malloc(cap);
	ssize_t n;
	int seals, ret;

	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_WRITE)) {
		free(buf);
		snprintf(why, len, "descriptor %d is not a sealed upgrade state", fd);
		return -EINVAL;
	}
	if (!buf) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	n = pread(fd, buf, cap, 0);
	if (n < 0) {
		ret = -errno;
		snprintf(why, len, "cannot read the state: %s", strerror(errno));
	} else {
		ret = qs_up_parse(buf, (size_t)n, st, why, len);
	}
	free(buf);
	return ret;
}

static int adopt_sockets(struct loader *ld, const struct qs_up_state *st, char *why,
			 size_t len)
{
	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++) {
		const struct qs_up_slot *d = &st->slot[i];
		struct qs_worker_slot *s = &ld->sv.slots[i];

		memset(s, 0, sizeof(*s));
		if (!d->used)
			continue;
		for (unsigned l = 0; l < d->n_fds + d->n_tcp_fds; l++) {
			int fd = l < d->n_fds ? d->fds[l] : d->tcp_fds[l - d->n_fds];
			struct stat sb;

			if (fstat(fd, &sb) || !S_ISSOCK(sb.st_mode)) {
				snprintf(why, len, "worker %u/%u: descriptor %d is not a socket",
					 d->gen, d->id, fd);
				return -EBADF;
			}
		}
		load_slot(s, d);
	}
	return 0;
}

/* The guard's programs and maps are new: the pins of the previous one go first. */
static int adopt_guard(struct loader *ld)
{
	static const char *const pins[] = { QS_PIN_GUARD_STATS, QS_PIN_GUARD_CFG,
					    QS_PIN_GUARD_BLOCK, QS_PIN_GUARD_SOURCES };
	char path[256];

	if (!ld->cfg.n_xdp_guard) {
		qs_guard_remove_stale(ld->cfg.instance);
		return 0;
	}
	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", ld->bpf.pin_dir, pins[i]);
		unlink(path);
	}
	return qs_guard_start(&ld->guard, &ld->cfg, ld->bpf.pin_dir);
}

int qs_upgrade_adopt(struct loader *ld)
{
	struct qs_config *cfg = &ld->cfg;
	struct qs_up_state *st = calloc(1, sizeof(*st));
	int fds[QS_UP_MAX_FDS], ret;
	char why[300] = "";
	size_t n;

	ld->up.pending_fd = -1;	/* from here on, this function resumes or stops */
	/*
	 * fexecve named us after a descriptor, QUICSTEER_UPGRADE_BINARY maybe
	 * after a link: quicsteerctl and the next start know a loader by name
	 */
	prctl(PR_SET_NAME, "quicsteerd");
	/* what claim_instance would have set: the instance is ours already */
	snprintf(ld->run_dir, sizeof(ld->run_dir), "%s/%s", QS_RUN_ROOT, cfg->instance);
	snprintf(ld->pid_file, sizeof(ld->pid_file), "%s/quicsteerd.pid", ld->run_dir);
	if (!st) {
		ret = -ENOMEM;
		snprintf(why, sizeof(why), "out of memory");
		goto fail;
	}
	ret = read_state((int)cfg->upgrade_state, st, why, sizeof(why));
	/*
	 * Fault injection for tests/upgrade.test.sh: the new binary fails after
	 * it read the state, as one would on maps it cannot use; consumed, so
	 * the previous binary and later upgrades do not see it.
	 */
	if (!ret && getenv("QUICSTEER_TEST_FAIL_ADOPT")) {
		unsetenv("QUICSTEER_TEST_FAIL_ADOPT");
		if (!cfg->upgrade_failed) {
			ret = -ECANCELED;
			snprintf(why, sizeof(why), "QUICSTEER_TEST_FAIL_ADOPT is set (a test)");
			goto fail;
		}
	}
	if (ret) {
		free(st);
		st = NULL;	/* nothing in it can be trusted, nor resumed */
		goto fail;
	}
	n = qs_up_fds(st, fds, QS_UP_MAX_FDS);
	/* none of them may reach php-fpm or a check child */
	ret = st->state_fd != (int)cfg->upgrade_state ? -EINVAL : set_cloexec(fds, n, true);
	if (ret) {
		snprintf(why, sizeof(why), "a descriptor the state names is not open");
		goto fail;
	}
	if (st->fingerprint != qs_upgrade_fingerprint(cfg)) {
		ret = -EINVAL;
		snprintf(why, sizeof(why), "the configuration differs in listen addresses, "
			 "instance, --steering, --tcp or --metrics");
		goto fail;
	}
	ret = qs_bpf_adopt(&ld->bpf, cfg->instance, cfg->n_listen, cfg->steering, cfg->tcp);
	if (ret) {
		snprintf(why, sizeof(why), "the pinned BPF maps: %s (logged above)",
			 strerror(-ret));
		goto fail;
	}
	ld->shared = qs_secret_adopt(st->shared_fd, sizeof(*ld->shared), "the key area");
	if (!ld->shared) {
		ret = -errno;
		snprintf(why, sizeof(why), "the key area: %s", strerror(errno));
		goto fail;
	}
	ld->shared_fd = st->shared_fd;
	ret = qs_keys_adopt(&ld->keys, cfg, ld->run_dir, st->tickets_fd, st->keys_next_change,
			    st->keys_epoch);
	if (ret) {
		snprintf(why, sizeof(why), "the ticket keys (logged above)");
		goto fail;
	}
	ld->strike = qs_strike_adopt(st->strike_fd, st->strike_buckets, st->strike_ttl);
	ld->tokens = ld->strike ? qs_strike_adopt(st->tokens_fd, st->tokens_buckets,
						  st->tokens_ttl) : NULL;
	if (!ld->tokens) {
		ret = -EINVAL;
		snprintf(why, sizeof(why), "the anti-replay registers: %s", strerror(errno));
		goto fail;
	}
	ret = adopt_sockets(ld, st, why, sizeof(why));
	if (ret)
		goto fail;
	ld->gen = st->gen;
	ld->retire_at_ms = st->retire_at_ms;
	ld->metrics.fd = st->metrics_fd;
	ld->up.control_fd = st->control_fd;
	ret = adopt_guard(ld);
	if (ret) {
		snprintf(why, sizeof(why), "the XDP guard: %s (logged above)", strerror(-ret));
		goto fail;
	}
	ld->up.upgrades = st->upgrades;
	ld->up.adopting = st;
	ld->ready = true;	/* it served before the exec: no second readiness wait */
	pr_info("binary upgrade: %s generation %u, %u workers, %zu descriptors, pins in %s",
		cfg->upgrade_failed ? "resumed" : "adopted", st->gen,
		qs_supervisor_running(&ld->sv), n, ld->bpf.pin_dir);
	return 0;
fail:
	ret = resume_previous(ld, st, why);
	free(st);
	return ret;
}

int qs_upgrade_adopt_phpfpm(struct loader *ld)
{
	const struct qs_up_state *st = ld->up.adopting;

	ld->phpfpm.pid = st->phpfpm_pid;
	ld->phpfpm.restarts = st->phpfpm_restarts;
	ld->phpfpm.backoff_ms = st->phpfpm_backoff_ms;
	ld->phpfpm.started_ms = st->phpfpm_started_ms;
	ld->phpfpm.restart_at_ms = st->phpfpm_restart_at_ms;
	/* it was not running nor due (not managed before): start it now */
	if (!ld->phpfpm.pid && !ld->phpfpm.restart_at_ms)
		return qs_phpfpm_start(&ld->phpfpm);
	return 0;
}

void qs_upgrade_finish(struct loader *ld)
{
	struct qs_up_state *st = ld->up.adopting;
	const struct qs_reload *rl = &ld->rl;
	char line[700];

	if (!st)
		return;
	close(st->state_fd);
	close(st->exe_fd);
	if (ld->cfg.upgrade_failed) {
		/* the failing binary told the caller and wrote the status */
		ld->up.last_ok = 0;
		load_status(ld);
		pr_warn("binary upgrade failed (see above): this binary resumed generation %u "
			"(a new binary that stopped before reading its configuration said why "
			"on stderr only)", ld->gen);
		goto out;
	}
	/* the new binary's workers: a reload, whose outcome comes once they serve */
	qs_loader_reload(ld);
	if (rl->pending) {
		ld->up.upgrades++;
		ld->up.last_ok = 1;
		snprintf(line, sizeof(line), "ok: the loader (pid %d) runs version %s; generation "
			 "%u of its workers starts and takes new connections once it serves, "
			 "generation %u then drains", (int)getpid(), QS_VERSION, rl->gen, st->gen);
		pr_info("binary upgrade: %s", line + 4);
	} else {
		ld->up.last_ok = 0;
		snprintf(line, sizeof(line), "failed: the loader (pid %d) runs version %s but its "
			 "reload did not start: %s; generation %u keeps serving, send SIGHUP to "
			 "retry", (int)getpid(), QS_VERSION, rl->last, st->gen);
		pr_warn("binary upgrade: %s", line + 8);
	}
	set_status(ld, line);
	reply(st->reply_fd, ld->up.last_ok == 1, line);
out:
	ld->up.adopting = NULL;	/* kept till here: the reload's workers close reply_fd */
	if (st->reply_fd >= 0)
		close(st->reply_fd);
	free(st);
}

void qs_upgrade_close_in_child(const struct loader *ld)
{
	if (ld->up.adopting && ld->up.adopting->reply_fd >= 0)
		close(ld->up.adopting->reply_fd);
}

void qs_upgrade_metrics(const struct loader *ld, struct qs_mbuf *b)
{
	qs_mbuf_printf(b, "# HELP quicsteer_upgrades_total binary upgrades this instance went "
		       "through\n# TYPE quicsteer_upgrades_total counter\n"
		       "quicsteer_upgrades_total %u\n", ld->up.upgrades);
	if (ld->up.last_ok >= 0)
		qs_mbuf_printf(b, "# HELP quicsteer_upgrade_last_ok 1 when the last binary "
			       "upgrade succeeded\n# TYPE quicsteer_upgrade_last_ok gauge\n"
			       "quicsteer_upgrade_last_ok %d\n"
			       "# HELP quicsteer_upgrade_last_timestamp_seconds unix time of the last "
			       "binary upgrade's outcome\n"
			       "# TYPE quicsteer_upgrade_last_timestamp_seconds gauge\n"
			       "quicsteer_upgrade_last_timestamp_seconds %lld\n", ld->up.last_ok,
			       (long long)ld->up.last_at);
}
