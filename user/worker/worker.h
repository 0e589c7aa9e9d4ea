/* SPDX-License-Identifier: MIT */
/*
 * A worker: owns one socket per listener for its (generation, id), runs
 * the event loop (epoll over its sockets and a signalfd, sleeping until the
 * earliest QUIC deadline) and the HTTP/3 server.  Every datagram is also classified by
 * its DCID and counted, so tests and operators see where steering sent it.
 */
#ifndef QS_WORKER_WORKER_H
#define QS_WORKER_WORKER_H

#include <sys/types.h>

#include <openssl/ssl.h>

#include "quicsteer/steer.h"
#include "common/shared.h"

struct qs_config;
struct qs_docroot;
struct qs_rate;
struct qs_strike;
struct qs_tickets;

struct qs_worker_ctx {
	unsigned gen, id;
	int fds[QS_MAX_LISTENERS];
	unsigned n_fds;
	int tcp_fds[QS_MAX_LISTENERS];     /* HTTPS over TCP: listening sockets */
	unsigned n_tcp_fds;
	SSL_CTX *tcp_ssl_ctx;
	struct qs_worker_stats *stats;     /* this worker's slot, shared */
	const struct qs_shared *shared;
	const struct qs_tickets *tickets;  /* session ticket keys, shared */
	struct qs_strike *strike;          /* 0-RTT anti-replay, shared */
	struct qs_strike *tokens;          /* NEW_TOKEN tokens used, shared */
	struct qs_rate *rate;              /* --rate-limit, shared; or NULL */
	uid_t uid;
	gid_t gid;
	const char *user;
	const struct qs_config *cfg;
	SSL_CTX *ssl_ctx;
	const struct qs_docroot *docroot;
};

/* Runs in the forked child; returns the process exit code. */
int qs_worker_main(struct qs_worker_ctx *ctx);

#endif
