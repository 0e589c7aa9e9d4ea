/* SPDX-License-Identifier: MIT */
/*
 * The loader's BPF side: probe the kernel, load bpf/steer.bpf.c once per
 * listener (the copies share every map), pin under
 * /sys/fs/bpf/quicsteer/<instance>/, fill the socket arrays (UDP and TCP)
 * and the state.
 */
#ifndef QS_LOADER_BPF_H
#define QS_LOADER_BPF_H

#include <stdbool.h>

#include "quicsteer/steer.h"
#include "common/config.h"

struct steer;
struct bpf_map;

struct qs_bpf {
	struct steer *skel[QS_MAX_LISTENERS];
	unsigned n_listeners;
	enum qs_steering steering;
	const char *prog_name;
	bool tcp;                          /* qs_tcp_steer loaded: --tcp on, steering on */
	char pin_dir[128];
	bool pinned;
	bool adopted;                      /* maps reopened from the pins: no skeleton */
	int socks_fd, state_fd, keys_fd, stats_fd, workers_fd;
	int tcp_socks_fd, tcp_stats_fd;
	struct qs_worker_stats *workers;   /* mmap of qs_worker_stats */
	size_t workers_len;
};

/* Route libbpf's messages through our logger, one level lower. */
void qs_bpf_setup_logging(void);

/*
 * Check what the loader needs from the kernel: BTF, the sk_reuseport
 * program type and REUSEPORT_SOCKARRAY (when steering), a bpffs mount
 * (mounted if missing).  Logs the missing feature and what to do.
 */
int qs_bpf_probe(bool steering);

/* Is there a pin directory for this instance?  */
bool qs_bpf_pins_exist(const char *instance);
/* Remove the pin directory of instance (stale or ours).  */
int qs_bpf_remove_pins(const char *instance);

/* tcp: the TCP program too (with steering on; needs Linux >= 5.14). */
int qs_bpf_load(struct qs_bpf *b, unsigned n_listeners, enum qs_steering steering, bool tcp);
int qs_bpf_pin(struct qs_bpf *b, const char *instance);
/*
 * A binary upgrade: open the maps the previous binary pinned for instance
 * (its programs stay attached to the sockets' groups and pinned); what
 * qs_bpf_load and qs_bpf_pin would have made, short of the skeletons.
 * -errno after logging which pin is missing or of the wrong shape.
 */
int qs_bpf_adopt(struct qs_bpf *b, const char *instance, unsigned n_listeners,
		 enum qs_steering steering, bool tcp);
int qs_bpf_attach(struct qs_bpf *b, unsigned listener, int sock_fd, const char *what);
int qs_bpf_set_socket(struct qs_bpf *b, unsigned listener, unsigned gen,
		      unsigned worker, int sock_fd, const char *what);
/* The worker's socket leaves the array (its generation retired). */
void qs_bpf_clear_socket(struct qs_bpf *b, unsigned listener, unsigned gen, unsigned worker);
/*
 * The TCP counterparts, for the listener's TCP group: attach qs_tcp_steer
 * (SELECT_OR_MIGRATE), put a TCP socket in qs_tcp_socks, clear its slot.
 */
int qs_bpf_attach_tcp(struct qs_bpf *b, unsigned listener, int sock_fd, const char *what);
int qs_bpf_set_tcp_socket(struct qs_bpf *b, unsigned listener, unsigned gen,
			  unsigned worker, int sock_fd, const char *what);
void qs_bpf_clear_tcp_socket(struct qs_bpf *b, unsigned listener, unsigned gen,
			     unsigned worker);
int qs_bpf_set_state(struct qs_bpf *b, const struct qs_steer_state *st);
int qs_bpf_set_key(struct qs_bpf *b, unsigned config, const struct qs_cid_key *key);
/* Pin maps under dir, by their names; -errno after logging which failed. */
int qs_bpf_pin_maps(struct bpf_map **maps, size_t n, const char *dir);
/* In a forked worker: close every BPF fd of the process (nothing else). */
void qs_bpf_close_fds(void);
/* Unpin (if pinned) and free everything. */
void qs_bpf_destroy(struct qs_bpf *b);

#endif
