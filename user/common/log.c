// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"

static char log_name[32] = "quicsteerd";
static enum qs_log_level log_level = QS_LOG_INFO;
static FILE *log_out;
static bool log_tee;
static bool log_json;

void qs_log_set_name(const char *name)
{
	snprintf(log_name, sizeof(log_name), "%s", name);
}

void qs_log_set_level(enum qs_log_level level)
{
	log_level = level;
}

void qs_log_set_json(bool on)
{
	log_json = on;
}

enum qs_log_level qs_log_get_level(void)
{
	return log_level;
}

int qs_log_open_file(const char *path)
{
	FILE *f = fopen(path, "ae");

	if (!f)
		return -errno;
	setvbuf(f, NULL, _IOLBF, 0);
	if (log_out)
		fclose(log_out);
	log_out = f;
	return 0;
}

int qs_log_fd(void)
{
	return fileno(log_out ? log_out : stderr);
}

void qs_log_tee_stderr(bool on)
{
	log_tee = on;
}

void qs_vlog(enum qs_log_level level, const char *fmt, va_list ap)
{
	static const char *const tag[] = { "warn", "info", "debug" };
	FILE *out = log_out ? log_out : stderr;
	struct timespec ts;
	struct tm tm;
	char when[32];

	if (level > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	/* one fprintf per message keeps lines from several processes whole */
	char *line = NULL;
	size_t len;

	if (vasprintf(&line, fmt, ap) < 0)
		return;
	len = strlen(line);
	if (len && line[len - 1] == '\n')	/* libbpf ends its lines with one */
		line[len - 1] = '\0';
	if (log_json) {
		/* a worker's name is "worker GEN/ID" (qs_log_set_name) */
		const char *worker = strncmp(log_name, "worker ", 7) ? NULL : log_name + 7;
		char *msg = malloc(len * QS_JSON_ESC_MAX + 1);

		if (msg) {
			msg[qs_json_escape(msg, len * QS_JSON_ESC_MAX, line, strlen(line), NULL)] = '\0';
			fprintf(out, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"pid\":%d,"
				"\"worker\":%s%s%s,\"msg\":\"%s\"}\n", when, ts.tv_nsec / 1000000,
				tag[level], (int)getpid(), worker ? "\"" : "", worker ? worker : "null",
				worker ? "\"" : "", msg);
			free(msg);
		}
	} else {
		fprintf(out, "%s.%03ldZ %s[%d] %s: %s\n", when, ts.tv_nsec / 1000000,
			log_name, (int)getpid(), tag[level], line);
	}
	if (log_tee && out != stderr && level == QS_LOG_WARN)
		fprintf(stderr, "%s: %s\n", log_name, line);
	free(line);
}

void qs_log(enum qs_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	qs_vlog(level, fmt, ap);
	va_end(ap);
}
