// SPDX-License-Identifier: MIT
/*
 * qs-enc-levels FILE...: for each file, each coding and a few levels, the
 * compression ratio and the CPU time per MB of input, with the encoder set
 * up as the server sets it up per response (window QS_ENC_WINDOW_LOG, a
 * fresh encoder each time, streaming calls), and the encoder's peak memory.
 * What `make bench-encode` prints to choose --compress-*-level.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <brotli/encode.h>
#define ZSTD_STATIC_LINKING_ONLY
#include <zlib.h>
#include <zstd.h>

#include "worker/http/encode.h"

static size_t mem_now, mem_peak;

static const char *const names[QS_CODINGS] = { "identity", "br", "zstd", "gzip" };

union hdr {
	size_t size;
	max_align_t a;
};

static void *alloc(void *opaque, size_t size)
{
	union hdr *h = malloc(sizeof(*h) + size);

	(void)opaque;
	if (!h)
		abort();
	h->size = size;
	mem_now += size;
	if (mem_now > mem_peak)
		mem_peak = mem_now;
	return h + 1;
}

static void release(void *opaque, void *p)
{
	union hdr *h;

	(void)opaque;
	if (!p)
		return;
	h = (union hdr *)p - 1;
	mem_now -= h->size;
	free(h);
}

static void *zalloc(void *opaque, uInt n, uInt s)
{
	return alloc(opaque, (size_t)n * s);
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint8_t out[1 << 22];

/* one response: the compressed size */
static size_t once(int coding, int level, const uint8_t *in, size_t len)
{
	size_t olen = 0;

	if (coding == QS_CODING_BR) {
		BrotliEncoderState *s = BrotliEncoderCreateInstance(alloc, release, NULL);
		size_t ai = len, ao = sizeof(out);
		const uint8_t *ni = in;
		uint8_t *no = out;

		BrotliEncoderSetParameter(s, BROTLI_PARAM_QUALITY, (uint32_t)level);
		BrotliEncoderSetParameter(s, BROTLI_PARAM_LGWIN, QS_ENC_WINDOW_LOG);
		while (!BrotliEncoderIsFinished(s))
			BrotliEncoderCompressStream(s, BROTLI_OPERATION_FINISH, &ai, &ni, &ao, &no,
						    NULL);
		olen = sizeof(out) - ao;
		BrotliEncoderDestroyInstance(s);
	} else if (coding == QS_CODING_ZSTD) {
		ZSTD_CCtx *c = ZSTD_createCCtx_advanced((ZSTD_customMem){ alloc, release, NULL });
		ZSTD_inBuffer ib = { in, len, 0 };
		ZSTD_outBuffer ob = { out, sizeof(out), 0 };

		ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
		ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, QS_ENC_WINDOW_LOG);
		while (ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end))
			;
		olen = ob.pos;
		ZSTD_freeCCtx(c);
	} else {
		z_stream z = { .zalloc = zalloc, .zfree = release };

		deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
		z.next_in = (Bytef *)in;
		z.avail_in = (uInt)len;
		z.next_out = out;
		z.avail_out = sizeof(out);
		deflate(&z, Z_FINISH);
		olen = sizeof(out) - z.avail_out;
		deflateEnd(&z);
	}
	return olen;
}

int main(int argc, char **argv)
{
	static const struct {
		int coding;
		int levels[8];
	} plan[] = {
		{ QS_CODING_BR, { 1, 3, 4, 5, 6, 9, 11, -1 } },
		{ QS_CODING_ZSTD, { 1, 3, 5, 9, 19, -1 } },
		{ QS_CODING_GZIP, { 1, 4, 5, 6, 9, -1 } },
	};

	for (int a = 1; a < argc; a++) {
		FILE *f = fopen(argv[a], "rb");
		static uint8_t in[1 << 22];
		size_t len;

		if (!f) {
			perror(argv[a]);
			return 1;
		}
		len = fread(in, 1, sizeof(in), f);
		fclose(f);
		printf("%s: %zu bytes\n", argv[a], len);
		printf("  %-6s %5s %8s %7s %12s %10s\n", "coding", "level", "bytes", "ratio",
		       "CPU ms/MB", "peak KB");
		for (size_t p = 0; p < sizeof(plan) / sizeof(plan[0]); p++) {
			for (int i = 0; plan[p].levels[i] >= 0; i++) {
				int lv = plan[p].levels[i];
				size_t n = 0, olen = 0, total = 0;
				double t0 = cpu_now(), t;

				mem_peak = 0;
				do {	/* at least 0.2 s of CPU and 5 responses */
					olen = once(plan[p].coding, lv, in, len);
					total += len;
					n++;
				} while ((t = cpu_now() - t0) < 0.2 || n < 5);
				printf("  %-6s %5d %8zu %7.2f %12.2f %10zu\n",
				       names[plan[p].coding], lv, olen,
				       (double)len / (double)olen, t * 1e3 / ((double)total / 1e6),
				       mem_peak >> 10);
			}
		}
	}
	return 0;
}
