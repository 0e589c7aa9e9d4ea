/* SPDX-License-Identifier: MIT */
/*
 * The access log's file, as the loader (root) prepares it for the workers:
 * created if missing (O_APPEND, 0640, owned by the workers' user and
 * group), made the workers' when it belongs to someone else, and checked
 * to open as the workers' user, who open it by name (without O_CREAT) at
 * start and on SIGUSR1.  Called at start and at every reload, and before
 * telling the workers to reopen it (after logrotate moved the old one).
 */
#ifndef QS_LOADER_LOGS_H
#define QS_LOADER_LOGS_H

#include <sys/types.h>

struct qs_config;

/* 0, or -errno after saying what is wrong and what to do; 0 with --access-log off. */
int qs_logs_prepare(const struct qs_config *cfg, uid_t uid, gid_t gid);

#endif
