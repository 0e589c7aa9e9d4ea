// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/quic/net.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

int qs_net_setup_socket(int fd, int family)
{
	int one = 1, pmtu = IP_PMTUDISC_PROBE;

	/* the local address of each datagram, and its ECN bits */
	if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) && family == AF_INET)
		return -errno;
	if (setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one)) && family == AF_INET)
		return -errno;
	if (family == AF_INET6) {
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof(one)))
			return -errno;
		pmtu = IPV6_PMTUDISC_PROBE;
		setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof(pmtu));
		pmtu = IP_PMTUDISC_PROBE;
	}
	/* QUIC does its own PMTU probing: set DF, never fragment */
	setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
	/* GRO is an optimization: older kernels lack it */
	setsockopt(fd, IPPROTO_UDP, UDP_GRO, &one, sizeof(one));
	return 0;
}

static void set_port(struct qs_addr *a, const struct sockaddr_storage *bound)
{
	if (a->ss.ss_family == AF_INET && bound->ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = ((const struct sockaddr_in *)bound)->sin_port;
	else if (a->ss.ss_family == AF_INET6 && bound->ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port =
			((const struct sockaddr_in6 *)bound)->sin6_port;
}

int qs_net_recv(struct qs_endpoint *ep, uint8_t *buf, size_t buflen, struct qs_rx *rx)
{
	uint8_t ctrl[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int)) * 2 +
		     CMSG_SPACE(sizeof(struct in_pktinfo))];
	struct iovec iov = { .iov_base = buf, .iov_len = buflen };
	struct msghdr msg = {
		.msg_name = &rx->remote.ss,
		.msg_namelen = sizeof(rx->remote.ss),
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctrl,
		.msg_controllen = sizeof(ctrl),
	};
	struct cmsghdr *cm;
	ssize_t n;

	n = recvmsg(ep->fd, &msg, MSG_DONTWAIT);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	rx->remote.len = msg.msg_namelen;
	rx->len = (size_t)n;
	rx->gso_size = rx->len;
	rx->ecn = 0;
	/* default: the bound address (fixed below from pktinfo) */
	memcpy(&rx->local.ss, &ep->addr, sizeof(ep->addr));
	rx->local.len = ep->addrlen;

	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO &&
		    ep->family == AF_INET) {
			struct in_pktinfo pi;
			struct sockaddr_in *a = (struct sockaddr_in *)&rx->local.ss;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			memset(a, 0, sizeof(*a));
			a->sin_family = AF_INET;
			a->sin_addr = pi.ipi_addr;
			rx->local.len = sizeof(*a);
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&rx->local.ss;

			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			memset(a, 0, sizeof(*a));
			a->sin6_family = AF_INET6;
			a->sin6_addr = pi.ipi6_addr;
			rx->local.len = sizeof(*a);
		} else if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TOS) {
			rx->ecn = *(uint8_t *)CMSG_DATA(cm) & 0x3;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_TCLASS) {
			int tc;

			memcpy(&tc, CMSG_DATA(cm), sizeof(tc));
			rx->ecn = (uint8_t)(tc & 0x3);
		} else if (cm->cmsg_level == IPPROTO_UDP && cm->cmsg_type == UDP_GRO) {
			int seg;

			memcpy(&seg, CMSG_DATA(cm), sizeof(seg));
			if (seg > 0)
				rx->gso_size = (size_t)seg;
		}
	}
	set_port(&rx->local, &ep->addr);
	return 0;
}

static ssize_t send_once(struct qs_endpoint *ep, const struct sockaddr *local,
			 const struct sockaddr *remote, socklen_t remote_len, uint8_t ecn,
			 const uint8_t *data, size_t len, size_t gso_size)
{
	uint8_t ctrl[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t)) +
		     CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr msg = {
		.msg_name = (void *)remote,
		.msg_namelen = remote_len,
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctrl,
		.msg_controllen = sizeof(ctrl),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	size_t clen = 0;
	int tos = ecn;
	ssize_t n;

	/* answer from the address the client used */
	if (ep->family == AF_INET && local && local->sa_family == AF_INET) {
		struct in_pktinfo pi = { .ipi_spec_dst = ((const struct sockaddr_in *)local)->sin_addr };

		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		clen += CMSG_SPACE(sizeof(pi));
		cm = (struct cmsghdr *)(ctrl + clen);
	} else if (ep->family == AF_INET6 && local && local->sa_family == AF_INET6) {
		struct in6_pktinfo pi = { .ipi6_addr = ((const struct sockaddr_in6 *)local)->sin6_addr };

		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		clen += CMSG_SPACE(sizeof(pi));
		cm = (struct cmsghdr *)(ctrl + clen);
	}
	if (len > gso_size) {
		uint16_t seg = (uint16_t)gso_size;

		cm->cmsg_level = IPPROTO_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(seg));
		memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
		clen += CMSG_SPACE(sizeof(seg));
		cm = (struct cmsghdr *)(ctrl + clen);
	}
	if (ecn) {
		/* a dual-stack socket sending to an IPv4-mapped peer takes IP_TOS */
		bool v4 = ep->family == AF_INET || (remote->sa_family == AF_INET6 &&
			IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)remote)->sin6_addr));

		cm->cmsg_level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
		cm->cmsg_type = v4 ? IP_TOS : IPV6_TCLASS;
		cm->cmsg_len = CMSG_LEN(sizeof(tos));
		memcpy(CMSG_DATA(cm), &tos, sizeof(tos));
		clen += CMSG_SPACE(sizeof(tos));
	}
	msg.msg_controllen = clen;
	if (!clen)
		msg.msg_control = NULL;
	do {
		n = sendmsg(ep->fd, &msg, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

int qs_net_send(struct qs_endpoint *ep, const struct sockaddr *local, socklen_t local_len,
		const struct sockaddr *remote, socklen_t remote_len, uint8_t ecn,
		const uint8_t *data, size_t len, size_t gso_size)
{
	ssize_t n;

	(void)local_len;
	if (gso_size == 0 || gso_size > len)
		gso_size = len;
	if (len > gso_size && !ep->no_gso) {
		n = send_once(ep, local, remote, remote_len, ecn, data, len, gso_size);
		if (n >= 0)
			return 0;
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return -EAGAIN;
		if (n != -EIO && n != -EINVAL && n != -ENOPROTOOPT)
			return (int)n;
		pr_info("UDP GSO refused by the kernel (%s): sending datagrams one by one",
			strerror((int)-n));
		ep->no_gso = true;
	}
	while (len > 0) {
		size_t seg = len < gso_size ? len : gso_size;

		n = send_once(ep, local, remote, remote_len, ecn, data, seg, seg);
		if (n < 0) {
			if (n == -EAGAIN || n == -EWOULDBLOCK)
				return -EAGAIN;
			return (int)n;
		}
		data += seg;
		len -= seg;
	}
	return 0;
}

uint16_t qs_addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

const char *qs_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, qs_addr_port(sa));
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, qs_addr_port(sa));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}
