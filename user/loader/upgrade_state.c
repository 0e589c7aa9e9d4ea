// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/upgrade_state.h"

static int bad(char *why, size_t len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int bad(char *why, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return err;
}

static bool fd_ok(int32_t fd, bool optional)
{
	return (optional && fd == -1) || (fd >= 3 && fd < QS_UPGRADE_FD_MAX);
}

void qs_up_init(struct qs_up_state *st)
{
	memset(st, 0, sizeof(*st));
	memcpy(st->magic, QS_UPGRADE_MAGIC, sizeof(st->magic));
	st->version = QS_UPGRADE_PROTOCOL;
	st->size = sizeof(*st);
	st->n_slots = QS_WORKER_SLOTS;
	st->metrics_fd = st->reply_fd = st->control_fd = -1;
}

size_t qs_up_fds(const struct qs_up_state *st, int *fds, size_t max)
{
	const int32_t one[] = { st->shared_fd, st->tickets_fd, st->strike_fd, st->tokens_fd,
				st->metrics_fd, st->exe_fd, st->reply_fd, st->state_fd,
				st->control_fd };
	size_t n = 0;

	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++)
		if (one[i] >= 0 && n < max)
			fds[n++] = one[i];
	for (unsigned i = 0; i < QS_WORKER_SLOTS && i < st->n_slots; i++) {
		const struct qs_up_slot *s = &st->slot[i];

		if (!s->used)
			continue;
		for (unsigned l = 0; l < s->n_fds && l < QS_MAX_LISTENERS && n < max; l++)
			fds[n++] = s->fds[l];
		for (unsigned l = 0; l < s->n_tcp_fds && l < QS_MAX_LISTENERS && n < max; l++)
			fds[n++] = s->tcp_fds[l];
	}
	return n;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static int check_slot(const struct qs_up_state *st, unsigned i, char *why, size_t len)
{
	const struct qs_up_slot *s = &st->slot[i];

	if (s->used > 1 || s->retiring > 1)
		return bad(why, len, -EINVAL, "slot %u: flags out of range", i);
	if (!s->used)
		return 0;
	if (s->gen >= QS_MAX_GENS || s->id >= QS_MAX_WORKERS ||
	    s->gen * QS_MAX_WORKERS + s->id != i)
		return bad(why, len, -EINVAL, "slot %u: worker %u/%u is not this slot's", i,
			   s->gen, s->id);
	if (s->n_fds != st->n_listen || (s->n_tcp_fds && s->n_tcp_fds != st->n_listen))
		return bad(why, len, -EINVAL, "slot %u: %u UDP and %u TCP sockets for %u "
			   "listeners", i, s->n_fds, s->n_tcp_fds, st->n_listen);
	for (unsigned l = 0; l < s->n_fds; l++)
		if (!fd_ok(s->fds[l], false))
			return bad(why, len, -EINVAL, "slot %u: bad UDP socket %d", i, s->fds[l]);
	for (unsigned l = 0; l < s->n_tcp_fds; l++)
		if (!fd_ok(s->tcp_fds[l], false))
			return bad(why, len, -EINVAL, "slot %u: bad TCP socket %d", i,
				   s->tcp_fds[l]);
	if (s->pid < 0 || s->restart_at_ms < 0 || s->window_start_ms < 0 || s->kill_at_ms < 0)
		return bad(why, len, -EINVAL, "slot %u: negative pid or time", i);
	return 0;
}

int qs_up_parse(const void *buf, size_t len, struct qs_up_state *out, char *why, size_t whylen)
{
	const struct qs_up_state *st = buf;
	int fds[QS_UP_MAX_FDS];
	unsigned current = 0;
	size_t n;
	int ret;

	if (len < offsetof(struct qs_up_state, fingerprint))
		return bad(why, whylen, -EINVAL, "%zu bytes: too short for a header", len);
	if (memcmp(st->magic, QS_UPGRADE_MAGIC, sizeof(st->magic)))
		return bad(why, whylen, -EINVAL, "not an upgrade state (bad magic)");
	if (st->version != QS_UPGRADE_PROTOCOL)
		return bad(why, whylen, -EPROTO, "protocol version %u, this binary speaks %u",
			   st->version, QS_UPGRADE_PROTOCOL);
	if (st->size != sizeof(*st) || len != sizeof(*st))
		return bad(why, whylen, -EINVAL, "%zu bytes, header says %u, expected %zu", len,
			   st->size, sizeof(*st));
	if (st->n_slots != QS_WORKER_SLOTS)
		return bad(why, whylen, -EINVAL, "%u worker slots, expected %u", st->n_slots,
			   QS_WORKER_SLOTS);
	if (st->gen >= QS_MAX_GENS || st->n_listen == 0 || st->n_listen > QS_MAX_LISTENERS)
		return bad(why, whylen, -EINVAL, "generation %u or %u listeners out of range",
			   st->gen, st->n_listen);
	if (!fd_ok(st->shared_fd, false) || !fd_ok(st->tickets_fd, false) ||
	    !fd_ok(st->strike_fd, false) || !fd_ok(st->tokens_fd, false) ||
	    !fd_ok(st->exe_fd, false) || !fd_ok(st->state_fd, false) ||
	    !fd_ok(st->metrics_fd, true) || !fd_ok(st->reply_fd, true) ||
	    !fd_ok(st->control_fd, true))
		return bad(why, whylen, -EINVAL, "a descriptor out of range");
	if (st->retire_at_ms < 0 || st->phpfpm_pid < 0 || st->phpfpm_started_ms < 0 ||
	    st->phpfpm_restart_at_ms < 0)
		return bad(why, whylen, -EINVAL, "a negative pid or time");
	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++) {
		ret = check_slot(st, i, why, whylen);
		if (ret)
			return ret;
		if (st->slot[i].used && st->slot[i].gen == st->gen && !st->slot[i].retiring)
			current++;
	}
	if (!current)
		return bad(why, whylen, -EINVAL, "no worker in generation %u", st->gen);
	/* each descriptor once: two owners would close it twice */
	n = qs_up_fds(st, fds, QS_UP_MAX_FDS);
	qsort(fds, n, sizeof(fds[0]), cmp_int);
	for (size_t i = 1; i < n; i++)
		if (fds[i] == fds[i - 1])
			return bad(why, whylen, -EINVAL, "descriptor %d named twice", fds[i]);
	memcpy(out, st, sizeof(*st));
	return 0;
}
