/*
 * fuzz-dmarc-record.c - dmarc_record_parse_as() on arbitrary record text,
 * by the rules of both discoveries; a record either accepts must have a
 * policy, a pct in 0..100 and a psd= of the enum, and by RFC 9989 test
 * mode only from t=y or pct=0.
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
	static const enum dmarc_discovery modes[] = {
		DMARC_DISCOVERY_PSL, DMARC_DISCOVERY_TREEWALK,
	};
	char *s = malloc(size + 1), err[128];
	struct dmarc_record r;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (dmarc_record_parse_as(s, modes[i], &r, err,
		    sizeof(err)) != 0)
			continue;
		if (r.p == DMARC_POLICY_UNSET || r.pct > 100 ||
		    r.psd > DMARC_PSD_N)
			abort();
		if (modes[i] == DMARC_DISCOVERY_TREEWALK && r.testing &&
		    r.has_t == 0 && r.pct != 0)
			abort();
	}
	free(s);
	return 0;
}
