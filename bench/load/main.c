// SPDX-License-Identifier: MIT
/*
 * quicsteer-load: HTTP/3 load generator.  Command line, the event loop, the end.
 *
 *   quicsteer-load [options] https://HOST:PORT/path [more URLs on the same server]
 *
 * C connections, each from its own UDP socket, keep up to K GETs in flight
 * (round robin over the URLs) until N requests are done or the duration ends.
 * With --reconnect each connection does its handshake and K requests, then
 * closes and a new one takes its slot: C loops of handshakes, full or resumed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "load.h"

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: quicsteer-load [OPTIONS] https://HOST:PORT/PATH [URL...]\n"
"\n"
"HTTP/3 load generator: C QUIC connections (each from its own UDP source port)\n"
"keep up to K GET requests in flight each, round robin over the URLs (all on\n"
"the same server), until N requests are done or the duration has passed.\n"
"Response bodies are counted and discarded.\n"
"\n"
"  -c, --connections C    QUIC connections (default 1)\n"
"  -n, --requests N       requests in total (default 100, or unlimited with -d)\n"
"  -m, --concurrency K    requests in flight per connection (default 1)\n"
"  -d, --duration SEC     stop after SEC seconds; requests then in flight are\n"
"                         cancelled (not failed)\n"
"  -k, --insecure         do not verify the server certificate (self-signed tests)\n"
"      --cacert FILE      verify against the CA certificate(s) in FILE\n"
"      --sni NAME         TLS server name (default: HOST, or \"localhost\" for an address)\n"
"      --groups LIST      TLS key exchange groups, in OpenSSL's syntax (default:\n"
"                         OpenSSL's, X25519MLKEM768 and X25519 key shares in 3.5)\n"
"  -t, --timeout SEC      handshake and idle timeout, and the longest wait for\n"
"                         response data while requests are in flight (default 10)\n"
"      --expect-size BYTES  a response whose body has another length fails\n"
"                         (suffix K, M, G: powers of 1024)\n"
"      --any-status       4xx/5xx answers do not fail the run\n"
"      --json             print one JSON object with all figures on stdout\n"
"  -H, --header NAME:VALUE  send this request field too (repeatable, up to 16;\n"
"                         VALUE \"@N\" is N bytes of 'a'), as given: no checks\n"
"  -X, --method METHOD    request method (default GET, POST with --data)\n"
"      --migrate-after N  move each connection to a new source port (a new\n"
"                         socket; ngtcp2 validates the path) after N responses\n"
"      --data FILE        send FILE as every request's body, with its\n"
"                         content-length (set content-type with -H)\n"
"      --no-content-length  send --data without a content-length field (the\n"
"                         body ends with the stream)\n"
"      --stop-reading-after BYTES  stop granting flow control once a response\n"
"                         brought BYTES: a client that stops reading\n"
"                         (hostile-client tests; end the run with -d)\n"
"      --rate BYTES       at most BYTES of response data per second on each\n"
"                         connection (its flow-control credit paced): downloads\n"
"                         that last without a slow network (at least 1K)\n"
"      --stall-after BYTES  send only the first BYTES of --data (its whole\n"
"                         length announced) and then nothing: a stalled upload\n"
"                         (hostile-client tests; end the run with -d)\n"
"      --stall-headers BYTES  send only the first BYTES of each request stream\n"
"                         (its HEADERS frame cut short) and then nothing: a\n"
"                         header block that never ends (end the run with -d)\n"
"      --ramp N           at most N handshakes in progress: the other connections\n"
"                         start as those complete (many connections without\n"
"                         queueing their handshakes for seconds); each\n"
"                         connection sends K requests, no more\n"
"      --linger SEC       once the requests are done, keep the connections open\n"
"                         and idle for SEC seconds (memory benchmarks: a line\n"
"                         on stderr says when the idle phase begins)\n"
"      --reconnect        handshake benchmark: every connection sends K requests,\n"
"                         closes once they are answered, and a new connection\n"
"                         (new source port) takes its place\n"
"      --conn-rate N      with --reconnect: start at most N connections per\n"
"                         second, evenly spaced (C bounds those open at once):\n"
"                         handshake times at a steady rate, not at saturation;\n"
"                         a connection that fails leaves its slot to the next\n"
"      --resume           with --reconnect: resume TLS sessions; the first\n"
"                         connection runs alone and does a full handshake, every\n"
"                         later one resumes the newest session ticket received\n"
"      --early-data       with --resume: send the requests in 0-RTT (when the\n"
"                         ticket allows it); first-byte times are reported apart\n"
"                         for full and resumed handshakes\n"
"  -h, --help\n"
"\n"
"Exit status 0 when every request completed with a 2xx/3xx status (and the\n"
"expected size); 1 when any request failed, any handshake or connection\n"
"failed, nothing completed, or on a signal; 2 on a usage error.\n"
"Throughput: 1 MB = 10^6 bytes; latency from submitting a request to the end\n"
"of its response; handshake from the start of a connection (before its Initial)\n"
"to the handshake's completion; first byte (ttfb) from the start of a connection (before its\n"
"Initial) to the first response field on it.\n");
}

static int parse_seconds(const char *s, uint64_t *ns)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 1e6)
		return -1;
	*ns = (uint64_t)(v * 1e9);
	return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end || v > (max >> shift))
		return -1;
	*out = v << shift;
	return 0;
}

/* https://HOST[:PORT][/path][?query][#fragment] -> authority, host, port, path. */
static int parse_url(const char *url, char **authority, char **host, char **port, char **path)
{
	const char *p, *a, *end, *h, *he, *colon = NULL;

	if (strncmp(url, "https://", 8) != 0)
		return -1;
	a = url + 8;
	end = a + strcspn(a, "/?#");
	if (end == a)
		return -1;
	if (*a == '[') {
		h = a + 1;
		he = memchr(h, ']', (size_t)(end - h));
		if (!he)
			return -1;
		if (he + 1 < end) {
			if (he[1] != ':')
				return -1;
			colon = he + 1;
		}
	} else {
		h = a;
		colon = memchr(a, ':', (size_t)(end - a));
		he = colon ? colon : end;
	}
	if (he == h || (colon && colon + 1 == end))
		return -1;
	*authority = strndup(a, (size_t)(end - a));
	*host = strndup(h, (size_t)(he - h));
	*port = colon ? strndup(colon + 1, (size_t)(end - colon - 1)) : strdup("443");
	p = end;
	if (*p == '#' || !*p) {
		*path = strdup("/");
	} else if (*p == '?') {
		*path = malloc(strcspn(p, "#") + 2);
		if (*path)
			sprintf(*path, "/%.*s", (int)strcspn(p, "#"), p);
	} else {
		*path = strndup(p, strcspn(p, "#"));
	}
	return *authority && *host && *port && *path ? 0 : -1;
}

static int parse_args(int argc, char **argv, struct load_cfg *cfg)
{
	enum { OPT_CACERT = 256, OPT_SNI, OPT_EXPECT, OPT_ANY, OPT_JSON, OPT_RECONNECT,
	       OPT_RESUME, OPT_EARLY, OPT_GROUPS, OPT_DATA, OPT_MIGRATE, OPT_NO_CL,
	       OPT_STALL, OPT_STOP_READING, OPT_STALL_HEADERS, OPT_LINGER, OPT_RAMP,
	       OPT_RATE, OPT_CONN_RATE };
	static const struct option opts[] = {
		{ "connections", required_argument, NULL, 'c' },
		{ "requests", required_argument, NULL, 'n' },
		{ "concurrency", required_argument, NULL, 'm' },
		{ "duration", required_argument, NULL, 'd' },
		{ "insecure", no_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 't' },
		{ "cacert", required_argument, NULL, OPT_CACERT },
		{ "sni", required_argument, NULL, OPT_SNI },
		{ "expect-size", required_argument, NULL, OPT_EXPECT },
		{ "any-status", no_argument, NULL, OPT_ANY },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "header", required_argument, NULL, 'H' },
		{ "method", required_argument, NULL, 'X' },
		{ "data", required_argument, NULL, OPT_DATA },
		{ "no-content-length", no_argument, NULL, OPT_NO_CL },
		{ "stall-after", required_argument, NULL, OPT_STALL },
		{ "stall-headers", required_argument, NULL, OPT_STALL_HEADERS },
		{ "linger", required_argument, NULL, OPT_LINGER },
		{ "ramp", required_argument, NULL, OPT_RAMP },
		{ "stop-reading-after", required_argument, NULL, OPT_STOP_READING },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "conn-rate", required_argument, NULL, OPT_CONN_RATE },
		{ "migrate-after", required_argument, NULL, OPT_MIGRATE },
		{ "groups", required_argument, NULL, OPT_GROUPS },
		{ "reconnect", no_argument, NULL, OPT_RECONNECT },
		{ "resume", no_argument, NULL, OPT_RESUME },
		{ "early-data", no_argument, NULL, OPT_EARLY },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t v;
	bool have_requests = false;
	int opt;

	cfg->connections = 1;
	cfg->concurrency = 1;
	cfg->timeout_ns = 10 * LOAD_NS_PER_S;
	cfg->expect_size = -1;
	while ((opt = getopt_long(argc, argv, "c:n:m:d:kt:hH:X:", opts, NULL)) != -1) {
		switch (opt) {
		case 'H': {
			char *colon = strchr(optarg, ':');

			if (!colon || cfg->nhdrs == 16)
				goto bad;
			*colon = '\0';
			cfg->hdr_name[cfg->nhdrs] = optarg;
			/* "@N": N bytes of 'a' (a huge header without a huge command line) */
			if (colon[1] == '@' && strtoul(colon + 2, NULL, 10) > 0) {
				size_t n = strtoul(colon + 2, NULL, 10);
				char *v = malloc(n + 1);

				if (!v)
					goto bad;
				memset(v, 'a', n);
				v[n] = '\0';
				cfg->hdr_value[cfg->nhdrs++] = v;
			} else {
				cfg->hdr_value[cfg->nhdrs++] = colon + 1;
			}
			break;
		}
		case 'X':
			cfg->method = optarg;
			break;
		case OPT_MIGRATE:
			if (parse_u64(optarg, UINT32_MAX, &v) || !v)
				goto bad;
			cfg->migrate_after = (unsigned)v;
			break;
		case OPT_NO_CL:
			cfg->no_content_length = true;
			break;
		case OPT_STALL:
			if (parse_u64(optarg, UINT32_MAX, &v))
				goto bad;
			cfg->stall_after = (size_t)v;
			break;
		case OPT_RAMP:
			if (parse_u64(optarg, UINT32_MAX, &v) || v == 0)
				goto bad;
			cfg->ramp = (unsigned)v;
			break;
		case OPT_LINGER:
			if (parse_seconds(optarg, &cfg->linger_ns) || !cfg->linger_ns)
				goto bad;
			break;
		case OPT_STALL_HEADERS:
			if (parse_u64(optarg, UINT32_MAX, &v) || v == 0)
				goto bad;
			cfg->stall_headers = (size_t)v;
			break;
		case OPT_STOP_READING:
			if (parse_u64(optarg, UINT32_MAX, &v))
				goto bad;
			cfg->stop_reading_after = v;
			break;
		case OPT_RATE:
			if (parse_u64(optarg, UINT32_MAX, &v) || v < 1024)
				goto bad;
			cfg->rate = v;
			break;
		case OPT_CONN_RATE:
			if (parse_u64(optarg, 100000, &v) || !v)
				goto bad;
			cfg->conn_rate = (unsigned)v;
			break;
		case OPT_DATA: {
			FILE *f = fopen(optarg, "rb");
			long n;

			if (!f) {
				fprintf(stderr, "quicsteer-load: --data %s: %s\n", optarg,
					strerror(errno));
				return -1;
			}
			if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) ||
			    !(cfg->body = malloc((size_t)n + 1)) ||
			    fread(cfg->body, 1, (size_t)n, f) != (size_t)n) {
				fprintf(stderr, "quicsteer-load: --data %s: cannot read it\n", optarg);
				fclose(f);
				return -1;
			}
			fclose(f);
			cfg->body_len = (size_t)n;
			snprintf(cfg->body_len_s, sizeof(cfg->body_len_s), "%zu", cfg->body_len);
			if (!cfg->method)
				cfg->method = "POST";
			break;
		}
		case 'c':
			if (parse_u64(optarg, 10000, &v) || !v)
				goto bad;
			cfg->connections = (unsigned)v;
			break;
		case 'n':
			if (parse_u64(optarg, UINT64_MAX >> 1, &v) || !v)
				goto bad;
			cfg->requests = v;
			have_requests = true;
			break;
		case 'm':
			if (parse_u64(optarg, 10000, &v) || !v)
				goto bad;
			cfg->concurrency = (unsigned)v;
			break;
		case 'd':
			if (parse_seconds(optarg, &cfg->duration_ns) || !cfg->duration_ns)
				goto bad;
			break;
		case 't':
			if (parse_seconds(optarg, &cfg->timeout_ns) || cfg->timeout_ns < LOAD_NS_PER_S / 10)
				goto bad;
			break;
		case 'k':
			cfg->insecure = true;
			break;
		case OPT_CACERT:
			cfg->cacert = optarg;
			break;
		case OPT_SNI:
			cfg->sni = optarg;
			break;
		case OPT_EXPECT:
			if (parse_u64(optarg, INT64_MAX, &v))
				goto bad;
			cfg->expect_size = (int64_t)v;
			break;
		case OPT_ANY:
			cfg->any_status = true;
			break;
		case OPT_JSON:
			cfg->json = true;
			break;
		case OPT_GROUPS:
			cfg->groups = optarg;
			break;
		case OPT_RECONNECT:
			cfg->reconnect = true;
			break;
		case OPT_RESUME:
			cfg->resume = true;
			break;
		case OPT_EARLY:
			cfg->early_data = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (!have_requests && !cfg->duration_ns)
		cfg->requests = 100;
	if ((cfg->resume && !cfg->reconnect) || (cfg->early_data && !cfg->resume) ||
	    (cfg->conn_rate && !cfg->reconnect)) {
		fprintf(stderr, "quicsteer-load: --resume and --conn-rate need --reconnect, "
			"--early-data needs --resume\n");
		return -1;
	}
	if (optind >= argc) {
		fprintf(stderr, "quicsteer-load: no URL given\n");
		usage(stderr);
		return -1;
	}
	cfg->urls = argv + optind;
	cfg->nurls = (size_t)(argc - optind);
	cfg->paths = calloc(cfg->nurls, sizeof(*cfg->paths));
	if (!cfg->paths)
		return -1;
	for (size_t i = 0; i < cfg->nurls; i++) {
		char *auth = NULL, *host = NULL, *port = NULL;

		if (parse_url(cfg->urls[i], &auth, &host, &port, &cfg->paths[i]) != 0) {
			fprintf(stderr, "quicsteer-load: cannot parse URL '%s' (expected "
				"https://HOST[:PORT]/PATH)\n", cfg->urls[i]);
			return -1;
		}
		if (i == 0) {
			cfg->authority = auth;
			cfg->host = host;
			cfg->port = port;
			continue;
		}
		bool same = strcmp(auth, cfg->authority) == 0;

		free(auth);
		free(host);
		free(port);
		if (!same) {
			fprintf(stderr, "quicsteer-load: URL '%s' names another server than '%s'; "
				"all URLs must share HOST:PORT\n", cfg->urls[i], cfg->authority);
			return -1;
		}
	}
	return 0;
bad:
	fprintf(stderr, "quicsteer-load: invalid value '%s' (see --help)\n", optarg);
	return -1;
}

static int resolve(struct load_cfg *cfg)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *res;
	int rv = getaddrinfo(cfg->host, cfg->port, &hints, &res);

	if (rv != 0) {
		fprintf(stderr, "quicsteer-load: cannot resolve %s port %s: %s\n", cfg->host,
			cfg->port, gai_strerror(rv));
		return -1;
	}
	memcpy(&cfg->addr, res->ai_addr, res->ai_addrlen);
	cfg->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* --reconnect: new connections in the slots of those done.  With --resume the other
 * slots wait for the first connection's ticket (or its end), so that all but one
 * handshake resume. */
static int refill(struct load_run *run)
{
	const struct load_cfg *cfg = &run->cfg;
	bool may_start = !cfg->resume || run->session || load_conn_recyclable(run->conns[0]);

	/* --ramp: the next connections, while few enough handshakes are in progress */
	while (cfg->ramp && !cfg->reconnect && !run->stopping && run->opened < cfg->connections &&
	       run->opened - run->st.hs_ok - run->st.hs_failed < cfg->ramp) {
		run->conns[run->opened] = load_conn_new(run, run->opened);
		if (!run->conns[run->opened])
			return -1;
		run->opened++;
	}
	if (!cfg->reconnect || run->stopping)
		return 0;
	for (unsigned i = 0; i < cfg->connections; i++) {
		struct load_conn *c = run->conns[i];

		if (c ? !load_conn_recyclable(c) : !may_start)
			continue;
		if (cfg->requests && run->st.started >= cfg->requests)
			return 0; /* no request left for a new connection */
		if (cfg->duration_ns && load_now() - run->t0 >= cfg->duration_ns)
			return 0;
		if (cfg->conn_rate) {
			uint64_t now = load_now();

			if (now < run->next_conn)
				return 0;
			/* evenly spaced: a late start does not bring a burst after it */
			run->next_conn += LOAD_NS_PER_S / cfg->conn_rate;
			if (run->next_conn < now)
				run->next_conn = now;
		}
		load_conn_free(c);
		run->conns[i] = load_conn_new(run, i);
		if (!run->conns[i]) {
			fprintf(stderr, "quicsteer-load: out of memory\n");
			return -1;
		}
	}
	return 0;
}

/* True when the run is over: all requests done, time up, or no connection left. */
static bool run_done(struct load_run *run, uint64_t now)
{
	const struct load_cfg *cfg = &run->cfg;
	/* --conn-rate: between two connections none may be open */
	bool more = cfg->conn_rate && !run->linger_until &&
		    (!cfg->duration_ns || now - run->t0 < cfg->duration_ns) &&
		    (!cfg->requests || run->st.started < cfg->requests);

	if (run->active == 0 && !more)
		return true;
	if (run->linger_until)
		return now >= run->linger_until;
	if (cfg->ramp && (run->opened < cfg->connections ||
			  run->st.hs_ok + run->st.hs_failed < run->opened))
		return false;	/* every connection has its turn */
	if (cfg->duration_ns && now - run->t0 >= cfg->duration_ns)
		return true;
	return cfg->requests && run->st.started >= cfg->requests && run->inflight == 0;
}

static int run_loop(struct load_run *run, const sigset_t *waitmask)
{
	struct epoll_event evs[64];

	for (;;) {
		uint64_t now = load_now(), next = UINT64_MAX;
		struct timespec ts;
		int n;

		if (got_signal) {
			run->interrupted = true;
			load_err(run, "interrupted by signal %d", (int)got_signal);
			return 0;
		}
		if (refill(run) != 0)
			return -1;
		if (run_done(run, now))
			return 0;
		for (unsigned i = 0; i < run->cfg.connections; i++) {
			struct load_conn *c = run->conns[i];
			uint64_t d = load_conn_deadline(c);

			if (d <= now) {
				load_conn_on_timer(c, now);
				d = load_conn_deadline(c);
			}
			if (d < next)
				next = d;
		}
		if (run->cfg.conn_rate && run->next_conn > now && run->next_conn < next)
			next = run->next_conn;
		if (run->linger_until && run->linger_until < next)
			next = run->linger_until;
		else if (!run->linger_until && run->cfg.duration_ns &&
			 run->t0 + run->cfg.duration_ns < next)
			next = run->t0 + run->cfg.duration_ns;
		if (refill(run) != 0)
			return -1;
		for (unsigned i = 0; i < run->cfg.connections; i++) {
			uint64_t d = load_conn_deadline(run->conns[i]);

			if (d < next)
				next = d; /* a connection just started */
		}
		if (run_done(run, now))
			return 0;
		now = load_now();
		next = next > now ? next - now : 0;
		if (next > 3600 * LOAD_NS_PER_S)
			next = 3600 * LOAD_NS_PER_S;
		ts.tv_sec = (time_t)(next / LOAD_NS_PER_S);
		ts.tv_nsec = (long)(next % LOAD_NS_PER_S);
		n = epoll_pwait2(run->epfd, evs, 64, &ts, waitmask);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "quicsteer-load: epoll_pwait2: %s\n", strerror(errno));
			return -1;
		}
		for (int i = 0; i < n; i++)
			load_conn_on_events(evs[i].data.ptr, evs[i].events);
	}
}

static void run_free(struct load_run *run)
{
	struct load_cfg *cfg = &run->cfg;

	for (unsigned i = 0; run->conns && i < cfg->connections; i++)
		load_conn_free(run->conns[i]);
	free(run->conns);
	SSL_CTX_free(run->ssl_ctx);
	if (run->epfd >= 0)
		close(run->epfd);
	for (size_t i = 0; cfg->paths && i < cfg->nurls; i++)
		free(cfg->paths[i]);
	free(cfg->paths);
	free(cfg->authority);
	free(cfg->host);
	free(cfg->port);
	free(run->st.lat);
	free(run->st.hs_lat);
	free(run->st.ttfb_full);
	free(run->st.ttfb_resumed);
	SSL_SESSION_free(run->session);
}

int main(int argc, char **argv)
{
	struct load_run run = { .epfd = -1 };
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block, waitmask;
	int status = 2;

	if (parse_args(argc, argv, &run.cfg) != 0 || resolve(&run.cfg) != 0)
		goto out;
	if (ngtcp2_crypto_ossl_init() != 0) {
		fprintf(stderr, "quicsteer-load: ngtcp2_crypto_ossl_init failed\n");
		goto out;
	}
	run.ssl_ctx = load_tls_ctx_new(&run.cfg);
	if (!run.ssl_ctx)
		goto out;
	run.epfd = epoll_create1(EPOLL_CLOEXEC);
	run.conns = calloc(run.cfg.connections, sizeof(*run.conns));
	if (run.epfd < 0 || !run.conns) {
		fprintf(stderr, "quicsteer-load: %s\n", strerror(errno));
		goto out;
	}

	/* Signals are only delivered inside epoll_pwait2: no race with the loop's checks. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGHUP);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	run.cpu0 = load_cpu_seconds();
	run.t0 = load_now();
	for (unsigned i = 0; i < run.cfg.connections; i++) {
		if (i > 0 && run.cfg.resume)
			break; /* the others start once a ticket is there (refill) */
		if (run.cfg.ramp && !run.cfg.reconnect && i >= run.cfg.ramp)
			break; /* the others start as handshakes complete (refill) */
		if (i > 0 && run.cfg.conn_rate) {
			run.next_conn = run.t0 + LOAD_NS_PER_S / run.cfg.conn_rate;
			break; /* the others start on schedule (refill) */
		}
		run.opened = i + 1;
		run.conns[i] = load_conn_new(&run, i);
		if (!run.conns[i]) {
			fprintf(stderr, "quicsteer-load: out of memory\n");
			goto out;
		}
	}
	if (run_loop(&run, &waitmask) != 0)
		run.interrupted = true; /* the loop broke: never report success */
	run.t_end = load_now();
	if (run.cfg.duration_ns && run.t_end - run.t0 > run.cfg.duration_ns)
		run.t_end = run.t0 + run.cfg.duration_ns; /* the loop woke a little late */
	run.stopping = true;
	if (run.cfg.linger_ns && !run.interrupted) {
		fprintf(stderr, "quicsteer-load: requests done; %u connections held open and idle "
			"for %.1f s\n", run.active, (double)run.cfg.linger_ns / LOAD_NS_PER_S);
		run.linger_until = load_now() + run.cfg.linger_ns;
		if (run_loop(&run, &waitmask) != 0)
			run.interrupted = true;
	}
	for (unsigned i = 0; i < run.cfg.connections; i++)
		load_conn_finish(run.conns[i]);
	if (run.cfg.requests && !run.cfg.duration_ns && !run.interrupted &&
	    run.st.started < run.cfg.requests)
		load_err(&run, "%" PRIu64 " of %" PRIu64 " requests never sent: no usable "
			 "connection left", run.cfg.requests - run.st.started, run.cfg.requests);
	load_report(&run);
	status = load_exit_status(&run);
out:
	run_free(&run);
	return status;
}
