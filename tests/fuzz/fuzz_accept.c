// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the Accept-Encoding parser and the content type
 * list match (user/worker/http/encode.c): what a client sends, and what a
 * script sends as its content-type.  Input: byte 0 is the set of codings
 * the server offers (low 3 bits: br, zstd, gzip; bit 3: its order); the rest, up to the first
 * NUL, an Accept-Encoding value, also matched as a content type against the
 * default --compress-types list.
 *
 * abort() on any broken promise: a coding the server does not offer, a
 * coding the value refuses by name with q=0 (checked for the plain
 * "name;q=0" element), a different answer for the same input twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/http/encode.h"

#define MAX_BYTES 8192

/* encode.c's filter half needs the request layer: not reached from here */
struct qs_site;
struct qs_req;
void qs_resp_held(struct qs_site *site, int64_t delta);
void qs_req_file_closed(struct qs_req *req);
void qs_resp_held(struct qs_site *site, int64_t delta)
{
	(void)site;
	(void)delta;
	abort();
}

void qs_req_file_closed(struct qs_req *req)
{
	(void)req;
	abort();
}

static const char *const types =
	"text/*, +json, +xml, application/javascript, application/wasm, font/ttf";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { NULL, "br", "zstd", "gzip" };
	unsigned allowed;
	enum qs_coding c;
	char *v;

	if (size < 1 || size > MAX_BYTES)
		return 0;
	allowed = (unsigned)(data[0] & 7) << 1;
	v = strndup((const char *)data + 1, size - 1);
	if (!v)
		return 0;
	c = qs_accept_pick(v, allowed, (data[0] & 8) ? qs_order_fast : qs_order_small);
	if (c >= QS_CODINGS || (c != QS_CODING_IDENTITY && !(allowed & QS_CODING_BIT(c))))
		abort();
	if (qs_accept_pick(v, allowed, (data[0] & 8) ? qs_order_fast : qs_order_small) != c)
		abort();
	if (c != QS_CODING_IDENTITY) {
		char refusal[16];

		/* "br;q=0" as a whole element anywhere refuses br */
		snprintf(refusal, sizeof(refusal), "%s;q=0", names[c]);
		for (const char *p = v; (p = strstr(p, refusal)); p++) {
			bool start = p == v || p[-1] == ',';
			char end = p[strlen(refusal)];

			if (start && (end == ',' || end == '\0'))
				abort();
		}
	}
	(void)qs_type_listed(types, v, strlen(v));
	free(v);
	return 0;
}
