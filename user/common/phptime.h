/* SPDX-License-Identifier: MIT */
/*
 * The bounds of the php-fpm time histogram (struct qs_php_time): the
 * worker files each PHP request under the first bound its time does not
 * exceed, the loader labels the buckets with them (Prometheus `le`).
 * From 1 ms (an opcache hit answering from memory) to 30 s (past php-fpm's
 * usual request_terminate_timeout): 1-2.5-5 steps, as Prometheus'
 * client libraries space theirs.
 */
#ifndef QS_COMMON_PHPTIME_H
#define QS_COMMON_PHPTIME_H

#include <stdint.h>

#include "quicsteer/steer.h"

static const uint32_t qs_php_time_bounds_us[QS_PHP_TIME_BUCKETS - 1] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000,
};

/* The bucket of a request that took us microseconds (the last: above every bound). */
static inline unsigned qs_php_time_bucket(uint64_t us)
{
	unsigned i = 0;

	while (i < QS_PHP_TIME_BUCKETS - 1 && us > qs_php_time_bounds_us[i])
		i++;
	return i;
}

#endif
