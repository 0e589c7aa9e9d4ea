// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "loader/logs.h"

/* The directory part of path, for messages. */
static void dir_of(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash && slash != path ? (size_t)(slash - path) : 1;

	snprintf(dir, size, "%.*s", (int)n, path);
}

/*
 * Open it as the workers will: their uid and gid (setfsuid/setfsgid change
 * only the identity the file system checks), so a directory they cannot
 * search is found now, not by every worker at start.
 */
static int workers_can_open(const char *path, uid_t uid, gid_t gid)
{
	int fd, err = 0;

	setfsgid(gid);
	setfsuid(uid);
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		err = -errno;
	setfsuid(0);
	setfsgid(0);
	if (fd >= 0)
		close(fd);
	return err;
}

int qs_logs_prepare(const struct qs_config *cfg, uid_t uid, gid_t gid)
{
	const char *path = cfg->access_log;
	bool created = true;
	char dir[256];
	struct stat st;
	int fd, ret = 0;

	if (!path[0])
		return 0;
	dir_of(path, dir, sizeof(dir));
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0 && errno == EEXIST) {
		created = false;
		fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	}
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			pr_warn("cannot create the access log %s: directory %s does not exist: "
				"create it (mkdir -p %s) or choose another --access-log", path,
				dir, dir);
		else
			pr_warn("cannot open the access log %s: %s (--access-log)", path,
				strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		pr_warn("the access log %s is not a regular file: choose a file path for "
			"--access-log", path);
		close(fd);
		return -EINVAL;
	}
	/* the workers write it: theirs, readable by their group (0640), not by all */
	if (created ? fchown(fd, uid, gid) || fchmod(fd, 0640) :
	    st.st_uid != uid && fchown(fd, uid, (gid_t)-1)) {
		ret = -errno;
		pr_warn("cannot give the access log %s to the workers' user %s: %s", path,
			cfg->user, strerror(-ret));
		close(fd);
		return ret;
	}
	close(fd);
	ret = workers_can_open(path, uid, gid);
	if (ret) {
		pr_warn("the workers (user %s) cannot open the access log %s: %s: let them "
			"search %s and the directories above it (chmod o+x, or a group of "
			"theirs with g+x)", cfg->user, path, strerror(-ret), dir);
		return ret;
	}
	if (created)
		pr_info("access log %s created for user %s", path, cfg->user);
	return 0;
}
