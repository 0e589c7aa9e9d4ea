// SPDX-License-Identifier: MIT
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "common/fcgi.h"
#include "common/hex.h"

/* ---- records ------------------------------------------------------------ */

size_t qs_fcgi_put_header(uint8_t hdr[QS_FCGI_HEADER_LEN], enum qs_fcgi_type type,
			  uint16_t id, size_t clen)
{
	size_t pad = qs_fcgi_padding(clen);

	hdr[0] = QS_FCGI_VERSION;
	hdr[1] = (uint8_t)type;
	hdr[2] = (uint8_t)(id >> 8);
	hdr[3] = (uint8_t)id;
	hdr[4] = (uint8_t)(clen >> 8);
	hdr[5] = (uint8_t)clen;
	hdr[6] = (uint8_t)pad;
	hdr[7] = 0;
	return pad;
}

ssize_t qs_fcgi_begin_request(void *buf, size_t size, uint16_t id, bool keep_conn)
{
	uint8_t *b = buf;

	if (!id)
		return -EINVAL;
	if (size < QS_FCGI_BEGIN_LEN)
		return -ENOSPC;
	qs_fcgi_put_header(b, QS_FCGI_BEGIN_REQUEST, id, 8);
	memset(b + QS_FCGI_HEADER_LEN, 0, 8);
	b[9] = QS_FCGI_RESPONDER;	/* role, big-endian: b[8] stays 0 */
	b[10] = keep_conn ? QS_FCGI_KEEP_CONN : 0;
	return QS_FCGI_BEGIN_LEN;
}

ssize_t qs_fcgi_abort_request(void *buf, size_t size, uint16_t id)
{
	if (!id)
		return -EINVAL;
	if (size < QS_FCGI_ABORT_LEN)
		return -ENOSPC;
	qs_fcgi_put_header(buf, QS_FCGI_ABORT_REQUEST, id, 0);
	return QS_FCGI_ABORT_LEN;
}

size_t qs_fcgi_stream_size(size_t len)
{
	size_t full = len / QS_FCGI_CONTENT_MAX, rest = len % QS_FCGI_CONTENT_MAX;

	/* no caller has half the address space of body in one buffer */
	if (len > SIZE_MAX / 2)
		return SIZE_MAX;
	return full * QS_FCGI_RECORD_MAX +
	       (rest ? QS_FCGI_HEADER_LEN + rest + qs_fcgi_padding(rest) : 0);
}

size_t qs_fcgi_stream_fit(size_t room)
{
	size_t full, rest;

	/* as qs_fcgi_stream_size(): keeps the inverse exact */
	if (room > SIZE_MAX / 2)
		room = SIZE_MAX / 2;
	full = room / QS_FCGI_RECORD_MAX;
	rest = room % QS_FCGI_RECORD_MAX;
	/* a last, shorter record: its padded content must fit after its header */
	rest = rest > QS_FCGI_HEADER_LEN ? (rest - QS_FCGI_HEADER_LEN) & ~(size_t)7 : 0;
	return full * QS_FCGI_CONTENT_MAX + rest;
}

static bool stream_type(enum qs_fcgi_type type)
{
	return type == QS_FCGI_PARAMS || type == QS_FCGI_STDIN || type == QS_FCGI_DATA;
}

ssize_t qs_fcgi_stream(void *buf, size_t size, enum qs_fcgi_type type, uint16_t id,
		       const void *data, size_t len)
{
	const uint8_t *src = data;
	uint8_t *b = buf;
	size_t need = qs_fcgi_stream_size(len), at = 0;

	if (!id || !stream_type(type))
		return -EINVAL;
	if (need > size || need > SSIZE_MAX)
		return -ENOSPC;
	while (len) {
		size_t n = len < QS_FCGI_CONTENT_MAX ? len : QS_FCGI_CONTENT_MAX;
		size_t pad = qs_fcgi_put_header(b + at, type, id, n);

		memcpy(b + at + QS_FCGI_HEADER_LEN, src, n);
		memset(b + at + QS_FCGI_HEADER_LEN + n, 0, pad);
		at += QS_FCGI_HEADER_LEN + n + pad;
		src += n;
		len -= n;
	}
	return (ssize_t)at;
}

ssize_t qs_fcgi_stream_end(void *buf, size_t size, enum qs_fcgi_type type, uint16_t id)
{
	if (!id || !stream_type(type))
		return -EINVAL;
	if (size < QS_FCGI_STREAM_END_LEN)
		return -ENOSPC;
	qs_fcgi_put_header(buf, type, id, 0);
	return QS_FCGI_STREAM_END_LEN;
}

/* ---- params ------------------------------------------------------------- */

void qs_fcgi_params_init(struct qs_fcgi_params *p, void *buf, size_t size)
{
	p->buf = buf;
	p->size = size;
	p->len = 0;
	p->last = SIZE_MAX;
}

static size_t len_width(size_t n)
{
	return n > 127 ? 4 : 1;
}

static uint8_t *put_len(uint8_t *b, size_t n)
{
	if (n <= 127) {
		*b = (uint8_t)n;
		return b + 1;
	}
	b[0] = (uint8_t)(n >> 24) | 0x80;
	b[1] = (uint8_t)(n >> 16);
	b[2] = (uint8_t)(n >> 8);
	b[3] = (uint8_t)n;
	return b + 4;
}

/* Reads a length this builder wrote: always in bounds. */
static size_t get_len(const uint8_t *b, size_t *width)
{
	if (!(b[0] & 0x80)) {
		*width = 1;
		return b[0];
	}
	*width = 4;
	return ((size_t)(b[0] & 0x7f) << 24) | ((size_t)b[1] << 16) |
	       ((size_t)b[2] << 8) | b[3];
}

/* Room for one pair's lengths; returns where its name goes, or NULL. */
static uint8_t *pair_start(struct qs_fcgi_params *p, size_t nlen, size_t vlen, int *err)
{
	size_t need;
	uint8_t *b;

	if (!nlen || nlen > QS_FCGI_PARAM_MAX || vlen > QS_FCGI_PARAM_MAX) {
		*err = -EINVAL;
		return NULL;
	}
	need = len_width(nlen) + len_width(vlen) + nlen + vlen;
	if (need > p->size - p->len) {
		*err = -ENOSPC;
		return NULL;
	}
	p->last = p->len;
	b = put_len(p->buf + p->len, nlen);
	b = put_len(b, vlen);
	p->len += need;
	return b;
}

int qs_fcgi_params_add(struct qs_fcgi_params *p, const char *name, size_t nlen,
		       const char *value, size_t vlen)
{
	int err = 0;
	uint8_t *b = pair_start(p, nlen, vlen, &err);

	if (!b)
		return err;
	memcpy(b, name, nlen);
	if (vlen)
		memcpy(b + nlen, value, vlen);
	return 0;
}

int qs_fcgi_params_add_str(struct qs_fcgi_params *p, const char *name, const char *value)
{
	return qs_fcgi_params_add(p, name, strlen(name), value, strlen(value));
}

int qs_fcgi_params_append(struct qs_fcgi_params *p, const char *sep, size_t seplen,
			  const char *more, size_t morelen)
{
	size_t nw, vw, nlen, vlen, nvlen, shift, data;
	uint8_t *b;

	if (p->last == SIZE_MAX)
		return -EINVAL;
	b = p->buf + p->last;
	nlen = get_len(b, &nw);
	vlen = get_len(b + nw, &vw);
	if (seplen > QS_FCGI_PARAM_MAX - vlen ||
	    morelen > QS_FCGI_PARAM_MAX - vlen - seplen)
		return -EINVAL;
	nvlen = vlen + seplen + morelen;
	shift = len_width(nvlen) - vw;	/* 0, or 3 when crossing 127 */
	if (shift + seplen + morelen > p->size - p->len)
		return -ENOSPC;
	data = nw + vw;
	if (shift)
		memmove(b + data + shift, b + data, nlen + vlen);
	put_len(b + nw, nvlen);
	p->len += shift;
	if (seplen)
		memcpy(p->buf + p->len, sep, seplen);
	if (morelen)
		memcpy(p->buf + p->len + seplen, more, morelen);
	p->len += seplen + morelen;
	return 0;
}

#define HTTP_PREFIX "HTTP_"
#define HTTP_PREFIX_LEN (sizeof(HTTP_PREFIX) - 1)

/* Writes the HTTP_ name into out (room checked by the caller). */
static void http_name(char *out, const char *name, size_t nlen)
{
	memcpy(out, HTTP_PREFIX, HTTP_PREFIX_LEN);
	for (size_t i = 0; i < nlen; i++) {
		char ch = name[i];

		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		else if (ch == '-')
			ch = '_';
		out[HTTP_PREFIX_LEN + i] = ch;
	}
}

static int http_name_check(const char *name, size_t nlen)
{
	if (!nlen || nlen > QS_FCGI_PARAM_MAX - HTTP_PREFIX_LEN)
		return -EINVAL;
	for (size_t i = 0; i < nlen; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-'))
			return -EINVAL;
	}
	if (nlen == 5 && !strncasecmp(name, "proxy", 5))
		return -EPERM;
	return 0;
}

ssize_t qs_fcgi_http_name(char *out, size_t size, const char *name, size_t nlen)
{
	int err = http_name_check(name, nlen);

	if (err)
		return err;
	if (size <= HTTP_PREFIX_LEN + nlen)
		return -ENOSPC;
	http_name(out, name, nlen);
	out[HTTP_PREFIX_LEN + nlen] = '\0';
	return (ssize_t)(HTTP_PREFIX_LEN + nlen);
}

int qs_fcgi_params_add_header(struct qs_fcgi_params *p, const char *name, size_t nlen,
			      const char *value, size_t vlen)
{
	int err = http_name_check(name, nlen);
	uint8_t *b;

	if (err)
		return err;
	b = pair_start(p, HTTP_PREFIX_LEN + nlen, vlen, &err);
	if (!b)
		return err;
	http_name((char *)b, name, nlen);
	if (vlen)
		memcpy(b + HTTP_PREFIX_LEN + nlen, value, vlen);
	return 0;
}

/* ---- decoder ------------------------------------------------------------ */

void qs_fcgi_parser_reset(struct qs_fcgi_parser *p, uint16_t id)
{
	memset(p, 0, sizeof(*p));
	p->expect_id = id;
	p->why = "";
}

static ssize_t parse_fail(struct qs_fcgi_parser *p, int err, const char *why)
{
	p->err = err;
	p->why = why;
	return err;
}

/* A complete header: is this a record a server may send us now? */
static ssize_t check_header(struct qs_fcgi_parser *p)
{
	uint8_t type = p->hdr[1];
	uint16_t id = (uint16_t)(p->hdr[2] << 8 | p->hdr[3]);
	uint32_t clen = (uint32_t)(p->hdr[4] << 8 | p->hdr[5]);

	if (p->hdr[0] != QS_FCGI_VERSION)
		return parse_fail(p, -EPROTONOSUPPORT, "record version is not 1");
	switch (type) {
	case QS_FCGI_STDOUT:
	case QS_FCGI_STDERR:
	case QS_FCGI_END_REQUEST:
		if (id != p->expect_id)
			return parse_fail(p, -ESRCH, "record for another request id");
		break;
	case QS_FCGI_GET_VALUES_RESULT:
	case QS_FCGI_UNKNOWN_TYPE:
		if (id)
			return parse_fail(p, -EBADMSG, "management record with a request id");
		break;
	default:
		return parse_fail(p, -EBADMSG, "record type a server never sends");
	}
	if ((type == QS_FCGI_END_REQUEST || type == QS_FCGI_UNKNOWN_TYPE) && clen != 8)
		return parse_fail(p, -EBADMSG, "END_REQUEST/UNKNOWN_TYPE body is not 8 bytes");
	if (type == QS_FCGI_STDOUT && p->stdout_done)
		return parse_fail(p, -EPROTO, "STDOUT after its closing record");
	if (type == QS_FCGI_STDERR && p->stderr_done)
		return parse_fail(p, -EPROTO, "STDERR after its closing record");
	p->left = clen;
	p->pad = p->hdr[6];
	p->blen = 0;
	return 0;
}

/* Past a record's content and padding: the next byte starts a header. */
static void record_done(struct qs_fcgi_parser *p)
{
	if (p->hlen == QS_FCGI_HEADER_LEN && !p->left && !p->pad)
		p->hlen = 0;
}

/*
 * Reported only after the record's padding too: the connection is then at
 * a record boundary, so the caller may reset the parser for its next
 * request without leftover padding being read as a header.
 */
static void end_event(struct qs_fcgi_parser *p, struct qs_fcgi_event *ev)
{
	p->ended = true;
	ev->type = QS_FCGI_EV_END;
	ev->id = p->expect_id;
	ev->app_status = (uint32_t)p->body[0] << 24 | (uint32_t)p->body[1] << 16 |
			 (uint32_t)p->body[2] << 8 | p->body[3];
	ev->protocol_status = p->body[4];
}

ssize_t qs_fcgi_parse(struct qs_fcgi_parser *p, const void *data, size_t len,
		      struct qs_fcgi_event *ev)
{
	const uint8_t *in = data;
	size_t used = 0;
	ssize_t err;

	memset(ev, 0, sizeof(*ev));
	if (p->err)
		return p->err;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (used < len) {
		size_t avail = len - used, n;
		uint8_t type = p->hdr[1];

		if (p->hlen < QS_FCGI_HEADER_LEN) {
			/* END is reported at a record boundary: this is a new record */
			if (p->ended)
				return parse_fail(p, -EPROTO, "data after END_REQUEST");
			n = QS_FCGI_HEADER_LEN - p->hlen;
			n = n < avail ? n : avail;
			memcpy(p->hdr + p->hlen, in + used, n);
			p->hlen = (uint8_t)(p->hlen + n);
			used += n;
			if (p->hlen < QS_FCGI_HEADER_LEN)
				break;
			err = check_header(p);
			if (err)
				return err;
			type = p->hdr[1];
			if ((type == QS_FCGI_STDOUT || type == QS_FCGI_STDERR) && !p->left) {
				if (type == QS_FCGI_STDOUT)
					p->stdout_done = true;
				else
					p->stderr_done = true;
				ev->type = type == QS_FCGI_STDOUT ? QS_FCGI_EV_STDOUT
								  : QS_FCGI_EV_STDERR;
				ev->id = p->expect_id;
				record_done(p);
				return (ssize_t)used;
			}
			record_done(p);
			continue;
		}
		if (p->left) {
			n = p->left < avail ? p->left : avail;
			if (type == QS_FCGI_STDOUT || type == QS_FCGI_STDERR) {
				ev->type = type == QS_FCGI_STDOUT ? QS_FCGI_EV_STDOUT
								  : QS_FCGI_EV_STDERR;
				ev->id = p->expect_id;
				ev->data = in + used;
				ev->len = n;
				p->left -= (uint32_t)n;
				used += n;
				record_done(p);
				return (ssize_t)used;
			}
			if (type == QS_FCGI_END_REQUEST || type == QS_FCGI_UNKNOWN_TYPE) {
				/* clen is 8 for both (check_header), so body[] holds it */
				memcpy(p->body + p->blen, in + used, n);
				p->blen = (uint8_t)(p->blen + n);
			}
			p->left -= (uint32_t)n;
		} else {
			n = p->pad < avail ? p->pad : avail;
			p->pad = (uint8_t)(p->pad - n);
		}
		used += n;
		if (type == QS_FCGI_END_REQUEST && !p->left && !p->pad) {
			end_event(p, ev);
			record_done(p);
			return (ssize_t)used;
		}
		record_done(p);
	}
	return (ssize_t)used;
}

int qs_fcgi_parse_eof(struct qs_fcgi_parser *p)
{
	if (p->err)
		return p->err;
	if (p->hlen) {
		p->err = -EBADMSG;
		p->why = "connection closed inside a record";
		return p->err;
	}
	if (!p->ended) {
		p->err = -ECONNABORTED;
		p->why = "connection closed before END_REQUEST";
		return p->err;
	}
	return 0;
}

/* ---- CGI header block --------------------------------------------------- */

void qs_cgi_init(struct qs_cgi *c, char *buf, size_t size)
{
	memset(c, 0, sizeof(*c));
	c->buf = buf;
	c->size = size;
	c->content_length = -1;
	c->why = "";
}

static int cgi_fail(struct qs_cgi *c, int err, const char *why)
{
	c->err = err;
	c->why = why;
	return err;
}

/* RFC 9110 5.6.2 tchar */
static bool tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch && strchr("!#$%&'*+-.^_`|~", ch);
}

static bool name_is(const char *name, size_t len, const char *lit)
{
	return strlen(lit) == len && !memcmp(name, lit, len);
}

static int parse_status(struct qs_cgi *c, const char *v, size_t len)
{
	int status;

	if (c->has_status)
		return cgi_fail(c, -EINVAL, "Status given twice");
	if (len < 3 || (len > 3 && v[3] != ' ') ||
	    v[0] < '0' || v[0] > '9' || v[1] < '0' || v[1] > '9' || v[2] < '0' || v[2] > '9')
		return cgi_fail(c, -EINVAL, "Status is not three digits");
	status = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
	if (status < 200 || status > 599)
		return cgi_fail(c, -EINVAL, "Status outside 200..599");
	c->status = status;
	c->has_status = true;
	return 0;
}

/* 1 to drop a repeat, 0 to keep, or the error */
static int parse_content_length(struct qs_cgi *c, const char *v, size_t len)
{
	int64_t n = 0;

	if (!len)
		return cgi_fail(c, -EINVAL, "Content-Length is empty");
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return cgi_fail(c, -EINVAL, "Content-Length is not a number");
		if (n > (INT64_MAX - (v[i] - '0')) / 10)
			return cgi_fail(c, -EINVAL, "Content-Length too large");
		n = n * 10 + (v[i] - '0');
	}
	if (c->content_length >= 0) {
		if (c->content_length != n)
			return cgi_fail(c, -EINVAL, "two different Content-Length values");
		return 1;
	}
	c->content_length = n;
	return 0;
}

/* connection-specific: RFC 9114 4.2 makes a message carrying one malformed */
static bool hop_by_hop(const char *name, size_t len)
{
	static const char *const names[] = {
		"connection", "keep-alive", "proxy-connection", "transfer-encoding",
		"upgrade", "te",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (name_is(name, len, names[i]))
			return true;
	return false;
}

/*
 * The line at buf[c->out .. c->len) (LF not included) is complete: check
 * it and rewrite it at c->out as "name\0value\0".  Returns 1 for the blank
 * line, 0 for a field, or the error.
 */
static int cgi_line(struct qs_cgi *c)
{
	char *line = c->buf + c->out, *colon, *v;
	size_t len = c->len - c->out, nlen, vlen;
	int ret;

	if (len && line[len - 1] == '\r')
		len--;
	if (!len) {
		/* raw counts this line: 1 or 2 bytes means nothing came before */
		if (c->raw <= 2)
			return cgi_fail(c, -ENODATA, "empty CGI header block");
		return 1;
	}
	colon = memchr(line, ':', len);
	if (!colon)
		return cgi_fail(c, -EINVAL, "CGI header line without a colon");
	nlen = (size_t)(colon - line);
	if (!nlen)
		return cgi_fail(c, -EINVAL, "CGI header with an empty name");
	for (size_t i = 0; i < nlen; i++) {
		if (!tchar((unsigned char)line[i]))
			return cgi_fail(c, -EINVAL, "CGI header name with a non-token byte");
		if (line[i] >= 'A' && line[i] <= 'Z')
			line[i] = (char)(line[i] - 'A' + 'a');
	}
	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	for (size_t i = 0; i < vlen; i++)
		if (v[i] == '\0' || v[i] == '\r')
			return cgi_fail(c, -EINVAL, "CGI header value with NUL or CR");

	if (name_is(line, nlen, "status"))
		return parse_status(c, v, vlen);
	if (hop_by_hop(line, nlen))
		return 0;
	if (name_is(line, nlen, "content-length")) {
		ret = parse_content_length(c, v, vlen);
		if (ret)
			return ret < 0 ? ret : 0;
	}
	if (name_is(line, nlen, "location"))
		c->has_location = true;
	/*
	 * The value moves left by at least the colon.  Its NUL lands at most
	 * on the byte after the line, where the LF was: counted in raw, so
	 * inside the buffer.
	 */
	line[nlen] = '\0';
	memmove(line + nlen + 1, v, vlen);
	line[nlen + 1 + vlen] = '\0';
	c->out += nlen + 1 + vlen + 1;
	c->count++;
	return 0;
}

int qs_cgi_feed(struct qs_cgi *c, const void *data, size_t len, size_t *body_off)
{
	const char *in = data;
	size_t used = 0;
	int ret;

	*body_off = 0;
	if (c->err)
		return c->err;
	if (c->done)
		return 1;
	while (used < len) {
		const char *nl = memchr(in + used, '\n', len - used);
		size_t n = nl ? (size_t)(nl - (in + used)) : len - used;

		/* the line's bytes and its LF count; buf holds fewer (no LF, rewritten) */
		if (n + (nl ? 1 : 0) > c->size - c->raw)
			return cgi_fail(c, -EMSGSIZE, "CGI header block too large");
		memcpy(c->buf + c->len, in + used, n);
		c->len += n;
		c->raw += n;
		used += n;
		if (!nl)
			break;
		c->raw++;
		used++;
		ret = cgi_line(c);
		c->len = c->out;
		if (ret < 0)
			return ret;
		if (ret == 1) {
			c->done = true;
			if (!c->has_status)
				c->status = c->has_location ? 302 : 200;
			*body_off = used;
			return 1;
		}
	}
	return 0;
}

int qs_cgi_eof(struct qs_cgi *c)
{
	if (c->err)
		return c->err;
	if (!c->done)
		return cgi_fail(c, -ENODATA, "STDOUT ended inside the CGI header block");
	return 0;
}

bool qs_cgi_next(const struct qs_cgi *c, size_t *pos, struct qs_cgi_field *f)
{
	size_t at = *pos;

	if (!c->done || at >= c->out)
		return false;
	f->name = c->buf + at;
	f->name_len = strlen(f->name);
	at += f->name_len + 1;
	f->value = c->buf + at;
	f->value_len = strlen(f->value);
	*pos = at + f->value_len + 1;
	return true;
}

/* ---- CGI request variables and STDERR ---------------------------------- */

ssize_t qs_cgi_path_info(const char *raw, size_t n, char *out, size_t size)
{
	size_t o = 0, seg = 0;

	if (!size)
		return -ENOSPC;
	if (n && raw[0] != '/')
		return -EINVAL;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = i < n ? (unsigned char)raw[i] : '/';
		int hi, lo;

		if (c == '/') {
			size_t len = o - seg;

			if (len && out[seg] == '.' &&
			    (len == 1 || (len == 2 && out[seg + 1] == '.')))
				return -EINVAL;
			/* "//" collapses; a trailing slash stays */
			if (i == n || (o && out[o - 1] == '/'))
				continue;
			if (o + 1 >= size)
				return -ENOSPC;
			out[o++] = '/';
			seg = o;
			continue;
		}
		if (c == '%') {
			if (n - i < 3 || (hi = qs_hex_digit((unsigned char)raw[i + 1])) < 0 ||
			    (lo = qs_hex_digit((unsigned char)raw[i + 2])) < 0)
				return -EINVAL;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
			if (c == '/')
				return -EINVAL;
		}
		if (c < 0x20 || c == 0x7f || c == '\\')
			return -EINVAL;
		if (o + 1 >= size)
			return -ENOSPC;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (ssize_t)o;
}

size_t qs_fcgi_log_escape(char *out, size_t size, const void *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *b = in;
	size_t o = 0, i = 0, all = len;

	if (len && b[len - 1] == '\n')
		len--;
	for (; i < len; i++) {
		uint8_t c = b[i];

		if (c < 0x20 || c == 0x7f || c == '\\') {
			if (size - o < 5)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			if (size - o < 2)
				break;
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return i == len ? all : i;	/* the dropped newline is taken with the rest */
}
