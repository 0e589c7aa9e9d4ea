// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the loader's configuration (user/loader/config.c):
 * the config file parser (inih and every option's value parser behind it)
 * and the value parsers alone.  A config file comes from root, but it is
 * text someone typed: no input may crash the loader, and what is accepted
 * must be in range.  Each input is used twice:
 *  - as a config file, through qs_config_from_args("-c FILE") as the
 *    loader reads it (a memfd named by /proc/self/fd);
 *  - one value a line for qs_config_set, the line's first byte picking the
 *    option from the table (read from --help-markdown: a blind fuzzer
 *    rarely spells an option's name), all lines on one configuration.
 * abort() on any broken promise: a result other than documented, an error
 * without its message, an accepted configuration out of range (listeners,
 * workers, server id, ticket files, guard interfaces) or with a string
 * that is not NUL-terminated in its array.
 *
 * The parser's error messages go to a stderr opened on /dev/null (the
 * sanitizers' reports and libFuzzer's own output still reach fd 2).
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *   -Iuser tests/fuzz/fuzz_config.c user/loader/config.c user/common/log.c \
 *   -linih -o .output/fuzz_config
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/config.h"

static FILE *out;               /* the real stderr, for FAIL */
static int memfd = -1;
static char path[64];
static char *keys[256];
static size_t n_keys;

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(out, "fuzz_config: " __VA_ARGS__);                     \
		fprintf(out, "\n");                                            \
		abort();                                                       \
	} while (0)

#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

/* The config keys, from the option table as --help-markdown prints it. */
static void read_keys(void)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f || qs_options_markdown(f) || fclose(f))
		FAIL("cannot print the option table");
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* "| flag | `key` | default | meaning |": the second cell */
		char *k = strstr(line, " | "), *e;

		if (!k || strncmp(k + 3, "`", 1) || n_keys == sizeof(keys) / sizeof(keys[0]))
			continue;
		k += 4;
		e = strchr(k, '`');
		if (e && e > k)
			keys[n_keys++] = strndup(k, (size_t)(e - k));
	}
	free(text);
	if (n_keys < 10)
		FAIL("only %zu config keys in the option table", n_keys);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	out = stderr;
	stderr = fopen("/dev/null", "w");
	if (!stderr)
		FAIL("cannot open /dev/null");
	memfd = memfd_create("qs-fuzz-config", MFD_CLOEXEC);
	if (memfd < 0)
		FAIL("memfd_create: %s", strerror(errno));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	read_keys();
	return 0;
}

static void check_config(const struct qs_config *c)
{
	if (c->n_listen > QS_MAX_LISTENERS || c->server_id_len > QS_CID_SID_MAX ||
	    c->n_ticket_paths > QS_TICKET_PATHS_MAX || c->n_xdp_guard > QS_GUARD_MAX_IFACES)
		FAIL("counts out of range: listen %u, server id %u, ticket files %u, guard %u",
		     c->n_listen, c->server_id_len, c->n_ticket_paths, c->n_xdp_guard);
	if (c->workers > QS_MAX_WORKERS)
		FAIL("%u workers", c->workers);
	for (unsigned i = 0; i < c->n_listen; i++)
		if (!TERMINATED(c->listen[i].text))
			FAIL("listen %u not terminated", i);
	for (unsigned i = 0; i < QS_TICKET_PATHS_MAX; i++)
		if (!TERMINATED(c->ticket_paths[i]))
			FAIL("ticket path %u not terminated", i);
	for (unsigned i = 0; i < QS_GUARD_MAX_IFACES; i++)
		if (!TERMINATED(c->xdp_guard[i]))
			FAIL("guard interface %u not terminated", i);
	if (!TERMINATED(c->config_path) || !TERMINATED(c->instance) || !TERMINATED(c->user) ||
	    !TERMINATED(c->log_file) || !TERMINATED(c->metrics) || !TERMINATED(c->cert) ||
	    !TERMINATED(c->key) || !TERMINATED(c->docroot) || !TERMINATED(c->fastcgi_addr) ||
	    !TERMINATED(c->index) || !TERMINATED(c->body_temp_dir))
		FAIL("a string option not terminated");
}

/* The input as a config file, read as the loader reads it. */
static void as_file(const uint8_t *data, size_t size)
{
	char arg0[] = "quicsteerd", arg1[] = "-c";
	char *argv[] = { arg0, arg1, path, NULL };
	struct qs_config cfg;
	int ret;

	if (ftruncate(memfd, 0) || pwrite(memfd, data, size, 0) != (ssize_t)size)
		FAIL("cannot write the memfd: %s", strerror(errno));
	ret = qs_config_from_args(&cfg, 3, argv);
	if (ret != 0 && ret != -EINVAL)
		FAIL("qs_config_from_args returned %d", ret);
	if (ret == 0) {
		check_config(&cfg);
		if (cfg.workers < 1)
			FAIL("%u workers after the defaults", cfg.workers);
	}
}

/* One value a line, the option picked by the line's first byte. */
static void as_values(const uint8_t *data, size_t size)
{
	struct qs_config cfg;
	const uint8_t *p = data, *end = data + size;

	if (qs_config_defaults(&cfg))
		FAIL("the defaults do not apply");
	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p)) ?: end;
		size_t len = nl > p ? (size_t)(nl - p - 1) : 0;
		char err[256] = "", *value;
		int ret;

		if (nl > p) {
			value = malloc(len + 1);
			if (!value)
				abort();
			memcpy(value, p + 1, len);
			value[len] = '\0';
			ret = qs_config_set(&cfg, keys[*p % n_keys], value, err, sizeof(err));
			if (ret != 0 && ret != -EINVAL)
				FAIL("qs_config_set %s returned %d", keys[*p % n_keys], ret);
			if (ret && (!err[0] || !memchr(err, '\0', sizeof(err))))
				FAIL("%s: an error without its message", keys[*p % n_keys]);
			free(value);
		}
		check_config(&cfg);
		p = nl + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_file(data, size);
	as_values(data, size);
	return 0;
}
