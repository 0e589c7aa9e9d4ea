/* SPDX-License-Identifier: MIT */
/*
 * php-fpm's pool state, as its status page tells it (pm.status_path, JSON):
 * asked on the loader's poll loop every QS_POOL_INTERVAL_MS, the answer
 * kept for `quicsteerctl status` and /metrics.  Never blocking: a
 * non-blocking connection, the request written at once (it is a few
 * hundred bytes), the answer read as it comes, at most QS_FPM_STATUS_MAX
 * bytes and QS_POOL_TIMEOUT_MS; one query at a time.
 *  - managed pool: the loader writes pm.status_path and pm.status_listen
 *    (a socket of the status page's own, served by php-fpm outside the
 *    pool's children, so a pool whose children are all busy still answers);
 *  - an existing pool (--fastcgi unix: or tcp:) with --php-status-path:
 *    its own socket, where a status request waits for a free child like
 *    any other;
 *  - else the state is unknown (nothing is asked).
 */
#ifndef QS_LOADER_POOL_H
#define QS_LOADER_POOL_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "common/fpmstatus.h"

struct qs_config;
struct qs_mbuf;

#define QS_POOL_INTERVAL_MS 2000
#define QS_POOL_TIMEOUT_MS  1000

enum qs_pool_state {
	QS_POOL_UNKNOWN,        /* not asked: no status page, or no answer yet */
	QS_POOL_UP,             /* the last answer is in `last` */
	QS_POOL_DOWN,           /* nothing listens (refused, no socket) */
	QS_POOL_FAILING,        /* it listens, but the status did not come: why */
};

struct qs_pool {
	bool asked;                     /* a status page to ask */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char where[128];                /* the socket, for messages */
	char path[128];                 /* the status page */
	/* the query in flight */
	int fd;                         /* -1: none */
	bool sent;
	long long deadline_ms, next_ms;
	uint8_t req[QS_FPM_STATUS_REQUEST_MAX];
	size_t req_len, req_off;
	uint8_t in[QS_FPM_STATUS_MAX + 1];
	size_t in_len;
	/* the last outcome */
	enum qs_pool_state state;
	char why[192];                  /* DOWN, FAILING: the cause */
	struct qs_fpm_pool last;        /* UP */
	time_t at;                      /* unix time of the last outcome, 0: none */
	unsigned long long failures;    /* queries without a status */
};

void qs_pool_init(struct qs_pool *p);
/*
 * What to ask, from the configuration: the managed pool's status socket
 * (status_socket), or --fastcgi's address with --php-status-path.  0, or
 * -EINVAL after saying what is wrong.
 */
int qs_pool_setup(struct qs_pool *p, const struct qs_config *cfg, const char *status_socket,
		  const char *status_path);
/* Start a query when one is due, give up one overdue; ms until the next thing to do, or -1. */
int qs_pool_tick(struct qs_pool *p);
/* The query's pollfd into pfd: 1, or 0 when none runs. */
int qs_pool_pollfds(const struct qs_pool *p, struct pollfd *pfd);
/* After poll: the query's progress. */
void qs_pool_handle(struct qs_pool *p, const struct pollfd *pfd, int n);
/* php-fpm is known to be down (the managed one is not running). */
void qs_pool_down(struct qs_pool *p, const char *why);
void qs_pool_close(struct qs_pool *p);

/* "up", "down", "failing", "unknown". */
const char *qs_pool_state_name(enum qs_pool_state s);
/* quicsteer_phpfpm_pool_* for /metrics. */
void qs_pool_metrics(const struct qs_pool *p, struct qs_mbuf *b);

#endif
