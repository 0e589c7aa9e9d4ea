// SPDX-License-Identifier: MIT
#include <string.h>

#include "common/json.h"

/* RFC 3629 4: no overlong forms, no surrogates, nothing above U+10FFFF. */
size_t qs_utf8_seq(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	size_t len;
	uint8_t lo = 0x80, hi = 0xbf;	/* the second byte's range */

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

size_t qs_json_escape(char *dst, size_t cap, const void *src, size_t n, size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *s = src;
	size_t i = 0, o = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t seq;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			if (o == cap)
				break;
			dst[o++] = (char)c;
			i++;
			continue;
		}
		if (c == '"' || c == '\\') {
			if (cap - o < 2)
				break;
			dst[o++] = '\\';
			dst[o++] = (char)c;
			i++;
			continue;
		}
		seq = c >= 0x80 ? qs_utf8_seq(s + i, n - i) : 0;
		if (seq) {
			if (cap - o < seq)
				break;
			memcpy(dst + o, s + i, seq);
			o += seq;
			i += seq;
			continue;
		}
		/* a control character, DEL, or a byte that is not UTF-8 */
		if (cap - o < QS_JSON_ESC_MAX)
			break;
		memcpy(dst + o, "\\u00", 4);
		dst[o + 4] = hex[c >> 4];
		dst[o + 5] = hex[c & 15];
		o += QS_JSON_ESC_MAX;
		i++;
	}
	if (used)
		*used = i;
	return o;
}
