/* SPDX-License-Identifier: MIT */
/*
 * The loader's state, one struct that main.c builds and serves from; here
 * so that the binary upgrade (upgrade.c) can hand all of it to the next
 * binary and adopt it there.
 */
#ifndef QS_LOADER_LOADER_H
#define QS_LOADER_LOADER_H

#include <openssl/ssl.h>

#include "common/config.h"
#include "common/docroot.h"
#include "common/shared.h"
#include "loader/bpf.h"
#include "loader/guard.h"
#include "loader/keys.h"
#include "loader/metrics.h"
#include "loader/phpfpm.h"
#include "loader/supervisor.h"
#include "loader/upgrade.h"

struct loader {
	struct qs_config cfg;
	struct qs_bpf bpf;
	struct qs_shared *shared;
	int shared_fd;               /* its memfd: workers map it read-only */
	struct qs_keys keys;         /* session ticket keys */
	struct qs_strike *strike;    /* 0-RTT anti-replay, shared by the workers */
	struct qs_strike *tokens;    /* NEW_TOKEN tokens used, shared: single use */
	struct qs_supervisor sv;
	SSL_CTX *ssl_ctx;
	SSL_CTX *tcp_ssl_ctx;        /* HTTPS over TCP; NULL with --tcp off */
	struct qs_docroot docroot;
	struct qs_phpfpm phpfpm;
	unsigned gen;                /* the generation that takes new connections */
	long long retire_at_ms;      /* when the previous generation drains; 0: none pending */
	struct qs_guard guard;       /* XDP guard, when --xdp-guard is given */
	struct qs_metrics metrics;   /* --metrics endpoint */
	char run_dir[128];
	char pid_file[160];
	int ready_fd;                /* daemon mode: tells the parent we are up */
	struct qs_upgrade up;        /* binary upgrade (SIGUSR2) */
};

#endif
