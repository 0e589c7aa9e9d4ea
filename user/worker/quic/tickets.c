// SPDX-License-Identifier: MIT
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/strike.h"
#include "common/tickets.h"
#include "common/config.h"
#include "quicsteer/steer.h"
#include "worker/counters.h"
#include "worker/quic/quic.h"
#include "worker/quic/tickets.h"

/*
 * What 0-RTT relies on, as promised when the ticket was issued: the client
 * uses these limits before it hears the new ones (RFC 9000 7.4.1, RFC 9114
 * 7.2.4.2).  Fixed-width, in the ticket's application data.
 */
struct qs_remembered {
	uint32_t magic;
	uint32_t version;               /* QUIC version of the connection */
	uint64_t max_data, stream_data, streams_bidi, streams_uni, cid_limit;
	uint64_t field_section, qpack_capacity, qpack_blocked;
	unsigned char host_id[16];      /* the anti-replay register it was issued under */
};

#define REMEMBERED_MAGIC 0x71730002u    /* "qs", format 2 */

static struct {
	const struct qs_config *cfg;
	const struct qs_tickets *keys;
	struct qs_strike *strike;
	struct qs_worker_stats *stats;
} T;

static struct qs_conn *conn_of(SSL *ssl)
{
	ngtcp2_crypto_conn_ref *ref = SSL_get_app_data(ssl);

	return ref ? ref->user_data : NULL;
}

static void remembered_now(const struct qs_conn *c, struct qs_remembered *r)
{
	memset(r, 0, sizeof(*r));
	r->magic = REMEMBERED_MAGIC;
	r->version = c ? ngtcp2_conn_get_negotiated_version(c->qc) : 0;
	r->max_data = QS_TP_CONN_WINDOW;
	r->stream_data = QS_TP_STREAM_WINDOW;
	r->streams_bidi = T.cfg->max_streams;
	r->streams_uni = QS_TP_STREAMS_UNI;
	r->cid_limit = QS_TP_CID_LIMIT;
	r->field_section = T.cfg->max_header_bytes;
	r->qpack_capacity = QS_H3_QPACK_CAPACITY;
	r->qpack_blocked = QS_H3_QPACK_BLOCKED;
	memcpy(r->host_id, T.keys->host_id, sizeof(r->host_id));
}

/* 0-RTT under these settings would break a promise the ticket remembers. */
static bool lowered(const struct qs_remembered *then, const struct qs_remembered *now)
{
	return then->version != now->version || now->max_data < then->max_data ||
	       now->stream_data < then->stream_data || now->streams_bidi < then->streams_bidi ||
	       now->streams_uni < then->streams_uni || now->cid_limit < then->cid_limit ||
	       now->field_section < then->field_section ||
	       now->qpack_capacity < then->qpack_capacity ||
	       now->qpack_blocked < then->qpack_blocked;
}

static int set_mac(EVP_MAC_CTX *hctx, const unsigned char *key)
{
	OSSL_PARAM params[3];

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key, 32);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(hctx, params);
}

/*
 * Seal (enc = 1) with the encrypt key, or find the key a ticket names:
 * 1 = found, the encrypt key; 2 = found, decrypt-only (renew the ticket);
 * 0 = unknown (full handshake); -1 = error.
 */
static int key_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
		  EVP_MAC_CTX *hctx, int enc)
{
	struct qs_tkeys keys;
	const struct qs_tkey *key = NULL;
	int ret = 0;

	qs_tickets_read(T.keys, &keys);
	if (enc) {
		for (uint32_t i = 0; i < keys.n && !key; i++)
			if (keys.k[i].role == QS_TKEY_ENCRYPT)
				key = &keys.k[i];
		if (!key)
			goto out;	/* no ticket */
		ret = -1;
		if (RAND_bytes(iv, 16) != 1 ||
		    EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key->aes, iv) != 1 ||
		    set_mac(hctx, key->hmac) != 1)
			goto out;
		memcpy(name, key->name, 16);
		ret = 1;
	} else {
		int64_t now = time(NULL);
		struct qs_conn *c = conn_of(ssl);

		for (uint32_t i = 0; i < keys.n && !key; i++)
			if (!memcmp(keys.k[i].name, name, 16) &&
			    (!keys.k[i].not_after || keys.k[i].not_after >= now))
				key = &keys.k[i];
		if (!key) {
			if (c)
				c->tkt_unknown = 1;
			goto out;
		}
		ret = -1;
		if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key->aes, iv) != 1 ||
		    set_mac(hctx, key->hmac) != 1)
			goto out;
		ret = key->role == QS_TKEY_ENCRYPT ? 1 : 2;
	}
out:
	explicit_bzero(&keys, sizeof(keys));
	return ret;
}

static int gen_cb(SSL *ssl, void *arg)
{
	struct qs_conn *c = conn_of(ssl);
	struct qs_remembered r;

	(void)arg;
	remembered_now(c, &r);
	if (!SSL_SESSION_set1_ticket_appdata(SSL_get0_session(ssl), &r, sizeof(r)))
		return 0;
	count(&T.stats->tickets_issued, 1);
	return 1;
}

static SSL_TICKET_RETURN dec_cb(SSL *ssl, SSL_SESSION *sess, const unsigned char *keyname,
				size_t keynamelen, SSL_TICKET_STATUS status, void *arg)
{
	struct qs_conn *c = conn_of(ssl);
	struct qs_remembered then, now;
	void *data;
	size_t len;

	(void)keyname;
	(void)keynamelen;
	(void)arg;
	switch (status) {
	case SSL_TICKET_EMPTY:
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	case SSL_TICKET_NO_DECRYPT:
		count(c && c->tkt_unknown ? &T.stats->ticket_unknown_key :
					    &T.stats->ticket_corrupt, 1);
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	case SSL_TICKET_SUCCESS:
	case SSL_TICKET_SUCCESS_RENEW:
		break;
	default:
		return SSL_TICKET_RETURN_ABORT;
	}
	if ((int64_t)time(NULL) > (int64_t)SSL_SESSION_get_time_ex(sess) +
				  (int64_t)SSL_SESSION_get_timeout(sess)) {
		count(&T.stats->ticket_expired, 1);
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	}
	if (!SSL_SESSION_get0_ticket_appdata(sess, &data, &len) || len != sizeof(then)) {
		count(&T.stats->ticket_corrupt, 1);
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	}
	memcpy(&then, data, sizeof(then));
	if (then.magic != REMEMBERED_MAGIC) {
		count(&T.stats->ticket_corrupt, 1);
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	}
	remembered_now(c, &now);
	if (c) {
		/* the negotiated version is not known yet: the client's choice is it */
		now.version = ngtcp2_conn_get_client_chosen_version(c->qc);
		if (lowered(&then, &now))
			c->early_refused = QS_EARLY_SETTINGS;
		else if (memcmp(then.host_id, now.host_id, sizeof(now.host_id)))
			c->early_refused = QS_EARLY_HOST;	/* resumed, in 1-RTT */
	}
	/*
	 * Always a fresh ticket for the next connection: a client that reuses
	 * one is linkable across connections (RFC 8446 C.4), and a ticket
	 * opened with a decrypt-only key must move to the encrypt key.
	 */
	return SSL_TICKET_RETURN_USE_RENEW;
}

/* A keyed hash of all 32 bytes of the ClientHello random. */
static uint64_t random_hash(const unsigned char rnd[32])
{
	unsigned char buf[48] = { 0 };
	uint64_t k0, k1, h;

	memcpy(&k0, T.keys->strike_key, 8);
	memcpy(&k1, T.keys->strike_key + 8, 8);
	memcpy(buf, rnd, 32);
	h = qs_cid_prf(k0, k1, buf);
	h ^= QS_ROTL64(qs_cid_prf(k0, k1, buf + 14), 21);
	h ^= QS_ROTL64(qs_cid_prf(k0, k1, buf + 28), 42);
	return h;
}

/* OpenSSL asks only when everything else allows the early data. */
static int allow_early_cb(SSL *ssl, void *arg)
{
	struct qs_conn *c = conn_of(ssl);
	unsigned char rnd[32];
	struct timespec ts;

	(void)arg;
	if (!c)
		return 0;
	/*
	 * Counted here, not when the handshake completes: a replayed first
	 * flight never completes one.
	 */
	c->early_counted = 1;
	count(&T.stats->early_offered, 1);
	if (c->early_refused == QS_EARLY_SETTINGS) {
		count(&T.stats->early_rej_settings, 1);
		return 0;
	}
	if (c->early_refused == QS_EARLY_HOST) {
		count(&T.stats->early_rej_host, 1);
		return 0;
	}
	if (SSL_get_client_random(ssl, rnd, sizeof(rnd)) != sizeof(rnd)) {
		count(&T.stats->early_rej_other, 1);
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (qs_strike_check(T.strike, random_hash(rnd), (uint32_t)ts.tv_sec) != QS_STRIKE_FRESH) {
		c->early_refused = QS_EARLY_REPLAY;
		count(&T.stats->early_rej_replay, 1);
		return 0;
	}
	count(&T.stats->early_accepted, 1);
	return 1;
}

int qs_tickets_setup(SSL_CTX *ctx, const struct qs_config *cfg, const struct qs_tickets *keys,
		     struct qs_strike *strike, struct qs_worker_stats *stats)
{
	T.cfg = cfg;
	T.keys = keys;
	T.strike = strike;
	T.stats = stats;
	/* tickets only: no per-process session cache to grow or to disagree */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_timeout(ctx, cfg->ticket_lifetime_s);
	SSL_CTX_set_num_tickets(ctx, 1);
	if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, key_cb) != 1 ||
	    SSL_CTX_set_session_ticket_cb(ctx, gen_cb, dec_cb, NULL) != 1)
		return -1;
	if (cfg->early_data) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_ANTI_REPLAY);
		SSL_CTX_set_max_early_data(ctx, UINT32_MAX);
		SSL_CTX_set_allow_early_data_cb(ctx, allow_early_cb, NULL);
	} else {
		SSL_CTX_set_max_early_data(ctx, 0);
	}
	return 0;
}

void qs_tickets_conn_init(struct qs_conn *c)
{
	if (T.cfg->early_data)
		SSL_set_quic_tls_early_data_enabled(c->ssl, 1);
}

void qs_tickets_on_handshake(struct qs_conn *c)
{
	struct qs_worker_stats *st = T.stats;
	int early = SSL_get_early_data_status(c->ssl);

	count(SSL_session_reused(c->ssl) ? &st->hs_resumed : &st->hs_full, 1);
	if (early == SSL_EARLY_DATA_NOT_SENT || c->early_counted)
		return;
	/* refused before our callback was asked */
	count(&st->early_offered, 1);
	count(!T.cfg->early_data ? &st->early_rej_policy : &st->early_rej_other, 1);
}
