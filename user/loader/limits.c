// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "common/config.h"
#include "common/log.h"
#include "loader/limits.h"

/* The kernel's ceiling for RLIMIT_NOFILE (fs.nr_open). */
static rlim_t nr_open(void)
{
	unsigned long long v = 1048576;
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 1048576;
		fclose(f);
	}
	return (rlim_t)v;
}

int qs_raise_nofile(const struct qs_config *cfg)
{
	rlim_t need = (rlim_t)cfg->max_conns * cfg->files_per_conn + QS_NOFILE_BASE;
	rlim_t ceiling = nr_open();
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur >= need)
		return 0;
	if (need > ceiling) {
		pr_warn("a worker may need %llu descriptors (--max-connections %u x "
			"--files-per-connection %u + %u), more than the kernel allows "
			"(fs.nr_open %llu): raising to that; lower those options or raise "
			"fs.nr_open", (unsigned long long)need, cfg->max_conns,
			cfg->files_per_conn, QS_NOFILE_BASE, (unsigned long long)ceiling);
		need = ceiling;
	}
	rl.rlim_cur = need;
	if (rl.rlim_max < need) {
		struct rlimit hard = { need, need };

		/* raising the hard limit takes CAP_SYS_RESOURCE */
		if (!setrlimit(RLIMIT_NOFILE, &hard))
			goto raised;
		rl.rlim_cur = rl.rlim_max;
	}
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return -errno;
	if (rl.rlim_cur < need) {
		pr_warn("the descriptor limit is %llu, under the %llu a worker may need "
			"(--max-connections %u x --files-per-connection %u + %u; raising "
			"the hard limit takes CAP_SYS_RESOURCE): a worker may run out and "
			"answer 503; raise it (systemd LimitNOFILE=, ulimit -n) or lower "
			"those options", (unsigned long long)rl.rlim_cur,
			(unsigned long long)need, cfg->max_conns, cfg->files_per_conn,
			QS_NOFILE_BASE);
		return -EPERM;
	}
raised:
	pr_debug("descriptor limit raised to %llu", (unsigned long long)need);
	return 0;
}
