// SPDX-License-Identifier: MIT
/*
 * The stateless side of a worker's QUIC server: what it answers before a
 * connection exists.  Version negotiation, stateless resets (rate-limited),
 * Retry and the tokens of Retry and NEW_TOKEN (from the secret all
 * workers share, so any worker accepts another's), and turning a client
 * Initial into a connection.
 *
 * Half-open connections: a valid client Initial is cheap to forge from any
 * address, and each one that becomes a connection holds a slot of
 * --max-connections until its handshake times out.  So connections whose
 * client has not proved its address (no valid token, handshake not
 * complete) are kept on a list, oldest first; past --retry-unvalidated of
 * the table, Initials without a token get a Retry (stateless: a forger that
 * does not receive at its address never comes back), and a client with a
 * valid token, when the table is full, takes the place of the oldest
 * half-open connection.  NEW_TOKEN tokens are honoured once per host (a
 * register shared by every worker), so one token cannot validate a flood.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <ngtcp2/ngtcp2_crypto.h>

#include "common/log.h"
#include "common/config.h"
#include "common/strike.h"
#include "quicsteer/steer.h"
#include "worker/counters.h"
#include "worker/quic/quic.h"
#include "worker/quic/quic-int.h"

#define SR_PER_SEC        32.0      /* stateless resets: refill rate */
#define RETRY_TOKEN_TTL   (10 * NGTCP2_SECONDS)
#define REGULAR_TOKEN_TTL ((ngtcp2_duration)QS_NEW_TOKEN_TTL * NGTCP2_SECONDS)

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

/* ---- half-open connections ------------------------------------------------ */

static void unvalidated_add(struct qs_conn *c)
{
	struct qs_server *s = c->srv;

	c->unvalidated = true;
	c->unv_since = qs_now();
	c->unv_prev = s->unv_tail;
	c->unv_next = NULL;
	if (s->unv_tail)
		s->unv_tail->unv_next = c;
	else
		s->unv_head = c;
	s->unv_tail = c;
	s->n_unvalidated++;
	count_set(&s->stats->conn_unvalidated, s->n_unvalidated);
}

void qs_conn_validated(struct qs_conn *c)
{
	struct qs_server *s = c->srv;

	if (!c->unvalidated)
		return;
	c->unvalidated = false;
	if (c->unv_prev)
		c->unv_prev->unv_next = c->unv_next;
	else
		s->unv_head = c->unv_next;
	if (c->unv_next)
		c->unv_next->unv_prev = c->unv_prev;
	else
		s->unv_tail = c->unv_prev;
	c->unv_prev = c->unv_next = NULL;
	s->n_unvalidated--;
	count_set(&s->stats->conn_unvalidated, s->n_unvalidated);
}

static unsigned unvalidated_cap(const struct qs_server *s)
{
	unsigned long long cap = (unsigned long long)s->cfg->max_conns *
				 s->cfg->retry_unvalidated / 100;

	return cap ? (unsigned)cap : 1;
}

/*
 * The table is full and a client proved its address: the oldest half-open
 * connection, the one nearest its handshake timeout, makes room for it,
 * if it is older than the first PTO (about 1 s from ngtcp2's initial RTT
 * of 333 ms; half the handshake timeout when that is shorter).  A younger
 * one may be an honest handshake under way (three clients racing for a
 * table of two: the third is refused, not the first one evicted); forged
 * ones stay until the handshake timeout, so under a flood the oldest is
 * that old.
 */
static bool evict_half_open(struct qs_server *s)
{
	struct qs_conn *c = s->unv_head;
	ngtcp2_duration min_age = (ngtcp2_duration)s->cfg->handshake_timeout_ms *
				  NGTCP2_MILLISECONDS / 2;

	if (min_age > NGTCP2_SECONDS)
		min_age = NGTCP2_SECONDS;
	if (!c || qs_now() - c->unv_since < min_age)
		return false;
	count(&s->stats->hs_evicted, 1);
	qs_conn_free(c);
	return true;
}

/* ---- tokens ------------------------------------------------------------------ */

/* A keyed hash of a whole token: SipHash over 14-byte pieces, each keyed by the last. */
static uint64_t token_hash(const struct qs_server *s, const uint8_t *t, size_t len)
{
	uint64_t h = s->token_key[0] ^ len;
	uint8_t piece[16];

	for (size_t off = 0; off < len; off += QS_CID_PRF_LEN) {
		size_t n = len - off < QS_CID_PRF_LEN ? len - off : QS_CID_PRF_LEN;

		memset(piece, 0, sizeof(piece));
		memcpy(piece, t + off, n);
		h = qs_cid_prf(h, s->token_key[1], piece);
	}
	return h;
}

/*
 * A verified NEW_TOKEN token, the first time the host sees it?  Its
 * address binding is the IP only (clients change ports between
 * connections), so without this one token would validate any number of
 * forged Initials from that address.  A full register bucket refuses too:
 * the client then counts as unvalidated, which costs it at most a Retry.
 */
static bool token_first_use(struct qs_server *s, const uint8_t *t, size_t len)
{
	struct timespec ts;

	if (!s->tokens)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (qs_strike_check(s->tokens, token_hash(s, t, len), (uint32_t)ts.tv_sec) ==
	    QS_STRIKE_FRESH)
		return true;
	count(&s->stats->tokens_reused, 1);
	return false;
}

/* ---- accepting ----------------------------------------------------------------- */

enum retry_why { RETRY_NO, RETRY_POLICY, RETRY_UNVALIDATED };

/* An Initial without a (usable) token: Retry it, and why. */
static enum retry_why retry_needed(struct qs_server *s)
{
	ngtcp2_tstamp now = qs_now();

	if (s->cfg->retry == QS_RETRY_ALWAYS)
		return RETRY_POLICY;
	if (s->cfg->retry == QS_RETRY_NEVER)
		return RETRY_NO;
	/*
	 * Half-open connections past their share of the table, or a full
	 * table with some (once validated, the client takes one's place): a
	 * flood that never completes a handshake stays below any handshake
	 * rate, but cannot hold more than its share.
	 */
	if (s->n_unvalidated >= unvalidated_cap(s) ||
	    (s->n_conns >= s->cfg->max_conns && s->n_unvalidated))
		return RETRY_UNVALIDATED;
	if (now - s->hs_window >= NGTCP2_SECONDS) {
		s->hs_window = now;
		s->hs_count = 0;
	}
	return s->hs_count >= s->cfg->retry_threshold ? RETRY_POLICY : RETRY_NO;
}

void qs_accept_initial(struct qs_server *s, struct qs_endpoint *ep, const struct qs_rx *rx,
			   const uint8_t *data, size_t len)
{
	ngtcp2_pkt_hd hd;
	ngtcp2_cid ocid, *pocid = NULL;
	ngtcp2_token_type token_type = NGTCP2_TOKEN_TYPE_UNKNOWN;
	struct qs_conn *c;
	ngtcp2_cid cids[8];
	enum retry_why why;
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
	/*
	 * Bounded memory: every connection holds its TLS and QUIC state.  A
	 * table full of validated connections has no room for anyone; one
	 * that holds half-open connections has room for a validated client.
	 */
	if (s->n_conns >= s->cfg->max_conns && !s->n_unvalidated) {
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
				if (token_first_use(s, hd.token, hd.tokenlen)) {
					token_type = NGTCP2_TOKEN_TYPE_NEW_TOKEN;
					break;
				}
			} else {
				count(&s->stats->tokens_rejected, 1);
			}
			hd.token = NULL;
			hd.tokenlen = 0;
			break;
		default:
			hd.token = NULL;
			hd.tokenlen = 0;
			break;
		}
	}
	if (token_type == NGTCP2_TOKEN_TYPE_UNKNOWN) {
		why = retry_needed(s);
		if (why != RETRY_NO) {
			if (why == RETRY_UNVALIDATED)
				count(&s->stats->retry_unvalidated, 1);
			send_retry(s, ep, rx, &hd, len);
			return;
		}
	}
	if (s->n_conns >= s->cfg->max_conns &&
	    (token_type == NGTCP2_TOKEN_TYPE_UNKNOWN || !evict_half_open(s))) {
		send_refused(s, ep, rx, &hd);	/* --retry never */
		return;
	}
	s->hs_count++;

	c = qs_conn_new(s, ep, rx, &hd, pocid, token_type);
	if (!c) {
		count(&s->stats->rx_dropped, 1);
		return;
	}
	if (token_type == NGTCP2_TOKEN_TYPE_UNKNOWN)
		unvalidated_add(c);
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
