// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "common/log.h"
#include "loader/bpf.h"
#include "steer.skel.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
#ifndef SO_ATTACH_REUSEPORT_EBPF
#define SO_ATTACH_REUSEPORT_EBPF 52
#endif

#define BPFFS "/sys/fs/bpf"

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum qs_log_level l = level == LIBBPF_WARN ? QS_LOG_INFO : QS_LOG_DEBUG;

	if (l > qs_log_get_level())
		return 0;
	qs_vlog(l, fmt, ap);
	return 0;
}

void qs_bpf_setup_logging(void)
{
	libbpf_set_print(libbpf_print);
}

static int ensure_bpffs(void)
{
	struct statfs st;

	if (statfs(BPFFS, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mkdir(BPFFS, 0700) && errno != EEXIST) {
		pr_warn("cannot create %s: %s", BPFFS, strerror(errno));
		return -errno;
	}
	if (mount("bpf", BPFFS, "bpf", 0, "mode=0700")) {
		int err = -errno;

		pr_warn("bpffs is not mounted at %s and mounting it failed: %s "
			"(mount it with 'mount -t bpf bpf %s', or add it to /etc/fstab)",
			BPFFS, strerror(-err), BPFFS);
		return err;
	}
	pr_info("mounted bpffs at %s", BPFFS);
	return 0;
}

int qs_bpf_probe(bool steering)
{
	int ret;

	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		pr_warn("kernel BTF missing (/sys/kernel/btf/vmlinux): quicsteer needs a "
			"kernel built with CONFIG_DEBUG_INFO_BTF=y (Linux >= 5.10)");
		return -ENOTSUP;
	}
	if (steering) {
		ret = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_REUSEPORT, NULL);
		if (ret != 1) {
			pr_warn("this kernel cannot load sk_reuseport BPF programs (%s): "
				"run with --steering off (plain SO_REUSEPORT hashing, "
				"connections break on migration) or use Linux >= 5.10",
				ret < 0 ? strerror(-ret) : "program type not supported");
			return ret < 0 ? ret : -ENOTSUP;
		}
		ret = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, NULL);
		if (ret != 1) {
			pr_warn("this kernel has no BPF_MAP_TYPE_REUSEPORT_SOCKARRAY (%s): "
				"run with --steering off or use Linux >= 5.10",
				ret < 0 ? strerror(-ret) : "map type not supported");
			return ret < 0 ? ret : -ENOTSUP;
		}
	}
	return ensure_bpffs();
}

static void pin_dir_of(const char *instance, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", QS_PIN_ROOT, instance);
}

bool qs_bpf_pins_exist(const char *instance)
{
	char dir[128];

	pin_dir_of(instance, dir, sizeof(dir));
	return access(dir, F_OK) == 0;
}

int qs_bpf_remove_pins(const char *instance)
{
	char dir[128], path[512];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	pin_dir_of(instance, dir, sizeof(dir));
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) && errno != ENOENT) {
			ret = -errno;
			pr_warn("cannot remove pin %s: %s", path, strerror(errno));
		}
	}
	closedir(d);
	if (rmdir(dir) && errno != ENOENT) {
		ret = -errno;
		pr_warn("cannot remove pin directory %s: %s", dir, strerror(errno));
	}
	rmdir(QS_PIN_ROOT);	/* only succeeds when no other instance is pinned */
	return ret;
}

static struct bpf_program *prog_of(struct qs_bpf *b, unsigned listener)
{
	return bpf_object__find_program_by_name(b->skel[listener]->obj, b->prog_name);
}

static int reuse_maps(struct steer *dst, struct steer *src)
{
	struct { struct bpf_map *d, *s; } m[] = {
		{ dst->maps.qs_socks, src->maps.qs_socks },
		{ dst->maps.qs_state, src->maps.qs_state },
		{ dst->maps.qs_cid_keys, src->maps.qs_cid_keys },
		{ dst->maps.qs_steer_stats, src->maps.qs_steer_stats },
		{ dst->maps.qs_worker_stats, src->maps.qs_worker_stats },
		{ dst->maps.qs_tcp_socks, src->maps.qs_tcp_socks },
		{ dst->maps.qs_tcp_steer_stats, src->maps.qs_tcp_steer_stats },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		int ret = bpf_map__reuse_fd(m[i].d, bpf_map__fd(m[i].s));

		if (ret)
			return ret;
	}
	return 0;
}

static void init(struct qs_bpf *b, enum qs_steering steering, bool tcp)
{
	memset(b, 0, sizeof(*b));
	b->socks_fd = b->state_fd = b->keys_fd = b->stats_fd = b->workers_fd = -1;
	b->tcp_socks_fd = b->tcp_stats_fd = -1;
	b->steering = steering;
	/* baseline too stays without: the kernel's hash is its reference */
	b->tcp = tcp && steering == QS_STEER_ON;
	b->prog_name = steering == QS_STEER_BASELINE ? "qs_baseline" : "qs_steer";
}

/* The worker counters, mapped: the workers inherit the mapping. */
static int map_workers(struct qs_bpf *b)
{
	int ret;

	b->workers_len = QS_WORKER_SLOTS * sizeof(struct qs_worker_stats);
	b->workers = mmap(NULL, b->workers_len, PROT_READ | PROT_WRITE, MAP_SHARED,
			  b->workers_fd, 0);
	if (b->workers == MAP_FAILED) {
		ret = -errno;
		b->workers = NULL;
		pr_warn("cannot mmap the worker counters map: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

int qs_bpf_load(struct qs_bpf *b, unsigned n_listeners, enum qs_steering steering, bool tcp)
{
	unsigned n_progs = steering ? n_listeners : 1;
	int ret;

	init(b, steering, tcp);

	for (unsigned l = 0; l < n_progs; l++) {
		struct steer *s = steer__open();

		if (!s) {
			ret = -errno;
			pr_warn("cannot open the steering BPF object: %s", strerror(errno));
			goto cleanup;
		}
		b->skel[l] = s;
		b->n_listeners = l + 1;
		s->rodata->qs_listener = l;
		/* with --steering off the maps still exist (counters, inspect) */
		bpf_program__set_autoload(s->progs.qs_steer, steering == QS_STEER_ON);
		bpf_program__set_autoload(s->progs.qs_baseline, steering == QS_STEER_BASELINE);
		bpf_program__set_autoload(s->progs.qs_tcp_steer, b->tcp);
		if (l > 0 && (ret = reuse_maps(s, b->skel[0]))) {
			pr_warn("cannot share maps between steering programs: %s", strerror(-ret));
			goto cleanup;
		}
		ret = steer__load(s);
		if (ret) {
			pr_warn("cannot load the steering BPF program for listener %u: %s%s",
				l, strerror(-ret),
				ret == -EPERM ? " (needs CAP_BPF and CAP_NET_ADMIN, or root; "
				"check also the RLIMIT_MEMLOCK on kernels < 5.11)" :
				b->tcp ? " (the TCP program needs Linux >= 5.14; run with "
				"--log-level debug for the verifier log)" :
				" (run with --log-level debug for the verifier log)");
			goto cleanup;
		}
	}
	b->n_listeners = n_listeners;
	b->socks_fd = bpf_map__fd(b->skel[0]->maps.qs_socks);
	b->state_fd = bpf_map__fd(b->skel[0]->maps.qs_state);
	b->keys_fd = bpf_map__fd(b->skel[0]->maps.qs_cid_keys);
	b->stats_fd = bpf_map__fd(b->skel[0]->maps.qs_steer_stats);
	b->workers_fd = bpf_map__fd(b->skel[0]->maps.qs_worker_stats);
	b->tcp_socks_fd = bpf_map__fd(b->skel[0]->maps.qs_tcp_socks);
	b->tcp_stats_fd = bpf_map__fd(b->skel[0]->maps.qs_tcp_steer_stats);

	ret = map_workers(b);
	if (ret)
		goto cleanup;
	return 0;
cleanup:
	qs_bpf_destroy(b);
	return ret;
}

int qs_bpf_pin_maps(struct bpf_map **maps, size_t n, const char *dir)
{
	char path[256];

	for (size_t i = 0; i < n; i++) {
		int ret;

		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(maps[i]));
		ret = bpf_map__pin(maps[i], path);
		if (ret) {
			pr_warn("cannot pin map at %s: %s", path, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int qs_bpf_pin(struct qs_bpf *b, const char *instance)
{
	struct bpf_map *maps[] = {
		b->skel[0]->maps.qs_socks, b->skel[0]->maps.qs_state,
		b->skel[0]->maps.qs_cid_keys, b->skel[0]->maps.qs_steer_stats,
		b->skel[0]->maps.qs_worker_stats, b->skel[0]->maps.qs_tcp_socks,
		b->skel[0]->maps.qs_tcp_steer_stats,
	};
	char path[256];
	int ret;

	pin_dir_of(instance, b->pin_dir, sizeof(b->pin_dir));
	if (mkdir(QS_PIN_ROOT, 0700) && errno != EEXIST) {
		ret = -errno;
		pr_warn("cannot create %s: %s", QS_PIN_ROOT, strerror(errno));
		return ret;
	}
	if (mkdir(b->pin_dir, 0700)) {
		ret = -errno;
		pr_warn("cannot create pin directory %s: %s", b->pin_dir, strerror(errno));
		return ret;
	}
	b->pinned = true;
	ret = qs_bpf_pin_maps(maps, sizeof(maps) / sizeof(maps[0]), b->pin_dir);
	if (ret)
		return ret;
	if (!b->steering)
		return 0;
	for (unsigned l = 0; l < b->n_listeners; l++) {
		char name[32];

		snprintf(name, sizeof(name), b->steering == QS_STEER_BASELINE ?
			 QS_PIN_BASELINE_FMT : QS_PIN_PROG_FMT, l);
		snprintf(path, sizeof(path), "%s/%s", b->pin_dir, name);
		ret = bpf_program__pin(prog_of(b, l), path);
		if (ret) {
			pr_warn("cannot pin program at %s: %s", path, strerror(-ret));
			return ret;
		}
		if (!b->tcp)
			continue;
		snprintf(name, sizeof(name), QS_PIN_TCP_PROG_FMT, l);
		snprintf(path, sizeof(path), "%s/%s", b->pin_dir, name);
		ret = bpf_program__pin(b->skel[l]->progs.qs_tcp_steer, path);
		if (ret) {
			pr_warn("cannot pin program at %s: %s", path, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int adopt_map(const char *dir, const char *name, enum bpf_map_type type,
		     __u32 value_size, __u32 max_entries, int *fd)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	*fd = bpf_obj_get(path);
	if (*fd < 0) {
		int err = -errno;

		pr_warn("cannot open the pinned map %s: %s", path, strerror(errno));
		return err;
	}
	/* the new binary's idea of the map must be the running one's */
	if (bpf_obj_get_info_by_fd(*fd, &info, &len) || info.type != type ||
	    (value_size && info.value_size != value_size) || (max_entries && info.max_entries != max_entries)) {
		pr_warn("the pinned map %s is not what this binary expects (type %u, value "
			"%u bytes, %u entries): restart the instance instead of upgrading",
			path, info.type, info.value_size, info.max_entries);
		return -EPROTO;
	}
	return 0;
}

int qs_bpf_adopt(struct qs_bpf *b, const char *instance, unsigned n_listeners,
		 enum qs_steering steering, bool tcp)
{
	struct {
		const char *name;
		enum bpf_map_type type;
		__u32 value_size, max_entries;
		int *fd;
	} m[] = {
		{ QS_PIN_SOCKS, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, sizeof(__u64),
		  QS_MAX_LISTENERS * QS_SLOTS_PER_LISTENER, &b->socks_fd },
		{ QS_PIN_STATE, BPF_MAP_TYPE_ARRAY, sizeof(struct qs_steer_state), 1,
		  &b->state_fd },
		{ QS_PIN_CID_KEYS, BPF_MAP_TYPE_ARRAY, sizeof(struct qs_cid_key), 0, &b->keys_fd },
		{ QS_PIN_STATS, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(struct qs_steer_stats), 1,
		  &b->stats_fd },
		{ QS_PIN_WORKERS, BPF_MAP_TYPE_ARRAY, sizeof(struct qs_worker_stats),
		  QS_WORKER_SLOTS, &b->workers_fd },
		{ QS_PIN_TCP_SOCKS, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, sizeof(__u64),
		  QS_MAX_LISTENERS * QS_SLOTS_PER_LISTENER, &b->tcp_socks_fd },
		{ QS_PIN_TCP_STATS, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(struct qs_tcp_steer_stats), 1,
		  &b->tcp_stats_fd },
	};
	int ret;

	init(b, steering, tcp);
	b->n_listeners = n_listeners;
	b->adopted = true;
	pin_dir_of(instance, b->pin_dir, sizeof(b->pin_dir));
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		ret = adopt_map(b->pin_dir, m[i].name, m[i].type, m[i].value_size,
				m[i].max_entries, m[i].fd);
		if (ret)
			goto cleanup;
	}
	ret = map_workers(b);
	if (ret)
		goto cleanup;
	/* from here on the pins are ours: removed on stop */
	b->pinned = true;
	return 0;
cleanup:
	qs_bpf_destroy(b);
	return ret;
}

static int attach(struct bpf_program *prog, int sock_fd, const char *proto, const char *what)
{
	int prog_fd = bpf_program__fd(prog);

	if (setsockopt(sock_fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &prog_fd,
		       sizeof(prog_fd))) {
		int err = -errno;

		pr_warn("failed to attach reuseport program to %s %s: %s%s", proto, what,
			strerror(errno), err == -EPERM ?
			" (needs CAP_BPF and CAP_NET_ADMIN)" : "");
		return err;
	}
	return 0;
}

int qs_bpf_attach(struct qs_bpf *b, unsigned listener, int sock_fd, const char *what)
{
	return attach(prog_of(b, listener), sock_fd, "UDP", what);
}

int qs_bpf_attach_tcp(struct qs_bpf *b, unsigned listener, int sock_fd, const char *what)
{
	return attach(b->skel[listener]->progs.qs_tcp_steer, sock_fd, "TCP", what);
}

static int set_slot(int map_fd, const char *map, unsigned listener, unsigned gen,
		    unsigned worker, int sock_fd, const char *what)
{
	__u32 key = qs_slot(listener, gen, worker);
	__u64 value = (__u64)sock_fd;

	if (bpf_map_update_elem(map_fd, &key, &value, BPF_ANY)) {
		int err = -errno;

		pr_warn("cannot put the socket of worker %u/%u on %s into %s slot %u: %s",
			gen, worker, what, map, key, strerror(errno));
		return err;
	}
	return 0;
}

static void clear_slot(int map_fd, const char *map, unsigned listener, unsigned gen,
		       unsigned worker)
{
	__u32 key = qs_slot(listener, gen, worker);

	if (map_fd >= 0 && bpf_map_delete_elem(map_fd, &key) && errno != ENOENT)
		pr_warn("cannot clear %s slot %u: %s", map, key, strerror(errno));
}

int qs_bpf_set_socket(struct qs_bpf *b, unsigned listener, unsigned gen,
		      unsigned worker, int sock_fd, const char *what)
{
	return set_slot(b->socks_fd, QS_PIN_SOCKS, listener, gen, worker, sock_fd, what);
}

void qs_bpf_clear_socket(struct qs_bpf *b, unsigned listener, unsigned gen, unsigned worker)
{
	clear_slot(b->socks_fd, QS_PIN_SOCKS, listener, gen, worker);
}

int qs_bpf_set_tcp_socket(struct qs_bpf *b, unsigned listener, unsigned gen,
			  unsigned worker, int sock_fd, const char *what)
{
	return set_slot(b->tcp_socks_fd, QS_PIN_TCP_SOCKS, listener, gen, worker, sock_fd,
			what);
}

/* Often gone already: the kernel removes a listener that stops from the array. */
void qs_bpf_clear_tcp_socket(struct qs_bpf *b, unsigned listener, unsigned gen,
			     unsigned worker)
{
	clear_slot(b->tcp_socks_fd, QS_PIN_TCP_SOCKS, listener, gen, worker);
}

int qs_bpf_set_state(struct qs_bpf *b, const struct qs_steer_state *st)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(b->state_fd, &zero, st, BPF_ANY)) {
		int err = -errno;

		pr_warn("cannot update %s: %s", QS_PIN_STATE, strerror(errno));
		return err;
	}
	return 0;
}

int qs_bpf_set_key(struct qs_bpf *b, unsigned config, const struct qs_cid_key *key)
{
	__u32 k = config;

	if (bpf_map_update_elem(b->keys_fd, &k, key, BPF_ANY)) {
		int err = -errno;

		pr_warn("cannot install CID key %u: %s", config, strerror(errno));
		return err;
	}
	return 0;
}

/*
 * Every BPF fd, not only the skeleton's: libxdp opens descriptors of its
 * own (dispatcher probes, programs read off interfaces) that we cannot
 * name.  A worker needs none: its counters are an mmap, which outlives
 * the map's fd.
 */
void qs_bpf_close_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	char path[64], target[64];
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		ssize_t n;

		if (de->d_name[0] == '.' || fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (!strncmp(target, "anon_inode:bpf", 14) || !strcmp(target, "anon_inode:btf"))
			close(fd);
	}
	closedir(d);
}

void qs_bpf_destroy(struct qs_bpf *b)
{
	if (b->workers)
		munmap(b->workers, b->workers_len);
	b->workers = NULL;
	if (b->pinned) {
		char instance[sizeof(b->pin_dir)];
		const char *slash = strrchr(b->pin_dir, '/');

		snprintf(instance, sizeof(instance), "%s", slash ? slash + 1 : b->pin_dir);
		qs_bpf_remove_pins(instance);
		b->pinned = false;
	}
	for (unsigned l = 0; l < QS_MAX_LISTENERS; l++) {
		if (b->skel[l])
			steer__destroy(b->skel[l]);
		b->skel[l] = NULL;
	}
	if (b->adopted) {	/* the fds are ours, not a skeleton's */
		int *fds[] = { &b->socks_fd, &b->state_fd, &b->keys_fd, &b->stats_fd,
			       &b->workers_fd, &b->tcp_socks_fd, &b->tcp_stats_fd };

		for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
			if (*fds[i] >= 0)
				close(*fds[i]);
			*fds[i] = -1;
		}
		b->adopted = false;
	}
}
