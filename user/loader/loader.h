/* SPDX-License-Identifier: MIT */
/*
 * The loader's state, shared by main.c (start, reload, serve, stop),
 * commands.c (what the control socket and quicsteerctl can ask of it) and
 * upgrade.c (the binary upgrade hands all of it to the next binary).
 */
#ifndef QS_LOADER_LOADER_H
#define QS_LOADER_LOADER_H

#include <stdbool.h>
#include <time.h>

#include <openssl/ssl.h>

#include "common/config.h"
#include "common/docroot.h"
#include "common/shared.h"
#include "loader/bpf.h"
#include "loader/control.h"
#include "loader/guard.h"
#include "loader/keys.h"
#include "loader/metrics.h"
#include "loader/notify.h"
#include "loader/phpfpm.h"
#include "loader/pool.h"
#include "loader/supervisor.h"
#include "loader/upgrade.h"

/* A reload in progress, and what the last ones did (status, metrics). */
struct qs_reload {
	bool pending;                /* gen starts; the steering switches once it serves */
	unsigned gen;
	long long deadline_ms;       /* not serving by then: undone */
	SSL_CTX *prev_ctx, *prev_tcp_ctx;  /* what the running generation took */
	struct qs_docroot prev_docroot;
	unsigned ok, failed;         /* reloads done, and refused or failed */
	bool last_ok;
	time_t last_at;              /* unix time of the last outcome, 0: none yet */
	char last[512];              /* its answer: "ok: ...", "refused: ...", "failed: ..." */
};

struct qs_rate;

struct loader {
	struct qs_config cfg;
	struct qs_bpf bpf;
	struct qs_shared *shared;
	int shared_fd;               /* its memfd: workers map it read-only */
	struct qs_keys keys;         /* session ticket keys */
	struct qs_strike *strike;    /* 0-RTT anti-replay, shared by the workers */
	struct qs_strike *tokens;    /* NEW_TOKEN tokens used, shared: single use */
	struct qs_rate *rate;        /* --rate-limit: requests per client, shared */
	struct qs_supervisor sv;
	SSL_CTX *ssl_ctx;
	SSL_CTX *tcp_ssl_ctx;        /* HTTPS over TCP; NULL with --tcp off */
	struct qs_docroot docroot;
	struct qs_phpfpm phpfpm;
	struct qs_pool pool;         /* php-fpm's status page, when there is one to ask */
	unsigned gen;                /* the generation that takes new connections */
	long long retire_at_ms;      /* when the previous generation drains; 0: none pending */
	struct qs_reload rl;
	struct qs_guard guard;       /* XDP guard, when --xdp-guard is given */
	struct qs_metrics metrics;   /* --metrics endpoint */
	struct qs_control ctl;       /* RUN_DIR/control, for quicsteerctl */
	struct qs_notify notify;     /* systemd's NOTIFY_SOCKET */
	bool ready;                  /* the first generation served: READY=1 sent */
	long long ready_deadline_ms; /* ... or the start fails then */
	long long started_ms;        /* monotonic, for the uptime */
	time_t started_at;
	char run_dir[128];
	char pid_file[160];
	int ready_fd;                /* daemon mode: tells the parent we are up */
	struct qs_upgrade up;        /* binary upgrade (SIGUSR2, quicsteerctl upgrade) */
};

/*
 * SIGHUP and quicsteerctl reload: re-read the ticket keys, then start a
 * new generation; its outcome goes to ld->rl (at once when refused, else
 * once the generation serves or fails to).
 */
void qs_loader_reload(struct loader *ld);
/*
 * SIGUSR1 and quicsteerctl reopen-logs: the loader's log file, and every
 * worker's (SIGUSR1 to each).  The workers told, or -errno when the
 * loader's own file could not be opened again (it logs on to the old one).
 */
int qs_loader_reopen_logs(struct loader *ld);

/* The steering program's counters (struct qs_steer_stats), summed over CPUs. */
#define QS_STEER_COUNTERS 6
const char *qs_steer_counter_name(size_t i);
/* sums[i] for counter i; 0 or -errno. */
int qs_loader_steer_totals(const struct loader *ld, unsigned long long sums[QS_STEER_COUNTERS]);

/* The control socket's commands (commands.c): a qs_control_command_fn. */
int qs_loader_command(void *arg, const char *line, struct qs_mbuf *out);
/* One line for systemd's STATUS=: generation, workers serving, connections. */
void qs_loader_status_line(const struct loader *ld, char *buf, size_t len);

#endif
