/* SPDX-License-Identifier: MIT */
/*
 * The loader's session ticket keys (--ticket-keys): where they come from
 * (random and rotated, nginx-format key files, or derived per epoch from a
 * fleet secret), when they rotate, and how they reach the workers (the
 * shared qs_tickets mapping).  The runtime file RUN_DIR/ticket-keys lists
 * the keys in force by name hash and role, never their material.
 */
#ifndef QS_LOADER_KEYS_H
#define QS_LOADER_KEYS_H

#include <stdint.h>
#include <stdio.h>

#include "common/tickets.h"

struct qs_config;

struct qs_keys {
	const struct qs_config *cfg;
	struct qs_tickets *shm;
	int shm_fd;                     /* its memfd: workers map it read-only */
	struct qs_tkeys cur;            /* what the workers have (wiped on exit) */
	int64_t next_change;            /* unix ms of the next rotation, 0 = none */
	int64_t epoch;                  /* fleet: the epoch in force */
	char info_path[192];
	char last_reload[600];          /* "ok" or why the last re-read failed */
};

/* Create the shared mapping and the first keys; -errno after logging why. */
int qs_keys_init(struct qs_keys *k, const struct qs_config *cfg, const char *run_dir);
/*
 * A binary upgrade: take over the previous binary's shared mapping (its
 * memfd shm_fd, taken on success) and its schedule; the keys in force are
 * read back from it.  -errno after logging why.
 */
int qs_keys_adopt(struct qs_keys *k, const struct qs_config *cfg, const char *run_dir,
		  int shm_fd, int64_t next_change, int64_t epoch);
/* Rotate when due; returns ms until the next rotation, or -1. */
int qs_keys_tick(struct qs_keys *k);
/*
 * SIGHUP / quicsteerctl reload-keys: re-read the key files (or the fleet
 * secret).  A missing or malformed file keeps the keys in force and logs an
 * error naming it.  0 or -errno.
 */
int qs_keys_reload(struct qs_keys *k);
void qs_keys_destroy(struct qs_keys *k);

/* A key's public name hash (8 bytes of SHA-256 of the name) as 16 hex digits. */
void qs_tkey_name_hash(const unsigned char name[16], char out[17]);
/* "encrypt" or "decrypt". */
const char *qs_tkey_role_name(uint32_t role);
/*
 * The keys in force as the runtime file RUN_DIR/ticket-keys lists them
 * (quicsteerctl keys): source, version, lifetime, the last re-read's
 * outcome, one "key NAMEHASH ROLE NOT_AFTER" line each; never material.
 */
void qs_keys_print(const struct qs_keys *k, FILE *f);

#endif
