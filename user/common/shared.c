// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "common/shared.h"

void *qs_secret_map(size_t len, const char *what)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* secrets: never in a core dump, never swapped out */
	if (madvise(p, len, MADV_DONTDUMP))
		pr_warn("madvise(MADV_DONTDUMP) on %s failed: %s", what, strerror(errno));
	if (mlock(p, len))
		pr_warn("mlock of %s failed: %s (keys may be swapped)", what, strerror(errno));
	memset(p, 0, len);
	return p;
}

void qs_secret_unmap(void *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	munlock(p, len);
	munmap(p, len);
}

struct qs_shared *qs_shared_create(void)
{
	return qs_secret_map(sizeof(struct qs_shared), "the key area");
}

void qs_shared_destroy(struct qs_shared *sh)
{
	qs_secret_unmap(sh, sizeof(*sh));
}
