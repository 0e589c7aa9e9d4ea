/* SPDX-License-Identifier: MIT */
/*
 * systemd's readiness protocol (sd_notify), without libsystemd: each
 * message is one datagram of "KEY=VALUE" lines to the unix socket named by
 * $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).  The
 * protocol is one sendto(); linking libsystemd for it would add a library
 * (and its compression and crypto dependencies) to a loader that must also
 * run without systemd.  Without $NOTIFY_SOCKET every call does nothing.
 */
#ifndef QS_LOADER_NOTIFY_H
#define QS_LOADER_NOTIFY_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

struct qs_notify {
	int fd;                        /* -1: no $NOTIFY_SOCKET */
	struct sockaddr_un addr;
	socklen_t addrlen;
	char status[256];              /* the last STATUS= sent */
};

/*
 * Take $NOTIFY_SOCKET (and remove it from the environment, so no child,
 * php-fpm included, speaks for the service).  0, or -errno after a
 * pr_warn naming the variable (a bad value is not fatal: the caller goes on).
 */
int qs_notify_init(struct qs_notify *n);
/* Send msg ("READY=1", "STATUS=...\nREADY=1", ...); never blocks. */
void qs_notify_send(struct qs_notify *n, const char *msg);
/* RELOADING=1 with MONOTONIC_USEC=now, as Type=notify-reload (systemd >= 253) wants. */
void qs_notify_reloading(struct qs_notify *n);
/* STATUS=text, when it differs from the last one sent. */
void qs_notify_status(struct qs_notify *n, const char *text);
void qs_notify_close(struct qs_notify *n);

#endif
