/*
 * fuzz-rua.c - report_rua_parse() (lib/report/rua.c) on arbitrary rua=
 * values. Every destination kept is an address report_message() accepts,
 * with its domain lowercase and pointing just past the address's last
 * '@'; no two are the same; kept and skipped together never exceed the
 * number of comma-separated items.
 */
#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_rua
#endif
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "report_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct report_rua_list l;
	size_t items = 1;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (const char *p = s; *p; p++)
		items += *p == ',';
	if (report_rua_parse(s, &l) != l.n || l.n > REPORT_RUA_MAX ||
	    l.n + l.skipped > items)
		abort();
	for (size_t i = 0; i < l.n; i++) {
		const struct report_rua *u = &l.uri[i];

		if (memchr(u->addr, '\0', sizeof(u->addr)) == NULL ||
		    !report_addr_ok(u->addr) ||
		    u->domain != strrchr(u->addr, '@') + 1)
			abort();
		for (const char *p = u->domain; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(u->addr, l.uri[j].addr) == 0)
				abort();
		if (!report_rua_fits(u, 0))
			abort();
	}
	free(s);
	return 0;
}
