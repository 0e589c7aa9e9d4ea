/* SPDX-License-Identifier: MIT */
/*
 * Session tickets and 0-RTT in a worker: tickets sealed and opened with the
 * loader's shared keys (common/tickets.h), so every worker (and every host
 * sharing the keys) resumes every client; the ticket carries the limits
 * this server promised, and 0-RTT is refused when they have since been
 * lowered; early data is accepted at most once per ClientHello on the host
 * (common/strike.h), OpenSSL's own single-use cache being off
 * (SSL_OP_NO_ANTI_REPLAY) so tickets stay stateless and shared.
 */
#ifndef QS_WORKER_TICKETS_H
#define QS_WORKER_TICKETS_H

#include <openssl/ssl.h>

struct qs_config;
struct qs_conn;
struct qs_strike;
struct qs_tickets;
struct qs_worker_stats;

/* Install the callbacks on the (inherited) SSL_CTX; 0 or -1. */
int qs_tickets_setup(SSL_CTX *ctx, const struct qs_config *cfg, const struct qs_tickets *keys,
		     struct qs_strike *strike, struct qs_worker_stats *stats);
/* Per connection: let the TLS stack accept early data (when on). */
void qs_tickets_conn_init(struct qs_conn *c);
/* The handshake completed: count full/resumed and what became of 0-RTT. */
void qs_tickets_on_handshake(struct qs_conn *c);

#endif
