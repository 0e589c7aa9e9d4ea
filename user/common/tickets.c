// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "common/shared.h"
#include "common/tickets.h"

struct qs_tickets *qs_tickets_create(int *fd)
{
	return qs_secret_map(sizeof(struct qs_tickets), "the ticket keys", fd);
}

void qs_tickets_destroy(struct qs_tickets *t, int fd)
{
	qs_secret_unmap(t, sizeof(*t), fd);
}

void qs_tickets_publish(struct qs_tickets *t, const struct qs_tkeys *keys)
{
	uint32_t version = t->keys.version + 1;

	__atomic_store_n(&t->seq, t->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(&t->keys, keys, sizeof(*keys));
	t->keys.version = version;
	__atomic_store_n(&t->seq, t->seq + 1, __ATOMIC_RELEASE);
}

void qs_tickets_read(const struct qs_tickets *t, struct qs_tkeys *out)
{
	unsigned s1, s2;

	do {
		s1 = __atomic_load_n(&t->seq, __ATOMIC_ACQUIRE);
		__builtin_memcpy(out, (const void *)&t->keys, sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&t->seq, __ATOMIC_RELAXED);
	} while ((s1 & 1) || s1 != s2);
}
