// SPDX-License-Identifier: MIT
#include "common/config.h"
#include "worker/handler/accel.h"
#include "worker/handler/files.h"
#include "worker/handler/php.h"
#include "worker/handler/route.h"
#include "worker/http/req.h"
#include "worker/site.h"

const struct qs_handler *qs_route(struct qs_site *site, struct qs_req *req)
{
	const struct qs_config *cfg = site->cfg;

	if (qs_accel_internal(site, req->path, req->pathlen))
		return &qs_internal_handler;	/* only a script's x-accel-redirect reaches it */
	if (qs_php_wants(site, req->path, req->pathlen))
		return &qs_php_handler;
	/*
	 * The front controller: what is not a static file goes to the index
	 * script (nginx's try_files $uri /index.php$is_args$args)
	 */
	if (cfg->index[0] && cfg->fastcgi != QS_FASTCGI_OFF && req->path &&
	    !qs_static_exists(site, req->path, req->pathlen))
		return &qs_php_front_handler;
	return &qs_static_handler;
}
