/* SPDX-License-Identifier: MIT */
/*
 * quicsteerd configuration: defaults, then the config file (INI, parsed
 * with inih), then command-line flags, each overriding the one before.
 */
#ifndef QS_COMMON_CONFIG_H
#define QS_COMMON_CONFIG_H

#include <stdbool.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "quicsteer/cid.h"
#include "common/tickets.h"

#define QS_DEFAULT_CONFIG   "/etc/quicsteer/quicsteer.conf"
#define QS_DEFAULT_INSTANCE "default"
#define QS_DEFAULT_LISTEN   "[::]:4433"
#define QS_DEFAULT_USER     "www-data"
#define QS_DEFAULT_PHP_USER "quicsteer-php"
#define QS_RUN_ROOT         "/run/quicsteer"
#define QS_LOG_ROOT         "/var/log/quicsteer"
#define QS_INSTANCE_MAX     32
#define QS_DEFAULT_CERT     "/etc/quicsteer/server.crt"
#define QS_DEFAULT_KEY      "/etc/quicsteer/server.key"
#define QS_DEFAULT_DOCROOT  "/var/www/html"
#define QS_GUARD_MAX_IFACES 8

struct qs_listen {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char text[80];              /* normalized ADDR:PORT, for messages */
};

enum qs_steering {
	QS_STEER_OFF,        /* plain SO_REUSEPORT hashing */
	QS_STEER_ON,         /* the CID steering program */
	QS_STEER_BASELINE,   /* an empty program: benchmark reference */
};

enum qs_fastcgi {
	QS_FASTCGI_OFF,      /* static files only */
	QS_FASTCGI_MANAGED,  /* the loader runs a php-fpm pool */
	QS_FASTCGI_UNIX,     /* an existing pool on a unix socket */
	QS_FASTCGI_TCP,      /* an existing pool on host:port */
};

enum qs_cc {
	QS_CC_BBR,           /* paces at its bandwidth estimate */
	QS_CC_CUBIC,         /* the default (quic.c says why) */
	QS_CC_RENO,
};

enum qs_ticket_source {
	QS_TICKETS_AUTO,     /* random keys, rotated by the loader */
	QS_TICKETS_FILE,     /* nginx-format 80-byte key files */
	QS_TICKETS_FLEET,    /* per-epoch keys derived from a fleet secret (HKDF) */
};

#define QS_TICKET_PATHS_MAX 8

enum qs_retry {
	QS_RETRY_AUTO,       /* Retry when the handshake rate exceeds retry_threshold */
	QS_RETRY_ALWAYS,
	QS_RETRY_NEVER,
};

struct qs_config {
	char config_path[256];
	bool config_explicit;       /* --config given: a missing file is an error */
	struct qs_listen listen[QS_MAX_LISTENERS];
	unsigned n_listen;
	unsigned workers;           /* 0 = number of online CPUs */
	char instance[QS_INSTANCE_MAX + 1];
	enum qs_steering steering;
	bool foreground;
	char user[64];
	bool seccomp;               /* workers under their system call allow-list */
	unsigned char server_id[QS_CID_SID_MAX];
	unsigned server_id_len;
	char log_file[256];         /* "" = stderr in foreground, default file otherwise */
	int log_level;              /* enum qs_log_level */
	bool log_json;              /* --log-format json: one JSON object per line */
	char access_log[256];       /* absolute path, "" = off (user/worker/http/accesslog.c) */
	unsigned rcvbuf;            /* socket receive buffer, bytes; 0 = kernel default */
	char metrics[64];           /* metrics/health endpoint ADDR:PORT, "" = off */
	/* command line only: --check-config, and a binary upgrade's (loader/upgrade.h) */
	bool check_config;          /* check everything, print the upgrade protocol, exit */
	unsigned upgrade_state;     /* the fd of the state to adopt; 0 = a normal start */
	bool upgrade_failed;        /* ... handed back: the new binary could not adopt it */
	/* HTTPS over TCP */
	bool tcp;                   /* TCP listeners on the --listen addresses too */
	bool alt_svc;               /* alt-svc: h3 on TCP responses */
	unsigned max_tcp_conns;     /* per worker */
	unsigned rate_per_s;        /* --rate-limit: PHP requests per client a second; 0: off */
	unsigned rate_burst;        /* ... and at once */
	unsigned keepalive_timeout_ms; /* TCP connection idle between requests */
	/* HTTP/3 */
	char cert[256];
	char key[256];
	char docroot[256];
	/* responses: compression (http/encode.c), static files' cache headers */
	bool compress;              /* compress dynamic and static bodies */
	char compress_types[512];   /* comma list: "type/" + "*", "+json", exact */
	unsigned compress_min_size; /* bytes: a smaller known length is sent as it is */
	unsigned compress_br_level, compress_zstd_level, compress_gzip_level; /* 0: off */
	bool precompressed;         /* name.br, name.zst, name.gz next to static files */
	char static_cache_control[256];  /* "" = none */
	char static_cache_fingerprinted[256]; /* names like app.3f2a1c9e.js; "" = as others */
	char error_pages[256];      /* DIR of NNN.html; "": the built-in pages */
	char accel_prefix[128];     /* --accel-redirect: the internal location, "/x/"; "": off */
	char accel_root[256];       /* ... and its directory */
	enum qs_retry retry;
	unsigned retry_threshold;   /* new handshakes per second per worker (auto) */
	unsigned retry_unvalidated; /* percent of max_conns: half-open beyond it get Retry */
	unsigned handshake_timeout_ms; /* not established by then: dropped */
	unsigned idle_timeout_ms;
	unsigned max_streams;       /* concurrent request streams per connection */
	unsigned max_conns;         /* QUIC connections per worker; more are refused */
	unsigned files_per_conn;    /* files one connection's responses hold open at once */
	uint64_t max_response_memory; /* response bytes a worker holds for clients: 503 above */
	unsigned max_header_bytes;  /* request field section (names + values) */
	unsigned drain_timeout_ms;  /* after GOAWAY, before closing what is left */
	enum qs_cc cc;
	bool pacing;                /* one send quantum per write (off: for measurement) */
	char qlog_dir[256];         /* debugging: a qlog file per QUIC connection; "" = off */
	/* PHP */
	enum qs_fastcgi fastcgi;
	char fastcgi_addr[108];     /* unix path or host:port */
	unsigned php_max_children;  /* managed pool size; 0 = 4 per CPU */
	char php_user[64];          /* the managed pool's user: never the workers' */
	char php_status_path[128];  /* an existing pool's pm.status_path; "": not asked */
	unsigned fastcgi_timeout_ms; /* no byte from php-fpm this long: 504 */
	bool fastcgi_keepalive;     /* FCGI_KEEP_CONN: one connection, many requests */
	char index[128];            /* front controller ("index.php"), "" = none */
	uint64_t max_body;          /* request body limit for PHP: 413 above */
	bool php_request_buffering; /* the whole body before php-fpm sees the request */
	uint64_t body_buffer_size;  /* ... in memory up to this, then in a file */
	char body_temp_dir[256];    /* ... here (O_TMPFILE) */
	uint64_t max_body_temp;     /* ... all of a worker's, at most: 503 above */
	unsigned php_max_per_conn;  /* children one client connection may hold; 0: half the share */
	unsigned client_header_timeout_ms; /* header block not complete this long: reset */
	unsigned client_body_timeout_ms; /* no body byte this long: 408 */
	unsigned send_timeout_ms;   /* the client took no response byte this long: reset */
	/* session tickets and 0-RTT */
	enum qs_ticket_source ticket_source;
	char ticket_paths[QS_TICKET_PATHS_MAX][256]; /* file: the key files; fleet: [0] */
	unsigned n_ticket_paths;
	unsigned ticket_rotate_s;   /* auto, fleet: a new encrypt key this often */
	unsigned ticket_lifetime_s; /* ticket lifetime; decrypt keys live this long */
	bool early_data;            /* accept 0-RTT */
	bool early_unsafe_reject;   /* unsafe methods in 0-RTT: 425 (else wait) */
	/* XDP guard (user/loader/guard.c): off when no interface is given */
	char xdp_guard[QS_GUARD_MAX_IFACES][16];   /* interface names (IF_NAMESIZE) */
	unsigned n_xdp_guard;
	unsigned guard_rate, guard_burst;          /* Initials per second and source */
	unsigned guard_vn_rate, guard_vn_burst;    /* unknown-version long headers */
};


/*
 * Every option's default, applied through the option's own setter (the
 * table in user/loader/config.c).  Returns 0, or -EINVAL after printing
 * which row of that table is wrong.
 */
int qs_config_defaults(struct qs_config *cfg);

/*
 * Parse argv into cfg (reading the config file it names, or the default
 * one).  Returns 0, 1 when --help or --version was printed (exit 0), or
 * -EINVAL after printing what is wrong and how to fix it.
 */
int qs_config_from_args(struct qs_config *cfg, int argc, char **argv);

/*
 * Check and apply one option of the config file: name is its key (or its
 * flag without "--").  Returns 0, -ENOENT for an unknown option or -EINVAL;
 * err then says what is wrong.
 */
int qs_config_set(struct qs_config *cfg, const char *name, const char *value,
		  char *err, size_t errlen);

/* Parse "ADDR:PORT", "[V6]:PORT" or "*:PORT" into l. */
int qs_parse_listen(const char *text, struct qs_listen *l, char *err, size_t errlen);

/* --help, --help-markdown (the option table of docs/configuration.md),
 * --help-man (quicsteerd.8) and --help-config (a commented config file).
 * Return 0, or -errno when the output could not be written. */
int qs_usage(FILE *out);
int qs_options_markdown(FILE *out);
int qs_options_man(FILE *out);
int qs_options_config(FILE *out);

#endif
