/* SPDX-License-Identifier: MIT */
/*
 * The php-fpm pool the loader manages (--fastcgi managed): a pool
 * configuration in the instance's runtime directory, php-fpm started in
 * the foreground as the loader's child, in a session of its own; its pool
 * runs as --php-user, never the workers' user, and listens on a unix socket
 * only the workers' user can open; restarted with backoff when it dies,
 * stopped on shutdown.
 */
#ifndef QS_LOADER_PHPFPM_H
#define QS_LOADER_PHPFPM_H

#include <stdbool.h>
#include <sys/types.h>

struct qs_config;

/*
 * The managed pool's status page (pm.status_path).  A hidden segment: the
 * workers never send a script name with one (handler/php.c refuses them),
 * so clients cannot reach it.
 */
#define QS_PHPFPM_STATUS_PATH "/.quicsteer-fpm-status"

struct qs_phpfpm {
	char binary[256];
	char conf[192];
	char socket[108];          /* sun_path size */
	char status_socket[108];   /* pm.status_listen: the status page's own */
	char log[192];
	pid_t pid;
	long long restart_at_ms;     /* pending restart, 0 = none */
	unsigned backoff_ms;
	long long started_ms;
	unsigned restarts;
};

/*
 * The pool's user (--php-user) into *uid, *gid: it must exist and be
 * neither root nor the workers' uid.  -errno after saying what to do.
 */
int qs_phpfpm_user(const struct qs_config *cfg, uid_t worker_uid, uid_t *uid, gid_t *gid);
/*
 * Find php-fpm, write its configuration: the pool as php_uid/php_gid, its
 * socket for uid/gid (the workers') only; -errno after saying what is wrong.
 */
int qs_phpfpm_prepare(struct qs_phpfpm *p, const struct qs_config *cfg, const char *run_dir,
		      uid_t uid, gid_t gid, uid_t php_uid, gid_t php_gid);
/* Start it and wait (bounded) until its socket accepts connections. */
int qs_phpfpm_start(struct qs_phpfpm *p);
/* SIGCHLD for pid: true when it was php-fpm (a restart is scheduled). */
bool qs_phpfpm_reaped(struct qs_phpfpm *p, pid_t pid, int status, bool stopping);
/* Start again when due; returns ms until the next attempt, or -1. */
int qs_phpfpm_tick(struct qs_phpfpm *p);
/* Graceful stop (SIGQUIT), SIGKILL after timeout_ms; removes its files. */
void qs_phpfpm_stop(struct qs_phpfpm *p, int timeout_ms);

#endif
