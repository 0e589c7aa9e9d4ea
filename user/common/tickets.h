/* SPDX-License-Identifier: MIT */
/*
 * Session ticket encryption keys (STEKs), owned by the loader and read by
 * every worker: one encrypt key and the decrypt-only keys still in force.
 * They live in their own MAP_SHARED mapping, locked in memory and excluded
 * from core dumps, and are wiped on exit; `seq` is a seqlock (the loader
 * is the only writer) so a rotation never shows a worker a torn key.
 * Never in a BPF map, a log or a metric: those show a key's name hash.
 */
#ifndef QS_COMMON_TICKETS_H
#define QS_COMMON_TICKETS_H

#include <stdint.h>
#include <stddef.h>

#define QS_TKEY_MAX 16          /* keys in force at once */

enum qs_tkey_role {
	QS_TKEY_ENCRYPT = 1,    /* new tickets are sealed with it (exactly one) */
	QS_TKEY_DECRYPT = 2,    /* opens tickets, which are then renewed */
};

/* nginx's 80-byte ssl_session_ticket_key layout: name, HMAC key, AES key */
struct qs_tkey {
	unsigned char name[16];
	unsigned char hmac[32];         /* HMAC-SHA256 */
	unsigned char aes[32];          /* AES-256-CBC */
	uint32_t role;                  /* enum qs_tkey_role */
	uint32_t pad;
	int64_t not_after;              /* unix time it stops decrypting; 0: while listed */
};

struct qs_tkeys {
	uint32_t n;
	uint32_t version;               /* bumped by every change */
	struct qs_tkey k[QS_TKEY_MAX];
};

struct qs_tickets {
	unsigned seq;                   /* odd while the loader writes */
	struct qs_tkeys keys;
	/* keys the anti-replay register's hash of a ClientHello random */
	unsigned char strike_key[16];
	/*
	 * This host's register, random at every start: a ticket carries the
	 * id of the register that saw its connection, and 0-RTT is accepted
	 * only under the same one.  Hosts sharing ticket keys (file:,
	 * fleet:) resume each other's tickets but refuse their early data,
	 * which another host's register could not have seen: a captured
	 * first flight cannot run once per host (nor once more after a
	 * restart emptied the register).
	 */
	unsigned char host_id[16];
};

/* The shared mapping (memfd *fd: see qs_secret_map). */
struct qs_tickets *qs_tickets_create(int *fd);
void qs_tickets_destroy(struct qs_tickets *t, int fd);

/* Loader: replace the key set (copied; the caller wipes its copy). */
void qs_tickets_publish(struct qs_tickets *t, const struct qs_tkeys *keys);

/* Workers: a consistent copy (wipe it after use). */
void qs_tickets_read(const struct qs_tickets *t, struct qs_tkeys *out);

#endif
