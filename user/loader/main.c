// SPDX-License-Identifier: MIT
/*
 * quicsteerd: the loader.  Loads and pins the steering program, opens one
 * socket per (listener, worker), forks the workers and supervises them;
 * on SIGTERM stops everything and leaves nothing behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/log.h"
#include "common/phptime.h"
#include "common/shared.h"
#include "loader/bpf.h"
#include "common/config.h"
#include "loader/keys.h"
#include "loader/loader.h"
#include "loader/limits.h"
#include "common/ratelimit.h"
#include "common/strike.h"
#include "loader/guard.h"
#include "loader/loader.h"
#include "loader/logs.h"
#include "loader/metrics.h"
#include "loader/phpfpm.h"
#include "loader/sockets.h"
#include "loader/supervisor.h"
#include "loader/tls.h"
#include "common/docroot.h"

#define STOP_TIMEOUT_MS 5000
/*
 * From the steering switch of a reload to the old generation's drain: the
 * TCP connections an old worker took just before the switch finish their
 * TLS handshakes (a drain closes a connection still in one).  Without it, 3
 * reloads under 1300 new connections/s lost 1 to 3 handshakes; with 200 ms,
 * none (tests/tcpsteer.test.sh).
 */
#define RELOAD_SETTLE_MS 200
/*
 * Every worker of a new generation (the first, or a reload's) must serve
 * within this: else the start fails, or the reload is undone.  A worker
 * serves in tens of ms; this is for a machine under load.
 */
#define SERVE_TIMEOUT_MS 20000
/* systemd's STATUS= line: looked at this often, sent when it changed */
#define NOTIFY_STATUS_MS 2000

/* Capabilities the loader needs (bits of CapEff). */
#define CAP_SETGID_BIT    6
#define CAP_SETUID_BIT    7
#define CAP_NET_ADMIN_BIT 12
#define CAP_SYS_ADMIN_BIT 21
#define CAP_BPF_BIT       39

static int check_privileges(const struct qs_config *cfg)
{
	unsigned long long eff = 0;
	char line[256];
	FILE *f;

	f = fopen("/proc/self/status", "re");
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "CapEff: %llx", &eff) == 1)
				break;
		fclose(f);
	}
	if ((eff >> CAP_NET_ADMIN_BIT & 1) && (eff >> CAP_SETUID_BIT & 1) &&
	    (eff >> CAP_SETGID_BIT & 1) &&
	    ((eff >> CAP_BPF_BIT & 1) || (eff >> CAP_SYS_ADMIN_BIT & 1))) {
		if (!cfg->n_xdp_guard || (eff >> CAP_SYS_ADMIN_BIT & 1))
			return 0;
		/* refused before attaching: it would stay on the interface after us */
		pr_warn("--xdp-guard needs CAP_SYS_ADMIN: libxdp finds the attached program "
			"by id to detach it, and without it the guard would stay attached "
			"after quicsteerd stops; give it CAP_SYS_ADMIN (under systemd: "
			"systemctl edit quicsteer@NAME, [Service] "
			"CapabilityBoundingSet=CAP_SYS_ADMIN) or run without --xdp-guard");
		return -EPERM;
	}
	pr_warn("quicsteerd must run as root: it needs CAP_BPF (or CAP_SYS_ADMIN), "
		"CAP_NET_ADMIN, CAP_SETUID and CAP_SETGID (this process has CapEff %llx%s); "
		"run it with sudo", eff, geteuid() ? ", uid is not 0" : "");
	return -EPERM;
}

static bool pid_is_quicsteerd(pid_t pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	if (pid <= 0 || kill(pid, 0) != 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strncmp(comm, "quicsteerd", 10) == 0;
}

static pid_t read_pid_file(const char *path)
{
	FILE *f = fopen(path, "re");
	int pid = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid;
}

/*
 * One instance per name: a live owner is an error; pins and runtime files
 * left by a run that crashed are removed, and we say so.
 */
static int claim_instance(struct loader *ld)
{
	const char *inst = ld->cfg.instance;
	pid_t owner;

	snprintf(ld->run_dir, sizeof(ld->run_dir), "%s/%s", QS_RUN_ROOT, inst);
	snprintf(ld->pid_file, sizeof(ld->pid_file), "%s/quicsteerd.pid", ld->run_dir);
	owner = read_pid_file(ld->pid_file);
	if (owner && owner != getpid() && pid_is_quicsteerd(owner)) {
		pr_warn("instance '%s' is already running (pid %d): stop it first "
			"(kill -TERM %d) or start this one with another --instance",
			inst, (int)owner, (int)owner);
		return -EEXIST;
	}
	if (qs_bpf_pins_exist(inst)) {
		pr_warn("removing stale pins of instance '%s' in %s/%s left by a run that "
			"did not stop cleanly%s", inst, QS_PIN_ROOT, inst,
			owner ? "" : " (no live owner)");
		if (qs_bpf_remove_pins(inst))
			return -EIO;
	}
	if (mkdir(QS_RUN_ROOT, 0755) && errno != EEXIST) {
		pr_warn("cannot create %s: %s", QS_RUN_ROOT, strerror(errno));
		return -errno;
	}
	if (mkdir(ld->run_dir, 0755) && errno != EEXIST) {
		pr_warn("cannot create %s: %s", ld->run_dir, strerror(errno));
		return -errno;
	}
	return 0;
}

static int write_pid_file(struct loader *ld)
{
	FILE *f = fopen(ld->pid_file, "we");

	if (!f) {
		pr_warn("cannot write %s: %s", ld->pid_file, strerror(errno));
		return -errno;
	}
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
	return 0;
}

static void release_instance(struct loader *ld)
{
	char path[192];

	if (read_pid_file(ld->pid_file) == getpid()) {
		unlink(ld->pid_file);
		/* what a run before the control socket left */
		snprintf(path, sizeof(path), "%s/reload", ld->run_dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/upgrade", ld->run_dir);
		unlink(path);
	}
	rmdir(ld->run_dir);
	rmdir(QS_RUN_ROOT);
}

/* Children keep only their own sockets and the shared mappings. */
static void close_in_child(void *arg, const struct qs_worker_slot *keep)
{
	struct loader *ld = arg;

	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++) {
		const struct qs_worker_slot *s = &ld->sv.slots[i];

		if (!s->used || s == keep)
			continue;
		for (unsigned l = 0; l < s->n_fds; l++)
			close(s->fds[l]);
		for (unsigned l = 0; l < s->n_tcp_fds; l++)
			close(s->tcp_fds[l]);
	}
	/* a worker never touches BPF objects: the counters mmap stays mapped */
	qs_bpf_close_fds();
	if (ld->ready_fd >= 0)
		close(ld->ready_fd);
	qs_upgrade_close_in_child(ld);
	close(ld->strike->fd);	/* the mappings stay: a binary upgrade's handles */
	close(ld->tokens->fd);
	if (ld->metrics.fd >= 0)
		close(ld->metrics.fd);
	qs_textconn_close_fds(ld->metrics.c, QS_METRICS_CLIENTS);
	qs_control_close_fds(&ld->ctl);
	qs_pool_close(&ld->pool);
	qs_notify_close(&ld->notify);
	/*
	 * Secrets a worker only reads, read-only for good: a worker that runs
	 * hostile code cannot change the keys the others mint CIDs, seal
	 * tickets and validate tokens with.  Failing that, it must not run.
	 */
	if (qs_secret_readonly(ld->shared, sizeof(*ld->shared), ld->shared_fd, "the key area") ||
	    qs_secret_readonly(ld->keys.shm, sizeof(*ld->keys.shm), ld->keys.shm_fd,
			       "the ticket keys"))
		_exit(1);
}

static int install_cid_key(struct loader *ld)
{
	struct qs_cid_key key = { .installed = 1 };
	struct qs_shared *sh = ld->shared;
	int ret;

	unsigned char secret[sizeof(sh->static_secret)];

	if (getrandom(&key.k0, sizeof(key.k0), 0) != sizeof(key.k0) ||
	    getrandom(&key.k1, sizeof(key.k1), 0) != sizeof(key.k1) ||
	    getrandom(secret, sizeof(secret), 0) != sizeof(secret)) {
		pr_warn("getrandom: %s", strerror(errno));
		return -errno;
	}
	qs_shared_write_begin(sh);
	memcpy(sh->static_secret, secret, sizeof(secret));
	explicit_bzero(secret, sizeof(secret));
	sh->cur_config = 0;
	memcpy(sh->server_id, ld->cfg.server_id, sizeof(sh->server_id));
	sh->server_id_len = ld->cfg.server_id_len;
	sh->cid_keys[0] = key;
	qs_shared_write_end(sh);
	ret = qs_bpf_set_key(&ld->bpf, 0, &key);
	explicit_bzero(&key, sizeof(key));
	return ret;
}

/* On reload (gen > 0 or not the first): the group exists, the program is on it. */
static int open_sockets(struct loader *ld, unsigned gen, bool reload)
{
	struct qs_config *cfg = &ld->cfg;
	int ret;

	for (unsigned l = 0; l < cfg->n_listen && !reload; l++) {
		ret = qs_socket_check_free(&cfg->listen[l]);
		if (ret)
			return ret;
	}
	for (unsigned w = 0; w < cfg->workers; w++) {
		struct qs_worker_slot *s = &ld->sv.slots[gen * QS_MAX_WORKERS + w];

		/* a fresh slot: nothing of its last generation (crash counts) carries over */
		*s = (struct qs_worker_slot){ .used = true, .gen = gen, .id = w };
		for (unsigned l = 0; l < cfg->n_listen; l++) {
			int fd = qs_socket_open(&cfg->listen[l], cfg->rcvbuf);

			if (fd < 0)
				return fd;
			s->fds[l] = fd;
			s->n_fds = l + 1;
			if (cfg->tcp) {
				int tfd = qs_tcp_socket_open(&cfg->listen[l], w == 0 && !reload);

				if (tfd < 0)
					return tfd;
				s->tcp_fds[l] = tfd;
				s->n_tcp_fds = l + 1;
				if (ld->bpf.tcp) {
					if (w == 0 && !reload &&
					    (ret = qs_bpf_attach_tcp(&ld->bpf, l, tfd,
								     cfg->listen[l].text)))
						return ret;
					ret = qs_bpf_set_tcp_socket(&ld->bpf, l, gen, w, tfd,
								    cfg->listen[l].text);
					if (ret)
						return ret;
				}
			}
			if (cfg->steering) {
				if (w == 0 && !reload &&
				    (ret = qs_bpf_attach(&ld->bpf, l, fd, cfg->listen[l].text)))
					return ret;
				ret = qs_bpf_set_socket(&ld->bpf, l, gen, w, fd,
							cfg->listen[l].text);
				if (ret)
					return ret;
			}
		}
	}
	return 0;
}

/* A worker of a retired generation is gone: its sockets leave the group. */
static void retired(void *arg, struct qs_worker_slot *s)
{
	struct loader *ld = arg;

	for (unsigned l = 0; l < s->n_fds; l++) {
		if (ld->cfg.steering)
			qs_bpf_clear_socket(&ld->bpf, l, s->gen, s->id);
		close(s->fds[l]);
	}
	for (unsigned l = 0; l < s->n_tcp_fds; l++) {
		if (ld->bpf.tcp)
			qs_bpf_clear_tcp_socket(&ld->bpf, l, s->gen, s->id);
		close(s->tcp_fds[l]);
	}
	s->n_fds = s->n_tcp_fds = 0;
	s->used = false;
}

static void close_sockets(struct loader *ld)
{
	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++) {
		struct qs_worker_slot *s = &ld->sv.slots[i];

		for (unsigned l = 0; l < s->n_fds; l++)
			close(s->fds[l]);
		for (unsigned l = 0; l < s->n_tcp_fds; l++)
			close(s->tcp_fds[l]);
		s->n_fds = s->n_tcp_fds = 0;
		s->used = false;
	}
}

/*
 * Without --foreground: fork, let the parent wait until the child reports
 * ready (or an error) so `quicsteerd` exits 0 only when it serves.
 */
static int daemonize(struct loader *ld)
{
	int p[2];
	pid_t pid;
	char status = 1;

	if (pipe2(p, O_CLOEXEC)) {
		pr_warn("pipe: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		pr_warn("fork: %s", strerror(errno));
		return -errno;
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &status, 1) != 1)
			status = 1;
		if (status == 0)
			printf("quicsteerd: instance '%s' running, pid file %s\n",
			       ld->cfg.instance, ld->pid_file);
		else
			fprintf(stderr, "quicsteerd: failed to start; see %s\n",
				ld->cfg.log_file);
		fflush(stdout);
		_exit(status);
	}
	close(p[0]);
	ld->ready_fd = p[1];
	setsid();
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		dup2(devnull, STDERR_FILENO);
		close(devnull);
	}
	return 0;
}

static void report_ready(struct loader *ld, char status)
{
	if (ld->ready_fd < 0)
		return;
	if (write(ld->ready_fd, &status, 1) != 1)
		pr_debug("the starting parent is gone");
	close(ld->ready_fd);
	ld->ready_fd = -1;
}

/*
 * The outcome of a reload: kept for status and metrics, told to the
 * quicsteerctl clients waiting for it and to systemd (READY=1 ends the
 * RELOADING=1 the reload began with, whatever the outcome).
 */
static void reload_done(struct loader *ld, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reload_done(struct loader *ld, bool ok, const char *fmt, ...)
{
	struct qs_reload *rl = &ld->rl;
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rl->last, sizeof(rl->last), fmt, ap);
	va_end(ap);
	rl->last_ok = ok;
	rl->last_at = time(NULL);
	if (ok)
		rl->ok++;
	else
		rl->failed++;
	qs_control_complete(&ld->ctl, QS_CONTROL_WAIT_RELOAD, ok, rl->last);
	qs_loader_status_line(ld, line, sizeof(line));
	if (!ok)	/* the error stays in systemctl status until the next line */
		snprintf(line, sizeof(line), "reload %.*s", (int)sizeof(line) - 8, rl->last);
	qs_notify_status(&ld->notify, line);
	qs_notify_send(&ld->notify, "READY=1");
}

/*
 * SIGHUP: a new generation of workers, with the certificate, key and
 * docroot read again, on new sockets in the same reuseport groups; once
 * every one of them serves (reload_commit), new connections go to them,
 * every CID of the old generation still reaches its worker, and the old
 * workers send GOAWAY, drain (up to --drain-timeout) and exit.  Anything
 * that fails leaves the running generation as it was.
 */
void qs_loader_reload(struct loader *ld)
{
	struct qs_config *cfg = &ld->cfg;
	struct qs_reload *rl = &ld->rl;
	unsigned old = ld->gen, gen = (old + 1) % QS_MAX_GENS;
	struct qs_docroot docroot = QS_DOCROOT_INIT;
	SSL_CTX *ctx, *tcp_ctx = NULL;
	int ret;

	if (rl->pending) {
		pr_info("reload: generation %u is starting already; its outcome answers this "
			"request too", rl->gen);
		return;
	}
	qs_notify_reloading(&ld->notify);
	qs_keys_reload(&ld->keys);
	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++)
		if (ld->sv.slots[i].used && ld->sv.slots[i].gen != old) {
			pr_warn("reload refused: generation %u is still draining (at most %u s); "
				"send SIGHUP again when it is gone", ld->sv.slots[i].gen,
				cfg->drain_timeout_ms / 1000 + 5);
			reload_done(ld, false, "refused: generation %u is still draining (at most "
				    "%u s); try again when it is gone", ld->sv.slots[i].gen,
				    cfg->drain_timeout_ms / 1000 + 5);
			return;
		}
	qs_logs_prepare(cfg, ld->sv.uid, ld->sv.gid);	/* the new workers open it; said if not */
	ctx = qs_tls_ctx_new(cfg->cert, cfg->key);
	if (ctx && cfg->tcp && !(tcp_ctx = qs_tls_tcp_ctx_new(cfg->cert, cfg->key))) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	if (!ctx) {
		pr_warn("reload refused: the certificate or key is unusable (above); "
			"generation %u keeps serving", old);
		reload_done(ld, false, "refused: the certificate %s or key %s is unusable (see "
			    "the log); generation %u keeps serving", cfg->cert, cfg->key, old);
		return;
	}
	ret = qs_docroot_open(&docroot, cfg->docroot);
	if (ret) {
		SSL_CTX_free(ctx);
		SSL_CTX_free(tcp_ctx);
		pr_warn("reload refused: generation %u keeps serving", old);
		reload_done(ld, false, "refused: the docroot %s: %s; generation %u keeps serving",
			    cfg->docroot, strerror(-ret), old);
		return;
	}
	ret = open_sockets(ld, gen, true);
	if (ret)
		goto undo;
	rl->prev_ctx = ld->ssl_ctx;
	rl->prev_tcp_ctx = ld->tcp_ssl_ctx;
	rl->prev_docroot = ld->docroot;
	ld->ssl_ctx = ld->sv.ssl_ctx = ctx;
	ld->tcp_ssl_ctx = ld->sv.tcp_ssl_ctx = tcp_ctx;
	ld->docroot = docroot;
	for (unsigned w = 0; w < cfg->workers && !ret; w++)
		ret = qs_supervisor_start(&ld->sv, &ld->sv.slots[gen * QS_MAX_WORKERS + w]);
	if (ret) {
		ld->ssl_ctx = ld->sv.ssl_ctx = rl->prev_ctx;
		ld->tcp_ssl_ctx = ld->sv.tcp_ssl_ctx = rl->prev_tcp_ctx;
		ld->docroot = rl->prev_docroot;
		ctx = NULL;
		tcp_ctx = NULL;	/* as ctx */
		for (unsigned w = 0; w < cfg->workers; w++)
			qs_supervisor_retire(&ld->sv, &ld->sv.slots[gen * QS_MAX_WORKERS + w], 0);
		goto undo;
	}
	rl->pending = true;
	rl->gen = gen;
	rl->deadline_ms = qs_now_ms() + SERVE_TIMEOUT_MS;
	pr_debug("reload: generation %u starts; the steering switches once it serves", gen);
	return;
undo:
	for (unsigned w = 0; w < QS_MAX_WORKERS; w++) {
		struct qs_worker_slot *s = &ld->sv.slots[gen * QS_MAX_WORKERS + w];

		if (s->used && !s->pid && !s->retiring)
			retired(ld, s);
	}
	if (ctx)
		SSL_CTX_free(ctx);
	SSL_CTX_free(tcp_ctx);
	if (ld->docroot.dirfd != docroot.dirfd)
		qs_docroot_close(&docroot);
	pr_warn("reload failed: generation %u keeps serving", old);
	reload_done(ld, false, "failed: %s (see the log); generation %u keeps serving",
		    strerror(ret < 0 ? -ret : ret), old);
}

/*
 * A reload whose generation did not come to serve: its workers go (their
 * sockets with them, from retired()), the running generation keeps the
 * certificate and docroot it had.
 */
static void reload_undo(struct loader *ld, const char *why)
{
	struct qs_reload *rl = &ld->rl;

	rl->pending = false;
	for (unsigned w = 0; w < ld->cfg.workers; w++) {
		struct qs_worker_slot *s = &ld->sv.slots[rl->gen * QS_MAX_WORKERS + w];

		if (s->used && !s->retiring)
			qs_supervisor_retire(&ld->sv, s, 1000);
	}
	SSL_CTX_free(ld->ssl_ctx);
	SSL_CTX_free(ld->tcp_ssl_ctx);
	qs_docroot_close(&ld->docroot);
	ld->ssl_ctx = ld->sv.ssl_ctx = rl->prev_ctx;
	ld->tcp_ssl_ctx = ld->sv.tcp_ssl_ctx = rl->prev_tcp_ctx;
	ld->docroot = rl->prev_docroot;
	pr_warn("reload failed: %s; generation %u keeps serving", why, ld->gen);
	reload_done(ld, false, "failed: %s (see the log); generation %u keeps serving", why,
		    ld->gen);
}

/* Every worker of the reload's generation serves: new connections go to it. */
static void reload_commit(struct loader *ld)
{
	struct qs_config *cfg = &ld->cfg;
	struct qs_reload *rl = &ld->rl;
	struct qs_steer_state st = { 0 };
	unsigned old = ld->gen;
	int ret;

	st.cur_gen = rl->gen;
	st.cur_config = 0;
	st.live[rl->gen] = cfg->workers;
	ret = qs_bpf_set_state(&ld->bpf, &st);
	if (ret) {
		char why[128];

		/* new flows still go to the old generation: it keeps serving */
		snprintf(why, sizeof(why), "cannot switch the steering state: %s",
			 strerror(-ret));
		reload_undo(ld, why);
		return;
	}
	rl->pending = false;
	/* the workers have their copies: the loader keeps only the new ones */
	SSL_CTX_free(rl->prev_ctx);
	SSL_CTX_free(rl->prev_tcp_ctx);
	qs_docroot_close(&rl->prev_docroot);
	rl->prev_ctx = rl->prev_tcp_ctx = NULL;
	ld->gen = rl->gen;
	/* the old generation drains from serve(), once new connections go elsewhere */
	ld->retire_at_ms = qs_now_ms() + RELOAD_SETTLE_MS;
	pr_info("reload: generation %u (%u workers) takes new connections; generation %u "
		"drains (GOAWAY, up to %u s)", ld->gen, cfg->workers, old,
		cfg->drain_timeout_ms / 1000);
	reload_done(ld, true, "ok: generation %u (%u workers) takes new connections; "
		    "generation %u drains (up to %u s)", ld->gen, cfg->workers, old,
		    cfg->drain_timeout_ms / 1000);
}

/* The worker counters (steer.h), in the order of struct qs_worker_stats. */
#define W(f, help) { #f, offsetof(struct qs_worker_stats, f), help }
static const struct { const char *name; size_t off; const char *help; } worker_metrics[] = {
	W(starts, "times the loader (re)started this worker"),
	W(rx_datagrams, "datagrams received"),
	W(rx_bytes, "bytes received"),
	W(rx_short, "short-header packets"),
	W(rx_long, "long-header packets"),
	W(rx_cid_own, "DCID decodes to this (gen, worker)"),
	W(rx_cid_foreign, "DCID decodes to another (gen, worker)"),
	W(rx_cid_other, "DCID is not one of ours"),
	W(rx_malformed, "empty or truncated datagrams"),
	W(conn_accepted, "connections created from a client Initial"),
	W(conn_closed, "connections closed"),
	W(conn_active, "connections open"),
	W(handshakes, "handshakes completed"),
	W(migrations, "path validations that succeeded (client moved)"),
	W(stateless_resets, "stateless resets sent"),
	W(retries, "Retry packets sent"),
	W(version_negotiations, "Version Negotiation packets sent"),
	W(tokens_rejected, "Retry / NEW_TOKEN tokens that failed to verify"),
	W(conn_refused, "Initials refused: --max-connections reached"),
	W(req_2xx, "responses 2xx"),
	W(req_3xx, "responses 3xx"),
	W(req_4xx, "responses 4xx"),
	W(req_5xx, "responses 5xx"),
	W(tx_datagrams, "datagrams sent"),
	W(tx_bytes, "bytes sent"),
	W(rx_dropped, "datagrams the server could not use"),
	W(hs_full, "handshakes completed without resumption"),
	W(hs_resumed, "handshakes that resumed a ticket"),
	W(tickets_issued, "session tickets issued"),
	W(ticket_unknown_key, "tickets with no key of that name"),
	W(ticket_expired, "tickets older than the ticket lifetime"),
	W(ticket_corrupt, "tickets with a bad MAC or encoding"),
	W(early_offered, "ClientHellos with early data"),
	W(early_accepted, "0-RTT accepted"),
	W(early_rej_replay, "0-RTT refused: the host saw this ClientHello before"),
	W(early_rej_settings, "0-RTT refused: the ticket remembers larger limits"),
	W(early_rej_policy, "0-RTT refused: --early-data off"),
	W(early_rej_host, "0-RTT refused: ticket issued by another host (or before a restart)"),
	W(early_rej_other, "0-RTT refused: other reasons"),
	W(req_early, "requests run before the handshake completed"),
	W(req_deferred, "unsafe 0-RTT requests held until the handshake"),
	W(req_too_early, "unsafe 0-RTT requests answered 425"),
	W(php_retries, "PHP requests sent again: php-fpm closed a kept-alive connection"),
	W(req_rate_limited, "PHP requests answered 429: the client is over --rate-limit"),
	W(php_finishers, "PHP scripts learnt to answer early and run on: their FastCGI "
	  "connections are not kept"),
	W(conn_unvalidated, "connections whose client address is not validated yet"),
	W(hs_timeout, "connections dropped: no handshake within --handshake-timeout"),
	W(hs_evicted, "half-open connections dropped to make room for a validated client"),
	W(retry_unvalidated, "Retry sent: unvalidated connections above --retry-unvalidated"),
	W(tokens_reused, "NEW_TOKEN tokens used before on this host: taken as no token"),
	W(req_header_timeouts, "streams reset: header block not complete in --client-header-timeout"),
	W(req_file_waits, "requests that waited for a file slot: --files-per-connection open"),
	W(req_resp_budget, "requests answered 503: the worker held --max-response-memory"),
	W(resp_held, "response bytes held for clients: queued, or sent and not acknowledged"),
	W(resp_compressed, "responses sent compressed by the server (--compress)"),
	W(compress_in, "bytes through the response encoders, before"),
	W(compress_out, "bytes through the response encoders, after (a static file's once a second)"),
	W(resp_precompressed, "static files answered with a precompressed variant"),
	W(tcp_accepted, "TCP connections accepted"),
	W(tcp_closed, "TCP connections closed"),
	W(tcp_active, "TCP connections open"),
	W(tcp_refused, "TCP connections closed at once: --max-tcp-connections reached"),
	W(tcp_hs_full, "TLS handshakes over TCP without resumption"),
	W(tcp_hs_resumed, "TLS handshakes over TCP that resumed a ticket"),
	W(tcp_hs_failed, "TLS handshakes over TCP that failed or timed out"),
	W(req_h1, "requests over HTTP/1.1"),
	W(req_h2, "requests over HTTP/2"),
	W(req_h3, "requests over HTTP/3"),
	W(h1_bad_requests, "HTTP/1.1 requests refused 400 and closed (syntax, smuggling)"),
	W(h2_floods, "HTTP/2 connections ended with GOAWAY for a frame flood"),
	W(access_log_dropped, "access log lines dropped: a write failed or was short (disk full)"),
};
#undef W
/* every counter of the struct but pid is exported: a new one needs its row */
_Static_assert(sizeof(worker_metrics) / sizeof(worker_metrics[0]) ==
	       (sizeof(struct qs_worker_stats) - sizeof(struct qs_php_time)) / sizeof(__u64) - 1,
	       "struct qs_worker_stats has a counter without a row in worker_metrics");
#define S(f, help) { #f, offsetof(struct qs_steer_stats, f), help }
static const struct { const char *name; size_t off; const char *help; } steer_metrics[] = {
	S(cid_routed, "datagrams with our CID, sent to the owner's socket"),
	S(new_flow, "long-header datagrams without our CID: hashed"),
	S(unroutable, "short-header datagrams whose DCID is not ours: hashed"),
	S(stale, "our CID, but its (gen, worker) has no socket: hashed"),
	S(malformed, "datagrams too short to parse"),
	S(select_failed, "hash path: no live worker or select error"),
};
#undef S
_Static_assert(sizeof(steer_metrics) / sizeof(steer_metrics[0]) == QS_STEER_COUNTERS,
	       "QS_STEER_COUNTERS is not the number of rows of steer_metrics");

const char *qs_steer_counter_name(size_t i)
{
	return steer_metrics[i].name;
}

int qs_loader_steer_totals(const struct loader *ld, unsigned long long sums[QS_STEER_COUNTERS])
{
	int ncpu = libbpf_num_possible_cpus(), zero = 0, ret = 0;
	struct qs_steer_stats *per;

	if (ld->bpf.stats_fd < 0)
		return -ENOENT;
	per = ncpu > 0 ? calloc((size_t)ncpu, sizeof(*per)) : NULL;
	if (!per)
		return -ENOMEM;
	if (bpf_map_lookup_elem(ld->bpf.stats_fd, &zero, per)) {
		ret = -errno;
	} else {
		for (size_t m = 0; m < QS_STEER_COUNTERS; m++) {
			sums[m] = 0;
			for (int c = 0; c < ncpu; c++)
				sums[m] += *(const uint64_t *)((const char *)&per[c] +
							       steer_metrics[m].off);
		}
	}
	free(per);
	return ret;
}

/*
 * The workers' php-fpm time histograms summed: every slot, in use or not,
 * so that the sums never go down when a generation retires (a slot's
 * counters live as long as the instance).
 */
static void php_time_metrics(const struct loader *ld, struct qs_mbuf *b)
{
	unsigned long long n[QS_PHP_TIME_BUCKETS] = { 0 }, sum_us = 0, cum = 0;

	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++) {
		const struct qs_php_time *h = &ld->bpf.workers[i].php_time;

		for (unsigned k = 0; k < QS_PHP_TIME_BUCKETS; k++)
			n[k] += __atomic_load_n(&h->bucket[k], __ATOMIC_RELAXED);
		sum_us += __atomic_load_n(&h->sum_us, __ATOMIC_RELAXED);
	}
	qs_mbuf_printf(b, "# HELP quicsteer_phpfpm_request_seconds php-fpm's time per PHP "
		       "request: from the request written to php-fpm to the end of its answer\n"
		       "# TYPE quicsteer_phpfpm_request_seconds histogram\n");
	for (unsigned k = 0; k < QS_PHP_TIME_BUCKETS; k++) {
		cum += n[k];
		if (k < QS_PHP_TIME_BUCKETS - 1)
			qs_mbuf_printf(b, "quicsteer_phpfpm_request_seconds_bucket{le=\"%g\"} %llu\n",
				       qs_php_time_bounds_us[k] / 1e6, cum);
		else
			qs_mbuf_printf(b, "quicsteer_phpfpm_request_seconds_bucket{le=\"+Inf\"} %llu\n",
				       cum);
	}
	qs_mbuf_printf(b, "quicsteer_phpfpm_request_seconds_sum %.6f\n"
		       "quicsteer_phpfpm_request_seconds_count %llu\n", sum_us / 1e6, cum);
}

/*
 * GET /metrics: Prometheus text of every worker slot in use and of the
 * steering program (summed over CPUs); GET /health: 200 when every worker
 * of the current generation runs its event loop, else 503 naming those
 * that do not: gone, stopped (SIGSTOP, a tracer) or not answering the
 * supervisor's probe.
 */
static int render_metrics(void *arg, const char *path, struct qs_mbuf *b)
{
	struct loader *ld = arg;
	const struct qs_worker_slot *sl = ld->sv.slots;
	unsigned long long sums[QS_STEER_COUNTERS];

	if (!strcmp(path, "/health")) {
		unsigned down = 0;

		for (unsigned w = 0; w < ld->cfg.workers; w++) {
			const struct qs_worker_slot *s = &sl[ld->gen * QS_MAX_WORKERS + w];
			long long since;

			switch (qs_supervisor_health(s, &since)) {
			case QS_WORKER_UP:
				continue;
			case QS_WORKER_DOWN:
				qs_mbuf_printf(b, "%sworker %u/%u is not running", down ? ", " : "",
					       ld->gen, w);
				break;
			case QS_WORKER_STOPPED:
				qs_mbuf_printf(b, "%sworker %u/%u (pid %d) is stopped",
					       down ? ", " : "", ld->gen, w, (int)s->pid);
				break;
			case QS_WORKER_HUNG:
				qs_mbuf_printf(b, "%sworker %u/%u (pid %d) has not answered for %lld s",
					       down ? ", " : "", ld->gen, w, (int)s->pid,
					       since / 1000);
				break;
			}
			down++;
		}
		if (ld->cfg.fastcgi == QS_FASTCGI_MANAGED && ld->phpfpm.pid <= 0) {
			qs_mbuf_printf(b, "%sphp-fpm is not running", down ? ", " : "");
			down++;
		}
		qs_mbuf_printf(b, "%s\n", down ? "" : "ok");
		return down ? 503 : 200;
	}
	if (strcmp(path, "/metrics")) {
		qs_mbuf_printf(b, "not found: try /metrics or /health\n");
		return 404;
	}
	for (size_t m = 0; m < sizeof(worker_metrics) / sizeof(worker_metrics[0]); m++) {
		bool gauge = !strcmp(worker_metrics[m].name, "conn_active") ||
			     !strcmp(worker_metrics[m].name, "conn_unvalidated") ||
			     !strcmp(worker_metrics[m].name, "resp_held") ||
			     !strcmp(worker_metrics[m].name, "tcp_active");

		qs_mbuf_printf(b, "# HELP quicsteer_worker_%s%s %s\n# TYPE quicsteer_worker_%s%s %s\n",
			       worker_metrics[m].name, gauge ? "" : "_total", worker_metrics[m].help,
			       worker_metrics[m].name, gauge ? "" : "_total",
			       gauge ? "gauge" : "counter");
		for (unsigned i = 0; i < QS_WORKER_SLOTS; i++) {
			const uint64_t *v;

			if (!sl[i].used)
				continue;
			v = (const uint64_t *)((const char *)&ld->bpf.workers[i] + worker_metrics[m].off);
			qs_mbuf_printf(b, "quicsteer_worker_%s%s{gen=\"%u\",worker=\"%u\"} %llu\n",
				       worker_metrics[m].name, gauge ? "" : "_total", sl[i].gen,
				       sl[i].id, (unsigned long long)__atomic_load_n(v, __ATOMIC_RELAXED));
		}
	}
	qs_mbuf_printf(b, "# HELP quicsteer_worker_up 1 while the worker's process runs\n"
		       "# TYPE quicsteer_worker_up gauge\n");
	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++)
		if (sl[i].used)
			qs_mbuf_printf(b, "quicsteer_worker_up{gen=\"%u\",worker=\"%u\"} %d\n",
				       sl[i].gen, sl[i].id, sl[i].pid > 0);
	qs_mbuf_printf(b, "# HELP quicsteer_generation the generation that takes new connections\n"
		       "# TYPE quicsteer_generation gauge\nquicsteer_generation %u\n", ld->gen);
	if (qs_loader_steer_totals(ld, sums) == 0)
		for (size_t m = 0; m < QS_STEER_COUNTERS; m++)
			qs_mbuf_printf(b, "# HELP quicsteer_steer_%s_total %s\n"
				       "# TYPE quicsteer_steer_%s_total counter\n"
				       "quicsteer_steer_%s_total %llu\n", steer_metrics[m].name,
				       steer_metrics[m].help, steer_metrics[m].name,
				       steer_metrics[m].name, sums[m]);
	qs_mbuf_printf(b, "# HELP quicsteer_reloads_total reloads by outcome: ok, or failed "
		       "(refused or undone: the running generation kept serving)\n"
		       "# TYPE quicsteer_reloads_total counter\n"
		       "quicsteer_reloads_total{result=\"ok\"} %u\n"
		       "quicsteer_reloads_total{result=\"failed\"} %u\n"
		       "# HELP quicsteer_last_reload_success 1 when the last reload succeeded "
		       "(and before any)\n# TYPE quicsteer_last_reload_success gauge\n"
		       "quicsteer_last_reload_success %d\n"
		       "# HELP quicsteer_last_reload_timestamp_seconds unix time of the last "
		       "reload's outcome, 0 before any\n"
		       "# TYPE quicsteer_last_reload_timestamp_seconds gauge\n"
		       "quicsteer_last_reload_timestamp_seconds %lld\n",
		       ld->rl.ok, ld->rl.failed, !ld->rl.last_at || ld->rl.last_ok,
		       (long long)ld->rl.last_at);
	if (ld->cfg.fastcgi == QS_FASTCGI_MANAGED)
		qs_mbuf_printf(b, "# HELP quicsteer_phpfpm_up 1 while the managed php-fpm runs\n"
			       "# TYPE quicsteer_phpfpm_up gauge\nquicsteer_phpfpm_up %d\n"
			       "# HELP quicsteer_phpfpm_restarts_total times the loader restarted php-fpm\n"
			       "# TYPE quicsteer_phpfpm_restarts_total counter\n"
			       "quicsteer_phpfpm_restarts_total %u\n",
			       ld->phpfpm.pid > 0, ld->phpfpm.restarts);
	if (ld->cfg.fastcgi != QS_FASTCGI_OFF) {
		php_time_metrics(ld, b);
		qs_pool_metrics(&ld->pool, b);
	}
	qs_upgrade_metrics(ld, b);
	return 200;
}

/* The generations before the current one drain (GOAWAY, TCP listeners shut). */
static void retire_old(struct loader *ld)
{
	ld->retire_at_ms = 0;
	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++) {
		struct qs_worker_slot *s = &ld->sv.slots[i];

		if (s->used && s->gen != ld->gen && !s->retiring)
			qs_supervisor_retire(&ld->sv, s, (int)ld->cfg.drain_timeout_ms + 5000);
	}
}

static void other_child(void *arg, pid_t pid, int status, bool stopping)
{
	struct loader *ld = arg;

	qs_phpfpm_reaped(&ld->phpfpm, pid, status, stopping);
}

/* SIGUSR1, quicsteerctl reopen-logs: for logrotate, after it moved the files. */
int qs_loader_reopen_logs(struct loader *ld)
{
	int ret = 0, told = 0;

	if (ld->cfg.log_file[0]) {
		ret = qs_log_open_file(ld->cfg.log_file);
		if (ret)
			pr_warn("cannot reopen the log file %s: %s; logging on to the file open "
				"before", ld->cfg.log_file, strerror(-ret));
		else
			pr_info("log file %s reopened", ld->cfg.log_file);
	}
	/* logrotate moved the access log: a new one for the workers to open by name */
	qs_logs_prepare(&ld->cfg, ld->sv.uid, ld->sv.gid);
	/* the workers reopen theirs (they take SIGUSR1 on their signalfd) */
	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++)
		if (ld->sv.slots[i].used && ld->sv.slots[i].pid > 0 &&
		    kill(ld->sv.slots[i].pid, SIGUSR1) == 0)
			told++;
	return ret ? ret : told;
}

/*
 * What waits for workers to serve: the first generation (readiness: the
 * daemon's parent, systemd's READY=1) and a reload's generation (the
 * steering switch).  Neither may wait forever.
 */
static int check_serving(struct loader *ld)
{
	long long now = qs_now_ms();
	char line[256];

	if (!ld->ready) {
		if (qs_supervisor_gen_serving(&ld->sv, 0, ld->cfg.workers)) {
			ld->ready = true;
			pr_info("all %u workers serve", ld->cfg.workers);
			report_ready(ld, 0);
			qs_loader_status_line(ld, line, sizeof(line));
			qs_notify_status(&ld->notify, line);
			/* daemonized: the parent that systemd started is gone */
			snprintf(line, sizeof(line), "READY=1\nMAINPID=%d", (int)getpid());
			qs_notify_send(&ld->notify, ld->cfg.foreground ? "READY=1" : line);
		} else if (now >= ld->ready_deadline_ms) {
			pr_warn("the workers did not all serve within %d s of the start (their "
				"errors are above): stopping", SERVE_TIMEOUT_MS / 1000);
			return -ETIMEDOUT;
		}
	}
	if (ld->rl.pending) {
		if (qs_supervisor_gen_serving(&ld->sv, ld->rl.gen, ld->cfg.workers)) {
			reload_commit(ld);
		} else if (now >= ld->rl.deadline_ms) {
			char why[96];

			snprintf(why, sizeof(why), "the workers of generation %u did not all serve "
				 "within %d s", ld->rl.gen, SERVE_TIMEOUT_MS / 1000);
			reload_undo(ld, why);
		}
	}
	return 0;
}

/* The sooner of two poll timeouts in ms (-1: none). */
static int earliest(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* ms from now until at, as a poll timeout: 0 once it is past (never -1). */
static int until(long long at, long long now)
{
	return at <= now ? 0 : at - now > 3600000 ? 3600000 : (int)(at - now);
}

static int serve(struct loader *ld)
{
	long long next_status_ms = 0;
	sigset_t mask;
	int sfd, ret = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGCHLD);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		pr_warn("signalfd: %s", strerror(errno));
		return -errno;
	}
	for (;;) {
		struct pollfd pfd[4 + QS_METRICS_CLIENTS + QS_CONTROL_CLIENTS] = {
			{ .fd = sfd, .events = POLLIN } };
		int timeout = qs_supervisor_tick(&ld->sv);
		int nm = qs_metrics_pollfds(&ld->metrics, pfd + 1);
		int nc = qs_control_pollfds(&ld->ctl, pfd + 1 + nm);
		int np;
		struct signalfd_siginfo si;
		long long now;

		ret = check_serving(ld);
		if (ret)
			break;
		now = qs_now_ms();
		if (ld->notify.fd >= 0 && ld->ready && now >= next_status_ms) {
			char line[256];

			qs_loader_status_line(ld, line, sizeof(line));
			if (ld->rl.last_ok || !ld->rl.last_at)
				qs_notify_status(&ld->notify, line);
			next_status_ms = now + NOTIFY_STATUS_MS;
		}
		timeout = earliest(timeout, qs_phpfpm_tick(&ld->phpfpm));
		/* the managed pool's state needs no query while it is not running */
		if (ld->cfg.fastcgi == QS_FASTCGI_MANAGED && ld->phpfpm.pid <= 0)
			qs_pool_down(&ld->pool, "php-fpm is not running (the loader restarts it)");
		else
			timeout = earliest(timeout, qs_pool_tick(&ld->pool));
		np = qs_pool_pollfds(&ld->pool, pfd + 1 + nm + nc);
		timeout = earliest(timeout, qs_keys_tick(&ld->keys));
		timeout = earliest(timeout, qs_metrics_timeout(&ld->metrics));
		timeout = earliest(timeout, qs_control_timeout(&ld->ctl));
		if (ld->notify.fd >= 0 && ld->ready)
			timeout = earliest(timeout, until(next_status_ms, now));
		if (!ld->ready)
			timeout = earliest(timeout, until(ld->ready_deadline_ms, now));
		if (ld->rl.pending)
			timeout = earliest(timeout, until(ld->rl.deadline_ms, now));
		if (ld->retire_at_ms)
			timeout = earliest(timeout, until(ld->retire_at_ms, now));

		if (poll(pfd, (nfds_t)(1 + nm + nc + np), timeout) < 0) {
			if (errno != EINTR) {
				pr_warn("poll: %s", strerror(errno));
				ret = -EIO;
				break;
			}
			nm = nc = np = 0;
		}
		qs_metrics_handle(&ld->metrics, pfd + 1, nm);
		qs_control_handle(&ld->ctl, pfd + 1 + nm, nc);
		qs_pool_handle(&ld->pool, pfd + 1 + nm + nc, np);
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			switch (si.ssi_signo) {
			case SIGCHLD:
				qs_supervisor_reap(&ld->sv, false);
				break;
			case SIGHUP:
				qs_loader_reload(ld);
				break;
			case SIGUSR1:
				qs_loader_reopen_logs(ld);
				break;
			case SIGUSR2: {	/* binary upgrade: returns only when it did not happen */
				char why[512];

				qs_upgrade(ld, NULL, -1, why, sizeof(why));
				break;
			}
			default:
				pr_info("%s: stopping", strsignal((int)si.ssi_signo));
				close(sfd);
				return 0;
			}
		}
		/* here, so that the next tick sees the retiring workers' deadlines */
		if (ld->retire_at_ms && ld->retire_at_ms <= qs_now_ms())
			retire_old(ld);
	}
	close(sfd);
	return ret;
}

int main(int argc, char **argv)
{
	struct loader ld = { .ready_fd = -1, .shared_fd = -1, .keys.shm_fd = -1, .notify.fd = -1,
			     .rl.prev_docroot = QS_DOCROOT_INIT,
			     .docroot = QS_DOCROOT_INIT };
	struct qs_config *cfg = &ld.cfg;
	struct qs_steer_state st = { 0 };
	struct passwd *pw;
	uid_t uid, php_uid = 0;
	gid_t gid, php_gid = 0;
	sigset_t mask;
	int ret;

	qs_metrics_init(&ld.metrics);
	qs_pool_init(&ld.pool);
	qs_upgrade_init(&ld, argc, argv);
	qs_control_init(&ld.ctl);
	ld.started_ms = qs_now_ms();
	ld.started_at = time(NULL);
	ret = qs_config_from_args(cfg, argc, argv);
	if (ret)
		return ret > 0 ? 0 : 2;
	qs_log_set_level(cfg->log_level);
	qs_log_set_json(cfg->log_json);
	qs_bpf_setup_logging();
	qs_guard_setup_logging();
	qs_notify_init(&ld.notify);	/* a bad NOTIFY_SOCKET is said, and not fatal */

	if (check_privileges(cfg))
		return 1;
	pw = getpwnam(cfg->user);
	if (!pw) {
		pr_warn("user '%s' for the workers does not exist: create it or pick "
			"another with --user", cfg->user);
		return 1;
	}
	/* copied: the next getpw* call overwrites *pw */
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (uid == 0)
		pr_warn("workers will run as root ('%s'): use an unprivileged --user",
			cfg->user);
	if (cfg->fastcgi == QS_FASTCGI_MANAGED &&
	    qs_phpfpm_user(cfg, uid, &php_uid, &php_gid))
		return 1;
	if (cfg->check_config)	/* on stderr, never the instance's log: it is not ours */
		return qs_upgrade_check(cfg) ? 1 : 0;
	if (!cfg->foreground && !cfg->log_file[0]) {
		mkdir(QS_LOG_ROOT, 0750);
		snprintf(cfg->log_file, sizeof(cfg->log_file), "%s/%s.log",
			 QS_LOG_ROOT, cfg->instance);
	}
	if (cfg->log_file[0] && (ret = qs_log_open_file(cfg->log_file))) {
		pr_warn("cannot open log file %s: %s", cfg->log_file, strerror(-ret));
		return 1;
	}
	qs_log_tee_stderr(!cfg->foreground);
	if (qs_logs_prepare(cfg, uid, gid))
		return 1;
	qs_raise_nofile(cfg);	/* short of it, a warning: the workers answer 503 when out */
	/* a binary upgrade: the instance is ours already, and a daemon */
	if (!cfg->upgrade_state && claim_instance(&ld))
		return 1;
	if (!cfg->foreground && !cfg->upgrade_state && daemonize(&ld))
		return 1;

	/* from here on signals arrive through the signalfd only */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* as root, before any worker drops privileges: the key may be root-only */
	ld.ssl_ctx = qs_tls_ctx_new(cfg->cert, cfg->key);
	if (ld.ssl_ctx && cfg->tcp && !(ld.tcp_ssl_ctx = qs_tls_tcp_ctx_new(cfg->cert, cfg->key))) {
		SSL_CTX_free(ld.ssl_ctx);
		ld.ssl_ctx = NULL;
	}
	if (!ld.ssl_ctx) {
		ret = -EINVAL;
		goto out;
	}
	ret = qs_docroot_open(&ld.docroot, cfg->docroot);
	if (ret)
		goto out;
	if (cfg->upgrade_state) {
		/* the pins, sockets, shared memory and workers of the previous binary */
		ret = qs_upgrade_adopt(&ld);
		if (ret)
			goto out;
		goto adopted;
	}

	ret = qs_bpf_probe(cfg->steering);
	if (ret)
		goto out;
	ret = qs_bpf_load(&ld.bpf, cfg->n_listen, cfg->steering, cfg->tcp);
	if (ret)
		goto out;
	ret = qs_bpf_pin(&ld.bpf, cfg->instance);
	if (ret)
		goto out;
	ld.shared = qs_shared_create(&ld.shared_fd);
	if (!ld.shared) {
		ret = -errno;
		pr_warn("cannot map shared memory for the workers: %s", strerror(errno));
		goto out;
	}
	ret = install_cid_key(&ld);
	if (ret)
		goto out;
	ret = qs_keys_init(&ld.keys, cfg, ld.run_dir);
	if (ret)
		goto out;
	/* 2^19 ClientHellos in 20 s (26k 0-RTT handshakes/s), 4 MB */
	ld.strike = qs_strike_create(1u << 19);
	if (!ld.strike) {
		ret = -ENOMEM;
		pr_warn("cannot map the 0-RTT anti-replay register: %s", strerror(errno));
		goto out;
	}
	/*
	 * 2^21 tokens an hour (580 returning clients a second), 16 MB; beyond
	 * that a full bucket refuses and the token counts as absent: the
	 * client is taken as unvalidated, at worst one Retry round trip.
	 */
	ld.tokens = qs_strike_create_ttl(1u << 21, QS_NEW_TOKEN_TTL);
	if (!ld.tokens) {
		ret = -ENOMEM;
		pr_warn("cannot map the NEW_TOKEN register: %s", strerror(errno));
		goto out;
	}
	ret = open_sockets(&ld, 0, false);
	if (ret)
		goto out;
	st.cur_gen = 0;
	st.cur_config = 0;
	st.live[0] = cfg->workers;
	ret = qs_bpf_set_state(&ld.bpf, &st);
	if (ret)
		goto out;
	/* after the sockets, so what it passes has somewhere to go */
	if (cfg->n_xdp_guard)
		ret = qs_guard_start(&ld.guard, cfg, ld.bpf.pin_dir);
	else
		qs_guard_remove_stale(cfg->instance);	/* a crashed run's guard */
	if (ret)
		goto out;

adopted:
	/*
	 * 2^18 clients, 2 MB: beyond that a busy bucket lets requests through.
	 * After a binary upgrade a new one: the counts start again.
	 */
	if (cfg->rate_per_s) {
		ld.rate = qs_rate_create(1u << 18, cfg->rate_per_s, cfg->rate_burst);
		if (!ld.rate) {
			ret = -ENOMEM;
			pr_warn("cannot map the --rate-limit table: %s", strerror(errno));
			goto out;
		}
	}
	if (cfg->fastcgi == QS_FASTCGI_MANAGED) {
		ret = qs_phpfpm_prepare(&ld.phpfpm, cfg, ld.run_dir, uid, gid, php_uid, php_gid);
		if (!ret)
			ret = cfg->upgrade_state ? qs_upgrade_adopt_phpfpm(&ld) :
						   qs_phpfpm_start(&ld.phpfpm);
		if (ret)
			goto out;
		ret = qs_pool_setup(&ld.pool, cfg, ld.phpfpm.status_socket, QS_PHPFPM_STATUS_PATH);
	} else if (cfg->fastcgi != QS_FASTCGI_OFF) {
		ret = qs_pool_setup(&ld.pool, cfg, NULL, cfg->php_status_path);
	}
	if (ret)
		goto out;

	ld.sv.stats = ld.bpf.workers;
	ld.sv.shared = ld.shared;
	ld.sv.tickets = ld.keys.shm;
	ld.sv.strike = ld.strike;
	ld.sv.tokens = ld.tokens;
	ld.sv.rate = ld.rate;
	ld.sv.uid = uid;
	ld.sv.gid = gid;
	ld.sv.user = cfg->user;
	ld.sv.close_in_child = close_in_child;
	ld.sv.other_child = other_child;
	ld.sv.retired = retired;
	ld.sv.cfg = cfg;
	ld.sv.ssl_ctx = ld.ssl_ctx;
	ld.sv.tcp_ssl_ctx = ld.tcp_ssl_ctx;
	ld.sv.docroot = &ld.docroot;
	ld.sv.probe = cfg->metrics[0] != '\0';	/* for /health */
	ld.sv.cb_arg = &ld;
	for (unsigned w = 0; w < cfg->workers && !cfg->upgrade_state; w++) {
		ret = qs_supervisor_start(&ld.sv, &ld.sv.slots[w]);
		if (ret)
			goto out;
	}
	{
		char path[sizeof(ld.run_dir) + 8];

		snprintf(path, sizeof(path), "%s/control", ld.run_dir);
		ret = qs_control_open(&ld.ctl, path, qs_loader_command, &ld);
		if (ret)
			goto out;
	}
	ret = write_pid_file(&ld);
	if (ret)
		goto out;
	if (cfg->metrics[0]) {
		ret = qs_metrics_open(&ld.metrics, cfg->metrics, render_metrics, &ld);
		if (ret)
			goto out;
	}
	{
		char addrs[QS_MAX_LISTENERS * 82] = "";

		for (unsigned l = 0; l < cfg->n_listen; l++) {
			strcat(addrs, l ? " " : "");
			strcat(addrs, cfg->listen[l].text);
		}
		pr_info("instance '%s' serving HTTP/3 on udp %s%s%s from %s: %u workers as %s, "
			"steering %s, pins in %s", cfg->instance, addrs,
			cfg->tcp ? ", HTTPS on tcp " : "", cfg->tcp ? addrs : "", cfg->docroot,
			cfg->workers, cfg->user,
			cfg->steering == QS_STEER_ON ? "on (CID)" :
			cfg->steering == QS_STEER_OFF ? "off (SO_REUSEPORT hash)" :
			"baseline (empty program, kernel hash)",
			ld.bpf.pin_dir);
	}
	/* ready (the daemon's parent, systemd) once every worker serves: serve() */
	ld.ready_deadline_ms = qs_now_ms() + SERVE_TIMEOUT_MS;
	if (cfg->upgrade_state)	/* then the new binary's workers take over */
		qs_upgrade_finish(&ld);

	ret = serve(&ld);
out:
	if (ret)
		report_ready(&ld, 1);
	qs_notify_send(&ld.notify, "STOPPING=1");
	qs_control_complete(&ld.ctl, QS_CONTROL_WAIT_RELOAD, false,
			    "failed: the loader is stopping");
	qs_control_close(&ld.ctl);
	qs_guard_stop(&ld.guard);
	qs_metrics_close(&ld.metrics);
	qs_pool_close(&ld.pool);
	qs_supervisor_stop_all(&ld.sv, STOP_TIMEOUT_MS);
	if (cfg->fastcgi == QS_FASTCGI_MANAGED)
		qs_phpfpm_stop(&ld.phpfpm, STOP_TIMEOUT_MS);
	close_sockets(&ld);
	qs_bpf_destroy(&ld.bpf);
	qs_shared_destroy(ld.shared, ld.shared_fd);
	qs_keys_destroy(&ld.keys);
	qs_strike_destroy(ld.strike);
	qs_strike_destroy(ld.tokens);
	qs_rate_destroy(ld.rate);
	qs_docroot_close(&ld.docroot);
	if (ld.ssl_ctx)
		SSL_CTX_free(ld.ssl_ctx);
	SSL_CTX_free(ld.tcp_ssl_ctx);
	SSL_CTX_free(ld.rl.prev_ctx);	/* a reload was starting */
	SSL_CTX_free(ld.rl.prev_tcp_ctx);
	qs_docroot_close(&ld.rl.prev_docroot);
	qs_notify_close(&ld.notify);
	release_instance(&ld);
	if (ret)
		pr_warn("quicsteerd stopped after an error");
	else
		pr_info("stopped; pins and runtime files removed");
	return ret ? 1 : 0;
}
