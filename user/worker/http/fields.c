// SPDX-License-Identifier: MIT
/*
 * A request's header block into its struct qs_req: what each protocol does
 * with the fields once it has decoded them (http/h3.c hands over what
 * nghttp3 decoded).  Pure but for the worker's budget of request fields,
 * so that tests/fuzz/fuzz_req.c can feed it any bytes.
 *
 * nghttp3 refuses malformed names, values and Content-Length before they
 * get here; they are checked again so that what a handler reads (a
 * NUL-separated field list, the strings in struct qs_req) holds whatever
 * protocol filled it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker/http/req.h"
#include "worker/site.h"

/* RFC 9110 5.6.2 token characters, lowercase only (RFC 9114 4.2) */
static bool lower_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

static bool valid_name(const uint8_t *n, size_t len)
{
	size_t i = len && n[0] == ':' ? 1 : 0;	/* a pseudo-header */

	if (i == len)
		return false;
	for (; i < len; i++)
		if (!lower_tchar(n[i]))
			return false;
	return true;
}

/* RFC 9110 5.5: no NUL, CR or LF; they would split the field list */
static bool valid_value(const uint8_t *v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (v[i] == '\0' || v[i] == '\r' || v[i] == '\n')
			return false;
	return true;
}

static bool is(const uint8_t *n, size_t len, const char *name)
{
	return len == strlen(name) && !memcmp(n, name, len);
}

/* A copy of the value into *dst (freeing what was there); 0 or -ENOMEM. */
static int set_value(char **dst, const uint8_t *v, size_t len, size_t *lenp)
{
	char *s = malloc(len + 1);

	if (!s)
		return -ENOMEM;
	memcpy(s, v, len);
	s[len] = '\0';
	free(*dst);
	*dst = s;
	if (lenp)
		*lenp = len;
	return 0;
}

/* A list field seen again: its values joined with ", " (RFC 9110 5.3); 0 or -ENOMEM. */
static int add_list_value(char **dst, const uint8_t *v, size_t len)
{
	size_t old = *dst ? strlen(*dst) : 0;
	char *s;

	if (!old)
		return set_value(dst, v, len, NULL);
	s = realloc(*dst, old + 2 + len + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s + old, ", ", 2);
	memcpy(s + old + 2, v, len);
	s[old + 2 + len] = '\0';
	*dst = s;
	return 0;
}

/* 1*DIGIT up to INT64_MAX (RFC 9110 8.6), or -1 */
static int64_t parse_length(const uint8_t *v, size_t len)
{
	int64_t n = 0;

	if (!len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9' || n > (INT64_MAX - (v[i] - '0')) / 10)
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	return n;
}

int qs_req_header(struct qs_req *req, const uint8_t *name, size_t nl, const uint8_t *value,
		  size_t vl)
{
	int ret = 0;

	if (!valid_name(name, nl) || !valid_value(value, vl))
		return 400;
	if (is(name, nl, ":method")) {
		if (vl == 0 || vl >= sizeof(req->method))
			return 400;
		memcpy(req->method, value, vl);
		req->method[vl] = '\0';
	} else if (is(name, nl, ":path")) {
		ret = set_value(&req->path, value, vl, &req->pathlen);
	} else if (is(name, nl, ":authority")) {
		ret = set_value(&req->authority, value, vl, NULL);
	} else if (is(name, nl, "range")) {
		ret = set_value(&req->range, value, vl, NULL);
	} else if (is(name, nl, "if-none-match")) {
		ret = set_value(&req->if_none_match, value, vl, NULL);
	} else if (is(name, nl, "if-modified-since")) {
		ret = set_value(&req->if_modified_since, value, vl, NULL);
	} else if (is(name, nl, "if-range")) {
		ret = set_value(&req->if_range, value, vl, NULL);
	} else if (is(name, nl, "accept-encoding")) {
		ret = add_list_value(&req->accept_encoding, value, vl);
	} else if (is(name, nl, "content-length")) {
		int64_t cl = parse_length(value, vl);

		if (cl < 0)
			return 400;
		req->content_length = cl;
	} else if (is(name, nl, "content-type")) {
		ret = set_value(&req->content_type, value, vl, NULL);
	} else if (is(name, nl, "x-request-id")) {
		/* one sane value is kept; anything else, or a second one, is replaced */
		if (req->request_id_len || req->request_id_refused || !qs_reqid_valid(value, vl)) {
			req->request_id_len = 0;
			req->request_id_refused = true;
		} else {
			memcpy(req->request_id, value, vl);
			req->request_id[vl] = '\0';
			req->request_id_len = (uint8_t)vl;
		}
	} else if (is(name, nl, "traceparent")) {
		/* given twice, which parent would we be the child of: a new trace */
		if (req->trace.state != QS_TRACE_NONE ||
		    qs_traceparent_parse(value, vl, &req->trace))
			req->trace.state = QS_TRACE_INVALID;
	}
	/* every regular field, when a handler wants them */
	if (!ret && name[0] != ':' && req->site->keep_fields)
		ret = qs_req_add_field(req, name, nl, value, vl);
	if (ret == -ENOBUFS) {
		/* the worker holds its budget of request fields: 503, and let go */
		qs_req_free_fields(req);
		return 503;
	}
	return ret;
}

int qs_req_headers_end(struct qs_req *req)
{
	qs_req_header_timeout_stop(req);
	qs_req_ids(req);
	req->head = !strcmp(req->method, "HEAD");
	return req->path && req->method[0] ? 0 : 400;
}
