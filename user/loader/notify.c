// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "loader/notify.h"

int qs_notify_init(struct qs_notify *n)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	if (!path || !*path)
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(n->addr.sun_path)) {
		pr_warn("NOTIFY_SOCKET=%s is not a unix socket path or @abstract name of at "
			"most %zu bytes: systemd will not hear that quicsteerd is ready", path,
			sizeof(n->addr.sun_path) - 1);
		unsetenv("NOTIFY_SOCKET");
		return -EINVAL;
	}
	n->addr.sun_family = AF_UNIX;
	memcpy(n->addr.sun_path, path, len);
	if (path[0] == '@')
		n->addr.sun_path[0] = '\0';
	n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	unsetenv("NOTIFY_SOCKET");
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd < 0) {
		int err = -errno;

		pr_warn("NOTIFY_SOCKET: socket: %s", strerror(errno));
		return err;
	}
	return 0;
}

void qs_notify_send(struct qs_notify *n, const char *msg)
{
	if (n->fd < 0)
		return;
	if (sendto(n->fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL,
		   (struct sockaddr *)&n->addr, n->addrlen) < 0)
		pr_debug("NOTIFY_SOCKET: cannot send %.*s: %s", (int)strcspn(msg, "\n"), msg,
			 strerror(errno));
}

void qs_notify_reloading(struct qs_notify *n)
{
	struct timespec ts;
	char msg[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	qs_notify_send(n, msg);
}

void qs_notify_status(struct qs_notify *n, const char *text)
{
	char msg[sizeof(n->status) + 8];

	if (n->fd < 0 || !strcmp(n->status, text))
		return;
	snprintf(n->status, sizeof(n->status), "%s", text);
	snprintf(msg, sizeof(msg), "STATUS=%s", n->status);
	qs_notify_send(n, msg);
}

void qs_notify_close(struct qs_notify *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}
