// SPDX-License-Identifier: MIT
/*
 * qs-relay: a UDP relay with a bottleneck, between one client and a server,
 * for the pacing tests and benchmarks (these kernels have neither netem nor
 * fq, so a path with a slow link and a shallow queue is emulated here).
 *
 * Each direction is a link of a given rate: a datagram takes len/rate
 * seconds on it (a token bucket no deeper than one datagram: what a router
 * port does), queued behind the datagrams that came before it.  A datagram
 * that finds the queue at its limit (packets or bytes) is dropped and
 * counted, as a shallow router buffer drops a line-rate burst.  After the
 * link, an optional one-way delay.  A datagram's times come from when the
 * kernel received it (SO_TIMESTAMPNS), not from when the relay got to it:
 * on a busy machine a relay woken late must not see a sender's evenly
 * spaced datagrams as one burst, nor drop them as such.
 *
 * It binds 127.0.0.1 port 0 (or --listen) and writes the port to
 * --port-file; datagrams from the client go to --server through one socket
 * of their own, answers go to the client's latest address (a client that
 * changes its source port is followed).  Counters as one JSON line on
 * stdout (and --stats-file) at SIGTERM or SIGINT, and on SIGUSR1 without
 * stopping.  Memory is one fixed ring of datagrams per direction.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define SLOTS      4096u	/* datagrams a direction holds: queued and in flight */
#define SLOT_BYTES 2048u	/* larger datagrams are dropped (counted: oversize) */
#define RX_BURST   256		/* datagrams read per wake-up and socket */

struct slot {
	uint64_t at;		/* when it leaves the relay (ns, CLOCK_MONOTONIC) */
	uint64_t link_done;	/* when its last byte has crossed the link */
	uint16_t len;
	uint8_t data[SLOT_BYTES];
};

struct dir {
	const char *name;
	uint64_t rate;			/* bytes/s; 0: no limit */
	uint64_t queue_pkts, queue_bytes;	/* 0: no limit (but the ring) */
	uint64_t delay_ns;
	struct slot *ring;
	/* counters into the ring, [head, tail): in the bottleneck (queued or
	 * on the link) or past it, waiting out the delay */
	uint64_t head, tail;
	uint64_t link_free;		/* when the link has sent all it holds */
	uint64_t last_arrival;
	/* counters */
	uint64_t received, forwarded, forwarded_bytes, dropped, dropped_bytes, ring_full,
		 oversize, send_errors, max_queue_pkts, max_queue_bytes;
};

struct relay {
	int cli_fd, srv_fd, tfd, sfd;
	struct sockaddr_in peer;	/* the client's latest address */
	bool have_peer;
	uint64_t client_changes;
	uint32_t sock_drops[2];		/* SO_RXQ_OVFL of each socket */
	struct dir up, down;		/* up: client to server */
	const char *stats_file;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: qs-relay --server IP:PORT [options]\n"
		"  --listen IP            address to bind (port 0), default 127.0.0.1\n"
		"  --port-file FILE       write the bound port there\n"
		"  --stats-file FILE      write the counters there too (JSON line)\n"
		"  --down-rate RATE       server to client link rate; RATE: bytes/s, or\n"
		"                         with k/M (10^3/10^6 bytes/s) or kbit/mbit\n"
		"  --up-rate RATE         client to server link rate (default: no limit)\n"
		"  --down-queue-packets N, --down-queue-bytes N, --up-queue-packets N,\n"
		"  --up-queue-bytes N     the bottleneck queue's limit (a datagram that\n"
		"                         does not fit is dropped); 0: only the ring of %u\n"
		"  --delay MS             one-way delay after the link, each direction\n"
		"Counters as one JSON line at SIGTERM/SIGINT (then exit) and SIGUSR1.\n",
		SLOTS);
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || end == s || *end || *s == '-' ? -1 : 0;
}

/* bytes/s, "5M", "40mbit" */
static int parse_rate(const char *s, uint64_t *v)
{
	char *end;
	double x;

	errno = 0;
	x = strtod(s, &end);
	if (errno || end == s || x < 0)
		return -1;
	if (!strcmp(end, "k"))
		x *= 1e3;
	else if (!strcmp(end, "M"))
		x *= 1e6;
	else if (!strcmp(end, "kbit"))
		x *= 1e3 / 8;
	else if (!strcmp(end, "mbit"))
		x *= 1e6 / 8;
	else if (*end)
		return -1;
	if (x > 1e12)
		return -1;
	*v = (uint64_t)x;
	return 0;
}

static int parse_addr(const char *s, struct sockaddr_in *a, bool with_port)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	uint64_t port = 0;
	size_t n = with_port && colon ? (size_t)(colon - s) : strlen(s);

	if ((with_port && !colon) || n >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = 0;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return -1;
	if (with_port && (parse_u64(colon + 1, &port) || port == 0 || port > 65535))
		return -1;
	a->sin_port = htons((uint16_t)port);
	return 0;
}

static int udp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, buf = 8 << 20;

	if (fd < 0)
		return -1;
	/* the relay's own socket must not be the bottleneck: large buffers
	 * (FORCE as root), and what the kernel still drops is counted */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one))) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The bottleneck at time t: the datagrams whose last byte has not crossed
 * the link by then, the newest ones (link_done grows along the ring).
 */
static void dir_queue_at(const struct dir *d, uint64_t t, uint64_t *pkts, uint64_t *bytes)
{
	uint64_t i = d->tail;

	*pkts = *bytes = 0;
	while (i > d->head && d->ring[(i - 1) % SLOTS].link_done > t) {
		i--;
		++*pkts;
		*bytes += d->ring[i % SLOTS].len;
	}
}

/* A datagram that arrived at time t (ns, CLOCK_MONOTONIC). */
static void dir_enqueue(struct dir *d, const uint8_t *data, size_t len, uint64_t t)
{
	struct slot *sl;
	uint64_t start, pkts, bytes;

	d->received++;
	if (len > SLOT_BYTES) {
		d->oversize++;
		goto drop;
	}
	if (d->tail - d->head == SLOTS) {
		d->ring_full++;
		goto drop;
	}
	dir_queue_at(d, t, &pkts, &bytes);
	if ((d->queue_pkts && pkts + 1 > d->queue_pkts) ||
	    (d->queue_bytes && bytes + len > d->queue_bytes))
		goto drop;
	sl = &d->ring[d->tail % SLOTS];
	memcpy(sl->data, data, len);
	sl->len = (uint16_t)len;
	start = d->link_free > t ? d->link_free : t;
	sl->link_done = d->rate ? start + len * 1000000000u / d->rate : t;
	d->link_free = sl->link_done;
	sl->at = sl->link_done + d->delay_ns;
	d->tail++;
	if (pkts + 1 > d->max_queue_pkts)
		d->max_queue_pkts = pkts + 1;
	if (bytes + len > d->max_queue_bytes)
		d->max_queue_bytes = bytes + len;
	return;
drop:
	d->dropped++;
	d->dropped_bytes += len;
}

/* Send what is due; returns when the next datagram is (UINT64_MAX: none). */
static uint64_t dir_deliver(struct relay *r, struct dir *d, uint64_t now)
{
	while (d->head < d->tail) {
		struct slot *sl = &d->ring[d->head % SLOTS];
		ssize_t n;

		if (sl->at > now)
			return sl->at;
		if (d == &r->up)
			n = send(r->srv_fd, sl->data, sl->len, 0);
		else
			n = sendto(r->cli_fd, sl->data, sl->len, 0, (struct sockaddr *)&r->peer,
				   sizeof(r->peer));
		if (n < 0) {
			d->send_errors++;
		} else {
			d->forwarded++;
			d->forwarded_bytes += sl->len;
		}
		d->head++;
	}
	return UINT64_MAX;
}

static void dir_json(FILE *f, const struct dir *d)
{
	fprintf(f, "\"%s\":{\"received\":%" PRIu64 ",\"forwarded\":%" PRIu64
		",\"forwarded_bytes\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"dropped_bytes\":%" PRIu64
		",\"ring_full\":%" PRIu64 ",\"oversize\":%" PRIu64 ",\"send_errors\":%" PRIu64
		",\"max_queue_packets\":%" PRIu64 ",\"max_queue_bytes\":%" PRIu64
		",\"rate\":%" PRIu64 "}",
		d->name, d->received, d->forwarded, d->forwarded_bytes, d->dropped,
		d->dropped_bytes, d->ring_full, d->oversize, d->send_errors, d->max_queue_pkts,
		d->max_queue_bytes, d->rate);
}

static void stats_print(FILE *f, const struct relay *r)
{
	fputc('{', f);
	dir_json(f, &r->down);
	fputc(',', f);
	dir_json(f, &r->up);
	fprintf(f, ",\"client_changes\":%" PRIu64 ",\"socket_drops\":%" PRIu64 "}\n",
		r->client_changes, (uint64_t)r->sock_drops[0] + r->sock_drops[1]);
}

static void stats_write(const struct relay *r, bool to_stdout)
{
	if (r->stats_file) {
		char tmp[4096];
		FILE *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp", r->stats_file);
		f = fopen(tmp, "w");
		if (!f || (stats_print(f, r), fclose(f)) || rename(tmp, r->stats_file))
			fprintf(stderr, "qs-relay: cannot write %s: %s\n", r->stats_file,
				strerror(errno));
	}
	if (to_stdout || !r->stats_file) {
		stats_print(stdout, r);
		fflush(stdout);
	}
}

/* Read what a socket has (at most RX_BURST datagrams) into a direction. */
static void rx(struct relay *r, int fd, struct dir *d)
{
	static uint8_t buf[65536];
	char cbuf[CMSG_SPACE(sizeof(uint32_t)) + CMSG_SPACE(sizeof(struct timespec))];
	struct timespec rt;
	uint64_t now = now_ns(), rt_off;

	/* kernel timestamps are CLOCK_REALTIME: their offset to ours */
	clock_gettime(CLOCK_REALTIME, &rt);
	rt_off = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec - now;

	for (int i = 0; i < RX_BURST; i++) {
		struct sockaddr_in from;
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr msg = {
			.msg_name = &from, .msg_namelen = sizeof(from),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		ssize_t n = recvmsg(fd, &msg, 0);
		struct cmsghdr *cm;
		uint64_t at = now;

		if (n < 0)
			return;
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level != SOL_SOCKET)
				continue;
			if (cm->cmsg_type == SO_RXQ_OVFL) {
				memcpy(&r->sock_drops[fd == r->srv_fd], CMSG_DATA(cm),
				       sizeof(uint32_t));
			} else if (cm->cmsg_type == SCM_TIMESTAMPNS) {
				struct timespec ts;
				uint64_t t;

				memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
				t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - rt_off;
				if (t < at)
					at = t;
			}
		}
		/* arrivals in order: a clock step must not reorder the link */
		if (at < d->last_arrival)
			at = d->last_arrival;
		d->last_arrival = at;
		if (fd == r->cli_fd) {
			if (!r->have_peer || from.sin_port != r->peer.sin_port ||
			    from.sin_addr.s_addr != r->peer.sin_addr.s_addr) {
				r->client_changes += r->have_peer;
				r->peer = from;
				r->have_peer = true;
			}
		} else if (!r->have_peer) {
			continue;	/* nobody to send it to */
		}
		dir_enqueue(d, buf, (size_t)n, at);
	}
}

static void arm(int tfd, uint64_t at)
{
	struct itimerspec its = { 0 };

	if (at != UINT64_MAX) {
		its.it_value.tv_sec = (time_t)(at / 1000000000u);
		its.it_value.tv_nsec = (long)(at % 1000000000u);
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "stats-file", required_argument, NULL, 'S' },
		{ "down-rate", required_argument, NULL, 'd' },
		{ "up-rate", required_argument, NULL, 'u' },
		{ "down-queue-packets", required_argument, NULL, 'D' },
		{ "down-queue-bytes", required_argument, NULL, 'B' },
		{ "up-queue-packets", required_argument, NULL, 'U' },
		{ "up-queue-bytes", required_argument, NULL, 'b' },
		{ "delay", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct relay r = { .up = { .name = "up" }, .down = { .name = "down" } };
	struct sockaddr_in srv = { 0 }, me;
	socklen_t mlen = sizeof(me);
	const char *port_file = NULL, *listen_ip = "127.0.0.1";
	double delay_ms = 0;
	sigset_t sigs;
	int c, ret = 1;
	bool have_srv = false;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int bad = 0;

		switch (c) {
		case 's': bad = parse_addr(optarg, &srv, true); have_srv = !bad; break;
		case 'l': listen_ip = optarg; break;
		case 'p': port_file = optarg; break;
		case 'S': r.stats_file = optarg; break;
		case 'd': bad = parse_rate(optarg, &r.down.rate); break;
		case 'u': bad = parse_rate(optarg, &r.up.rate); break;
		case 'D': bad = parse_u64(optarg, &r.down.queue_pkts); break;
		case 'B': bad = parse_u64(optarg, &r.down.queue_bytes); break;
		case 'U': bad = parse_u64(optarg, &r.up.queue_pkts); break;
		case 'b': bad = parse_u64(optarg, &r.up.queue_bytes); break;
		case 'w': {
			char *end;

			delay_ms = strtod(optarg, &end);
			bad = end == optarg || *end || delay_ms < 0 || delay_ms > 10000;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (bad) {
			fprintf(stderr, "qs-relay: bad value '%s' (see --help)\n", optarg);
			return 2;
		}
	}
	if (!have_srv || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (r.down.queue_pkts > SLOTS || r.up.queue_pkts > SLOTS) {
		fprintf(stderr, "qs-relay: a queue of more than %u packets does not fit the ring\n",
			SLOTS);
		return 2;
	}
	r.up.delay_ns = r.down.delay_ns = (uint64_t)(delay_ms * 1e6);
	r.up.ring = calloc(SLOTS, sizeof(struct slot));
	r.down.ring = calloc(SLOTS, sizeof(struct slot));
	if (!r.up.ring || !r.down.ring) {
		fprintf(stderr, "qs-relay: out of memory for the rings\n");
		return 1;
	}

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	r.sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	r.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	r.cli_fd = udp_socket();
	r.srv_fd = udp_socket();
	if (r.sfd < 0 || r.tfd < 0 || r.cli_fd < 0 || r.srv_fd < 0) {
		perror("qs-relay: signalfd, timerfd or socket");
		return 1;
	}
	if (parse_addr(listen_ip, &me, false)) {
		fprintf(stderr, "qs-relay: --listen '%s' is not an IPv4 address\n", listen_ip);
		return 2;
	}
	if (bind(r.cli_fd, (struct sockaddr *)&me, sizeof(me)) ||
	    getsockname(r.cli_fd, (struct sockaddr *)&me, &mlen)) {
		fprintf(stderr, "qs-relay: bind %s: %s\n", listen_ip, strerror(errno));
		return 1;
	}
	if (connect(r.srv_fd, (struct sockaddr *)&srv, sizeof(srv))) {
		fprintf(stderr, "qs-relay: connect to the server: %s\n", strerror(errno));
		return 1;
	}
	if (port_file) {
		char tmp[4096];
		FILE *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		f = fopen(tmp, "w");
		if (!f || fprintf(f, "%u\n", ntohs(me.sin_port)) < 0 || fclose(f) ||
		    rename(tmp, port_file)) {
			fprintf(stderr, "qs-relay: cannot write %s: %s\n", port_file,
				strerror(errno));
			return 1;
		}
	}

	for (;;) {
		struct pollfd p[4] = {
			{ .fd = r.cli_fd, .events = POLLIN }, { .fd = r.srv_fd, .events = POLLIN },
			{ .fd = r.tfd, .events = POLLIN }, { .fd = r.sfd, .events = POLLIN },
		};
		uint64_t now = now_ns(), a, b;

		a = dir_deliver(&r, &r.up, now);
		b = r.have_peer ? dir_deliver(&r, &r.down, now) : UINT64_MAX;
		arm(r.tfd, a < b ? a : b);
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("qs-relay: poll");
			break;
		}
		if (p[3].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(r.sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo != SIGUSR1) {
					stats_write(&r, true);
					ret = 0;
					break;
				}
				stats_write(&r, false);
			}
		}
		if (p[2].revents & POLLIN) {
			uint64_t ticks;

			if (read(r.tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				perror("qs-relay: timerfd");
		}
		if (p[0].revents & POLLIN)
			rx(&r, r.cli_fd, &r.up);
		if (p[1].revents & POLLIN)
			rx(&r, r.srv_fd, &r.down);
	}
	free(r.up.ring);
	free(r.down.ring);
	return ret;
}
