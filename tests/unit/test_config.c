// SPDX-License-Identifier: MIT
/* Unit tests of the loader's configuration: file, flags, precedence, errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "check.h"

static char tmpdir[] = "/tmp/qs-config-test.XXXXXX";

/* The path of a new file in tmpdir; a test's arrays name several at once. */
static const char *write_conf(const char *name, const char *text)
{
	static char paths[64][256];
	static unsigned n;
	char *path = paths[n++ % 64];
	FILE *f;

	snprintf(path, sizeof(paths[0]), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static int parse(struct qs_config *cfg, int argc, const char **argv)
{
	return qs_config_from_args(cfg, argc, (char **)argv);
}

static int test_listen_parse(void)
{
	struct qs_listen l;
	char err[256];

	CHECK(qs_parse_listen("127.0.0.1:4433", &l, err, sizeof(err)) == 0, "%s", err);
	CHECK(l.addr.ss_family == AF_INET && !strcmp(l.text, "127.0.0.1:4433"), "%s", l.text);
	CHECK(qs_parse_listen("[::1]:443", &l, err, sizeof(err)) == 0, "%s", err);
	CHECK(l.addr.ss_family == AF_INET6 && !strcmp(l.text, "[::1]:443"), "%s", l.text);
	CHECK(qs_parse_listen("*:8443", &l, err, sizeof(err)) == 0, "%s", err);
	CHECK(!strcmp(l.text, "0.0.0.0:8443"), "%s", l.text);
	CHECK(qs_parse_listen("[0:0::0]:1", &l, err, sizeof(err)) == 0 && !strcmp(l.text, "[::]:1"),
	      "normalized: %s", l.text);
	CHECK(qs_parse_listen("127.0.0.1", &l, err, sizeof(err)) < 0, "no port");
	CHECK(qs_parse_listen("127.0.0.1:0", &l, err, sizeof(err)) < 0, "port 0");
	CHECK(qs_parse_listen("127.0.0.1:65536", &l, err, sizeof(err)) < 0, "port 65536");
	CHECK(strstr(err, "1..65535"), "error names the range: %s", err);
	CHECK(qs_parse_listen("::1:443", &l, err, sizeof(err)) < 0, "v6 without brackets");
	CHECK(strstr(err, "[IPV6]:PORT"), "error says how: %s", err);
	CHECK(qs_parse_listen("[::1]443", &l, err, sizeof(err)) < 0, "missing colon");
	CHECK(qs_parse_listen("300.1.1.1:1", &l, err, sizeof(err)) < 0, "bad v4");
	CHECK(qs_parse_listen("[fe80::zz]:1", &l, err, sizeof(err)) < 0, "bad v6");
	CHECK(qs_parse_listen("1.2.3.4:12ab", &l, err, sizeof(err)) < 0, "port not a number");
	return 0;
}

static int test_file_and_flags(void)
{
	struct qs_config cfg;
	const char *path = write_conf("a.conf",
		"# comment\n[quicsteer]\nlisten = 127.0.0.1:5000\nlisten = [::1]:5000\n"
		"workers = 3\ninstance = fromfile\nsteering = off\nserver_id = 0xa1b2c3\n"
		"user = nobody\n");
	const char *argv1[] = { "quicsteerd", "--config", path, NULL };
	const char *argv2[] = { "quicsteerd", "-c", path, "--workers", "5", "--listen",
				"127.0.0.2:6000", "--steering", "on", "--instance", "cli", NULL };

	CHECK(parse(&cfg, 3, argv1) == 0, "file parses");
	CHECK(cfg.n_listen == 2 && cfg.workers == 3 && !cfg.steering, "file values");
	CHECK(!strcmp(cfg.instance, "fromfile") && !strcmp(cfg.user, "nobody"), "strings");
	CHECK(cfg.server_id_len == 3 && cfg.server_id[0] == 0xa1 && cfg.server_id[2] == 0xc3,
	      "server id");
	CHECK(parse(&cfg, 11, argv2) == 0, "flags parse");
	CHECK(cfg.workers == 5 && cfg.steering && !strcmp(cfg.instance, "cli"), "flags win");
	CHECK(cfg.n_listen == 1 && !strcmp(cfg.listen[0].text, "127.0.0.2:6000"),
	      "--listen replaces the file's list");
	return 0;
}

static int test_defaults(void)
{
	struct qs_config cfg;
	const char *argv[] = { "quicsteerd", NULL };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	/* the default file may be absent: not an error */
	if (access(QS_DEFAULT_CONFIG, F_OK) == 0)
		return 0;
	CHECK(parse(&cfg, 1, argv) == 0, "defaults");
	CHECK(cfg.workers == (unsigned)(cpus > QS_MAX_WORKERS ? QS_MAX_WORKERS : cpus),
	      "workers default to CPUs: %u", cfg.workers);
	CHECK(cfg.n_listen == 1 && !strcmp(cfg.listen[0].text, "[::]:4433"), "listen default");
	CHECK(cfg.steering && !strcmp(cfg.instance, "default"), "steering on, instance default");
	return 0;
}

static int test_errors(void)
{
	struct qs_config cfg;
	const char *missing[] = { "quicsteerd", "--config", "/nonexistent/q.conf", NULL };
	const char *bad_workers[] = { "quicsteerd", "-c", write_conf("e0.conf", ""),
				      "--workers", "65", NULL };
	const char *zero_workers[] = { "quicsteerd", "-c", write_conf("e1.conf", ""),
				       "--workers", "0", NULL };
	const char *bad_steer[] = { "quicsteerd", "-c", write_conf("e2.conf", ""),
				    "--steering", "maybe", NULL };
	const char *bad_inst[] = { "quicsteerd", "-c", write_conf("e3.conf", ""),
				   "--instance", "../etc", NULL };
	const char *bad_sid[] = { "quicsteerd", "-c", write_conf("e4.conf", ""),
				  "--server-id", "01020304050607", NULL };
	const char *stray[] = { "quicsteerd", "-c", write_conf("e5.conf", ""), "extra", NULL };
	char p1[256], p2[256], p3[256];

	snprintf(p1, sizeof(p1), "%s", write_conf("s1.conf", "[server]\nworkers = 2\n"));
	snprintf(p2, sizeof(p2), "%s", write_conf("s2.conf", "workerz = 2\n"));
	snprintf(p3, sizeof(p3), "%s", write_conf("s3.conf", "this is not ini\n"));
	const char *sec[] = { "quicsteerd", "-c", p1, NULL };
	const char *unk[] = { "quicsteerd", "-c", p2, NULL };
	const char *syn[] = { "quicsteerd", "-c", p3, NULL };

	const char *conns[] = { "quicsteerd", "-c", write_conf("e6.conf", "max_connections = 7\n"),
				NULL };
	const char *conns0[] = { "quicsteerd", "-c", write_conf("e7.conf", ""),
				 "--max-connections", "0", NULL };

	CHECK(parse(&cfg, 3, conns) == 0 && cfg.max_conns == 7, "max_connections from the file");
	fprintf(stderr, "  (the error messages below are expected)\n");
	CHECK(parse(&cfg, 5, conns0) < 0, "0 connections");
	CHECK(parse(&cfg, 3, missing) < 0, "explicit missing file");
	CHECK(parse(&cfg, 5, bad_workers) < 0, "65 workers");
	CHECK(parse(&cfg, 5, zero_workers) < 0, "0 workers");
	CHECK(parse(&cfg, 5, bad_steer) < 0, "steering maybe");
	CHECK(parse(&cfg, 5, bad_inst) < 0, "instance with a slash");
	CHECK(parse(&cfg, 5, bad_sid) < 0, "7-byte server id");
	CHECK(parse(&cfg, 4, stray) < 0, "stray argument");
	CHECK(parse(&cfg, 3, sec) < 0, "unknown section");
	CHECK(parse(&cfg, 3, unk) < 0, "unknown key");
	CHECK(parse(&cfg, 3, syn) < 0, "syntax error");
	return 0;
}

/* --access-log: an absolute file path or off; --log-format: text or json */
static int test_logs(void)
{
	struct qs_config cfg;
	const char *file[] = { "quicsteerd", "-c",
			       write_conf("l0.conf", "access_log = /var/log/q/a.log\n"
					  "log_format = json\n"), NULL };
	const char *off[] = { "quicsteerd", "-c", write_conf("l1.conf", ""), "--access-log",
			      "/x/a.log", "--access-log", "off", NULL };
	const char *rel[] = { "quicsteerd", "-c", write_conf("l2.conf", ""), "--access-log",
			      "logs/a.log", NULL };
	const char *dir[] = { "quicsteerd", "-c", write_conf("l3.conf", ""), "--access-log",
			      "/var/log/", NULL };
	const char *fmt[] = { "quicsteerd", "-c", write_conf("l4.conf", ""), "--log-format",
			      "xml", NULL };

	CHECK(parse(&cfg, 3, file) == 0 && !strcmp(cfg.access_log, "/var/log/q/a.log") &&
	      cfg.log_json, "access log and format from the file");
	CHECK(parse(&cfg, 7, off) == 0 && !cfg.access_log[0], "off after a path");
	fprintf(stderr, "  (the error messages below are expected)\n");
	CHECK(parse(&cfg, 5, rel) < 0, "a relative path");
	CHECK(parse(&cfg, 5, dir) < 0, "a directory");
	CHECK(parse(&cfg, 5, fmt) < 0, "log format xml");
	return 0;
}

/* Session tickets: sources, durations, the key budget, 0-RTT policy. */
static int test_tickets(void)
{
	struct qs_config cfg;
	const char *conf = write_conf("t0.conf", "ticket_keys = fleet:/etc/q/fleet.key\n"
				      "ticket_rotate = 12h\nticket_lifetime = 2d\n"
				      "early_data = off\n");
	const char *file_keys[] = { "quicsteerd", "-c", conf, "--ticket-keys",
				    "file:/k/a.key,/k/b.key,/k/c.key", "--early-data-unsafe",
				    "reject", NULL };
	const char *fleet[] = { "quicsteerd", "-c", conf, NULL };
	const char *defaults[] = { "quicsteerd", "-c", write_conf("t1.conf", ""), NULL };
	const char *too_many[] = { "quicsteerd", "-c", write_conf("t2.conf", ""),
				   "--ticket-rotate", "1h", "--ticket-lifetime", "1d", NULL };
	const char *week[] = { "quicsteerd", "-c", write_conf("t3.conf", ""),
			       "--ticket-lifetime", "8d", NULL };
	const char *relative[] = { "quicsteerd", "-c", write_conf("t4.conf", ""),
				   "--ticket-keys", "file:keys/a.key", NULL };
	const char *two_fleets[] = { "quicsteerd", "-c", write_conf("t5.conf", ""),
				     "--ticket-keys", "fleet:/a,/b", NULL };
	const char *unit[] = { "quicsteerd", "-c", write_conf("t6.conf", ""),
			       "--ticket-rotate", "5x", NULL };
	const char *unsafe[] = { "quicsteerd", "-c", write_conf("t7.conf", ""),
				 "--early-data-unsafe", "run", NULL };

	CHECK(parse(&cfg, 3, defaults) == 0, "defaults");
	CHECK(cfg.ticket_source == QS_TICKETS_AUTO && cfg.ticket_rotate_s == 43200 &&
	      cfg.ticket_lifetime_s == 86400 && cfg.early_data && !cfg.early_unsafe_reject,
	      "auto, 12h, 24h, 0-RTT on, defer");
	CHECK(parse(&cfg, 3, fleet) == 0, "fleet from the file");
	CHECK(cfg.ticket_source == QS_TICKETS_FLEET && cfg.n_ticket_paths == 1 &&
	      !strcmp(cfg.ticket_paths[0], "/etc/q/fleet.key") && cfg.ticket_rotate_s == 43200 &&
	      cfg.ticket_lifetime_s == 2 * 86400 && !cfg.early_data, "fleet settings");
	CHECK(parse(&cfg, 7, file_keys) == 0, "file keys override the file");
	CHECK(cfg.ticket_source == QS_TICKETS_FILE && cfg.n_ticket_paths == 3 &&
	      !strcmp(cfg.ticket_paths[2], "/k/c.key") && cfg.early_unsafe_reject, "three files");
	fprintf(stderr, "  (the error messages below are expected)\n");
	CHECK(parse(&cfg, 7, too_many) < 0, "1h rotation keeps 26 keys for 1d tickets");
	CHECK(parse(&cfg, 5, week) < 0, "lifetime over 7 days");
	CHECK(parse(&cfg, 5, relative) < 0, "relative key path");
	CHECK(parse(&cfg, 5, two_fleets) < 0, "two fleet secrets");
	CHECK(parse(&cfg, 5, unit) < 0, "unknown unit");
	CHECK(parse(&cfg, 5, unsafe) < 0, "unknown unsafe policy");
	return 0;
}

static int test_xdp_guard(void)
{
	struct qs_config cfg;
	const char *path = write_conf("g.conf", "[quicsteer]\nxdp_guard = eth0,eth1\n"
				      "xdp_guard_rate = 50\nxdp_guard_burst = 0\n"
				      "xdp_guard_vn_rate = 2\nxdp_guard_vn_burst = 4\n");
	const char *file[] = { "quicsteerd", "-c", path, NULL };
	const char *off[] = { "quicsteerd", "-c", path, "--xdp-guard", "off", NULL };
	const char *flags[] = { "quicsteerd", "-c", path, "--xdp-guard", "lo",
				"--xdp-guard-rate", "7", "--xdp-guard-burst", "9", NULL };
	const char *empty[] = { "quicsteerd", "-c", path, "--xdp-guard", "a,,b", NULL };
	const char *twice[] = { "quicsteerd", "-c", path, "--xdp-guard", "lo,lo", NULL };
	const char *longname[] = { "quicsteerd", "-c", path, "--xdp-guard", "abcdefghijklmnop", NULL };
	const char *zero_rate[] = { "quicsteerd", "-c", path, "--xdp-guard-rate", "0", NULL };
	const char *nine[] = { "quicsteerd", "-c", path, "--xdp-guard", "a,b,c,d,e,f,g,h,i", NULL };

	const char *none[] = { "quicsteerd", "-c", write_conf("g0.conf", ""), NULL };

	CHECK(parse(&cfg, 3, none) == 0 && cfg.n_xdp_guard == 0 && cfg.guard_rate == 100 &&
	      cfg.guard_burst == 200 && cfg.guard_vn_rate == 5 && cfg.guard_vn_burst == 10,
	      "off by default, default limits");
	CHECK(parse(&cfg, 3, file) == 0, "file parses");
	CHECK(cfg.n_xdp_guard == 2 && !strcmp(cfg.xdp_guard[0], "eth0") &&
	      !strcmp(cfg.xdp_guard[1], "eth1"), "interfaces from the file");
	CHECK(cfg.guard_rate == 50 && cfg.guard_burst == 0 && cfg.guard_vn_rate == 2 &&
	      cfg.guard_vn_burst == 4, "limits from the file");
	CHECK(parse(&cfg, 5, off) == 0 && cfg.n_xdp_guard == 0, "--xdp-guard off");
	CHECK(parse(&cfg, 9, flags) == 0 && cfg.n_xdp_guard == 1 && !strcmp(cfg.xdp_guard[0], "lo") &&
	      cfg.guard_rate == 7 && cfg.guard_burst == 9, "flags win");
	fprintf(stderr, "  (the error messages below are expected)\n");
	CHECK(parse(&cfg, 5, empty) < 0, "empty name");
	CHECK(parse(&cfg, 5, twice) < 0, "interface twice");
	CHECK(parse(&cfg, 5, longname) < 0, "16-character name");
	CHECK(parse(&cfg, 5, zero_rate) < 0, "rate 0");
	CHECK(parse(&cfg, 5, nine) < 0, "9 interfaces");
	return 0;
}

/* Every default goes through its option's setter: the figures of before. */
static int test_defaults_from_table(void)
{
	struct qs_config cfg;

	memset(&cfg, 0xa5, sizeof(cfg));
	CHECK(qs_config_defaults(&cfg) == 0, "the option table applies");
	CHECK(!strcmp(cfg.config_path, QS_DEFAULT_CONFIG) && !cfg.config_explicit, "config");
	CHECK(cfg.n_listen == 1 && !strcmp(cfg.listen[0].text, QS_DEFAULT_LISTEN), "listen");
	CHECK(cfg.workers == 0 && !strcmp(cfg.instance, QS_DEFAULT_INSTANCE) &&
	      cfg.steering == QS_STEER_ON && !cfg.foreground && !strcmp(cfg.user, QS_DEFAULT_USER),
	      "workers auto, instance, steering, foreground, user");
	CHECK(cfg.server_id_len == 1 && cfg.server_id[0] == 0x01, "server id");
	CHECK(!cfg.log_file[0] && cfg.log_level == QS_LOG_INFO && cfg.rcvbuf == 4 << 20 &&
	      !cfg.metrics[0] && !cfg.log_json && !cfg.access_log[0],
	      "log, rcvbuf, metrics, log format, access log");
	CHECK(!strcmp(cfg.cert, QS_DEFAULT_CERT) && !strcmp(cfg.key, QS_DEFAULT_KEY) &&
	      !strcmp(cfg.docroot, QS_DEFAULT_DOCROOT), "cert, key, docroot");
	CHECK(cfg.retry == QS_RETRY_AUTO && cfg.retry_threshold == 2000 &&
	      cfg.idle_timeout_ms == 30000 && cfg.max_streams == 100 && cfg.max_conns == 16384 &&
	      cfg.max_header_bytes == 65536 && cfg.drain_timeout_ms == 3000 && cfg.cc == QS_CC_CUBIC &&
	      cfg.pacing,
	      "HTTP/3");
	CHECK(cfg.fastcgi == QS_FASTCGI_OFF && !cfg.fastcgi_addr[0] && cfg.php_max_children == 0 &&
	      cfg.fastcgi_timeout_ms == 60000 && cfg.fastcgi_keepalive && !cfg.index[0] &&
	      cfg.max_body == 64ULL << 20, "PHP");
	CHECK(cfg.ticket_source == QS_TICKETS_AUTO && cfg.n_ticket_paths == 0 &&
	      cfg.ticket_rotate_s == 12 * 3600 && cfg.ticket_lifetime_s == 24 * 3600 &&
	      cfg.early_data && !cfg.early_unsafe_reject, "tickets, 0-RTT");
	CHECK(cfg.n_xdp_guard == 0 && cfg.guard_rate == 100 && cfg.guard_burst == 200 &&
	      cfg.guard_vn_rate == 5 && cfg.guard_vn_burst == 10, "XDP guard");
	return 0;
}

/* Typed options from the file: units, words, both spellings of a key. */
static int test_file_values_by_type(void)
{
	struct qs_config cfg;
	const char *path = write_conf("v.conf",
		"[quicsteer]\nmax-body = 2K\nidle_timeout = 5\ndrain_timeout = 0\n"
		"fastcgi_timeout = 2\nxdp-guard-vn-rate = 3\nworkers = auto\nearly_data = no\n"
		"steering = baseline\nforeground = yes\nlog_level = debug\ncc = cubic\n"
		"retry = never\nearly_data_unsafe = reject\nfastcgi_keepalive = off\n"
		"ticket_rotate = 90\nticket_lifetime = 10m\nlog_file = /tmp/q.log\nphp_max_children = 3\n");
	const char *argv[] = { "quicsteerd", "-c", path, "--max-body", "3M", "--cc", "reno", NULL };

	CHECK(parse(&cfg, 3, argv) == 0, "file parses");
	CHECK(cfg.max_body == 2048 && cfg.idle_timeout_ms == 5000 && cfg.drain_timeout_ms == 0 &&
	      cfg.fastcgi_timeout_ms == 2000 && cfg.guard_vn_rate == 3, "numbers and units");
	CHECK(cfg.workers >= 1 && !cfg.early_data && cfg.steering == QS_STEER_BASELINE &&
	      cfg.foreground && cfg.log_level == QS_LOG_DEBUG && cfg.cc == QS_CC_CUBIC &&
	      cfg.retry == QS_RETRY_NEVER && cfg.early_unsafe_reject && !cfg.fastcgi_keepalive,
	      "words");
	CHECK(cfg.ticket_rotate_s == 90 && cfg.ticket_lifetime_s == 600 && !strcmp(cfg.log_file, "/tmp/q.log") &&
	      cfg.php_max_children == 3, "duration, string, pool");
	CHECK(parse(&cfg, 7, argv) == 0 && cfg.max_body == 3ULL << 20 && cfg.cc == QS_CC_RENO,
	      "flags over the file");
	return 0;
}

/* A list: each source's first value replaces the list of the one before. */
static int test_listen_sources(void)
{
	struct qs_config cfg;
	const char *path = write_conf("l.conf", "listen = 127.0.0.1:7001\nlisten = [::1]:7002\n");
	const char *file[] = { "quicsteerd", "-c", path, NULL };
	const char *flags[] = { "quicsteerd", "-c", path, "-l", "127.0.0.1:7003",
				"--listen", "127.0.0.1:7004", NULL };
	const char *dflt[] = { "quicsteerd", "-c", path, "--listen", QS_DEFAULT_LISTEN, NULL };

	CHECK(parse(&cfg, 3, file) == 0 && cfg.n_listen == 2 &&
	      !strcmp(cfg.listen[0].text, "127.0.0.1:7001") && !strcmp(cfg.listen[1].text,
	      "[::1]:7002"), "the file's two replace the default: %u", cfg.n_listen);
	CHECK(parse(&cfg, 7, flags) == 0 && cfg.n_listen == 2 &&
	      !strcmp(cfg.listen[0].text, "127.0.0.1:7003") && !strcmp(cfg.listen[1].text,
	      "127.0.0.1:7004"), "the command line's two replace the file's");
	CHECK(parse(&cfg, 5, dflt) == 0 && cfg.n_listen == 1, "the default given again: once");
	return 0;
}

/* Messages name the option, the value and what is allowed. */
static int test_error_messages(void)
{
	static const struct { const char *name, *value, *message; int ret; } cases[] = {
		{ "workers", "65", "workers '65': expected 1..64 or auto", -EINVAL },
		{ "max_connections", "0", "max_connections '0': expected 1..1000000", -EINVAL },
		{ "idle-timeout", "0", "idle-timeout '0': expected 1..3600 seconds", -EINVAL },
		{ "xdp_guard_burst", "x", "xdp_guard_burst 'x': expected 0..1000000 (0: no limit)",
		  -EINVAL },
		{ "cc", "vegas", "cc 'vegas': expected bbr, cubic or reno", -EINVAL },
		{ "steering", "maybe", "steering 'maybe': expected on, off or baseline", -EINVAL },
		{ "early_data", "2", "early_data '2': expected on or off", -EINVAL },
		{ "ticket_lifetime", "8d", "ticket_lifetime '8d': expected a duration of 1s..7d "
		  "(TLS 1.3's limit)", -EINVAL },
		{ "max_body", "0", "max_body '0': expected bytes (suffix K, M, G)", -EINVAL },
		{ "max_body", "99999999999G",
		  "max_body '99999999999G': too large; at most 2^63 - 1 bytes", -EINVAL },
		{ "user", "", "user: empty", -EINVAL },
		{ "listen", "127.0.0.1", "listen '127.0.0.1': expected ADDR:PORT", -EINVAL },
		{ "workerz", "2", "unknown option 'workerz'", -ENOENT },
		{ "config", "/x", "'config' is an option of the command line only", -ENOENT },
		{ "help", "on", "'help' is an option of the command line only", -ENOENT },
	};
	struct qs_config cfg;
	char err[256];

	CHECK(qs_config_defaults(&cfg) == 0, "defaults");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		CHECK(qs_config_set(&cfg, cases[i].name, cases[i].value, err, sizeof(err)) ==
		      cases[i].ret, "%s = '%s' returns %d", cases[i].name, cases[i].value,
		      cases[i].ret);
		CHECK(!strncmp(err, cases[i].message, strlen(cases[i].message)),
		      "%s = '%s': '%s', expected '%s...'", cases[i].name, cases[i].value, err,
		      cases[i].message);
	}
	return 0;
}

/*
 * Numbers that overflow, or that strtoull() would take (a sign, leading
 * blanks: " -1" is 2^64-1 to it), are refused from the flags and the file.
 */
static int test_numbers_out_of_range(void)
{
	static const struct { const char *name, *value; } bad[] = {
		{ "max_body", "17179869184G" },		/* 2^64: the shift overflows */
		{ "max_body", "8589934592G" },		/* 2^63: past int64_t */
		{ "max_body", "9223372036854775808" },
		{ "max_body", "18446744073709551616" },	/* ERANGE */
		{ "max_body", "-1" },
		{ "max_body", " -1" },
		{ "max_body", "+1" },
		{ "max_body", " 1K" },
		{ "body_buffer_size", "-0" },
		{ "workers", " -1" },
		{ "workers", "+2" },
		{ "workers", "18446744073709551617" },
		{ "idle_timeout", "4294967296" },	/* wraps to 0 in 32 bits */
		{ "ticket_rotate", " -1" },
		{ "ticket_rotate", "+1h" },
		{ "ticket_rotate", "213503982334601d" },	/* the product wraps */
		{ "ticket_rotate", "18446744073709551616s" },
	};
	static const struct { const char *name, *value; uint64_t want; } good[] = {
		{ "max_body", "8589934591G", 8589934591ULL << 30 },
		{ "max_body", "9223372036854775807", 9223372036854775807ULL },
		{ "max_body", "1", 1 },
	};
	const char *path = write_conf("big.conf", "max_body = 17179869184G\n");
	const char *file[] = { "quicsteerd", "-c", path, NULL };
	const char *flag[] = { "quicsteerd", "-c", write_conf("e8.conf", ""),
			       "--max-body", "17179869184G", NULL };
	struct qs_config cfg;
	char err[256];

	CHECK(qs_config_defaults(&cfg) == 0, "defaults");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK(qs_config_set(&cfg, bad[i].name, bad[i].value, err, sizeof(err)) == -EINVAL,
		      "%s = '%s' is refused", bad[i].name, bad[i].value);
		CHECK(strstr(err, bad[i].value), "%s = '%s': the message names it: '%s'",
		      bad[i].name, bad[i].value, err);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(qs_config_set(&cfg, good[i].name, good[i].value, err, sizeof(err)) == 0 &&
		      cfg.max_body == good[i].want, "%s = '%s': %s", good[i].name, good[i].value,
		      err);
	}
	err[0] = '\0';
	qs_config_set(&cfg, "max_body", "17179869184G", err, sizeof(err));
	CHECK(strstr(err, "too large"), "the overflow says so: '%s'", err);
	fprintf(stderr, "  (the error messages below are expected)\n");
	CHECK(parse(&cfg, 3, file) < 0, "an overflowing size in the file");
	CHECK(parse(&cfg, 5, flag) < 0, "an overflowing size on the command line");
	return 0;
}

/* --help: within 80 columns; --help-markdown: one row per option of --help */
static int test_help_and_markdown(void)
{
	char *help = NULL, *md = NULL, *line, *save = NULL;
	size_t help_len = 0, md_len = 0;
	FILE *f;
	int rows = 0, flags = 0;

	f = open_memstream(&help, &help_len);
	CHECK(f && qs_usage(f) == 0, "qs_usage");
	fclose(f);
	f = open_memstream(&md, &md_len);
	CHECK(f && qs_options_markdown(f) == 0, "qs_options_markdown");
	fclose(f);
	for (const char *p = help; *p; ) {
		size_t n = strcspn(p, "\n");

		CHECK(n <= 80, "a line of %zu columns: %.*s", n, (int)n, p);
		flags += n > 8 && (!strncmp(p + 2, "-", 1) || !strncmp(p + 6, "--", 2));
		p += n + (p[n] == '\n');
	}
	CHECK(strstr(help, "--help-markdown") && strstr(help, "-c, --config FILE"), "%s", help);
	for (line = strtok_r(md, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		rows += !strncmp(line, "| `-", 4);
	CHECK(rows > 40 && rows == flags, "%d table rows, %d options in --help", rows, flags);
	free(help);
	free(md);
	return 0;
}

/* the rows of --help-markdown with a config key */
static int markdown_keys(void)
{
	char *md = NULL, *line, *save = NULL, *sep;
	size_t len = 0;
	FILE *f = open_memstream(&md, &len);
	int n = 0;

	if (!f || qs_options_markdown(f))
		return -1;
	fclose(f);
	for (line = strtok_r(md, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (!strncmp(line, "| `-", 4) && (sep = strstr(line + 2, " | ")))
			n += sep[3] == '`';
	free(md);
	return n;
}

/*
 * --help-config: every key of the file once, commented out; uncommented at
 * its default (the lines whose value is a metavar, like N, stay
 * commented), the file gives the built-in defaults.
 */
static int test_config_file_of_table(void)
{
	struct qs_config dflt, cfg;
	char *text = NULL, *out = NULL, *line, *save = NULL, key[64], value[256];
	size_t len = 0, out_len = 0;
	int keys = 0, set = 0;
	const char *path, *empty = write_conf("empty.conf", "");
	const char *argv_empty[] = { "quicsteerd", "--config", empty, NULL };
	const char *argv[] = { "quicsteerd", "--config", NULL, NULL };
	FILE *f = open_memstream(&text, &len), *o;

	CHECK(f && qs_options_config(f) == 0, "qs_options_config");
	fclose(f);
	o = open_memstream(&out, &out_len);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "#%63[a-z_] = %255[^\n]", key, value) == 2 ||
		    sscanf(line, "#%63[a-z_] =", key) == 1) {
			keys++;
			if (value[0] < 'A' || value[0] > 'Z') {
				fprintf(o, "%s = %s\n", key, value);
				set++;
				continue;
			}
		}
		fprintf(o, "%s\n", line);
		value[0] = '\0';
	}
	fclose(o);
	path = write_conf("every.conf", out);
	argv[2] = path;
	CHECK(parse(&dflt, 3, argv_empty) == 0, "an empty file");
	CHECK(parse(&cfg, 3, argv) == 0, "the file at its defaults parses:\n%s", out);
	memcpy(cfg.config_path, dflt.config_path, sizeof(cfg.config_path));
	CHECK(!memcmp(&cfg, &dflt, sizeof(cfg)), "the file at its defaults gives the defaults");
	CHECK(keys > 40 && set > 35, "%d keys, %d set", keys, set);
	CHECK(keys == markdown_keys(), "%d keys in the file, %d in --help-markdown", keys,
	      markdown_keys());
	free(text);
	free(out);
	return 0;
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_listen_parse);
	RUN(test_file_and_flags);
	RUN(test_defaults);
	RUN(test_errors);
	RUN(test_logs);
	RUN(test_tickets);
	RUN(test_xdp_guard);
	RUN(test_defaults_from_table);
	RUN(test_file_values_by_type);
	RUN(test_listen_sources);
	RUN(test_error_messages);
	RUN(test_numbers_out_of_range);
	RUN(test_help_and_markdown);
	RUN(test_config_file_of_table);
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return DONE();
}
