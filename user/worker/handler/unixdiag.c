// SPDX-License-Identifier: MIT
/* Unread bytes at the other end of a Unix stream socket (unixdiag.h). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#include "worker/handler/unixdiag.h"

int qs_unixdiag_open(void)
{
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	return nl < 0 ? -errno : nl;
}

/* One socket by inode: the attribute asked for (UNIX_DIAG_PEER or _RQLEN) into out. */
static int query(int nl, uint32_t ino, uint32_t show, unsigned attr, void *out, size_t len)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} q = {
		.nlh = { .nlmsg_len = sizeof(q), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST },
		.req = { .sdiag_family = AF_UNIX, .udiag_ino = ino, .udiag_show = show,
			 .udiag_cookie = { -1u, -1u } },
	};
	union {
		struct nlmsghdr nlh;
		uint8_t b[1024];
	} r;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct unix_diag_msg *m;
	struct nlattr *a;
	ssize_t n;
	size_t off;

	if (sendto(nl, &q, sizeof(q), 0, (struct sockaddr *)&sa, sizeof(sa)) != sizeof(q))
		return -errno;
	n = recv(nl, &r, sizeof(r), 0);
	if (n < 0)
		return -errno;
	if ((size_t)n < sizeof(r.nlh) || r.nlh.nlmsg_len > (size_t)n)
		return -EPROTO;
	if (r.nlh.nlmsg_type == NLMSG_ERROR)
		return -ENOENT;
	if (r.nlh.nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    r.nlh.nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -EPROTO;
	m = NLMSG_DATA(&r.nlh);
	if (m->udiag_ino != ino)
		return -EPROTO;
	/* the attributes, each bounded by the message */
	for (off = NLMSG_LENGTH(sizeof(*m)); off + sizeof(*a) <= r.nlh.nlmsg_len;
	     off += NLA_ALIGN(a->nla_len)) {
		a = (struct nlattr *)(r.b + off);
		if (a->nla_len < sizeof(*a) || off + a->nla_len > r.nlh.nlmsg_len)
			return -EPROTO;
		if (a->nla_type == attr && a->nla_len >= NLA_HDRLEN + len) {
			memcpy(out, (uint8_t *)a + NLA_HDRLEN, len);
			return 0;
		}
	}
	return -ENOENT;
}

int qs_unixdiag_unread(int nl, int fd, uint32_t *peer_ino, uint32_t *unread)
{
	struct unix_diag_rqlen rq;
	struct stat st;
	int ret;

	if (!*peer_ino) {
		if (fstat(fd, &st))
			return -errno;
		ret = query(nl, (uint32_t)st.st_ino, UDIAG_SHOW_PEER, UNIX_DIAG_PEER, peer_ino,
			    sizeof(*peer_ino));
		if (ret)
			return ret;
	}
	ret = query(nl, *peer_ino, UDIAG_SHOW_RQLEN, UNIX_DIAG_RQLEN, &rq, sizeof(rq));
	if (ret)
		return ret;
	*unread = rq.udiag_rqueue;
	return 0;
}
