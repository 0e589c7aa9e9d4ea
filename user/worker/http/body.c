// SPDX-License-Identifier: MIT
/* The response body queue shared by HTTP/3 and HTTP/2 (body.h). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/http/body.h"
#include "worker/http/req.h"
#include "worker/mem.h"

void qs_body_init(struct qs_body_out *o)
{
	memset(o, 0, sizeof(*o));
	o->fd = -1;
}

void qs_chunks_free(struct qs_chunk *ch)
{
	while (ch) {
		struct qs_chunk *next = ch->next;

		qs_free(ch);
		ch = next;
	}
}

void qs_body_free(struct qs_req *req, struct qs_body_out *o)
{
	qs_chunks_free(o->head);
	o->head = o->tail = NULL;
	if (o->bytes)
		qs_resp_held(req->site, -(int64_t)o->bytes);
	o->bytes = 0;
	o->off = 0;
	if (o->fd >= 0) {
		close(o->fd);
		o->fd = -1;
		qs_req_file_closed(req);
	}
	o->file_left = 0;
}

int qs_body_push(struct qs_req *req, struct qs_body_out *o, const uint8_t *data, size_t len)
{
	struct qs_chunk *ch;

	if (o->ended)
		return 0;
	ch = qs_malloc(sizeof(*ch) + len);
	if (!ch)
		return -ENOMEM;
	ch->next = NULL;
	ch->len = len;
	memcpy(ch->data, data, len);
	if (o->tail)
		o->tail->next = ch;
	else
		o->head = ch;
	o->tail = ch;
	o->bytes += len;
	qs_resp_held(req->site, (int64_t)len);
	return 0;
}

int qs_body_file(struct qs_body_out *o, int fd, uint64_t off, uint64_t len)
{
	if (o->ended || o->fd >= 0) {
		close(fd);
		return o->ended ? 0 : -EBUSY;
	}
	o->fd = fd;
	o->file_off = off;
	o->file_left = len;
	o->ended = true;
	return 0;
}

struct qs_chunk *qs_body_pop(struct qs_body_out *o)
{
	struct qs_chunk *ch = o->head;

	if (!ch)
		return NULL;
	o->head = ch->next;
	if (!o->head)
		o->tail = NULL;
	o->bytes -= ch->len - o->off;
	o->off = 0;
	ch->next = NULL;
	return ch;
}

size_t qs_body_copy(struct qs_req *req, struct qs_body_out *o, uint8_t *buf, size_t len)
{
	size_t n = 0;

	while (o->head && n < len) {
		struct qs_chunk *ch = o->head;
		size_t take = ch->len - o->off;

		if (take > len - n)
			take = len - n;
		memcpy(buf + n, ch->data + o->off, take);
		n += take;
		o->off += take;
		if (o->off == ch->len) {
			o->head = ch->next;
			if (!o->head)
				o->tail = NULL;
			o->off = 0;
			qs_free(ch);
		}
	}
	if (n) {
		o->bytes -= n;
		qs_resp_held(req->site, -(int64_t)n);
	}
	return n;
}

int qs_body_read_file(struct qs_req *req, struct qs_body_out *o, uint8_t *buf, size_t len)
{
	ssize_t got;

	if (len > o->file_left)
		len = (size_t)o->file_left;
	got = pread(o->fd, buf, len, (off_t)o->file_off);
	if (got != (ssize_t)len) {
		pr_warn("request %" PRIu64 ": reading the file failed at offset %" PRIu64 ": %s",
			req->id, o->file_off, got < 0 ? strerror(errno) : "file truncated");
		return -EIO;
	}
	o->file_off += len;
	o->file_left -= len;
	if (!o->file_left) {
		close(o->fd);
		o->fd = -1;
		qs_req_file_closed(req);
	}
	return 0;
}
