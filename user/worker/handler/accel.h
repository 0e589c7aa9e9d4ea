/* SPDX-License-Identifier: MIT */
/*
 * X-Accel-Redirect (nginx's name for it): a PHP answer carrying
 * `x-accel-redirect: /protected/file.zip` is answered with that file from
 * the internal location `--accel-redirect /protected/=DIR` (DIR/file.zip),
 * Range and conditional requests included, with the script's other fields;
 * what the script writes after its head is dropped, and its php-fpm child
 * is free as soon as the script ends, whatever the download takes.
 * Clients cannot ask for the internal location themselves: 404.
 */
#ifndef QS_WORKER_HANDLER_ACCEL_H
#define QS_WORKER_HANDLER_ACCEL_H

#include <stdbool.h>
#include <stddef.h>

struct qs_field;
struct qs_req;
struct qs_site;

/* What answers a client's request for the internal location: 404. */
extern const struct qs_handler qs_internal_handler;

/* Does path fall in the internal location? */
bool qs_accel_internal(const struct qs_site *site, const char *path, size_t len);

/* Open the internal location's directory (before the sandbox): 0 or -errno. */
int qs_accel_open(struct qs_site *site);
void qs_accel_close(struct qs_site *site);

/*
 * Answer req with the file uri names (x-accel-redirect's value) and the
 * script's fields f[0..n) (those about the body are the file's): 0 or
 * -errno.  An uri outside the internal location is the script's fault:
 * 500, logged.
 */
int qs_accel_respond(struct qs_req *req, const char *uri, size_t uri_len,
		     const struct qs_field *f, size_t n);

#endif
