// SPDX-License-Identifier: MIT
/*
 * qs-initials: valid client Initials that never finish their handshake,
 * for the half-open connection tests.  Each is the first flight of a real
 * QUIC client (ngtcp2 with OpenSSL through ngtcp2_crypto_ossl: a real
 * ClientHello in correctly protected, padded Initial packets), sent from
 * a UDP socket of its own, so from a new source port, that is never read:
 * to a server it is a new connection whose client went silent.  The
 * sockets stay open until the tool exits, so no two Initials share a port.
 *
 *   qs-initials --to ADDR:PORT [--count N] [--rate N] [--groups LIST]
 *
 * --count Initials (default 100) at --rate per second (default 100; 0: as
 * fast as possible); --groups the TLS key-share groups (default X25519: the
 * ClientHello fits one datagram).  Prints one JSON line:
 * {"initials":N,"datagrams":D,"bytes":B,"seconds":S}.  Exit 0 when every
 * Initial went out.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_ossl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#define MAX_COUNT 100000

struct forged {
	ngtcp2_conn *qc;
	ngtcp2_crypto_conn_ref ref;
	ngtcp2_crypto_ossl_ctx *ossl;
	SSL *ssl;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fill_random(void *p, size_t n)
{
	if (RAND_bytes(p, (int)n) != 1) {
		fprintf(stderr, "qs-initials: RAND_bytes failed\n");
		exit(1);
	}
}

static void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
	(void)ctx;
	fill_random(dest, len);
}

static int new_cid_cb(ngtcp2_conn *qc, ngtcp2_cid *cid, ngtcp2_stateless_reset_token *token,
		      size_t cidlen, void *user_data)
{
	(void)qc;
	(void)user_data;
	cid->datalen = cidlen;
	fill_random(cid->data, cidlen);
	fill_random(token->data, sizeof(token->data));
	return 0;
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
	return ((struct forged *)ref->user_data)->qc;
}

/* what a client must have; nothing here ever runs past the first flight */
static const ngtcp2_callbacks callbacks = {
	.client_initial = ngtcp2_crypto_client_initial_cb,
	.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
	.encrypt = ngtcp2_crypto_encrypt_cb,
	.decrypt = ngtcp2_crypto_decrypt_cb,
	.hp_mask = ngtcp2_crypto_hp_mask_cb,
	.recv_retry = ngtcp2_crypto_recv_retry_cb,
	.rand = rand_cb,
	.update_key = ngtcp2_crypto_update_key_cb,
	.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
	.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
	.version_negotiation = ngtcp2_crypto_version_negotiation_cb,
	.get_new_connection_id2 = new_cid_cb,
	.get_path_challenge_data2 = ngtcp2_crypto_get_path_challenge_data2_cb,
};

static void forged_free(struct forged *f)
{
	if (f->ssl) {
		SSL_set_app_data(f->ssl, NULL);
		SSL_free(f->ssl);
	}
	if (f->ossl)
		ngtcp2_crypto_ossl_ctx_del(f->ossl);
	if (f->qc)
		ngtcp2_conn_del(f->qc);
}

/*
 * One client's first flight from socket fd (connected to the server):
 * datagrams and bytes sent added to *dgrams, *bytes; 0 or -1.
 */
static int send_first_flight(SSL_CTX *tls, int fd, unsigned *dgrams, unsigned long long *bytes)
{
	struct sockaddr_storage local, remote;
	socklen_t llen = sizeof(local), rlen = sizeof(remote);
	ngtcp2_settings settings;
	ngtcp2_transport_params params;
	ngtcp2_cid dcid, scid;
	ngtcp2_path path;
	struct forged f = { 0 };
	uint8_t buf[1500];
	int ret = -1;

	if (getsockname(fd, (struct sockaddr *)&local, &llen) ||
	    getpeername(fd, (struct sockaddr *)&remote, &rlen))
		return -1;
	path.local.addr = (ngtcp2_sockaddr *)&local;
	path.local.addrlen = llen;
	path.remote.addr = (ngtcp2_sockaddr *)&remote;
	path.remote.addrlen = rlen;
	path.user_data = NULL;
	dcid.datalen = 16;
	fill_random(dcid.data, dcid.datalen);
	scid.datalen = 16;
	fill_random(scid.data, scid.datalen);
	ngtcp2_settings_default(&settings);
	settings.initial_ts = now_ns();
	ngtcp2_transport_params_default(&params);
	params.initial_max_streams_uni = 3;
	params.initial_max_stream_data_uni = 1 << 16;
	params.initial_max_data = 1 << 20;
	params.max_idle_timeout = 30 * NGTCP2_SECONDS;
	if (ngtcp2_conn_client_new(&f.qc, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &callbacks,
				   &settings, &params, NULL, &f))
		goto out;
	f.ssl = SSL_new(tls);
	if (!f.ssl || ngtcp2_crypto_ossl_configure_client_session(f.ssl))
		goto out;
	f.ref.get_conn = get_conn;
	f.ref.user_data = &f;
	SSL_set_app_data(f.ssl, &f.ref);
	SSL_set_connect_state(f.ssl);
	if (SSL_set_alpn_protos(f.ssl, (const unsigned char *)"\x02h3", 3) ||
	    SSL_set_tlsext_host_name(f.ssl, "localhost") != 1 ||
	    ngtcp2_crypto_ossl_ctx_new(&f.ossl, f.ssl))
		goto out;
	ngtcp2_conn_set_tls_native_handle(f.qc, f.ossl);
	/* everything the client sends before it must read: the whole ClientHello */
	for (;;) {
		ngtcp2_path_storage ps;
		ngtcp2_pkt_info pi;
		ngtcp2_ssize n;

		ngtcp2_path_storage_zero(&ps);
		n = ngtcp2_conn_write_pkt(f.qc, &ps.path, &pi, buf, sizeof(buf), now_ns());
		if (n < 0) {
			fprintf(stderr, "qs-initials: ngtcp2_conn_write_pkt: %s\n",
				ngtcp2_strerror((int)n));
			goto out;
		}
		if (n == 0)
			break;
		if (send(fd, buf, (size_t)n, 0) != n) {
			fprintf(stderr, "qs-initials: send: %s\n", strerror(errno));
			goto out;
		}
		(*dgrams)++;
		*bytes += (unsigned long long)n;
	}
	ret = 0;
out:
	forged_free(&f);
	return ret;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: qs-initials --to ADDR:PORT [--count N] [--rate N] [--groups LIST]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "groups", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *to = NULL, *groups = "X25519";
	unsigned long count = 100, rate = 100;
	unsigned dgrams = 0, sent = 0;
	unsigned long long bytes = 0;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai = NULL;
	char host[256], *port;
	struct rlimit rl;
	SSL_CTX *tls = NULL;
	int *fds = NULL, opt, ret = 1;
	uint64_t t0;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 't': to = optarg; break;
		case 'n': count = strtoul(optarg, NULL, 10); break;
		case 'r': rate = strtoul(optarg, NULL, 10); break;
		case 'g': groups = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!to || count == 0 || count > MAX_COUNT || strlen(to) >= sizeof(host)) {
		usage(stderr);
		fprintf(stderr, "  --to is required; --count 1..%d\n", MAX_COUNT);
		return 2;
	}
	/* "127.0.0.1:443", "[::1]:443" */
	strcpy(host, to);
	port = strrchr(host, ':');
	if (!port) {
		fprintf(stderr, "qs-initials: --to %s: expected ADDR:PORT\n", to);
		return 2;
	}
	*port++ = '\0';
	if (host[0] == '[' && port[-2] == ']') {
		port[-2] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &ai)) {
		fprintf(stderr, "qs-initials: --to %s: not a numeric ADDR:PORT\n", to);
		return 2;
	}
	/* one descriptor per Initial, held to the end */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < count + 64) {
		rl.rlim_cur = rl.rlim_max < count + 64 ? rl.rlim_max : count + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < count + 64) {
			fprintf(stderr, "qs-initials: --count %lu needs %lu descriptors, the limit "
				"is %lu\n", count, count + 64, (unsigned long)rl.rlim_cur);
			goto out;
		}
	}
	fds = malloc(count * sizeof(*fds));
	if (!fds)
		goto out;
	if (ngtcp2_crypto_ossl_init()) {
		fprintf(stderr, "qs-initials: ngtcp2_crypto_ossl_init failed\n");
		goto out;
	}
	tls = SSL_CTX_new(TLS_client_method());
	if (!tls || SSL_CTX_set_min_proto_version(tls, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set1_groups_list(tls, groups) != 1) {
		fprintf(stderr, "qs-initials: TLS context (groups %s): %s\n", groups,
			ERR_reason_error_string(ERR_get_error()));
		goto out;
	}
	SSL_CTX_set_verify(tls, SSL_VERIFY_NONE, NULL);	/* never gets that far */

	t0 = now_ns();
	for (sent = 0; sent < count; sent++) {
		if (rate) {
			uint64_t due = t0 + sent * 1000000000ull / rate, t = now_ns();

			if (due > t) {
				struct timespec d = { (time_t)((due - t) / 1000000000u),
						      (long)((due - t) % 1000000000u) };

				nanosleep(&d, NULL);
			}
		}
		fds[sent] = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fds[sent] < 0 || connect(fds[sent], ai->ai_addr, ai->ai_addrlen)) {
			fprintf(stderr, "qs-initials: socket to %s: %s\n", to, strerror(errno));
			if (fds[sent] >= 0)
				close(fds[sent]);
			break;
		}
		if (send_first_flight(tls, fds[sent], &dgrams, &bytes)) {
			close(fds[sent]);
			break;
		}
	}
	printf("{\"initials\":%u,\"datagrams\":%u,\"bytes\":%llu,\"seconds\":%.3f}\n", sent,
	       dgrams, bytes, (double)(now_ns() - t0) / 1e9);
	ret = sent == count ? 0 : 1;
	for (unsigned i = 0; i < sent; i++)
		close(fds[i]);
out:
	SSL_CTX_free(tls);
	free(fds);
	freeaddrinfo(ai);
	return ret;
}
