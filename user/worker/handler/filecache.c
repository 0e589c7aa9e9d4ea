// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker/handler/filecache.h"

static size_t key_len(const char *path, size_t pathlen)
{
	const char *q = memchr(path, '?', pathlen);

	return q ? (size_t)(q - path) : pathlen;
}

/* FNV-1a: keys are paths of this docroot; the table is bounded anyway */
static size_t hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return (size_t)h;
}

int qs_fcache_init(struct qs_fcache *fc)
{
	memset(fc, 0, sizeof(*fc));
	fc->nbuckets = 2048;
	fc->max_file = QS_FCACHE_MAX_FILE;
	fc->buckets = calloc(fc->nbuckets, sizeof(*fc->buckets));
	return fc->buckets ? 0 : -ENOMEM;
}

static void lru_unlink(struct qs_fcache *fc, struct qs_fcache_entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		fc->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		fc->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push(struct qs_fcache *fc, struct qs_fcache_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = fc->lru_head;
	if (fc->lru_head)
		fc->lru_head->lru_prev = e;
	fc->lru_head = e;
	if (!fc->lru_tail)
		fc->lru_tail = e;
}

static void entry_del(struct qs_fcache *fc, struct qs_fcache_entry *e)
{
	struct qs_fcache_entry **pp = &fc->buckets[hash(e->key, e->keylen) & (fc->nbuckets - 1)];

	while (*pp && *pp != e)
		pp = &(*pp)->next;
	if (*pp)
		*pp = e->next;
	lru_unlink(fc, e);
	fc->count--;
	fc->bytes -= e->len;
	free(e->key);
	free(e->data);
	free(e);
}

void qs_fcache_free(struct qs_fcache *fc)
{
	while (fc->lru_head)
		entry_del(fc, fc->lru_head);
	free(fc->buckets);
	fc->buckets = NULL;
}

static struct qs_fcache_entry *find(struct qs_fcache *fc, const char *key, size_t n)
{
	struct qs_fcache_entry *e = fc->buckets[hash(key, n) & (fc->nbuckets - 1)];

	for (; e; e = e->next)
		if (e->keylen == n && memcmp(e->key, key, n) == 0)
			return e;
	return NULL;
}

const struct qs_fcache_entry *qs_fcache_get(struct qs_fcache *fc, const char *path,
					    size_t pathlen, uint64_t now_ms)
{
	size_t n = key_len(path, pathlen);
	struct qs_fcache_entry *e = find(fc, path, n);

	if (!e)
		return NULL;
	if (now_ms >= e->expires_ms) {
		entry_del(fc, e);
		return NULL;
	}
	lru_unlink(fc, e);
	lru_push(fc, e);
	return e;
}

struct qs_fcache_entry *qs_fcache_put_data(struct qs_fcache *fc, const char *path,
					   size_t pathlen, const struct qs_static_resp *resp,
					   uint8_t *data, size_t len, uint64_t now_ms)
{
	size_t n = key_len(path, pathlen);
	struct qs_fcache_entry *e, *old;

	if (resp->status != 200 || len > fc->max_file)
		return NULL;
	old = find(fc, path, n);
	if (old)
		entry_del(fc, old);
	while (fc->lru_tail && (fc->count >= QS_FCACHE_MAX_ENTRIES ||
				fc->bytes + len > QS_FCACHE_MAX_BYTES))
		entry_del(fc, fc->lru_tail);
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key = malloc(n ? n : 1);
	if (!e->key) {
		free(e);
		return NULL;
	}
	memcpy(e->key, path, n);
	e->keylen = n;
	e->data = data;
	e->len = len;
	e->resp = *resp;
	e->resp.fd = -1;
	e->resp.head = false;
	e->expires_ms = now_ms + QS_FCACHE_TTL_MS;
	{
		size_t h = hash(e->key, n) & (fc->nbuckets - 1);

		e->next = fc->buckets[h];
		fc->buckets[h] = e;
	}
	lru_push(fc, e);
	fc->count++;
	fc->bytes += len;
	return e;
}

struct qs_fcache_entry *qs_fcache_put(struct qs_fcache *fc, const char *path, size_t pathlen,
				      const struct qs_static_resp *resp, int fd, uint64_t now_ms)
{
	size_t len = (size_t)resp->length;
	struct qs_fcache_entry *e;
	uint8_t *data;

	if (resp->status != 200 || resp->length > fc->max_file || fd < 0)
		return NULL;
	data = malloc(len ? len : 1);
	if (!data || (len && pread(fd, data, len, (off_t)resp->offset) != (ssize_t)len)) {
		free(data);
		return NULL;
	}
	e = qs_fcache_put_data(fc, path, pathlen, resp, data, len, now_ms);
	if (!e)
		free(data);
	return e;
}
