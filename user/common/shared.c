// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "common/shared.h"

struct qs_shared *qs_shared_create(void)
{
	struct qs_shared *sh;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return NULL;
	/* secrets: never in a core dump, never swapped out */
	if (madvise(sh, sizeof(*sh), MADV_DONTDUMP))
		pr_warn("madvise(MADV_DONTDUMP) on the key area failed: %s", strerror(errno));
	if (mlock(sh, sizeof(*sh)))
		pr_warn("mlock of the key area failed: %s (keys may be swapped)", strerror(errno));
	memset(sh, 0, sizeof(*sh));
	return sh;
}

void qs_shared_destroy(struct qs_shared *sh)
{
	if (!sh)
		return;
	explicit_bzero(sh, sizeof(*sh));
	munlock(sh, sizeof(*sh));
	munmap(sh, sizeof(*sh));
}
