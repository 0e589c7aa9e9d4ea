// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "quicsteer/steer.h"
#include "worker/counters.h"
#include "worker/http/date.h"
#include "worker/http/encode.h"
#include "worker/handler/filecache.h"
#include "worker/handler/files.h"
#include "worker/handler/static.h"
#include "worker/http/req.h"
#include "worker/site.h"

/* Cache headers of one kind of file: --static-cache-control or ...-fingerprinted. */
struct cache_rule {
	const char *value;          /* "" = none */
	int64_t max_age;            /* from value, -1: none (then no expires) */
	time_t expires_at;          /* the second expires was made for */
	char expires[40];
};

struct qs_static_ctx {
	struct qs_fcache fcache;
	/* precompressed variants by coding ([IDENTITY] unused): the same bounds each */
	struct qs_fcache variants[QS_CODINGS];
	struct cache_rule plain, fingerprinted;
};

/* "max-age=N" in a cache-control value, or -1 */
static int64_t max_age(const char *v)
{
	const char *p = strstr(v, "max-age=");
	int64_t n = 0;

	if (!p || (p > v && p[-1] != ' ' && p[-1] != ','))
		return -1;
	p += 8;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9' && n < 1000000000000; p++)
		n = n * 10 + (*p - '0');
	return n;
}

static void rule_init(struct cache_rule *r, const char *value)
{
	r->value = value;
	r->max_age = value[0] ? max_age(value) : -1;
}

int qs_static_ctx_new(struct qs_site *site)
{
	const struct qs_config *cfg = site->cfg;
	struct qs_static_ctx *sc = calloc(1, sizeof(*sc));
	int ret;

	if (!sc)
		return -ENOMEM;
	site->static_ctx = sc;
	ret = qs_fcache_init(&sc->fcache);
	for (int c = QS_CODING_IDENTITY + 1; !ret && c < QS_CODINGS; c++) {
		ret = qs_fcache_init(&sc->variants[c]);
		/* a compressed 1 MB file (COMPRESS_ONCE_MAX) at the ratio of text */
		sc->variants[c].max_file = 256u << 10;
	}
	if (ret) {
		qs_static_ctx_free(site);
		return ret;
	}
	rule_init(&sc->plain, cfg->static_cache_control);
	rule_init(&sc->fingerprinted, cfg->static_cache_fingerprinted[0] ?
		  cfg->static_cache_fingerprinted : cfg->static_cache_control);
	return 0;
}

void qs_static_ctx_free(struct qs_site *site)
{
	struct qs_static_ctx *sc = site->static_ctx;

	if (!sc)
		return;
	if (sc->fcache.buckets)
		qs_fcache_free(&sc->fcache);
	for (int c = QS_CODING_IDENTITY + 1; c < QS_CODINGS; c++)
		if (sc->variants[c].buckets)
			qs_fcache_free(&sc->variants[c]);
	free(sc);
	site->static_ctx = NULL;
}

static bool alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * A name whose last '.' or '-' part before the extension is a content hash
 * (app.3f2a1c9e.js, index-BFdJ7a3k.css): 8 to 64 letters and digits with a
 * digit, either lowercase hex with a letter or of mixed case.  Such a name
 * changes with its content, so it may be cached for good.
 */
static bool fingerprinted(const char *path, size_t len)
{
	const char *q = memchr(path, '?', len), *base, *ext, *tok;
	bool digit = false, lower = false, upper = false, hex = true, hexletter = false;

	if (q)
		len = (size_t)(q - path);
	base = memrchr(path, '/', len);
	base = base ? base + 1 : path;
	ext = memrchr(base, '.', (size_t)(path + len - base));
	if (!ext || ext == base)
		return false;
	for (tok = ext; tok > base && tok[-1] != '.' && tok[-1] != '-'; tok--)
		;
	if (tok == base || ext - tok < 8 || ext - tok > 64)
		return false;
	for (const char *p = tok; p < ext; p++) {
		if (!alnum(*p))
			return false;
		digit |= *p >= '0' && *p <= '9';
		lower |= *p >= 'a' && *p <= 'z';
		upper |= *p >= 'A' && *p <= 'Z';
		hexletter |= *p >= 'a' && *p <= 'f';
		hex &= (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f');
	}
	return digit && ((hex && hexletter) || (lower && upper));
}

/*
 * cache-control and expires of a static answer into f; returns how many.
 * expires only over HTTP/1.x: it is for HTTP/1.0 caches, which can only
 * sit behind an HTTP/1 hop; an HTTP/1.1 or later cache ignores it when
 * max-age is given (RFC 9111 5.3), and over HTTP/3 its 36 bytes a
 * response cost CPU in QPACK's Huffman coding for nothing.
 */
static size_t cache_fields(struct qs_req *req, struct qs_field *f)
{
	struct qs_static_ctx *sc = req->site->static_ctx;
	struct cache_rule *r = fingerprinted(req->path, req->pathlen) ? &sc->fingerprinted
									 : &sc->plain;
	size_t n = 0;

	if (!r->value[0])
		return 0;
	f[n++] = (struct qs_field)QS_FIELD("cache-control", r->value, strlen(r->value));
	if (r->max_age >= 0 && !strncmp(req->protocol, "HTTP/1.", 7)) {
		time_t now = time(NULL);

		if (now != r->expires_at) {	/* once a second, not once a request */
			qs_imf_fixdate(now + (time_t)r->max_age, r->expires, sizeof(r->expires));
			r->expires_at = now;
		}
		if (r->expires[0])
			f[n++] = (struct qs_field)QS_FIELD("expires", r->expires,
							    strlen(r->expires));
	}
	return n;
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

/* Fields of a 200/206 file answer into f (room for 6); returns how many. */
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

/* The same and a docroot file's cache headers (room for 10). */
static size_t file_fields(struct qs_req *req, struct qs_field *f, const struct qs_static_resp *r,
			  char *len_buf, size_t len_size)
{
	size_t n = qs_static_file_fields(f, r, len_buf, len_size);

	return n + cache_fields(req, f + n);
}

static const struct qs_field vary_field = QS_FIELD("vary", "accept-encoding", 15);

/*
 * 304: the validators again, no body (RFC 9110 15.4.5); a docroot file's
 * cache headers too (cache), and vary for one that has codings.
 */
static int not_modified(struct qs_req *req, const struct qs_static_resp *r, bool cache,
			bool vary)
{
	struct qs_field f[5];
	size_t n = 0;

	if (r->last_modified[0])
		f[n++] = (struct qs_field)QS_FIELD("last-modified", r->last_modified,
						    strlen(r->last_modified));
	if (r->etag[0])
		f[n++] = (struct qs_field)QS_FIELD("etag", r->etag, strlen(r->etag));
	if (cache)
		n += cache_fields(req, f + n);
	if (vary)
		f[n++] = vary_field;
	return qs_respond(req, 304, f, n, false);
}

int qs_static_respond_not_modified(struct qs_req *req, const struct qs_static_resp *r)
{
	return not_modified(req, r, false, false);
}

static int respond_not_modified(struct qs_req *req, const struct qs_static_resp *r, bool vary)
{
	return not_modified(req, r, true, vary);
}

/* The extension of a coding's precompressed file. */
static const char *variant_ext(enum qs_coding c)
{
	return c == QS_CODING_BR ? ".br" : c == QS_CODING_ZSTD ? ".zst" : ".gz";
}

/* The :path of a file's variant (query cut, a directory's index named): its length, or 0. */
static size_t variant_path(const struct qs_req *req, enum qs_coding c, char *buf, size_t size)
{
	const char *q = memchr(req->path, '?', req->pathlen);
	size_t len = q ? (size_t)(q - req->path) : req->pathlen;
	const char *index = len && req->path[len - 1] == '/' ? "index.html" : "";
	int n = snprintf(buf, size, "%.*s%s%s", (int)len, req->path, index, variant_ext(c));

	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* Not older than the original: a variant left behind by an edit is not served. */
static bool variant_fresh(const struct qs_static_resp *v, const struct qs_static_resp *orig)
{
	return qs_parse_imf_fixdate(v->last_modified) >= qs_parse_imf_fixdate(orig->last_modified);
}

/* The codings with a fresh precompressed file next to orig (QS_CODING_BIT). */
static unsigned variants_of(struct qs_req *req, const struct qs_static_resp *orig)
{
	const struct qs_config *cfg = req->site->cfg;
	char path[QS_STATIC_PATH_MAX + 16];
	unsigned have = 0;

	if (!cfg->precompressed ||
	    !qs_enc_type(req->site, orig->content_type, strlen(orig->content_type)))
		return 0;
	for (int c = QS_CODING_IDENTITY + 1; c < QS_CODINGS; c++) {
		struct qs_static_resp v;
		size_t len = variant_path(req, (enum qs_coding)c, path, sizeof(path));

		if (!len)
			continue;
		qs_static_resolve(req->site->docroot, "HEAD", path, len, NULL, &v);
		if (v.status == 200 && variant_fresh(&v, orig))
			have |= QS_CODING_BIT(c);
	}
	return have;
}

/*
 * The client's choice among the precompressed files in have, served: 1 when
 * answered (ret set), 0 when none is to be (the original goes out).  A
 * variant that went away or went stale since have was learnt is skipped.
 */
static int respond_variant(struct qs_req *req, const struct qs_static_resp *orig,
			   unsigned have, int *ret)
{
	struct qs_static_ctx *sc = req->site->static_ctx;
	char path[QS_STATIC_PATH_MAX + 16], len_buf[24];
	const struct qs_fcache_entry *e;
	struct qs_static_resp v;
	struct qs_field f[12];
	enum qs_coding c;
	size_t n, len;

	while ((c = qs_enc_choice(req, orig->content_type, -1, have, qs_order_small)) !=
	       QS_CODING_IDENTITY) {
		have &= ~QS_CODING_BIT(c);
		e = qs_fcache_get(&sc->variants[c], req->path, req->pathlen, now_ms());
		if (e) {
			v = e->resp;
		} else {
			len = variant_path(req, c, path, sizeof(path));
			if (!len)
				continue;
			qs_static_resolve(req->site->docroot, req->method, path, len, NULL, &v);
			if (v.status != 200 || !variant_fresh(&v, orig)) {
				if (v.fd >= 0)
					close(v.fd);
				continue;
			}
			v.content_type = orig->content_type;
			if (!v.head)
				qs_fcache_put(&sc->variants[c], req->path, req->pathlen, &v, v.fd,
					      now_ms());
		}
		count(&req->site->stats->resp_precompressed, 1);
		if (qs_not_modified(req->if_none_match, req->if_modified_since, &v)) {
			if (v.fd >= 0)
				close(v.fd);
			*ret = respond_not_modified(req, &v, true);
			return 1;
		}
		n = file_fields(req, f, &v, len_buf, sizeof(len_buf));
		f[n++] = (struct qs_field)QS_FIELD("content-encoding", qs_coding_name(c),
						    strlen(qs_coding_name(c)));
		f[n++] = vary_field;
		*ret = qs_respond(req, 200, f, n, v.length > 0);
		if (e) {
			if (!*ret && e->len)
				*ret = qs_send(req, e->data, e->len);
			qs_end(req);
		} else if (v.fd < 0 || *ret) {
			if (v.fd >= 0)
				close(v.fd);
			if (!*ret)
				qs_end(req);
		} else {
			*ret = qs_send_file(req, v.fd, v.offset, v.length);
		}
		return 1;
	}
	return 0;
}

/*
 * Larger compressible files are compressed as they are sent (the request
 * layer's filter); up to this, once into the cache of the coding.  The
 * 100 KB page of make bench-encode costs 2 ms of CPU to compress with
 * Brotli 4: once a second (QS_FCACHE_TTL_MS), not once a request.
 */
#define COMPRESS_ONCE_MAX (1u << 20)

/*
 * The client's coding of a compressible file of orig (its bytes in data,
 * or to be read from fd) from the coding's cache, compressed first when
 * not there: 1 when answered (ret set), 0 when it is not to be compressed
 * here.
 */
static int respond_compressed(struct qs_req *req, const struct qs_static_resp *orig,
			      const uint8_t *data, int fd, int *ret)
{
	const struct qs_config *cfg = req->site->cfg;
	struct qs_static_ctx *sc = req->site->static_ctx;
	const struct qs_fcache_entry *e;
	struct qs_static_resp v;
	uint8_t *z = NULL, *read_buf = NULL;
	struct qs_field f[12];
	char len_buf[24];
	enum qs_coding c;
	size_t n, zlen;

	if (!cfg->compress || req->head || req->range || orig->length > COMPRESS_ONCE_MAX ||
	    (c = qs_enc_choice(req, orig->content_type, (int64_t)orig->length,
			       qs_enc_codings(cfg), qs_order_small)) == QS_CODING_IDENTITY)
		return 0;
	e = qs_fcache_get(&sc->variants[c], req->path, req->pathlen, now_ms());
	if (e) {
		v = e->resp;
		data = e->data;
		zlen = e->len;
	} else {
		if (!data) {
			read_buf = malloc(orig->length ? orig->length : 1);
			if (!read_buf || pread(fd, read_buf, orig->length, 0) != (ssize_t)orig->length) {
				free(read_buf);
				return 0;	/* the filter has a go, and says what fails */
			}
			data = read_buf;
		}
		if (qs_enc_buffer(cfg, c, data, orig->length, &z, &zlen)) {
			free(read_buf);
			return 0;
		}
		count(&req->site->stats->compress_in, orig->length);
		count(&req->site->stats->compress_out, zlen);
		free(read_buf);
		v = *orig;
		v.length = zlen;
		/* another representation of the same: a weak validator (RFC 9110 8.8.1) */
		snprintf(v.etag, sizeof(v.etag), "W/%.*s", (int)sizeof(v.etag) - 3, orig->etag);
		if (qs_fcache_put_data(&sc->variants[c], req->path, req->pathlen, &v, z, zlen,
				       now_ms()))
			data = z, z = NULL;	/* the cache's now: served from there */
		else
			data = z;
	}
	if (qs_not_modified(req->if_none_match, req->if_modified_since, &v)) {
		*ret = respond_not_modified(req, &v, true);
	} else {
		count(&req->site->stats->resp_compressed, 1);
		n = file_fields(req, f, &v, len_buf, sizeof(len_buf));
		f[n++] = (struct qs_field)QS_FIELD("content-encoding", qs_coding_name(c),
						    strlen(qs_coding_name(c)));
		f[n++] = vary_field;
		*ret = qs_respond(req, 200, f, n, zlen > 0);
		if (!*ret)
			*ret = qs_send(req, data, zlen);
		qs_end(req);
	}
	free(z);
	return 1;
}

/* A static request's hdata while it waits for a file slot of its connection. */
static char file_slot_wait;

static int respond_file(struct qs_req *req)
{
	struct qs_site *site = req->site;
	struct qs_fcache *fc = &site->static_ctx->fcache;
	const struct qs_fcache_entry *e;
	struct qs_fcache_entry *put;
	struct qs_static_resp r;
	struct qs_field f[12];
	unsigned have = 0;
	char len_buf[24];
	size_t n;
	int ret;

	/* a hot small file: no syscalls (Range is always resolved) */
	if (!req->range && (req->head || !strcmp(req->method, "GET")) &&
	    (e = qs_fcache_get(fc, req->path, req->pathlen, now_ms()))) {
		if (e->variants && respond_variant(req, &e->resp, e->variants, &ret))
			return ret;
		if (respond_compressed(req, &e->resp, e->data, -1, &ret))
			return ret;
		if (qs_not_modified(req->if_none_match, req->if_modified_since, &e->resp))
			return respond_not_modified(req, &e->resp, false);
		n = file_fields(req, f, &e->resp, len_buf, sizeof(len_buf));
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
		return respond_not_modified(req, &r, false);
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
	if (r.status == 200)
		have = variants_of(req, &r);
	if (!r.head && (put = qs_fcache_put(fc, req->path, req->pathlen, &r, r.fd, now_ms())))
		put->variants = have;
	/* Range gets the original: the part of a compressed file is no use to a client */
	if ((have && !req->range && respond_variant(req, &r, have, &ret)) ||
	    (r.status == 200 && respond_compressed(req, &r, NULL, r.fd, &ret))) {
		if (r.fd >= 0)
			close(r.fd);
		return ret;
	}
	n = file_fields(req, f, &r, len_buf, sizeof(len_buf));
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
	.upstream = "static",
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
