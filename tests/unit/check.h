/* SPDX-License-Identifier: MIT */
/*
 * Minimal unit-test helpers.  Each test is a function returning 0 (pass)
 * or -1 (fail); RUN() prints one "PASS name" / "FAIL name" line that
 * tests/run.sh counts.  CHECK() prints where and why a test failed.
 */
#ifndef QS_TEST_CHECK_H
#define QS_TEST_CHECK_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

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

/* Write dir/name with len bytes of data: 0 or -errno. */
static inline int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, data, len) != (ssize_t)len) {
		close(fd);
		return -EIO;
	}
	return close(fd) ? -errno : 0;
}

static inline int rm_entry(const char *path, const struct stat *st, int flag,
			   struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* Remove a test's directory tree; FTW_PHYS: never follow its escaping symlinks. */
static inline void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A FastCGI name-value length (1 or 4 bytes) at b[*at]; *at moves past it. */
static inline size_t fcgi_nv_len(const uint8_t *b, size_t *at)
{
	size_t n = b[*at];

	if (n & 0x80) {
		n = ((size_t)(b[*at] & 0x7f) << 24) | (size_t)b[*at + 1] << 16 |
		    (size_t)b[*at + 2] << 8 | b[*at + 3];
		*at += 4;
	} else {
		*at += 1;
	}
	return n;
}

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
