/* SPDX-License-Identifier: MIT */
/* HTTP dates (RFC 9110 5.6.7): the IMF-fixdate form, "Sun, 06 Nov 1994 08:49:37 GMT". */
#ifndef QS_WORKER_HTTP_DATE_H
#define QS_WORKER_HTTP_DATE_H

#include <stdint.h>
#include <stddef.h>
#include <time.h>

/* t as an IMF-fixdate into buf (40 bytes suffice); "" for a year past 9999. */
void qs_imf_fixdate(time_t t, char *buf, size_t size);
/* An IMF-fixdate in seconds since the epoch, or -1. */
int64_t qs_parse_imf_fixdate(const char *s);
/* Now, for the date field of a response: formatted once a second. */
const char *qs_http_date(void);

#endif
