/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * quicsteer connection-ID codec, shared by bpf/steer.bpf.c and the workers.
 *
 * Layout of every server-issued CID (QS_CID_LEN = 16 bytes):
 *
 *   byte 0        config id (3 bits, 0b111 reserved) | 5 random bits
 *   bytes 1..S    server id, plaintext, S = 1..6 (QUIC-LB: an upstream
 *                 L4 balancer may route on it)
 *   bytes S+1..13 nonce, random per CID
 *   bytes 14..15  tag = (gen:2 | worker:6 | check:8) XOR mask
 *
 * h = SipHash(key[config id], bytes 0..13); mask = h & 0xffff and the
 * expected check = (h >> 16) & 0xff.  The PRF input is always the first
 * 14 bytes whatever S is, so the decoder (the BPF program) never needs to
 * know the server-id length: it is a minting choice only.
 *
 * Why this shape: the tag is masked by a PRF of a fresh nonce, so no byte
 * after the server id is constant across the CIDs of one worker or one
 * connection (unlinkable); a random client DCID passes the 8-bit check
 * with probability 1/256 (self-checking); decoding is one SipHash over 14
 * bytes, cheap enough for an sk_reuseport program.
 *
 * Everything here is pure and inline; the unit tests run this exact code.
 */
#ifndef QUICSTEER_CID_H
#define QUICSTEER_CID_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define QS_CID_LEN        16
#define QS_CID_PRF_LEN    14   /* bytes covered by the PRF */
#define QS_CID_SID_MIN    1
#define QS_CID_SID_MAX    6
#define QS_CID_NONCE_MIN  (QS_CID_PRF_LEN - 1 - QS_CID_SID_MAX) /* 7 */
#define QS_CID_CONFIGS    7    /* config ids 0..6; 7 is reserved */
#define QS_CID_CONFIG_RESERVED 7
#define QS_MAX_GENS       4    /* 2-bit generation */
#define QS_MAX_WORKERS    64   /* 6-bit worker id */
#define QS_SLOTS_PER_LISTENER (QS_MAX_GENS * QS_MAX_WORKERS)
#define QS_MAX_LISTENERS  8

/*
 * SipHash rounds: 1-3 (docs/architecture.md says why not 2-4, measured);
 * the steering cost benchmark (make bench-steer) reports what this costs
 * per datagram.
 */
#ifndef QS_SIPHASH_C
#define QS_SIPHASH_C 1
#endif
#ifndef QS_SIPHASH_D
#define QS_SIPHASH_D 3
#endif

/* The PRF key for one config id.  Lives in the qs_cid_keys BPF map. */
struct qs_cid_key {
	__u64 k0;
	__u64 k1;
	__u32 installed;   /* 0: this config id decodes nothing */
	__u32 _pad;
};

/* What a CID decodes to. */
struct qs_cid_owner {
	__u32 config;
	__u32 gen;
	__u32 worker;
};

#if defined(__clang__)
#define QS_UNROLL _Pragma("unroll")
#else
#define QS_UNROLL _Pragma("GCC unroll 8")
#endif

#define QS_ROTL64(x, b) (__u64)(((x) << (b)) | ((x) >> (64 - (b))))

#define QS_SIPROUND(v0, v1, v2, v3)                                            \
	do {                                                                   \
		v0 += v1; v1 = QS_ROTL64(v1, 13); v1 ^= v0;                    \
		v0 = QS_ROTL64(v0, 32);                                        \
		v2 += v3; v3 = QS_ROTL64(v3, 16); v3 ^= v2;                    \
		v0 += v3; v3 = QS_ROTL64(v3, 21); v3 ^= v0;                    \
		v2 += v1; v1 = QS_ROTL64(v1, 17); v1 ^= v2;                    \
		v2 = QS_ROTL64(v2, 32);                                        \
	} while (0)

static __always_inline __u64 qs_le64(const __u8 *p)
{
	return (__u64)p[0] | (__u64)p[1] << 8 | (__u64)p[2] << 16 |
	       (__u64)p[3] << 24 | (__u64)p[4] << 32 | (__u64)p[5] << 40 |
	       (__u64)p[6] << 48 | (__u64)p[7] << 56;
}

/*
 * One 8-byte load where it is cheap: BPF packet memory may be read
 * unaligned (x86, arm64 JITs; stack buffers are kept 8-byte aligned), and
 * both BPF targets we run on are little-endian.  Byte loads elsewhere.
 */
#if defined(__bpf__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define qs_load_le64(p) (*(const __u64 *)(const void *)(p))
#elif !defined(__bpf__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static __always_inline __u64 qs_load_le64(const __u8 *p)
{
	__u64 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}
#else
#define qs_load_le64(p) qs_le64(p)
#endif

/*
 * SipHash-c-d of the first QS_CID_PRF_LEN (14) bytes at p.  Reads 16 bytes
 * (a whole CID): the last block's two extra bytes are masked off.
 */
static __always_inline __u64 qs_cid_prf(__u64 k0, __u64 k1, const __u8 *p)
{
	__u64 v0 = k0 ^ 0x736f6d6570736575ULL;
	__u64 v1 = k1 ^ 0x646f72616e646f6dULL;
	__u64 v2 = k0 ^ 0x6c7967656e657261ULL;
	__u64 v3 = k1 ^ 0x7465646279746573ULL;
	__u64 m;
	int i;

	m = qs_load_le64(p);
	v3 ^= m;
QS_UNROLL
	for (i = 0; i < QS_SIPHASH_C; i++)
		QS_SIPROUND(v0, v1, v2, v3);
	v0 ^= m;

	/* final block: bytes 8..13 and the length in the top byte */
	m = (qs_load_le64(p + 8) & 0x0000ffffffffffffULL) |
	    (__u64)QS_CID_PRF_LEN << 56;
	v3 ^= m;
QS_UNROLL
	for (i = 0; i < QS_SIPHASH_C; i++)
		QS_SIPROUND(v0, v1, v2, v3);
	v0 ^= m;

	v2 ^= 0xff;
QS_UNROLL
	for (i = 0; i < QS_SIPHASH_D; i++)
		QS_SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

static __always_inline __u32 qs_cid_config(const __u8 *cid)
{
	return cid[0] >> 5;
}

/*
 * Decode a QS_CID_LEN-byte CID with the key of its config id.
 * Returns 0 and fills *out when the check passes, -1 otherwise.
 * The caller looks up the key by qs_cid_config(cid) (and treats config 7
 * and keys not installed as "not ours").
 */
static __always_inline int qs_cid_decode(const __u8 *cid,
					 const struct qs_cid_key *key,
					 struct qs_cid_owner *out)
{
	__u64 h = qs_cid_prf(key->k0, key->k1, cid);
	__u32 tag = ((__u32)cid[14] << 8 | cid[15]) ^ (__u32)(h & 0xffff);

	if ((tag & 0xff) != ((h >> 16) & 0xff))
		return -1;
	out->config = cid[0] >> 5;
	out->gen = tag >> 14;
	out->worker = (tag >> 8) & 0x3f;
	return 0;
}

/*
 * Mint a CID.  rnd must hold QS_CID_PRF_LEN fresh random bytes (only
 * 1 + nonce length of them are used); keeping randomness an input keeps
 * this function pure and testable.  Returns 0, or -1 on a bad argument.
 */
static __always_inline int qs_cid_encode(__u8 *cid, const struct qs_cid_key *key,
					 __u32 config, const __u8 *sid,
					 __u32 sid_len, __u32 gen, __u32 worker,
					 const __u8 *rnd)
{
	__u32 i, plain, check;
	__u64 h;

	if (config >= QS_CID_CONFIGS || gen >= QS_MAX_GENS ||
	    worker >= QS_MAX_WORKERS || sid_len < QS_CID_SID_MIN ||
	    sid_len > QS_CID_SID_MAX)
		return -1;

	cid[0] = (__u8)(config << 5 | (rnd[0] & 0x1f));
	for (i = 0; i < sid_len; i++)
		cid[1 + i] = sid[i];
	for (i = 1 + sid_len; i < QS_CID_PRF_LEN; i++)
		cid[i] = rnd[i];
	cid[14] = cid[15] = 0;	/* read (and masked off) by qs_cid_prf */

	h = qs_cid_prf(key->k0, key->k1, cid);
	check = (__u32)(h >> 16) & 0xff;
	plain = gen << 14 | worker << 8 | check;
	plain ^= (__u32)(h & 0xffff);
	cid[14] = (__u8)(plain >> 8);
	cid[15] = (__u8)plain;
	return 0;
}

/* Decode against a full key table (user space; BPF looks keys up in a map). */
static __always_inline int qs_cid_decode_table(const __u8 *cid,
					       const struct qs_cid_key *keys,
					       struct qs_cid_owner *out)
{
	__u32 config = qs_cid_config(cid);

	if (config >= QS_CID_CONFIGS || !keys[config].installed)
		return -1;
	return qs_cid_decode(cid, &keys[config], out);
}

/* Socket-array index of (listener, gen, worker). */
static __always_inline __u32 qs_slot(__u32 listener, __u32 gen, __u32 worker)
{
	return listener * QS_SLOTS_PER_LISTENER + gen * QS_MAX_WORKERS + worker;
}

#endif /* QUICSTEER_CID_H */
