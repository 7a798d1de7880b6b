/*
 * spf-suitefile.h - reading the flat SPF suite files that t/spf-suite.py
 * writes: tab-separated fields with \t \n \r \0 \\ escaped. Shared by
 * t/spf-suite.c (our checker) and t/spf-libspf2.c (the libspf2 reference).
 */
#ifndef AM_SPF_SUITEFILE_H
#define AM_SPF_SUITEFILE_H

#include <stddef.h>

struct dns_resolver;

#define SUITE_MAX_FIELDS 64

/* suite_split - split a line into at most SUITE_MAX_FIELDS unescaped
 * fields (in place); flen gets each field's length (fields may hold NUL) */
size_t suite_split(char *line, char **f, size_t *flen);
/* suite_unescape - undo the escaping in place; returns the length */
size_t suite_unescape(char *s);
/* suite_type_of - "TXT" and the like to DNS_T_*, 0 if unknown */
int suite_type_of(const char *s);
/* suite_in_list - name is one of the comma-separated list */
int suite_in_list(const char *list, const char *name);
/* suite_add_txt - one TXT (or SPF) RR of n character-strings */
void suite_add_txt(struct dns_resolver *dns, const char *name, int type,
    char **s, const size_t *len, size_t n);

#endif
