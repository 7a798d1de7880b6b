/*
 * fuzz-record.c - report_record_decode() (lib/report/record.c) on
 * arbitrary bytes: the rows of the report store, which another process
 * (or another host, over PostgreSQL) wrote. A line that decodes is in
 * canonical form: report_record_encode() of the record gives back exactly
 * the input. The record holds no more than the encoder writes
 * (REPORT_DKIM_MAX DKIM results, REPORT_REC_SPF_MAX SPF results,
 * REPORT_REC_REASONS_MAX reasons), every enum in range, when 0; a line
 * that does not decode leaves the record zeroed.
 */
#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_record
#endif
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* zeroed - whether the n bytes at p are all 0 */
static int
zeroed(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i] != 0)
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new();
	struct report_record r;
	struct dynbuf b;
	char err[200];

	if (report_record_decode((const char *)data, size, a, &r, err,
				 sizeof(err)) < 0) {
		if (!zeroed(&r, sizeof(r)) || err[0] == '\0')
			abort();
		arena_free(&a);
		return 0;
	}
	if (r.when != 0 || r.ndkim > REPORT_DKIM_MAX ||
	    r.nspf > REPORT_REC_SPF_MAX ||
	    r.nreasons > REPORT_REC_REASONS_MAX ||
	    (unsigned)r.disposition > REPORT_DISP_REJECT ||
	    (unsigned)r.policy.p > DMARC_POLICY_REJECT ||
	    (unsigned)r.policy.sp > DMARC_POLICY_REJECT ||
	    (unsigned)r.policy.np > DMARC_POLICY_REJECT ||
	    r.policy.pct > 100)
		abort();
	for (size_t i = 0; i < r.ndkim; i++)
		if ((unsigned)r.dkim[i].result > REPORT_DKIM_PERMERROR)
			abort();
	for (size_t i = 0; i < r.nspf; i++)
		if ((unsigned)r.spf[i].result > REPORT_SPF_PERMERROR ||
		    (unsigned)r.spf[i].scope > REPORT_SPF_HELO)
			abort();
	for (size_t i = 0; i < r.nreasons; i++)
		if ((unsigned)r.reasons[i].type > REPORT_OVR_TRUSTED_FORWARDER)
			abort();
	dynbuf_init(&b, REPORT_REC_MAX);
	if (report_record_encode(&r, &b, err, sizeof(err)) < 0 ||
	    b.len != size || memcmp(b.s, data, size) != 0)
		abort();
	dynbuf_free(&b);
	arena_free(&a);
	return 0;
}
