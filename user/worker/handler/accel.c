// SPDX-License-Identifier: MIT
/* X-Accel-Redirect: a script hands a file download to the server (accel.h). */
#include <inttypes.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/config.h"
#include "common/docroot.h"
#include "common/log.h"
#include "worker/handler/accel.h"
#include "worker/handler/files.h"
#include "worker/handler/static.h"
#include "worker/http/req.h"
#include "worker/site.h"

/* the script's fields that describe its own body, not the file's */
static bool body_field(const struct qs_field *f)
{
	static const char *const names[] = {
		"content-length", "content-range", "accept-ranges", "etag", "last-modified",
		"x-accel-redirect", "transfer-encoding",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (f->name_len == strlen(names[i]) && !strncasecmp(f->name, names[i], f->name_len))
			return true;
	return false;
}

/* PHP sends "text/html" unless the script says otherwise: then the file's type wins */
static bool script_type(const struct qs_field *f)
{
	return f->name_len == 12 && !strncasecmp(f->name, "content-type", 12) &&
	       strncasecmp(f->value, "text/html", 9);
}

bool qs_accel_internal(const struct qs_site *site, const char *path, size_t len)
{
	const char *prefix = site->cfg->accel_prefix;
	size_t pl = strlen(prefix);

	/* "/protected/" also covers "/protected" */
	return pl && path && ((len >= pl && !memcmp(path, prefix, pl)) ||
			      (len == pl - 1 && !memcmp(path, prefix, len)));
}

int qs_accel_open(struct qs_site *site)
{
	if (!site->cfg->accel_prefix[0])
		return 0;
	return qs_docroot_open(&site->accel_root, site->cfg->accel_root);
}

void qs_accel_close(struct qs_site *site)
{
	if (site->accel_root.dirfd >= 0)
		qs_docroot_close(&site->accel_root);
}

int qs_accel_respond(struct qs_req *req, const char *uri, size_t uri_len,
		     const struct qs_field *f, size_t n)
{
	struct qs_site *site = req->site;
	const char *q = memchr(uri, '?', uri_len);
	struct qs_field out[QS_RESP_FIELDS_MAX];
	struct qs_static_resp r;
	char len_buf[24];
	const char *type = NULL;
	size_t m = 0, pl = strlen(site->cfg->accel_prefix);
	int ret;

	if (q)
		uri_len = (size_t)(q - uri);
	if (!pl || uri_len < pl || memcmp(uri, site->cfg->accel_prefix, pl) ||
	    site->accel_root.dirfd < 0) {
		pr_warn("request %" PRIu64 ": the script's x-accel-redirect %.*s is not under "
			"--accel-redirect %s: 500 (give the internal location with "
			"--accel-redirect PREFIX=DIR)", req->id, (int)(uri_len > 200 ? 200 : uri_len),
			uri, pl ? site->cfg->accel_prefix : "(not set)");
		return qs_respond_error(req, 500, NULL, NULL);
	}
	/* the path in DIR keeps the prefix's last slash: "/protected/a.zip" -> "/a.zip" */
	ret = qs_static_resolve(&site->accel_root, req->head ? "HEAD" : "GET", uri + pl - 1,
				uri_len - pl + 1, req->range, &r);
	if ((r.status == 206 || r.status == 416) && req->if_range &&
	    !qs_if_range_matches(req->if_range, &r)) {
		if (r.fd >= 0)
			close(r.fd);
		ret = qs_static_resolve(&site->accel_root, req->head ? "HEAD" : "GET",
					uri + pl - 1, uri_len - pl + 1, NULL, &r);
	}
	if (ret < 0 && r.status == 0)
		r.status = 500;
	if (r.status == 404)
		pr_info("request %" PRIu64 ": x-accel-redirect %.*s: no such file in %s",
			req->id, (int)(uri_len > 200 ? 200 : uri_len), uri, site->cfg->accel_root);
	if (r.status != 200 && r.status != 206) {
		if (r.fd >= 0)
			close(r.fd);
		return qs_respond_error(req, r.status, NULL, r.content_range);
	}
	if (qs_not_modified(req->if_none_match, req->if_modified_since, &r)) {
		if (r.fd >= 0)
			close(r.fd);
		return qs_static_respond_not_modified(req, &r);
	}
	for (size_t i = 0; i < n && m < QS_RESP_FIELDS_MAX - 8; i++) {
		if (body_field(&f[i]))
			continue;
		if (f[i].name_len == 12 && !strncasecmp(f[i].name, "content-type", 12)) {
			if (script_type(&f[i]))
				type = f[i].value;
			continue;
		}
		out[m++] = f[i];
	}
	if (type)
		r.content_type = type;
	m += qs_static_file_fields(out + m, &r, len_buf, sizeof(len_buf));
	return qs_static_send(req, &r, out, m);
}

static int internal_start(struct qs_req *req)
{
	int ret = qs_respond_error(req, 404, NULL, NULL);

	qs_req_stop_body(req);
	return ret;
}

const struct qs_handler qs_internal_handler = {
	.name = "internal location",
	.start = internal_start,
};
