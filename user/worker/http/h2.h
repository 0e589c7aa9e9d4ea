/* SPDX-License-Identifier: MIT */
/*
 * HTTP/2 on TLS over TCP (nghttp2), mapped to the request layer
 * (http/req.h) as HTTP/3 is: a stream's header block becomes a struct
 * qs_req, its body goes to the handler with HTTP/2 window credit returned
 * as the handler consumes it, and the response is framed as the TCP
 * output queue takes it (a file is read a DATA frame at a time).  Floods
 * of RST_STREAM, PING, SETTINGS and CONTINUATION frames end the connection
 * with GOAWAY (ENHANCE_YOUR_CALM).
 */
#ifndef QS_WORKER_HTTP_H2_H
#define QS_WORKER_HTTP_H2_H

#include "worker/tcp/tcp.h"

/*
 * Per connection: RST_STREAM frames; PING and SETTINGS frames (each asks
 * for an acknowledgement); and frames that cost work and carry nothing
 * (PRIORITY, WINDOW_UPDATE of less than QS_H2_SMALL_WINDOW_UPDATE bytes,
 * empty DATA without END_STREAM): each a token bucket of this burst
 * refilled at this rate per second.  Clients send a handful of each;
 * a rapid-reset attack (CVE-2023-44487) sends thousands, and so do the
 * "ping", "resource loop" and "empty frames" floods (CVE-2019-9512,
 * -9513, -9518).
 */
#define QS_H2_FLOOD_BURST 500u
#define QS_H2_FLOOD_RATE  50u
#define QS_H2_SMALL_WINDOW_UPDATE 1024u
/* CONTINUATION frames after a HEADERS frame (CVE-2024-27316 and kin) */
#define QS_H2_MAX_CONTINUATIONS 8u

extern const struct qs_tcp_app qs_h2_app;

#endif
