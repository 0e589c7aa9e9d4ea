// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "loader/sockets.h"

static int new_udp_socket(const struct qs_listen *l)
{
	int fd = socket(l->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int off = 0;

	if (fd < 0)
		return -errno;
	/* [::]:port serves IPv4 too, whatever net.ipv6.bindv6only says */
	if (l->addr.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int qs_socket_check_free(const struct qs_listen *l)
{
	int fd = new_udp_socket(l), err = 0;

	if (fd < 0) {
		pr_warn("cannot create a UDP socket for %s: %s", l->text, strerror(-fd));
		return fd;
	}
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen)) {
		err = -errno;
		if (err == -EADDRINUSE)
			pr_warn("cannot listen on %s: address already in use (another "
				"quicsteerd instance or another server holds it; stop it "
				"or choose another --listen)", l->text);
		else if (err == -EADDRNOTAVAIL)
			pr_warn("cannot listen on %s: no interface has this address", l->text);
		else
			pr_warn("cannot bind %s: %s", l->text, strerror(-err));
	}
	close(fd);
	return err;
}

int qs_socket_open(const struct qs_listen *l, unsigned rcvbuf)
{
	int fd = new_udp_socket(l), one = 1, err;

	if (fd < 0) {
		pr_warn("cannot create a UDP socket for %s: %s", l->text, strerror(-fd));
		return fd;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) {
		err = -errno;
		pr_warn("cannot set SO_REUSEPORT on %s: %s", l->text, strerror(errno));
		goto fail;
	}
	/* FORCE: root may exceed net.core.rmem_max, so a flood queues instead of dropping */
	if (rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)))
		pr_warn("cannot set a %u-byte receive buffer on %s: %s", rcvbuf, l->text,
			strerror(errno));
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen)) {
		err = -errno;
		pr_warn("cannot bind %s: %s%s", l->text, strerror(errno),
			err == -EADDRINUSE ? " (something else took the port while we "
			"were starting)" : "");
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}

int qs_tcp_socket_open(const struct qs_listen *l, bool check_free)
{
	int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1, off = 0, err;

	if (fd < 0) {
		err = -errno;
		pr_warn("cannot create a TCP socket for %s: %s", l->text, strerror(errno));
		return err;
	}
	if ((l->addr.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off))) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))) {
		err = -errno;
		pr_warn("cannot set the options of a TCP socket for %s: %s", l->text,
			strerror(errno));
		goto fail;
	}
	/* alone first: bound with SO_REUSEPORT it would join another server's group */
	if (check_free && bind(fd, (const struct sockaddr *)&l->addr, l->addrlen)) {
		err = -errno;
		pr_warn("cannot listen on TCP %s: %s%s", l->text, strerror(errno),
			err == -EADDRINUSE ? " (another server holds it: stop it, choose "
			"another --listen, or --tcp off)" : "");
		goto fail;
	}
	if (check_free) {
		close(fd);
		return qs_tcp_socket_open(l, false);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) || listen(fd, 4096)) {
		err = -errno;
		pr_warn("cannot listen on TCP %s: %s", l->text, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}
