// SPDX-License-Identifier: MIT
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker/mem.h"

#define CLASS_SIZE  64u
#define SMALL_MAX   4096u
#define N_CLASSES   (SMALL_MAX / CLASS_SIZE + 1)

/* 16 bytes before every block: keeps malloc's 16-byte alignment */
struct hdr {
	uint64_t cls;           /* 1..64: a small block of cls * 64 bytes; 0: large */
	uint64_t size;          /* large: the size asked for */
};

struct free_blk {
	struct free_blk *next;
};

static struct free_blk *free_list[N_CLASSES];
static size_t cached;

void *qs_malloc(size_t n)
{
	struct hdr *h;

	if (n <= SMALL_MAX) {
		size_t c = n ? (n + CLASS_SIZE - 1) / CLASS_SIZE : 1;
		struct free_blk *b = free_list[c];

		if (b) {
			free_list[c] = b->next;
			cached -= c * CLASS_SIZE;
			return b;
		}
		h = malloc(sizeof(*h) + c * CLASS_SIZE);
		if (!h)
			return NULL;
		h->cls = c;
		return h + 1;
	}
	if (n > SIZE_MAX - sizeof(*h))
		return NULL;
	h = malloc(sizeof(*h) + n);
	if (!h)
		return NULL;
	h->cls = 0;
	h->size = n;
	return h + 1;
}

void qs_free(void *p)
{
	struct hdr *h;

	if (!p)
		return;
	h = (struct hdr *)p - 1;
	if (h->cls && cached + h->cls * CLASS_SIZE <= QS_MEM_CACHE_MAX) {
		struct free_blk *b = p;

		b->next = free_list[h->cls];
		free_list[h->cls] = b;
		cached += h->cls * CLASS_SIZE;
		return;
	}
	free(h);
}

void *qs_calloc(size_t nmemb, size_t size)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	p = qs_malloc(nmemb * size);
	if (p)
		memset(p, 0, nmemb * size);
	return p;
}

void *qs_realloc(void *p, size_t n)
{
	struct hdr *h;
	size_t have;
	void *q;

	if (!p)
		return qs_malloc(n);
	h = (struct hdr *)p - 1;
	have = h->cls ? h->cls * CLASS_SIZE : h->size;
	if (h->cls && n <= have && n > have - CLASS_SIZE)
		return p;	/* same class */
	if (!h->cls && n > SMALL_MAX) {
		if (n > SIZE_MAX - sizeof(*h))
			return NULL;
		/* large to large: let malloc move (or grow in place) */
		struct hdr *nh = realloc(h, sizeof(*h) + n);

		if (!nh)
			return NULL;
		nh->size = n;
		return nh + 1;
	}
	q = qs_malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, n < have ? n : have);
	qs_free(p);
	return q;
}

size_t qs_mem_cached(void)
{
	return cached;
}

static void *m_malloc(size_t n, void *ud)
{
	(void)ud;
	return qs_malloc(n);
}

static void m_free(void *p, void *ud)
{
	(void)ud;
	qs_free(p);
}

static void *m_calloc(size_t nmemb, size_t size, void *ud)
{
	(void)ud;
	return qs_calloc(nmemb, size);
}

static void *m_realloc(void *p, size_t n, void *ud)
{
	(void)ud;
	return qs_realloc(p, n);
}

const ngtcp2_mem qs_ngtcp2_mem = {
	.malloc = m_malloc, .free = m_free, .calloc = m_calloc, .realloc = m_realloc,
};

const nghttp3_mem qs_nghttp3_mem = {
	.malloc = m_malloc, .free = m_free, .calloc = m_calloc, .realloc = m_realloc,
};
