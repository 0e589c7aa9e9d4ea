/* SPDX-License-Identifier: MIT */
/*
 * The clients of the loader's small text servers on its poll loop (the
 * metrics endpoint, the control socket): a bounded request buffer, the
 * whole answer built in memory, a deadline; non-blocking throughout.  A
 * server keeps a fixed array of them: its bound on clients.
 */
#ifndef QS_LOADER_TEXTCONN_H
#define QS_LOADER_TEXTCONN_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

/* A growing text buffer; oom once an append failed (the text is then cut). */
struct qs_mbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

void qs_mbuf_printf(struct qs_mbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct qs_textconn {
	int fd;                 /* -1: free */
	long long deadline_ms;  /* monotonic (qs_now_ms) */
	char in[1024];
	size_t in_len;
	struct qs_mbuf out;     /* the whole answer, once known */
	size_t out_off;
	int waiting;            /* the answer comes later: not polled (the server's meaning) */
	bool lingering;         /* answered: reading what is left until the client closes */
};

/* How long a server takes no connection after accept failed for want of descriptors. */
#define QS_ACCEPT_PAUSE_MS 100

/*
 * accept4 on a server's listener (non-blocking, close-on-exec): the new
 * descriptor, or -1 when there is none to take now.  Out of descriptors
 * (EMFILE, ENFILE) the connection stays queued and the listener readable:
 * *paused_until_ms is set QS_ACCEPT_PAUSE_MS ahead, during which the
 * server leaves its listener out of poll (qs_accept_paused), or poll
 * would spin; what names the server for the log.
 */
int qs_textconn_accept(int lfd, long long now, long long *paused_until_ms, const char *what);
/* The listener is paused at now. */
static inline bool qs_accept_paused(long long paused_until_ms, long long now)
{
	return now < paused_until_ms;
}
/* timeout (ms, -1: none) shortened to the end of the pause. */
static inline int qs_accept_pause_timeout(long long paused_until_ms, long long now, int timeout)
{
	if (paused_until_ms > now && (timeout < 0 || paused_until_ms - now < timeout))
		return (int)(paused_until_ms - now);
	return timeout;
}

/* n free connections. */
void qs_textconn_init(struct qs_textconn *c, int n);
/* A free one of the n, or NULL. */
struct qs_textconn *qs_textconn_free_slot(struct qs_textconn *c, int n);
/* pollfds for those in use (events by their state), into p; how many. */
int qs_textconn_pollfds(const struct qs_textconn *c, int n, struct pollfd *p);
/* ms until the earliest deadline, or -1. */
int qs_textconn_timeout(const struct qs_textconn *c, int n);
/* The one of the n whose fd this is, or NULL. */
struct qs_textconn *qs_textconn_by_fd(struct qs_textconn *c, int n, int fd);
/*
 * Write what is left of the answer: true once all of it is out, false
 * while the socket is full or after an error (the connection is closed).
 */
bool qs_textconn_write(struct qs_textconn *c);
/*
 * After the answer: end our side and read what the client still sends
 * until it closes, then close (a unix socket closed with bytes unread
 * resets the client, which may lose the answer).  Call again on POLLIN.
 */
void qs_textconn_linger(struct qs_textconn *c);
void qs_textconn_close(struct qs_textconn *c);
/* Close the descriptors only (a forked child) or everything. */
void qs_textconn_close_fds(struct qs_textconn *c, int n);
void qs_textconn_close_all(struct qs_textconn *c, int n);

#endif
