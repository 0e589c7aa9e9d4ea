/* SPDX-License-Identifier: MIT */
/*
 * PHP requests over FastCGI (--fastcgi): a request for a .php script under
 * the docroot becomes one FastCGI connection to the pool (php-fpm), its
 * params as nginx's fastcgi_params plus what HTTP/3 needs, its body as
 * STDIN; the CGI header block of STDOUT becomes the HTTP/3 response and the
 * rest streams to the client as it arrives, the socket read paused while
 * the client has a window's worth unacknowledged.
 *
 * Connections are kept alive (FCGI_KEEP_CONN), at most this worker's share
 * of the pool's children; requests beyond wait in a bounded queue (503
 * when full).  Request bodies are buffered up to a limit (413 above).  No byte from
 * php-fpm for --fastcgi-timeout: 504 (a reset once the response started).
 */
#ifndef QS_WORKER_PHP_H
#define QS_WORKER_PHP_H

#include <stdbool.h>
#include <stdint.h>

struct qs_stream;
struct qs_server;

#define QS_PHP_BODY_MAX  (8u << 20)    /* request body held for PHP */
#define QS_PHP_HELD_MAX  (48u << 20)   /* all of a worker's held bodies */
#define QS_PHP_QUEUE_MAX 1024          /* requests waiting for a connection: 503 above */

/* Is this :path a PHP script (by its extension), when PHP is on? */
bool qs_php_wants(const struct qs_server *s, const char *path, size_t pathlen);
/*
 * Start the request: at its end, or (php_stream_body, a Content-Length
 * given) as soon as its headers are in; 0 or -errno.
 */
int qs_php_start(struct qs_stream *st);
/*
 * Body bytes of a streamed request (end: the request is complete).  The
 * flow-control credit for them returns only once php-fpm has them.
 */
int qs_php_body(struct qs_stream *st, const uint8_t *data, size_t len, bool end);
/* epoll event on a FastCGI connection. */
void qs_php_on_event(struct qs_server *s, void *conn, uint32_t events);
/* The client acknowledged data of st: maybe read from php-fpm again. */
void qs_php_on_acked(struct qs_stream *st);
/* The stream is going away: drop its FastCGI connection. */
void qs_php_stream_closed(struct qs_stream *st);

/* The earliest FastCGI deadline (ns, qs_now() clock), UINT64_MAX if none. */
uint64_t qs_php_next_deadline(void);
/* Answer 504 (or reset) what waited too long for php-fpm. */
void qs_php_on_timer(uint64_t now);

/*
 * The worker drains (SIGTERM, or a reload's new generation took over):
 * close the idle kept-alive connections now and each busy one when its
 * request ends, so the pool's children serve the next generation at once.
 */
void qs_php_drain(void);

/* Free the FastCGI connections closed during this batch of events. */
void qs_php_reap(void);

/* epoll data of a FastCGI connection: the top bit tags it */
#define QS_EV_PHP_TAG (1ULL << 63)

#endif
