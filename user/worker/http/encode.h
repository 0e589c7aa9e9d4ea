/* SPDX-License-Identifier: MIT */
/*
 * Content codings of responses (RFC 9110 8.4): the choice from a request's
 * Accept-Encoding, and the response filter that compresses a body with
 * Brotli, zstd or gzip as the handler gives it.  The filter sits in the
 * request layer between qs_send()/qs_send_file()/qs_end() and the
 * protocol, so HTTP/3, HTTP/2 and HTTP/1.1 all get it from one place.
 *
 * What is compressed (qs_enc_respond decides, once per response): a GET
 * body (not HEAD) of a status other than 204, 206 and 304, with no Range
 * in the request, no content-encoding and no `cache-control: no-transform`
 * in the response, a content type on --compress-types, a content-length
 * (when given) of at least --compress-min-size, and a coding the client
 * accepts.  Then content-length goes, an etag becomes weak (W/), and
 * content-encoding and `vary: accept-encoding` come.  A response that
 * could have been compressed but was not (the client accepts no coding)
 * gets `vary: accept-encoding` too, for the caches between.
 *
 * Memory: one encoder a response while it runs, its window bounded
 * (QS_ENC_WINDOW_LOG) and its allocations counted in the worker's response
 * budget (--max-response-memory) with the queued bytes; freed at the end.
 */
#ifndef QS_WORKER_HTTP_ENCODE_H
#define QS_WORKER_HTTP_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qs_req;
struct qs_site;
struct qs_field;
struct qs_config;

/* In the server's order of preference among equal q-values (smallest first). */
enum qs_coding {
	QS_CODING_IDENTITY,
	QS_CODING_BR,
	QS_CODING_ZSTD,
	QS_CODING_GZIP,
	QS_CODINGS
};

#define QS_CODING_BIT(c) (1u << (c))
#define QS_CODINGS_ALL (QS_CODING_BIT(QS_CODING_BR) | QS_CODING_BIT(QS_CODING_ZSTD) | \
			QS_CODING_BIT(QS_CODING_GZIP))

/*
 * 2^18 = 256 KB: the window of Brotli and zstd (gzip's is 32 KB).  Larger
 * windows gained under 1% on the pages measured (docs/benchmarks.md) and
 * cost their size per running response.
 */
#define QS_ENC_WINDOW_LOG 18

/* Compressed bytes gathered before they go to the protocol. */
#define QS_ENC_OUT 16384

/*
 * A body's first bytes wait until this many have come (or a flush, or the
 * end): a body that ends within them, as most pages do, is compressed in
 * one call that knows its size, and zstd and Brotli size their tables to
 * it instead of to an unknown length (docs/benchmarks.md, bench-encode).
 */
#define QS_ENC_STAGE 16384

/* The content-coding token ("br", "zstd", "gzip"); "identity". */
const char *qs_coding_name(enum qs_coding c);

/*
 * The server's order among codings of equal q-value.  Compressing as it
 * is sent: zstd first, it costs a quarter of Brotli's CPU for 1-2% more
 * bytes (docs/benchmarks.md: 5 us against 21 for the demo page, its
 * context reused).  A file compressed once, or precompressed: the
 * smallest, Brotli.
 */
extern const enum qs_coding qs_order_fast[QS_CODINGS - 1];
extern const enum qs_coding qs_order_small[QS_CODINGS - 1];

/*
 * The coding to answer with, from an Accept-Encoding value (NULL: none
 * given) among the codings in allowed (QS_CODING_BIT): the highest q-value,
 * `*` standing for the codings not listed, ties broken by order; q=0
 * refuses a coding.  IDENTITY when none is accepted, or when identity is
 * listed with a higher q-value than the best one.  Elements that do not
 * parse are ignored.  Pure: a fuzz target.
 */
enum qs_coding qs_accept_pick(const char *value, unsigned allowed,
			      const enum qs_coding order[QS_CODINGS - 1]);

/* Does a content type (parameters ignored) match the comma list? (--compress-types) */
bool qs_type_listed(const char *list, const char *type, size_t len);

/* The same for the worker's --compress-types, parsed once. */
bool qs_enc_type(struct qs_site *site, const char *type, size_t len);

/*
 * Called by qs_respond with the response's complete field list in f (room
 * for 3 more): compresses the body when it should (see above), rewriting
 * the fields and setting req->enc.  Returns the new number of fields.
 */
size_t qs_enc_respond(struct qs_req *req, int status, struct qs_field *f, size_t n);

/*
 * Would a body of this content type and length (-1: unknown) be
 * compressed for this request?  The coding, or IDENTITY.  For handlers that
 * have a choice (precompressed files): allowed as for qs_accept_pick.
 */
enum qs_coding qs_enc_choice(struct qs_req *req, const char *type, int64_t length,
			     unsigned allowed, const enum qs_coding order[QS_CODINGS - 1]);

/* The codings --compress-*-level leave on (QS_CODING_BIT). */
unsigned qs_enc_codings(const struct qs_config *cfg);

/*
 * in[0..len) compressed whole, as the filter would (same level and
 * window), into *out (malloc'd, the caller's).  0, -ENOMEM or -EIO.  For
 * a static file compressed once and then served from memory.
 */
int qs_enc_buffer(const struct qs_config *cfg, enum qs_coding c, const uint8_t *in, size_t len,
		  uint8_t **out, size_t *out_len);

/* The filter's share of qs_send(), qs_send_file(), qs_end(), qs_flush(). */
int qs_enc_send(struct qs_req *req, const uint8_t *data, size_t len);
int qs_enc_send_file(struct qs_req *req, int fd, uint64_t off, uint64_t len);
void qs_enc_end(struct qs_req *req);
int qs_enc_flush(struct qs_req *req);

/*
 * The client took bytes: a file being compressed goes on.  True when the
 * filter did (the handler has nothing to do), false otherwise.
 */
bool qs_enc_proceed(struct qs_req *req);

/* The response is over or the stream gone: free the encoder. */
void qs_enc_free(struct qs_req *req);

/*
 * The worker's idle zstd contexts (site->enc_ctx), kept for the next
 * response: a context's setup is most of the cost of a small one (42 us
 * fresh, 5 us reused, the demo page).  At most QS_ENC_IDLE_ZSTD.
 */
#define QS_ENC_IDLE_ZSTD 8
void qs_enc_ctx_free(struct qs_site *site);

#endif
