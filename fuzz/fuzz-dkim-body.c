/*
 * fuzz-dkim-body.c - the streaming body canonicalizer (lib/dkim/dkim_body.c).
 * The first byte picks the canonicalization ('r'/'R' relaxed, anything
 * else simple) and, when upper case, takes the next byte as an l= limit;
 * the rest is the body. Oracles: the digest and canonical length are the
 * same whether the body is fed whole, in 1-byte chunks or in chunks of a
 * size taken from the input; and the same as for the body with every bare
 * LF written as CRLF (RFC 6376 treats both as a line end here).
 */
#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_dkim_body
#endif

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_body.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_BODY_MAX (64 * 1024)

/* digest - the body in chunks of step bytes (0: whole) */
static size_t
digest(enum dkv_bh_canon c, long long limit, const uint8_t *p, size_t n,
    size_t step, unsigned char *out, uint64_t *clen)
{
	struct dkv_bh *h = dkv_bh_new(NULL, c, DKV_BH_SHA256, limit);
	size_t l;

	if (step == 0)
		step = n;
	for (size_t o = 0; o < n; o += step)
		dkv_bh_update(h, p + o, n - o < step ? n - o : step);
	l = dkv_bh_final(h, out, clen);
	dkv_bh_free(&h);
	return l;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char d0[DKV_BH_MAXDIGEST], d1[DKV_BH_MAXDIGEST];
	uint64_t l0, l1;
	enum dkv_bh_canon c;
	long long limit = -1;
	size_t step, n, o = 0;
	uint8_t *crlf;

	if (size < 1 || size > FUZZ_BODY_MAX)
		return 0;
	c = data[0] == 'r' || data[0] == 'R' ? DKV_BH_RELAXED : DKV_BH_SIMPLE;
	if (data[0] >= 'A' && data[0] <= 'Z' && size > 1) {
		limit = data[1];
		data++;
		size--;
	}
	data++;
	size--;
	step = size > 0 ? 1 + data[size / 2] % 17 : 1;
	if (digest(c, limit, data, size, 0, d0, &l0) != 32)
		abort();
	digest(c, limit, data, size, 1, d1, &l1);
	if (memcmp(d0, d1, 32) != 0 || l0 != l1)
		abort();
	digest(c, limit, data, size, step, d1, &l1);
	if (memcmp(d0, d1, 32) != 0 || l0 != l1)
		abort();
	crlf = xmalloc(2 * size + 1);
	for (size_t i = 0; i < size; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			crlf[o++] = '\r';
		crlf[o++] = data[i];
	}
	n = o;
	digest(c, limit, crlf, n, step, d1, &l1);
	free(crlf);
	if (memcmp(d0, d1, 32) != 0 || l0 != l1)
		abort();
	/* the canonical body is never longer than the CRLF input plus the
	 * CRLF an unterminated or empty body gets */
	if (l0 > n + 2)
		abort();
	return 0;
}
