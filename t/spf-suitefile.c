/*
 * spf-suitefile.c - the flat SPF suite format (see spf-suitefile.h).
 */
#include "config.h"

#include <string.h>

#include "dns.h"
#include "spf-suitefile.h"
#include "util.h"

/* suite_unescape - undo spf-suite.py's field escaping in place; returns the
 * length (a field may hold NUL bytes) */
size_t
suite_unescape(char *s)
{
	char *o = s, *start = s;

	for (; *s; s++) {
		if (*s == '\\' && s[1] != '\0') {
			s++;
			*o++ = *s == 't' ? '\t' : *s == 'n' ? '\n' :
			    *s == 'r' ? '\r' : *s == '0' ? '\0' : *s;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return (size_t)(o - start);
}

size_t
suite_split(char *line, char **f, size_t *flen)
{
	size_t n = 0;
	char *p = line;

	line[strcspn(line, "\n")] = '\0';
	while (n < SUITE_MAX_FIELDS) {
		char *tab = strchr(p, '\t');

		f[n++] = p;
		if (tab == NULL)
			break;
		*tab = '\0';
		p = tab + 1;
	}
	for (size_t i = 0; i < n; i++)
		flen[i] = suite_unescape(f[i]);
	return n;
}

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

