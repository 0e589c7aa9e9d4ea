// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "loader/control.h"
#include "loader/supervisor.h"

void qs_control_init(struct qs_control *ctl)
{
	memset(ctl, 0, sizeof(*ctl));
	ctl->fd = -1;
	ctl->client_fd = -1;
	qs_textconn_init(ctl->c, QS_CONTROL_CLIENTS);
}

int qs_control_open(struct qs_control *ctl, const char *path, qs_control_command_fn command,
		    void *arg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old_mask;
	int err;

	qs_control_init(ctl);
	ctl->command = command;
	ctl->arg = arg;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		pr_warn("control socket path %s is longer than %zu bytes: use a shorter "
			"--instance", path, sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd < 0) {
		err = -errno;
		pr_warn("control socket %s: socket: %s", path, strerror(errno));
		return err;
	}
	/* the instance is ours (claim_instance): what is there is a dead run's */
	unlink(path);
	old_mask = umask(0177);	/* born 0600: no moment when others may connect */
	err = bind(ctl->fd, (struct sockaddr *)&sun, sizeof(sun)) ? -errno : 0;
	umask(old_mask);
	if (!err && listen(ctl->fd, 16))
		err = -errno;
	if (err) {
		pr_warn("control socket %s: %s", path, strerror(-err));
		close(ctl->fd);
		ctl->fd = -1;
		return err;
	}
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	return 0;
}

/*
 * A short answer to a connection that gets nothing else, then closed; what
 * it sent already is read first, else the close would reset the client
 * before it reads the answer.
 */
static void refuse(int fd, const char *why)
{
	char msg[160], sink[512];
	int n = snprintf(msg, sizeof(msg), "ERR\n%s\n", why);

	/* non-blocking, a fresh socket: it fits, or the client loses it */
	if (write(fd, msg, (size_t)n) < 0)
		pr_debug("control: refused a client (%s): %s", why, strerror(errno));
	shutdown(fd, SHUT_WR);
	for (int i = 0; i < 4 && read(fd, sink, sizeof(sink)) > 0; i++)
		;
	close(fd);
}

static void start_answer(struct qs_textconn *c, bool ok, const char *text, size_t len)
{
	c->waiting = 0;
	c->out.len = 0;
	qs_mbuf_printf(&c->out, "%s\n%.*s", ok ? "OK" : "ERR", (int)len, text);
	if (len && text[len - 1] != '\n')
		qs_mbuf_printf(&c->out, "\n");
	c->out_off = 0;
	c->deadline_ms = qs_now_ms() + QS_CONTROL_IO_MS;
	if (c->out.oom)
		qs_textconn_close(c);
}

/* The answer is out: linger until the client closes. */
static void client_write(struct qs_textconn *c)
{
	if (qs_textconn_write(c))
		qs_textconn_linger(c);
}

static void run_command(struct qs_control *ctl, struct qs_textconn *c)
{
	struct qs_mbuf text = { 0 };
	int ret;

	c->in[strcspn(c->in, "\r\n")] = '\0';
	ctl->client_fd = c->fd;
	ret = ctl->command(ctl->arg, c->in, &text);
	ctl->client_fd = -1;
	if (ret > 1) {
		free(text.p);
		c->waiting = ret;
		c->deadline_ms = qs_now_ms() + QS_CONTROL_WAIT_MS;
		return;
	}
	if (text.oom) {
		text.len = 0;
		qs_mbuf_printf(&text, "the answer did not fit in memory");
		ret = 1;
	}
	start_answer(c, ret == 0, text.p ? text.p : "", text.len);
	free(text.p);
	if (c->fd >= 0)
		client_write(c);
}

static void client_io(struct qs_control *ctl, struct qs_textconn *c, short revents)
{
	if (c->waiting) {
		/* the client left: the command goes on, nobody hears of it */
		if (revents & (POLLHUP | POLLERR))
			qs_textconn_close(c);
		return;
	}
	if (c->lingering) {
		qs_textconn_linger(c);
		return;
	}
	if (c->out.len) {
		client_write(c);
		return;
	}
	_Static_assert(QS_CONTROL_LINE <= sizeof(c->in), "a command line must fit in");
	ssize_t n = read(c->fd, c->in + c->in_len, QS_CONTROL_LINE - 1 - c->in_len);

	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		qs_textconn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	c->in[c->in_len] = '\0';
	if (!memchr(c->in, '\n', c->in_len)) {
		if (c->in_len == QS_CONTROL_LINE - 1) {
			static const char msg[] = "request longer than the 255 bytes of a command line";

			start_answer(c, false, msg, sizeof(msg) - 1);
			if (c->fd >= 0)
				client_write(c);
		}
		return;
	}
	run_command(ctl, c);
}

int qs_control_pollfds(struct qs_control *ctl, struct pollfd *p)
{
	int n = 0;

	if (ctl->fd < 0)
		return 0;
	/* all taken: new clients wait in the listen backlog (16) */
	if (!qs_accept_paused(ctl->paused_until_ms, qs_now_ms()) &&
	    qs_textconn_free_slot(ctl->c, QS_CONTROL_CLIENTS))
		p[n++] = (struct pollfd){ .fd = ctl->fd, .events = POLLIN };
	return n + qs_textconn_pollfds(ctl->c, QS_CONTROL_CLIENTS, p + n);
}

static void accept_clients(struct qs_control *ctl, long long now)
{
	for (;;) {
		int fd = qs_textconn_accept(ctl->fd, now, &ctl->paused_until_ms, "control socket");
		struct ucred cred = { .uid = (uid_t)-1 };
		socklen_t len = sizeof(cred);
		struct qs_textconn *c;
		char why[96];

		if (fd < 0)
			return;
		/* the socket is 0600 already; this holds if its mode is changed */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.uid != 0) {
			snprintf(why, sizeof(why), "permission denied: the control socket serves "
				 "root only (uid %d)", (int)cred.uid);
			pr_warn("control: refused a client of uid %d (pid %d): root only",
				(int)cred.uid, (int)cred.pid);
			refuse(fd, why);
			continue;
		}
		c = qs_textconn_free_slot(ctl->c, QS_CONTROL_CLIENTS);
		if (!c) {	/* not polled when full: only after a refusal above */
			refuse(fd, "busy: every control connection is taken; try again");
			continue;
		}
		c->fd = fd;
		c->deadline_ms = now + QS_CONTROL_IO_MS;
	}
}

void qs_control_handle(struct qs_control *ctl, const struct pollfd *p, int n)
{
	long long now = qs_now_ms();

	if (ctl->fd < 0)
		return;
	for (int k = 0; k < n; k++) {
		struct qs_textconn *c;

		if (!p[k].revents)
			continue;
		if (p[k].fd == ctl->fd) {
			accept_clients(ctl, now);
			continue;
		}
		c = qs_textconn_by_fd(ctl->c, QS_CONTROL_CLIENTS, p[k].fd);
		if (c)
			client_io(ctl, c, p[k].revents);
	}
	for (int i = 0; i < QS_CONTROL_CLIENTS; i++) {
		struct qs_textconn *c = &ctl->c[i];

		if (c->fd < 0 || c->deadline_ms > now)
			continue;
		if (c->waiting) {
			static const char msg[] = "no answer from the loader in time; see its log";

			start_answer(c, false, msg, sizeof(msg) - 1);
			if (c->fd >= 0)
				client_write(c);
		} else {
			qs_textconn_close(c);
		}
	}
}

int qs_control_timeout(const struct qs_control *ctl)
{
	long long now = qs_now_ms();
	int t = qs_textconn_timeout(ctl->c, QS_CONTROL_CLIENTS);

	return qs_accept_pause_timeout(ctl->paused_until_ms, now, t);
}

void qs_control_complete(struct qs_control *ctl, int what, bool ok, const char *text)
{
	for (int i = 0; i < QS_CONTROL_CLIENTS; i++) {
		struct qs_textconn *c = &ctl->c[i];

		if (c->fd < 0 || c->waiting != what)
			continue;
		start_answer(c, ok, text, strlen(text));
		if (c->fd >= 0)
			client_write(c);
	}
}

void qs_control_close_fds(struct qs_control *ctl)
{
	qs_textconn_close_fds(ctl->c, QS_CONTROL_CLIENTS);
	if (ctl->fd >= 0)
		close(ctl->fd);
}

void qs_control_close(struct qs_control *ctl)
{
	qs_textconn_close_all(ctl->c, QS_CONTROL_CLIENTS);
	if (ctl->fd >= 0)
		close(ctl->fd);
	ctl->fd = -1;
	if (ctl->path[0])
		unlink(ctl->path);
	ctl->path[0] = '\0';
}
