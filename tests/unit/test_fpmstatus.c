// SPDX-License-Identifier: MIT
/*
 * Unit tests of the php-fpm status page client's codec
 * (user/common/fpmstatus.c): the request php-fpm answers with its status,
 * and the answers the loader must take or refuse: php-fpm's own, a pool
 * without that status page (404), a page without a counter, a body over
 * its bound, an unfinished request, a negative counter.
 */
#include <string.h>

#include "common/fcgi.h"
#include "common/fpmstatus.h"
#include "check.h"

#define BODY "{\"pool\":\"www\",\"process manager\":\"dynamic\",\"start time\":1796662395," \
	"\"start since\":4,\"accepted conn\":12,\"listen queue\":2,\"max listen queue\":3," \
	"\"listen queue len\":511,\"idle processes\":3,\"active processes\":1," \
	"\"total processes\":4,\"max active processes\":2,\"max children reached\":5," \
	"\"slow requests\":6}"
#define HDR "Content-Type: application/json\r\n\r\n"

static uint8_t buf[3 * QS_FPM_STATUS_MAX];

/* one record as a server writes it (the codec encodes only a client's streams) */
static size_t record(uint8_t *out, enum qs_fcgi_type type, const void *c, size_t len)
{
	size_t pad = qs_fcgi_put_header(out, type, 1, len);

	memcpy(out + QS_FCGI_HEADER_LEN, c, len);
	memset(out + QS_FCGI_HEADER_LEN + len, 0, pad);
	return QS_FCGI_HEADER_LEN + len + pad;
}

/* STDOUT of content (one record), its end, END_REQUEST(protocol_status). */
static size_t answer(const char *content, size_t len, uint8_t protocol_status)
{
	uint8_t end[8] = { 0 };
	size_t n;

	end[4] = protocol_status;
	n = record(buf, QS_FCGI_STDOUT, content, len);
	n += record(buf + n, QS_FCGI_STDOUT, "", 0);
	return n + record(buf + n, QS_FCGI_END_REQUEST, end, sizeof(end));
}

static int test_request(void)
{
	uint8_t req[QS_FPM_STATUS_REQUEST_MAX];
	ssize_t n = qs_fpm_status_request(req, sizeof(req), "/status");

	CHECK(n > 0, "built: %zd", n);
	CHECK(req[1] == QS_FCGI_BEGIN_REQUEST && req[8 + 2] == 0, "BEGIN_REQUEST without keep-conn");
	CHECK(memmem(req, (size_t)n, "SCRIPT_NAME/status", 18), "SCRIPT_NAME");
	CHECK(memmem(req, (size_t)n, "QUERY_STRINGjson", 16), "?json");
	CHECK(qs_fpm_status_request(req, sizeof(req), "status") == -EINVAL, "relative path");
	CHECK(qs_fpm_status_request(req, 20, "/status") == -ENOSPC, "small buffer");
	return 0;
}

static int test_php_fpm_answer(void)
{
	struct qs_fpm_pool p;
	const char *why;
	size_t n = answer("Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n" HDR BODY,
			  strlen("Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n" HDR BODY), 0);

	CHECK(qs_fpm_status_parse(buf, n, &p, &why) == 0, "refused: %s", why);
	CHECK(!strcmp(p.pool, "www") && !strcmp(p.pm, "dynamic"), "%s %s", p.pool, p.pm);
	CHECK(p.active == 1 && p.idle == 3 && p.total == 4 && p.listen_queue == 2 &&
	      p.accepted_conn == 12 && p.max_children_reached == 5 && p.slow_requests == 6,
	      "counters");
	/* cut anywhere before the end: refused */
	CHECK(qs_fpm_status_parse(buf, n - 1, &p, &why) == -EBADMSG, "truncated");
	return 0;
}

static int test_refused_answers(void)
{
	static const char *const bodies[] = {
		"Status: 404 Not Found\r\n\r\nFile not found.\n",
		HDR "{\"pool\":\"www\",\"active processes\":1}",          /* counters missing */
		HDR "{\"pool\":\"www\",\"active processes\":-1}",         /* not unsigned */
		HDR "{\"pool\":\"www\",\"processes\":[{\"pid\":1}]}",     /* ?full */
		HDR BODY "x",                                              /* bytes after it */
		HDR "[]",
	};
	struct qs_fpm_pool p;
	const char *why;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		size_t n = answer(bodies[i], strlen(bodies[i]), 0);

		CHECK(qs_fpm_status_parse(buf, n, &p, &why) == -EBADMSG && why[0],
		      "answer %zu taken", i);
	}
	/* php-fpm did not complete the request (overloaded) */
	CHECK(qs_fpm_status_parse(buf, answer(HDR BODY, strlen(HDR BODY), QS_FCGI_OVERLOADED),
				  &p, &why) == -EBADMSG, "OVERLOADED taken");
	return 0;
}

static int test_bounds(void)
{
	static char big[QS_FPM_STATUS_BODY + 64];
	struct qs_fpm_pool p;
	const char *why;
	size_t n;

	memcpy(big, HDR, strlen(HDR));
	memset(big + strlen(HDR), ' ', sizeof(big) - strlen(HDR));
	n = answer(big, sizeof(big), 0);
	CHECK(qs_fpm_status_parse(buf, n, &p, &why) == -EMSGSIZE, "body over 8 KB: %s", why);
	CHECK(qs_fpm_status_parse(buf, QS_FPM_STATUS_MAX + 1, &p, &why) == -EMSGSIZE,
	      "answer over 16 KB");
	return 0;
}

int main(void)
{
	RUN(test_request);
	RUN(test_php_fpm_answer);
	RUN(test_refused_answers);
	RUN(test_bounds);
	return DONE();
}
