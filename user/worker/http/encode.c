// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include "common/config.h"
#include "common/log.h"
#include "quicsteer/steer.h"
#include "worker/counters.h"
#include "worker/http/encode.h"
#include "worker/http/req.h"
#include "worker/site.h"

/* ---- Accept-Encoding (RFC 9110 12.5.3) --------------------------------- */

static const char *const coding_names[QS_CODINGS] = { "identity", "br", "zstd", "gzip" };

const char *qs_coding_name(enum qs_coding c)
{
	return c < QS_CODINGS ? coding_names[c] : "identity";
}

static bool ows(char c)
{
	return c == ' ' || c == '\t';
}

/* [s, e) without the blanks around it. */
static void trim(const char **s, const char **e)
{
	while (*s < *e && ows(**s))
		(*s)++;
	while (*e > *s && ows((*e)[-1]))
		(*e)--;
}

/* A qvalue (RFC 9110 12.4.2) in thousandths, or -1: "0", "0.5", "1.000". */
static int parse_q(const char *p, size_t n)
{
	int q, scale = 100;

	if (!n || (p[0] != '0' && p[0] != '1'))
		return -1;
	q = (p[0] - '0') * 1000;
	if (n == 1)
		return q;
	if (p[1] != '.' || n > 5)
		return -1;
	for (size_t i = 2; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		q += (p[i] - '0') * scale;
		scale /= 10;
	}
	return q > 1000 ? -1 : q;
}

/* The coding a token names, QS_CODINGS for "*", -1 for one we do not know. */
static int coding_of(const char *t, size_t n)
{
	if (n == 1 && t[0] == '*')
		return QS_CODINGS;
	for (int c = 0; c < QS_CODINGS; c++)
		if (strlen(coding_names[c]) == n && !strncasecmp(t, coding_names[c], n))
			return c;
	if (n == 6 && !strncasecmp(t, "x-gzip", 6))
		return QS_CODING_GZIP;
	return -1;
}

/* One element "token *(;param)": its q in thousandths, -1 when it does not parse. */
static int element_q(const char *s, const char *e)
{
	int q = 1000;

	while (s < e) {
		const char *p = memchr(s, ';', (size_t)(e - s)), *pe;

		if (!p)
			break;
		s = p + 1;
		pe = memchr(s, ';', (size_t)(e - s));
		pe = pe ? pe : e;
		p = s;
		trim(&p, &pe);
		if (pe - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
			p += 2;
			trim(&p, &pe);
			q = parse_q(p, (size_t)(pe - p));
			if (q < 0)
				return -1;
		}
		s = pe;
	}
	return q;
}

const enum qs_coding qs_order_fast[QS_CODINGS - 1] = {
	QS_CODING_ZSTD, QS_CODING_BR, QS_CODING_GZIP,
};
const enum qs_coding qs_order_small[QS_CODINGS - 1] = {
	QS_CODING_BR, QS_CODING_ZSTD, QS_CODING_GZIP,
};

enum qs_coding qs_accept_pick(const char *value, unsigned allowed,
			      const enum qs_coding order[QS_CODINGS - 1])
{
	int q[QS_CODINGS + 1];	/* the last: "*" */
	enum qs_coding pick = QS_CODING_IDENTITY;
	int best = 0;

	if (!value)
		return QS_CODING_IDENTITY;
	for (int c = 0; c <= QS_CODINGS; c++)
		q[c] = -1;
	for (const char *s = value; *s;) {
		const char *e = strchr(s, ','), *t, *te;
		int c, eq;

		e = e ? e : s + strlen(s);
		t = s;
		te = memchr(s, ';', (size_t)(e - s));
		te = te ? te : e;
		trim(&t, &te);
		c = coding_of(t, (size_t)(te - t));
		eq = c >= 0 ? element_q(te, e) : -1;
		/* listed twice: the lower q stands, so a refusal is never lost */
		if (eq >= 0 && (q[c] < 0 || eq < q[c]))
			q[c] = eq;
		s = *e ? e + 1 : e;
	}
	for (int i = 0; i < QS_CODINGS - 1; i++) {
		enum qs_coding c = order[i];
		int qc = q[c] >= 0 ? q[c] : q[QS_CODINGS] >= 0 ? q[QS_CODINGS] : 0;

		if ((allowed & QS_CODING_BIT(c)) && qc > best) {
			best = qc;
			pick = c;
		}
	}
	/* identity is acceptable unless refused: it wins only when asked for more */
	if (q[QS_CODING_IDENTITY] > best)
		return QS_CODING_IDENTITY;
	return pick;
}

/* One entry of --compress-types. */
struct type_rule {
	enum { TYPE_WHOLE, TYPE_SUFFIX, TYPE_EXACT } kind;
	const char *s;              /* "text/", "+json", "application/javascript" */
	size_t n;
};

/* The next rule of the list at *s (advanced past it): false at the end. */
static bool next_rule(const char **s, struct type_rule *r)
{
	for (;;) {
		const char *e, *t;

		while (**s == ',')
			(*s)++;
		if (!**s)
			return false;
		e = strchr(*s, ',');
		e = e ? e : *s + strlen(*s);
		t = *s;
		*s = e;
		trim(&t, &e);
		r->s = t;
		r->n = (size_t)(e - t);
		if (r->n >= 2 && t[r->n - 2] == '/' && t[r->n - 1] == '*') {
			r->kind = TYPE_WHOLE;
			r->n--;	/* "text/" */
		} else if (r->n && t[0] == '+') {
			r->kind = TYPE_SUFFIX;
		} else {
			r->kind = TYPE_EXACT;
		}
		if (r->n)
			return true;
	}
}

/* type[0..len), its parameters and blanks cut, matched by r. */
static bool rule_match(const struct type_rule *r, const char *type, size_t len)
{
	switch (r->kind) {
	case TYPE_WHOLE:
		return len >= r->n && !strncasecmp(type, r->s, r->n);
	case TYPE_SUFFIX:
		/* "+json": application/ld+json, and application/json itself */
		return len > r->n && (type[len - r->n] == '+' || type[len - r->n] == '/') &&
		       !strncasecmp(type + len - r->n + 1, r->s + 1, r->n - 1);
	default:
		return r->n == len && !strncasecmp(type, r->s, len);
	}
}

/* The media type of a content-type value: its length, parameters and blanks cut. */
static size_t type_len(const char *type, size_t len)
{
	const char *semi = memchr(type, ';', len);

	if (semi)
		len = (size_t)(semi - type);
	while (len && ows(type[len - 1]))
		len--;
	return len;
}

bool qs_type_listed(const char *list, const char *type, size_t len)
{
	struct type_rule r;

	len = type_len(type, len);
	while (next_rule(&list, &r))
		if (rule_match(&r, type, len))
			return true;
	return false;
}

/* ---- the encoder ------------------------------------------------------- */

struct qs_enc {
	enum qs_coding coding;
	struct qs_site *site;
	size_t mem;                 /* allocated by the library, in the response budget */
	BrotliEncoderState *br;
	ZSTD_CCtx *zs;
	size_t zs_charged;          /* ZSTD_sizeof_CCtx, in the response budget */
	z_stream gz;
	bool gz_init;
	bool pending;               /* input since the last flush */
	bool started;               /* the library has seen input (stage given) */
	int fd;                     /* a file being compressed (qs_send_file), -1: none */
	uint64_t file_off, file_left;
	uint64_t in, out;           /* bytes, for the counters */
	char etag[96];              /* the weakened etag */
	size_t out_len;
	uint8_t buf[QS_ENC_OUT];    /* compressed bytes not yet given to the protocol */
	size_t stage_len;
	uint8_t stage[QS_ENC_STAGE]; /* the body's first bytes, until started */
};

/* What the libraries allocate, counted: a size before each block. */
union mem_hdr {
	size_t size;
	max_align_t align;
};

static void *enc_alloc(void *opaque, size_t size)
{
	struct qs_enc *enc = opaque;
	union mem_hdr *h = malloc(sizeof(*h) + size);

	if (!h)
		return NULL;
	h->size = size;
	enc->mem += size;
	qs_resp_held(enc->site, (int64_t)size);
	return h + 1;
}

static void enc_release(void *opaque, void *p)
{
	struct qs_enc *enc = opaque;
	union mem_hdr *h;

	if (!p)
		return;
	h = (union mem_hdr *)p - 1;
	enc->mem -= h->size;
	qs_resp_held(enc->site, -(int64_t)h->size);
	free(h);
}

static void *zlib_alloc(void *opaque, uInt items, uInt size)
{
	return enc_alloc(opaque, (size_t)items * size);
}

/*
 * The worker's: idle zstd contexts, and --compress-types parsed once (it
 * is asked up to three times a static response: parsing the list each
 * time was 5 % of a worker's CPU serving 1 KB files).
 */
struct qs_enc_ctx {
	ZSTD_CCtx *idle[QS_ENC_IDLE_ZSTD];
	unsigned n_idle;
	size_t n_types;
	struct type_rule types[];
};

static struct qs_enc_ctx *ctx_of(struct qs_site *site)
{
	const char *list = site->cfg->compress_types;
	struct qs_enc_ctx *ec = site->enc_ctx;
	struct type_rule r;
	size_t n = 0;

	if (ec)
		return ec;
	for (const char *s = list; next_rule(&s, &r);)
		n++;
	ec = calloc(1, sizeof(*ec) + n * sizeof(ec->types[0]));
	if (!ec)
		return NULL;
	for (const char *s = list; next_rule(&s, &ec->types[ec->n_types]);)
		ec->n_types++;
	return site->enc_ctx = ec;
}

bool qs_enc_type(struct qs_site *site, const char *type, size_t len)
{
	const struct qs_enc_ctx *ec = ctx_of(site);

	if (!ec)	/* out of memory: the slow way */
		return qs_type_listed(site->cfg->compress_types, type, len);
	len = type_len(type, len);
	for (size_t i = 0; i < ec->n_types; i++)
		if (rule_match(&ec->types[i], type, len))
			return true;
	return false;
}

/* A zstd context set up for a response: an idle one, or a new one. */
static ZSTD_CCtx *zstd_take(struct qs_site *site)
{
	struct qs_enc_ctx *ec = site->enc_ctx;
	ZSTD_CCtx *z;

	if (ec && ec->n_idle)
		return ec->idle[--ec->n_idle];	/* reset, its parameters kept */
	z = ZSTD_createCCtx();
	if (z && (ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel,
						      (int)site->cfg->compress_zstd_level)) ||
		  ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_windowLog, QS_ENC_WINDOW_LOG)))) {
		ZSTD_freeCCtx(z);
		z = NULL;
	}
	return z;
}

/* Keep it for the next response, or free it when enough are kept. */
static void zstd_give_back(struct qs_site *site, ZSTD_CCtx *z)
{
	struct qs_enc_ctx *ec = ctx_of(site);

	if (!ec || ec->n_idle == QS_ENC_IDLE_ZSTD ||
	    ZSTD_isError(ZSTD_CCtx_reset(z, ZSTD_reset_session_only))) {
		ZSTD_freeCCtx(z);
		return;
	}
	ec->idle[ec->n_idle++] = z;
}

void qs_enc_ctx_free(struct qs_site *site)
{
	struct qs_enc_ctx *ec = site->enc_ctx;

	if (!ec)
		return;
	while (ec->n_idle)
		ZSTD_freeCCtx(ec->idle[--ec->n_idle]);
	free(ec);
	site->enc_ctx = NULL;
}

/* The context's memory in the response budget (it grows with its first input). */
static void zstd_charge(struct qs_enc *enc)
{
	size_t now = ZSTD_sizeof_CCtx(enc->zs);

	qs_resp_held(enc->site, (int64_t)now - (int64_t)enc->zs_charged);
	enc->zs_charged = now;
}

static struct qs_enc *enc_new(struct qs_req *req, enum qs_coding c)
{
	const struct qs_config *cfg = req->site->cfg;
	struct qs_enc *enc = malloc(sizeof(*enc));

	if (!enc)
		return NULL;
	memset(enc, 0, offsetof(struct qs_enc, buf));
	enc->stage_len = 0;
	enc->coding = c;
	enc->site = req->site;
	enc->fd = -1;
	qs_resp_held(req->site, (int64_t)sizeof(*enc));
	switch (c) {
	case QS_CODING_BR:
		enc->br = BrotliEncoderCreateInstance(enc_alloc, enc_release, enc);
		if (!enc->br ||
		    !BrotliEncoderSetParameter(enc->br, BROTLI_PARAM_QUALITY, cfg->compress_br_level) ||
		    !BrotliEncoderSetParameter(enc->br, BROTLI_PARAM_LGWIN, QS_ENC_WINDOW_LOG))
			goto fail;
		break;
	case QS_CODING_ZSTD:
		enc->zs = zstd_take(req->site);
		if (!enc->zs)
			goto fail;
		zstd_charge(enc);
		break;
	case QS_CODING_GZIP:
		enc->gz.zalloc = zlib_alloc;
		enc->gz.zfree = enc_release;
		enc->gz.opaque = enc;
		/* 15 + 16: a 32 KB window and the gzip wrapper; memLevel 8 is zlib's default */
		if (deflateInit2(&enc->gz, (int)cfg->compress_gzip_level, Z_DEFLATED, 15 + 16, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			goto fail;
		enc->gz_init = true;
		break;
	default:
		goto fail;
	}
	return enc;
fail:
	req->enc = enc;
	qs_enc_free(req);
	return NULL;
}

void qs_enc_free(struct qs_req *req)
{
	struct qs_enc *enc = req->enc;

	if (!enc)
		return;
	if (enc->br)
		BrotliEncoderDestroyInstance(enc->br);
	if (enc->zs) {
		qs_resp_held(enc->site, -(int64_t)enc->zs_charged);
		zstd_give_back(enc->site, enc->zs);
	}
	if (enc->gz_init)
		deflateEnd(&enc->gz);
	if (enc->fd >= 0) {
		close(enc->fd);
		qs_req_file_closed(req);
	}
	qs_resp_held(enc->site, -(int64_t)sizeof(*enc));
	free(enc);
	req->enc = NULL;
}

enum enc_op { ENC_RUN, ENC_FLUSH, ENC_FINISH };

static int emit(struct qs_req *req, struct qs_enc *enc)
{
	int ret = 0;

	if (enc->out_len) {
		ret = req->ops->send(req, enc->buf, enc->out_len);
		enc->out += enc->out_len;
		enc->out_len = 0;
	}
	return ret;
}

/* Is the library's step done (out not full)?  1 yes, 0 go on, -EIO failed. */
static int step_br(struct qs_enc *enc, const uint8_t **in, size_t *len, enum enc_op op)
{
	static const BrotliEncoderOperation ops[] = {
		BROTLI_OPERATION_PROCESS, BROTLI_OPERATION_FLUSH, BROTLI_OPERATION_FINISH,
	};
	size_t avail = QS_ENC_OUT - enc->out_len;
	uint8_t *next = enc->buf + enc->out_len;

	if (!BrotliEncoderCompressStream(enc->br, ops[op], len, in, &avail, &next, NULL))
		return -EIO;
	enc->out_len = QS_ENC_OUT - avail;
	if (op == ENC_FINISH)
		return BrotliEncoderIsFinished(enc->br);
	return !*len && !BrotliEncoderHasMoreOutput(enc->br);
}

static int step_zstd(struct qs_enc *enc, const uint8_t **in, size_t *len, enum enc_op op)
{
	static const ZSTD_EndDirective ops[] = { ZSTD_e_continue, ZSTD_e_flush, ZSTD_e_end };
	ZSTD_inBuffer ib = { *in, *len, 0 };
	ZSTD_outBuffer ob = { enc->buf, QS_ENC_OUT, enc->out_len };
	size_t left = ZSTD_compressStream2(enc->zs, &ob, &ib, ops[op]);

	if (ZSTD_isError(left))
		return -EIO;
	*in += ib.pos;
	*len -= ib.pos;
	enc->out_len = ob.pos;
	zstd_charge(enc);
	return op == ENC_RUN ? !*len : left == 0;
}

static int step_gzip(struct qs_enc *enc, const uint8_t **in, size_t *len, enum enc_op op)
{
	static const int ops[] = { Z_NO_FLUSH, Z_SYNC_FLUSH, Z_FINISH };
	int r;

	enc->gz.next_in = (Bytef *)*in;
	enc->gz.avail_in = (uInt)*len;
	enc->gz.next_out = enc->buf + enc->out_len;
	enc->gz.avail_out = (uInt)(QS_ENC_OUT - enc->out_len);
	r = deflate(&enc->gz, ops[op]);
	if (r == Z_STREAM_ERROR)
		return -EIO;
	*in = enc->gz.next_in;
	*len = enc->gz.avail_in;
	enc->out_len = QS_ENC_OUT - enc->gz.avail_out;
	if (op == ENC_FINISH)
		return r == Z_STREAM_END;
	/* a flush is complete when deflate left room in the output */
	return !*len && enc->gz.avail_out > 0;
}

/* The whole body is n bytes: the library sizes its tables to it. */
static void size_known(struct qs_enc *enc, size_t n)
{
	if (enc->coding == QS_CODING_ZSTD)
		ZSTD_CCtx_setPledgedSrcSize(enc->zs, n);
	else if (enc->coding == QS_CODING_BR)
		BrotliEncoderSetParameter(enc->br, BROTLI_PARAM_SIZE_HINT, (uint32_t)n);
}

/*
 * Feed len bytes (op: and flush, or finish), giving the protocol each
 * QS_ENC_OUT of output as it fills; a flush or finish gives it the rest.
 * Input is taken whole, so the memory is the encoder's and its buffers.
 */
static int feed(struct qs_req *req, const uint8_t *in, size_t len, enum enc_op op)
{
	struct qs_enc *enc = req->enc;
	int done, ret;

	for (;;) {
		switch (enc->coding) {
		case QS_CODING_BR:
			done = step_br(enc, &in, &len, op);
			break;
		case QS_CODING_ZSTD:
			done = step_zstd(enc, &in, &len, op);
			break;
		default:
			done = step_gzip(enc, &in, &len, op);
			break;
		}
		if (done < 0) {
			pr_warn("request %" PRIu64 ": %s encoder failed: reset", req->id,
				qs_coding_name(enc->coding));
			return done;
		}
		if (enc->out_len == QS_ENC_OUT || (done && op != ENC_RUN)) {
			ret = emit(req, enc);
			if (ret)
				return ret;
		}
		if (done && enc->out_len < QS_ENC_OUT)
			break;
	}
	return 0;
}

/* A body's bytes, staged first (see QS_ENC_STAGE), then fed. */
static int enc_run(struct qs_req *req, const uint8_t *in, size_t len, enum enc_op op)
{
	struct qs_enc *enc = req->enc;
	int ret = 0;

	enc->in += len;
	if (len)
		enc->pending = true;
	if (!enc->started) {
		if (op == ENC_RUN && len <= QS_ENC_STAGE - enc->stage_len) {
			memcpy(enc->stage + enc->stage_len, in, len);
			enc->stage_len += len;
			return 0;
		}
		enc->started = true;
		if (op == ENC_FINISH && !len)
			size_known(enc, enc->stage_len);
		if (enc->stage_len || !len)	/* an empty body too has a frame */
			ret = feed(req, enc->stage, enc->stage_len, len ? ENC_RUN : op);
		if (ret || !len)
			goto out;
	}
	ret = feed(req, in, len, op);
out:
	if (!ret && op != ENC_RUN)
		enc->pending = false;
	return ret;
}

int qs_enc_buffer(const struct qs_config *cfg, enum qs_coding c, const uint8_t *in, size_t len,
		  uint8_t **out, size_t *out_len)
{
	size_t cap = c == QS_CODING_BR ? BrotliEncoderMaxCompressedSize(len) :
		     c == QS_CODING_ZSTD ? ZSTD_compressBound(len) : len + len / 1000 + 64;
	uint8_t *buf = cap ? malloc(cap) : NULL;
	int ret = -EIO;

	if (!buf)
		return -ENOMEM;
	if (c == QS_CODING_BR) {
		*out_len = cap;
		if (BrotliEncoderCompress((int)cfg->compress_br_level, QS_ENC_WINDOW_LOG,
					  BROTLI_MODE_GENERIC, len, in, out_len, buf))
			ret = 0;
	} else if (c == QS_CODING_ZSTD) {
		ZSTD_CCtx *z = ZSTD_createCCtx();
		size_t n;

		if (z && !ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel,
							      (int)cfg->compress_zstd_level)) &&
		    !ZSTD_isError(ZSTD_CCtx_setParameter(z, ZSTD_c_windowLog, QS_ENC_WINDOW_LOG)) &&
		    !ZSTD_isError(n = ZSTD_compress2(z, buf, cap, in, len))) {
			*out_len = n;
			ret = 0;
		}
		ZSTD_freeCCtx(z);
	} else if (c == QS_CODING_GZIP) {
		z_stream z = { 0 };

		if (deflateInit2(&z, (int)cfg->compress_gzip_level, Z_DEFLATED, 15 + 16, 8,
				 Z_DEFAULT_STRATEGY) == Z_OK) {
			z.next_in = (Bytef *)in;
			z.avail_in = (uInt)len;
			z.next_out = buf;
			z.avail_out = (uInt)cap;
			if (deflate(&z, Z_FINISH) == Z_STREAM_END) {
				*out_len = cap - z.avail_out;
				ret = 0;
			}
			deflateEnd(&z);
		}
	}
	if (ret) {
		free(buf);
		return ret;
	}
	*out = buf;
	return 0;
}

/* ---- the filter -------------------------------------------------------- */

/* a literal name: its length known at compile time, most fields differ in it */
#define field_is(f, lit) ((f)->name_len == sizeof(lit) - 1 && !memcmp((f)->name, lit, sizeof(lit) - 1))

static bool value_has(const struct qs_field *f, const char *word)
{
	size_t n = strlen(word);

	for (size_t i = 0; i + n <= f->value_len; i++)
		if (!strncasecmp(f->value + i, word, n))
			return true;
	return false;
}

unsigned qs_enc_codings(const struct qs_config *cfg)
{
	unsigned m = 0;

	if (cfg->compress_br_level)
		m |= QS_CODING_BIT(QS_CODING_BR);
	if (cfg->compress_zstd_level)
		m |= QS_CODING_BIT(QS_CODING_ZSTD);
	if (cfg->compress_gzip_level)
		m |= QS_CODING_BIT(QS_CODING_GZIP);
	return m;
}

enum qs_coding qs_enc_choice(struct qs_req *req, const char *type, int64_t length,
			     unsigned allowed, const enum qs_coding order[QS_CODINGS - 1])
{
	const struct qs_config *cfg = req->site->cfg;

	if (!type || !qs_enc_type(req->site, type, strlen(type)) ||
	    (length >= 0 && (uint64_t)length < cfg->compress_min_size))
		return QS_CODING_IDENTITY;
	return qs_accept_pick(req->accept_encoding, allowed, order);
}

static int64_t parse_len(const struct qs_field *f)
{
	int64_t v = 0;

	if (!f->value_len || f->value_len > 18)
		return -1;
	for (size_t i = 0; i < f->value_len; i++) {
		if (f->value[i] < '0' || f->value[i] > '9')
			return -1;
		v = v * 10 + (f->value[i] - '0');
	}
	return v;
}

size_t qs_enc_respond(struct qs_req *req, int status, struct qs_field *f, size_t n)
{
	static const struct qs_field vary = QS_FIELD("vary", "accept-encoding", 15);
	const struct qs_config *cfg = req->site->cfg;
	const struct qs_field *type = NULL;
	int len_i = -1, etag_i = -1;
	int64_t length = -1;
	struct qs_enc *enc;
	enum qs_coding c;

	if (status < 200 || status == 204 || status == 206 || status == 304)
		return n;
	for (size_t i = 0; i < n; i++) {
		if (field_is(&f[i], "content-encoding") ||
		    (field_is(&f[i], "cache-control") && value_has(&f[i], "no-transform")))
			return n;
		if (field_is(&f[i], "content-type"))
			type = &f[i];
		else if (field_is(&f[i], "content-length"))
			len_i = (int)i;
		else if (field_is(&f[i], "etag"))
			etag_i = (int)i;
	}
	if (len_i >= 0)
		length = parse_len(&f[len_i]);
	if (!type || !qs_enc_type(req->site, type->value, type->value_len) ||
	    (length >= 0 && (uint64_t)length < cfg->compress_min_size))
		return n;
	c = req->range ? QS_CODING_IDENTITY : qs_accept_pick(req->accept_encoding,
							      qs_enc_codings(cfg), qs_order_fast);
	if (c == QS_CODING_IDENTITY || !(enc = enc_new(req, c))) {
		f[n++] = vary;
		return n;
	}
	req->enc = enc;
	count(&req->site->stats->resp_compressed, 1);
	if (etag_i >= 0) {
		struct qs_field *e = &f[etag_i];

		if (e->value_len >= 2 && !memcmp(e->value, "W/", 2)) {
			/* weak already */
		} else if (e->value_len + 3 <= sizeof(enc->etag)) {
			memcpy(enc->etag, "W/", 2);
			memcpy(enc->etag + 2, e->value, e->value_len);
			e->value = enc->etag;
			e->value_len += 2;
		} else {
			f[etag_i] = f[--n];	/* too long to weaken here: none */
			if (len_i == (int)n)
				len_i = etag_i;
		}
	}
	if (len_i >= 0)
		f[len_i] = f[--n];
	f[n++] = (struct qs_field)QS_FIELD("content-encoding", qs_coding_name(c),
					    strlen(qs_coding_name(c)));
	f[n++] = vary;
	return n;
}

int qs_enc_send(struct qs_req *req, const uint8_t *data, size_t len)
{
	return enc_run(req, data, len, ENC_RUN);
}

int qs_enc_flush(struct qs_req *req)
{
	if (!req->enc->pending)
		return 0;
	return enc_run(req, NULL, 0, ENC_FLUSH);
}

static void count_bytes(struct qs_req *req)
{
	struct qs_worker_stats *ws = req->site->stats;

	count(&ws->compress_in, req->enc->in);
	count(&ws->compress_out, req->enc->out);
}

void qs_enc_end(struct qs_req *req)
{
	int ret = enc_run(req, NULL, 0, ENC_FINISH);

	count_bytes(req);
	qs_enc_free(req);
	if (ret)
		req->ops->abort(req);
	else
		req->ops->end(req);
}

/* A file through the encoder: as much as the client's window takes, then wait. */
static int pump(struct qs_req *req)
{
	struct qs_enc *enc = req->enc;
	uint8_t chunk[32768];
	int ret;

	while (enc->file_left && !req->ops->backlog(req)) {
		size_t want = enc->file_left < sizeof(chunk) ? (size_t)enc->file_left : sizeof(chunk);
		ssize_t got = pread(enc->fd, chunk, want, (off_t)enc->file_off);

		if (got <= 0) {
			pr_warn("request %" PRIu64 ": reading the file to compress: %s: reset",
				req->id, got < 0 ? strerror(errno) : "it shrank");
			return -EIO;
		}
		enc->file_off += (uint64_t)got;
		enc->file_left -= (uint64_t)got;
		ret = enc_run(req, chunk, (size_t)got, ENC_RUN);
		if (ret)
			return ret;
	}
	if (!enc->file_left) {
		close(enc->fd);
		enc->fd = -1;
		qs_req_file_closed(req);
		qs_enc_end(req);
	}
	return 0;
}

int qs_enc_send_file(struct qs_req *req, int fd, uint64_t off, uint64_t len)
{
	struct qs_enc *enc = req->enc;

	enc->fd = fd;
	enc->file_off = off;
	enc->file_left = len;
	if (req->conn_files)
		++*req->conn_files;
	return pump(req);
}

bool qs_enc_proceed(struct qs_req *req)
{
	if (!req->enc || req->enc->fd < 0)
		return false;
	if (pump(req))
		qs_abort(req);
	return true;
}
