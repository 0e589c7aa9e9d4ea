/* SPDX-License-Identifier: MIT */
/* "127.0.0.1:9473" or "[::1]:9473" as a socket address (the metrics endpoint, a FastCGI pool). */
#ifndef QS_COMMON_ADDR_H
#define QS_COMMON_ADDR_H

#include <sys/socket.h>

/* addr into ss and *len: 0, or -EINVAL when it is not IPv4:PORT or [IPv6]:PORT. */
int qs_addr_parse(const char *addr, struct sockaddr_storage *ss, socklen_t *len);

#endif
