// SPDX-License-Identifier: MIT
/*
 * The stateless side of a worker's QUIC server: what it answers before a
 * connection exists.  Version negotiation, stateless resets (rate-limited),
 * Retry and the tokens of Retry and NEW_TOKEN (from the secret all
 * workers share, so any worker accepts another's), and turning a client
 * Initial into a connection.
 */
#include <errno.h>
#include <string.h>

#include <ngtcp2/ngtcp2_crypto.h>

#include "common/log.h"
#include "common/config.h"
#include "quicsteer/steer.h"
#include "worker/counters.h"
#include "worker/quic/quic.h"
#include "worker/quic/quic-int.h"

#define SR_PER_SEC        32.0      /* stateless resets: refill rate */
#define RETRY_TOKEN_TTL   (10 * NGTCP2_SECONDS)
#define REGULAR_TOKEN_TTL (3600 * NGTCP2_SECONDS)

void qs_send_version_negotiation(struct qs_server *s, struct qs_endpoint *ep,
				     const struct qs_rx *rx, const ngtcp2_version_cid *vc)
{
	uint32_t versions[] = { 0x1a2a3a4au, NGTCP2_PROTO_VER_V1, NGTCP2_PROTO_VER_V2 };
	uint8_t buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE], unused;
	ngtcp2_ssize n;

	qs_fill_random(&unused, 1);
	/* grease: a reserved version the client must ignore (RFC 9000 15) */
	versions[0] = (vc->version & 0xf0f0f0f0u) | 0x0a0a0a0au;
	n = ngtcp2_pkt_write_version_negotiation(buf, sizeof(buf), unused, vc->scid, vc->scidlen,
						 vc->dcid, vc->dcidlen, versions, 3);
	if (n <= 0)
		return;
	count(&s->stats->version_negotiations, 1);
	qs_send_stateless(s, ep, rx, buf, (size_t)n);
}

static bool sr_allowed(struct qs_server *s)
{
	ngtcp2_tstamp now = qs_now();

	s->sr_tokens += (double)(now - s->sr_last) / NGTCP2_SECONDS * SR_PER_SEC;
	s->sr_last = now;
	if (s->sr_tokens > QS_SR_BURST)
		s->sr_tokens = QS_SR_BURST;
	if (s->sr_tokens < 1)
		return false;
	s->sr_tokens -= 1;
	return true;
}

void qs_send_stateless_reset(struct qs_server *s, struct qs_endpoint *ep,
				 const struct qs_rx *rx, const uint8_t *dcid, size_t dcidlen,
				 size_t pktlen)
{
	uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN], rnd[64], buf[128];
	ngtcp2_cid cid;
	size_t rndlen;
	ngtcp2_ssize n;

	if (!sr_allowed(s))
		return;
	ngtcp2_cid_init(&cid, dcid, dcidlen);
	if (ngtcp2_crypto_generate_stateless_reset_token(token, s->secrets.static_secret,
							 sizeof(s->secrets.static_secret), &cid))
		return;
	/* smaller than what triggered it, so resets cannot loop (RFC 9000 10.3.3) */
	rndlen = pktlen - 1 - NGTCP2_STATELESS_RESET_TOKENLEN - 1;
	if (rndlen > 40)
		rndlen = 40;
	if (rndlen < NGTCP2_MIN_STATELESS_RESET_RANDLEN)
		return;
	qs_fill_random(rnd, rndlen);
	n = ngtcp2_pkt_write_stateless_reset(buf, sizeof(buf), token, rnd, rndlen);
	if (n <= 0)
		return;
	count(&s->stats->stateless_resets, 1);
	qs_send_stateless(s, ep, rx, buf, (size_t)n);
}

static void send_retry(struct qs_server *s, struct qs_endpoint *ep, const struct qs_rx *rx,
		       const ngtcp2_pkt_hd *hd, size_t pktlen)
{
	uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN2], buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
	ngtcp2_cid scid;
	ngtcp2_ssize tlen, n;
	size_t max = pktlen * 3 < sizeof(buf) ? pktlen * 3 : sizeof(buf);

	/*
	 * Not minted for this worker: config id 0b111 says "not ours" to the
	 * steering program, so the client's next Initial (whose DCID this
	 * becomes) is routed like a new flow, to the current generation.  The
	 * token is valid at any worker; a reload between the Retry and that
	 * Initial must not send it to a draining worker that takes no new
	 * connections.
	 */
	qs_fill_random(scid.data, QS_CID_LEN);
	scid.data[0] |= (uint8_t)(QS_CID_CONFIGS << 5);
	scid.datalen = QS_CID_LEN;
	tlen = ngtcp2_crypto_generate_retry_token2(token, s->secrets.static_secret,
						   sizeof(s->secrets.static_secret), hd->version,
						   (const ngtcp2_sockaddr *)&rx->remote.ss,
						   rx->remote.len, &scid, &hd->dcid, qs_wall_now());
	if (tlen < 0)
		return;
	n = ngtcp2_crypto_write_retry(buf, max, hd->version, &hd->scid, &scid, &hd->dcid,
				      token, (size_t)tlen);
	if (n <= 0)
		return;
	count(&s->stats->retries, 1);
	qs_send_stateless(s, ep, rx, buf, (size_t)n);
}

static void send_invalid_token_close(struct qs_server *s, struct qs_endpoint *ep,
				     const struct qs_rx *rx, const ngtcp2_pkt_hd *hd)
{
	uint8_t buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
	ngtcp2_ssize n;

	n = ngtcp2_crypto_write_connection_close(buf, sizeof(buf), hd->version, &hd->scid,
						 &hd->dcid, NGTCP2_INVALID_TOKEN, NULL, 0);
	if (n > 0)
		qs_send_stateless(s, ep, rx, buf, (size_t)n);
}

/* --max-connections reached: tell the client at once instead of a timeout. */
static void send_refused(struct qs_server *s, struct qs_endpoint *ep, const struct qs_rx *rx,
			 const ngtcp2_pkt_hd *hd)
{
	uint8_t buf[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
	ngtcp2_ssize n;

	count(&s->stats->conn_refused, 1);
	n = ngtcp2_crypto_write_connection_close(buf, sizeof(buf), hd->version, &hd->scid,
						 &hd->dcid, NGTCP2_CONNECTION_REFUSED, NULL, 0);
	if (n > 0)
		qs_send_stateless(s, ep, rx, buf, (size_t)n);
}

static bool retry_needed(struct qs_server *s)
{
	ngtcp2_tstamp now = qs_now();

	if (s->cfg->retry == QS_RETRY_ALWAYS)
		return true;
	if (s->cfg->retry == QS_RETRY_NEVER)
		return false;
	if (now - s->hs_window >= NGTCP2_SECONDS) {
		s->hs_window = now;
		s->hs_count = 0;
	}
	return s->hs_count >= s->cfg->retry_threshold;
}

void qs_accept_initial(struct qs_server *s, struct qs_endpoint *ep, const struct qs_rx *rx,
			   const uint8_t *data, size_t len)
{
	ngtcp2_pkt_hd hd;
	ngtcp2_cid ocid, *pocid = NULL;
	ngtcp2_token_type token_type = NGTCP2_TOKEN_TYPE_UNKNOWN;
	struct qs_conn *c;
	ngtcp2_cid cids[8];
	size_t n;
	int rv;

	if (ngtcp2_accept(&hd, data, len)) {
		count(&s->stats->rx_dropped, 1);
		return;
	}
	if (s->draining) {
		count(&s->stats->rx_dropped, 1);
		return;
	}
	/* bounded memory: every connection holds its TLS and QUIC state */
	if (s->n_conns >= s->cfg->max_conns) {
		send_refused(s, ep, rx, &hd);
		return;
	}
	if (hd.tokenlen) {
		switch (hd.token[0]) {
		case NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY2:
			rv = ngtcp2_crypto_verify_retry_token2(&ocid, hd.token, hd.tokenlen,
				s->secrets.static_secret, sizeof(s->secrets.static_secret),
				hd.version, (const ngtcp2_sockaddr *)&rx->remote.ss, rx->remote.len,
				&hd.dcid, RETRY_TOKEN_TTL, qs_wall_now());
			if (rv == 0) {
				pocid = &ocid;
				token_type = NGTCP2_TOKEN_TYPE_RETRY;
				break;
			}
			count(&s->stats->tokens_rejected, 1);
			if (rv == NGTCP2_CRYPTO_ERR_VERIFY_TOKEN) {
				send_invalid_token_close(s, ep, rx, &hd);
				return;
			}
			hd.token = NULL;
			hd.tokenlen = 0;
			break;
		case NGTCP2_CRYPTO_TOKEN_MAGIC_REGULAR:
			if (ngtcp2_crypto_verify_regular_token(hd.token, hd.tokenlen,
				s->secrets.static_secret, sizeof(s->secrets.static_secret),
				(const ngtcp2_sockaddr *)&rx->remote.ss, rx->remote.len,
				REGULAR_TOKEN_TTL, qs_wall_now()) == 0) {
				token_type = NGTCP2_TOKEN_TYPE_NEW_TOKEN;
				break;
			}
			count(&s->stats->tokens_rejected, 1);
			hd.token = NULL;
			hd.tokenlen = 0;
			break;
		default:
			hd.token = NULL;
			hd.tokenlen = 0;
			break;
		}
	}
	if (token_type == NGTCP2_TOKEN_TYPE_UNKNOWN && retry_needed(s)) {
		send_retry(s, ep, rx, &hd, len);
		return;
	}
	s->hs_count++;

	c = qs_conn_new(s, ep, rx, &hd, pocid, token_type);
	if (!c) {
		count(&s->stats->rx_dropped, 1);
		return;
	}
	/* the client's Initial DCID and our SCID both find this connection */
	if (qs_cidmap_add(&s->map, hd.dcid.data, hd.dcid.datalen, c) == -EEXIST) {
		qs_conn_free(c);
		return;
	}
	n = ngtcp2_conn_get_scid(c->qc, NULL);
	if (n > 8)
		n = 8;
	ngtcp2_conn_get_scid(c->qc, cids);
	for (size_t i = 0; i < n; i++)
		qs_cidmap_add(&s->map, cids[i].data, cids[i].datalen, c);

	{
		ngtcp2_path path = qs_rx_path(rx, ep);
		ngtcp2_pkt_info pi = { .ecn = rx->ecn };

		rv = ngtcp2_conn_read_pkt(c->qc, &path, &pi, data, len, qs_now());
	}
	if (rv) {
		if (rv == NGTCP2_ERR_DROP_CONN || rv == NGTCP2_ERR_RETRY) {
			if (rv == NGTCP2_ERR_RETRY)
				send_retry(s, ep, rx, &hd, len);
			qs_conn_free(c);
			return;
		}
		if (rv == NGTCP2_ERR_CRYPTO)
			ngtcp2_ccerr_set_tls_alert(&c->last_error,
						   ngtcp2_conn_get_tls_alert(c->qc), NULL, 0);
		else
			ngtcp2_ccerr_set_liberr(&c->last_error, rv, NULL, 0);
		qs_conn_close(c);
		return;
	}
	qs_conn_schedule_write(c);
}
