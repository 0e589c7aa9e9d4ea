// SPDX-License-Identifier: MIT
/*
 * Unit tests of what a binary upgrade hands over: the state record's
 * parser (user/loader/upgrade_state.c) accepts a consistent record and
 * refuses, with a reason, a wrong magic, version or size, a descriptor out
 * of range or named twice, a slot that is not its worker's and a record
 * with no worker taking new connections; the anti-replay register
 * (user/common/strike.c) adopted from its memfd keeps its entries.
 */
#include <stdlib.h>
#include <string.h>

#include "common/strike.h"
#include "loader/upgrade_state.h"
#include "check.h"

static struct qs_up_state st, out;
static char why[256];

/* generation 1 has worker 0 on socket 9; the memfds and others are 3..8 */
static void valid(void)
{
	int32_t *fd[] = { &st.shared_fd, &st.tickets_fd, &st.strike_fd, &st.tokens_fd,
			  &st.exe_fd, &st.state_fd };

	qs_up_init(&st);
	for (int i = 0; i < 6; i++)
		*fd[i] = 3 + i;
	st.gen = 1;
	st.n_listen = 1;
	st.slot[QS_MAX_WORKERS].used = 1;
	st.slot[QS_MAX_WORKERS].gen = 1;
	st.slot[QS_MAX_WORKERS].n_fds = 1;
	st.slot[QS_MAX_WORKERS].fds[0] = 9;
	st.slot[QS_MAX_WORKERS].pid = 100;
}

static int parse(void)
{
	return qs_up_parse(&st, sizeof(st), &out, why, sizeof(why));
}

static int test_valid_record(void)
{
	int fds[QS_UP_MAX_FDS];

	valid();
	CHECK(parse() == 0, "refused: %s", why);
	CHECK(out.slot[QS_MAX_WORKERS].fds[0] == 9, "copied");
	CHECK(qs_up_fds(&out, fds, QS_UP_MAX_FDS) == 7, "3..9 named");
	return 0;
}

static int test_header_refused(void)
{
	valid();
	st.magic[0] = 'X';
	CHECK(parse() == -EINVAL && strstr(why, "magic"), "magic: %s", why);
	valid();
	st.version = QS_UPGRADE_PROTOCOL + 1;
	CHECK(parse() == -EPROTO && strstr(why, "protocol version"), "version: %s", why);
	valid();
	CHECK(qs_up_parse(&st, sizeof(st) - 1, &out, why, sizeof(why)) == -EINVAL, "short");
	CHECK(qs_up_parse(&st, 10, &out, why, sizeof(why)) == -EINVAL, "a header's worth");
	CHECK(qs_up_parse(&st, 0, &out, why, sizeof(why)) == -EINVAL, "empty");
	st.size = 12;
	CHECK(parse() == -EINVAL, "size field");
	return 0;
}

static int test_descriptors_refused(void)
{
	valid();
	st.shared_fd = 2;
	CHECK(parse() == -EINVAL, "stderr as a memfd");
	valid();
	st.reply_fd = QS_UPGRADE_FD_MAX;
	CHECK(parse() == -EINVAL, "out of range");
	valid();
	st.slot[QS_MAX_WORKERS].fds[0] = 4;
	CHECK(parse() == -EINVAL && strstr(why, "twice"), "the ticket memfd as a socket: %s",
	      why);
	return 0;
}

static int test_slots_refused(void)
{
	valid();
	st.slot[QS_MAX_WORKERS].id = 3;
	CHECK(parse() == -EINVAL, "worker 1/3 in slot 1/0");
	valid();
	st.slot[QS_MAX_WORKERS].n_fds = 2;
	CHECK(parse() == -EINVAL, "two sockets for one listener");
	valid();
	st.slot[QS_MAX_WORKERS].retiring = 1;
	CHECK(parse() == -EINVAL && strstr(why, "no worker"), "no current worker: %s", why);
	valid();
	st.gen = QS_MAX_GENS;
	CHECK(parse() == -EINVAL, "generation out of range");
	return 0;
}

static int test_strike_adopted_keeps_entries(void)
{
	struct qs_strike *r = qs_strike_create(1024), *a;
	int fd;

	CHECK(r, "create");
	CHECK(qs_strike_check(r, 0xfeedULL, 100) == QS_STRIKE_FRESH, "first");
	fd = dup(r->fd);
	CHECK(!qs_strike_adopt(fd, r->nbuckets * 2, r->ttl), "wrong geometry");
	close(fd);
	a = qs_strike_adopt(dup(r->fd), r->nbuckets, r->ttl);
	CHECK(a, "adopt");
	CHECK(qs_strike_check(a, 0xfeedULL, 101) == QS_STRIKE_REPLAY, "seen before the upgrade");
	qs_strike_destroy(a);
	qs_strike_destroy(r);
	return 0;
}

int main(void)
{
	RUN(test_valid_record);
	RUN(test_header_refused);
	RUN(test_descriptors_refused);
	RUN(test_slots_refused);
	RUN(test_strike_adopted_keeps_entries);
	return DONE();
}
