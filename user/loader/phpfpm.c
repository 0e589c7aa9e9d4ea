// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/config.h"
#include "loader/phpfpm.h"
#include "loader/supervisor.h"

#define START_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS   250
#define BACKOFF_MAX_MS   30000
#define STABLE_MS        10000   /* up this long: the next crash restarts at once */

static int find_binary(struct qs_phpfpm *p)
{
	static const char *const fixed[] = { "/usr/sbin/php-fpm", "/usr/local/sbin/php-fpm" };
	glob_t g;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (access(fixed[i], X_OK) == 0) {
			snprintf(p->binary, sizeof(p->binary), "%s", fixed[i]);
			return 0;
		}
	/* Debian names it by version: php-fpm8.2; take the newest */
	if (glob("/usr/sbin/php-fpm[0-9]*", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
		snprintf(p->binary, sizeof(p->binary), "%s", g.gl_pathv[g.gl_pathc - 1]);
		globfree(&g);
		return 0;
	}
	pr_warn("php-fpm not found (looked for /usr/sbin/php-fpm and /usr/sbin/php-fpm8.x): "
		"install it (apt install php-fpm), or point --fastcgi at an existing pool "
		"(unix:/path or tcp:host:port)");
	return -ENOENT;
}

int qs_phpfpm_user(const struct qs_config *cfg, uid_t worker_uid, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(cfg->php_user);

	if (!pw) {
		if (!strcmp(cfg->php_user, QS_DEFAULT_PHP_USER))
			pr_warn("user '%s' for the php-fpm pool does not exist: run "
				"scripts/setup.sh, or create it with 'useradd --system "
				"--no-create-home --shell /usr/sbin/nologin %s', or pick "
				"another with --php-user", cfg->php_user, cfg->php_user);
		else
			pr_warn("user '%s' for the php-fpm pool (--php-user) does not exist: "
				"create it or pick another", cfg->php_user);
		return -ENOENT;
	}
	/*
	 * The pool runs whatever PHP the docroot holds: as the workers' user it
	 * could signal them and, were they dumpable, read their keys; as root,
	 * anything.
	 */
	if (pw->pw_uid == 0 || pw->pw_uid == worker_uid) {
		pr_warn("--php-user '%s' (uid %u) is %s: give the pool a user of its own, "
			"like the default %s (scripts/setup.sh creates it)", cfg->php_user,
			(unsigned)pw->pw_uid, pw->pw_uid == 0 ? "root" :
			"the workers' user (--user): PHP code could then signal them",
			QS_DEFAULT_PHP_USER);
		return -EINVAL;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* user and group names for the pool configuration */
static void names_of(uid_t uid, gid_t gid, char user[64], char group[64])
{
	struct passwd *pw = getpwuid(uid);
	struct group *gr = getgrgid(gid);

	if (pw)
		snprintf(user, 64, "%s", pw->pw_name);
	else
		snprintf(user, 64, "%u", (unsigned)uid);
	if (gr)
		snprintf(group, 64, "%s", gr->gr_name);
	else
		snprintf(group, 64, "%u", (unsigned)gid);
}

int qs_phpfpm_prepare(struct qs_phpfpm *p, const struct qs_config *cfg, const char *run_dir,
		      uid_t uid, gid_t gid, uid_t php_uid, gid_t php_gid)
{
	char user[64], group[64], php_user[64], php_group[64];
	FILE *f;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = find_binary(p);
	if (ret)
		return ret;
	names_of(uid, gid, user, group);
	names_of(php_uid, php_gid, php_user, php_group);
	snprintf(p->conf, sizeof(p->conf), "%s/php-fpm.conf", run_dir);
	if ((size_t)snprintf(p->socket, sizeof(p->socket), "%s/php-fpm.sock", run_dir) >=
	    sizeof(p->socket)) {
		pr_warn("runtime directory %s too long for a unix socket path", run_dir);
		return -ENAMETOOLONG;
	}
	if ((size_t)snprintf(p->status_socket, sizeof(p->status_socket), "%s/php-fpm-status.sock",
			     run_dir) >= sizeof(p->status_socket)) {
		pr_warn("runtime directory %s too long for a unix socket path", run_dir);
		return -ENAMETOOLONG;
	}
	snprintf(p->log, sizeof(p->log), "%s/php-fpm.log", run_dir);
	f = fopen(p->conf, "we");
	if (!f) {
		ret = -errno;
		pr_warn("cannot write the php-fpm configuration %s: %s", p->conf, strerror(errno));
		return ret;
	}
	/*
	 * The children run as the PHP user; only the workers' user may connect
	 * (listen.mode 0600): a local user must not reach PHP around the
	 * server.  pm static: a kept-alive FastCGI connection holds its child,
	 * so the pool size is the limit the workers size their connection
	 * pools by.  The status page has a socket of its own
	 * (pm.status_listen, php-fpm 8.0+): php-fpm answers it outside the
	 * pool's children, so the loader reads the pool's state even when
	 * every child is busy.
	 */
	fprintf(f,
		"; written by quicsteerd for instance %s: do not edit, it is rewritten at start\n"
		"[global]\n"
		"pid = %s/php-fpm.pid\n"
		"error_log = %s\n"
		"daemonize = no\n"
		"process_control_timeout = 3s\n"
		"\n"
		"[quicsteer]\n"
		"user = %s\n"
		"group = %s\n"
		"listen = %s\n"
		"listen.owner = %s\n"
		"listen.group = %s\n"
		"listen.mode = 0600\n"
		"listen.backlog = 511\n"
		"pm = static\n"
		"pm.max_children = %u\n"
		"pm.max_requests = 10000\n"
		"pm.status_path = %s\n"
		"pm.status_listen = %s\n"
		"catch_workers_output = yes\n"
		"decorate_workers_output = no\n"
		"clear_env = yes\n"
		"security.limit_extensions = .php\n"
		"; what --max-body lets through, PHP accepts (its defaults: 8M posts, 2M files)\n"
		"php_value[post_max_size] = %llu\n"
		"php_value[upload_max_filesize] = %llu\n",
		cfg->instance, run_dir, p->log, php_user, php_group, p->socket, user, group,
		cfg->php_max_children, QS_PHPFPM_STATUS_PATH, p->status_socket,
		(unsigned long long)cfg->max_body, (unsigned long long)cfg->max_body);
	if (fclose(f)) {
		ret = -errno;
		pr_warn("cannot write %s: %s", p->conf, strerror(errno));
		return ret;
	}
	return 0;
}

static bool socket_accepts(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void log_tail(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "re");
	long size;

	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > 2048 ? size - 2048 : 0, SEEK_SET);
	while (fgets(line, sizeof(line), f))
		pr_warn("php-fpm: %s", line);
	fclose(f);
}

int qs_phpfpm_start(struct qs_phpfpm *p)
{
	long long deadline = qs_now_ms() + START_TIMEOUT_MS;
	sigset_t all, old;
	pid_t pid;

	unlink(p->socket);
	unlink(p->status_socket);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		sigprocmask(SIG_SETMASK, &old, NULL);
		pr_warn("cannot fork php-fpm: %s", strerror(errno));
		return err;
	}
	if (pid == 0) {
		/*
		 * stdin first, so the log cannot take fd 0 when the loader has
		 * none: nothing is read from the operator's terminal
		 */
		int devnull = open("/dev/null", O_RDONLY);
		sigset_t none;
		int fd;

		if (devnull > STDIN_FILENO)
			dup2(devnull, STDIN_FILENO);
		fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* php-fpm's master stays root to manage its children: it dies
		 * with us, never outlives a crashed loader */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		/* none of the loader's sockets, BPF objects or pipes */
		close_range(3, ~0U, 0);
		/*
		 * Its own session, without a controlling terminal, so PHP code
		 * cannot reach the operator's (TIOCSTI); and its own process
		 * group: when the master dies, its pool can be found and
		 * stopped (the children do not die with it).
		 */
		setsid();
		execl(p->binary, p->binary, "--nodaemonize", "--fpm-config", p->conf, (char *)NULL);
		_exit(127);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	p->pid = pid;
	p->started_ms = qs_now_ms();
	p->restart_at_ms = 0;

	while (qs_now_ms() < deadline) {
		int status;

		if (socket_accepts(p->socket)) {
			pr_info("php-fpm (pid %d, %s) listening on %s", (int)pid, p->binary, p->socket);
			return 0;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			p->pid = 0;
			pr_warn("php-fpm exited at start (status %d); its log %s says:",
				WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), p->log);
			log_tail(p->log);
			return -ECHILD;
		}
		poll(NULL, 0, 20);
	}
	pr_warn("php-fpm (pid %d) did not open %s within %d ms; its log %s says:",
		(int)pid, p->socket, START_TIMEOUT_MS, p->log);
	log_tail(p->log);
	return -ETIMEDOUT;
}

bool qs_phpfpm_reaped(struct qs_phpfpm *p, pid_t pid, int status, bool stopping)
{
	long long now = qs_now_ms();

	if (!p->pid || pid != p->pid)
		return false;
	p->pid = 0;
	/* the pool children of a dead master would go on holding the socket */
	kill(-pid, SIGKILL);
	if (stopping)
		return true;
	if (WIFSIGNALED(status))
		pr_warn("php-fpm (pid %d) killed by signal %d; restarting it", (int)pid,
			WTERMSIG(status));
	else
		pr_warn("php-fpm (pid %d) exited with status %d; restarting it", (int)pid,
			WEXITSTATUS(status));
	/* at once after a long run, then backing off while it keeps dying */
	if (now - p->started_ms > STABLE_MS)
		p->backoff_ms = 0;
	else
		p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (p->backoff_ms > BACKOFF_MAX_MS)
		p->backoff_ms = BACKOFF_MAX_MS;
	p->restart_at_ms = now + p->backoff_ms + 1;
	p->restarts++;
	return true;
}

int qs_phpfpm_tick(struct qs_phpfpm *p)
{
	long long now = qs_now_ms();

	if (!p->restart_at_ms || p->pid)
		return -1;
	if (p->restart_at_ms > now)
		return (int)(p->restart_at_ms - now);
	if (qs_phpfpm_start(p) == 0)
		return -1;
	/* failed again: try later */
	p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (p->backoff_ms > BACKOFF_MAX_MS)
		p->backoff_ms = BACKOFF_MAX_MS;
	p->restart_at_ms = qs_now_ms() + p->backoff_ms;
	return (int)p->backoff_ms;
}

void qs_phpfpm_stop(struct qs_phpfpm *p, int timeout_ms)
{
	long long deadline = qs_now_ms() + timeout_ms;
	int status;

	p->restart_at_ms = 0;
	if (p->pid) {
		kill(p->pid, SIGQUIT);	/* graceful: finish running requests */
		while (qs_now_ms() < deadline) {
			pid_t r = waitpid(p->pid, &status, WNOHANG);

			if (r == p->pid || (r < 0 && errno == ECHILD))
				break;
			poll(NULL, 0, 20);
		}
		if (kill(p->pid, 0) == 0 && waitpid(p->pid, &status, WNOHANG) == 0) {
			pr_warn("php-fpm (pid %d) did not stop in %d ms: killing it", (int)p->pid,
				timeout_ms);
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
		}
		kill(-p->pid, SIGKILL);	/* any pool child left behind */
		p->pid = 0;
	}
	unlink(p->socket);
	unlink(p->status_socket);
	unlink(p->conf);
	unlink(p->log);
}
