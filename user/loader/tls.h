/* SPDX-License-Identifier: MIT */
/*
 * The TLS context every worker uses: TLS 1.3 only, ALPN h3, certificate
 * and key loaded by the loader (as root, before the workers drop
 * privileges, so the key file can stay readable by root only).
 */
#ifndef QS_LOADER_TLS_H
#define QS_LOADER_TLS_H

#include <openssl/ssl.h>

/* NULL after logging which file is wrong and how to fix it. */
SSL_CTX *qs_tls_ctx_new(const char *cert, const char *key);

/*
 * The context of HTTPS over TCP: TLS 1.3 and 1.2, ALPN h2 then http/1.1,
 * the same certificate and key (the workers install the ticket keys).
 */
SSL_CTX *qs_tls_tcp_ctx_new(const char *cert, const char *key);

#endif
