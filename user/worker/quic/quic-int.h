/* SPDX-License-Identifier: MIT */
/*
 * Shared between the parts of the worker's QUIC server (quic.c: live
 * connections; accept.c: the stateless side).  Not for other modules.
 */
#ifndef QS_WORKER_QUIC_INT_H
#define QS_WORKER_QUIC_INT_H

#include "worker/quic/quic.h"

#define QS_SR_BURST 64    /* stateless resets: token bucket size */

ngtcp2_tstamp qs_wall_now(void);

/* The path a datagram came on, as ngtcp2 wants it (points into rx). */
static inline ngtcp2_path qs_rx_path(const struct qs_rx *rx, struct qs_endpoint *ep)
{
	ngtcp2_path path = {
		.local = { (struct sockaddr *)&rx->local.ss, rx->local.len },
		.remote = { (struct sockaddr *)&rx->remote.ss, rx->remote.len },
		.user_data = ep,
	};

	return path;
}
void qs_fill_random(void *p, size_t n);
/* A CID of ours: it routes back to this (generation, worker). */
int qs_mint_cid(struct qs_server *s, ngtcp2_cid *cid);
/* Version negotiation, reset, Retry: no connection, best effort. */
void qs_send_stateless(struct qs_server *s, struct qs_endpoint *ep, const struct qs_rx *rx,
		       const uint8_t *data, size_t len);

struct qs_conn *qs_conn_new(struct qs_server *s, struct qs_endpoint *ep,
			    const struct qs_rx *rx, const ngtcp2_pkt_hd *hd,
			    const ngtcp2_cid *ocid, ngtcp2_token_type token_type);
void qs_conn_free(struct qs_conn *c);
/* Enter the closing period with a CONNECTION_CLOSE, or free at once (true). */
bool qs_conn_close(struct qs_conn *c);

/* accept.c */
void qs_send_version_negotiation(struct qs_server *s, struct qs_endpoint *ep,
				 const struct qs_rx *rx, const ngtcp2_version_cid *vc);
void qs_send_stateless_reset(struct qs_server *s, struct qs_endpoint *ep,
			     const struct qs_rx *rx, const uint8_t *dcid, size_t dcidlen,
			     size_t pktlen);
void qs_accept_initial(struct qs_server *s, struct qs_endpoint *ep, const struct qs_rx *rx,
		       const uint8_t *data, size_t len);
/* c's client address is validated (handshake done) or c goes: off the half-open list */
void qs_conn_validated(struct qs_conn *c);

#endif
