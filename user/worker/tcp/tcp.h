/* SPDX-License-Identifier: MIT */
/*
 * HTTPS over TCP: a worker accepts on its own SO_REUSEPORT listening socket
 * per listener, runs TLS 1.3 / 1.2 (OpenSSL, the certificate and ticket keys
 * of QUIC) and hands the decrypted byte stream to the application protocol
 * ALPN chose: HTTP/2 (http/h2.c) or HTTP/1.1 (http/h1.c), which map it to
 * the request layer (http/req.h) as HTTP/3 does.
 *
 * The transport owns the socket, the TLS object, a bounded output queue
 * and the connection's timers; the application owns the protocol state.
 * Both directions have backpressure: the application returns how much of
 * what it was given it took (the rest is delivered again once it calls
 * qs_tcp_resume_read(), and nothing more is read from the socket meanwhile:
 * the TCP window closes), and stops producing while qs_tcp_queued() is
 * over QS_TCP_OUT_HIGH, until its writable() is called.
 */
#ifndef QS_WORKER_TCP_H
#define QS_WORKER_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "worker/http/req.h"
#include "worker/site.h"

struct qs_tcp_conn;
struct qs_tcp_server;

/* Producers stop above this many queued bytes and wait for writable(). */
#define QS_TCP_OUT_HIGH (256u << 10)

/* An application protocol on TLS over TCP, chosen by ALPN. */
struct qs_tcp_app {
	const char *alpn;               /* "h2", "http/1.1" */
	/* The handshake is done: set up (c->app_data); 0, or -errno to close. */
	int (*open)(struct qs_tcp_conn *c);
	/*
	 * Decrypted bytes from the client.  Returns how many it took: fewer
	 * than len pauses reading (the rest comes again after
	 * qs_tcp_resume_read()); -errno closes the connection (after what is
	 * queued is sent, if the application queued an answer).
	 */
	ssize_t (*recv)(struct qs_tcp_conn *c, const uint8_t *data, size_t len);
	/* The output queue fell under QS_TCP_OUT_HIGH, or qs_tcp_wake(): produce (may be NULL). */
	void (*writable)(struct qs_tcp_conn *c);
	/*
	 * The worker drains (SIGTERM, or a reload's new generation took over):
	 * finish what runs, start nothing new (HTTP/2 GOAWAY; HTTP/1.1
	 * `connection: close` after the current response), then
	 * qs_tcp_close().  The transport closes what is left at
	 * --drain-timeout.
	 */
	void (*drain)(struct qs_tcp_conn *c);
	/* The connection is gone (closed, reset, timed out): free what it holds. */
	void (*close)(struct qs_tcp_conn *c);
};

struct qs_tcp_conn {
	struct qs_io io;                /* first: the loop calls back with its address */
	struct qs_tcp_server *srv;
	struct qs_site *site;
	int fd;
	SSL *ssl;
	struct sockaddr_storage peer, local;
	struct qs_tls_info tls;         /* filled when the handshake completes */
	const char *alt_svc;            /* for qs_req.alt_svc: NULL when HTTP/3 is off */
	const struct qs_tcp_app *app;   /* NULL until the handshake completes */
	void *app_data;
	/* what the request layer counts per connection (qs_req.conn_busy, conn_files) */
	unsigned busy, files;
	/* the rest is the transport's (tcp/tcp.c) */
	uint8_t *out;                   /* plaintext waiting for SSL_write */
	size_t out_len, out_cap, out_off;
	uint8_t *in_held;               /* received, not yet taken by the application */
	size_t in_len, in_off;
	struct qs_tcp_conn *t_prev, *t_next; /* the timeout list it is on */
	uint64_t t_at;                  /* ns (coarse clock): when it went on it */
	int t_list;                     /* which (tcp.c), -1: none */
	struct qs_tcp_conn *r_next;     /* the server's ready list: flush, resume */
	bool in_ready;
	bool handshake_done;
	bool read_paused;               /* the application took less than it was given */
	bool read_again;                /* ... and resumed: read what waits */
	bool over_high;                 /* the queue went over QS_TCP_OUT_HIGH */
	bool closing;                   /* close once the queue is sent */
	bool linger;                    /* ... then read and drop what the client sends */
	bool lingering;                 /* our side is shut: reading and dropping */
	uint32_t linger_bytes;          /* dropped so far */
	int unacked;                    /* what the client has not acknowledged, last seen */
	bool dead;                      /* closed: freed after the batch */
	bool idle;                      /* no request in progress (keep-alive idle) */
	bool draining;
	bool wake;                      /* call writable() from the ready list */
	struct qs_tcp_conn *prev, *next; /* the server's connections */
};

/* Queue bytes to send (copied); 0 or -ENOMEM.  Sent as the socket takes them. */
int qs_tcp_send(struct qs_tcp_conn *c, const uint8_t *data, size_t len);

/* Bytes queued and not yet taken by the socket. */
static inline size_t qs_tcp_queued(const struct qs_tcp_conn *c)
{
	return c->out_len - c->out_off;
}

/*
 * Call the application's writable() soon, from the loop (after the current
 * batch of events): for producing in answer to a handler's call, which must
 * not end (and free) the request under the handler's feet.
 */
void qs_tcp_wake(struct qs_tcp_conn *c);

/* Deliver again what the application left (and read the socket again). */
void qs_tcp_resume_read(struct qs_tcp_conn *c);

/*
 * The application is idle (keep-alive: no request in progress; the
 * --keepalive-timeout runs) or busy (a request runs: its own timeouts
 * apply).
 */
void qs_tcp_set_idle(struct qs_tcp_conn *c, bool idle);

/*
 * Close: after what is queued is sent (flush), or at once (a reset).  The
 * application's close() is called either way, later, from the loop.
 */
void qs_tcp_close(struct qs_tcp_conn *c, bool flush);

/*
 * Close after what is queued is sent when the client may still be
 * sending (a request body not read, a refused request): our side is shut
 * and what still comes is read and dropped for a while (at most
 * QS_TCP_LINGER_MS and QS_TCP_LINGER_BYTES), so the kernel does not answer
 * it with a reset that would destroy the response before the client read
 * it.
 */
void qs_tcp_close_lingering(struct qs_tcp_conn *c);
/* (the QS_TCP_LINGER_MS clock starts again while the client acknowledges
 * the answer's tail: a large one is not cut after 2 s) */
#define QS_TCP_LINGER_MS    2000u
#define QS_TCP_LINGER_BYTES (1u << 20)

/* ---- for the worker (worker.c) ----------------------------------------- */

/*
 * A worker's TCP side: its listening sockets (one per listener, its own
 * generation's), the TLS context for TCP (the certificate and ticket keys
 * of QUIC; ALPN h2, http/1.1) and the application protocols by ALPN.  The
 * loop hook runs the timeouts, the flushes and the drain.  NULL and errno
 * set on failure.
 */
struct qs_tcp_server *qs_tcp_server_new(struct qs_site *site, SSL_CTX *ctx, const int *fds,
					unsigned n_fds, const struct qs_tcp_app *const *apps,
					unsigned n_apps);
void qs_tcp_server_free(struct qs_tcp_server *srv);
/* After a drain: every connection is gone. */
bool qs_tcp_drained(const struct qs_tcp_server *srv);

/* The client's address and ours, for qs_proto_ops.addr. */
static inline void qs_tcp_addr(const struct qs_tcp_conn *c, const struct sockaddr **peer,
			       const struct sockaddr **local)
{
	*peer = (const struct sockaddr *)&c->peer;
	*local = (const struct sockaddr *)&c->local;
}

#endif
