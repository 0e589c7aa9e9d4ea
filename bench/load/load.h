/* SPDX-License-Identifier: MIT */
/*
 * quicsteer-load: an HTTP/3 load generator (ngtcp2 + nghttp3 + OpenSSL >= 3.5).
 *
 * One process, one epoll loop, one connected UDP socket (its own source port)
 * per QUIC connection.  main.c parses the command line and runs the loop,
 * conn.c is one QUIC + HTTP/3 client connection, report.c counts and prints.
 */
#ifndef QS_LOAD_H
#define QS_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/socket.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_ossl.h>
#include <nghttp3/nghttp3.h>
#include <openssl/ssl.h>

#define LOAD_NS_PER_S 1000000000ULL

struct load_cfg {
	char **urls;               /* as given, for the report */
	size_t nurls;
	char **paths;              /* request targets (path + query), round robin */
	char *authority;           /* :authority, "host:port" as in the URLs */
	char *host;                /* host part, without brackets */
	char *port;
	const char *sni;           /* TLS server name; NULL: host, or "localhost" for an address */
	const char *cacert;        /* CA file for verification (without --insecure) */
	const char *groups;        /* TLS key exchange groups; NULL: OpenSSL's default */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	unsigned connections;
	unsigned concurrency;      /* requests in flight per connection */
	uint64_t requests;         /* total; 0: unlimited (with --duration) */
	uint64_t duration_ns;      /* 0: none */
	uint64_t linger_ns;        /* --linger: connections held open, idle, after the run */
	unsigned ramp;             /* --ramp: handshakes in progress at most (0: all at once) */
	uint64_t timeout_ns;       /* handshake, idle and no-progress timeout */
	int64_t expect_size;       /* -1: any body length */
	bool insecure;
	bool json;
	bool any_status;           /* 4xx/5xx answers do not fail the run */
	/* extra request fields (-H NAME:VALUE), sent as given: tests use them
	 * to send what a hostile client would */
	char *hdr_name[16], *hdr_value[16];
	unsigned nhdrs;
	const char *method;        /* default GET */
	unsigned migrate_after;    /* move each connection to a new port after N responses */
	uint8_t *body;             /* --data FILE: every request sends it */
	size_t body_len;
	char body_len_s[24];       /* its content-length */
	bool no_content_length;    /* --no-content-length: the body ends with the stream */
	size_t stall_after;        /* --stall-after: send this much of --data, then stall */
	size_t stall_headers;      /* --stall-headers: this much of each request stream, then stall */
	uint64_t stop_reading_after; /* --stop-reading-after: no flow control past this */
	uint64_t rate;             /* --rate: response bytes per second per connection (0: any) */
	/* handshake benchmarks: every connection does its handshake, its K requests,
	 * then closes, and a new one takes its slot */
	bool reconnect;
	unsigned conn_rate;        /* --conn-rate: new connections per second at most (0: any) */
	bool resume;               /* new connections resume the newest session ticket */
	bool early_data;           /* and send their requests in 0-RTT */
};

/* Everything the report prints.  Latencies in ns, one entry per completed request. */
struct load_stats {
	uint64_t started;          /* requests submitted */
	uint64_t completed;        /* whole response received (any status) */
	uint64_t status[6];        /* [1]..[5]: 1xx..5xx final status, [0]: other */
	uint64_t migrations;       /* --migrate-after: connections moved to a new port */
	uint64_t failed;           /* sum of the failed_* below */
	uint64_t failed_reset;     /* stream closed before the end of the response */
	uint64_t failed_conn;      /* in flight when its connection failed */
	uint64_t failed_timeout;   /* in flight when the no-progress watchdog fired */
	uint64_t failed_size;      /* body length differs from --expect-size */
	uint64_t cancelled;        /* in flight when --duration ended or on a signal */
	uint64_t body_bytes;       /* response body bytes received, all requests */
	uint64_t rx_datagrams, rx_bytes, tx_datagrams, tx_bytes; /* UDP payloads */
	uint64_t hs_ok, hs_failed;
	uint64_t conns_failed;     /* connections that ended with an error */
	uint64_t conns_goaway;     /* connections the server drained with GOAWAY */
	uint64_t conns_done;       /* --reconnect: closed by us after their requests */
	uint64_t hs_full, hs_resumed;
	uint64_t early_offered, early_accepted, early_rejected;
	uint64_t tickets;          /* session tickets received (--resume) */
	uint64_t *lat;
	size_t nlat, caplat;
	uint64_t *hs_lat;          /* handshake times, one per completed handshake */
	size_t nhs, caphs;
	/* time to first byte (connection start to the first response field), one
	 * per connection, apart for full and resumed handshakes */
	uint64_t *ttfb_full, *ttfb_resumed;
	size_t nttfb_full, capttfb_full, nttfb_resumed, capttfb_resumed;
	uint64_t errors_logged, errors_suppressed;
	char first_error[512];
};

struct load_conn;

struct load_run {
	struct load_cfg cfg;
	struct load_stats st;
	SSL_CTX *ssl_ctx;
	int epfd;
	struct load_conn **conns;
	unsigned active;           /* connections not closed yet */
	uint64_t inflight;         /* requests in flight, all connections */
	uint64_t next_path;        /* round-robin index into cfg.paths */
	SSL_SESSION *session;      /* --resume: the newest ticket, for the next connections */
	uint8_t tp[256];           /* the server's transport parameters 0-RTT needs, with it */
	size_t tplen;
	uint64_t t0, t_end;
	double cpu0;               /* CPU seconds used before t0 (set-up) */
	bool stopping;             /* no new requests */
	unsigned opened;           /* --ramp: connections started so far */
	uint64_t next_conn;        /* --conn-rate: the next connection starts then */
	uint64_t linger_until;     /* --linger: the idle phase ends then (0: not in it) */
	bool interrupted;
};

static inline uint64_t load_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * LOAD_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* conn.c */
SSL_CTX *load_tls_ctx_new(const struct load_cfg *cfg);
struct load_conn *load_conn_new(struct load_run *run, unsigned id);
void load_conn_on_events(struct load_conn *c, uint32_t events);
void load_conn_on_timer(struct load_conn *c, uint64_t now);
uint64_t load_conn_deadline(const struct load_conn *c);
bool load_conn_recyclable(const struct load_conn *c); /* --reconnect: done, slot free */
void load_conn_finish(struct load_conn *c);   /* close cleanly; in-flight requests count as cancelled */
void load_conn_free(struct load_conn *c);

/* report.c */
void load_err(struct load_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int load_stats_add(uint64_t **v, size_t *n, size_t *cap, uint64_t x);
double load_cpu_seconds(void);
void load_report(const struct load_run *run);
int load_exit_status(const struct load_run *run);

#endif /* QS_LOAD_H */
