// SPDX-License-Identifier: MIT
/*
 * The HTTP/1.1 request head and chunked body, strictly (RFC 9112): see
 * h1parse.h for why our own and what is refused.  Finding the end of a
 * head looks at each byte once however it trickles in (scan); the head is
 * parsed once, whole.
 */
#include <string.h>
#include <strings.h>

#include "worker/http/h1parse.h"

/* RFC 9110 5.6.2 */
static bool tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

/* field-vchar, SP, HTAB (RFC 9110 5.5): no NUL, CR, LF, other controls, DEL */
static bool value_char(uint8_t c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool ieq(const uint8_t *a, size_t al, const char *b)
{
	size_t bl = strlen(b);

	if (al != bl)
		return false;
	for (size_t i = 0; i < al; i++) {
		uint8_t c = a[i];

		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c + 32);
		if (c != (uint8_t)b[i])
			return false;
	}
	return true;
}

static bool is_name(const struct qs_h1_field *f, const char *name)
{
	return f->nl == strlen(name) && !memcmp(f->name, name, f->nl);
}

/* 1*DIGIT, at most 18 digits (under INT64_MAX), or -1 */
static int64_t parse_length(const uint8_t *v, size_t len)
{
	int64_t n = 0;

	if (!len || len > 18)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	return n;
}

/* Connection: a comma-separated list of tokens (RFC 9110 7.6.1) */
static void parse_connection(struct qs_h1_head *h, const uint8_t *v, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t s, e;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < len && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (ieq(v + s, e - s, "close"))
			h->close = true;
		else if (ieq(v + s, e - s, "keep-alive"))
			h->keep_alive = true;
	}
}

/* The target: origin-form, absolute-form (for Host's host only), or OPTIONS * */
static int parse_target(struct qs_h1_head *h, const uint8_t *t, size_t len)
{
	size_t skip, a;

	if (t[0] == '/') {
		h->path = t;
		h->path_len = len;
		return 0;
	}
	if (len == 1 && t[0] == '*' && h->method_len == 7 && !memcmp(h->method, "OPTIONS", 7)) {
		h->path = t;
		h->path_len = 1;
		return 0;
	}
	if (len > 7 && ieq(t, 7, "http://"))
		skip = 7;
	else if (len > 8 && ieq(t, 8, "https://"))
		skip = 8;
	else
		return -400;	/* authority-form (CONNECT) and anything else */
	for (a = skip; a < len && t[a] != '/' && t[a] != '?'; a++)
		if (t[a] == '@')
			return -400;	/* userinfo: not for a request (RFC 9110 4.2.4) */
	if (a == skip)
		return -400;
	/* the client names a host: it must be the one Host names (RFC 9112 3.2.2) */
	if (h->authority && (h->authority_len != a - skip ||
			     strncasecmp((const char *)h->authority, (const char *)t + skip,
					 a - skip)))
		return -400;
	h->authority = t + skip;
	h->authority_len = a - skip;
	if (a == len) {
		h->path = (const uint8_t *)"/";
		h->path_len = 1;
	} else if (t[a] == '?') {
		return -400;	/* "http://host?q": no path to put the query on */
	} else {
		h->path = t + a;
		h->path_len = len - a;
	}
	return 0;
}

static int parse_field(struct qs_h1_head *h, uint8_t *p, uint8_t *eol, bool *seen_te,
		       bool *seen_host)
{
	struct qs_h1_field *f;
	uint8_t *n = p, *v, *ve;

	if (*p == ' ' || *p == '\t')
		return -400;	/* obs-fold (RFC 9112 5.2): a smuggling vector */
	while (p < eol && tchar(*p)) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (uint8_t)(*p + 32);
		p++;
	}
	if (p == n || p == eol || *p != ':')
		return -400;	/* no name, or whitespace before the colon (RFC 9112 5.1) */
	v = p + 1;
	while (v < eol && (*v == ' ' || *v == '\t'))
		v++;
	for (ve = v; ve < eol; ve++)
		if (!value_char(*ve))
			return -400;
	while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
		ve--;
	if (h->n_fields >= QS_H1_MAX_FIELDS)
		return -431;
	f = &h->fields[h->n_fields++];
	*f = (struct qs_h1_field){ n, v, (size_t)(p - n), (size_t)(ve - v) };
	if (is_name(f, "content-length")) {
		if (h->content_length >= 0)
			return -400;	/* even the same value twice: one is enough */
		h->content_length = parse_length(v, f->vl);
		if (h->content_length < 0)
			return -400;
	} else if (is_name(f, "transfer-encoding")) {
		if (*seen_te)
			return -400;
		*seen_te = true;
		if (!ieq(v, f->vl, "chunked"))
			return -501;	/* gzip, a list: not ours to undo */
		h->chunked = true;
	} else if (is_name(f, "host")) {
		if (*seen_host)
			return -400;	/* RFC 9112 3.2 */
		*seen_host = true;
		h->authority = v;
		h->authority_len = f->vl;
	} else if (is_name(f, "connection")) {
		parse_connection(h, v, f->vl);
	} else if (is_name(f, "expect")) {
		/* the only expectation there is (RFC 9110 10.1.1): others fail */
		if (!ieq(v, f->vl, "100-continue"))
			return -417;
		h->expect_continue = true;
	}
	return 0;
}

/* A complete head, CRLF-terminated lines with no NUL, bare CR or bare LF. */
static int parse(uint8_t *p, uint8_t *end, struct qs_h1_head *h)
{
	bool seen_te = false, seen_host = false;
	uint8_t *eol, *t;
	int ret;

	memset(h, 0, sizeof(*h));
	h->content_length = -1;
	while (p[0] == '\r')
		p += 2;		/* empty lines before the request line (RFC 9112 2.2) */
	/* method SP request-target SP HTTP-version CRLF */
	eol = memchr(p, '\r', (size_t)(end - p));
	h->method = p;
	while (p < eol && tchar(*p))
		p++;
	h->method_len = (size_t)(p - h->method);
	if (!h->method_len || h->method_len >= 16 || *p != ' ')
		return -400;
	t = ++p;
	while (p < eol && *p > 0x20 && *p < 0x7f)
		p++;
	if (p == t || *p != ' ')
		return -400;
	if (eol - p - 1 != 8 || memcmp(p + 1, "HTTP/", 5) || p[7] != '.' ||
	    p[6] < '0' || p[6] > '9' || p[8] < '0' || p[8] > '9')
		return -400;
	if (p[6] != '1' || p[8] > '1')
		return -505;
	h->minor = (unsigned)(p[8] - '0');
	h->path = t;
	h->path_len = (size_t)(p - t);
	for (p = eol + 2; p[0] != '\r'; p = eol + 2) {
		eol = memchr(p, '\r', (size_t)(end - p));
		ret = parse_field(h, p, eol, &seen_te, &seen_host);
		if (ret)
			return ret;
	}
	if (h->chunked && h->content_length >= 0)
		return -400;	/* RFC 9112 6.1: the classic smuggling pair */
	if (h->chunked && h->minor == 0)
		return -400;	/* RFC 9112 6.1: a 1.0 client cannot mean it */
	if (h->minor == 1 && !seen_host)
		return -400;	/* RFC 9112 3.2 */
	return parse_target(h, t, h->path_len);
}

int qs_h1_parse_head(uint8_t *buf, size_t len, size_t max_bytes, struct qs_h1_scan *scan,
		     struct qs_h1_head *h)
{
	for (; scan->pos < len; scan->pos++) {
		size_t pos = scan->pos;
		uint8_t b = buf[pos];

		if (b == '\n') {
			if (!pos || buf[pos - 1] != '\r')
				return -400;	/* bare LF */
			if (pos - 1 == scan->line_start) {
				if (scan->lines) {
					scan->pos++;
					if (scan->pos > max_bytes)
						return -431;
					return parse(buf, buf + scan->pos, h) ?: (int)scan->pos;
				}
				scan->line_start = pos + 1;	/* before the request line */
				continue;
			}
			if (!scan->lines && pos - scan->line_start > QS_H1_MAX_LINE)
				return -414;
			if (++scan->lines > QS_H1_MAX_FIELDS + 1)
				return -431;
			scan->line_start = pos + 1;
		} else if (pos && buf[pos - 1] == '\r') {
			return -400;	/* bare CR */
		} else if (!b) {
			return -400;
		}
	}
	if (!scan->lines && len - scan->line_start > QS_H1_MAX_LINE)
		return -414;
	return len > max_bytes ? -431 : 0;
}

/* ---- chunked bodies (RFC 9112 7.1) ---------------------------------------- */

enum {
	C_SIZE, C_EXT, C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF,
	C_TRAILER, C_TRAILER_LINE, C_TRAILER_LF, C_END_LF, C_DONE,
};

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int64_t qs_h1_chunked(struct qs_h1_chunked *d, const uint8_t *in, size_t len, size_t *data_len)
{
	size_t i = 0;

	*data_len = 0;
	while (i < len && d->state != C_DONE) {
		uint8_t c = in[i];
		int v;

		switch (d->state) {
		case C_SIZE:
			v = hexval(c);
			if (v >= 0) {
				/* 15 hex digits: 2^60, and no overflow to check */
				if (++d->digits > 15)
					return -400;
				d->left = d->left * 16 + (uint64_t)v;
			} else if (!d->digits) {
				return -400;
			} else if (c == ';') {
				d->state = C_EXT;
			} else if (c == '\r') {
				d->state = C_SIZE_LF;
			} else {
				return -400;	/* no whitespace: BWS is a smuggling vector */
			}
			break;
		case C_EXT:
			/* chunk extensions: bounded, dropped */
			if (c == '\r')
				d->state = C_SIZE_LF;
			else if (++d->ext > QS_H1_MAX_CHUNK_EXT || !value_char(c))
				return -400;
			break;
		case C_SIZE_LF:
			if (c != '\n')
				return -400;
			d->state = d->left ? C_DATA : C_TRAILER;
			d->digits = d->ext = 0;
			break;
		case C_DATA: {
			size_t n = len - i < d->left ? len - i : (size_t)d->left;

			d->left -= n;
			if (!d->left)
				d->state = C_DATA_CR;
			*data_len = n;
			return (int64_t)(i + n);
		}
		case C_DATA_CR:
			if (c != '\r')
				return -400;
			d->state = C_DATA_LF;
			break;
		case C_DATA_LF:
			if (c != '\n')
				return -400;
			d->state = C_SIZE;
			break;
		case C_TRAILER:
			if (c == '\r') {
				d->state = C_END_LF;
				break;
			}
			d->state = C_TRAILER_LINE;
			continue;	/* the same byte, as the line's first */
		case C_TRAILER_LINE:
			/* trailer fields: bounded, dropped (nothing here reads them) */
			if (c == '\r')
				d->state = C_TRAILER_LF;
			else if (++d->trailers > QS_H1_MAX_TRAILERS || !value_char(c))
				return -400;
			break;
		case C_TRAILER_LF:
			if (c != '\n')
				return -400;
			d->state = C_TRAILER;
			break;
		case C_END_LF:
			if (c != '\n')
				return -400;
			d->state = C_DONE;
			break;
		}
		i++;
	}
	return (int64_t)i;
}

bool qs_h1_chunked_done(const struct qs_h1_chunked *d)
{
	return d->state == C_DONE;
}
