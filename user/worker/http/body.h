/* SPDX-License-Identifier: MIT */
/*
 * A response body on its way to the client, the same for every protocol
 * that queues it: the handler's bytes in chunks, then at most one file
 * region, then the end.  The protocol takes it whole chunks at a time
 * (HTTP/3 keeps them until acknowledged) or bytes at a time (HTTP/2
 * frames), and reads the file as its windows allow.  Queued bytes count
 * in the worker's response budget (qs_resp_held) until taken.
 */
#ifndef QS_WORKER_HTTP_BODY_H
#define QS_WORKER_HTTP_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qs_req;

struct qs_chunk {
	struct qs_chunk *next;
	size_t len;
	uint8_t data[];
};

struct qs_body_out {
	struct qs_chunk *head, *tail;
	size_t off;                 /* bytes of head already taken (qs_body_copy) */
	size_t bytes;               /* queued and not yet taken */
	int fd;                     /* the file region's, -1: none */
	uint64_t file_off, file_left;
	bool ended;                 /* the handler has given the whole body */
};

void qs_body_init(struct qs_body_out *o);

/* Frees what is queued, gives its bytes back to the budget, closes the file. */
void qs_body_free(struct qs_req *req, struct qs_body_out *o);

void qs_chunks_free(struct qs_chunk *ch);

/* Queues a copy of data: 0, or -ENOMEM.  After the end, bytes are dropped. */
int qs_body_push(struct qs_req *req, struct qs_body_out *o, const uint8_t *data, size_t len);

/*
 * The file region [off, off + len) of fd, sent after the queued bytes;
 * it ends the body.  fd is ours either way: -EBUSY when a file is
 * already queued.
 */
int qs_body_file(struct qs_body_out *o, int fd, uint64_t off, uint64_t len);

/* The next queued chunk, now the caller's; its bytes stay in the budget. */
struct qs_chunk *qs_body_pop(struct qs_body_out *o);

/* Copies up to len queued bytes to buf and returns how many. */
size_t qs_body_copy(struct qs_req *req, struct qs_body_out *o, uint8_t *buf, size_t len);

/*
 * Reads exactly len bytes (at most file_left) of the file region to buf,
 * closing the file after its last byte: 0, or -EIO when the file shrank
 * or could not be read (logged): the promised length cannot be met.
 */
int qs_body_read_file(struct qs_req *req, struct qs_body_out *o, uint8_t *buf, size_t len);

/* Nothing queued, no file left, and the handler is done. */
static inline bool qs_body_done(const struct qs_body_out *o)
{
	return o->ended && !o->head && !o->file_left;
}

#endif
