/* SPDX-License-Identifier: MIT */
/*
 * Where a request goes: a PHP script by its extension, the front
 * controller (--index) for what is not a static file, else the static
 * files.  The worker installs this as the site's router.
 */
#ifndef QS_WORKER_HANDLER_ROUTE_H
#define QS_WORKER_HANDLER_ROUTE_H

struct qs_req;
struct qs_site;

const struct qs_handler *qs_route(struct qs_site *site, struct qs_req *req);

#endif
