// SPDX-License-Identifier: MIT
/* quicsteer-load: error log, figures, human and JSON reports, exit status. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "load.h"

#define MAX_ERRORS_SHOWN 20

void load_err(struct load_run *run, const char *fmt, ...)
{
	struct load_stats *st = &run->st;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!st->first_error[0])
		snprintf(st->first_error, sizeof(st->first_error), "%s", msg);
	if (st->errors_logged >= MAX_ERRORS_SHOWN) {
		st->errors_suppressed++;
		return;
	}
	st->errors_logged++;
	fprintf(stderr, "quicsteer-load: %s\n", msg);
}

int load_stats_add(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4096;
		uint64_t *nv = realloc(*v, ncap * sizeof(**v));

		if (!nv)
			return -1;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = x;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct dist {
	double min, mean, p50, p90, p99, max; /* ms */
};

/* Nearest-rank percentiles of v (sorted in place), in milliseconds. */
static struct dist distribution(uint64_t *v, size_t n)
{
	struct dist d = { 0 };
	double sum = 0;

	if (!n)
		return d;
	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < n; i++)
		sum += (double)v[i];
#define RANK(q) ((double)v[(size_t)((q) * (double)(n) + 0.999999) - 1] / 1e6)
	d.min = (double)v[0] / 1e6;
	d.mean = sum / (double)n / 1e6;
	d.p50 = RANK(0.50);
	d.p90 = RANK(0.90);
	d.p99 = RANK(0.99);
	d.max = (double)v[n - 1] / 1e6;
#undef RANK
	return d;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

double load_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

void load_report(const struct load_run *run)
{
	const struct load_cfg *cfg = &run->cfg;
	const struct load_stats *st = &run->st;
	double secs = (double)(run->t_end - run->t0) / 1e9;
	double rps = secs > 0 ? (double)st->completed / secs : 0;
	double mbps = secs > 0 ? (double)st->body_bytes / secs / 1e6 : 0;
	double cpu = load_cpu_seconds() - run->cpu0;
	struct dist lat = distribution(st->lat, st->nlat);
	struct dist hs = distribution(st->hs_lat, st->nhs);
	struct dist tf = distribution(st->ttfb_full, st->nttfb_full);
	struct dist tr = distribution(st->ttfb_resumed, st->nttfb_resumed);
	double hps = secs > 0 ? (double)st->hs_ok / secs : 0;
	int status = load_exit_status(run);

	if (cfg->json) {
		printf("{\"urls\":[");
		for (size_t i = 0; i < cfg->nurls; i++) {
			if (i)
				putchar(',');
			json_str(cfg->urls[i]);
		}
		printf("],\"connections\":%u,\"concurrency\":%u,\"requests_target\":%" PRIu64
		       ",\"duration_target_s\":%.3f,\"expect_size\":%" PRId64 ",",
		       cfg->connections, cfg->concurrency, cfg->requests,
		       (double)cfg->duration_ns / 1e9, cfg->expect_size);
		printf("\"elapsed_s\":%.6f,\"handshakes_ok\":%" PRIu64 ",\"handshakes_failed\":%" PRIu64
		       ",\"connections_failed\":%" PRIu64 ",\"connections_goaway\":%" PRIu64
		       ",\"handshake_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},",
		       secs, st->hs_ok, st->hs_failed, st->conns_failed, st->conns_goaway,
		       hs.p50, hs.p90, hs.p99, hs.max);
		printf("\"handshakes_full\":%" PRIu64 ",\"handshakes_resumed\":%" PRIu64
		       ",\"handshakes_per_s\":%.1f,\"connections_done\":%" PRIu64
		       ",\"tickets\":%" PRIu64 ",\"early_data\":{\"offered\":%" PRIu64
		       ",\"accepted\":%" PRIu64 ",\"rejected\":%" PRIu64 "},",
		       st->hs_full, st->hs_resumed, hps, st->conns_done, st->tickets,
		       st->early_offered, st->early_accepted, st->early_rejected);
		printf("\"ttfb_full_ms\":{\"n\":%zu,\"min\":%.3f,\"p50\":%.3f,\"max\":%.3f},"
		       "\"ttfb_resumed_ms\":{\"n\":%zu,\"min\":%.3f,\"p50\":%.3f,\"max\":%.3f},",
		       st->nttfb_full, tf.min, tf.p50, tf.max, st->nttfb_resumed, tr.min, tr.p50,
		       tr.max);
		printf("\"requests_started\":%" PRIu64 ",\"requests_completed\":%" PRIu64
		       ",\"status_1xx\":%" PRIu64 ",\"status_2xx\":%" PRIu64 ",\"status_3xx\":%" PRIu64
		       ",\"status_4xx\":%" PRIu64 ",\"status_5xx\":%" PRIu64 ",\"status_other\":%" PRIu64
		       ",", st->started, st->completed, st->status[1], st->status[2], st->status[3],
		       st->status[4], st->status[5], st->status[0]);
		printf("\"migrations\":%" PRIu64 ",", st->migrations);
		printf("\"requests_failed\":%" PRIu64 ",\"failed_reset\":%" PRIu64
		       ",\"failed_connection\":%" PRIu64 ",\"failed_timeout\":%" PRIu64
		       ",\"failed_size\":%" PRIu64 ",\"requests_cancelled\":%" PRIu64 ",",
		       st->failed, st->failed_reset, st->failed_conn, st->failed_timeout,
		       st->failed_size, st->cancelled);
		printf("\"body_bytes\":%" PRIu64 ",\"req_per_s\":%.1f,\"mbytes_per_s\":%.3f"
		       ",\"mbits_per_s\":%.3f,", st->body_bytes, rps, mbps, mbps * 8);
		printf("\"latency_ms\":{\"min\":%.3f,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f"
		       ",\"p99\":%.3f,\"max\":%.3f},", lat.min, lat.mean, lat.p50, lat.p90, lat.p99,
		       lat.max);
		printf("\"rx_datagrams\":%" PRIu64 ",\"rx_bytes\":%" PRIu64 ",\"tx_datagrams\":%"
		       PRIu64 ",\"tx_bytes\":%" PRIu64 ",", st->rx_datagrams, st->rx_bytes,
		       st->tx_datagrams, st->tx_bytes);
		printf("\"client_cpu_s\":%.3f,\"errors\":%" PRIu64 ",\"first_error\":",
		       cpu, st->errors_logged + st->errors_suppressed);
		json_str(st->first_error);
		printf(",\"interrupted\":%s,\"ok\":%s}\n", run->interrupted ? "true" : "false",
		       status == 0 ? "true" : "false");
		fflush(stdout);
		return;
	}

	printf("quicsteer-load: %u connection(s) x %u concurrent", cfg->connections,
	       cfg->concurrency);
	if (cfg->requests)
		printf(", %" PRIu64 " requests", cfg->requests);
	if (cfg->duration_ns)
		printf(", at most %.1f s", (double)cfg->duration_ns / 1e9);
	printf(", %s%s\n", cfg->urls[0], cfg->nurls > 1 ? " (and more, round robin)" : "");
	printf("  elapsed     %.3f s (client CPU %.2f s, %.0f%%)\n", secs, cpu,
	       secs > 0 ? 100 * cpu / secs : 0);
	printf("  handshakes  %" PRIu64 " ok, %" PRIu64 " failed (p50 %.2f ms, p99 %.2f ms, "
	       "max %.2f ms)\n", st->hs_ok, st->hs_failed, hs.p50, hs.p99, hs.max);
	if (cfg->reconnect)
		printf("  reconnect   %.1f handshakes/s: %" PRIu64 " full, %" PRIu64 " resumed; "
		       "%" PRIu64 " tickets received; 0-RTT %" PRIu64 " offered, %" PRIu64
		       " accepted, %" PRIu64 " rejected\n", hps, st->hs_full, st->hs_resumed,
		       st->tickets, st->early_offered, st->early_accepted, st->early_rejected);
	if (st->nttfb_full)
		printf("  first byte  full handshake: p50 %.3f ms (min %.3f, max %.3f, %zu)\n",
		       tf.p50, tf.min, tf.max, st->nttfb_full);
	if (st->nttfb_resumed)
		printf("  first byte  resumed%s: p50 %.3f ms (min %.3f, max %.3f, %zu)\n",
		       st->early_accepted ? " (0-RTT)" : "", tr.p50, tr.min, tr.max,
		       st->nttfb_resumed);
	printf("  requests    %" PRIu64 " completed (2xx %" PRIu64 ", 3xx %" PRIu64 ", 4xx %" PRIu64
	       ", 5xx %" PRIu64 "%s), %" PRIu64 " failed, %" PRIu64 " cancelled\n",
	       st->completed, st->status[2], st->status[3], st->status[4], st->status[5],
	       st->status[0] || st->status[1] ? ", other" : "", st->failed, st->cancelled);
	if (st->failed)
		printf("  failed      %" PRIu64 " stream reset, %" PRIu64 " connection error, %" PRIu64
		       " timeout, %" PRIu64 " wrong size\n", st->failed_reset, st->failed_conn,
		       st->failed_timeout, st->failed_size);
	printf("  rate        %.1f req/s\n", rps);
	printf("  latency     p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms (mean %.3f)\n",
	       lat.p50, lat.p90, lat.p99, lat.max, lat.mean);
	printf("  body        %" PRIu64 " bytes: %.2f MB/s, %.1f Mbit/s (1 MB = 10^6 bytes)\n",
	       st->body_bytes, mbps, mbps * 8);
	printf("  udp         %" PRIu64 " datagrams in (%.0f bytes avg), %" PRIu64 " out\n",
	       st->rx_datagrams, st->rx_datagrams ? (double)st->rx_bytes / (double)st->rx_datagrams : 0,
	       st->tx_datagrams);
	if (st->errors_suppressed)
		printf("  errors      %" PRIu64 " more not shown\n", st->errors_suppressed);
	printf("  result      %s\n", status == 0 ? "ok" : "FAILED (exit status 1)");
	fflush(stdout);
}

int load_exit_status(const struct load_run *run)
{
	const struct load_stats *st = &run->st;
	const struct load_cfg *cfg = &run->cfg;
	uint64_t bad_status = st->status[0] + st->status[1] + st->status[4] + st->status[5];

	if (run->interrupted || st->failed || st->hs_failed || st->conns_failed || !st->completed)
		return 1;
	if (!cfg->any_status && bad_status)
		return 1;
	if (cfg->requests && !cfg->duration_ns && st->completed < cfg->requests)
		return 1; /* every connection went away (GOAWAY) before the work was done */
	return 0;
}
