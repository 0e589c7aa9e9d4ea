/* SPDX-License-Identifier: MIT */
/*
 * The document root: opened by the loader as root, before the workers
 * drop their privileges; the workers resolve every path beneath it.
 */
#ifndef QS_COMMON_DOCROOT_H
#define QS_COMMON_DOCROOT_H

/* The docroot, opened by the loader before the workers drop privileges. */
struct qs_docroot {
	int dirfd;                 /* O_PATH|O_DIRECTORY|O_CLOEXEC, -1 when closed */
	char path[4096];           /* as configured, for messages */
};

#define QS_DOCROOT_INIT { .dirfd = -1 }

/*
 * Open path as the docroot.  Returns 0 or -errno (-EINVAL for an empty
 * path, -ENAMETOOLONG, -ENOENT, -ENOTDIR, -EACCES ...), after a pr_warn
 * that names the path and the cause.
 */
int qs_docroot_open(struct qs_docroot *d, const char *path);
/* Idempotent; leaves d->dirfd = -1. */
void qs_docroot_close(struct qs_docroot *d);

#endif
