// SPDX-License-Identifier: MIT
/*
 * quicsteerctl: operator commands for a running quicsteerd instance.
 * It talks to the loader through its control socket RUN_DIR/control
 * (root only): one command line out, one answer back ("OK" or "ERR", then
 * text), which it prints (an error on stderr, exit 1).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RUN_ROOT "/run/quicsteer"
/*
 * The loader answers a reload once the new generation serves (20 s at
 * most) and gives up on an answer after 60 s: wait a little longer.
 */
#define ANSWER_TIMEOUT_MS 65000
#define ANSWER_MAX (1 << 20)

static void usage(FILE *out)
{
	fprintf(out,
"Usage: quicsteerctl [-i NAME] COMMAND\n"
"Commands for a running quicsteerd instance (default instance: default), sent\n"
"to its control socket " RUN_ROOT "/NAME/control (root only):\n"
"  status [--json]  instance, version, uptime, generations and their workers\n"
"                (pid, state, connections, restarts), listeners, steering\n"
"                counters, ticket key names and roles, php-fpm and its pool\n"
"                (active, idle, total processes, listen queue: from its\n"
"                status page), the last reload's and the last upgrade's\n"
"                outcome; --json for scripts\n"
"  reload        a new generation of workers (certificate, key and docroot\n"
"                read again, ticket keys too) takes new connections once it\n"
"                serves, the old one drains; exits 1, with the loader's\n"
"                reason, if it refused or failed (the old one keeps serving)\n"
"  reload-keys   re-read the ticket key files (--ticket-keys file:...) or the\n"
"                fleet secret; exits 1, with the loader's reason, if it kept\n"
"                the keys in force\n"
"  reopen-logs   reopen the log files (after logrotate moved them): the\n"
"                loader's and every worker's; as SIGUSR1\n"
"  keys          list the ticket keys in force: name hash, role, last second\n"
"                they decrypt (0: while listed); never key material\n"
"  upgrade       replace the loader's binary by the file now at its path (a\n"
"                package upgrade) without closing a connection: checked\n"
"                first, then executed in place, its workers take over; exits\n"
"                1, with the reason, if the running binary keeps serving\n"
"  -i, --instance NAME   the instance (quicsteerd --instance)\n"
"  -h, --help            this help\n"
"Exit status: 0 done, 1 refused or failed (or the instance is not running),\n"
"2 usage.\n");
}

/* The pid file names a live quicsteerd; else say why the instance is not running. */
static int check_running(const char *inst)
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
		fprintf(stderr, "quicsteerctl: instance '%s' is not running (stale pid file "
			RUN_ROOT "/%s/quicsteerd.pid: pid %d is not quicsteerd)\n", inst, inst,
			pid);
		return -1;
	}
	return pid;
}

static int connect_control(const char *inst)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), RUN_ROOT "/%s/control", inst);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "quicsteerctl: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		int err = errno;

		if (err == EACCES || err == EPERM)
			fprintf(stderr, "quicsteerctl: %s: %s: the control socket is root's only; "
				"run quicsteerctl as root\n", sun.sun_path, strerror(err));
		else
			fprintf(stderr, "quicsteerctl: instance '%s' is not answering on %s: %s "
				"(still starting, or a quicsteerd without a control socket)\n",
				inst, sun.sun_path, strerror(err));
		close(fd);
		return -1;
	}
	return fd;
}

/* Read the whole answer (the loader closes after it); NULL after saying why. */
static char *read_answer(int fd, const char *inst)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	while (buf) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, ANSWER_TIMEOUT_MS) == 0) {
			fprintf(stderr, "quicsteerctl: instance '%s' did not answer within %d s\n",
				inst, ANSWER_TIMEOUT_MS / 1000);
			break;
		}
		if (len + 1 == cap) {
			char *p2 = cap < ANSWER_MAX ? realloc(buf, cap * 2) : NULL;

			if (!p2) {
				fprintf(stderr, "quicsteerctl: the answer is larger than %d bytes\n",
					ANSWER_MAX);
				break;
			}
			buf = p2;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "quicsteerctl: reading the answer of '%s': %s\n", inst,
				strerror(errno));
			break;
		}
		if (n == 0) {
			buf[len] = '\0';
			return buf;
		}
		len += (size_t)n;
	}
	free(buf);
	return NULL;
}

/* Send line, print the answer; the exit status. */
static int run(const char *inst, const char *line)
{
	char *answer, *text, req[64];
	bool ok;
	int fd;

	if (check_running(inst) < 0)
		return 1;
	fd = connect_control(inst);
	if (fd < 0)
		return 1;
	snprintf(req, sizeof(req), "%s\n", line);
	/* refused at once (busy, not root), the loader has closed: its answer waits */
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET) {
		fprintf(stderr, "quicsteerctl: sending to '%s': %s\n", inst, strerror(errno));
		close(fd);
		return 1;
	}
	answer = read_answer(fd, inst);
	close(fd);
	if (!answer)
		return 1;
	ok = !strncmp(answer, "OK\n", 3);
	if (!ok && strncmp(answer, "ERR\n", 4)) {
		fprintf(stderr, "quicsteerctl: instance '%s' closed the connection without an "
			"answer%s%s\n", inst, *answer ? ": " : " (it may be stopping)", answer);
		free(answer);
		return 1;
	}
	text = strchr(answer, '\n') + 1;
	fputs(text, ok ? stdout : stderr);
	free(answer);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const commands[] = {
		"status", "reload", "reload-keys", "reopen-logs", "keys", "upgrade", NULL,
	};
	const char *inst = "default", *cmd;
	bool known = false;
	int c;

	/* "+": stop at the command, so that "status --json" keeps its flag */
	while ((c = getopt_long(argc, argv, "+i:h", opts, NULL)) != -1) {
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
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	for (int i = 0; commands[i]; i++)
		known |= !strcmp(cmd, commands[i]);
	if (!known) {
		fprintf(stderr, "quicsteerctl: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	if (optind + 1 < argc &&
	    !(optind + 2 == argc && !strcmp(cmd, "status") && !strcmp(argv[optind + 1], "--json"))) {
		fprintf(stderr, "quicsteerctl: '%s' takes no argument '%s'\n", cmd,
			argv[optind + 1]);
		usage(stderr);
		return 2;
	}
	if (strchr(inst, '/') || strlen(inst) > 64) {
		fprintf(stderr, "quicsteerctl: bad instance name '%s'\n", inst);
		return 2;
	}
	return run(inst, optind + 1 < argc ? "status --json" : cmd);
}
