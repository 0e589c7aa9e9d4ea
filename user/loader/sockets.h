/* SPDX-License-Identifier: MIT */
/* UDP sockets of the listeners: one per (listener, generation, worker). */
#ifndef QS_LOADER_SOCKETS_H
#define QS_LOADER_SOCKETS_H

#include <stdbool.h>

#include "common/config.h"

/*
 * Fail with EADDRINUSE (and a message naming the address) when another
 * socket already holds l: with SO_REUSEPORT we would silently join its
 * group otherwise.
 */
int qs_socket_check_free(const struct qs_listen *l);

/* A bound SO_REUSEPORT UDP socket for l; returns the fd or -errno. */
int qs_socket_open(const struct qs_listen *l, unsigned rcvbuf);

/*
 * A listening SO_REUSEPORT TCP socket for l (HTTPS over TCP), nonblocking;
 * the fd or -errno after a message.  check_free: fail with EADDRINUSE when
 * another socket holds the address (the first of the instance).
 */
int qs_tcp_socket_open(const struct qs_listen *l, bool check_free);


#endif
