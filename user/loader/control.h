/* SPDX-License-Identifier: MIT */
/*
 * The loader's control socket (RUN_DIR/control), what quicsteerctl talks
 * to: a unix stream socket, mode 0600, served from the loader's poll loop.
 * A client sends one line, "COMMAND [ARGS]\n", and reads one answer: a
 * first line "OK" or "ERR", then text, then the loader closes.  Only root
 * (SO_PEERCRED uid 0) is served.  Bounded: QS_CONTROL_CLIENTS connections
 * at once (more wait in the listen backlog, 16), QS_CONTROL_LINE bytes of request,
 * QS_CONTROL_IO_MS to send the request and to take the answer; an answer
 * that waits for the loader (a reload) waits at most QS_CONTROL_WAIT_MS.
 * Nothing a client does blocks the loader.
 */
#ifndef QS_LOADER_CONTROL_H
#define QS_LOADER_CONTROL_H

#include <poll.h>
#include <stdbool.h>
#include <sys/un.h>

#include "loader/textconn.h"

#define QS_CONTROL_CLIENTS 8
#define QS_CONTROL_LINE    256
#define QS_CONTROL_IO_MS   2000
#define QS_CONTROL_WAIT_MS 60000

/* What an answer given later waits for (a command's return value). */
enum qs_control_wait {
	QS_CONTROL_WAIT_RELOAD = 2,
};

/*
 * Run the command of line (its "\n" removed): write the answer's text into
 * out and return 0 (OK) or 1 (ERR), or return a QS_CONTROL_WAIT_* to answer
 * later through qs_control_complete().
 */
typedef int (*qs_control_command_fn)(void *arg, const char *line, struct qs_mbuf *out);

struct qs_control {
	int fd;                 /* listening; -1 when closed */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	qs_control_command_fn command;
	void *arg;
	long long paused_until_ms;
	struct qs_textconn c[QS_CONTROL_CLIENTS];
	/*
	 * The connection whose command runs now, -1 otherwise: a binary
	 * upgrade answers it from the new binary (upgrade.c), after an exec
	 * that ends this process image and its clients.
	 */
	int client_fd;
};

/* Closed, nothing open (before qs_control_open, or instead of it). */
void qs_control_init(struct qs_control *ctl);
/* Listen on path (a stale socket there is replaced); 0 or -errno after a pr_warn. */
int qs_control_open(struct qs_control *ctl, const char *path, qs_control_command_fn command,
		    void *arg);
/* pollfds for the listener and the clients, into p (room for 1 + CLIENTS); how many. */
int qs_control_pollfds(struct qs_control *ctl, struct pollfd *p);
/* After poll: accept, read, run, answer, close what p says is ready or overdue. */
void qs_control_handle(struct qs_control *ctl, const struct pollfd *p, int n);
/* ms until the next client deadline, or -1. */
int qs_control_timeout(const struct qs_control *ctl);
/* Answer every client waiting for `what`: OK (ok) or ERR, then the text. */
void qs_control_complete(struct qs_control *ctl, int what, bool ok, const char *text);
/* Close the clients' and the listener's descriptors (a forked child: nothing else). */
void qs_control_close_fds(struct qs_control *ctl);
/* Close everything and remove the socket. */
void qs_control_close(struct qs_control *ctl);

#endif
