/* SPDX-License-Identifier: MIT */
/*
 * Process limits the loader sets before the first fork, so that every
 * worker inherits them.
 */
#ifndef QS_LOADER_LIMITS_H
#define QS_LOADER_LIMITS_H

struct qs_config;

/*
 * Descriptors a worker may need beyond its response files: sockets of every
 * generation, FastCGI connections, buffered request bodies, logs.
 */
#define QS_NOFILE_BASE 4096

/*
 * Raise RLIMIT_NOFILE (soft and hard) to what one worker needs with the
 * configuration's limits: --max-connections connections each holding
 * --files-per-connection response files, plus QS_NOFILE_BASE.  Never
 * lowers it.  0, or -errno after a warning that names the figures and the
 * fix (the limit stays as it was).
 */
int qs_raise_nofile(const struct qs_config *cfg);

#endif
