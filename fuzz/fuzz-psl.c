/*
 * fuzz-psl.c - psl_load_string() on arbitrary list text, then
 * psl_org_domain() on a few names (and on the first line of the input).
 */
#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_psl
#endif
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "psl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
		"example.com", "a.b.c.example.co.uk", "www.ck", "a.b.test.ck",
		"x.y.test", "com", "xn--85x722f.xn--55qx5d.cn",
		"\xe9\xa3\x9f.\xe5\x85\xac\xe5\x8f\xb8.cn", ".", "a..b", "",
	};
	char *s = malloc(size + 1), err[128], out[256];
	struct psl *p;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	p = psl_load_string(s, err, sizeof(err));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (psl_org_domain(p, names[i], out, sizeof(out)) == 0 &&
		    strlen(out) > strlen(names[i]))
			abort();
	s[strcspn(s, "\n")] = '\0';
	(void)psl_org_domain(p, s, out, sizeof(out));
	psl_unref(&p);
	free(s);
	return 0;
}
