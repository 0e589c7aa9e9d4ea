/* SPDX-License-Identifier: MIT */
/*
 * PHP requests over FastCGI (--fastcgi): a request for a .php script under
 * the docroot becomes one FastCGI connection to the pool (php-fpm), its
 * params as nginx's fastcgi_params plus the protocol and TLS facts, its
 * body as STDIN; the CGI header block of STDOUT becomes the response and
 * the rest streams to the client as it arrives, the socket read paused
 * while the client has a window's worth unacknowledged.
 *
 * Connections are kept alive (FCGI_KEEP_CONN), at most this worker's share
 * of the pool's children; requests beyond wait in a bounded queue (503
 * when full).  Request bodies are buffered up to a limit (413 above).  No byte from
 * php-fpm for --fastcgi-timeout: 504 (a reset once the response started).
 */
#ifndef QS_WORKER_PHP_H
#define QS_WORKER_PHP_H

#include <stdbool.h>
#include <stddef.h>

struct qs_site;

#define QS_PHP_BODY_MAX  (8u << 20)    /* request body held for PHP (and --max-body) */
#define QS_PHP_HELD_MAX  (48u << 20)   /* all of a worker's held bodies */
/* bodies a worker buffers in files at once (descriptors: see loader/limits.h) */
#define QS_PHP_BODY_FILES_MAX 1024
#define QS_PHP_QUEUE_MAX 1024          /* requests waiting for a connection: 503 above */
/*
 * A request on a kept-alive connection whose php-fpm child has read none
 * of it after QS_PHP_PROBE_NS, and still none after QS_PHP_CONFIRM_NS,
 * finds the child still busy with the script before (which ended its
 * response early, fastcgi_finish_request()): that script is learnt, one
 * of so many per worker, and its requests close their connection from
 * then on.  The second look is for a loaded machine, where a child can
 * wait tens of milliseconds for a CPU: learning the demo page from that
 * once cost every later request of it a new connection.
 */
#define QS_PHP_PROBE_NS   (20u * 1000000u)
#define QS_PHP_CONFIRM_NS (250u * 1000000u)
#define QS_PHP_FINISHERS 64

/* A script by its path; the front controller's requests (--index) go to the index script. */
extern const struct qs_handler qs_php_handler;
extern const struct qs_handler qs_php_front_handler;

/* Is this :path a PHP script (by its extension), when PHP is on? */
bool qs_php_wants(const struct qs_site *site, const char *path, size_t pathlen);

/* The handler's per-worker state on site->php; it joins the site's loop. */
int qs_php_ctx_new(struct qs_site *site);
void qs_php_ctx_free(struct qs_site *site);

#endif
