/* SPDX-License-Identifier: MIT */
/*
 * How many bytes of what we wrote on a Unix stream socket the process at
 * the other end has not read yet, from the kernel's socket diagnostics
 * (NETLINK_SOCK_DIAG, unix_diag): exact bytes, where SIOCOUTQ counts
 * buffer memory and a partly read buffer as unread.
 */
#ifndef QS_WORKER_HANDLER_UNIXDIAG_H
#define QS_WORKER_HANDLER_UNIXDIAG_H

#include <stdint.h>

/* A socket to ask on (opened before the sandbox), or -errno. */
int qs_unixdiag_open(void);

/*
 * Bytes the peer of fd has not read: 0 and *unread set, or -errno.
 * *peer_ino caches the peer's inode (0: not known yet).
 */
int qs_unixdiag_unread(int nl, int fd, uint32_t *peer_ino, uint32_t *unread);

#endif
