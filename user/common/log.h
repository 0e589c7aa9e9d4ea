/* SPDX-License-Identifier: MIT */
/* Logging for the loader and the workers: one printer, three levels. */
#ifndef QS_COMMON_LOG_H
#define QS_COMMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

enum qs_log_level { QS_LOG_WARN, QS_LOG_INFO, QS_LOG_DEBUG };

/* Who is talking ("quicsteerd", "worker 0/3"); copied. */
void qs_log_set_name(const char *name);
void qs_log_set_level(enum qs_log_level level);
/*
 * --log-format json: one object a line, {"time", "level", "pid", "worker"
 * ("GEN/ID", null for the loader), "msg"}; else text, as
 * "TIME NAME[PID] LEVEL: MSG".
 */
void qs_log_set_json(bool on);
enum qs_log_level qs_log_get_level(void);
/* Where messages go: NULL = stderr.  Returns -errno. */
int qs_log_open_file(const char *path);
/* The descriptor messages go to, for a signal handler's write(2). */
int qs_log_fd(void);
/* Also copy warnings to stderr (a daemon, until it has detached). */
void qs_log_tee_stderr(bool on);

void qs_log(enum qs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void qs_vlog(enum qs_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define pr_warn(...)  qs_log(QS_LOG_WARN, __VA_ARGS__)
#define pr_info(...)  qs_log(QS_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) qs_log(QS_LOG_DEBUG, __VA_ARGS__)

#endif
