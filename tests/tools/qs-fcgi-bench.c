// SPDX-License-Identifier: MIT
/*
 * qs-fcgi-bench: the ceiling for make bench-php.  Drives a FastCGI pool
 * directly (no HTTP at all): P processes, each with one kept-alive
 * connection, request after request for SECONDS.  Prints JSON with
 * requests/s and latency percentiles.  Uses the worker's own codec.
 *
 * usage: qs-fcgi-bench SOCKET SCRIPT_FILENAME PROCESSES SECONDS
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fcgi.h"

#define MAX_PROCS 64
#define HIST_US   100000   /* latency histogram: 1 us buckets up to 100 ms */

struct shared {
	unsigned long long done[MAX_PROCS], failed[MAX_PROCS];
	unsigned hist[HIST_US + 1];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* One request on fd; 0 when END_REQUEST came. */
static int one(int fd, const uint8_t *req, size_t len)
{
	uint8_t buf[65536];
	struct qs_fcgi_parser p;
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, req + off, len - off);

		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	qs_fcgi_parser_reset(&p, 1);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n <= 0)
			return -1;
		for (size_t o = 0; o < (size_t)n;) {
			struct qs_fcgi_event ev;
			ssize_t used = qs_fcgi_parse(&p, buf + o, (size_t)n - o, &ev);

			if (used < 0)
				return -1;
			o += (size_t)used;
			if (ev.type == QS_FCGI_EV_END)
				return 0;
		}
	}
}

int main(int argc, char **argv)
{
	uint8_t params[4096], req[8192];
	struct qs_fcgi_params pp;
	struct shared *sh;
	size_t len;
	int procs;
	double secs, t0;

	if (argc != 5) {
		fprintf(stderr, "usage: qs-fcgi-bench SOCKET SCRIPT_FILENAME PROCESSES SECONDS\n");
		return 2;
	}
	procs = atoi(argv[3]);
	secs = atof(argv[4]);
	if (procs < 1 || procs > MAX_PROCS || secs <= 0)
		return 2;
	qs_fcgi_params_init(&pp, params, sizeof(params));
	qs_fcgi_params_add_str(&pp, "SCRIPT_FILENAME", argv[2]);
	qs_fcgi_params_add_str(&pp, "SCRIPT_NAME", strrchr(argv[2], '/'));
	qs_fcgi_params_add_str(&pp, "REQUEST_METHOD", "GET");
	qs_fcgi_params_add_str(&pp, "SERVER_PROTOCOL", "HTTP/1.1");
	qs_fcgi_params_add_str(&pp, "GATEWAY_INTERFACE", "CGI/1.1");
	qs_fcgi_params_add_str(&pp, "REMOTE_ADDR", "127.0.0.1");
	len = (size_t)qs_fcgi_begin_request(req, sizeof(req), 1, true);
	len += (size_t)qs_fcgi_stream(req + len, sizeof(req) - len, QS_FCGI_PARAMS, 1,
				      params, pp.len);
	len += (size_t)qs_fcgi_stream_end(req + len, sizeof(req) - len, QS_FCGI_PARAMS, 1);
	len += (size_t)qs_fcgi_stream_end(req + len, sizeof(req) - len, QS_FCGI_STDIN, 1);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	memset(sh, 0, sizeof(*sh));
	t0 = now_s();
	for (int i = 0; i < procs; i++) {
		if (fork() == 0) {
			int fd = connect_unix(argv[1]);

			while (fd >= 0 && now_s() - t0 < secs) {
				double a = now_s();

				if (one(fd, req, len)) {
					sh->failed[i]++;
					close(fd);
					fd = connect_unix(argv[1]);
					continue;
				}
				sh->done[i]++;
				unsigned us = (unsigned)((now_s() - a) * 1e6);

				__atomic_fetch_add(&sh->hist[us > HIST_US ? HIST_US : us], 1,
						   __ATOMIC_RELAXED);
			}
			_exit(fd < 0);
		}
	}
	while (wait(NULL) > 0)
		;
	double el = now_s() - t0;
	unsigned long long done = 0, failed = 0, seen = 0;
	double p50 = 0, p99 = 0;

	for (int i = 0; i < procs; i++) {
		done += sh->done[i];
		failed += sh->failed[i];
	}
	for (unsigned us = 0; us <= HIST_US; us++) {
		seen += sh->hist[us];
		if (!p50 && seen * 2 >= done && done)
			p50 = us / 1000.0;
		if (!p99 && seen * 100 >= done * 99 && done)
			p99 = us / 1000.0;
	}
	printf("{\"requests\":%llu,\"failed\":%llu,\"seconds\":%.3f,\"req_per_s\":%.1f,"
	       "\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n", done, failed, el, done / el, p50, p99);
	return done && !failed ? 0 : 1;
}
