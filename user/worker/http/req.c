// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/ratelimit.h"
#include "quicsteer/steer.h"
#include "worker/counters.h"
#include "worker/http/accesslog.h"
#include "worker/http/date.h"
#include "worker/http/errpages.h"
#include "worker/http/req.h"
#include "worker/site.h"

#define SERVER_NAME "quicsteer"

/* Timeouts are seconds: the coarse clock (same time base as the loop's) is enough. */
static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the timeout lists: one timeout each, so the oldest activity is first -- */

static void wait_unlink(struct qs_req_waits *l, struct qs_req_wait *w)
{
	if (!w->on)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		l->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		l->tail = w->prev;
	w->next = w->prev = NULL;
	w->on = false;
}

/* (Re)start a clock: the newest activity goes to the tail. */
static void wait_touch(struct qs_req_waits *l, struct qs_req_wait *w)
{
	wait_unlink(l, w);
	w->at = coarse_ns();
	w->prev = l->tail;
	if (l->tail)
		l->tail->next = w;
	else
		l->head = w;
	l->tail = w;
	w->on = true;
}

#define HEADER_WAITS(req) (&(req)->site->header_waits)
#define BODY_WAITS(req) (&(req)->site->body_waits)
#define SEND_WAITS(req) (&(req)->site->send_waits)
#define FILE_WAITS(req) (&(req)->site->file_waits)

#define WAITER(w, member) ((struct qs_req *)((char *)(w) - offsetof(struct qs_req, member)))

static void count_status(struct qs_req *req, int status)
{
	struct qs_worker_stats *ws = req->site->stats;

	if (status < 300)
		count(&ws->req_2xx, 1);
	else if (status < 400)
		count(&ws->req_3xx, 1);
	else if (status < 500)
		count(&ws->req_4xx, 1);
	else
		count(&ws->req_5xx, 1);
}

int qs_respond(struct qs_req *req, int status, const struct qs_field *f, size_t n, bool body)
{
	struct qs_field all[QS_RESP_FIELDS_MAX + 5 + 3];	/* + the filter's */
	const char *date = qs_http_date();
	char traceparent[QS_TRACEPARENT_LEN + 1];
	size_t k = 0;

	if (req->status)
		return -EALREADY;
	if (n > QS_RESP_FIELDS_MAX)
		return -E2BIG;
	qs_req_ids(req);	/* refused before its header block ended: ids now */
	all[k++] = (struct qs_field)QS_FIELD("server", SERVER_NAME, sizeof(SERVER_NAME) - 1);
	all[k++] = (struct qs_field)QS_FIELD("date", date, strlen(date));
	/* how a browser that came over TCP learns HTTP/3 (RFC 7838) */
	if (req->alt_svc)
		all[k++] = (struct qs_field)QS_FIELD("alt-svc", req->alt_svc, strlen(req->alt_svc));
	all[k++] = (struct qs_field)QS_FIELD("x-request-id", req->request_id,
					      req->request_id_len);
	/*
	 * Our span, to the client that gave its own: what it joins its trace
	 * to.  A trace we started is not sent: no client asked for it (the
	 * access log has it, by request id), and its 70 bytes a response
	 * were 3 % of a worker's CPU serving 1 KB files (QPACK's Huffman code).
	 */
	if (req->trace.state == QS_TRACE_GIVEN || req->trace.state == QS_TRACE_CONTINUED) {
		qs_req_trace(req);
		qs_traceparent_format(&req->trace, traceparent);
		all[k++] = (struct qs_field)QS_FIELD("traceparent", traceparent,
						      QS_TRACEPARENT_LEN);
	}
	memcpy(all + k, f, n * sizeof(*f));
	n += k;
	if (body && !req->head && req->site->cfg->compress)
		n = qs_enc_respond(req, status, all, n);	/* may set req->enc */
	req->status = status;
	count_status(req, status);
	if (body && !req->head)
		wait_touch(SEND_WAITS(req), &req->send_wait);	/* the send timeout runs from now */
	return req->ops->respond(req, all, n, body && !req->head);
}

int qs_send_file(struct qs_req *req, int fd, uint64_t off, uint64_t len)
{
	int ret;

	if (req->head || !len) {
		close(fd);
		qs_end(req);
		return 0;
	}
	req->ended = true;	/* the file is the body's last part */
	if (req->enc)
		return qs_enc_send_file(req, fd, off, len);
	ret = req->ops->send_file(req, fd, off, len);
	if (!ret && req->conn_files)
		++*req->conn_files;
	return ret;
}

bool qs_req_file_wait(struct qs_req *req)
{
	if (!req->conn_files || *req->conn_files < req->site->cfg->files_per_conn)
		return false;
	wait_touch(FILE_WAITS(req), &req->file_wait);
	count(&req->site->stats->req_file_waits, 1);
	return true;
}

void qs_req_file_closed(struct qs_req *req)
{
	if (req->conn_files && *req->conn_files)
		--*req->conn_files;
	/* the waiters get their turn from the loop hook, outside the protocol's callbacks */
	if (req->site->file_waits.head)
		req->site->files_closed = true;
}

const char *qs_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 425: return "Too Early";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "";
	}
}

/* An error page's title: the reason phrase, or "Error" for one we do not name. */
static const char *error_reason(int status)
{
	const char *r = qs_http_reason(status);

	return r[0] ? r : "Error";
}

/* An error page with up to two more fields (either may be NULL). */
static int respond_error(struct qs_req *req, int status, const struct qs_field *x1,
			 const struct qs_field *x2)
{
	struct qs_field f[4];
	char len_s[24], body[256];
	size_t n = 0;
	int blen, ret;

	const struct qs_error_pages *ep = req->site->error_pages;
	const uint8_t *page = (const uint8_t *)body;
	size_t plen;

	if (req->status)
		return 0;
	if (ep && status >= QS_ERRPAGE_FIRST && status <= QS_ERRPAGE_LAST &&
	    ep->page[status - QS_ERRPAGE_FIRST].data) {
		page = ep->page[status - QS_ERRPAGE_FIRST].data;
		plen = ep->page[status - QS_ERRPAGE_FIRST].len;
	} else {
		blen = snprintf(body, sizeof(body),
				"<!DOCTYPE html><title>%d %s</title><h1>%d %s</h1>\n",
				status, error_reason(status), status, error_reason(status));
		plen = (size_t)blen;
	}
	snprintf(len_s, sizeof(len_s), "%zu", plen);
	f[n++] = (struct qs_field)QS_FIELD("content-type", "text/html; charset=utf-8", 24);
	f[n++] = (struct qs_field)QS_FIELD("content-length", len_s, strlen(len_s));
	if (x1)
		f[n++] = *x1;
	if (x2)
		f[n++] = *x2;
	ret = qs_respond(req, status, f, n, plen > 0);
	if (!ret && plen)
		ret = qs_send(req, page, plen);
	if (!ret)
		qs_end(req);
	return ret;
}

int qs_respond_error(struct qs_req *req, int status, const char *allow,
		     const char *content_range)
{
	struct qs_field a, r;

	if (allow)
		a = (struct qs_field)QS_FIELD("allow", allow, strlen(allow));
	if (content_range && content_range[0])
		r = (struct qs_field)QS_FIELD("content-range", content_range,
					      strlen(content_range));
	return respond_error(req, status, allow ? &a : NULL,
			     content_range && content_range[0] ? &r : NULL);
}

/* --rate-limit: false when the request was answered 429 */
static bool rate_ok(struct qs_req *req)
{
	struct qs_site *site = req->site;
	const struct sockaddr *peer, *local;
	struct qs_field f;
	char retry[12];
	uint32_t retry_s;

	qs_req_addr(req, &peer, &local);
	if (!peer || qs_rate_take(site->rate, peer, qs_clock_ns() / 1000u, &retry_s))
		return true;
	count(&site->stats->req_rate_limited, 1);
	snprintf(retry, sizeof(retry), "%u", retry_s);
	f = (struct qs_field)QS_FIELD("retry-after", retry, strlen(retry));
	respond_error(req, 429, &f, NULL);
	qs_req_stop_body(req);
	return false;
}

void qs_resp_held(struct qs_site *site, int64_t delta)
{
	site->resp_held += (uint64_t)delta;	/* two's complement: a decrease wraps back */
	__atomic_store_n(&site->stats->resp_held, site->resp_held, __ATOMIC_RELAXED);
}

void qs_req_ids(struct qs_req *req)
{
	if (!req->request_id_len)
		req->request_id_len = (uint8_t)qs_reqid_new(&req->site->ids, req->request_id);
}

void qs_req_trace(struct qs_req *req)
{
	qs_req_ids(req);
	qs_trace_start(&req->trace, &req->site->ids);
}

/*
 * Only requests a handler passes on have an upstream: one clock read at
 * each end; the others read none.
 */
void qs_req_upstream_begin(struct qs_req *req)
{
	if (!req->upstream_at)
		req->upstream_at = qs_clock_ns();
}

uint64_t qs_req_upstream_end(struct qs_req *req)
{
	if (!req->upstream_at || req->upstream_ns)
		return 0;
	req->upstream_ns = qs_clock_ns() - req->upstream_at + 1;	/* never 0: done */
	return req->upstream_ns;
}

/* a.b.c.d: glibc's inet_ntop formats IPv4 with sprintf, a visible cost per request */
static void ipv4_str(const uint8_t a[4], char *out)
{
	for (int i = 0; i < 4; i++) {
		uint8_t b = a[i];

		if (b >= 100)
			*out++ = (char)('0' + b / 100);
		if (b >= 10)
			*out++ = (char)('0' + b / 10 % 10);
		*out++ = (char)('0' + b % 10);
		*out++ = i < 3 ? '.' : '\0';
	}
}

void qs_sockaddr_host(const struct sockaddr *sa, char host[46], unsigned *port)
{
	host[0] = '\0';
	*port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;

		ipv4_str((const uint8_t *)&a4->sin_addr, host);
		*port = ntohs(a4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;

		*port = ntohs(a6->sin6_port);
		/* a dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d */
		if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
			ipv4_str(&a6->sin6_addr.s6_addr[12], host);
		else
			inet_ntop(AF_INET6, &a6->sin6_addr, host, 46);
	}
}

void qs_req_headers_begin(struct qs_req *req)
{
	if (req->site->alog)
		req->start_ns = qs_clock_ns();
	wait_touch(HEADER_WAITS(req), &req->header_wait);
}

void qs_req_header_timeout_stop(struct qs_req *req)
{
	wait_unlink(HEADER_WAITS(req), &req->header_wait);
}

int qs_req_start(struct qs_req *req)
{
	struct qs_site *site = req->site;

	if (site->resp_held > site->cfg->max_response_memory) {
		/* the clients already hold the worker's budget: the running ones go on */
		count(&site->stats->req_resp_budget, 1);
		qs_respond_error(req, 503, NULL, NULL);
		qs_req_stop_body(req);
		return 0;
	}
	req->handler = site->route(site, req);
	wait_touch(BODY_WAITS(req), &req->body_wait);	/* the body timeout runs to its end */
	if (site->rate && req->handler->rate_limited && !rate_ok(req))
		return 0;
	return req->handler->start ? req->handler->start(req) : 0;
}

int qs_req_body(struct qs_req *req, const uint8_t *data, size_t len, bool end)
{
	req->bytes_in += len;
	if (!req->handler)
		return 0;
	if (end)
		wait_unlink(BODY_WAITS(req), &req->body_wait);
	else if (len && req->body_wait.on)
		wait_touch(BODY_WAITS(req), &req->body_wait);
	if (!req->handler->body) {
		qs_req_consume(req, len);	/* taken and dropped */
		return 0;
	}
	return req->handler->body(req, data, len, end);
}

void qs_req_stop_body(struct qs_req *req)
{
	wait_unlink(BODY_WAITS(req), &req->body_wait);
	req->ops->stop_body(req);
}

void qs_req_proceed(struct qs_req *req)
{
	if (req->send_wait.on)
		wait_touch(SEND_WAITS(req), &req->send_wait);
	if (req->enc && qs_enc_proceed(req))
		return;	/* a file being compressed went on */
	if (req->handler && req->handler->proceed)
		req->handler->proceed(req);
}

void qs_req_close(struct qs_req *req)
{
	/* the request's one access log line: every request ends here, once */
	qs_req_upstream_end(req);	/* the client went while the backend worked */
	if (req->site->alog && !req->logged)
		qs_alog_request(req->site->alog, req);
	req->logged = true;
	wait_unlink(HEADER_WAITS(req), &req->header_wait);
	wait_unlink(BODY_WAITS(req), &req->body_wait);
	wait_unlink(SEND_WAITS(req), &req->send_wait);
	wait_unlink(FILE_WAITS(req), &req->file_wait);
	qs_enc_free(req);
	if (req->handler && req->handler->close)
		req->handler->close(req);
	req->handler = NULL;
	req->hdata = NULL;
}

void qs_req_free_fields(struct qs_req *req)
{
	free(req->path);
	free(req->authority);
	free(req->range);
	free(req->if_none_match);
	free(req->if_modified_since);
	free(req->if_range);
	free(req->accept_encoding);
	free(req->content_type);
	free(req->fields);
	if (req->fields_cap)
		req->site->fields_held -= req->fields_cap;
	req->fields_len = req->fields_cap = 0;
	req->path = req->authority = req->range = req->if_none_match = NULL;
	req->if_modified_since = req->if_range = req->content_type = req->fields = NULL;
	req->accept_encoding = NULL;
}

int qs_req_add_field(struct qs_req *req, const uint8_t *name, size_t nl, const uint8_t *value,
		     size_t vl)
{
	size_t need = req->fields_len + nl + vl + 2;

	if (need > req->fields_cap) {
		size_t cap = req->fields_cap ? req->fields_cap * 2 : 1024;
		char *h;

		while (cap < need)
			cap *= 2;
		if (req->site->fields_held + (cap - req->fields_cap) > QS_REQ_FIELDS_BUDGET)
			return -ENOBUFS;
		h = realloc(req->fields, cap);
		if (!h)
			return -ENOMEM;
		req->site->fields_held += cap - req->fields_cap;
		req->fields = h;
		req->fields_cap = cap;
	}
	memcpy(req->fields + req->fields_len, name, nl);
	req->fields[req->fields_len + nl] = '\0';
	memcpy(req->fields + req->fields_len + nl + 1, value, vl);
	req->fields[req->fields_len + nl + 1 + vl] = '\0';
	req->fields_len = need;
	return 0;
}

/* ---- the layer's loop hook ---------------------------------------------- */

/* The deadline of the oldest entry of a list whose timeout is ms. */
static uint64_t list_deadline(const struct qs_req_waits *l, unsigned ms, uint64_t next)
{
	uint64_t d;

	if (!l->head)
		return next;
	d = l->head->at + (uint64_t)ms * 1000000u;
	return d < next ? d : next;
}

static uint64_t http_next_deadline(void *ud)
{
	struct qs_site *site = ud;
	const struct qs_config *cfg = site->cfg;
	uint64_t next = UINT64_MAX;

	if (site->files_closed)
		return 0;	/* file waiters to look at: now */
	next = list_deadline(&site->header_waits, cfg->client_header_timeout_ms, next);
	next = list_deadline(&site->body_waits, cfg->client_body_timeout_ms, next);
	return list_deadline(&site->send_waits, cfg->send_timeout_ms, next);
}

/* Requests whose connection has a file slot free again go on, oldest first. */
static void wake_file_waiters(struct qs_site *site)
{
	struct qs_req_wait *w = site->file_waits.head, *next;

	site->files_closed = false;
	for (; w; w = next) {
		struct qs_req *req = WAITER(w, file_wait);

		next = w->next;
		if (*req->conn_files >= site->cfg->files_per_conn)
			continue;
		wait_unlink(&site->file_waits, w);
		/* its handler opens the file now, and the stream may go with it */
		if (req->handler && req->handler->proceed)
			req->handler->proceed(req);
		next = site->file_waits.head;	/* the list may have changed under us */
	}
}

static void http_on_timer(void *ud, uint64_t now)
{
	struct qs_site *site = ud;
	const struct qs_config *cfg = site->cfg;
	uint64_t header_to = (uint64_t)cfg->client_header_timeout_ms * 1000000u;
	uint64_t body_to = (uint64_t)cfg->client_body_timeout_ms * 1000000u;
	uint64_t send_to = (uint64_t)cfg->send_timeout_ms * 1000000u;
	struct qs_req_wait *w;
	struct qs_req *req;

	if (site->files_closed)
		wake_file_waiters(site);
	while ((w = site->header_waits.head) && w->at + header_to <= now) {
		req = WAITER(w, header_wait);
		wait_unlink(&site->header_waits, w);
		count(&site->stats->req_header_timeouts, 1);
		pr_info("request %" PRIu64 ": header block not complete after "
			"--client-header-timeout (%u s): reset", req->id,
			cfg->client_header_timeout_ms / 1000);
		qs_abort(req);
	}
	while ((w = site->body_waits.head) && w->at + body_to <= now) {
		req = WAITER(w, body_wait);
		wait_unlink(&site->body_waits, w);
		pr_info("request %" PRIu64 ": no body byte for --client-body-timeout (%u s): "
			"408", req->id, cfg->client_body_timeout_ms / 1000);
		if (req->status) {
			qs_abort(req);	/* the answer has begun: only a reset is left */
		} else {
			qs_respond_error(req, 408, NULL, NULL);
			qs_req_stop_body(req);
		}
	}
	while ((w = site->send_waits.head) && w->at + send_to <= now) {
		req = WAITER(w, send_wait);
		wait_unlink(&site->send_waits, w);
		pr_info("request %" PRIu64 ": the client took no response byte for "
			"--send-timeout (%u s): reset", req->id, cfg->send_timeout_ms / 1000);
		qs_abort(req);
	}
}

void qs_http_site_init(struct qs_site *site)
{
	site->http_hook = (struct qs_loop_hook){
		.ud = site,
		.next_deadline = http_next_deadline,
		.on_timer = http_on_timer,
	};
	qs_loop_add_hook(site->loop, &site->http_hook);
}
