// SPDX-License-Identifier: MIT
/*
 * quicsteerctl: operator commands for a running quicsteerd instance.
 *   reload-keys  re-read the session ticket key files (file:) or the fleet
 *                secret (fleet:), and report whether the loader took them
 *   keys         list the ticket keys in force (name hashes and roles)
 * It finds the loader through its pid file and talks to it with SIGUSR1;
 * the loader's answer is the runtime file RUN_DIR/ticket-keys, which it
 * rewrites after every re-read.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RUN_ROOT "/run/quicsteer"

static void usage(FILE *out)
{
	fprintf(out,
"Usage: quicsteerctl [-i NAME] COMMAND\n"
"Commands for a running quicsteerd instance (default instance: default).\n"
"  reload        SIGHUP: a new generation of workers (certificate, key and\n"
"                docroot read again) takes new connections, the old one\n"
"                drains; exits 1, with the loader's reason, if it refused\n"
"  reload-keys   re-read the ticket key files (--ticket-keys file:...) or the\n"
"                fleet secret; exits 1, with the loader's reason, if it kept\n"
"                the keys in force\n"
"  keys          list the ticket keys in force: name hash, role, last second\n"
"                they decrypt (0: while listed); never key material\n"
"  -i, --instance NAME   the instance (quicsteerd --instance)\n"
"  -h, --help            this help\n");
}

static int loader_pid(const char *inst)
{
	char path[256], comm[32] = "";
	int pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), RUN_ROOT "/%s/quicsteerd.pid", inst);
	f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "quicsteerctl: instance '%s' is not running (%s: %s)\n", inst,
			path, strerror(errno));
		return -1;
	}
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = pid > 0 ? fopen(path, "re") : NULL;
	if (f) {
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
	}
	if (strncmp(comm, "quicsteerd", 10)) {
		fprintf(stderr, "quicsteerctl: instance '%s' is not running (stale pid file, "
			"pid %d)\n", inst, pid);
		return -1;
	}
	return pid;
}

static int print_keys(const char *info, bool only_reload)
{
	char line[700];
	int ret = 0;
	FILE *f = fopen(info, "re");

	if (!f) {
		fprintf(stderr, "quicsteerctl: cannot read %s: %s\n", info, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "last_reload ", 12)) {
			if (strncmp(line + 12, "ok", 2))
				ret = 1;
			if (only_reload)
				fputs(line + 12, ret ? stderr : stdout);
		}
		if (!only_reload)
			fputs(line, stdout);
	}
	fclose(f);
	return ret;
}

/*
 * Send sig and wait (10 s at most) until the loader has renamed a fresh
 * path into place, as it does after every SIGHUP (reload) and SIGUSR1
 * (ticket-keys).  0 when it did; 1 after saying why not.
 */
static int signal_and_wait(int pid, int sig, const char *path)
{
	struct stat before, after;
	bool had = stat(path, &before) == 0;

	if (kill(pid, sig)) {
		fprintf(stderr, "quicsteerctl: cannot signal quicsteerd (pid %d): %s\n", pid,
			strerror(errno));
		return 1;
	}
	for (int i = 0; i < 200; i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		if (!stat(path, &after) && (!had || after.st_ino != before.st_ino))
			return 0;
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "quicsteerctl: quicsteerd (pid %d) did not answer within 10 s\n", pid);
	return 1;
}

/* RUN_DIR/reload: "ok: ..." (0) or why the reload was refused (1). */
static int print_reload(const char *path)
{
	char line[512] = "";
	FILE *f = fopen(path, "re");

	if (!f || !fgets(line, sizeof(line), f)) {
		fprintf(stderr, "quicsteerctl: cannot read %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return 1;
	}
	fclose(f);
	fputs(line, strncmp(line, "ok", 2) ? stderr : stdout);
	return strncmp(line, "ok", 2) ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *inst = "default", *cmd;
	char info[256], reload_path[256];
	int c, pid;

	while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			inst = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	if (strchr(inst, '/')) {
		fprintf(stderr, "quicsteerctl: bad instance name '%s'\n", inst);
		return 2;
	}
	snprintf(info, sizeof(info), RUN_ROOT "/%s/ticket-keys", inst);
	snprintf(reload_path, sizeof(reload_path), RUN_ROOT "/%s/reload", inst);
	pid = loader_pid(inst);
	if (pid < 0)
		return 1;
	if (!strcmp(cmd, "keys"))
		return print_keys(info, false);
	if (!strcmp(cmd, "reload"))
		return signal_and_wait(pid, SIGHUP, reload_path) ?: print_reload(reload_path);
	if (strcmp(cmd, "reload-keys")) {
		fprintf(stderr, "quicsteerctl: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	if (access(info, R_OK)) {
		fprintf(stderr, "quicsteerctl: cannot read %s: %s\n", info, strerror(errno));
		return 1;
	}
	return signal_and_wait(pid, SIGUSR1, info) ?: print_keys(info, true);
}
