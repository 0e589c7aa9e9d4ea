/* SPDX-License-Identifier: MIT */
/*
 * The static-file handler: answers a request from the docroot through the
 * request layer (GET and HEAD, Range, conditional requests, 405 for other
 * methods), small hot files from the worker's file cache without a system
 * call.  Resolution and validation are static.c's; the cache filecache.c's.
 */
#ifndef QS_WORKER_HANDLER_FILES_H
#define QS_WORKER_HANDLER_FILES_H

#include <stdbool.h>
#include <stddef.h>

struct qs_site;

extern const struct qs_handler qs_static_handler;

/* The handler's per-worker state (the file cache), on site->static_ctx. */
int qs_static_ctx_new(struct qs_site *site);
void qs_static_ctx_free(struct qs_site *site);

struct qs_field;
struct qs_req;
struct qs_static_resp;

/* The fields of a 200/206 answer of r into f (8 at most): how many. */
size_t qs_static_file_fields(struct qs_field *f, const struct qs_static_resp *r, char *len_buf,
			     size_t len_size);

/* Answer r (200/206) with the fields f[0..n) and its file, which it takes. */
int qs_static_send(struct qs_req *req, const struct qs_static_resp *r, const struct qs_field *f,
		   size_t n);

/* 304 with r's validators. */
int qs_static_respond_not_modified(struct qs_req *req, const struct qs_static_resp *r);

/* Does path name something the static handler serves (not a 404)? */
bool qs_static_exists(struct qs_site *site, const char *path, size_t pathlen);

#endif
