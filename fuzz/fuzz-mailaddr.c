/*
 * fuzz-mailaddr.c - mailaddr_from_domain() and mailaddr_from_domains() on
 * arbitrary From values; the domains they return must fit, hold no upper
 * case, and agree: one author domain is the first of the list, and the
 * list holds distinct domains, at most MAILADDR_MAX_AUTHORS.
 */
#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_mailaddr
#endif
#include "config.h"

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
	{
		struct mailaddr_authors au;
		enum mailaddr_status one = mailaddr_from_domain(s, out,
		    sizeof(out));
		enum mailaddr_status all = mailaddr_from_domains(s, &au);

		if (all == MAILADDR_MULTIPLE || au.n > MAILADDR_MAX_AUTHORS ||
		    (all == MAILADDR_OK) != (au.n > 0))
			abort();
		for (size_t i = 0; i < au.n; i++) {
			if (memchr(au.domain[i], '\0', sizeof(au.domain[i])) ==
			    NULL)
				abort();
			for (const char *p = au.domain[i]; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					abort();
			for (size_t j = 0; j < i; j++)
				if (strcmp(au.domain[i], au.domain[j]) == 0)
					abort();
		}
		/* one address with a domain: the same domain either way */
		if (one == MAILADDR_OK && (all != MAILADDR_OK || au.n != 1 ||
		    strcmp(out, au.domain[0]) != 0))
			abort();
	}
	free(s);
	return 0;
}
