// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "common/log.h"
#include "loader/bpf.h"
#include "loader/guard.h"
#include "quicsteer/guard.h"
#include "guard.skel.h"

static int libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	enum qs_log_level l = level == LIBXDP_WARN ? QS_LOG_INFO : QS_LOG_DEBUG;

	if (l > qs_log_get_level())
		return 0;
	qs_vlog(l, fmt, ap);
	return 0;
}

void qs_guard_setup_logging(void)
{
	libxdp_set_print(libxdp_print);
}

/*
 * While libxdp probes its dispatcher, libbpf's warnings are expected noise
 * on kernels without it (a page of "failed to load xdp_pass"): keep them
 * for --log-level debug; attach_one says the outcome in one line.
 */
static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	if (qs_log_get_level() < QS_LOG_DEBUG)
		return 0;
	qs_vlog(QS_LOG_DEBUG, fmt, ap);
	return 0;
}

static const char *mode_name(int mode)
{
	return mode == XDP_MODE_NATIVE ? "native" : mode == XDP_MODE_SKB ? "generic (skb)" :
	       mode == XDP_MODE_HW ? "offload" : "unknown";
}

/*
 * Does the attached program prog_id carry our instance name in its
 * read-only data?  The name survives the crash of the loader that set it:
 * it is all a new run has to recognise its predecessor's guard by (the
 * pins may be gone, and the program id is new every run).
 */
static bool is_our_guard(__u32 prog_id, const char *instance)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), map_ids[16];
	bool ours = false;
	int fd;

	fd = bpf_prog_get_fd_by_id(prog_id);
	if (fd < 0)
		return false;
	info.nr_map_ids = sizeof(map_ids) / sizeof(map_ids[0]);
	info.map_ids = (__u64)(unsigned long)map_ids;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || strcmp(info.name, QS_GUARD_PROG_NAME))
		goto out;
	for (__u32 i = 0; i < info.nr_map_ids && i < 16 && !ours; i++) {
		struct bpf_map_info mi = {};
		__u32 mlen = sizeof(mi), zero = 0;
		int mfd = bpf_map_get_fd_by_id(map_ids[i]);
		void *val;

		if (mfd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(mfd, &mi, &mlen) &&
		    strstr(mi.name, ".rodata") && mi.value_size >= sizeof(struct qs_guard_ro) &&
		    (val = calloc(1, mi.value_size))) {
			const struct qs_guard_ro *ro = val;

			if (!bpf_map_lookup_elem(mfd, &zero, val) && ro->magic == QS_GUARD_MAGIC &&
			    !strncmp(ro->instance, instance, sizeof(ro->instance)))
				ours = true;
			free(val);
		}
		close(mfd);
	}
out:
	close(fd);
	return ours;
}

/*
 * Close our fds that still refer to program prog_id.  libxdp 1.3 keeps
 * descriptors of the programs it read off an interface after they are
 * closed and detached: they would keep a detached stale guard in memory
 * for as long as this loader (and its workers) live.
 */
static void close_fds_of_prog(__u32 prog_id)
{
	char path[64], line[128];
	DIR *d = opendir("/proc/self/fdinfo");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		unsigned id = 0;
		FILE *f;

		if (de->d_name[0] == '.' || fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "prog_id: %u", &id) == 1)
				break;
		fclose(f);
		if (id == prog_id)
			close(fd);
	}
	closedir(d);
}

int qs_guard_remove_stale(const char *instance)
{
	__u32 stale[QS_GUARD_MAX_IFACES * 4];
	unsigned n_stale = 0;

	struct if_nameindex *ifs = if_nameindex(), *it;
	int removed = 0;

	if (!ifs)
		return -errno;
	for (it = ifs; it->if_index; it++) {
		struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex((int)it->if_index);
		struct xdp_program *p;

		if (!mp || libxdp_get_error(mp))
			continue;	/* nothing attached, or not readable: not ours either */
		p = xdp_multiprog__is_legacy(mp) ? xdp_multiprog__main_prog(mp) :
		    xdp_multiprog__next_prog(NULL, mp);
		for (; p; p = xdp_multiprog__is_legacy(mp) ? NULL : xdp_multiprog__next_prog(p, mp)) {
			__u32 id = xdp_program__id(p);
			int ret;

			if (!is_our_guard(id, instance))
				continue;
			ret = xdp_program__detach(p, (int)it->if_index,
						  xdp_multiprog__attach_mode(mp), 0);
			if (ret) {
				pr_warn("cannot detach the stale XDP guard (program id %u) of "
					"instance '%s' from %s: %s", id, instance, it->if_name,
					strerror(-ret));
				continue;
			}
			pr_warn("detached the stale XDP guard (program id %u) of instance '%s' "
				"from %s, left by a run that did not stop cleanly", id, instance,
				it->if_name);
			removed++;
			if (n_stale < sizeof(stale) / sizeof(stale[0]))
				stale[n_stale++] = id;
			break;	/* the multiprog changed under us: one per interface */
		}
		xdp_multiprog__close(mp);
	}
	if_freenameindex(ifs);
	for (unsigned i = 0; i < n_stale; i++)
		close_fds_of_prog(stale[i]);
	return removed;
}

static void set_listeners(struct qs_guard_ro *ro, const struct qs_config *cfg)
{
	ro->n_listeners = 0;
	for (unsigned l = 0; l < cfg->n_listen && l < QS_GUARD_MAX_LISTENERS; l++) {
		struct qs_guard_listener *gl = &ro->listeners[ro->n_listeners++];

		memset(gl, 0, sizeof(*gl));
		if (cfg->listen[l].addr.ss_family == AF_INET) {
			const struct sockaddr_in *a = (const void *)&cfg->listen[l].addr;

			gl->port = a->sin_port;
			gl->addr[2] = htonl(0xffff);
			gl->addr[3] = a->sin_addr.s_addr;
			gl->wild = a->sin_addr.s_addr == htonl(INADDR_ANY) ? QS_GUARD_ANY4 :
				   QS_GUARD_EXACT;
		} else {
			const struct sockaddr_in6 *a = (const void *)&cfg->listen[l].addr;

			gl->port = a->sin6_port;
			memcpy(gl->addr, &a->sin6_addr, sizeof(gl->addr));
			/* our IPv6 sockets are dual-stack (IPV6_V6ONLY off) */
			gl->wild = IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr) ? QS_GUARD_ANY :
				   QS_GUARD_EXACT;
		}
	}
}

static int attach_one(struct qs_guard *g, const char *ifname, int ifindex)
{
	libbpf_print_fn_t loud = libbpf_set_print(libbpf_quiet);
	char why[320];
	int ret, ret_skb;

	ret = xdp_program__attach(g->prog, ifindex, XDP_MODE_NATIVE, 0);
	if (!ret) {
		g->mode[g->n_attached] = XDP_MODE_NATIVE;
		goto attached;
	}
	/* another program in the way is not a driver limitation: do not retry */
	if (ret != -EEXIST && ret != -EBUSY) {
		pr_debug("native XDP on %s failed (%s): trying generic (skb) mode", ifname,
			 strerror(-ret));
		ret_skb = xdp_program__attach(g->prog, ifindex, XDP_MODE_SKB, 0);
		if (ret_skb)
			pr_info("cannot attach the XDP guard to %s in native mode: %s", ifname,
				strerror(-ret));
		if (!ret_skb) {
			g->mode[g->n_attached] = XDP_MODE_SKB;
			goto attached;
		}
		ret = ret_skb;
	}
	libbpf_set_print(loud);
	why[0] = '\0';
	if (ret == -EEXIST || ret == -EBUSY) {
		struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
		struct xdp_program *other = mp && !libxdp_get_error(mp) ?
			xdp_multiprog__main_prog(mp) : NULL;

		snprintf(why, sizeof(why), " (another XDP program is attached%s%s%s and cannot "
			 "be chained: libxdp's multi-program dispatcher needs freplace (BPF_PROG_TYPE_EXT) "
			 "programs, which this kernel may refuse; the other program was left alone)",
			 other ? ": '" : "", other ? xdp_program__name(other) : "", other ? "'" : "");
		if (mp && !libxdp_get_error(mp))
			xdp_multiprog__close(mp);
	} else if (ret == -EPERM) {
		snprintf(why, sizeof(why), " (needs CAP_NET_ADMIN and CAP_BPF)");
	} else if (ret == -EINVAL || ret == -EACCES) {
		/* most likely the verifier: BPF compare-and-swap needs Linux >= 5.12 */
		snprintf(why, sizeof(why), " (the kernel refused the program: the guard needs "
			 "Linux >= 5.12; run with --log-level debug for the verifier log)");
	}
	pr_warn("cannot attach the XDP guard to %s (--xdp-guard): %s%s", ifname,
		strerror(-ret), why);
	return ret;
attached:
	libbpf_set_print(loud);
	{
		struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);

		/* say it once, plainly: libxdp's own messages are a page of libbpf */
		if (mp && !libxdp_get_error(mp)) {
			if (xdp_multiprog__is_legacy(mp))
				pr_info("%s: libxdp could not build its multi-program dispatcher "
					"(this kernel refuses freplace programs, or an old "
					"dispatcher is in the way): the guard is attached alone and "
					"other XDP programs cannot share %s while it runs", ifname,
					ifname);
			xdp_multiprog__close(mp);
		}
	}
	g->ifindex[g->n_attached] = ifindex;
	g->ifname[g->n_attached] = ifname;
	g->n_attached++;
	return 0;
}

static int pin_maps(struct qs_guard *g, const char *pin_dir)
{
	struct bpf_map *maps[] = {
		g->skel->maps.qs_guard_stats, g->skel->maps.qs_guard_cfg,
		g->skel->maps.qs_guard_block, g->skel->maps.qs_guard_src,
	};

	return qs_bpf_pin_maps(maps, sizeof(maps) / sizeof(maps[0]), pin_dir);
}

int qs_guard_start(struct qs_guard *g, const struct qs_config *cfg, const char *pin_dir)
{
	DECLARE_LIBXDP_OPTS(xdp_program_opts, opts, .prog_name = QS_GUARD_PROG_NAME);
	struct qs_guard_config limits = {
		.initial_rate = cfg->guard_rate, .initial_burst = cfg->guard_burst,
		.unknown_rate = cfg->guard_vn_rate, .unknown_burst = cfg->guard_vn_burst,
	};
	int ifindex[QS_GUARD_MAX_IFACES];
	struct qs_guard_ro *ro;
	__u32 zero = 0;
	int ret;

	memset(g, 0, sizeof(*g));
	for (unsigned i = 0; i < cfg->n_xdp_guard; i++) {
		ifindex[i] = (int)if_nametoindex(cfg->xdp_guard[i]);
		if (!ifindex[i]) {
			pr_warn("no such interface '%s' (--xdp-guard)", cfg->xdp_guard[i]);
			return -ENODEV;
		}
	}
	ret = qs_guard_remove_stale(cfg->instance);
	if (ret < 0)
		pr_warn("cannot list interfaces to look for a stale XDP guard: %s", strerror(-ret));

	g->skel = guard__open();
	if (!g->skel) {
		ret = -errno;
		pr_warn("cannot open the XDP guard BPF object: %s", strerror(errno));
		goto cleanup;
	}
	ro = (struct qs_guard_ro *)&g->skel->rodata->qs_guard_ro;
	ro->magic = QS_GUARD_MAGIC;
	set_listeners(ro, cfg);
	snprintf(ro->instance, sizeof(ro->instance), "%s", cfg->instance);
	bpf_program__set_autoload(g->skel->progs.qs_guard_base, false);

	/* libxdp loads the object: as an freplace of its dispatcher when it can */
	opts.obj = g->skel->obj;
	g->prog = xdp_program__create(&opts);
	ret = (int)libxdp_get_error(g->prog);
	if (ret || !g->prog) {
		g->prog = NULL;
		ret = ret ? ret : -EINVAL;
		pr_warn("cannot prepare the XDP guard program: %s", strerror(-ret));
		goto cleanup;
	}
	for (unsigned i = 0; i < cfg->n_xdp_guard; i++) {
		ret = attach_one(g, cfg->xdp_guard[i], ifindex[i]);
		if (ret)
			goto cleanup;
		/*
		 * The first attach loaded the maps: set the limits at once (until
		 * now the guard ran with none, for the microseconds in between).
		 */
		if (i == 0 && bpf_map_update_elem(bpf_map__fd(g->skel->maps.qs_guard_cfg), &zero,
						  &limits, BPF_ANY)) {
			ret = -errno;
			pr_warn("cannot set the XDP guard's limits: %s", strerror(errno));
			goto cleanup;
		}
		pr_info("XDP guard attached to %s in %s mode (program id %u)", cfg->xdp_guard[i],
			mode_name(g->mode[i]), xdp_program__id(g->prog));
	}
	ret = pin_maps(g, pin_dir);
	if (ret)
		goto cleanup;
	return 0;
cleanup:
	qs_guard_stop(g);
	return ret;
}

void qs_guard_stop(struct qs_guard *g)
{
	for (unsigned i = 0; i < g->n_attached; i++) {
		int ret = xdp_program__detach(g->prog, g->ifindex[i], g->mode[i], 0);

		if (ret)
			pr_warn("cannot detach the XDP guard from %s: %s", g->ifname[i],
				strerror(-ret));
		else
			pr_info("XDP guard detached from %s", g->ifname[i]);
	}
	g->n_attached = 0;
	if (g->prog)
		xdp_program__close(g->prog);
	g->prog = NULL;
	if (g->skel)
		guard__destroy(g->skel);
	g->skel = NULL;
}
