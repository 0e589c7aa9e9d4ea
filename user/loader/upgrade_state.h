/* SPDX-License-Identifier: MIT */
/*
 * The state a loader hands to the binary that replaces it (loader/upgrade.h):
 * one fixed-layout record with a magic, the protocol version and its own
 * size, in a sealed memfd whose number is given to the new binary with
 * --upgrade-state.  It names every file descriptor the new loader adopts;
 * the reader takes it as untrusted bytes (qs_up_parse checks every field
 * and that no descriptor is named twice) before it touches any of them.
 */
#ifndef QS_LOADER_UPGRADE_STATE_H
#define QS_LOADER_UPGRADE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "quicsteer/steer.h"

/* A binary that speaks another version is refused at the preflight. */
#define QS_UPGRADE_PROTOCOL 1
#define QS_UPGRADE_MAGIC    "QSUPGRD"          /* 7 characters and the NUL: 8 bytes */
/* Highest descriptor accepted in the record (the loader's own are far below). */
#define QS_UPGRADE_FD_MAX   (1 << 20)

struct qs_up_slot {
	uint8_t used, retiring, pad[2];
	uint32_t gen, id;
	uint32_t n_fds, n_tcp_fds;
	int32_t fds[QS_MAX_LISTENERS];
	int32_t tcp_fds[QS_MAX_LISTENERS];
	int32_t pid;                    /* 0: down, restart_at_ms says when it restarts */
	uint32_t crashes_in_window, backoff_ms;
	int64_t restart_at_ms, window_start_ms, kill_at_ms;  /* CLOCK_MONOTONIC */
};

struct qs_up_state {
	char magic[8];
	uint32_t version;               /* QS_UPGRADE_PROTOCOL */
	uint32_t size;                  /* sizeof(struct qs_up_state) */
	uint64_t fingerprint;           /* qs_upgrade_fingerprint() of the running config */
	uint32_t gen;                   /* the generation that takes new connections */
	uint32_t n_listen;
	int64_t retire_at_ms;           /* 0: no drain pending */
	int32_t shared_fd, tickets_fd;  /* sealed memfds: the key area, the ticket keys */
	int32_t strike_fd, tokens_fd;   /* memfds: the anti-replay and NEW_TOKEN registers */
	int32_t metrics_fd;             /* the --metrics listener; -1: off */
	int32_t exe_fd;                 /* the previous binary: resumed if adopting fails */
	int32_t reply_fd;               /* who asked for the upgrade; -1: a signal */
	int32_t state_fd;               /* this record's own memfd */
	int32_t control_fd;             /* the control socket's listener; -1: none */
	int32_t pad0;
	uint64_t strike_buckets, strike_ttl, tokens_buckets, tokens_ttl;
	int64_t keys_next_change, keys_epoch;
	int32_t phpfpm_pid;             /* 0: not running (or not managed) */
	uint32_t phpfpm_restarts, phpfpm_backoff_ms, pad;
	int64_t phpfpm_started_ms, phpfpm_restart_at_ms;
	uint32_t upgrades;              /* binary upgrades before this one */
	uint32_t n_slots;               /* QS_WORKER_SLOTS */
	struct qs_up_slot slot[QS_WORKER_SLOTS];  /* indexed gen * QS_MAX_WORKERS + id */
};

/*
 * Check buf (len bytes) is a whole, consistent record and copy it to *out:
 * 0, or -EINVAL / -EPROTO with why (a sentence) filled in.
 */
int qs_up_parse(const void *buf, size_t len, struct qs_up_state *out, char *why, size_t whylen);

/* An empty record of this version: no slot, the optional descriptors -1. */
void qs_up_init(struct qs_up_state *st);

/* Every descriptor st names, into fds (room for max); how many. */
size_t qs_up_fds(const struct qs_up_state *st, int *fds, size_t max);

/* Room qs_up_fds needs. */
#define QS_UP_MAX_FDS (9 + QS_WORKER_SLOTS * 2 * QS_MAX_LISTENERS)

#endif
