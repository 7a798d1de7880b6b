/*
 * fuzz-dmarc-record.c - dmarc_record_parse() on arbitrary record text; a
 * record it accepts must have a policy and a pct in 0..100.
 */
#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_dmarc_record
#endif
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[128];
	struct dmarc_record r;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (dmarc_record_parse(s, &r, err, sizeof(err)) == 0 &&
	    (r.p == DMARC_POLICY_UNSET || r.pct > 100))
		abort();
	free(s);
	return 0;
}
