/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.1 over TLS over TCP (tcp/tcp.h): each request of a connection, one
 * at a time, into the request layer (http/req.h), as http/h3.c does for
 * HTTP/3.  The head and chunked bodies are parsed by http/h1parse.c.
 */
#ifndef QS_WORKER_HTTP_H1_H
#define QS_WORKER_HTTP_H1_H

#include "worker/tcp/tcp.h"

extern const struct qs_tcp_app qs_h1_app;

#endif
