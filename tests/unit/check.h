/* SPDX-License-Identifier: MIT */
/*
 * Minimal unit-test helpers.  Each test is a function returning 0 (pass)
 * or -1 (fail); RUN() prints one "PASS name" / "FAIL name" line that
 * tests/run.sh counts.  CHECK() prints where and why a test failed.
 */
#ifndef QS_TEST_CHECK_H
#define QS_TEST_CHECK_H

#include <stdio.h>

static int qs_failed, qs_passed;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "  %s:%d: check failed: %s: ",         \
				__FILE__, __LINE__, #cond);                    \
			fprintf(stderr, __VA_ARGS__);                          \
			fprintf(stderr, "\n");                                 \
			return -1;                                             \
		}                                                              \
	} while (0)

#define RUN(fn)                                                                \
	do {                                                                   \
		if (fn() == 0) {                                               \
			printf("PASS %s\n", #fn);                              \
			qs_passed++;                                           \
		} else {                                                       \
			printf("FAIL %s\n", #fn);                              \
			qs_failed++;                                           \
		}                                                              \
		fflush(stdout);                                                \
	} while (0)

#define DONE() (qs_failed ? 1 : 0)

/* splitmix64: a seeded generator so failures reproduce */
static inline unsigned long long qs_test_rand(unsigned long long *s)
{
	unsigned long long z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline void qs_test_fill(unsigned long long *s, unsigned char *p, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)qs_test_rand(s);
}

#endif
