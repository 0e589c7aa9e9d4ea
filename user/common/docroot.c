// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/docroot.h"
#include "common/log.h"

int qs_docroot_open(struct qs_docroot *d, const char *path)
{
	int fd, err;

	d->dirfd = -1;
	d->path[0] = '\0';
	if (!path || !*path) {
		pr_warn("docroot: empty path");
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(d->path)) {
		pr_warn("docroot %.64s...: path longer than %zu bytes", path,
			sizeof(d->path) - 1);
		return -ENAMETOOLONG;
	}
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_warn("cannot open docroot %s: %s", path, strerror(-err));
		return err;
	}
	d->dirfd = fd;
	strcpy(d->path, path);
	return 0;
}

void qs_docroot_close(struct qs_docroot *d)
{
	if (d->dirfd >= 0)
		close(d->dirfd);
	d->dirfd = -1;
}
