// SPDX-License-Identifier: MIT
/*
 * Unit tests of the worker's allocator (user/worker/mem.c): blocks of every
 * size keep their bytes and alignment, come back from the free lists,
 * realloc keeps contents across classes and to large blocks, calloc zeroes
 * reused blocks and refuses overflow, and the cache never holds more than
 * QS_MEM_CACHE_MAX bytes.
 */
#include <stdint.h>
#include <string.h>

#include "worker/mem.h"
#include "check.h"

static int test_sizes_alignment_reuse(void)
{
	for (size_t n = 0; n <= 9000; n += n < 200 ? 1 : 61) {
		unsigned char *p = qs_malloc(n), *q;

		CHECK(p && ((uintptr_t)p & 15) == 0, "size %zu: aligned block", n);
		memset(p, 0xa5, n);
		qs_free(p);
		q = qs_malloc(n);
		CHECK(q, "size %zu again", n);
		if (n && n <= 4096)
			CHECK(q == p, "size %zu: the freed block comes back", n);
		qs_free(q);
	}
	return 0;
}

static int test_realloc_keeps_bytes(void)
{
	unsigned char *p = qs_malloc(10);

	for (size_t i = 0; i < 10; i++)
		p[i] = (unsigned char)i;
	for (size_t n = 20; n <= 20000; n = n * 3 / 2) {
		p = qs_realloc(p, n);
		CHECK(p, "realloc to %zu", n);
		for (size_t i = 0; i < 10; i++)
			CHECK(p[i] == i, "byte %zu after realloc to %zu", i, n);
	}
	p = qs_realloc(p, 5);
	CHECK(p && p[4] == 4, "shrink to a small block");
	qs_free(p);
	p = qs_realloc(NULL, 100);
	CHECK(p, "realloc(NULL) allocates");
	qs_free(p);
	return 0;
}

static int test_calloc(void)
{
	unsigned char *p = qs_malloc(300);

	memset(p, 0xff, 300);
	qs_free(p);
	p = qs_calloc(3, 100);
	CHECK(p, "calloc");
	for (size_t i = 0; i < 300; i++)
		CHECK(p[i] == 0, "byte %zu of a reused block zeroed", i);
	qs_free(p);
	CHECK(qs_calloc(SIZE_MAX / 2, 4) == NULL, "overflow refused");
	return 0;
}

static int test_cache_bounded(void)
{
	enum { N = 6000 };
	static void *blk[N];

	for (int i = 0; i < N; i++)
		CHECK((blk[i] = qs_malloc(4000)), "block %d", i);
	for (int i = 0; i < N; i++)
		qs_free(blk[i]);
	CHECK(qs_mem_cached() <= QS_MEM_CACHE_MAX, "cached %zu bytes", qs_mem_cached());
	CHECK(qs_mem_cached() >= QS_MEM_CACHE_MAX - 4096, "cache filled to its bound: %zu",
	      qs_mem_cached());
	return 0;
}

int main(void)
{
	RUN(test_sizes_alignment_reuse);
	RUN(test_realloc_keeps_bytes);
	RUN(test_calloc);
	RUN(test_cache_bounded);
	return DONE();
}
