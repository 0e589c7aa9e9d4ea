// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the CID codec of include/quicsteer/cid.h, the same
 * inline code the steering program runs on every datagram's DCID (and the
 * worker on every datagram it counts).  Input: 16 bytes of key (each config
 * id gets its own key derived from it), 1 byte of which config ids are
 * installed, then a DCID of 16 bytes (zero-padded when short), then the
 * rest for a mint: config, generation, worker, server-id length (all as
 * raw bytes, so out-of-range values come too), server id and random bytes.
 *
 * Checked:
 *  - decoding reads only the 16 CID bytes (each in an exact-size
 *    allocation, so ASan sees any overread) and either refuses or gives a
 *    generation, worker and config in range, the config being installed;
 *  - a CID that decodes is exactly what minting its generation and worker
 *    with its own bytes as the randomness gives, for every server-id length
 *    (decoding loses nothing the tag carries);
 *  - a mint with any argument out of range is refused and writes nothing;
 *    one in range decodes back to its config, generation and worker.
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *   tests/fuzz/fuzz_cid.c -o .output/fuzz_cid
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quicsteer/cid.h"

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "fuzz_cid: " __VA_ARGS__);                     \
		fprintf(stderr, "\n");                                         \
		abort();                                                       \
	} while (0)

/* The bytes at *pos (zero past the end), advancing. */
static void take(const uint8_t *data, size_t size, size_t *pos, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++, (*pos)++)
		out[i] = *pos < size ? data[*pos] : 0;
}

static void check_decoded(const uint8_t *cid, const struct qs_cid_key *keys,
			  const struct qs_cid_owner *o)
{
	uint8_t again[QS_CID_LEN];

	if (o->config >= QS_CID_CONFIGS || !keys[o->config].installed ||
	    o->config != qs_cid_config(cid))
		FAIL("decoded config %u", o->config);
	if (o->gen >= QS_MAX_GENS || o->worker >= QS_MAX_WORKERS)
		FAIL("decoded gen %u worker %u", o->gen, o->worker);
	/* the CID's own bytes as the randomness and the server id: the same CID */
	for (uint32_t sid_len = QS_CID_SID_MIN; sid_len <= QS_CID_SID_MAX; sid_len++) {
		if (qs_cid_encode(again, &keys[o->config], o->config, cid + 1, sid_len, o->gen,
				  o->worker, cid))
			FAIL("cannot mint what was decoded (sid length %u)", sid_len);
		if (memcmp(again, cid, QS_CID_LEN))
			FAIL("minting gen %u worker %u again differs (sid length %u)", o->gen,
			     o->worker, sid_len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qs_cid_key keys[QS_CID_CONFIGS];
	uint8_t seed[16], mask, args[4], sid[QS_CID_SID_MAX], rnd[QS_CID_PRF_LEN];
	struct qs_cid_owner o;
	uint8_t *cid = malloc(QS_CID_LEN), *minted = malloc(QS_CID_LEN + 1);
	uint32_t config, gen, worker, sid_len;
	size_t pos = 0;
	int ret;

	if (!cid || !minted)
		abort();
	take(data, size, &pos, seed, sizeof(seed));
	take(data, size, &pos, &mask, 1);
	for (uint32_t c = 0; c < QS_CID_CONFIGS; c++) {
		keys[c].k0 = qs_le64(seed) ^ (0x9e3779b97f4a7c15ULL * (c + 1));
		keys[c].k1 = qs_le64(seed + 8) + c;
		keys[c].installed = mask >> c & 1;
		keys[c]._pad = 0;
	}

	/* a DCID from the wire */
	take(data, size, &pos, cid, QS_CID_LEN);
	ret = qs_cid_decode_table(cid, keys, &o);
	if (ret != 0 && ret != -1)
		FAIL("decode returned %d", ret);
	if (ret == 0)
		check_decoded(cid, keys, &o);
	if (qs_cid_config(cid) == QS_CID_CONFIG_RESERVED && ret == 0)
		FAIL("the reserved config id decoded");

	/* a mint with the fuzzer's arguments, out of range included */
	take(data, size, &pos, args, sizeof(args));
	take(data, size, &pos, sid, sizeof(sid));
	take(data, size, &pos, rnd, sizeof(rnd));
	config = args[0] & 0x0f;
	gen = args[1] & 0x07;
	worker = args[2] & 0x7f;
	sid_len = args[3] & 0x07;
	memset(minted, 0xee, QS_CID_LEN + 1);
	ret = qs_cid_encode(minted, &keys[config % QS_CID_CONFIGS], config, sid, sid_len, gen,
			    worker, rnd);
	if (config >= QS_CID_CONFIGS || gen >= QS_MAX_GENS || worker >= QS_MAX_WORKERS ||
	    sid_len < QS_CID_SID_MIN || sid_len > QS_CID_SID_MAX) {
		if (ret != -1)
			FAIL("minted with config %u gen %u worker %u sid length %u", config, gen,
			     worker, sid_len);
		for (size_t i = 0; i <= QS_CID_LEN; i++)
			if (minted[i] != 0xee)
				FAIL("a refused mint wrote byte %zu", i);
	} else {
		struct qs_cid_key key = keys[config];

		if (ret)
			FAIL("mint refused: config %u gen %u worker %u sid length %u", config, gen,
			     worker, sid_len);
		if (minted[QS_CID_LEN] != 0xee)
			FAIL("minting wrote past the CID");
		if (memcmp(minted + 1, sid, sid_len))
			FAIL("the server id is not in plaintext");
		key.installed = 1;
		if (qs_cid_decode(minted, &key, &o) || o.config != config || o.gen != gen ||
		    o.worker != worker)
			FAIL("config %u gen %u worker %u does not decode back", config, gen, worker);
	}
	free(cid);
	free(minted);
	return 0;
}
