/*
 * spf-suitefile.c - the flat SPF suite format (see spf-suitefile.h).
 */
#include "config.h"

#include <string.h>

#include "dns.h"
#include "spf-suitefile.h"
#include "suite-file.h"
#include "util.h"

int
suite_type_of(const char *s)
{
	static const struct {
		const char *name;
		int type;
	} types[] = {
		{ "A", DNS_T_A }, { "AAAA", DNS_T_AAAA }, { "PTR", DNS_T_PTR },
		{ "CNAME", DNS_T_CNAME }, { "MX", DNS_T_MX },
		{ "TXT", DNS_T_TXT }, { "SPF", DNS_T_SPF },
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(types[i].name, s) == 0)
			return types[i].type;
	return 0;
}

/* suite_in_list - name is one of the comma-separated list */
int
suite_in_list(const char *list, const char *name)
{
	const char *p = list;
	size_t nl = strlen(name);

	while (*p) {
		size_t l = strcspn(p, ",");

		if (l == nl && strncmp(p, name, l) == 0)
			return 1;
		p += l;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* suite_add_txt - one TXT (or type SPF) RR from n strings that may hold
 * NUL bytes */
void
suite_add_txt(struct dns_resolver *dns, const char *name, int type, char **s,
    const size_t *len, size_t n)
{
	struct dynbuf b;

	dynbuf_init(&b, 65535);
	dynbuf_puts(&b, "");
	for (size_t i = 0; i < n; i++) {
		size_t l = len[i] > 255 ? 255 : len[i];
		char lb = (char)l;

		dynbuf_append(&b, &lb, 1);
		dynbuf_append(&b, s[i], l);
	}
	dns_table_add(dns, name, type, b.s, b.len);
	dynbuf_free(&b);
}

