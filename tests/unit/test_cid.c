// SPDX-License-Identifier: MIT
/*
 * Unit tests of include/quicsteer/cid.h: the same inline code that runs in
 * bpf/steer.bpf.c.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "quicsteer/cid.h"
#include "check.h"

static unsigned long long seed = 0x51c0ffee2026ULL;

static void random_key(struct qs_cid_key *k)
{
	k->k0 = qs_test_rand(&seed);
	k->k1 = qs_test_rand(&seed);
	k->installed = 1;
}

/* Reference SipHash-c-d, byte at a time, any length: checks qs_cid_prf. */
static uint64_t ref_siphash(int c, int d, const uint8_t key[16],
			    const uint8_t *in, size_t len)
{
	uint64_t k0 = qs_le64(key), k1 = qs_le64(key + 8);
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t m;
	size_t i;
	int r;

	for (i = 0; i + 8 <= len; i += 8) {
		m = qs_le64(in + i);
		v3 ^= m;
		for (r = 0; r < c; r++)
			QS_SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	m = (uint64_t)len << 56;
	for (size_t j = 0; i + j < len; j++)
		m |= (uint64_t)in[i + j] << (8 * j);
	v3 ^= m;
	for (r = 0; r < c; r++)
		QS_SIPROUND(v0, v1, v2, v3);
	v0 ^= m;
	v2 ^= 0xff;
	for (r = 0; r < d; r++)
		QS_SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

static int test_siphash_reference(void)
{
	uint8_t key[16], in[15];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		in[i] = (uint8_t)i;
	/* the SipHash paper's published vectors (SipHash-2-4, key 00..0f) */
	CHECK(ref_siphash(2, 4, key, in, 0) == 0x726fdb47dd0e0e31ULL, "empty");
	CHECK(ref_siphash(2, 4, key, in, 15) == 0xa129ca6149be45e5ULL, "15 bytes");

	for (int n = 0; n < 10000; n++) {
		uint8_t msg[QS_CID_LEN];	/* prf reads a whole CID, hashes 14 bytes */

		qs_test_fill(&seed, key, sizeof(key));
		qs_test_fill(&seed, msg, sizeof(msg));
		CHECK(qs_cid_prf(qs_le64(key), qs_le64(key + 8), msg) ==
		      ref_siphash(QS_SIPHASH_C, QS_SIPHASH_D, key, msg, QS_CID_PRF_LEN),
		      "qs_cid_prf differs from the reference at sample %d", n);
	}
	return 0;
}

static int test_round_trip(void)
{
	struct qs_cid_key keys[QS_CID_CONFIGS];
	uint8_t sid[QS_CID_SID_MAX], rnd[QS_CID_PRF_LEN], cid[QS_CID_LEN];
	struct qs_cid_owner o;
	unsigned n = 0;

	for (int c = 0; c < QS_CID_CONFIGS; c++)
		random_key(&keys[c]);
	for (unsigned sl = QS_CID_SID_MIN; sl <= QS_CID_SID_MAX; sl++) {
		qs_test_fill(&seed, sid, sizeof(sid));
		for (unsigned c = 0; c < QS_CID_CONFIGS; c++)
			for (unsigned g = 0; g < QS_MAX_GENS; g++)
				for (unsigned w = 0; w < QS_MAX_WORKERS; w++) {
					qs_test_fill(&seed, rnd, sizeof(rnd));
					CHECK(qs_cid_encode(cid, &keys[c], c, sid, sl, g, w, rnd) == 0,
					      "encode c=%u g=%u w=%u", c, g, w);
					CHECK(qs_cid_decode_table(cid, keys, &o) == 0,
					      "decode c=%u g=%u w=%u sid_len=%u", c, g, w, sl);
					CHECK(o.config == c && o.gen == g && o.worker == w,
					      "decoded %u/%u/%u, minted %u/%u/%u",
					      o.config, o.gen, o.worker, c, g, w);
					CHECK(memcmp(cid + 1, sid, sl) == 0,
					      "server id not in bytes 1..%u", sl);
					n++;
				}
	}
	/* out-of-range arguments are refused, never silently truncated */
	CHECK(qs_cid_encode(cid, &keys[0], QS_CID_CONFIG_RESERVED, sid, 2, 0, 0, rnd) < 0, "config 7");
	CHECK(qs_cid_encode(cid, &keys[0], 0, sid, 2, QS_MAX_GENS, 0, rnd) < 0, "gen 4");
	CHECK(qs_cid_encode(cid, &keys[0], 0, sid, 2, 0, QS_MAX_WORKERS, rnd) < 0, "worker 64");
	CHECK(qs_cid_encode(cid, &keys[0], 0, sid, 0, 0, 0, rnd) < 0, "sid_len 0");
	CHECK(qs_cid_encode(cid, &keys[0], 0, sid, 7, 0, 0, rnd) < 0, "sid_len 7");
	printf("  round trip: %u CIDs (7 configs x 4 gens x 64 workers x sid 1..6)\n", n);
	return 0;
}

static int test_false_accept(void)
{
	struct qs_cid_key keys[QS_CID_CONFIGS];
	uint8_t cid[QS_CID_LEN];
	struct qs_cid_owner o;
	const unsigned total = 1000000;
	unsigned accepted = 0;

	/* worst case: every config id installed */
	for (int c = 0; c < QS_CID_CONFIGS; c++)
		random_key(&keys[c]);
	for (unsigned i = 0; i < total; i++) {
		qs_test_fill(&seed, cid, sizeof(cid));
		if (qs_cid_decode_table(cid, keys, &o) == 0)
			accepted++;
	}
	printf("  false accept: %u of %u random DCIDs = %.6f (1/256 = %.6f; "
	       "all 7 config ids installed)\n",
	       accepted, total, (double)accepted / total, 1.0 / 256);
	CHECK((double)accepted / total <= 1.0 / 256, "false-accept rate too high");
	/* and not suspiciously low: the check must really be 8 bits */
	CHECK(accepted > total / 512, "fewer accepts than 7/8 * 1/256 predicts");
	return 0;
}

/* Pearson chi-square of byte values against uniform (255 dof). */
static double chi_square(const unsigned counts[256], unsigned n)
{
	double e = n / 256.0, x = 0;

	for (int v = 0; v < 256; v++)
		x += (counts[v] - e) * (counts[v] - e) / e;
	return x;
}

/* 255 dof: p = 0.0001 upper critical value is about 347 */
#define CHI_LIMIT 347.0

static int test_unlinkable(void)
{
	enum { N = 10000 };
	static unsigned counts[QS_CID_LEN][256];
	static unsigned plain_counts[256];
	struct qs_cid_key key;
	uint8_t sid[] = { 0xa1, 0xb2 }, rnd[QS_CID_PRF_LEN], cid[QS_CID_LEN];
	uint8_t first[QS_CID_LEN];
	int varies[QS_CID_LEN] = { 0 };
	const unsigned sl = sizeof(sid), gen = 1, worker = 5;
	double worst = 0;

	random_key(&key);
	memset(counts, 0, sizeof(counts));
	for (int n = 0; n < N; n++) {
		qs_test_fill(&seed, rnd, sizeof(rnd));
		CHECK(qs_cid_encode(cid, &key, 3, sid, sl, gen, worker, rnd) == 0, "encode");
		if (n == 0)
			memcpy(first, cid, sizeof(cid));
		for (int i = 0; i < QS_CID_LEN; i++) {
			counts[i][cid[i]]++;
			if (cid[i] != first[i])
				varies[i] = 1;
		}
		/* control: what the tag would look like unmasked */
		plain_counts[(gen << 6 | worker)]++;
	}
	/* byte 0 keeps the config id in clear (QUIC-LB) but 5 bits vary */
	for (int i = 0; i < QS_CID_LEN; i++) {
		if (i >= 1 && i <= (int)sl) {
			CHECK(!varies[i], "server id byte %d must be the configured one", i);
			continue;
		}
		CHECK(varies[i], "byte %d is constant over %d CIDs of one worker", i, N);
	}
	for (int i = 1 + sl; i < QS_CID_LEN; i++) {
		double x = chi_square(counts[i], N);

		if (x > worst)
			worst = x;
		CHECK(x < CHI_LIMIT, "byte %d: chi-square %.1f >= %.1f", i, x, CHI_LIMIT);
	}
	/* the test has power: an unmasked tag byte fails it by far */
	CHECK(chi_square(plain_counts, N) > 100 * CHI_LIMIT, "control not detected");
	printf("  unlinkable: %d CIDs of worker %u/%u, bytes %u..15 worst chi-square "
	       "%.1f (limit %.1f, 255 dof)\n", N, gen, worker, 1 + sl, worst, CHI_LIMIT);
	return 0;
}

static int test_key_rotation(void)
{
	struct qs_cid_key keys[QS_CID_CONFIGS];
	uint8_t sid[] = { 7 }, rnd[QS_CID_PRF_LEN], old_cid[QS_CID_LEN], new_cid[QS_CID_LEN];
	struct qs_cid_owner o;
	unsigned old_ok = 0, after_drop = 0;

	memset(keys, 0, sizeof(keys));
	random_key(&keys[0]);
	qs_test_fill(&seed, rnd, sizeof(rnd));
	CHECK(qs_cid_encode(old_cid, &keys[0], 0, sid, 1, 2, 17, rnd) == 0, "encode");

	/* rotate: config 1 gets a new key and mints from now on */
	random_key(&keys[1]);
	qs_test_fill(&seed, rnd, sizeof(rnd));
	CHECK(qs_cid_encode(new_cid, &keys[1], 1, sid, 1, 3, 9, rnd) == 0, "encode");
	CHECK(qs_cid_decode_table(new_cid, keys, &o) == 0 && o.gen == 3 && o.worker == 9,
	      "new CID under config 1");
	CHECK(qs_cid_decode_table(old_cid, keys, &o) == 0 && o.config == 0 &&
	      o.gen == 2 && o.worker == 17, "old CID while config 0 is installed");

	/* many old CIDs: all decode while the old key stays */
	for (int n = 0; n < 1000; n++) {
		struct qs_cid_key k0 = keys[0];
		uint8_t c[QS_CID_LEN];

		qs_test_fill(&seed, rnd, sizeof(rnd));
		qs_cid_encode(c, &k0, 0, sid, 1, n & 3, n & 63, rnd);
		if (qs_cid_decode_table(c, keys, &o) == 0 && o.gen == (unsigned)(n & 3) &&
		    o.worker == (unsigned)(n & 63))
			old_ok++;
	}
	CHECK(old_ok == 1000, "%u of 1000 old CIDs decoded", old_ok);

	/* retire config 0: old CIDs no longer decode (then: hashed/stale) */
	keys[0].installed = 0;
	CHECK(qs_cid_decode_table(old_cid, keys, &o) < 0, "old CID after its key is gone");
	/* and a CID under a config whose key is gone is never accepted */
	for (int n = 0; n < 1000; n++) {
		uint8_t c[QS_CID_LEN];

		qs_test_fill(&seed, c, sizeof(c));
		c[0] = (uint8_t)(c[0] & 0x1f); /* config 0 */
		if (qs_cid_decode_table(c, keys, &o) == 0)
			after_drop++;
	}
	CHECK(after_drop == 0, "config 0 not installed but %u accepted", after_drop);
	/* the reserved config id 7 never decodes */
	new_cid[0] |= 0xe0;
	CHECK(qs_cid_decode_table(new_cid, keys, &o) < 0, "config 7");
	return 0;
}

int main(void)
{
	RUN(test_siphash_reference);
	RUN(test_round_trip);
	RUN(test_false_accept);
	RUN(test_unlinkable);
	RUN(test_key_rotation);
	return DONE();
}
