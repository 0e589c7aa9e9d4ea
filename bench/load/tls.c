// SPDX-License-Identifier: MIT
/* quicsteer-load: TLS (OpenSSL >= 3.5 through ngtcp2_crypto_ossl) and error names. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "conn.h"

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
	return ((struct load_conn *)ref->user_data)->qc;
}

static const char *transport_err_name(uint64_t code)
{
	static const char *const names[] = {
		"NO_ERROR", "INTERNAL_ERROR", "CONNECTION_REFUSED", "FLOW_CONTROL_ERROR",
		"STREAM_LIMIT_ERROR", "STREAM_STATE_ERROR", "FINAL_SIZE_ERROR",
		"FRAME_ENCODING_ERROR", "TRANSPORT_PARAMETER_ERROR", "CONNECTION_ID_LIMIT_ERROR",
		"PROTOCOL_VIOLATION", "INVALID_TOKEN", "APPLICATION_ERROR",
		"CRYPTO_BUFFER_EXCEEDED", "KEY_UPDATE_ERROR", "AEAD_LIMIT_REACHED",
		"NO_VIABLE_PATH",
	};

	if (code < sizeof(names) / sizeof(names[0]))
		return names[code];
	if (code >= 0x100 && code <= 0x1ff)
		return "CRYPTO_ERROR (TLS alert)";
	return "unknown";
}

const char *h3_err_name(uint64_t code)
{
	static const char *const names[] = {
		"H3_NO_ERROR", "H3_GENERAL_PROTOCOL_ERROR", "H3_INTERNAL_ERROR",
		"H3_STREAM_CREATION_ERROR", "H3_CLOSED_CRITICAL_STREAM", "H3_FRAME_UNEXPECTED",
		"H3_FRAME_ERROR", "H3_EXCESSIVE_LOAD", "H3_ID_ERROR", "H3_SETTINGS_ERROR",
		"H3_MISSING_SETTINGS", "H3_REQUEST_REJECTED", "H3_REQUEST_CANCELLED",
		"H3_REQUEST_INCOMPLETE", "H3_MESSAGE_ERROR", "H3_CONNECT_ERROR",
		"H3_VERSION_FALLBACK",
	};

	if (code >= 0x100 && code - 0x100 < sizeof(names) / sizeof(names[0]))
		return names[code - 0x100];
	if (code == 0x200)
		return "QPACK_DECOMPRESSION_FAILED";
	if (code == 0x201)
		return "QPACK_ENCODER_STREAM_ERROR";
	if (code == 0x202)
		return "QPACK_DECODER_STREAM_ERROR";
	return "unknown";
}

/* The server's CONNECTION_CLOSE, in words. */
void conn_describe_ccerr(const ngtcp2_ccerr *ce, char *buf, size_t len)
{
	int n;

	switch (ce->type) {
	case NGTCP2_CCERR_TYPE_APPLICATION:
		n = snprintf(buf, len, "application error 0x%" PRIx64 " %s", ce->error_code,
			     h3_err_name(ce->error_code));
		break;
	case NGTCP2_CCERR_TYPE_TRANSPORT:
		if (ce->error_code >= 0x100 && ce->error_code <= 0x1ff)
			n = snprintf(buf, len, "TLS alert %" PRIu64 " (%s)", ce->error_code & 0xff,
				     SSL_alert_desc_string_long((int)(ce->error_code & 0xff)));
		else
			n = snprintf(buf, len, "transport error 0x%" PRIx64 " %s", ce->error_code,
				     transport_err_name(ce->error_code));
		break;
	case NGTCP2_CCERR_TYPE_IDLE_CLOSE:
		n = snprintf(buf, len, "idle close");
		break;
	default:
		n = snprintf(buf, len, "close type %d, code 0x%" PRIx64, (int)ce->type, ce->error_code);
		break;
	}
	if (n > 0 && (size_t)n < len && ce->reasonlen)
		snprintf(buf + n, len - (size_t)n, ", reason \"%.*s\"", (int)ce->reasonlen,
			 (const char *)ce->reason);
}

/* A session ticket arrived: it replaces the one new connections resume, and the
 * server's transport parameters go with it (0-RTT must respect what it announced). */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	ngtcp2_crypto_conn_ref *ref = SSL_get_app_data(ssl);
	struct load_conn *c = ref->user_data;
	struct load_run *run = c->run;
	SSL_SESSION *dup;
	ngtcp2_ssize n;

	run->st.tickets++;
	if (!SSL_SESSION_is_resumable(sess))
		return 0;
	n = ngtcp2_conn_encode_0rtt_transport_params2(c->qc, run->tp, sizeof(run->tp));
	if (n < 0) {
		load_err(run, "connection %u: cannot keep the transport parameters for 0-RTT: %s",
			 c->id, ngtcp2_strerror((int)n));
		return 0;
	}
	/* A copy: OpenSSL marks an SSL's own session not resumable when that SSL is freed
	 * without a TLS close_notify (QUIC never sends one) */
	dup = SSL_SESSION_dup(sess);
	if (!dup) {
		load_err(run, "connection %u: out of memory for a session ticket", c->id);
		return 0;
	}
	run->tplen = (size_t)n;
	SSL_SESSION_free(run->session);
	run->session = dup;
	return 0;
}

SSL_CTX *load_tls_ctx_new(const struct load_cfg *cfg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		goto err;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
		goto err;
	if (cfg->groups && SSL_CTX_set1_groups_list(ctx, cfg->groups) != 1) {
		fprintf(stderr, "quicsteer-load: --groups %s: not a group list this OpenSSL "
			"knows\n", cfg->groups);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (cfg->resume) {
		/* OpenSSL hands client sessions to the callback only with client caching on;
		 * the run keeps the one it wants itself */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
						     SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, on_new_session);
	}
	if (cfg->insecure) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (cfg->cacert) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->cacert, NULL) != 1) {
			fprintf(stderr, "quicsteer-load: cannot load CA file %s: %s\n", cfg->cacert,
				ERR_reason_error_string(ERR_get_error()));
			SSL_CTX_free(ctx);
			return NULL;
		}
		return ctx;
	}
	/* A private OpenSSL build's default paths point into its prefix: add Debian's bundle. */
	SSL_CTX_set_default_verify_paths(ctx);
	SSL_CTX_load_verify_locations(ctx, "/etc/ssl/certs/ca-certificates.crt", NULL);
	ERR_clear_error();
	return ctx;
err:
	fprintf(stderr, "quicsteer-load: TLS context: %s\n", ERR_reason_error_string(ERR_get_error()));
	SSL_CTX_free(ctx);
	return NULL;
}

int conn_tls_init(struct load_conn *c)
{
	const struct load_cfg *cfg = &c->run->cfg;
	struct in6_addr a6;
	bool numeric = inet_pton(AF_INET, cfg->host, &a6) == 1 ||
		       inet_pton(AF_INET6, cfg->host, &a6) == 1;
	const char *sni = cfg->sni ? cfg->sni : numeric ? "localhost" : cfg->host;

	c->ssl = SSL_new(c->run->ssl_ctx);
	if (!c->ssl)
		return -1;
	if (ngtcp2_crypto_ossl_configure_client_session(c->ssl) != 0)
		return -1;
	c->ref.get_conn = get_conn;
	c->ref.user_data = c;
	SSL_set_app_data(c->ssl, &c->ref);
	SSL_set_connect_state(c->ssl);
	if (SSL_set_alpn_protos(c->ssl, (const unsigned char *)"\x02h3", 3) != 0)
		return -1;
	if (SSL_set_tlsext_host_name(c->ssl, sni) != 1)
		return -1;
	if (!cfg->insecure) {
		/* Check the name we asked for; an address given without --sni is checked as an IP. */
		if (numeric && !cfg->sni) {
			X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);

			if (X509_VERIFY_PARAM_set1_ip_asc(vp, cfg->host) != 1)
				return -1;
		} else if (SSL_set1_host(c->ssl, sni) != 1) {
			return -1;
		}
	}
	if (c->run->session) {
		/* each connection its own copy: OpenSSL marks the session an SSL used as
		 * spent once it resumed it (TLS 1.3 tickets are meant for one use) or when
		 * the SSL is freed without close_notify, and here every connection resumes
		 * the same ticket (a server need not send a new one) */
		SSL_SESSION *sess = SSL_SESSION_dup(c->run->session);
		int ok = sess && SSL_set_session(c->ssl, sess) == 1;

		SSL_SESSION_free(sess);
		if (!ok)
			return -1;
		/* 0-RTT needs a ticket that allows it and the parameters it was issued with */
		if (cfg->early_data && c->run->tplen &&
		    SSL_SESSION_get_max_early_data(c->run->session) &&
		    ngtcp2_conn_decode_and_set_0rtt_transport_params(c->qc, c->run->tp,
								     c->run->tplen) == 0) {
			SSL_set_quic_tls_early_data_enabled(c->ssl, 1);
			c->early = true;
		}
	}
	if (ngtcp2_crypto_ossl_ctx_new(&c->ossl, c->ssl) != 0)
		return -1;
	ngtcp2_conn_set_tls_native_handle(c->qc, c->ossl);
	return 0;
}
