/* SPDX-License-Identifier: MIT */
/*
 * The access log (--access-log): one JSON line per request, written by the
 * request layer when the request ends (qs_req_close), whatever the
 * protocol, the handler or the outcome.
 *
 * Lines go to a per-worker buffer, written with one write(2) of whole
 * lines when it holds ALOG_FLUSH bytes, at least once a second (the loop
 * hook), when the worker starts to drain and when it exits.  A worker
 * that crashes loses what it logged in its last second.  The file is opened with O_APPEND, so
 * the lines of several workers never interleave.  Memory is bounded: when
 * a write fails or is short (a full disk, a file that went away) the lines
 * it did not take are dropped and counted (access_log_dropped), never
 * kept for later; a slow disk can only make write(2) itself slow, the
 * worker never waits for it twice per flush.
 *
 * The loader creates the file (user/loader/logs.c); a worker opens it by
 * path, without O_CREAT, at start and on SIGUSR1 (logrotate's postrotate,
 * `quicsteerctl reopen-logs`), as its unprivileged user.
 */
#ifndef QS_WORKER_HTTP_ACCESSLOG_H
#define QS_WORKER_HTTP_ACCESSLOG_H

struct qs_alog;
struct qs_req;
struct qs_site;

/* With --access-log: open it, hook the flush into the loop; 0 or -ENOMEM. */
int qs_alog_init(struct qs_site *site);
/* Flush and close (the worker exits). */
void qs_alog_free(struct qs_site *site);
/* Flush, then open the file at its path again (SIGUSR1). */
void qs_alog_reopen(struct qs_alog *a);
/* The request's line, into the buffer. */
void qs_alog_request(struct qs_alog *a, struct qs_req *req);

#endif
