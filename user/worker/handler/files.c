// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/handler/filecache.h"
#include "worker/handler/files.h"
#include "worker/handler/static.h"
#include "worker/http/req.h"
#include "worker/site.h"

struct qs_static_ctx {
	struct qs_fcache fcache;
};

int qs_static_ctx_new(struct qs_site *site)
{
	struct qs_static_ctx *sc = calloc(1, sizeof(*sc));
	int ret;

	if (!sc)
		return -ENOMEM;
	ret = qs_fcache_init(&sc->fcache);
	if (ret) {
		free(sc);
		return ret;
	}
	site->static_ctx = sc;
	return 0;
}

void qs_static_ctx_free(struct qs_site *site)
{
	if (!site->static_ctx)
		return;
	qs_fcache_free(&site->static_ctx->fcache);
	free(site->static_ctx);
	site->static_ctx = NULL;
}

static uint64_t now_ms(void)
{
	return qs_clock_ns() / 1000000u;
}

/* Decimal digits of v, ending at end (no NUL); snprintf showed in profiles. */
static char *u64_str(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

/* Fields of a 200/206 file answer into f; returns how many. */
size_t qs_static_file_fields(struct qs_field *f, const struct qs_static_resp *r, char *len_buf,
			     size_t len_size)
{
	char *len_s = u64_str(len_buf + len_size, r->length);
	size_t n = 0;

	f[n++] = (struct qs_field)QS_FIELD("content-type", r->content_type,
					    strlen(r->content_type));
	f[n++] = (struct qs_field)QS_FIELD("content-length", len_s,
					    (size_t)(len_buf + len_size - len_s));
	f[n++] = (struct qs_field)QS_FIELD("accept-ranges", "bytes", 5);
	if (r->last_modified[0])
		f[n++] = (struct qs_field)QS_FIELD("last-modified", r->last_modified,
						    strlen(r->last_modified));
	if (r->etag[0])
		f[n++] = (struct qs_field)QS_FIELD("etag", r->etag, strlen(r->etag));
	if (r->content_range[0])
		f[n++] = (struct qs_field)QS_FIELD("content-range", r->content_range,
						    strlen(r->content_range));
	return n;
}

/* 304: the validators again, no body (RFC 9110 15.4.5). */
int qs_static_respond_not_modified(struct qs_req *req, const struct qs_static_resp *r)
{
	struct qs_field f[2];
	size_t n = 0;

	if (r->last_modified[0])
		f[n++] = (struct qs_field)QS_FIELD("last-modified", r->last_modified,
						    strlen(r->last_modified));
	if (r->etag[0])
		f[n++] = (struct qs_field)QS_FIELD("etag", r->etag, strlen(r->etag));
	return qs_respond(req, 304, f, n, false);
}

/* A static request's hdata while it waits for a file slot of its connection. */
static char file_slot_wait;

static int respond_file(struct qs_req *req)
{
	struct qs_site *site = req->site;
	struct qs_fcache *fc = &site->static_ctx->fcache;
	const struct qs_fcache_entry *e;
	struct qs_static_resp r;
	struct qs_field f[8];
	char len_buf[24];
	size_t n;
	int ret;

	/* a hot small file: no syscalls (Range is always resolved) */
	if (!req->range && (req->head || !strcmp(req->method, "GET")) &&
	    (e = qs_fcache_get(fc, req->path, req->pathlen, now_ms()))) {
		if (qs_not_modified(req->if_none_match, req->if_modified_since, &e->resp))
			return qs_static_respond_not_modified(req, &e->resp);
		n = qs_static_file_fields(f, &e->resp, len_buf, sizeof(len_buf));
		ret = qs_respond(req, 200, f, n, e->len > 0);
		if (!ret && e->len)
			ret = qs_send(req, e->data, e->len);
		qs_end(req);
		return ret;
	}

	/* a file to hold open while it is sent: the connection may hold only so many */
	if (!req->head && !strcmp(req->method, "GET") && qs_req_file_wait(req)) {
		req->hdata = &file_slot_wait;	/* see static_proceed */
		return 0;
	}
	ret = qs_static_resolve(site->docroot, req->method, req->path, req->pathlen, req->range,
				&r);
	if ((r.status == 206 || r.status == 416) && req->if_range &&
	    !qs_if_range_matches(req->if_range, &r)) {
		/* the client's copy is another version: the whole file, not a part */
		if (r.fd >= 0)
			close(r.fd);
		ret = qs_static_resolve(site->docroot, req->method, req->path, req->pathlen, NULL,
					&r);
	}
	if (qs_not_modified(req->if_none_match, req->if_modified_since, &r)) {
		if (r.fd >= 0)
			close(r.fd);
		return qs_static_respond_not_modified(req, &r);
	}
	if (ret < 0 && r.status == 0)
		r.status = 500;
	if (ret < 0)
		pr_debug("request %" PRIu64 ": %s: %s", req->id, req->path, strerror(-ret));
	if (r.status != 200 && r.status != 206) {
		if (r.fd >= 0)
			close(r.fd);
		return qs_respond_error(req, r.status, r.allow, r.content_range);
	}
	if (!r.head)
		qs_fcache_put(fc, req->path, req->pathlen, &r, r.fd, now_ms());
	n = qs_static_file_fields(f, &r, len_buf, sizeof(len_buf));
	return qs_static_send(req, &r, f, n);
}

int qs_static_send(struct qs_req *req, const struct qs_static_resp *r, const struct qs_field *f,
		   size_t n)
{
	int ret = qs_respond(req, r->status, f, n, !r->head && r->length > 0);

	if (r->fd < 0) {
		qs_end(req);
		return ret;
	}
	if (ret) {
		close(r->fd);
		return ret;
	}
	return qs_send_file(req, r->fd, r->offset, r->length);
}

static int static_start(struct qs_req *req)
{
	/* no body to wait for: answer now and stop it from coming */
	if (strcmp(req->method, "GET") && !req->head) {
		int ret = respond_file(req);

		qs_req_stop_body(req);
		return ret;
	}
	return 0;
}

/* GET and HEAD answer at the end of the request; a body is dropped. */
static int static_body(struct qs_req *req, const uint8_t *data, size_t len, bool end)
{
	(void)data;
	qs_req_consume(req, len);
	return end && !req->status ? respond_file(req) : 0;
}

/* The connection has a file slot again (or the client took bytes: nothing to do). */
static void static_proceed(struct qs_req *req)
{
	if (req->hdata != &file_slot_wait)
		return;
	req->hdata = NULL;
	if (respond_file(req))
		qs_abort(req);
}

const struct qs_handler qs_static_handler = {
	.name = "static",
	.start = static_start,
	.body = static_body,
	.proceed = static_proceed,
};

bool qs_static_exists(struct qs_site *site, const char *path, size_t pathlen)
{
	struct qs_static_resp r;

	/* a file in the cache is one (no second resolution) */
	if (qs_fcache_get(&site->static_ctx->fcache, path, pathlen, now_ms()))
		return true;
	qs_static_resolve(site->docroot, "HEAD", path, pathlen, NULL, &r);
	if (r.fd >= 0)
		close(r.fd);
	return r.status != 404;
}
