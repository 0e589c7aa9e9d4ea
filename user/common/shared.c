// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/shared.h"

/* secrets: never in a core dump, never swapped out */
static void keep_secret(void *p, size_t len, const char *what)
{
	if (madvise(p, len, MADV_DONTDUMP))
		pr_warn("madvise(MADV_DONTDUMP) on %s failed: %s", what, strerror(errno));
	if (mlock(p, len))
		pr_warn("mlock of %s failed: %s (keys may be swapped)", what, strerror(errno));
}

void *qs_secret_map(size_t len, const char *what, int *fdp)
{
	int fd = memfd_create("quicsteer-secrets", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	void *p;

	*fdp = -1;
	if (fd < 0)
		return NULL;
	if (ftruncate(fd, (off_t)len) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		int err = errno;

		close(fd);
		errno = err;
		return NULL;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int err = errno;

		close(fd);
		errno = err;
		return NULL;
	}
	keep_secret(p, len, what);
	*fdp = fd;
	return p;
}

void *qs_secret_adopt(int fd, size_t len, const char *what)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);
	void *p;

	if (seals < 0 || !(seals & F_SEAL_GROW) || !(seals & F_SEAL_SHRINK) ||
	    fstat(fd, &st) || (uint64_t)st.st_size != len) {
		errno = EINVAL;
		return NULL;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	keep_secret(p, len, what);
	return p;
}

void qs_secret_unmap(void *p, size_t len, int fd)
{
	if (p) {
		explicit_bzero(p, len);
		munlock(p, len);
		munmap(p, len);
	}
	if (fd >= 0)
		close(fd);
}

int qs_secret_readonly(const void *p, size_t len, int fd, const char *what)
{
	char path[64];
	void *q;
	int ro, ret = 0;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	if (ro < 0) {
		ret = -errno;
		pr_warn("cannot reopen %s read-only (%s): %s", what, path, strerror(errno));
		return ret;
	}
	q = mmap((void *)p, len, PROT_READ, MAP_SHARED | MAP_FIXED, ro, 0);
	if (q == MAP_FAILED) {
		ret = -errno;
		pr_warn("cannot map %s read-only: %s", what, strerror(errno));
	} else {
		madvise(q, len, MADV_DONTDUMP);
		mlock(q, len);	/* best effort: the loader's mapping keeps the pages in */
	}
	close(ro);
	close(fd);
	return ret;
}

struct qs_shared *qs_shared_create(int *fd)
{
	return qs_secret_map(sizeof(struct qs_shared), "the key area", fd);
}

void qs_shared_destroy(struct qs_shared *sh, int fd)
{
	qs_secret_unmap(sh, sizeof(*sh), fd);
}
