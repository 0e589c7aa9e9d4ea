// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "common/fcgi.h"
#include "common/fpmstatus.h"

#define PATH_MAX_LEN 256

ssize_t qs_fpm_status_request(void *buf, size_t size, const char *path)
{
	uint8_t params[PATH_MAX_LEN * 3 + 128];
	struct qs_fcgi_params p;
	size_t plen = strlen(path);
	uint8_t *b = buf;
	ssize_t n, off = 0;
	int ret = 0;

	if (path[0] != '/' || plen > PATH_MAX_LEN)
		return -EINVAL;
	qs_fcgi_params_init(&p, params, sizeof(params));
	/* php-fpm matches the status path against the script name */
	ret |= qs_fcgi_params_add_str(&p, "SCRIPT_NAME", path);
	ret |= qs_fcgi_params_add_str(&p, "SCRIPT_FILENAME", path);
	ret |= qs_fcgi_params_add_str(&p, "REQUEST_URI", path);
	ret |= qs_fcgi_params_add_str(&p, "REQUEST_METHOD", "GET");
	ret |= qs_fcgi_params_add_str(&p, "QUERY_STRING", "json");
	if (ret)
		return -ENOSPC;
	n = qs_fcgi_begin_request(b, size, 1, false);
	if (n < 0)
		return n;
	off += n;
	n = qs_fcgi_stream(b + off, size - (size_t)off, QS_FCGI_PARAMS, 1, p.buf, p.len);
	if (n < 0)
		return n;
	off += n;
	n = qs_fcgi_stream_end(b + off, size - (size_t)off, QS_FCGI_PARAMS, 1);
	if (n < 0)
		return n;
	off += n;
	n = qs_fcgi_stream_end(b + off, size - (size_t)off, QS_FCGI_STDIN, 1);
	if (n < 0)
		return n;
	return off + n;
}

/* ---- the body: php-fpm's flat JSON object -------------------------------- */

struct json {
	const char *p, *end;
};

static void skip_ws(struct json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' ||
				 *j->p == '\r'))
		j->p++;
}

static bool take(struct json *j, char c)
{
	skip_ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

/*
 * A string into out (cut to size - 1, NUL-terminated): escapes are kept
 * as they are (the names we look for have none); false if unterminated.
 */
static bool string(struct json *j, char *out, size_t size)
{
	size_t n = 0;

	if (!take(j, '"'))
		return false;
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p;

		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (j->end - j->p < 2)
				return false;
			if (n + 1 < size)
				out[n++] = (char)c;
			j->p++;
			c = (unsigned char)*j->p;
		}
		if (n + 1 < size)
			out[n++] = (char)c;
		j->p++;
	}
	out[n] = '\0';
	return take(j, '"');
}

/*
 * A number: *v for an unsigned integer that fits (*is_uint), anything
 * else JSON calls a number is skipped.  false if it is not a number.
 */
static bool number(struct json *j, uint64_t *v, bool *is_uint)
{
	const char *start;

	skip_ws(j);
	start = j->p;
	*v = 0;
	*is_uint = true;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
		unsigned d = (unsigned)(*j->p - '0');

		if (*v > (UINT64_MAX - d) / 10)
			*is_uint = false;
		else
			*v = *v * 10 + d;
		j->p++;
	}
	while (j->p < j->end && strchr("-+.eE0123456789", *j->p)) {
		*is_uint = false;
		j->p++;
	}
	return j->p > start;
}

/* true, false, null */
static bool literal(struct json *j)
{
	static const char *const words[] = { "true", "false", "null" };

	skip_ws(j);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t n = strlen(words[i]);

		if ((size_t)(j->end - j->p) >= n && !memcmp(j->p, words[i], n)) {
			j->p += n;
			return true;
		}
	}
	return false;
}

/* src cut to fit dst, NUL-terminated */
static void copy(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

#define F(name, field) { name, offsetof(struct qs_fpm_pool, field) }
static const struct { const char *name; size_t off; } counters[] = {
	F("active processes", active),
	F("idle processes", idle),
	F("total processes", total),
	F("listen queue", listen_queue),
	F("max children reached", max_children_reached),
	F("accepted conn", accepted_conn),
	F("slow requests", slow_requests),
};
#undef F
#define N_COUNTERS (sizeof(counters) / sizeof(counters[0]))

static int parse_body(const char *body, size_t len, struct qs_fpm_pool *out, const char **why)
{
	struct json j = { body, body + len };
	unsigned seen = 0;

	if (!take(&j, '{')) {
		*why = "the status page is not a JSON object (is pm.status_path a status page?)";
		return -EBADMSG;
	}
	if (!take(&j, '}')) {
		do {
			char key[64], sval[64];
			uint64_t v = 0;
			bool is_uint = false, is_str = false;
			size_t k;

			if (!string(&j, key, sizeof(key)) || !take(&j, ':')) {
				*why = "the status page's JSON has a malformed name";
				return -EBADMSG;
			}
			skip_ws(&j);
			if (j.p < j.end && *j.p == '"') {
				if (!string(&j, sval, sizeof(sval))) {
					*why = "the status page's JSON has a malformed string";
					return -EBADMSG;
				}
				is_str = true;
			} else if (!number(&j, &v, &is_uint) && !literal(&j)) {
				*why = "the status page's JSON has a value that is not a string or "
				       "number (ask without 'full')";
				return -EBADMSG;
			}
			if (is_str && !strcmp(key, "pool"))
				copy(out->pool, sizeof(out->pool), sval);
			else if (is_str && !strcmp(key, "process manager"))
				copy(out->pm, sizeof(out->pm), sval);
			for (k = 0; k < N_COUNTERS && strcmp(key, counters[k].name); k++)
				;
			if (k == N_COUNTERS)
				continue;
			if (!is_uint) {
				*why = "a counter of the status page is not an unsigned integer";
				return -EBADMSG;
			}
			*(uint64_t *)((char *)out + counters[k].off) = v;
			seen |= 1u << k;
		} while (take(&j, ','));
		if (!take(&j, '}')) {
			*why = "the status page's JSON object does not end";
			return -EBADMSG;
		}
	}
	skip_ws(&j);
	if (j.p != j.end) {
		*why = "bytes after the status page's JSON object";
		return -EBADMSG;
	}
	if (seen != (1u << N_COUNTERS) - 1) {
		*why = "the status page lacks a counter (active, idle, total processes, listen "
		       "queue, max children reached, accepted conn, slow requests)";
		return -EBADMSG;
	}
	return 0;
}

/* ---- the FastCGI answer ------------------------------------------------ */

int qs_fpm_status_parse(const void *data, size_t len, struct qs_fpm_pool *out, const char **why)
{
	char hdr[QS_FPM_STATUS_HEADERS], body[QS_FPM_STATUS_BODY];
	const uint8_t *d = data;
	struct qs_fcgi_parser p;
	struct qs_cgi cgi;
	size_t blen = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	*why = "";
	if (len > QS_FPM_STATUS_MAX) {
		*why = "the status answer is larger than 16 KB";
		return -EMSGSIZE;
	}
	qs_fcgi_parser_reset(&p, 1);
	qs_cgi_init(&cgi, hdr, sizeof(hdr));
	while (len) {
		struct qs_fcgi_event ev;
		ssize_t n = qs_fcgi_parse(&p, d, len, &ev);
		size_t off = 0;

		if (n < 0) {
			*why = p.why;
			return -EBADMSG;
		}
		d += n;
		len -= (size_t)n;
		if (ev.type == QS_FCGI_EV_END && ev.protocol_status != QS_FCGI_REQUEST_COMPLETE) {
			*why = "php-fpm did not complete the status request (overloaded?)";
			return -EBADMSG;
		}
		if (ev.type != QS_FCGI_EV_STDOUT || !ev.len)
			continue;
		ret = qs_cgi_feed(&cgi, ev.data, ev.len, &off);
		if (ret < 0) {
			*why = cgi.why;
			return ret == -EMSGSIZE ? -EMSGSIZE : -EBADMSG;
		}
		if (ret == 0)
			continue;
		if (ev.len - off > sizeof(body) - blen) {
			*why = "the status page is larger than 8 KB";
			return -EMSGSIZE;
		}
		memcpy(body + blen, ev.data + off, ev.len - off);
		blen += ev.len - off;
	}
	if (qs_fcgi_parse_eof(&p)) {
		*why = "php-fpm closed before the end of the status answer";
		return -EBADMSG;
	}
	if (qs_cgi_eof(&cgi)) {
		*why = cgi.why[0] ? cgi.why : "the status answer has no header block";
		return -EBADMSG;
	}
	if (cgi.status != 200) {
		*why = cgi.status == 404 ? "php-fpm answered 404: no status page at that path "
		       "(pm.status_path)" : "php-fpm did not answer the status page with 200";
		return -EBADMSG;
	}
	return parse_body(body, blen, out, why);
}
