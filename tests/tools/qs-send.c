// SPDX-License-Identifier: MIT
/*
 * qs-send: craft QUIC-shaped datagrams for the tests and the benchmark.
 * Reads the CID keys of a running instance from its pins, mints DCIDs for
 * chosen (or random) workers, sends from many source addresses and ports,
 * and prints (JSON) how many it sent for each worker so a test can compare
 * with what each worker counted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pinned.h"

#define MAX_SOCKS 4096
#define QUIC_V1 0x00000001u
#define QUIC_V2 0x6b3343cfu

enum kind { K_SHORT, K_INITIAL, K_LONG_OURS, K_GARBAGE, K_TRUNCATED, K_EMPTY };

static struct {
	const char *instance;
	struct sockaddr_storage to;
	socklen_t tolen;
	const char *from[16];
	int n_from;
	int ports;
	enum kind kind;
	long count;
	int workers;
	int gen;
	int target;
	unsigned long long seed;
	double duration;
	int size;
	bool v2;
	bool sid_given;
} opt = { .instance = "default", .ports = 1, .count = 1, .workers = 0, .target = -1,
	  .seed = 1, .size = 64 };

static unsigned long long rng;

static unsigned long long rnd64(void)
{
	unsigned long long z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fill(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)rnd64();
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len, int port_needed)
{
	char host[64];
	const char *p;
	int port = 0;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		p = strchr(s, ']');
		if (!p)
			return -1;
		snprintf(host, sizeof(host), "%.*s", (int)(p - s - 1), s + 1);
		if (p[1] == ':')
			port = atoi(p + 2);
	} else {
		p = strrchr(s, ':');
		if (p && port_needed) {
			snprintf(host, sizeof(host), "%.*s", (int)(p - s), s);
			port = atoi(p + 1);
		} else {
			snprintf(host, sizeof(host), "%s", s);
		}
	}
	if (port_needed && (port <= 0 || port > 65535))
		return -1;
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((unsigned short)port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((unsigned short)port);
		*len = sizeof(*a6);
		return 0;
	}
	return -1;
}

static void usage(void)
{
	fprintf(stderr,
"usage: qs-send --to ADDR:PORT [--instance NAME] [--kind K] [--count N]\n"
"               [--from ADDR]... [--ports N] [--workers N] [--gen G] [--target W]\n"
"               [--seed S] [--size BYTES] [--v2] [--duration SEC]\n"
"kinds: short (our CID, default), long-ours (Handshake with our CID),\n"
"       initial (1200-byte Initial, random 8-byte DCID), garbage,\n"
"       truncated (short header shorter than a CID), empty\n"
"--ports N: N source sockets per --from address (default 1); datagrams go\n"
"round-robin over all of them.  --duration: flood for SEC seconds instead\n"
"of --count.  Prints JSON: sent, per-worker minted counts, rate.\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "instance", 1, NULL, 'i' }, { "to", 1, NULL, 't' }, { "from", 1, NULL, 'f' },
		{ "ports", 1, NULL, 'p' }, { "kind", 1, NULL, 'k' }, { "count", 1, NULL, 'n' },
		{ "workers", 1, NULL, 'w' }, { "gen", 1, NULL, 'g' }, { "target", 1, NULL, 'T' },
		{ "seed", 1, NULL, 's' }, { "duration", 1, NULL, 'd' }, { "size", 1, NULL, 'S' },
		{ "v2", 0, NULL, '2' }, { NULL, 0, NULL, 0 },
	};
	static long minted[QS_MAX_WORKERS];
	static int socks[MAX_SOCKS];
	struct qs_cid_key keys[QS_CID_CONFIGS];
	struct qs_steer_state st;
	int n_socks = 0, c;
	bool have_to = false;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'i': opt.instance = optarg; break;
		case 't':
			if (parse_addr(optarg, &opt.to, &opt.tolen, 1))
				usage();
			have_to = true;
			break;
		case 'f':
			if (opt.n_from == 16)
				usage();
			opt.from[opt.n_from++] = optarg;
			break;
		case 'p': opt.ports = atoi(optarg); break;
		case 'k':
			if (!strcmp(optarg, "short")) opt.kind = K_SHORT;
			else if (!strcmp(optarg, "initial")) opt.kind = K_INITIAL;
			else if (!strcmp(optarg, "long-ours")) opt.kind = K_LONG_OURS;
			else if (!strcmp(optarg, "garbage")) opt.kind = K_GARBAGE;
			else if (!strcmp(optarg, "truncated")) opt.kind = K_TRUNCATED;
			else if (!strcmp(optarg, "empty")) opt.kind = K_EMPTY;
			else usage();
			break;
		case 'n': opt.count = atol(optarg); break;
		case 'w': opt.workers = atoi(optarg); break;
		case 'g': opt.gen = atoi(optarg); break;
		case 'T': opt.target = atoi(optarg); break;
		case 's': opt.seed = strtoull(optarg, NULL, 0); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'S': opt.size = atoi(optarg); break;
		case '2': opt.v2 = true; break;
		default: usage();
		}
	}
	if (!have_to || opt.ports < 1 || opt.count < 0 || opt.size < 18 || opt.size > 1500)
		usage();
	if (opt.n_from == 0)
		opt.from[opt.n_from++] = opt.to.ss_family == AF_INET6 ? "::1" : "127.0.0.1";
	rng = opt.seed;

	if (pinned_read_keys(opt.instance, keys, &st))
		return 1;
	if (opt.workers <= 0)
		opt.workers = (int)st.live[st.cur_gen & 3];
	if (opt.workers <= 0 || opt.workers > QS_MAX_WORKERS) {
		fprintf(stderr, "no live workers in instance %s\n", opt.instance);
		return 1;
	}

	for (int f = 0; f < opt.n_from; f++)
		for (int p = 0; p < opt.ports; p++) {
			struct sockaddr_storage a;
			socklen_t alen;
			int fd, sz = 1 << 20;

			if (n_socks == MAX_SOCKS || parse_addr(opt.from[f], &a, &alen, 0)) {
				fprintf(stderr, "bad --from %s or too many sockets\n", opt.from[f]);
				return 2;
			}
			fd = socket(a.ss_family, SOCK_DGRAM, 0);
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
			if (fd < 0 || bind(fd, (struct sockaddr *)&a, alen)) {
				fprintf(stderr, "cannot bind a source socket on %s: %s\n",
					opt.from[f], strerror(errno));
				return 1;
			}
			socks[n_socks++] = fd;
		}

	struct timespec t0, t1;
	long sent = 0, errors = 0;
	unsigned char pkt[1500], rnd[QS_CID_PRF_LEN], sid[1] = { 1 };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; opt.duration > 0 || i < opt.count; i++) {
		int w = opt.target >= 0 ? opt.target : (int)(rnd64() % (unsigned)opt.workers);
		size_t len = (size_t)opt.size;
		unsigned ver = opt.v2 ? QUIC_V2 : QUIC_V1;

		fill(pkt, sizeof(pkt));
		switch (opt.kind) {
		case K_SHORT:
			fill(rnd, sizeof(rnd));
			pkt[0] = 0x40 | (pkt[0] & 0x3f);
			qs_cid_encode(pkt + 1, &keys[st.cur_config], st.cur_config, sid, 1,
				      (unsigned)opt.gen, (unsigned)w, rnd);
			minted[w]++;
			break;
		case K_LONG_OURS:
			fill(rnd, sizeof(rnd));
			/* Handshake packet type: 0b10 in v1, 0b11 in v2 */
			pkt[0] = 0xc0 | (opt.v2 ? 0x30 : 0x20) | (pkt[0] & 0x0f);
			pkt[1] = ver >> 24; pkt[2] = ver >> 16; pkt[3] = ver >> 8; pkt[4] = ver;
			pkt[5] = QS_CID_LEN;
			qs_cid_encode(pkt + 6, &keys[st.cur_config], st.cur_config, sid, 1,
				      (unsigned)opt.gen, (unsigned)w, rnd);
			pkt[22] = 8;
			minted[w]++;
			break;
		case K_INITIAL:
			/* Initial type: 0b00 in v1, 0b01 in v2; client DCID of 8 bytes */
			pkt[0] = 0xc0 | (opt.v2 ? 0x10 : 0x00) | (pkt[0] & 0x0f);
			pkt[1] = ver >> 24; pkt[2] = ver >> 16; pkt[3] = ver >> 8; pkt[4] = ver;
			pkt[5] = 8;
			pkt[14] = 8;
			pkt[23] = 0; /* token length */
			len = 1200;
			break;
		case K_GARBAGE:
			len = 1 + rnd64() % 100;
			break;
		case K_TRUNCATED:
			pkt[0] = 0x40;
			len = 1 + rnd64() % QS_CID_LEN; /* 1..16: never a whole DCID */
			break;
		case K_EMPTY:
			len = 0;
			break;
		}
		int fd = socks[i % n_socks];

		if (sendto(fd, pkt, len, 0, (struct sockaddr *)&opt.to, opt.tolen) < 0) {
			errors++;
			if (errno == ENOBUFS || errno == EAGAIN)
				continue;
			if (errors == 1)
				fprintf(stderr, "sendto: %s\n", strerror(errno));
		} else {
			sent++;
		}
		if (opt.duration > 0 && (i & 255) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 >= opt.duration)
				break;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

	printf("{\"sent\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"rate\":%.0f,\"sockets\":%d,"
	       "\"per_worker\":[", sent, errors, secs, secs > 0 ? sent / secs : 0, n_socks);
	for (int w = 0; w < opt.workers; w++)
		printf("%s%ld", w ? "," : "", minted[w]);
	printf("]}\n");
	return errors && opt.duration <= 0 ? 1 : 0;
}
