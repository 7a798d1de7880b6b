/*
 * suite-file.c - the flat suite files and the known-differences lists
 * (see suite-file.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suite-file.h"
#include "util.h"

/* suite_unescape - undo a *-suite.py script's field escaping in place;
 * returns the length (a field may hold NUL bytes) */
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
suite_known_load(struct suite_known *k, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[4096];

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL && k->n < SUITE_KNOWN_MAX) {
		size_t len = strcspn(line, " \t\r\n");

		if (line[0] == '#' || len == 0)
			continue;
		k->seen[k->n] = 0;
		k->name[k->n++] = xstrndup(line, len);
	}
	fclose(f);
	return 0;
}

int
suite_known_mark(struct suite_known *k, const char *name)
{
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->name[i], name) == 0) {
			k->seen[i] = 1;
			return 1;
		}
	return 0;
}

void
suite_known_free(struct suite_known *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->name[i]);
	k->n = 0;
}
