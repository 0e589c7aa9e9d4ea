// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the php-fpm status answer parser
 * (user/common/fpmstatus.c): what the loader reads from a pool's status
 * page, which a process running the docroot's PHP could forge.
 *  - byte 0 odd: the rest is the whole answer, records and all;
 *  - byte 0 even: the rest is the status page's body, sent as php-fpm
 *    would (a CGI header block, STDOUT records, END_REQUEST) twice: in
 *    records of 1..256 bytes (byte 1) and in one record.  The two must
 *    parse alike: the body's meaning cannot depend on how it was cut.
 * The request builder gets the input as a path: it must stay in its buffer.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *   -Iuser tests/fuzz/fuzz_fpmstatus.c user/common/fpmstatus.c user/common/fcgi.c \
 *   -o .output/fuzz_fpmstatus
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fcgi.h"
#include "common/fpmstatus.h"

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "fuzz_fpmstatus: " __VA_ARGS__);               \
		fputc('\n', stderr);                                           \
		abort();                                                       \
	} while (0)

static const char hdr[] = "Content-Type: application/json\r\n\r\n";

/* one record as a server writes it (the codec encodes only a client's streams) */
static size_t record(uint8_t *out, enum qs_fcgi_type type, const void *c, size_t len)
{
	size_t pad = qs_fcgi_put_header(out, type, 1, len);

	memcpy(out + QS_FCGI_HEADER_LEN, c, len);
	memset(out + QS_FCGI_HEADER_LEN + len, 0, pad);
	return QS_FCGI_HEADER_LEN + len + pad;
}

/* body as php-fpm answers it, in STDOUT records of at most step bytes (<= 65535) */
static size_t wrap(uint8_t *out, size_t cap, const uint8_t *body, size_t len, size_t step)
{
	static uint8_t content[QS_FPM_STATUS_MAX];
	size_t n = 0, clen = sizeof(hdr) - 1 + len;
	uint8_t end[8] = { 0 };

	if (clen > sizeof(content) || (clen / step + 3) * (QS_FCGI_HEADER_LEN + 8) + clen > cap)
		return 0;
	memcpy(content, hdr, sizeof(hdr) - 1);
	memcpy(content + sizeof(hdr) - 1, body, len);
	for (size_t off = 0; off < clen; off += step)
		n += record(out + n, QS_FCGI_STDOUT, content + off,
			    clen - off < step ? clen - off : step);
	n += record(out + n, QS_FCGI_STDOUT, "", 0);
	return n + record(out + n, QS_FCGI_END_REQUEST, end, sizeof(end));
}

static void check(int ret, const struct qs_fpm_pool *p, const char *why)
{
	if (ret == 0) {
		if (strnlen(p->pool, sizeof(p->pool)) == sizeof(p->pool) ||
		    strnlen(p->pm, sizeof(p->pm)) == sizeof(p->pm))
			FAIL("a name without its NUL");
	} else if (ret != -EBADMSG && ret != -EMSGSIZE) {
		FAIL("returned %d", ret);
	} else if (!why || !why[0]) {
		FAIL("error %d without a cause", ret);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t a[QS_FPM_STATUS_MAX * 20], b[QS_FPM_STATUS_MAX * 2];
	struct qs_fpm_pool pa, pb;
	const char *wa, *wb;
	uint8_t req[QS_FPM_STATUS_REQUEST_MAX];
	char path[512];
	ssize_t r;
	int ra, rb;

	if (size < 2)
		return 0;
	snprintf(path, sizeof(path), "%.*s", (int)(size - 1 < 300 ? size - 1 : 300),
		 (const char *)data + 1);
	r = qs_fpm_status_request(req, sizeof(req), path);
	if (r > (ssize_t)sizeof(req) || (r < 0 && r != -EINVAL && r != -ENOSPC))
		FAIL("request builder returned %zd", r);
	if (data[0] & 1) {
		ra = qs_fpm_status_parse(data + 1, size - 1, &pa, &wa);
		check(ra, &pa, wa);
		return 0;
	}
	{
		size_t na = wrap(a, sizeof(a), data + 2, size - 2, (size_t)data[1] + 1);
		size_t nb = wrap(b, sizeof(b), data + 2, size - 2, QS_FCGI_CONTENT_MAX);

		if (!na || !nb)
			return 0;
		ra = qs_fpm_status_parse(a, na, &pa, &wa);
		rb = qs_fpm_status_parse(b, nb, &pb, &wb);
		check(ra, &pa, wa);
		check(rb, &pb, wb);
		/* more records can pass the 16 KB bound where one does not */
		if (na <= QS_FPM_STATUS_MAX && (ra != rb || (!ra && memcmp(&pa, &pb, sizeof(pa)))))
			FAIL("the body's meaning depends on its records: %d (%s) vs %d (%s)", ra,
			     wa, rb, wb);
	}
	return 0;
}
