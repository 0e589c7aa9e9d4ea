// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <ngtcp2/ngtcp2_crypto_ossl.h>

#include "common/log.h"
#include "loader/tls.h"

static const unsigned char alpn_h3[] = { 2, 'h', '3' };

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	/* in: length-prefixed protocol names; we speak h3 only */
	for (unsigned int i = 0; i < inlen; i += 1u + in[i]) {
		if (i + 1u + in[i] > inlen)
			break;
		if (in[i] == 2 && memcmp(in + i, alpn_h3, sizeof(alpn_h3)) == 0) {
			*out = in + i + 1;
			*outlen = in[i];
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static const char *ssl_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (!e)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

SSL_CTX *qs_tls_ctx_new(const char *cert, const char *key)
{
	SSL_CTX *ctx;

	if (ngtcp2_crypto_ossl_init() != 0) {
		pr_warn("cannot initialize ngtcp2's OpenSSL backend");
		return NULL;
	}
	if (access(cert, R_OK)) {
		pr_warn("cannot read the certificate %s: %s (give --cert FILE; "
			"scripts/gen-certs.sh makes a development pair in certs/)",
			cert, strerror(errno));
		return NULL;
	}
	if (access(key, R_OK)) {
		pr_warn("cannot read the private key %s: %s (give --key FILE; "
			"scripts/gen-certs.sh makes a development pair in certs/)",
			key, strerror(errno));
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		pr_warn("SSL_CTX_new: %s", ssl_error());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_SINGLE_ECDH_USE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	/*
	 * AES-128-GCM with SHA-256 first (OpenSSL's default puts AES-256 with
	 * SHA-384 first): SHA-256 runs on the CPU's SHA extensions where
	 * SHA-384 is software, which measured 10 % of a resumed handshake.
	 */
	if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
				     "TLS_CHACHA20_POLY1305_SHA256") != 1) {
		pr_warn("SSL_CTX_set_ciphersuites: %s", ssl_error());
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		pr_warn("cannot load the certificate %s: %s (expected a PEM certificate "
			"chain)", cert, ssl_error());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		pr_warn("cannot load the private key %s: %s (expected a PEM private key)",
			key, ssl_error());
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		pr_warn("the private key %s does not match the certificate %s: %s",
			key, cert, ssl_error());
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* h2 when the client offers it, else http/1.1; no ALPN at all: HTTP/1.1 */
static int select_alpn_tcp(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			   const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x02h2\x08http/1.1";

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, ours, sizeof(ours) - 1, in,
				  inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *qs_tls_tcp_ctx_new(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		pr_warn("SSL_CTX_new: %s", ssl_error());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
				 SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
			      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_alpn_select_cb(ctx, select_alpn_tcp, NULL);
	/* TLS 1.2: forward secrecy and AEAD only (RFC 9113 9.2.2 asks as much of h2) */
	if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
				     "TLS_CHACHA20_POLY1305_SHA256") != 1) {
		pr_warn("cannot set the TCP cipher suites: %s", ssl_error());
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		pr_warn("cannot load %s and %s for TCP: %s", cert, key, ssl_error());
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
