// SPDX-License-Identifier: MIT
/*
 * Unit tests of the per-client request rate limit (user/common/ratelimit.c):
 * a burst, then one request per interval, with the right retry-after;
 * clients apart; IPv6 counted by /64; the 40-bit clock wrapping; a bucket
 * of busy clients gives way (fails open) instead of refusing a new one;
 * and processes sharing one table count one client together.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/ratelimit.h"
#include "check.h"

static struct sockaddr_in v4(const char *a)
{
	struct sockaddr_in s = { .sin_family = AF_INET };

	inet_pton(AF_INET, a, &s.sin_addr);
	return s;
}

static struct sockaddr_in6 v6(const char *a)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6 };

	inet_pton(AF_INET6, a, &s.sin6_addr);
	return s;
}

#define SA(x) ((const struct sockaddr *)&(x))

/* requests let through out of n at now */
static unsigned take_n(struct qs_rate *r, const struct sockaddr *sa, uint64_t now, unsigned n,
		       uint32_t *retry)
{
	unsigned ok = 0;

	for (unsigned i = 0; i < n; i++)
		ok += qs_rate_take(r, sa, now, retry);
	return ok;
}

static int test_burst_then_rate(void)
{
	struct qs_rate *r = qs_rate_create(1024, 10, 5);	/* 10/s, burst 5 */
	struct sockaddr_in a = v4("198.18.0.1"), b = v4("198.18.0.2");
	uint64_t t = 5000000;
	uint32_t retry = 0;

	CHECK(r, "create");
	CHECK(take_n(r, SA(a), t, 20, &retry) == 5, "a burst of 5 of 20");
	CHECK(retry == 1, "retry-after %u s", retry);
	CHECK(take_n(r, SA(b), t, 3, &retry) == 3, "another client is apart");
	CHECK(take_n(r, SA(a), t + 100000, 5, &retry) == 1, "one more after an interval");
	CHECK(take_n(r, SA(a), t + 1100000, 20, &retry) == 5, "refilled a second later");
	CHECK(take_n(r, SA(a), t + 10000000, 20, &retry) == 5, "a full burst after a pause");
	qs_rate_destroy(r);
	return 0;
}

static int test_retry_after_seconds(void)
{
	struct qs_rate *r = qs_rate_create(64, 1, 2);	/* 1/s, burst 2 */
	struct sockaddr_in a = v4("198.18.0.9");
	uint32_t retry = 0;

	CHECK(r, "create");
	CHECK(take_n(r, SA(a), 1000000, 2, &retry) == 2, "burst");
	CHECK(!qs_rate_take(r, SA(a), 1000000, &retry) && retry == 1, "retry %u", retry);
	CHECK(qs_rate_take(r, SA(a), 2000000, &retry), "one a second later");
	qs_rate_destroy(r);
	return 0;
}

static int test_ipv6_by_64(void)
{
	struct qs_rate *r = qs_rate_create(1024, 10, 3);
	struct sockaddr_in6 a = v6("2001:db8:1:2::1"), b = v6("2001:db8:1:2:ffff::9"),
			    c = v6("2001:db8:1:3::1");
	uint32_t retry;

	CHECK(r, "create");
	CHECK(take_n(r, SA(a), 1000000, 3, &retry) == 3, "burst");
	CHECK(!qs_rate_take(r, SA(b), 1000000, &retry), "the same /64 shares it");
	CHECK(qs_rate_take(r, SA(c), 1000000, &retry), "the next /64 does not");
	qs_rate_destroy(r);
	return 0;
}

static int test_clock_wraps(void)
{
	struct qs_rate *r = qs_rate_create(64, 10, 2);
	struct sockaddr_in a = v4("198.18.0.3");
	uint64_t t = (1ull << 40) - 50000;	/* the 40-bit time wraps during the burst */
	uint32_t retry;

	CHECK(r, "create");
	CHECK(take_n(r, SA(a), t, 5, &retry) == 2, "burst before the wrap");
	CHECK(!qs_rate_take(r, SA(a), t + 60000, &retry), "limited across the wrap");
	CHECK(take_n(r, SA(a), t + 5000000, 5, &retry) == 2, "refilled after it");
	qs_rate_destroy(r);
	return 0;
}

static int test_busy_bucket_fails_open(void)
{
	struct qs_rate *r = qs_rate_create(8, 1, 1);	/* one bucket of 8 */
	uint32_t retry;
	unsigned ok = 0;

	CHECK(r && r->nbuckets == 1, "one bucket");
	/* 100 clients, each one request: none is refused its first */
	for (unsigned i = 0; i < 100; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(i + 1) };

		ok += qs_rate_take(r, SA(a), 1000000, &retry);
	}
	CHECK(ok == 100, "%u of 100 first requests", ok);
	qs_rate_destroy(r);
	return 0;
}

static int test_shared_by_processes(void)
{
	struct qs_rate *r = qs_rate_create(1024, 1, 100);	/* burst 100, then 1/s */
	struct sockaddr_in a = v4("198.18.0.7");
	unsigned *got = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pid[4];
	unsigned total = 0;

	CHECK(r && got != MAP_FAILED, "create");
	for (int p = 0; p < 4; p++) {
		pid[p] = fork();
		if (pid[p] == 0) {
			uint32_t retry;

			got[p] = take_n(r, SA(a), 1000000, 100, &retry);
			_exit(0);
		}
	}
	for (int p = 0; p < 4; p++) {
		waitpid(pid[p], NULL, 0);
		total += got[p];
	}
	/* a lost race lets one through (fail open), never counts one twice */
	CHECK(total >= 100 && total <= 104, "%u let through of 400 for a burst of 100", total);
	munmap(got, 4096);
	qs_rate_destroy(r);
	return 0;
}

int main(void)
{
	RUN(test_burst_then_rate);
	RUN(test_retry_after_seconds);
	RUN(test_ipv6_by_64);
	RUN(test_clock_wraps);
	RUN(test_busy_bucket_fails_open);
	RUN(test_shared_by_processes);
	return DONE();
}
