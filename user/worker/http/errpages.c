// SPDX-License-Identifier: MIT
/* The operator's error pages (errpages.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "worker/http/errpages.h"
#include "worker/site.h"

/* One page into p; false (logged) when it cannot be used. */
static bool read_page(int dfd, const char *dir, const char *name, size_t budget,
		      uint8_t **data, size_t *len)
{
	struct stat st;
	uint8_t *b;
	ssize_t got;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT)
			pr_warn("--error-pages: %s/%s: %s: the built-in page is served", dir,
				name, strerror(errno));
		return false;
	}
	if (fstat(fd, &st)) {
		pr_warn("--error-pages: %s/%s: %s: the built-in page is served", dir, name,
			strerror(errno));
		close(fd);
		return false;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > QS_ERRPAGE_MAX || (size_t)st.st_size > budget) {
		pr_warn("--error-pages: %s/%s: %s: the built-in page is served", dir, name,
			!S_ISREG(st.st_mode) ? "not a regular file" :
			st.st_size > QS_ERRPAGE_MAX ? "larger than 64 KB" :
			"over the 1 MB all pages may take");
		close(fd);
		return false;
	}
	b = malloc(st.st_size ? (size_t)st.st_size : 1);
	got = b ? pread(fd, b, (size_t)st.st_size, 0) : -1;
	close(fd);
	if (got != st.st_size) {
		pr_warn("--error-pages: %s/%s: cannot read it: the built-in page is served", dir,
			name);
		free(b);
		return false;
	}
	*data = b;
	*len = (size_t)st.st_size;
	return true;
}

int qs_error_pages_load(struct qs_site *site)
{
	const char *dir = site->cfg->error_pages;
	struct qs_error_pages *ep;
	size_t used = 0;
	unsigned n = 0;
	int dfd;

	if (!dir[0])
		return 0;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		int err = -errno;

		pr_warn("--error-pages %s: %s: the built-in pages are served", dir,
			strerror(errno));
		return err;
	}
	ep = calloc(1, sizeof(*ep));
	if (!ep) {
		close(dfd);
		return -ENOMEM;
	}
	for (int s = QS_ERRPAGE_FIRST; s <= QS_ERRPAGE_LAST; s++) {
		char name[16];
		unsigned i = (unsigned)(s - QS_ERRPAGE_FIRST);

		snprintf(name, sizeof(name), "%d.html", s);
		if (read_page(dfd, dir, name, QS_ERRPAGES_MAX - used, &ep->page[i].data,
			      &ep->page[i].len)) {
			used += ep->page[i].len;
			n++;
		}
	}
	close(dfd);
	if (!n)
		pr_warn("--error-pages %s: no page (NNN.html, 400 to 599) found there", dir);
	site->error_pages = ep;
	return 0;
}

void qs_error_pages_free(struct qs_site *site)
{
	struct qs_error_pages *ep = site->error_pages;

	if (!ep)
		return;
	for (size_t i = 0; i < sizeof(ep->page) / sizeof(ep->page[0]); i++)
		free(ep->page[i].data);
	free(ep);
	site->error_pages = NULL;
}
