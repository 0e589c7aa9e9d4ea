/* SPDX-License-Identifier: MIT */
/* One hex digit of a percent-encoding (either case), for the path decoders. */
#ifndef QS_COMMON_HEX_H
#define QS_COMMON_HEX_H

/* 0..15, or -1 when c is not a hex digit. */
static inline int qs_hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

#endif
