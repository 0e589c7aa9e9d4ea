// SPDX-License-Identifier: MIT
/*
 * quicsteerd's options.  One table, options[] below, says for every option
 * its flag, config-file key, type, range, default and help; the defaults,
 * the config-file reader (INI, inih), the getopt_long parser, --help and
 * --help-markdown (the table of docs/configuration.md), --help-man (the man
 * page) and --help-config (the commented config file of the package) are
 * all driven from it, so none of them can disagree with another.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/config.h"
#include "quicsteer/steer.h"

#define STR_(x) #x
#define STR(x)  STR_(x)
#define HELP_WIDTH 80   /* --help is wrapped to this many columns */
#define HELP_COL   26   /* where the help of an option starts */

/* ---- values -------------------------------------------------------------- */

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

/*
 * strtoul() and strtoull() skip blanks and take a sign ("-1" is their
 * largest value): numbers here start with a digit.
 */
static bool digit_first(const char *v)
{
	return *v >= '0' && *v <= '9';
}

static int parse_uint(const char *v, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	if (!digit_first(v))
		return -EINVAL;
	n = strtoul(v, &end, 10);
	if (*end || errno || n < min || n > max)
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

/* "90", "90s", "15m", "12h", "7d" -> seconds */
static int parse_duration(const char *v, unsigned min, unsigned max, unsigned *out)
{
	unsigned long long n, mul = 1;
	char *end;

	errno = 0;
	if (!digit_first(v))
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

/* seconds -> the largest unit that says them exactly: 604800 -> "7d" */
static void format_duration(unsigned s, char *buf, size_t len)
{
	if (s && s % 86400 == 0)
		snprintf(buf, len, "%ud", s / 86400);
	else if (s && s % 3600 == 0)
		snprintf(buf, len, "%uh", s / 3600);
	else if (s && s % 60 == 0)
		snprintf(buf, len, "%um", s / 60);
	else
		snprintf(buf, len, "%us", s);
}

/*
 * "65536", "64K", "64M", "1G" -> bytes, 1..SIZE_LIMIT; -ERANGE above.  The
 * limit is int64_t's: request lengths are int64_t here, and PHP's ini
 * values (post_max_size) a signed zend_long.
 */
#define SIZE_LIMIT ((uint64_t)INT64_MAX)

static int parse_size(const char *v, uint64_t *out)
{
	unsigned long long n;
	unsigned shift;
	char *end;

	errno = 0;
	if (!digit_first(v))
		return -EINVAL;
	n = strtoull(v, &end, 10);
	if (end == v || n == 0)
		return -EINVAL;
	if (errno == ERANGE)
		n = ULLONG_MAX;	/* too large whatever the suffix */
	if (!*end)
		shift = 0;
	else if (!strcmp(end, "K"))
		shift = 10;
	else if (!strcmp(end, "M"))
		shift = 20;
	else if (!strcmp(end, "G"))
		shift = 30;
	else
		return -EINVAL;
	if (n > SIZE_LIMIT >> shift)
		return -ERANGE;
	*out = (uint64_t)n << shift;
	return 0;
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

/*
 * ---- setters of the options that are more than a number or a word -------
 * Each checks VALUE and applies it; a message starts with NAME, the option
 * as the user spelled it (the caller adds "--" or the file and line).
 */

static int set_listen(struct qs_config *cfg, const char *name, const char *value,
		      char *err, size_t errlen)
{
	struct qs_listen l;
	int ret = qs_parse_listen(value, &l, err, errlen);

	if (ret)
		return ret;
	if (cfg->n_listen >= QS_MAX_LISTENERS) {
		snprintf(err, errlen, "%s '%s': at most %d listen addresses",
			 name, value, QS_MAX_LISTENERS);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->n_listen; i++)
		if (!strcmp(cfg->listen[i].text, l.text)) {
			snprintf(err, errlen, "%s '%s' given twice", name, value);
			return -EINVAL;
		}
	cfg->listen[cfg->n_listen++] = l;
	return 0;
}

static void clear_listen(struct qs_config *cfg)
{
	cfg->n_listen = 0;
}

static int set_instance(struct qs_config *cfg, const char *name, const char *value,
			char *err, size_t errlen)
{
	size_t n = strlen(value);

	/* the name becomes a directory under /sys/fs/bpf and /run */
	if (n == 0 || n > QS_INSTANCE_MAX || value[0] == '-' || strspn(value,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n) {
		snprintf(err, errlen, "%s '%s': use 1..%d of [A-Za-z0-9_-], not starting "
			 "with '-'", name, value, QS_INSTANCE_MAX);
		return -EINVAL;
	}
	memcpy(cfg->instance, value, n + 1);
	return 0;
}

static int set_server_id(struct qs_config *cfg, const char *name, const char *value,
			 char *err, size_t errlen)
{
	const char *p = value;
	size_t n;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	n = strlen(p);
	if (n < 2 || n > 2 * QS_CID_SID_MAX || n % 2) {
		snprintf(err, errlen, "%s '%s': expected 1..%d bytes in hex (2..%d hex digits)",
			 name, value, QS_CID_SID_MAX, 2 * QS_CID_SID_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval(p[i]), lo = hexval(p[i + 1]);

		if (hi < 0 || lo < 0) {
			snprintf(err, errlen, "%s '%s': not hex", name, value);
			return -EINVAL;
		}
		cfg->server_id[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	cfg->server_id_len = (unsigned)n / 2;
	return 0;
}

static int set_metrics(struct qs_config *cfg, const char *name, const char *value,
		       char *err, size_t errlen)
{
	const char *colon = strrchr(value, ':');
	char *end;
	long port = colon ? strtol(colon + 1, &end, 10) : 0;

	if (!strcmp(value, "off") || !*value) {
		cfg->metrics[0] = '\0';
		return 0;
	}
	if (!colon || *end || port < 1 || port > 65535 || strlen(value) >= sizeof(cfg->metrics)) {
		snprintf(err, errlen, "%s '%s': expected ADDR:PORT (127.0.0.1:9473, "
			 "[::1]:9473) or off", name, value);
		return -EINVAL;
	}
	snprintf(cfg->metrics, sizeof(cfg->metrics), "%s", value);
	return 0;
}

static int set_access_log(struct qs_config *cfg, const char *name, const char *value,
			  char *err, size_t errlen)
{
	if (!strcmp(value, "off") || !*value) {
		cfg->access_log[0] = '\0';
		return 0;
	}
	/* the workers reopen it by name (SIGUSR1), wherever their working directory is */
	if (value[0] != '/' || strlen(value) >= sizeof(cfg->access_log) ||
	    value[strlen(value) - 1] == '/') {
		snprintf(err, errlen, "%s '%s': expected an absolute file path shorter than %zu "
			 "bytes (/var/log/quicsteer/access.log) or off", name, value,
			 sizeof(cfg->access_log));
		return -EINVAL;
	}
	snprintf(cfg->access_log, sizeof(cfg->access_log), "%s", value);
	return 0;
}

static int set_fastcgi(struct qs_config *cfg, const char *name, const char *value,
		       char *err, size_t errlen)
{
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
		snprintf(err, errlen, "%s '%s': expected off, managed, unix:/absolute/path "
			 "or tcp:HOST:PORT", name, value);
		return -EINVAL;
	}
	return 0;
}

static int set_index(struct qs_config *cfg, const char *name, const char *value,
		     char *err, size_t errlen)
{
	size_t n = strlen(value);

	if (n < 5 || n >= sizeof(cfg->index) || strcmp(value + n - 4, ".php") ||
	    value[0] == '/' || value[0] == '.' || strstr(value, "..")) {
		snprintf(err, errlen, "%s '%s': expected a script name relative to the "
			 "docroot, like index.php", name, value);
		return -EINVAL;
	}
	memcpy(cfg->index, value, n + 1);
	return 0;
}

/* "off", or PREFIX=DIR: an internal location "/name/" and an absolute directory */
static int set_accel(struct qs_config *cfg, const char *name, const char *value, char *err,
		     size_t errlen)
{
	const char *eq = strchr(value, '=');
	size_t pl = eq ? (size_t)(eq - value) : 0;

	if (!strcmp(value, "off")) {
		cfg->accel_prefix[0] = cfg->accel_root[0] = '\0';
		return 0;
	}
	if (!eq || pl < 3 || pl >= sizeof(cfg->accel_prefix) || value[0] != '/' ||
	    value[pl - 1] != '/' || memchr(value, '?', pl) || memchr(value, '%', pl) ||
	    eq[1] != '/' || strlen(eq + 1) >= sizeof(cfg->accel_root)) {
		snprintf(err, errlen, "%s '%s': expected off or PREFIX=DIR, PREFIX a path "
			 "between slashes (/protected/) and DIR absolute", name, value);
		return -EINVAL;
	}
	memcpy(cfg->accel_prefix, value, pl);
	cfg->accel_prefix[pl] = '\0';
	snprintf(cfg->accel_root, sizeof(cfg->accel_root), "%s", eq + 1);
	return 0;
}

/* "off", or RATE/s[,BURST] (BURST defaults to RATE) */
static int set_rate_limit(struct qs_config *cfg, const char *name, const char *value,
			  char *err, size_t errlen)
{
	unsigned long rate, burst;
	char *end;

	if (!strcmp(value, "off")) {
		cfg->rate_per_s = cfg->rate_burst = 0;
		return 0;
	}
	errno = 0;
	rate = strtoul(value, &end, 10);
	if (errno || end == value || rate < 1 || rate > 100000 || strncmp(end, "/s", 2))
		goto bad;
	end += 2;
	burst = rate;
	if (*end == ',') {
		const char *b = end + 1;

		burst = strtoul(b, &end, 10);
		if (errno || end == b || burst < 1 || burst > 100000)
			goto bad;
	}
	if (*end)
		goto bad;
	cfg->rate_per_s = (unsigned)rate;
	cfg->rate_burst = (unsigned)burst;
	return 0;
bad:
	snprintf(err, errlen, "%s '%s': expected off or RATE/s[,BURST] (1 to 100000 each, "
		 "e.g. 20/s,40)", name, value);
	return -EINVAL;
}

static int set_ticket_keys(struct qs_config *cfg, const char *name, const char *value,
			   char *err, size_t errlen)
{
	char buf[QS_TICKET_PATHS_MAX * 256];
	const char *given = value;
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
		snprintf(err, errlen, "%s '%s': expected auto, file:PATH[,PATH...] or fleet:PATH",
			 name, value);
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
	snprintf(err, errlen, "%s '%s': expected file:/abs/path[,/abs/path...] (at most %d "
		 "files) or fleet:/abs/path (one secret file)", name, given, QS_TICKET_PATHS_MAX);
	return -EINVAL;
}

/* "eth0,eth1" or "off"; a name is checked here, its existence at start */
static int set_xdp_guard(struct qs_config *cfg, const char *name, const char *value,
			 char *err, size_t errlen)
{
	const char *p = value;

	cfg->n_xdp_guard = 0;
	if (!strcmp(value, "off"))
		return 0;
	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == 0 || n >= sizeof(cfg->xdp_guard[0]) || memchr(p, '/', n) ||
		    memchr(p, ' ', n)) {
			snprintf(err, errlen, "%s '%s': expected interface names (1..15 "
				 "characters) separated by commas", name, value);
			return -EINVAL;
		}
		if (cfg->n_xdp_guard == QS_GUARD_MAX_IFACES) {
			snprintf(err, errlen, "%s '%s': at most %d interfaces", name, value,
				 QS_GUARD_MAX_IFACES);
			return -EINVAL;
		}
		memcpy(cfg->xdp_guard[cfg->n_xdp_guard], p, n);
		cfg->xdp_guard[cfg->n_xdp_guard][n] = '\0';
		for (unsigned i = 0; i < cfg->n_xdp_guard; i++)
			if (!strcmp(cfg->xdp_guard[i], cfg->xdp_guard[cfg->n_xdp_guard])) {
				snprintf(err, errlen, "%s '%s': interface given twice", name, value);
				return -EINVAL;
			}
		cfg->n_xdp_guard++;
		p += n;
		if (*p == ',')
			p++;
	}
	if (!cfg->n_xdp_guard) {
		snprintf(err, errlen, "%s '%s': no interface", name, value);
		return -EINVAL;
	}
	return 0;
}

/* 0, or -errno when what was printed did not get out (a full disk) */
static int flushed(FILE *out)
{
	if (fflush(out))
		return -errno;
	return ferror(out) ? -EIO : 0;
}

static int print_version(FILE *out)
{
	fprintf(out, "quicsteerd %s\n", QS_VERSION);
	return flushed(out);
}

/* ---- the table ----------------------------------------------------------- */

enum opt_type {
	OPT_UINT,      /* unsigned in min..max, stored times scale; or one of words */
	OPT_BOOL,      /* on|off; yes|no, true|false and 1|0 also work */
	OPT_ENUM,      /* one of words, stored as its value in an enum or bool field */
	OPT_DURATION,  /* seconds in min..max: 90, 90s, 15m, 12h, 7d */
	OPT_SIZE,      /* bytes, at least 1, with suffix K, M or G (a uint64_t) */
	OPT_STRING,    /* fits its field; empty only with empty_ok */
	OPT_FUNC,      /* its own setter: addresses, lists, key sources */
	OPT_ACTION,    /* command line only: print something and exit */
};

struct opt_word {
	const char *word;
	int value;
	bool alias;    /* accepted, not listed in help and messages */
};

typedef int (*opt_setter)(struct qs_config *cfg, const char *name, const char *value,
			  char *err, size_t errlen);

struct opt {
	const char *flag;          /* long option, without "--" */
	char short_flag;           /* 0: none */
	const char *key;           /* config-file key: flag with '_' for '-'; NULL: flag only */
	const char *metavar;       /* the argument in help; NULL for words: them */
	const char *flag_value;    /* a flag without argument: the value it means */
	enum opt_type type;
	size_t offset, size;       /* of the field in struct qs_config */
	unsigned min, max;         /* OPT_UINT, OPT_DURATION */
	unsigned scale;            /* OPT_UINT: stored = given * scale (s -> ms); 0 = 1 */
	const char *unit;          /* OPT_UINT: after the range ("seconds") */
	const char *note;          /* after the range ("0: no limit") */
	const struct opt_word *words;
	bool empty_ok;             /* OPT_STRING */
	opt_setter set;            /* OPT_FUNC */
	void (*clear)(struct qs_config *cfg); /* repeatable: see struct source */
	int (*run)(FILE *out);     /* OPT_ACTION */
	bool early;                /* on the command line, read before the file */
	const char *def;           /* the default, applied by the setter; NULL: zero */
	const char *def_doc;       /* the default in words, when def does not say it */
	const char *help;          /* `code` in backticks: plain in --help */
};

#define FIELD(m) .offset = offsetof(struct qs_config, m), \
		 .size = sizeof(((struct qs_config *)0)->m)

#define WORD(w, v)  { .word = (w), .value = (v) }
#define ALIAS(w, v) { .word = (w), .value = (v), .alias = true }
#define WORDS_END   { .word = NULL }

static const struct opt_word bool_words[] = {
	WORD("on", true), WORD("off", false),
	ALIAS("yes", true), ALIAS("no", false), ALIAS("true", true), ALIAS("false", false),
	ALIAS("1", true), ALIAS("0", false), WORDS_END,
};

/* fastcgi_keepalive has only ever taken these two */
static const struct opt_word on_off_words[] = {
	WORD("on", true), WORD("off", false), WORDS_END,
};

static const struct opt_word auto_word[] = { WORD("auto", 0), WORDS_END };

static const struct opt_word steering_words[] = {
	WORD("on", QS_STEER_ON), WORD("off", QS_STEER_OFF), WORD("baseline", QS_STEER_BASELINE),
	ALIAS("yes", QS_STEER_ON), ALIAS("true", QS_STEER_ON), ALIAS("1", QS_STEER_ON),
	ALIAS("no", QS_STEER_OFF), ALIAS("false", QS_STEER_OFF), ALIAS("0", QS_STEER_OFF),
	WORDS_END,
};

static const struct opt_word retry_words[] = {
	WORD("auto", QS_RETRY_AUTO), WORD("always", QS_RETRY_ALWAYS),
	WORD("never", QS_RETRY_NEVER), WORDS_END,
};

static const struct opt_word cc_words[] = {
	WORD("bbr", QS_CC_BBR), WORD("cubic", QS_CC_CUBIC), WORD("reno", QS_CC_RENO), WORDS_END,
};

static const struct opt_word unsafe_words[] = {
	WORD("defer", false), WORD("reject", true), WORDS_END,
};

static const struct opt_word log_format_words[] = {
	WORD("text", false), WORD("json", true), WORDS_END,
};

static const struct opt_word log_level_words[] = {
	WORD("warn", QS_LOG_WARN), WORD("info", QS_LOG_INFO), WORD("debug", QS_LOG_DEBUG),
	WORDS_END,
};

/* the help of --ticket-lifetime says "lifetime/14" */
_Static_assert(QS_TKEY_MAX == 16, "update the help of --ticket-lifetime");

static const struct opt options[] = {
	{
		.flag = "config", .short_flag = 'c', .metavar = "FILE",
		.type = OPT_STRING, FIELD(config_path), .early = true,
		.def = QS_DEFAULT_CONFIG,
		.help = "INI file, options in its `[quicsteer]` section; a missing default "
			"file is not an error, a missing `--config FILE` is",
	}, {
		.flag = "listen", .short_flag = 'l', .key = "listen", .metavar = "ADDR:PORT",
		.type = OPT_FUNC, .set = set_listen, .clear = clear_listen,
		.def = QS_DEFAULT_LISTEN,
		.help = "listen address, UDP (HTTP/3) and TCP (HTTP/2, HTTP/1.1; see "
			"`--tcp`), up to " STR(QS_MAX_LISTENERS) " (repeat the "
			"option or the key): IPv4 `1.2.3.4:443`, IPv6 `[::1]:443`, `*:443`; "
			"`[::]:443` is dual-stack. Addresses on the command line replace the "
			"file's list",
	}, {
		.flag = "tcp", .key = "tcp",
		.type = OPT_ENUM, FIELD(tcp), .words = on_off_words, .def = "on",
		.help = "HTTPS over TCP on the `--listen` addresses too: HTTP/2 and HTTP/1.1 "
			"(TLS 1.3 and 1.2, the same certificate and ticket keys), through the "
			"same handlers as HTTP/3",
	}, {
		.flag = "alt-svc", .key = "alt_svc",
		.type = OPT_ENUM, FIELD(alt_svc), .words = on_off_words, .def = "on",
		.help = "`alt-svc: h3=\":PORT\"; ma=86400` on every response over TCP, so "
			"browsers move to HTTP/3 on the same port",
	}, {
		.flag = "max-tcp-connections", .key = "max_tcp_connections", .metavar = "N",
		.type = OPT_UINT, FIELD(max_tcp_conns), .min = 1, .max = 1000000, .def = "16384",
		.help = "TCP connections per worker; more are closed at once (counted in "
			"`tcp_refused`)",
	}, {
		.flag = "accel-redirect", .key = "accel_redirect", .metavar = "PREFIX=DIR",
		.type = OPT_FUNC, .set = set_accel, .def = "off",
		.help = "the internal location of X-Accel-Redirect: a PHP answer with "
			"`x-accel-redirect: PREFIX/NAME` is answered with DIR/NAME (Range "
			"and conditional requests included) and the script's other fields, "
			"its php-fpm child free once the script ends; clients asking for "
			"PREFIX themselves get 404. DIR is read by the workers as `--user`. "
			"E.g. `/protected/=/srv/files`",
	}, {
		.flag = "rate-limit", .key = "rate_limit", .metavar = "R/s[,B]",
		.type = OPT_FUNC, .set = set_rate_limit, .def = "off",
		.help = "PHP requests a client may make: RATE a second, BURST at once "
			"(default RATE), counted per address (IPv6 per /64) over every "
			"worker and protocol; over it 429 with `retry-after`, before PHP "
			"runs (counted in `req_rate_limited`). Static files are not "
			"counted. `off`: no limit",
	}, {
		.flag = "keepalive-timeout", .key = "keepalive_timeout", .metavar = "SEC",
		.type = OPT_UINT, FIELD(keepalive_timeout_ms), .min = 1, .max = 3600,
		.scale = 1000, .unit = "seconds", .def = "60",
		.help = "a TCP connection with no request in progress is closed after this "
			"long",
	}, {
		.flag = "workers", .short_flag = 'w', .key = "workers", .metavar = "N",
		.type = OPT_UINT, FIELD(workers), .min = 1, .max = QS_MAX_WORKERS,
		.words = auto_word, .def = "auto",
		.help = "worker processes; `auto`: one per online CPU",
	}, {
		.flag = "instance", .short_flag = 'i', .key = "instance", .metavar = "NAME",
		.type = OPT_FUNC, .set = set_instance, .def = QS_DEFAULT_INSTANCE,
		.help = "instance name, 1.." STR(QS_INSTANCE_MAX) " of `[A-Za-z0-9_-]`: pins "
			"in `/sys/fs/bpf/quicsteer/NAME`, runtime files in `" QS_RUN_ROOT
			"/NAME`",
	}, {
		.flag = "steering", .key = "steering",
		.type = OPT_ENUM, FIELD(steering), .words = steering_words, .def = "on",
		.help = "CID steering (`on`) or plain `SO_REUSEPORT` hashing (`off`: for "
			"comparison, and for kernels without sk_reuseport BPF); `baseline` "
			"attaches an empty program instead, the reference of `make "
			"bench-steer` that hashes like `off`",
	}, {
		.flag = "user", .short_flag = 'u', .key = "user", .metavar = "NAME",
		.type = OPT_STRING, FIELD(user), .def = QS_DEFAULT_USER,
		.help = "unprivileged user the workers run as",
	}, {
		.flag = "seccomp", .key = "seccomp",
		.type = OPT_BOOL, FIELD(seccomp), .def = "on",
		.help = "workers run under a seccomp allow-list of the system calls they "
			"need; any other call kills the worker, which logs the call's name. "
			"`off` is for finding such a call, to report it",
	}, {
		.flag = "server-id", .key = "server_id", .metavar = "HEX",
		.type = OPT_FUNC, .set = set_server_id, .def = "01",
		.help = "plaintext QUIC-LB server id in every CID, 1.." STR(QS_CID_SID_MAX)
			" bytes in hex, `0x` allowed before them",
	}, {
		.flag = "rcvbuf", .key = "rcvbuf", .metavar = "BYTES",
		.type = OPT_UINT, FIELD(rcvbuf), .min = 0, .max = 1U << 30, .unit = "bytes",
		.note = "0: the kernel's default", .def = "4194304",
		.help = "receive buffer of each worker socket; set with `SO_RCVBUFFORCE`, "
			"so it may exceed `net.core.rmem_max` and a flood queues instead of "
			"dropping",
	}, {
		.flag = "cert", .key = "cert", .metavar = "FILE",
		.type = OPT_STRING, FIELD(cert), .def = QS_DEFAULT_CERT,
		.help = "TLS certificate chain, PEM, read by the loader as root; "
			"`scripts/gen-certs.sh` makes a development pair in `certs/`",
	}, {
		.flag = "key", .key = "key", .metavar = "FILE",
		.type = OPT_STRING, FIELD(key), .def = QS_DEFAULT_KEY,
		.help = "TLS private key, PEM, read by the loader as root: it may be "
			"readable by root only",
	}, {
		.flag = "docroot", .key = "docroot", .metavar = "DIR",
		.type = OPT_STRING, FIELD(docroot), .def = QS_DEFAULT_DOCROOT,
		.help = "static files; opened by the loader, read by the workers as "
			"`--user`, so it must be readable by that user (and its scripts by "
			"`--php-user` with the managed pool)",
	}, {
		/*
		 * Levels from `make bench-encode` (docs/benchmarks.md): on the demo
		 * page and a 100 KB HTML page, Brotli 4 and zstd 3 give about gzip
		 * 6's ratio or better for less CPU; higher levels cost 2-5 times
		 * the CPU for a few percent.
		 */
		.flag = "compress", .key = "compress",
		.type = OPT_BOOL, FIELD(compress), .def = "on",
		.help = "compress response bodies (PHP and static files without a "
			"precompressed variant) with Brotli, zstd or gzip as the client's "
			"`accept-encoding` prefers, for `--compress-types` of at least "
			"`--compress-min-size`; never Range answers, HEAD, 204/206/304, a "
			"response with its own `content-encoding` or "
			"`cache-control: no-transform`",
	}, {
		.flag = "compress-types", .key = "compress_types", .metavar = "LIST",
		.type = OPT_STRING, FIELD(compress_types),
		.def = "text/*, +json, +xml, application/javascript, application/wasm, "
		       "font/ttf, font/otf, image/x-icon, image/bmp",
		.help = "content types to compress, comma-separated: `type/*` for a whole "
			"type, `+suffix` for a structured syntax and its base type (`+xml`: "
			"`application/xml`, `image/svg+xml`), or exact types; parameters "
			"(`; charset=`) ignored",
	}, {
		.flag = "compress-min-size", .key = "compress_min_size", .metavar = "BYTES",
		.type = OPT_UINT, FIELD(compress_min_size), .min = 0, .max = 1U << 30,
		.unit = "bytes", .def = "512",
		.help = "a body of a known length below this is sent uncompressed (the "
			"coding's overhead outweighs the gain); one of unknown length is "
			"compressed",
	}, {
		.flag = "compress-br-level", .key = "compress_br_level", .metavar = "N",
		.type = OPT_UINT, FIELD(compress_br_level), .min = 0, .max = 11,
		.note = "0: no Brotli", .def = "4",
		.help = "Brotli quality (window 256 KB)",
	}, {
		.flag = "compress-zstd-level", .key = "compress_zstd_level", .metavar = "N",
		.type = OPT_UINT, FIELD(compress_zstd_level), .min = 0, .max = 19,
		.note = "0: no zstd", .def = "3",
		.help = "zstd level (window 256 KB)",
	}, {
		.flag = "compress-gzip-level", .key = "compress_gzip_level", .metavar = "N",
		.type = OPT_UINT, FIELD(compress_gzip_level), .min = 0, .max = 9,
		.note = "0: no gzip", .def = "5",
		.help = "gzip (deflate) level (window 32 KB)",
	}, {
		.flag = "precompressed", .key = "precompressed",
		.type = OPT_BOOL, FIELD(precompressed), .def = "on",
		.help = "serve `NAME.br`, `NAME.zst` or `NAME.gz` found next to a static "
			"file of a `--compress-types` type, when the client accepts that "
			"coding and the variant is not older than `NAME`, with `NAME`'s "
			"content type; a Range request gets `NAME` itself",
	}, {
		.flag = "static-cache-control", .key = "static_cache_control", .metavar = "VALUE",
		.type = OPT_STRING, FIELD(static_cache_control), .empty_ok = true,
		.def = "public, max-age=3600",
		.help = "`cache-control` of static files (not PHP's responses), with an "
			"`expires` date from its `max-age` over HTTP/1.x (for HTTP/1.0 "
			"caches; later ones ignore it); empty: neither",
	}, {
		.flag = "static-cache-fingerprinted", .key = "static_cache_fingerprinted",
		.metavar = "VALUE", .type = OPT_STRING, FIELD(static_cache_fingerprinted),
		.empty_ok = true, .def = "public, max-age=31536000, immutable",
		.help = "`cache-control` of static files whose name carries a content hash, "
			"which changes with the content (`app.3f2a1c9e.js`, "
			"`index-BFdJ7a3k.css`: a last `.` or `-` part before the extension of "
			"8 to 64 letters and digits, with a digit, all lowercase hex or mixed "
			"case); empty: as `--static-cache-control`",
	}, {
		.flag = "error-pages", .key = "error_pages", .metavar = "DIR",
		.type = OPT_STRING, FIELD(error_pages), .empty_ok = true, .def = "",
		.def_doc = "none",
		.help = "pages for the errors the server answers itself (404 of a static "
			"file, 502 with php-fpm down, 503, 431, ...): DIR/404.html, "
			"DIR/502.html, any of 400 to 599, each up to 64 KB; read by each "
			"worker as `--user` at its start, so a reload takes new ones; "
			"others get the built-in page. Empty: built-in pages only",
	}, {
		.flag = "retry", .key = "retry",
		.type = OPT_ENUM, FIELD(retry), .words = retry_words, .def = "auto",
		.help = "address validation with Retry: `always`, `never` (none at all: "
			"forged Initials can then hold the whole table until "
			"`--handshake-timeout`), or `auto`: once a worker sees more than "
			"`--retry-threshold` new handshakes per second or holds more than "
			"`--retry-unvalidated` connections of unvalidated clients",
	}, {
		.flag = "retry-threshold", .key = "retry_threshold", .metavar = "N",
		.type = OPT_UINT, FIELD(retry_threshold), .min = 1, .max = 10000000,
		.unit = "per second", .def = "2000",
		.help = "new handshakes per second and worker above which `--retry auto` "
			"sends Retry",
	}, {
		/*
		 * Honest half-open connections are the handshake rate times the
		 * handshake time: 25% of the default table (4096) is reached only
		 * at 2000 handshakes per second lasting 2 s each, where
		 * --retry-threshold sends Retry anyway; the other 75% stay for
		 * validated clients.
		 */
		.flag = "retry-unvalidated", .key = "retry_unvalidated", .metavar = "PERCENT",
		.type = OPT_UINT, FIELD(retry_unvalidated), .min = 1, .max = 100,
		.unit = "percent of `--max-connections`", .def = "25",
		.help = "a worker's connections of clients whose address is not validated "
			"yet (no valid Retry or NEW_TOKEN token, handshake not complete) "
			"above which new Initials without a token get a Retry instead of a "
			"connection (`retry_unvalidated`; not with `--retry never`), so "
			"forged Initials cannot take the table. A client with a valid token "
			"may use the whole table: when it is full, the oldest half-open "
			"connection makes room if older than 1 s (`hs_evicted`)",
	}, {
		.flag = "handshake-timeout", .key = "handshake_timeout", .metavar = "SEC",
		.type = OPT_UINT, FIELD(handshake_timeout_ms), .min = 1, .max = 600,
		.scale = 1000, .unit = "seconds", .def = "10",
		.help = "a connection whose handshake has not completed this long after "
			"its first Initial is dropped silently, counted in `hs_timeout`. 10 s "
			"let a handshake lose three flights at the first PTO of about 1 s "
			"(1 + 2 + 4 s)",
	}, {
		.flag = "idle-timeout", .key = "idle_timeout", .metavar = "SEC",
		.type = OPT_UINT, FIELD(idle_timeout_ms), .min = 1, .max = 3600, .scale = 1000,
		.unit = "seconds", .def = "30",
		.help = "QUIC idle timeout",
	}, {
		.flag = "max-streams", .key = "max_streams", .metavar = "N",
		.type = OPT_UINT, FIELD(max_streams), .min = 1, .max = 10000, .def = "100",
		.help = "concurrent requests per connection",
	}, {
		.flag = "metrics", .key = "metrics", .metavar = "ADDR:PORT",
		.type = OPT_FUNC, .set = set_metrics, .def = "off",
		.help = "Prometheus metrics (`/metrics`) and health (`/health`) over HTTP on "
			"this TCP address, like `127.0.0.1:9473` or `[::1]:9473`; `off` turns "
			"off what the file set",
	}, {
		.flag = "max-connections", .key = "max_connections", .metavar = "N",
		.type = OPT_UINT, FIELD(max_conns), .min = 1, .max = 1000000, .def = "16384",
		.help = "QUIC connections per worker, the memory bound: about 74 KB each "
			"idle after a handshake and a request (`make bench-idle`, 10,000), so "
			"16384 is about 1.2 GB per worker. A client beyond it gets `CONNECTION_REFUSED` "
			"at once, counted in `conn_refused`, unless half-open connections "
			"hold some of the table (see `--retry-unvalidated`)",
	}, {
		.flag = "files-per-connection", .key = "files_per_connection", .metavar = "N",
		.type = OPT_UINT, FIELD(files_per_conn), .min = 1, .max = 1024, .def = "16",
		.help = "files one connection's responses may hold open at once (files too "
			"large for the worker's cache, while they are sent); its further "
			"requests for such files wait their turn. The workers' descriptor "
			"limit is raised at start to what `--max-connections` connections "
			"holding this many need",
	}, {
		.flag = "max-response-memory", .key = "max_response_memory", .metavar = "SIZE",
		.type = OPT_SIZE, FIELD(max_response_memory), .def = "256M",
		.help = "response bytes a worker holds for its clients (queued, or sent and "
			"not yet acknowledged); each stream holds at most its window, but "
			"many stalled readers would add up. Above it new requests get 503 and "
			"those running go on",
	}, {
		.flag = "max-header-bytes", .key = "max_header_bytes", .metavar = "N",
		.type = OPT_UINT, FIELD(max_header_bytes), .min = 1024, .max = 1 << 24,
		.unit = "bytes", .def = "65536",
		.help = "request header block, counted as RFC 9114 counts it; a larger one "
			"gets 431",
	}, {
		.flag = "drain-timeout", .key = "drain_timeout", .metavar = "SEC",
		.type = OPT_UINT, FIELD(drain_timeout_ms), .min = 0, .max = 3600, .scale = 1000,
		.unit = "seconds", .def = "3",
		.help = "after GOAWAY on shutdown or reload, before closing what is left",
	}, {
		.flag = "cc", .key = "cc",
		.type = OPT_ENUM, FIELD(cc), .words = cc_words, .def = "cubic",
		.help = "congestion control. CUBIC: as fast as BBR for small responses and "
			"large files on loopback, and through a 40 Mbit/s link with a "
			"32-packet queue it lost under a third of the packets BBR lost, at the same "
			"speed (`make bench-h3`, `make bench-pace`, 2026-12-07)",
	}, {
		.flag = "pacing", .key = "pacing",
		.type = OPT_ENUM, FIELD(pacing), .words = on_off_words, .def = "on",
		.help = "send as the congestion controller paces: at most one send quantum "
			"per write, the rest at ngtcp2's pacing time. `off` writes until the "
			"congestion window is full (line-rate bursts that shallow router "
			"queues drop); it exists to measure the difference (`make bench-pace`)",
	}, {
		.flag = "qlog-dir", .key = "qlog_dir", .metavar = "DIR",
		.type = OPT_STRING, FIELD(qlog_dir), .empty_ok = true, .def = "",
		.def_doc = "off",
		.help = "debugging: ngtcp2's qlog (JSON-SEQ) of every QUIC connection, "
			"one file DIR/ODCID.sqlog each, written by the workers as `--user` "
			"(DIR must be writable by it). Costs CPU and unbounded disk: not "
			"for production. Empty: off",
	}, {
		.flag = "fastcgi", .key = "fastcgi", .metavar = "MODE",
		.type = OPT_FUNC, .set = set_fastcgi, .def = "off",
		.help = "where `.php` scripts go: `off` (static files only), `managed` (the "
			"loader runs a php-fpm pool as `--php-user` on a unix socket in its "
			"runtime directory, restarts it, stops it; `make run` uses it), "
			"`unix:/path` or `tcp:HOST:PORT`: an existing pool, nothing started",
	}, {
		.flag = "php-max-children", .key = "php_max_children", .metavar = "N",
		.type = OPT_UINT, FIELD(php_max_children), .min = 1, .max = 4096,
		.def_doc = "4 per CPU",
		.help = "children of the pool: the managed pool's size (`pm = static`); "
			"each worker keeps at most its share of FastCGI connections",
	}, {
		.flag = "php-user", .key = "php_user", .metavar = "NAME",
		.type = OPT_STRING, FIELD(php_user), .def = QS_DEFAULT_PHP_USER,
		.help = "user of the managed pool's children, never root nor the workers' "
			"`--user`: PHP code can then neither signal, trace nor read a worker. "
			"`scripts/setup.sh` creates the default one. Not used with an existing "
			"pool (`--fastcgi unix:` or `tcp:`)",
	}, {
		.flag = "php-status-path", .key = "php_status_path", .metavar = "PATH",
		.type = OPT_STRING, FIELD(php_status_path), .empty_ok = true, .def_doc = "none",
		.help = "an existing pool's `pm.status_path`: the loader reads the pool's "
			"state from it every 2 s for `quicsteerctl status` and /metrics "
			"(busy and idle processes, listen queue). The managed pool's is "
			"always read; without this option an existing pool's state is unknown",
	}, {
		.flag = "index", .key = "index", .metavar = "SCRIPT",
		.type = OPT_FUNC, .set = set_index, .def_doc = "none",
		.help = "front controller: a path that is not a static file goes to SCRIPT, "
			"a `.php` file relative to the docroot (like nginx `try_files $uri "
			"/index.php$is_args$args`), `REQUEST_URI` kept",
	}, {
		.flag = "max-body", .key = "max_body", .metavar = "BYTES",
		.type = OPT_SIZE, FIELD(max_body), .def = "64M",
		.help = "largest request body for PHP; 413 above",
	}, {
		.flag = "php-request-buffering", .key = "php_request_buffering",
		.type = OPT_ENUM, FIELD(php_request_buffering), .words = on_off_words,
		.def = "on",
		.help = "receive a request body whole before its request goes to php-fpm (in "
			"memory up to --body-buffer-size, beyond in an unlinked file in "
			"--body-temp-dir), so a slow or stalled upload never holds a php-fpm "
			"child. `off` streams the body to php-fpm as it arrives: no disk and "
			"less latency for large uploads, but a client that stalls mid-body "
			"holds a child until --fastcgi-timeout",
	}, {
		.flag = "body-buffer-size", .key = "body_buffer_size", .metavar = "BYTES",
		.type = OPT_SIZE, FIELD(body_buffer_size), .def = "64K",
		.help = "a buffered request body up to this stays in memory; a larger one "
			"goes to a file",
	}, {
		.flag = "body-temp-dir", .key = "body_temp_dir", .metavar = "DIR",
		.type = OPT_STRING, FIELD(body_temp_dir), .def = "/tmp",
		.help = "where buffered bodies over --body-buffer-size go (O_TMPFILE: never "
			"visible, gone with the request); writable by --user",
	}, {
		.flag = "max-body-temp", .key = "max_body_temp", .metavar = "SIZE",
		.type = OPT_SIZE, FIELD(max_body_temp), .def = "1G",
		.help = "disk the bodies one worker buffers in --body-temp-dir may take "
			"at once (and at most 1024 files); a body that would go beyond gets "
			"503, so uploads cannot fill the disk",
	}, {
		.flag = "php-max-per-connection", .key = "php_max_per_connection", .metavar = "N",
		.type = OPT_UINT, FIELD(php_max_per_conn), .min = 0, .max = 65536,
		.note = "0: half the worker's share of the pool, at least 1", .def = "0",
		.help = "php-fpm children the requests of one client connection may hold at "
			"once; its further PHP requests wait their turn, so one connection "
			"with many slow requests cannot take the whole pool",
	}, {
		.flag = "client-header-timeout", .key = "client_header_timeout", .metavar = "SEC",
		.type = OPT_UINT, FIELD(client_header_timeout_ms), .min = 1, .max = 86400,
		.scale = 1000, .unit = "seconds", .def = "10",
		.help = "a request's header block not complete this long after it began: "
			"the stream is reset (a client that trickles its header fields, or "
			"sends a block QPACK cannot decode, holds the worker's memory no "
			"longer)",
	}, {
		.flag = "client-body-timeout", .key = "client_body_timeout", .metavar = "SEC",
		.type = OPT_UINT, FIELD(client_body_timeout_ms), .min = 1, .max = 86400,
		.scale = 1000, .unit = "seconds", .def = "30",
		.help = "no request body byte this long: 408 and the rest of the body "
			"refused (a reset once the response began)",
	}, {
		.flag = "send-timeout", .key = "send_timeout", .metavar = "SEC",
		.type = OPT_UINT, FIELD(send_timeout_ms), .min = 1, .max = 86400,
		.scale = 1000, .unit = "seconds", .def = "60",
		.help = "the client took no response byte this long: the stream is reset and "
			"its handler lets go (a paused FastCGI read included)",
	}, {
		.flag = "fastcgi-timeout", .key = "fastcgi_timeout", .metavar = "SEC",
		.type = OPT_UINT, FIELD(fastcgi_timeout_ms), .min = 1, .max = 86400,
		.scale = 1000, .unit = "seconds", .def = "60",
		.help = "no byte from the pool this long: 504, or a reset once the response "
			"started",
	}, {
		.flag = "fastcgi-keepalive", .key = "fastcgi_keepalive",
		.type = OPT_ENUM, FIELD(fastcgi_keepalive), .words = on_off_words, .def = "on",
		.help = "keep FastCGI connections open between requests (the managed pool "
			"is `pm = static`). Use `off` for a pool with `pm = ondemand` or "
			"`dynamic`: php-fpm counts a child on a kept-alive connection as idle "
			"and does not start children for new connections",
	}, {
		.flag = "ticket-keys", .key = "ticket_keys", .metavar = "SRC",
		.type = OPT_FUNC, .set = set_ticket_keys, .def = "auto",
		.help = "session ticket keys, shared by every worker: `auto` (random at "
			"start, rotated every `--ticket-rotate`), `file:PATH[,PATH...]` (up "
			"to " STR(QS_TICKET_PATHS_MAX) " nginx-format 80-byte key files; the "
			"first encrypts, the others only decrypt; read again on SIGHUP and "
			"`quicsteerctl reload-keys`) or `fleet:PATH`: a secret of 32 bytes or "
			"more that every host of a fleet shares, from which each derives "
			"the key of every `--ticket-rotate` epoch with HKDF-SHA256",
	}, {
		.flag = "ticket-rotate", .key = "ticket_rotate", .metavar = "DUR",
		.type = OPT_DURATION, FIELD(ticket_rotate_s), .min = 1, .max = 365 * 86400,
		.def = "12h",
		.help = "with `auto` and `fleet` keys: a new encrypt key this often",
	}, {
		.flag = "ticket-lifetime", .key = "ticket_lifetime", .metavar = "DUR",
		/* TLS 1.3 caps a ticket's lifetime at 7 days (RFC 8446 4.6.1) */
		.type = OPT_DURATION, FIELD(ticket_lifetime_s), .min = 1, .max = 7 * 86400,
		.note = "TLS 1.3's limit", .def = "24h",
		.help = "tickets are valid this long, and a retired key still decrypts this "
			"long. At most " STR(QS_TKEY_MAX) " keys are in force: rotate at least "
			"every lifetime/14",
	}, {
		.flag = "early-data", .key = "early_data",
		.type = OPT_BOOL, FIELD(early_data), .def = "on",
		.help = "accept 0-RTT requests from resumed clients, with a host-wide "
			"anti-replay register",
	}, {
		.flag = "early-data-unsafe", .key = "early_data_unsafe",
		.type = OPT_ENUM, FIELD(early_unsafe_reject), .words = unsafe_words,
		.def = "defer",
		.help = "methods other than GET, HEAD and OPTIONS received in 0-RTT: "
			"`defer` runs them once the handshake completes, `reject` answers "
			"425 Too Early",
	}, {
		.flag = "xdp-guard", .key = "xdp_guard", .metavar = "IFACE[,IFACE...]",
		.type = OPT_FUNC, .set = set_xdp_guard, .def = "off",
		.help = "attach the XDP guard (libxdp) to these interfaces, up to "
			STR(QS_GUARD_MAX_IFACES) " (`lo` works, in generic mode): it drops "
			"datagrams to the listen addresses that cannot be QUIC, rate-limits "
			"client Initials per source and applies the `qs_guard_block` "
			"blocklist; `off` turns off what the file set",
	}, {
		/* a rate must refill; bursts up to 1e6 keep burst * interval in 64 bits */
		.flag = "xdp-guard-rate", .key = "xdp_guard_rate", .metavar = "N",
		.type = OPT_UINT, FIELD(guard_rate), .min = 1, .max = 10000000,
		.unit = "per second", .def = "100",
		.help = "client Initials per second from one source, an IPv4 /32 or an "
			"IPv6 /64",
	}, {
		.flag = "xdp-guard-burst", .key = "xdp_guard_burst", .metavar = "N",
		.type = OPT_UINT, FIELD(guard_burst), .min = 0, .max = 1000000,
		.note = "0: no limit", .def = "200",
		.help = "bucket size for those Initials",
	}, {
		.flag = "xdp-guard-vn-rate", .key = "xdp_guard_vn_rate", .metavar = "N",
		.type = OPT_UINT, FIELD(guard_vn_rate), .min = 1, .max = 10000000,
		.unit = "per second", .def = "5",
		.help = "long headers of unknown versions, answered with Version "
			"Negotiation, per second from one source",
	}, {
		.flag = "xdp-guard-vn-burst", .key = "xdp_guard_vn_burst", .metavar = "N",
		.type = OPT_UINT, FIELD(guard_vn_burst), .min = 0, .max = 1000000,
		.note = "0: no limit", .def = "10",
		.help = "bucket size for those",
	}, {
		.flag = "foreground", .short_flag = 'f', .key = "foreground", .flag_value = "on",
		.type = OPT_BOOL, FIELD(foreground), .def = "off",
		.help = "stay in the foreground, log to stderr; in the file: `foreground = "
			"on`",
	}, {
		.flag = "log-file", .key = "log_file", .metavar = "FILE",
		.type = OPT_STRING, FIELD(log_file), .empty_ok = true, .def = "",
		.def_doc = "stderr in the foreground, `" QS_LOG_ROOT "/NAME.log` otherwise",
		.help = "log here",
	}, {
		.flag = "log-level", .key = "log_level",
		.type = OPT_ENUM, FIELD(log_level), .words = log_level_words, .def = "info",
		.help = "`debug` includes libbpf's messages and the verifier log",
	}, {
		.flag = "log-format", .key = "log_format",
		.type = OPT_ENUM, FIELD(log_json), .words = log_format_words, .def = "text",
		.help = "the server's own log lines: `text`, or `json` (one object a line: "
			"time, level, pid, worker, msg)",
	}, {
		.flag = "access-log", .key = "access_log", .metavar = "PATH",
		.type = OPT_FUNC, .set = set_access_log, .def = "off",
		.help = "one JSON line per request here (absolute path; its directory must "
			"exist); the loader creates the file for the workers' user, workers "
			"reopen it on SIGUSR1; `off`: none",
	}, {
		.flag = "check-config", .short_flag = 't', .flag_value = "on",
		.type = OPT_BOOL, FIELD(check_config), .def = "off",
		.help = "check the configuration, certificate, key, docroot, users and that "
			"the BPF programs load, then exit: 0 when it would start (a binary "
			"upgrade runs the new binary so first)",
	}, {
		.flag = "upgrade-state", .metavar = "FD",
		.type = OPT_UINT, FIELD(upgrade_state), .min = 3, .max = 1048576,
		.def_doc = "none",
		.help = "internal to a binary upgrade (SIGUSR2): adopt the running "
			"instance's state from this file descriptor",
	}, {
		.flag = "upgrade-failed", .flag_value = "on",
		.type = OPT_BOOL, FIELD(upgrade_failed), .def = "off",
		.help = "internal to a binary upgrade: the new binary could not adopt the "
			"state, the previous one resumes it without a reload",
	}, {
		.flag = "help", .short_flag = 'h', .type = OPT_ACTION, .run = qs_usage,
		.help = "print this help",
	}, {
		.flag = "help-markdown", .type = OPT_ACTION, .run = qs_options_markdown,
		.help = "print the options as a Markdown table, the one in "
			"`docs/configuration.md`",
	}, {
		.flag = "help-man", .type = OPT_ACTION, .run = qs_options_man,
		.help = "print the man page quicsteerd(8), in roff",
	}, {
		.flag = "help-config", .type = OPT_ACTION, .run = qs_options_config,
		.help = "print a config file with every option commented out at its "
			"default, the one the Debian package installs",
	}, {
		.flag = "version", .short_flag = 'V', .type = OPT_ACTION, .run = print_version,
		.help = "print the version",
	},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* ---- applying a value ---------------------------------------------------- */

static const struct opt_word *opt_words(const struct opt *o)
{
	return o->type == OPT_BOOL ? bool_words : o->words;
}

static const struct opt_word *find_word(const struct opt *o, const char *value)
{
	for (const struct opt_word *w = opt_words(o); w && w->word; w++)
		if (!strcmp(w->word, value))
			return w;
	return NULL;
}

/* the listed words: "bbr, cubic or reno" (sep ", "), "bbr|cubic|reno" (sep "|") */
static void join_words(const struct opt *o, const char *sep, const char *last,
		       char *buf, size_t len)
{
	const struct opt_word *w = opt_words(o);
	size_t n = 0, i = 0, used = 0;

	for (const struct opt_word *c = w; c && c->word; c++)
		n += !c->alias;
	buf[0] = '\0';
	for (; w && w->word; w++) {
		if (w->alias)
			continue;
		used += snprintf(buf + used, used < len ? len - used : 0, "%s%s",
				 i == 0 ? "" : i + 1 == n ? last : sep, w->word);
		i++;
	}
}

/*
 * The values an option takes: for a message, after "expected " ("1..64 or
 * auto", "0..1000000 (0: no limit)", "bbr, cubic or reno"); for help, after
 * its text ("0..1000000, 0: no limit"; nothing for words, the flag shows
 * them).
 */
static void describe_values(const struct opt *o, bool message, char *buf, size_t len)
{
	char words[80], lo[16], hi[16], note[80] = "";

	if (o->note)
		snprintf(note, sizeof(note), message ? " (%s)" : ", %s", o->note);
	buf[0] = '\0';
	switch (o->type) {
	case OPT_UINT:
		join_words(o, ", ", " or ", words, sizeof(words));
		snprintf(buf, len, "%u..%u%s%s%s%s%s", o->min, o->max, words[0] ? " or " : "",
			 words, o->unit ? " " : "", o->unit ?: "", note);
		break;
	case OPT_DURATION:
		format_duration(o->min, lo, sizeof(lo));
		format_duration(o->max, hi, sizeof(hi));
		if (message)
			snprintf(buf, len, "a duration of %s..%s%s, in seconds or with s, m, h, "
				 "d (like 3600, 30m, 12h)", lo, hi, note);
		else
			snprintf(buf, len, "%s..%s%s", lo, hi, note);
		break;
	case OPT_SIZE:
		snprintf(buf, len, message ? "bytes (suffix K, M, G)" : "suffix K, M, G");
		break;
	case OPT_BOOL:
	case OPT_ENUM:
		if (message)
			join_words(o, ", ", " or ", buf, len);
		break;
	default:	/* OPT_FUNC says it itself, OPT_STRING and OPT_ACTION need not */
		break;
	}
}

static void *field_of(struct qs_config *cfg, const struct opt *o)
{
	return (char *)cfg + o->offset;
}

static int set_typed(struct qs_config *cfg, const struct opt *o, const char *name,
		     const char *value, char *err, size_t errlen)
{
	const struct opt_word *w = find_word(o, value);
	void *dst = field_of(cfg, o);
	char allowed[160];
	size_t n = strlen(value);
	unsigned u;
	int ret;

	switch (o->type) {
	case OPT_UINT:
		if (w) {
			*(unsigned *)dst = (unsigned)w->value;
			return 0;
		}
		if (parse_uint(value, o->min, o->max, &u))
			break;
		*(unsigned *)dst = u * (o->scale ?: 1);
		return 0;
	case OPT_BOOL:
	case OPT_ENUM:
		if (!w)
			break;
		if (o->size == sizeof(bool))
			*(bool *)dst = w->value;
		else
			*(int *)dst = w->value;
		return 0;
	case OPT_DURATION:
		if (parse_duration(value, o->min, o->max, dst))
			break;
		return 0;
	case OPT_SIZE:
		ret = parse_size(value, dst);
		if (ret == -ERANGE) {
			snprintf(err, errlen, "%s '%s': too large; at most 2^63 - 1 bytes", name,
				 value);
			return -EINVAL;
		}
		if (ret)
			break;
		return 0;
	case OPT_STRING:
		if (!n && !o->empty_ok) {
			snprintf(err, errlen, "%s: empty; expected 1..%zu bytes", name, o->size - 1);
			return -EINVAL;
		}
		if (n >= o->size) {
			snprintf(err, errlen, "%s '%.64s%s': longer than %zu bytes", name, value,
				 n > 64 ? "..." : "", o->size - 1);
			return -EINVAL;
		}
		memcpy(dst, value, n + 1);
		return 0;
	case OPT_FUNC:
		return o->set(cfg, name, value, err, errlen);
	case OPT_ACTION:
		snprintf(err, errlen, "%s: takes no value", name);
		return -EINVAL;
	}
	describe_values(o, true, allowed, sizeof(allowed));
	snprintf(err, errlen, "%s '%s': expected %s", name, value, allowed);
	return -EINVAL;
}

/*
 * Settings come from three sources in turn: the defaults, the config file,
 * the command line.  A repeatable option (one with .clear: --listen) adds
 * to its list within a source; its first value in a source replaces the
 * list an earlier source made.
 */
struct source {
	bool seen[N_OPTIONS];
};

static int apply(struct qs_config *cfg, struct source *src, const struct opt *o,
		 const char *name, const char *value, char *err, size_t errlen)
{
	size_t i = (size_t)(o - options);

	if (src && o->clear && !src->seen[i])
		o->clear(cfg);
	if (src)
		src->seen[i] = true;
	return set_typed(cfg, o, name, value, err, errlen);
}

/* "max_body" and "max-body" both name --max-body, as they always did */
static bool same_name(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (*a != *b && !(strchr("-_", *a) && strchr("-_", *b)))
			return false;
	return *a == *b;
}

static const struct opt *find_option(const char *name)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (same_name(options[i].flag, name))
			return &options[i];
	return NULL;
}

/* an option of the config file (or of qs_config_set) by key */
static int set_by_key(struct qs_config *cfg, struct source *src, const char *name,
		      const char *value, char *err, size_t errlen)
{
	const struct opt *o = find_option(name);

	if (!o) {
		snprintf(err, errlen, "unknown option '%s' (quicsteerd --help lists them)", name);
		return -ENOENT;
	}
	if (!o->key) {
		snprintf(err, errlen, "'%s' is an option of the command line only (--%s)",
			 name, o->flag);
		return -ENOENT;
	}
	return apply(cfg, src, o, name, value, err, errlen);
}

int qs_config_set(struct qs_config *cfg, const char *name, const char *value,
		  char *err, size_t errlen)
{
	return set_by_key(cfg, NULL, name, value, err, errlen);
}

/* What the rest of this file takes for granted of every row. */
static int check_option(const struct opt *o, char *err, size_t errlen)
{
	size_t want = 0;
	char key[32];

	switch (o->type) {
	case OPT_UINT:
	case OPT_DURATION:
		want = sizeof(unsigned);
		break;
	case OPT_SIZE:
		want = sizeof(uint64_t);
		break;
	case OPT_BOOL:
		want = sizeof(bool);
		break;
	case OPT_ENUM:
		want = o->size == sizeof(bool) ? sizeof(bool) : sizeof(int);
		break;
	default:
		break;
	}
	if (want && o->size != want) {
		snprintf(err, errlen, "its field has %zu bytes, its type wants %zu", o->size, want);
		return -EINVAL;
	}
	if ((o->type == OPT_ENUM && !o->words) || (o->type == OPT_FUNC && !o->set) ||
	    (o->type == OPT_ACTION && !o->run)) {
		snprintf(err, errlen, "no words, setter or action for its type");
		return -EINVAL;
	}
	if (!o->help || (o->type == OPT_ACTION && (o->key || o->def))) {
		snprintf(err, errlen, "no help, or an action with a key or default");
		return -EINVAL;
	}
	/* --help promises: the key is the flag with '_' for '-' */
	snprintf(key, sizeof(key), "%s", o->flag);
	for (char *p = key; *p; p++)
		if (*p == '-')
			*p = '_';
	if (o->key && strcmp(o->key, key)) {
		snprintf(err, errlen, "key '%s' is not '%s'", o->key, key);
		return -EINVAL;
	}
	for (const struct opt *p = options; p < o; p++)
		if (same_name(p->flag, o->flag) || (o->short_flag && p->short_flag == o->short_flag)) {
			snprintf(err, errlen, "flag given twice");
			return -EINVAL;
		}
	return 0;
}

int qs_config_defaults(struct qs_config *cfg)
{
	struct source src = { 0 };
	char err[256];
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	for (const struct opt *o = options; o < options + N_OPTIONS; o++) {
		ret = check_option(o, err, sizeof(err));
		if (!ret && o->def)
			ret = apply(cfg, &src, o, o->flag, o->def, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "quicsteerd: option table, --%s: %s\n", o->flag, err);
			return ret;
		}
	}
	return 0;
}

/* ---- help ---------------------------------------------------------------- */

static void metavar_of(const struct opt *o, char *buf, size_t len)
{
	buf[0] = '\0';
	if (o->type == OPT_ACTION || o->flag_value)
		return;
	if (o->metavar)
		snprintf(buf, len, "%s", o->metavar);
	else
		join_words(o, "|", "|", buf, len);
}

/* the default as documented: "`auto`", "4 per CPU", "" (none to say) */
static const char *default_of(const struct opt *o, char *buf, size_t len)
{
	if (o->def_doc)
		return o->def_doc;
	if (!o->def || !o->def[0])
		return "";
	snprintf(buf, len, "`%s`", o->def);
	return buf;
}

/* help text, values and default: what --help prints right of the flag */
static void describe(const struct opt *o, bool with_default, char *buf, size_t len)
{
	char values[160], def[300];
	const char *d = with_default ? default_of(o, def, sizeof(def)) : "";
	size_t used = (size_t)snprintf(buf, len, "%s", o->help);

	if (used >= len)
		return;
	describe_values(o, false, values, sizeof(values));
	if (values[0] && d[0])
		snprintf(buf + used, len - used, " (%s; default %s)", values, d);
	else if (values[0])
		snprintf(buf + used, len - used, " (%s)", values);
	else if (d[0])
		snprintf(buf + used, len - used, " (default %s)", d);
}

/* Words of text from column col on, wrapped at HELP_WIDTH, each further
 * line after lead; backticks (code in Markdown) are dropped. */
static void print_wrapped(FILE *out, const char *text, int col, const char *lead)
{
	int indent = (int)strlen(lead);

	bool line_empty = true;

	while (*text) {
		size_t n, shown = 0;

		text += strspn(text, " ");
		n = strcspn(text, " ");
		if (!n)
			break;
		for (size_t i = 0; i < n; i++)
			shown += text[i] != '`';
		if (!line_empty && col + 1 + (int)shown > HELP_WIDTH) {
			fprintf(out, "\n%s", lead);
			col = indent;
			line_empty = true;
		}
		if (!line_empty) {
			fputc(' ', out);
			col++;
		}
		for (size_t i = 0; i < n; i++)
			if (text[i] != '`')
				fputc(text[i], out);
		col += (int)shown;
		line_empty = false;
		text += n;
	}
	fputc('\n', out);
}

/* The prose of --help, also the man page's (which fills the lines again). */
static const char help_about[] =
"HTTP/3 edge server loader: forks one worker per CPU and steers every QUIC\n"
"datagram to the worker that owns its connection ID (eBPF sk_reuseport).\n"
"Options override the config file.  Runs as root.\n";

static const char help_file[] =
"In the config file, an option is KEY = VALUE in [quicsteer], KEY being its\n"
"name with '_' for '-' (max_body = 1M), all but --config, --help*, --version.\n"
"DUR: seconds, or a number with s, m, h or d (90, 30m, 12h, 7d).\n";

static const char help_signals[] =
"SIGTERM/SIGINT: GOAWAY, drain, stop everything, remove the pins.\n"
"SIGHUP: reload: a new generation of workers with the certificate, key and\n"
"docroot read again (other settings need a restart) takes new connections;\n"
"the old one keeps its connections, sends GOAWAY, drains (--drain-timeout)\n"
"and exits.  Refused, with the reason logged, while a previous generation\n"
"drains or when the certificate is unusable.  Also re-reads the ticket keys\n"
"(also: quicsteerctl reload-keys).\n";

static const char help_inspect[] =
"Inspect: scripts/inspect.sh [NAME], or bpftool map dump pinned\n"
"/sys/fs/bpf/quicsteer/NAME/qs_steer_stats.\n";

int qs_usage(FILE *out)
{
	char left[64], meta[64], text[1200], lead[HELP_COL + 1];

	memset(lead, ' ', HELP_COL);
	lead[HELP_COL] = '\0';
	fprintf(out, "Usage: quicsteerd [OPTION]...\n%s%s\n", help_about, help_file);
	for (const struct opt *o = options; o < options + N_OPTIONS; o++) {
		int col;

		metavar_of(o, meta, sizeof(meta));
		col = snprintf(left, sizeof(left), "  %c%c%s--%s%s%s",
			       o->short_flag ? '-' : ' ', o->short_flag ?: ' ',
			       o->short_flag ? ", " : "  ", o->flag, meta[0] ? " " : "", meta);
		fputs(left, out);
		if (col > HELP_COL - 2) {	/* too wide: the help starts below */
			fprintf(out, "\n%*s", HELP_COL, "");
		} else {
			fprintf(out, "%*s", HELP_COL - col, "");
		}
		describe(o, true, text, sizeof(text));
		print_wrapped(out, text, HELP_COL, lead);
	}
	fprintf(out, "\nSignals: %s%s", help_signals, help_inspect);
	return flushed(out);
}

/* A Markdown table cell: `code` kept, '|' escaped everywhere (GitHub's
 * tables split on it even in code), and outside code what would start
 * emphasis, a link or HTML. */
static void print_cell(FILE *out, const char *text)
{
	bool code = false;

	for (const char *p = text; *p; p++) {
		bool inword = p > text && isalnum((unsigned char)p[-1]) &&
			      isalnum((unsigned char)p[1]);

		if (*p == '`')
			code = !code;
		if (*p == '|' || (!code && (strchr("\\*[]<", *p) || (*p == '_' && !inword))))
			fputc('\\', out);
		fputc(*p, out);
	}
}

int qs_options_markdown(FILE *out)
{
	char meta[64], flag[128], cell[1200], def[300];

	fprintf(out, "| flag | config key | default | meaning |\n|---|---|---|---|\n");
	for (const struct opt *o = options; o < options + N_OPTIONS; o++) {
		metavar_of(o, meta, sizeof(meta));
		if (o->short_flag)
			snprintf(flag, sizeof(flag), "`-%c`, `--%s%s%s`", o->short_flag, o->flag,
				 meta[0] ? " " : "", meta);
		else
			snprintf(flag, sizeof(flag), "`--%s%s%s`", o->flag, meta[0] ? " " : "",
				 meta);
		fprintf(out, "| ");
		print_cell(out, flag);
		fprintf(out, " | ");
		if (o->key)
			fprintf(out, "`%s`%s", o->key, o->clear ? " (repeat)" : "");
		fprintf(out, " | ");
		print_cell(out, default_of(o, def, sizeof(def)));
		fprintf(out, " | ");
		describe(o, false, cell, sizeof(cell));
		print_cell(out, cell);
		fprintf(out, " |\n");
	}
	return flushed(out);
}

/*
 * roff text for the man page: `code` in bold, '-' as \- (a hyphen would
 * not match when searched for, nor copy as the minus of an option), '\'
 * as \e; a line that would start with '.' or '\'' (a request) starts
 * with \& instead.
 */
static void print_roff(FILE *out, const char *text)
{
	bool code = false, line_start = true;

	for (const char *p = text; *p; p++) {
		if (line_start && (*p == '.' || *p == '\''))
			fputs("\\&", out);
		line_start = *p == '\n';
		if (*p == '`') {
			code = !code;
			fputs(code ? "\\fB" : "\\fR", out);
		} else if (*p == '-') {
			fputs("\\-", out);
		} else if (*p == '\\') {
			fputs("\\e", out);
		} else {
			fputc(*p, out);
		}
	}
}

/*
 * The man page's date: SOURCE_DATE_EPOCH's when set, so that a package
 * built twice from one commit is the same (reproducible-builds.org), else
 * today's.
 */
static void man_date(char *buf, size_t len)
{
	const char *env = getenv("SOURCE_DATE_EPOCH");
	time_t t = time(NULL);
	struct tm tm;
	char *end;

	if (env && digit_first(env)) {
		unsigned long long v = strtoull(env, &end, 10);

		if (!*end)
			t = (time_t)v;
	}
	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d", &tm))
		snprintf(buf, len, "1970-01-01");
}

/* quicsteerd.8: the prose of --help and one entry per option of the table */
int qs_options_man(FILE *out)
{
	char meta[64], text[1200], date[32];

	man_date(date, sizeof(date));
	fprintf(out, ".TH QUICSTEERD 8 %s \"quicsteer %s\" \"System Administration\"\n"
		".SH NAME\nquicsteerd \\- HTTP/3 and HTTPS server loader with eBPF connection "
		"steering\n.SH SYNOPSIS\n.B quicsteerd\n[\\fIOPTION\\fR]...\n"
		".SH DESCRIPTION\n", date, QS_VERSION);
	print_roff(out, help_about);
	fprintf(out, ".SH OPTIONS\n");
	for (const struct opt *o = options; o < options + N_OPTIONS; o++) {
		metavar_of(o, meta, sizeof(meta));
		fprintf(out, ".TP\n");
		if (o->short_flag)
			fprintf(out, "\\fB\\-%c\\fR, ", o->short_flag);
		fprintf(out, "\\fB");
		print_roff(out, "--");
		print_roff(out, o->flag);
		fprintf(out, "\\fR");
		if (meta[0]) {
			fprintf(out, " \\fI");
			print_roff(out, meta);
			fprintf(out, "\\fR");
		}
		fprintf(out, "\n");
		describe(o, true, text, sizeof(text));
		print_roff(out, text);
		if (o->key) {
			fprintf(out, ".\nIn the file: \\fB");
			print_roff(out, o->key);
			fprintf(out, "\\fR%s", o->clear ? ", repeated for more" : "");
		}
		fprintf(out, ".\n");
	}
	fprintf(out, ".SH CONFIGURATION FILE\n");
	print_roff(out, help_file);
	fprintf(out, ".PP\n\\fBquicsteerd \\-\\-help\\-config\\fR prints a file with every "
		"option commented out at its default.\n.SH SIGNALS\n");
	print_roff(out, help_signals);
	fprintf(out, ".SH FILES\n.TP\n.I %s\nthe default config file\n"
		".TP\n.IR %s/ NAME\npid file, reload outcome, ticket key names, managed php\\-fpm\n"
		".TP\n.IR %s/ NAME\npinned BPF maps and programs\n"
		".TP\n.IR %s/ NAME .log\nthe log when daemonized\n"
		".SH SEE ALSO\n.BR quicsteerctl (8),\n.BR php\\-fpm (8),\n.BR bpftool (8)\n",
		QS_DEFAULT_CONFIG, QS_RUN_ROOT, QS_PIN_ROOT, QS_LOG_ROOT);
	return flushed(out);
}

/*
 * A config file with every option of the file commented out at its
 * default, its help above it: what the Debian package installs.
 */
int qs_options_config(FILE *out)
{
	char meta[64], text[1200];

	fprintf(out, "# quicsteerd's configuration (INI): %s, or the file\n"
		"# of --config FILE.  Every option is below, commented out at its default;\n"
		"# options on the command line override the file.  quicsteerd --help and\n"
		"# man quicsteerd say more.  DUR: seconds, or a number with s, m, h or d.\n"
		"[quicsteer]\n", QS_DEFAULT_CONFIG);
	for (const struct opt *o = options; o < options + N_OPTIONS; o++) {
		if (!o->key)
			continue;
		describe(o, true, text, sizeof(text));
		fprintf(out, "\n# ");
		print_wrapped(out, text, 2, "# ");
		if (o->def && o->def[0]) {
			fprintf(out, "#%s = %s\n", o->key, o->def);
		} else {
			metavar_of(o, meta, sizeof(meta));
			fprintf(out, "#%s = %s\n", o->key, meta);
		}
	}
	return flushed(out);
}

/* ---- the config file ----------------------------------------------------- */

struct ini_ctx {
	struct qs_config *cfg;
	struct source src;
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
	if (set_by_key(ctx->cfg, &ctx->src, name, value, ctx->err, sizeof(ctx->err)))
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

/* ---- the command line ---------------------------------------------------- */

#define LONG_VAL 0x100	/* getopt_long's value for options[i]: LONG_VAL + i */

static void build_getopt(struct option *longs, char *shorts)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct opt *o = &options[i];
		bool arg = o->type != OPT_ACTION && !o->flag_value;

		longs[i] = (struct option){ o->flag, arg ? required_argument : no_argument,
					    NULL, LONG_VAL + (int)i };
		if (o->short_flag) {
			*shorts++ = o->short_flag;
			if (arg)
				*shorts++ = ':';
		}
	}
	longs[N_OPTIONS] = (struct option){ 0 };
	*shorts = '\0';
}

static const struct opt *from_getopt(int c)
{
	if (c >= LONG_VAL && c < LONG_VAL + (int)N_OPTIONS)
		return &options[c - LONG_VAL];
	for (size_t i = 0; c > 0 && i < N_OPTIONS; i++)
		if (options[i].short_flag == c)
			return &options[i];
	return NULL;
}

/* A directory an option names; false (said why, and what to do) if not. */
static bool is_dir(const char *dir, const char *flag, const char *fix)
{
	struct stat st;
	int err = stat(dir, &st) ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;

	if (err)
		fprintf(stderr, "quicsteerd: %s %s: %s; %s\n", flag, dir, strerror(err), fix);
	return !err;
}

/* the figures "auto" and the zero defaults stand for, and checks across options */
static int finish(struct qs_config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 1)
		cpus = 1;
	if (cfg->workers == 0)
		cfg->workers = cpus > QS_MAX_WORKERS ? QS_MAX_WORKERS : (unsigned)cpus;
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
	if (cfg->php_max_children == 0)
		cfg->php_max_children = 4 * (unsigned)cpus;
	if (cfg->accel_prefix[0] && !is_dir(cfg->accel_root, "--accel-redirect",
					    "give the directory the internal location serves"))
		return -EINVAL;
	if (cfg->error_pages[0] && !is_dir(cfg->error_pages, "--error-pages",
					   "give a directory of NNN.html pages (404.html, ...)"))
		return -EINVAL;
	return 0;
}

int qs_config_from_args(struct qs_config *cfg, int argc, char **argv)
{
	struct option longs[N_OPTIONS + 1];
	char shorts[2 * N_OPTIONS + 1];
	struct source src = { 0 };
	const struct opt *o;
	char err[256];
	int c, ret;

	ret = qs_config_defaults(cfg);
	if (ret)
		return ret;
	build_getopt(longs, shorts);

	/* pass 1: which config file, or help/version */
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		o = from_getopt(c);
		if (o && o->type == OPT_ACTION) {
			ret = o->run(stdout);
			if (ret) {
				fprintf(stderr, "quicsteerd: cannot print --%s: %s\n", o->flag,
					strerror(-ret));
				return ret;
			}
			return 1;
		}
		if (o && o->early) {
			if (apply(cfg, &src, o, o->flag, optarg, err, sizeof(err))) {
				fprintf(stderr, "quicsteerd: --%s\n", err);
				return -EINVAL;
			}
			cfg->config_explicit = true;	/* then a missing file is an error */
		}
	}
	if (load_file(cfg))
		return -EINVAL;

	/* pass 2: flags override the file */
	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		o = from_getopt(c);
		if (!o) {
			fprintf(stderr, "Try 'quicsteerd --help'.\n");
			return -EINVAL;
		}
		if (o->early)
			continue;
		if (apply(cfg, &src, o, o->flag, o->flag_value ?: optarg, err, sizeof(err))) {
			fprintf(stderr, "quicsteerd: --%s\n", err);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "quicsteerd: unexpected argument '%s'; try 'quicsteerd --help'\n",
			argv[optind]);
		return -EINVAL;
	}
	return finish(cfg);
}
