/*
 * fuzz-mailaddr.c - mailaddr_from_domain() on arbitrary From values; the
 * domain it returns must fit the buffer and hold no upper case.
 */
#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_mailaddr
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char out[256];

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (mailaddr_from_domain(s, out, sizeof(out)) == MAILADDR_OK) {
		for (const char *p = out; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				abort();
	}
	(void)mailaddr_status_text(mailaddr_from_domain(s, out, 4));
	free(s);
	return 0;
}
