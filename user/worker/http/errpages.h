/* SPDX-License-Identifier: MIT */
/*
 * The operator's pages for the errors the server answers itself
 * (--error-pages DIR: DIR/404.html, DIR/502.html, ...), read by each
 * worker at its start into memory, so a reload takes new ones and an
 * error costs no system call.
 */
#ifndef QS_WORKER_HTTP_ERRPAGES_H
#define QS_WORKER_HTTP_ERRPAGES_H

#include <stddef.h>
#include <stdint.h>

#define QS_ERRPAGE_FIRST 400
#define QS_ERRPAGE_LAST  599
#define QS_ERRPAGE_MAX   (64u << 10)    /* one page */
#define QS_ERRPAGES_MAX  (1u << 20)     /* all of them, per worker */

struct qs_site;

struct qs_error_pages {
	struct {
		uint8_t *data;                  /* NULL: the built-in page */
		size_t len;
	} page[QS_ERRPAGE_LAST - QS_ERRPAGE_FIRST + 1];
};

/*
 * Read the pages of site->cfg->error_pages, if set, onto
 * site->error_pages.  A page that cannot be used (too large, not a
 * regular file, unreadable) is logged and left to the built-in one; 0,
 * or -errno when the directory cannot be opened.
 */
int qs_error_pages_load(struct qs_site *site);
void qs_error_pages_free(struct qs_site *site);

#endif
