/* SPDX-License-Identifier: MIT */
/*
 * UDP I/O of a worker: receive with the local address (IP_PKTINFO /
 * IPV6_RECVPKTINFO, so a host with several addresses answers from the one
 * the client used), the ECN bits and UDP GRO; send with the chosen source
 * address, ECN and UDP GSO, falling back to one datagram per sendmsg when
 * the kernel refuses GSO.
 */
#ifndef QS_WORKER_NET_H
#define QS_WORKER_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* One listen socket of this worker. */
struct qs_endpoint {
	int fd;
	int family;                       /* of the socket */
	struct sockaddr_storage addr;     /* bound address (may be a wildcard) */
	socklen_t addrlen;
	bool no_gso;                      /* the kernel refused UDP_SEGMENT once */
};

struct qs_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* What one recvmsg returned. */
struct qs_rx {
	struct qs_addr local;             /* destination address of the datagram */
	struct qs_addr remote;
	uint8_t ecn;
	size_t len;                       /* bytes in the buffer */
	size_t gso_size;                  /* segment size with GRO, else len */
};

/* Socket options a worker needs; set by the loader on every socket. */
int qs_net_setup_socket(int fd, int family);

/* Read one (possibly GRO-coalesced) datagram; 0, -EAGAIN, or -errno. */
int qs_net_recv(struct qs_endpoint *ep, uint8_t *buf, size_t buflen, struct qs_rx *rx);

/*
 * Send len bytes as datagrams of gso_size (the last may be shorter) from
 * local to remote.  Returns 0, -EAGAIN when the socket buffer is full (the
 * caller keeps the data), or another -errno (dropped; QUIC recovers).
 */
int qs_net_send(struct qs_endpoint *ep, const struct sockaddr *local, socklen_t local_len,
		const struct sockaddr *remote, socklen_t remote_len, uint8_t ecn,
		const uint8_t *data, size_t len, size_t gso_size);

/* "1.2.3.4:5" or "[::1]:5" into buf. */
const char *qs_addr_str(const struct sockaddr *sa, char *buf, size_t len);
uint16_t qs_addr_port(const struct sockaddr *sa);

#endif
