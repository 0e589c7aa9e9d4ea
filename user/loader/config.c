// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "common/log.h"
#include "common/config.h"

void qs_config_defaults(struct qs_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->config_path, sizeof(cfg->config_path), "%s", QS_DEFAULT_CONFIG);
	snprintf(cfg->instance, sizeof(cfg->instance), "%s", QS_DEFAULT_INSTANCE);
	snprintf(cfg->user, sizeof(cfg->user), "%s", QS_DEFAULT_USER);
	cfg->steering = QS_STEER_ON;
	cfg->server_id[0] = 0x01;
	cfg->server_id_len = 1;
	cfg->log_level = QS_LOG_INFO;
	cfg->rcvbuf = 4 << 20;
	snprintf(cfg->cert, sizeof(cfg->cert), "%s", QS_DEFAULT_CERT);
	snprintf(cfg->key, sizeof(cfg->key), "%s", QS_DEFAULT_KEY);
	snprintf(cfg->docroot, sizeof(cfg->docroot), "%s", QS_DEFAULT_DOCROOT);
	cfg->retry = QS_RETRY_AUTO;
	cfg->retry_threshold = 2000;
	cfg->idle_timeout_ms = 30000;
	cfg->max_streams = 100;
	cfg->max_conns = 16384;
	cfg->max_header_bytes = 65536;
	cfg->drain_timeout_ms = 3000;
	cfg->cc = QS_CC_BBR;
	cfg->fastcgi = QS_FASTCGI_OFF;
	cfg->fastcgi_timeout_ms = 60000;
	cfg->fastcgi_keepalive = true;
	cfg->max_body = 64ULL << 20;
	cfg->ticket_source = QS_TICKETS_AUTO;
	cfg->ticket_rotate_s = 12 * 3600;
	cfg->ticket_lifetime_s = 24 * 3600;
	cfg->early_data = true;
	cfg->guard_rate = 100;
	cfg->guard_burst = 200;
	cfg->guard_vn_rate = 5;
	cfg->guard_vn_burst = 10;
}

void qs_usage(FILE *out)
{
	fprintf(out,
"Usage: quicsteerd [OPTION]...\n"
"HTTP/3 edge server loader: forks one worker per CPU and steers every QUIC\n"
"datagram to the worker that owns its connection ID (eBPF sk_reuseport).\n"
"Options override the config file.  Runs as root.\n"
"\n"
"  -c, --config FILE       config file (default " QS_DEFAULT_CONFIG ";\n"
"                          a missing default file is not an error)\n"
"  -l, --listen ADDR:PORT  UDP listen address, repeatable, up to %d;\n"
"                          IPv4 1.2.3.4:443, IPv6 [::1]:443, [::]:443 is\n"
"                          dual-stack (default " QS_DEFAULT_LISTEN ")\n"
"  -w, --workers N         workers, 1..%d (default: online CPUs)\n"
"  -i, --instance NAME     instance name: pins in " "/sys/fs/bpf/quicsteer/NAME,\n"
"                          runtime files in " QS_RUN_ROOT "/NAME (default " QS_DEFAULT_INSTANCE ")\n"
"      --steering on|off   CID steering (on) or plain SO_REUSEPORT hashing (off,\n"
"                          for comparison and kernels without sk_reuseport BPF);\n"
"                          'baseline' attaches an empty program instead (the\n"
"                          reference of make bench-steer; hashes like off)\n"
"  -u, --user NAME         unprivileged user the workers run as (default " QS_DEFAULT_USER ")\n"
"      --server-id HEX     plaintext QUIC-LB server id in every CID, 1..6 bytes\n"
"                          (default 01)\n"
"      --rcvbuf BYTES      socket receive buffer per worker socket (default 4194304)\n"
"      --cert FILE         TLS certificate chain, PEM (default " QS_DEFAULT_CERT ";\n"
"                          scripts/gen-certs.sh makes a development pair in certs/)\n"
"      --key FILE          TLS private key, PEM (default " QS_DEFAULT_KEY ")\n"
"      --docroot DIR       static files (default " QS_DEFAULT_DOCROOT ")\n"
"      --retry MODE        address validation with Retry: auto (when new\n"
"                          handshakes exceed --retry-threshold per second and\n"
"                          worker), always, never (default auto)\n"
"      --retry-threshold N handshakes per second per worker (default 2000)\n"
"      --idle-timeout SEC  QUIC idle timeout (default 30)\n"
"      --max-streams N     concurrent requests per connection (default 100)\n"
"      --metrics ADDR:PORT  Prometheus metrics (/metrics) and health (/health)\n"
"                          over HTTP on this TCP address, e.g. 127.0.0.1:9473\n"
"                          (default off; 'off' turns off what the file set)\n"
"      --max-connections N QUIC connections per worker; a new one beyond is\n"
"                          refused with CONNECTION_REFUSED (default 16384)\n"
"      --max-header-bytes N  request header block limit, answered with 431\n"
"                          (default 65536)\n"
"      --drain-timeout SEC after GOAWAY on shutdown (default 3)\n"
"      --cc ALGO           congestion control: bbr, cubic or reno (default bbr)\n"
"      --fastcgi MODE      where .php scripts go: off (default: static files\n"
"                          only), managed (the loader runs a php-fpm pool as\n"
"                          --user on a unix socket in its runtime directory,\n"
"                          restarts it, stops it), unix:/path or tcp:HOST:PORT\n"
"                          (an existing pool; nothing started)\n"
"      --php-max-children N  the pool's children (default 4 per CPU): managed\n"
"                          pool size; each worker keeps at most its share of\n"
"                          FastCGI connections\n"
"      --index SCRIPT      front controller: what is not a static file goes to\n"
"                          SCRIPT (like nginx try_files $uri /index.php$is_args$args)\n"
"      --max-body BYTES    largest request body for PHP, 413 above (default 64M)\n"
"      --fastcgi-timeout SEC  no byte from the pool this long: 504, or a reset\n"
"                          once the response started (default 60)\n"
"      --fastcgi-keepalive on|off  keep FastCGI connections open between\n"
"                          requests (on, default; the managed pool is pm static).\n"
"                          Use off for a pool with pm ondemand or dynamic: php-fpm\n"
"                          counts a child on a kept-alive connection as idle and\n"
"                          does not start children for new connections\n"
"      --ticket-keys SRC   session ticket keys, shared by every worker:\n"
"                          auto (random, rotated every --ticket-rotate),\n"
"                          file:PATH[,PATH...] (nginx-format 80-byte key files;\n"
"                          the first encrypts, the others only decrypt; re-read\n"
"                          on SIGHUP and quicsteerctl reload-keys), or\n"
"                          fleet:PATH (a secret of 32+ bytes every host of a\n"
"                          fleet shares; each derives the key of every\n"
"                          --ticket-rotate epoch with HKDF) (default auto)\n"
"      --ticket-rotate DUR a new encrypt key this often, auto and fleet\n"
"                          (DUR: seconds, or with s, m, h, d; default 12h)\n"
"      --ticket-lifetime DUR  tickets are valid this long, and retired keys\n"
"                          still decrypt this long (default 24h, at most 7d)\n"
"      --early-data on|off accept 0-RTT requests from resumed clients, with a\n"
"                          host-wide anti-replay register (default on)\n"
"      --early-data-unsafe defer|reject  methods other than GET, HEAD and\n"
"                          OPTIONS received in 0-RTT: run once the handshake\n"
"                          completes (defer, default) or answer 425 Too Early\n"
"      --xdp-guard IFACE[,IFACE...]  attach the XDP guard (libxdp) to these\n"
"                          interfaces: drops datagrams to the listen addresses\n"
"                          that cannot be QUIC, rate-limits Initials per source,\n"
"                          applies the qs_guard_block blocklist (default off;\n"
"                          'off' turns off what the config file set)\n"
"      --xdp-guard-rate N  Initials per second per source (IPv4 /32, IPv6 /64)\n"
"                          (default 100)\n"
"      --xdp-guard-burst N bucket size for those (default 200; 0: no limit)\n"
"      --xdp-guard-vn-rate N  unknown-version packets per second per source,\n"
"                          answered with Version Negotiation (default 5)\n"
"      --xdp-guard-vn-burst N  (default 10; 0: no limit)\n"
"  -f, --foreground        stay in the foreground, log to stderr\n"
"      --log-file FILE     log here (default: stderr in the foreground,\n"
"                          " QS_LOG_ROOT "/NAME.log otherwise)\n"
"      --log-level LEVEL   warn, info or debug (default info)\n"
"  -h, --help              print this help\n"
"  -V, --version           print the version\n"
"\n"
"Signals: SIGTERM/SIGINT: GOAWAY, drain, stop everything, remove the pins.\n"
"SIGHUP: reload: a new generation of workers with the certificate, key and\n"
"docroot read again (other settings need a restart) takes new connections;\n"
"the old one keeps its connections, sends GOAWAY, drains (--drain-timeout)\n"
"and exits.  Refused, with the reason logged, while a previous generation\n"
"drains or when the certificate is unusable.  Also re-reads the ticket keys\n"
"(also: quicsteerctl reload-keys).\n"
"Inspect: scripts/inspect.sh [NAME], or bpftool map dump pinned\n"
"/sys/fs/bpf/quicsteer/NAME/qs_steer_stats.\n",
		QS_MAX_LISTENERS, QS_MAX_WORKERS);
}

int qs_parse_listen(const char *text, struct qs_listen *l, char *err, size_t errlen)
{
	char host[64];
	const char *colon, *port_s;
	char *end;
	long port;

	memset(l, 0, sizeof(*l));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
			goto bad;
		memcpy(host, text + 1, close - text - 1);
		host[close - text - 1] = '\0';
		port_s = close + 2;
	} else {
		colon = strrchr(text, ':');
		if (!colon || (size_t)(colon - text) >= sizeof(host) || strchr(text, ':') != colon)
			goto bad;
		memcpy(host, text, colon - text);
		host[colon - text] = '\0';
		port_s = colon + 1;
	}
	errno = 0;
	port = strtol(port_s, &end, 10);
	if (!*port_s || *end || errno || port < 1 || port > 65535) {
		snprintf(err, errlen, "listen '%s': port must be 1..65535", text);
		return -EINVAL;
	}
	if (text[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&l->addr;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((unsigned short)port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
			snprintf(err, errlen, "listen '%s': '%s' is not an IPv6 address", text, host);
			return -EINVAL;
		}
		l->addrlen = sizeof(*a);
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(l->text, sizeof(l->text), "[%s]:%ld", host, port);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&l->addr;

		a->sin_family = AF_INET;
		a->sin_port = htons((unsigned short)port);
		if (strcmp(host, "*") == 0 || host[0] == '\0')
			a->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
			snprintf(err, errlen, "listen '%s': '%s' is not an IPv4 address "
				 "(write IPv6 as [addr]:port)", text, host);
			return -EINVAL;
		}
		l->addrlen = sizeof(*a);
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(l->text, sizeof(l->text), "%s:%ld", host, port);
	}
	return 0;
bad:
	snprintf(err, errlen, "listen '%s': expected ADDR:PORT, [IPV6]:PORT or *:PORT", text);
	return -EINVAL;
}

static int parse_uint(const char *v, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	if (!*v || *v == '-')
		return -EINVAL;
	n = strtoul(v, &end, 10);
	if (*end || errno || n < min || n > max)
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* "90", "90s", "15m", "12h", "7d" -> seconds */
static int parse_duration(const char *v, unsigned min, unsigned max, unsigned *out)
{
	unsigned long long n, mul = 1;
	char *end;

	errno = 0;
	if (!*v || *v == '-')
		return -EINVAL;
	n = strtoull(v, &end, 10);
	if (errno || end == v)
		return -EINVAL;
	if (*end) {
		if (end[1])
			return -EINVAL;
		switch (*end) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		default: return -EINVAL;
		}
	}
	if (n > max / mul || n * mul < min)
		return -EINVAL;
	*out = (unsigned)(n * mul);
	return 0;
}

static int set_ticket_keys(struct qs_config *cfg, const char *value, char *err, size_t errlen)
{
	char buf[QS_TICKET_PATHS_MAX * 256];
	char *save = NULL, *tok;

	cfg->n_ticket_paths = 0;
	if (!strcmp(value, "auto")) {
		cfg->ticket_source = QS_TICKETS_AUTO;
		return 0;
	}
	if (!strncmp(value, "file:", 5)) {
		cfg->ticket_source = QS_TICKETS_FILE;
		value += 5;
	} else if (!strncmp(value, "fleet:", 6)) {
		cfg->ticket_source = QS_TICKETS_FLEET;
		value += 6;
	} else {
		snprintf(err, errlen, "ticket-keys '%s': expected auto, file:PATH[,PATH...] "
			 "or fleet:PATH", value);
		return -EINVAL;
	}
	if (strlen(value) >= sizeof(buf))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", value);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (cfg->n_ticket_paths == QS_TICKET_PATHS_MAX || tok[0] != '/' ||
		    strlen(tok) >= sizeof(cfg->ticket_paths[0]))
			goto bad;
		snprintf(cfg->ticket_paths[cfg->n_ticket_paths++], sizeof(cfg->ticket_paths[0]),
			 "%s", tok);
	}
	if (!cfg->n_ticket_paths ||
	    (cfg->ticket_source == QS_TICKETS_FLEET && cfg->n_ticket_paths != 1))
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "ticket-keys: expected file:/abs/path[,/abs/path...] (at most %d "
		 "files) or fleet:/abs/path (one secret file)", QS_TICKET_PATHS_MAX);
	return -EINVAL;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "eth0,eth1" or "off"; a name is checked here, its existence at start */
static int set_xdp_guard(struct qs_config *cfg, const char *value, char *err, size_t errlen)
{
	const char *p = value;

	cfg->n_xdp_guard = 0;
	if (!strcmp(value, "off"))
		return 0;
	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == 0 || n >= sizeof(cfg->xdp_guard[0]) || memchr(p, '/', n) ||
		    memchr(p, ' ', n)) {
			snprintf(err, errlen, "xdp-guard '%s': expected interface names "
				 "(1..15 characters) separated by commas", value);
			return -EINVAL;
		}
		if (cfg->n_xdp_guard == QS_GUARD_MAX_IFACES) {
			snprintf(err, errlen, "xdp-guard '%s': at most %d interfaces", value,
				 QS_GUARD_MAX_IFACES);
			return -EINVAL;
		}
		memcpy(cfg->xdp_guard[cfg->n_xdp_guard], p, n);
		cfg->xdp_guard[cfg->n_xdp_guard][n] = '\0';
		for (unsigned i = 0; i < cfg->n_xdp_guard; i++)
			if (!strcmp(cfg->xdp_guard[i], cfg->xdp_guard[cfg->n_xdp_guard])) {
				snprintf(err, errlen, "xdp-guard '%s': interface given twice", value);
				return -EINVAL;
			}
		cfg->n_xdp_guard++;
		p += n;
		if (*p == ',')
			p++;
	}
	if (!cfg->n_xdp_guard) {
		snprintf(err, errlen, "xdp-guard '%s': no interface", value);
		return -EINVAL;
	}
	return 0;
}

int qs_config_set(struct qs_config *cfg, const char *name, const char *value,
		  char *err, size_t errlen)
{
	if (!strcmp(name, "listen")) {
		struct qs_listen l;
		int ret = qs_parse_listen(value, &l, err, errlen);

		if (ret)
			return ret;
		if (cfg->n_listen >= QS_MAX_LISTENERS) {
			snprintf(err, errlen, "listen '%s': at most %d listen addresses",
				 value, QS_MAX_LISTENERS);
			return -EINVAL;
		}
		for (unsigned i = 0; i < cfg->n_listen; i++)
			if (!strcmp(cfg->listen[i].text, l.text)) {
				snprintf(err, errlen, "listen '%s' given twice", value);
				return -EINVAL;
			}
		cfg->listen[cfg->n_listen++] = l;
	} else if (!strcmp(name, "workers")) {
		if (!strcmp(value, "auto")) {
			cfg->workers = 0;
		} else if (parse_uint(value, 1, QS_MAX_WORKERS, &cfg->workers)) {
			snprintf(err, errlen, "workers '%s': expected 1..%d or auto",
				 value, QS_MAX_WORKERS);
			return -EINVAL;
		}
	} else if (!strcmp(name, "instance")) {
		size_t n = strlen(value);

		if (n == 0 || n > QS_INSTANCE_MAX || strspn(value,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n ||
		    value[0] == '-') {
			snprintf(err, errlen, "instance '%s': use 1..%d of [A-Za-z0-9_-], "
				 "not starting with '-'", value, QS_INSTANCE_MAX);
			return -EINVAL;
		}
		memcpy(cfg->instance, value, n + 1);
	} else if (!strcmp(name, "steering")) {
		bool on;

		if (!strcmp(value, "baseline")) {
			cfg->steering = QS_STEER_BASELINE;
		} else if (parse_bool(value, &on)) {
			snprintf(err, errlen, "steering '%s': expected on or off", value);
			return -EINVAL;
		} else {
			cfg->steering = on ? QS_STEER_ON : QS_STEER_OFF;
		}
	} else if (!strcmp(name, "foreground")) {
		if (parse_bool(value, &cfg->foreground)) {
			snprintf(err, errlen, "foreground '%s': expected on or off", value);
			return -EINVAL;
		}
	} else if (!strcmp(name, "user")) {
		if (!*value || strlen(value) >= sizeof(cfg->user)) {
			snprintf(err, errlen, "user '%s': empty or too long", value);
			return -EINVAL;
		}
		snprintf(cfg->user, sizeof(cfg->user), "%s", value);
	} else if (!strcmp(name, "server_id") || !strcmp(name, "server-id")) {
		const char *p = value;
		size_t n;

		if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
			p += 2;
		n = strlen(p);
		if (n < 2 || n > 2 * QS_CID_SID_MAX || n % 2) {
			snprintf(err, errlen, "server-id '%s': expected 1..%d bytes in hex "
				 "(2..%d hex digits)", value, QS_CID_SID_MAX, 2 * QS_CID_SID_MAX);
			return -EINVAL;
		}
		for (size_t i = 0; i < n; i += 2) {
			int hi = hexval(p[i]), lo = hexval(p[i + 1]);

			if (hi < 0 || lo < 0) {
				snprintf(err, errlen, "server-id '%s': not hex", value);
				return -EINVAL;
			}
			cfg->server_id[i / 2] = (unsigned char)(hi << 4 | lo);
		}
		cfg->server_id_len = (unsigned)n / 2;
	} else if (!strcmp(name, "log_file") || !strcmp(name, "log-file")) {
		if (strlen(value) >= sizeof(cfg->log_file)) {
			snprintf(err, errlen, "log-file: path too long");
			return -EINVAL;
		}
		snprintf(cfg->log_file, sizeof(cfg->log_file), "%s", value);
	} else if (!strcmp(name, "log_level") || !strcmp(name, "log-level")) {
		if (!strcmp(value, "warn"))
			cfg->log_level = QS_LOG_WARN;
		else if (!strcmp(value, "info"))
			cfg->log_level = QS_LOG_INFO;
		else if (!strcmp(value, "debug"))
			cfg->log_level = QS_LOG_DEBUG;
		else {
			snprintf(err, errlen, "log-level '%s': expected warn, info or debug", value);
			return -EINVAL;
		}
	} else if (!strcmp(name, "rcvbuf")) {
		if (parse_uint(value, 0, 1U << 30, &cfg->rcvbuf)) {
			snprintf(err, errlen, "rcvbuf '%s': expected bytes, 0..1073741824", value);
			return -EINVAL;
		}
	} else if (!strcmp(name, "cert") || !strcmp(name, "key") || !strcmp(name, "docroot")) {
		char *dst = name[0] == 'c' ? cfg->cert : name[0] == 'k' ? cfg->key : cfg->docroot;

		if (!*value || strlen(value) >= sizeof(cfg->cert)) {
			snprintf(err, errlen, "%s '%s': empty or too long", name, value);
			return -EINVAL;
		}
		snprintf(dst, sizeof(cfg->cert), "%s", value);
	} else if (!strcmp(name, "fastcgi")) {
		if (!strcmp(value, "off")) {
			cfg->fastcgi = QS_FASTCGI_OFF;
		} else if (!strcmp(value, "managed")) {
			cfg->fastcgi = QS_FASTCGI_MANAGED;
		} else if (!strncmp(value, "unix:", 5) && value[5] == '/' &&
			   strlen(value + 5) < sizeof(cfg->fastcgi_addr)) {
			cfg->fastcgi = QS_FASTCGI_UNIX;
			snprintf(cfg->fastcgi_addr, sizeof(cfg->fastcgi_addr), "%s", value + 5);
		} else if (!strncmp(value, "tcp:", 4) && strchr(value + 4, ':') &&
			   strlen(value + 4) < sizeof(cfg->fastcgi_addr)) {
			cfg->fastcgi = QS_FASTCGI_TCP;
			snprintf(cfg->fastcgi_addr, sizeof(cfg->fastcgi_addr), "%s", value + 4);
		} else {
			snprintf(err, errlen, "fastcgi '%s': expected off, managed, "
				 "unix:/absolute/path or tcp:HOST:PORT", value);
			return -EINVAL;
		}
	} else if (!strcmp(name, "max_body") || !strcmp(name, "max-body")) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(value, &end, 10);
		if (!*value || *value == '-' || errno || (*end && strcmp(end, "K") && strcmp(end, "M") &&
		    strcmp(end, "G")) || v == 0) {
			snprintf(err, errlen, "max-body '%s': expected bytes (suffix K, M, G)", value);
			return -EINVAL;
		}
		cfg->max_body = v << (*end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0);
	} else if (!strcmp(name, "index")) {
		size_t n = strlen(value);

		if (n < 5 || n >= sizeof(cfg->index) || strcmp(value + n - 4, ".php") ||
		    value[0] == '/' || value[0] == '.' || strstr(value, "..")) {
			snprintf(err, errlen, "index '%s': expected a script name relative to "
				 "the docroot, like index.php", value);
			return -EINVAL;
		}
		memcpy(cfg->index, value, n + 1);
	} else if (!strcmp(name, "fastcgi_keepalive") || !strcmp(name, "fastcgi-keepalive")) {
		if (strcmp(value, "on") && strcmp(value, "off")) {
			snprintf(err, errlen, "fastcgi-keepalive '%s': expected on or off", value);
			return -EINVAL;
		}
		cfg->fastcgi_keepalive = !strcmp(value, "on");
	} else if (!strcmp(name, "fastcgi_timeout") || !strcmp(name, "fastcgi-timeout")) {
		unsigned sec;

		if (parse_uint(value, 1, 86400, &sec)) {
			snprintf(err, errlen, "fastcgi-timeout '%s': expected 1..86400 seconds", value);
			return -EINVAL;
		}
		cfg->fastcgi_timeout_ms = sec * 1000;
	} else if (!strcmp(name, "php_max_children") || !strcmp(name, "php-max-children")) {
		if (parse_uint(value, 1, 4096, &cfg->php_max_children)) {
			snprintf(err, errlen, "php-max-children '%s': expected 1..4096", value);
			return -EINVAL;
		}
	} else if (!strcmp(name, "cc")) {
		if (!strcmp(value, "bbr"))
			cfg->cc = QS_CC_BBR;
		else if (!strcmp(value, "cubic"))
			cfg->cc = QS_CC_CUBIC;
		else if (!strcmp(value, "reno"))
			cfg->cc = QS_CC_RENO;
		else {
			snprintf(err, errlen, "cc '%s': expected bbr, cubic or reno", value);
			return -EINVAL;
		}
	} else if (!strcmp(name, "retry")) {
		if (!strcmp(value, "auto"))
			cfg->retry = QS_RETRY_AUTO;
		else if (!strcmp(value, "always"))
			cfg->retry = QS_RETRY_ALWAYS;
		else if (!strcmp(value, "never"))
			cfg->retry = QS_RETRY_NEVER;
		else {
			snprintf(err, errlen, "retry '%s': expected auto, always or never", value);
			return -EINVAL;
		}
	} else if (!strcmp(name, "retry_threshold") || !strcmp(name, "retry-threshold")) {
		if (parse_uint(value, 1, 10000000, &cfg->retry_threshold)) {
			snprintf(err, errlen, "retry-threshold '%s': expected 1..10000000", value);
			return -EINVAL;
		}
	} else if (!strcmp(name, "idle_timeout") || !strcmp(name, "idle-timeout")) {
		unsigned s;

		if (parse_uint(value, 1, 3600, &s)) {
			snprintf(err, errlen, "idle-timeout '%s': expected 1..3600 seconds", value);
			return -EINVAL;
		}
		cfg->idle_timeout_ms = s * 1000;
	} else if (!strcmp(name, "max_streams") || !strcmp(name, "max-streams")) {
		if (parse_uint(value, 1, 10000, &cfg->max_streams)) {
			snprintf(err, errlen, "max-streams '%s': expected 1..10000", value);
			return -EINVAL;
		}
	} else if (!strcmp(name, "metrics")) {
		const char *colon = strrchr(value, ':');
		char *end;
		long port = colon ? strtol(colon + 1, &end, 10) : 0;

		if (!strcmp(value, "off") || !*value) {
			cfg->metrics[0] = '\0';
		} else if (!colon || *end || port < 1 || port > 65535 ||
			   strlen(value) >= sizeof(cfg->metrics)) {
			snprintf(err, errlen, "metrics '%s': expected ADDR:PORT (127.0.0.1:9473, "
				 "[::1]:9473) or off", value);
			return -EINVAL;
		} else {
			snprintf(cfg->metrics, sizeof(cfg->metrics), "%s", value);
		}
	} else if (!strcmp(name, "max_connections") || !strcmp(name, "max-connections")) {
		if (parse_uint(value, 1, 1000000, &cfg->max_conns)) {
			snprintf(err, errlen, "max-connections '%s': expected 1..1000000", value);
			return -EINVAL;
		}
	} else if (!strcmp(name, "max_header_bytes") || !strcmp(name, "max-header-bytes")) {
		if (parse_uint(value, 1024, 1 << 24, &cfg->max_header_bytes)) {
			snprintf(err, errlen, "max-header-bytes '%s': expected 1024..16777216", value);
			return -EINVAL;
		}
	} else if (!strcmp(name, "ticket_keys") || !strcmp(name, "ticket-keys")) {
		return set_ticket_keys(cfg, value, err, errlen);
	} else if (!strcmp(name, "ticket_rotate") || !strcmp(name, "ticket-rotate")) {
		if (parse_duration(value, 1, 365 * 86400, &cfg->ticket_rotate_s)) {
			snprintf(err, errlen, "ticket-rotate '%s': expected a duration of 1s..365d "
				 "(like 3600, 30m, 12h)", value);
			return -EINVAL;
		}
	} else if (!strcmp(name, "ticket_lifetime") || !strcmp(name, "ticket-lifetime")) {
		/* TLS 1.3 caps a ticket's lifetime at 7 days (RFC 8446 4.6.1) */
		if (parse_duration(value, 1, 7 * 86400, &cfg->ticket_lifetime_s)) {
			snprintf(err, errlen, "ticket-lifetime '%s': expected a duration of 1s..7d "
				 "(TLS 1.3's limit)", value);
			return -EINVAL;
		}
	} else if (!strcmp(name, "early_data") || !strcmp(name, "early-data")) {
		if (parse_bool(value, &cfg->early_data)) {
			snprintf(err, errlen, "early-data '%s': expected on or off", value);
			return -EINVAL;
		}
	} else if (!strcmp(name, "early_data_unsafe") || !strcmp(name, "early-data-unsafe")) {
		if (!strcmp(value, "defer"))
			cfg->early_unsafe_reject = false;
		else if (!strcmp(value, "reject"))
			cfg->early_unsafe_reject = true;
		else {
			snprintf(err, errlen, "early-data-unsafe '%s': expected defer or reject",
				 value);
			return -EINVAL;
		}
	} else if (!strcmp(name, "drain_timeout") || !strcmp(name, "drain-timeout")) {
		unsigned s;

		if (parse_uint(value, 0, 3600, &s)) {
			snprintf(err, errlen, "drain-timeout '%s': expected 0..3600 seconds", value);
			return -EINVAL;
		}
		cfg->drain_timeout_ms = s * 1000;
	} else if (!strcmp(name, "xdp_guard") || !strcmp(name, "xdp-guard")) {
		return set_xdp_guard(cfg, value, err, errlen);
	} else if (!strncmp(name, "xdp_guard_", 10) || !strncmp(name, "xdp-guard-", 10)) {
		const char *what = name + 10;
		unsigned *dst = !strcmp(what, "rate") ? &cfg->guard_rate :
				!strcmp(what, "burst") ? &cfg->guard_burst :
				!strcmp(what, "vn_rate") || !strcmp(what, "vn-rate") ? &cfg->guard_vn_rate :
				!strcmp(what, "vn_burst") || !strcmp(what, "vn-burst") ? &cfg->guard_vn_burst :
				NULL;
		bool is_rate = dst == &cfg->guard_rate || dst == &cfg->guard_vn_rate;

		if (!dst) {
			snprintf(err, errlen, "unknown option '%s'", name);
			return -ENOENT;
		}
		/* a rate must refill; bursts up to 1e6 keep burst * interval in 64 bits */
		if (parse_uint(value, is_rate ? 1 : 0, is_rate ? 10000000 : 1000000, dst)) {
			snprintf(err, errlen, "xdp-guard-%s '%s': expected %s", what, value,
				 is_rate ? "1..10000000 per second" : "0..1000000 (0: no limit)");
			return -EINVAL;
		}
	} else {
		snprintf(err, errlen, "unknown option '%s'", name);
		return -ENOENT;
	}
	return 0;
}

struct ini_ctx {
	struct qs_config *cfg;
	char err[256];
};

/* inih reports the line of the first error as ini_parse_file's result */
static int on_ini_value(void *user, const char *section, const char *name,
			const char *value)
{
	struct ini_ctx *ctx = user;

	if (ctx->err[0])
		return 1;	/* keep the first error */
	if (section[0] && strcmp(section, "quicsteer") != 0) {
		snprintf(ctx->err, sizeof(ctx->err),
			 "unknown section [%s] (options go in [quicsteer])", section);
		return 0;
	}
	if (qs_config_set(ctx->cfg, name, value, ctx->err, sizeof(ctx->err)))
		return 0;
	return 1;
}

static int load_file(struct qs_config *cfg)
{
	struct ini_ctx ctx = { .cfg = cfg };
	FILE *f = fopen(cfg->config_path, "re");
	int ret;

	if (!f) {
		if (errno == ENOENT && !cfg->config_explicit)
			return 0;
		fprintf(stderr, "quicsteerd: cannot read config file %s: %s\n",
			cfg->config_path, strerror(errno));
		return -EINVAL;
	}
	ret = ini_parse_file(f, on_ini_value, &ctx);
	fclose(f);
	if (ret == 0)
		return 0;
	if (ctx.err[0] && ret > 0)
		fprintf(stderr, "quicsteerd: %s:%d: %s\n", cfg->config_path, ret, ctx.err);
	else if (ret < 0)
		fprintf(stderr, "quicsteerd: %s: cannot read: %s\n", cfg->config_path,
			ret == -2 ? "out of memory" : "I/O error");
	else
		fprintf(stderr, "quicsteerd: %s:%d: syntax error (expected 'name = value' "
			"or '[quicsteer]')\n", cfg->config_path, ret);
	return -EINVAL;
}

static const struct option long_opts[] = {
	{ "config",     required_argument, NULL, 'c' },
	{ "listen",     required_argument, NULL, 'l' },
	{ "workers",    required_argument, NULL, 'w' },
	{ "instance",   required_argument, NULL, 'i' },
	{ "steering",   required_argument, NULL, 's' },
	{ "user",       required_argument, NULL, 'u' },
	{ "server-id",  required_argument, NULL, 'S' },
	{ "rcvbuf",     required_argument, NULL, 'R' },
	{ "foreground", no_argument,       NULL, 'f' },
	{ "log-file",   required_argument, NULL, 'L' },
	{ "log-level",  required_argument, NULL, 'v' },
	{ "cert",       required_argument, NULL, 'C' },
	{ "key",        required_argument, NULL, 'K' },
	{ "docroot",    required_argument, NULL, 'D' },
	{ "retry",      required_argument, NULL, 'r' },
	{ "retry-threshold", required_argument, NULL, 'T' },
	{ "idle-timeout", required_argument, NULL, 'I' },
	{ "max-streams", required_argument, NULL, 'M' },
	{ "max-connections", required_argument, NULL, 0x105 },
	{ "fastcgi-keepalive", required_argument, NULL, 0x107 },
	{ "metrics",    required_argument, NULL, 0x106 },
	{ "max-header-bytes", required_argument, NULL, 'H' },
	{ "drain-timeout", required_argument, NULL, 'G' },
	{ "cc",         required_argument, NULL, 'A' },
	{ "fastcgi",    required_argument, NULL, 'P' },
	{ "php-max-children", required_argument, NULL, 'N' },
	{ "fastcgi-timeout", required_argument, NULL, 'O' },
	{ "index",      required_argument, NULL, 'X' },
	{ "max-body",   required_argument, NULL, 'B' },
	{ "ticket-keys", required_argument, NULL, 0x100 },
	{ "ticket-rotate", required_argument, NULL, 0x101 },
	{ "ticket-lifetime", required_argument, NULL, 0x102 },
	{ "early-data", required_argument, NULL, 0x103 },
	{ "early-data-unsafe", required_argument, NULL, 0x104 },
	{ "xdp-guard",  required_argument, NULL, 0x200 },
	{ "xdp-guard-rate", required_argument, NULL, 0x201 },
	{ "xdp-guard-burst", required_argument, NULL, 0x202 },
	{ "xdp-guard-vn-rate", required_argument, NULL, 0x203 },
	{ "xdp-guard-vn-burst", required_argument, NULL, 0x204 },
	{ "help",       no_argument,       NULL, 'h' },
	{ "version",    no_argument,       NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

int qs_config_from_args(struct qs_config *cfg, int argc, char **argv)
{
	bool cli_listen = false;
	char err[256];
	int c;

	qs_config_defaults(cfg);

	/* pass 1: which config file, or help/version */
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:l:w:i:u:fhV", long_opts, NULL)) != -1) {
		if (c == 'h') {
			qs_usage(stdout);
			return 1;
		}
		if (c == 'V') {
			printf("quicsteerd %s\n", QS_VERSION);
			return 1;
		}
		if (c == 'c') {
			if (strlen(optarg) >= sizeof(cfg->config_path)) {
				fprintf(stderr, "quicsteerd: --config: path too long\n");
				return -EINVAL;
			}
			snprintf(cfg->config_path, sizeof(cfg->config_path), "%s", optarg);
			cfg->config_explicit = true;
		}
	}
	if (load_file(cfg))
		return -EINVAL;

	/* pass 2: flags override the file */
	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "c:l:w:i:u:fhV", long_opts, NULL)) != -1) {
		const char *name = NULL;

		switch (c) {
		case 'c':
			continue;
		case 'l':
			if (!cli_listen) {	/* the command line replaces the file's list */
				cfg->n_listen = 0;
				cli_listen = true;
			}
			name = "listen";
			break;
		case 'w': name = "workers"; break;
		case 'i': name = "instance"; break;
		case 's': name = "steering"; break;
		case 'u': name = "user"; break;
		case 'S': name = "server_id"; break;
		case 'R': name = "rcvbuf"; break;
		case 'L': name = "log_file"; break;
		case 'v': name = "log_level"; break;
		case 'C': name = "cert"; break;
		case 'K': name = "key"; break;
		case 'D': name = "docroot"; break;
		case 'r': name = "retry"; break;
		case 'T': name = "retry_threshold"; break;
		case 'I': name = "idle_timeout"; break;
		case 'M': name = "max_streams"; break;
		case 'H': name = "max_header_bytes"; break;
		case 'G': name = "drain_timeout"; break;
		case 'A': name = "cc"; break;
		case 'P': name = "fastcgi"; break;
		case 'N': name = "php_max_children"; break;
		case 'O': name = "fastcgi_timeout"; break;
		case 'X': name = "index"; break;
		case 'B': name = "max_body"; break;
		case 0x100: name = "ticket_keys"; break;
		case 0x101: name = "ticket_rotate"; break;
		case 0x102: name = "ticket_lifetime"; break;
		case 0x103: name = "early_data"; break;
		case 0x104: name = "early_data_unsafe"; break;
		case 0x105: name = "max_connections"; break;
		case 0x106: name = "metrics"; break;
		case 0x107: name = "fastcgi_keepalive"; break;
		case 0x200: name = "xdp_guard"; break;
		case 0x201: name = "xdp_guard_rate"; break;
		case 0x202: name = "xdp_guard_burst"; break;
		case 0x203: name = "xdp_guard_vn_rate"; break;
		case 0x204: name = "xdp_guard_vn_burst"; break;
		case 'f':
			cfg->foreground = true;
			continue;
		default:
			fprintf(stderr, "Try 'quicsteerd --help'.\n");
			return -EINVAL;
		}
		if (qs_config_set(cfg, name, optarg, err, sizeof(err))) {
			fprintf(stderr, "quicsteerd: --%s\n", err);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "quicsteerd: unexpected argument '%s'; try 'quicsteerd --help'\n",
			argv[optind]);
		return -EINVAL;
	}
	if (cfg->n_listen == 0) {
		if (qs_config_set(cfg, "listen", QS_DEFAULT_LISTEN, err, sizeof(err))) {
			fprintf(stderr, "quicsteerd: %s\n", err);
			return -EINVAL;
		}
	}
	if (cfg->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->workers = n < 1 ? 1 : n > QS_MAX_WORKERS ? QS_MAX_WORKERS : (unsigned)n;
	}
	if (cfg->ticket_source != QS_TICKETS_FILE) {
		/* one encrypt key, the retired ones for a lifetime, the next epoch's */
		unsigned need = 2 + (cfg->ticket_lifetime_s + cfg->ticket_rotate_s - 1) /
				    cfg->ticket_rotate_s;

		if (need > QS_TKEY_MAX) {
			fprintf(stderr, "quicsteerd: --ticket-rotate %us is too short for "
				"--ticket-lifetime %us: that keeps %u keys, at most %d; rotate at "
				"least every %us\n", cfg->ticket_rotate_s, cfg->ticket_lifetime_s,
				need, QS_TKEY_MAX,
				(cfg->ticket_lifetime_s + QS_TKEY_MAX - 3) / (QS_TKEY_MAX - 2));
			return -EINVAL;
		}
	}
	if (cfg->php_max_children == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->php_max_children = 4 * (unsigned)(n < 1 ? 1 : n);
	}
	return 0;
}
