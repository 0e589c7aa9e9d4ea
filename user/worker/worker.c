// SPDX-License-Identifier: MIT
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "worker/worker.h"

#define BATCH 64
#define DGRAM_MAX 2048

static inline void count(__u64 *c, __u64 n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static int drop_privileges(const struct qs_worker_ctx *ctx)
{
	if (setgroups(0, NULL) || setgid(ctx->gid) || setuid(ctx->uid)) {
		pr_warn("cannot switch to user %s (uid %u): %s", ctx->user,
			(unsigned)ctx->uid, strerror(errno));
		return -errno;
	}
	/* no way back: a compromised worker cannot regain root */
	if (ctx->uid != 0 && setuid(0) == 0) {
		pr_warn("privileges still recoverable after setuid: refusing to run");
		return -EPERM;
	}
	return 0;
}

/* Classify one datagram by its QUIC header and DCID. */
static void classify(struct qs_worker_ctx *ctx, const struct qs_shared *sh,
		     const __u8 *p, size_t len)
{
	struct qs_worker_stats *st = ctx->stats;
	struct qs_cid_owner o;
	const __u8 *dcid;

	count(&st->rx_datagrams, 1);
	count(&st->rx_bytes, len);
	if (len == 0) {
		count(&st->rx_malformed, 1);
		return;
	}
	if (p[0] & 0x80) {
		if (len < 6 + QS_CID_LEN) {
			count(&st->rx_malformed, 1);
			return;
		}
		count(&st->rx_long, 1);
		if (p[5] != QS_CID_LEN) {
			count(&st->rx_cid_other, 1);
			return;
		}
		dcid = p + 6;
	} else {
		if (len < 1 + QS_CID_LEN) {
			count(&st->rx_malformed, 1);
			return;
		}
		count(&st->rx_short, 1);
		dcid = p + 1;
	}
	if (qs_cid_decode_table(dcid, sh->cid_keys, &o) < 0)
		count(&st->rx_cid_other, 1);
	else if (o.gen == ctx->gen && o.worker == ctx->id)
		count(&st->rx_cid_own, 1);
	else
		count(&st->rx_cid_foreign, 1);
}

static int drain_socket(struct qs_worker_ctx *ctx, int fd)
{
	static __u8 bufs[BATCH][DGRAM_MAX];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct qs_shared sh;
	int n;

	qs_shared_read(ctx->shared, &sh);
	for (;;) {
		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = DGRAM_MAX;
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			pr_warn("recvmmsg: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++)
			classify(ctx, &sh, bufs[i], msgs[i].msg_len);
		if (n < BATCH)
			break;
	}
	explicit_bzero(&sh, sizeof(sh));
	return 0;
}

int qs_worker_main(struct qs_worker_ctx *ctx)
{
	struct epoll_event ev, events[QS_MAX_LISTENERS + 1];
	char name[32];
	sigset_t mask;
	int ep = -1, sfd = -1, ret = 1;

	snprintf(name, sizeof(name), "worker %u/%u", ctx->gen, ctx->id);
	qs_log_set_name(name);
	pid_t loader = getppid();

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0) {
		pr_warn("cannot set up the event loop: %s", strerror(errno));
		goto out;
	}
	if (drop_privileges(ctx))
		goto out;
	/*
	 * Die with the loader, even after its kill -9, so nothing is left
	 * behind.  Set after setuid(), which clears it.
	 */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != loader)
		goto out;

	ev.events = EPOLLIN;
	ev.data.u32 = QS_MAX_LISTENERS;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	for (unsigned i = 0; i < ctx->n_fds; i++) {
		ev.events = EPOLLIN;
		ev.data.u32 = i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, ctx->fds[i], &ev)) {
			pr_warn("epoll_ctl: %s", strerror(errno));
			goto out;
		}
	}
	pr_debug("running as %s, %u sockets", ctx->user, ctx->n_fds);

	for (;;) {
		int n = epoll_wait(ep, events, QS_MAX_LISTENERS + 1, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			pr_warn("epoll_wait: %s", strerror(errno));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			if (events[i].data.u32 == QS_MAX_LISTENERS) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) == sizeof(si) &&
				    si.ssi_signo != SIGHUP) {
					ret = 0;
					goto out;
				}
				continue;
			}
			drain_socket(ctx, ctx->fds[events[i].data.u32]);
		}
	}
out:
	if (ep >= 0)
		close(ep);
	if (sfd >= 0)
		close(sfd);
	return ret;
}
