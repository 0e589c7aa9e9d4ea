// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "worker/http/date.h"

void qs_imf_fixdate(time_t t, char *buf, size_t size)
{
	static const char wday[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char mon[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	buf[0] = '\0';
	/* the grammar has four year digits; an odd mtime gets no header */
	if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
		return;
	/* locale-independent names: strftime's %a/%b follow LC_TIME */
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", wday[tm.tm_wday % 7],
		 tm.tm_mday % 100, mon[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour % 100,
		 tm.tm_min % 100, tm.tm_sec % 100);
}

int64_t qs_parse_imf_fixdate(const char *s)
{
	static const char mon[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm = { 0 };
	char m[4], gmt[4];
	int day, year, hh, mm, ss, used = 0;
	const char *p;

	if (strlen(s) != 29 || s[3] != ',' ||
	    sscanf(s + 4, " %2d %3s %4d %2d:%2d:%2d %3s%n", &day, m, &year, &hh, &mm, &ss, gmt,
		   &used) != 7 || used != 25 || strcmp(gmt, "GMT"))
		return -1;
	p = strstr(mon, m);
	if (!p || (p - mon) % 3 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
		return -1;
	tm.tm_mday = day;
	tm.tm_mon = (int)((p - mon) / 3);
	tm.tm_year = year - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	return (int64_t)timegm(&tm);
}

const char *qs_http_date(void)
{
	/* one clock read per response, one format per second (per process) */
	static char buf[40];
	static time_t last = -1;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec != last) {
		qs_imf_fixdate(ts.tv_sec, buf, sizeof(buf));
		last = ts.tv_sec;
	}
	return buf;
}
