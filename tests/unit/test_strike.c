// SPDX-License-Identifier: MIT
/*
 * Unit tests of the 0-RTT anti-replay register (user/common/strike.c): a
 * hash is accepted once within its window and again after it; a full
 * bucket refuses (fails closed); entries of one bucket do not hide others;
 * and four processes racing over the same 20,000 hashes in one shared
 * register accept each hash at most once (the property 0-RTT safety needs).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/strike.h"
#include "check.h"

static int test_once_within_window(void)
{
	struct qs_strike *r = qs_strike_create(1024);

	CHECK(r, "create");
	CHECK(qs_strike_check(r, 0x123456789abcdefULL, 100) == QS_STRIKE_FRESH, "first");
	CHECK(qs_strike_check(r, 0x123456789abcdefULL, 100) == QS_STRIKE_REPLAY, "same second");
	CHECK(qs_strike_check(r, 0x123456789abcdefULL, 100 + QS_STRIKE_TTL - 1) ==
	      QS_STRIKE_REPLAY, "end of the window");
	CHECK(qs_strike_check(r, 0x123456789abcdeeULL, 101) == QS_STRIKE_FRESH,
	      "another hash");
	CHECK(qs_strike_check(r, 0x123456789abcdefULL, 100 + QS_STRIKE_TTL) == QS_STRIKE_FRESH,
	      "after the window the slot is free again");
	qs_strike_destroy(r);
	return 0;
}

static int test_clock_wraps(void)
{
	struct qs_strike *r = qs_strike_create(64);
	uint32_t t = (1u << 24) - 3;	/* expiry wraps the 24-bit field */

	CHECK(r, "create");
	CHECK(qs_strike_check(r, 42ULL << 30, t) == QS_STRIKE_FRESH, "first");
	CHECK(qs_strike_check(r, 42ULL << 30, t + 10) == QS_STRIKE_REPLAY, "across the wrap");
	CHECK(qs_strike_check(r, 42ULL << 30, t + QS_STRIKE_TTL + 1) == QS_STRIKE_FRESH,
	      "expired across the wrap");
	qs_strike_destroy(r);
	return 0;
}

static int test_full_bucket_refuses(void)
{
	struct qs_strike *r = qs_strike_create(QS_STRIKE_WAYS);	/* one bucket */

	CHECK(r && r->nbuckets == 1, "one bucket");
	for (uint64_t i = 1; i <= QS_STRIKE_WAYS; i++)
		CHECK(qs_strike_check(r, i << 32, 5) == QS_STRIKE_FRESH, "fill %llu",
		      (unsigned long long)i);
	CHECK(qs_strike_check(r, 99ULL << 32, 5) == QS_STRIKE_FULL, "full: refused");
	for (uint64_t i = 1; i <= QS_STRIKE_WAYS; i++)
		CHECK(qs_strike_check(r, i << 32, 6) == QS_STRIKE_REPLAY, "still known");
	CHECK(qs_strike_check(r, 99ULL << 32, 5 + QS_STRIKE_TTL) == QS_STRIKE_FRESH,
	      "room again once they expire");
	qs_strike_destroy(r);
	return 0;
}

/* The NEW_TOKEN register: entries live an hour, and a TTL out of range is refused. */
static int test_long_ttl(void)
{
	struct qs_strike *r = qs_strike_create_ttl(1024, 3600);
	uint32_t t = (1u << 24) - 100;	/* and across the wrap of the 24-bit field */

	CHECK(r && r->ttl == 3600, "create");
	CHECK(qs_strike_check(r, 0xfeedULL << 30, t) == QS_STRIKE_FRESH, "first");
	CHECK(qs_strike_check(r, 0xfeedULL << 30, t + 3599) == QS_STRIKE_REPLAY,
	      "end of the hour");
	CHECK(qs_strike_check(r, 0xfeedULL << 30, t + 3600) == QS_STRIKE_FRESH,
	      "after the hour");
	qs_strike_destroy(r);
	CHECK(!qs_strike_create_ttl(64, 0), "TTL 0 refused");
	CHECK(!qs_strike_create_ttl(64, QS_STRIKE_TTL_MAX + 1), "TTL too long refused");
	return 0;
}

/* Four processes, the same hashes in shuffled orders: each accepted at most once. */
static int test_racing_processes(void)
{
	enum { N = 20000, PROCS = 4 };
	struct qs_strike *r = qs_strike_create(1u << 16);
	unsigned *accepted = mmap(NULL, N * sizeof(unsigned), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned long long seed = 7;
	unsigned total = 0, twice = 0;
	uint64_t hashes[N];

	CHECK(r && accepted != MAP_FAILED, "maps");
	for (unsigned i = 0; i < N; i++)
		hashes[i] = qs_test_rand(&seed);
	for (int p = 0; p < PROCS; p++) {
		pid_t pid = fork();

		CHECK(pid >= 0, "fork");
		if (pid == 0) {
			unsigned long long s = 1000 + p;
			unsigned order[N];

			for (unsigned i = 0; i < N; i++)
				order[i] = i;
			for (unsigned i = N - 1; i > 0; i--) {
				unsigned j = qs_test_rand(&s) % (i + 1), t = order[i];

				order[i] = order[j];
				order[j] = t;
			}
			for (unsigned i = 0; i < N; i++)
				if (qs_strike_check(r, hashes[order[i]], 50) == QS_STRIKE_FRESH)
					__atomic_add_fetch(&accepted[order[i]], 1, __ATOMIC_RELAXED);
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++)
		wait(NULL);
	for (unsigned i = 0; i < N; i++) {
		total += accepted[i];
		twice += accepted[i] > 1;
	}
	printf("  racing: %u of %u hashes accepted once, %u twice\n", total, N, twice);
	CHECK(twice == 0, "%u hashes accepted twice", twice);
	/* refusing both racers is allowed, but must stay rare */
	CHECK(total >= N - N / 100, "only %u of %u accepted", total, N);
	munmap(accepted, N * sizeof(unsigned));
	qs_strike_destroy(r);
	return 0;
}

/*
 * A worker that scribbles over all the register's shared memory spoils
 * entries, nothing more: the loader and the other workers keep the
 * geometry in their own memory, so a check stays in bounds and the
 * register unmaps (with the geometry in the shared page, nbuckets became
 * 2^64 - 1 here and the next check read far outside the mapping).
 */
static int test_scribbled_shared_memory(void)
{
	struct qs_strike *r = qs_strike_create(1024);
	uint64_t nb;
	pid_t pid;
	int status;

	CHECK(r, "create");
	nb = r->nbuckets;
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (pid == 0) {
		memset(r->slot, 0xff, qs_strike_bytes(r));
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status), "child");
	CHECK(r->nbuckets == nb, "geometry kept: %llu buckets", (unsigned long long)r->nbuckets);
	for (uint64_t h = 0; h < 4096; h++)
		qs_strike_check(r, h * 0x9e3779b97f4a7c15ULL, 50);
	qs_strike_destroy(r);
	return 0;
}

int main(void)
{
	RUN(test_once_within_window);
	RUN(test_clock_wraps);
	RUN(test_full_bucket_refuses);
	RUN(test_long_ttl);
	RUN(test_racing_processes);
	RUN(test_scribbled_shared_memory);
	return DONE();
}
