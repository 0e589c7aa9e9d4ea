// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the binary upgrade's state record
 * (user/loader/upgrade_state.c), the bytes a new loader binary reads from
 * the memfd it is handed.  Random bytes almost never have the record's
 * size, so the input mostly edits a valid record: byte 0 odd, the rest is
 * parsed as it is (length, magic, header checks); byte 0 even, the rest is
 * a list of 3-byte patches (a 16-bit offset into the record, scaled to its
 * size, and the byte to put there) applied to a valid record with three
 * workers in two generations, a TCP listener and the optional descriptors.
 *
 * abort() on any broken promise of an accepted record: a used slot that is
 * not its (gen, worker)'s, a socket count that is not the listeners', a
 * descriptor out of range or named twice, no worker in the generation that
 * takes new connections.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *   -Iuser tests/fuzz/fuzz_upgrade_state.c user/loader/upgrade_state.c \
 *   -o .output/fuzz_upgrade_state
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/upgrade_state.h"

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "fuzz_upgrade_state: " __VA_ARGS__);           \
		fputc('\n', stderr);                                           \
		abort();                                                       \
	} while (0)

static struct qs_up_state valid, st, out;

static void add_slot(unsigned gen, unsigned id, int fd, int retiring)
{
	struct qs_up_slot *s = &valid.slot[gen * QS_MAX_WORKERS + id];

	s->used = 1;
	s->retiring = (uint8_t)retiring;
	s->gen = gen;
	s->id = id;
	s->n_fds = s->n_tcp_fds = 1;
	s->fds[0] = fd;
	s->tcp_fds[0] = fd + 1;
	s->pid = 1000 + fd;
}

static void build_valid(void)
{
	qs_up_init(&valid);
	valid.gen = 1;
	valid.n_listen = 1;
	valid.shared_fd = 3;
	valid.tickets_fd = 4;
	valid.strike_fd = 5;
	valid.tokens_fd = 6;
	valid.metrics_fd = 7;
	valid.exe_fd = 8;
	valid.state_fd = 9;
	add_slot(0, 0, 10, 1);
	add_slot(1, 0, 12, 0);
	add_slot(1, 1, 14, 0);
}

static void check(const struct qs_up_state *s)
{
	int fds[QS_UP_MAX_FDS];
	unsigned current = 0;
	size_t n;

	for (unsigned i = 0; i < QS_WORKER_SLOTS; i++) {
		const struct qs_up_slot *sl = &s->slot[i];

		if (!sl->used)
			continue;
		if (sl->gen * QS_MAX_WORKERS + sl->id != i)
			FAIL("slot %u holds worker %u/%u", i, sl->gen, sl->id);
		if (sl->n_fds != s->n_listen || (sl->n_tcp_fds && sl->n_tcp_fds != s->n_listen))
			FAIL("slot %u: %u sockets for %u listeners", i, sl->n_fds, s->n_listen);
		if (sl->gen == s->gen && !sl->retiring)
			current++;
	}
	if (!current)
		FAIL("accepted without a worker in generation %u", s->gen);
	n = qs_up_fds(s, fds, QS_UP_MAX_FDS);
	for (size_t i = 0; i < n; i++) {
		if (fds[i] < 3 || fds[i] >= QS_UPGRADE_FD_MAX)
			FAIL("descriptor %d accepted", fds[i]);
		for (size_t j = 0; j < i; j++)
			if (fds[i] == fds[j])
				FAIL("descriptor %d named twice", fds[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];
	uint8_t *raw;

	if (!valid.size)
		build_valid();
	if (size && (data[0] & 1)) {
		/* an exact-size copy: ASan sees any read past the end */
		raw = malloc(size - 1 ? size - 1 : 1);
		if (!raw)
			return 0;
		memcpy(raw, data + 1, size - 1);
		if (!qs_up_parse(raw, size - 1, &out, why, sizeof(why)))
			check(&out);
		free(raw);
		return 0;
	}
	st = valid;
	for (size_t i = 1; i + 3 <= size; i += 3) {
		size_t off = ((size_t)data[i] << 8 | data[i + 1]) * sizeof(st) / 65536;

		((uint8_t *)&st)[off] = data[i + 2];
	}
	raw = malloc(sizeof(st));
	if (!raw)
		return 0;
	memcpy(raw, &st, sizeof(st));
	if (!qs_up_parse(raw, sizeof(st), &out, why, sizeof(why)))
		check(&out);
	else if (size <= 1)
		FAIL("the valid record was refused: %s", why);
	free(raw);
	return 0;
}
