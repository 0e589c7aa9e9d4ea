/* SPDX-License-Identifier: MIT */
/* Test-tool access to a running instance's pinned maps. */
#ifndef QS_TEST_PINNED_H
#define QS_TEST_PINNED_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>

#include "quicsteer/steer.h"

static inline int pinned_fd(const char *instance, const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", QS_PIN_ROOT, instance, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		fprintf(stderr, "cannot open %s: %s (is the instance running? are you root?)\n",
			path, strerror(errno));
	return fd;
}

/* Read the CID keys and the steering state of a running instance. */
static inline int pinned_read_keys(const char *instance, struct qs_cid_key keys[QS_CID_CONFIGS],
				   struct qs_steer_state *st)
{
	int kfd = pinned_fd(instance, QS_PIN_CID_KEYS);
	int sfd = pinned_fd(instance, QS_PIN_STATE);
	__u32 zero = 0;

	if (kfd < 0 || sfd < 0)
		return -1;
	for (__u32 c = 0; c < QS_CID_CONFIGS; c++)
		if (bpf_map_lookup_elem(kfd, &c, &keys[c]))
			return -1;
	if (bpf_map_lookup_elem(sfd, &zero, st))
		return -1;
	return 0;
}

#endif
