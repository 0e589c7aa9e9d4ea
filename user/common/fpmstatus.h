/* SPDX-License-Identifier: MIT */
/*
 * php-fpm's status page (pm.status_path) over FastCGI, as pure functions:
 * the request for its JSON form, and the parser of the whole answer (the
 * bytes php-fpm sent until it closed).  The loader asks a pool with them
 * (loader/pool.c); the parser gets bytes from a process that runs
 * whatever PHP the docroot holds, so it is bounded and fuzzed
 * (tests/fuzz/fuzz_fpmstatus.c):
 *  - the answer is at most QS_FPM_STATUS_MAX bytes, records included
 *    (php-fpm's is about 500); its CGI header block at most
 *    QS_FPM_STATUS_HEADERS, its body at most QS_FPM_STATUS_BODY;
 *  - FastCGI records as the worker's decoder takes them (common/fcgi.h),
 *    END_REQUEST with REQUEST_COMPLETE required;
 *  - CGI status 200 required (a pool without that status path answers
 *    404 "File not found.");
 *  - the body: one flat JSON object of strings and numbers, as php-fpm's
 *    `?json` writes it; the counters below must all be there, as unsigned
 *    integers.  Anything else is -EBADMSG, with *why naming the cause.
 */
#ifndef QS_COMMON_FPMSTATUS_H
#define QS_COMMON_FPMSTATUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define QS_FPM_STATUS_MAX     16384
#define QS_FPM_STATUS_HEADERS 2048
#define QS_FPM_STATUS_BODY    8192
/* the request: records of a few short params */
#define QS_FPM_STATUS_REQUEST_MAX 1024

/* What the status page says about the pool. */
struct qs_fpm_pool {
	char pool[64];                  /* its name (cut to fit) */
	char pm[16];                    /* static, dynamic, ondemand */
	uint64_t active;                /* processes running a request */
	uint64_t idle;
	uint64_t total;
	uint64_t listen_queue;          /* connections waiting for a process */
	uint64_t max_children_reached;  /* times the pool was full (dynamic, ondemand) */
	uint64_t accepted_conn;
	uint64_t slow_requests;         /* over request_slowlog_timeout */
};

/*
 * The request for path's JSON form (GET path?json), FastCGI request id 1,
 * connection not kept, into buf.  Its length, -EINVAL (path not starting
 * with '/', longer than 256) or -ENOSPC.
 */
ssize_t qs_fpm_status_request(void *buf, size_t size, const char *path);

/* The whole answer: 0 and *out filled, or -EBADMSG / -EMSGSIZE with *why. */
int qs_fpm_status_parse(const void *data, size_t len, struct qs_fpm_pool *out,
			const char **why);

#endif
