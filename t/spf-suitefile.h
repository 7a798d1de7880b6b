/*
 * spf-suitefile.h - reading the flat SPF suite files that t/spf-suite.py
 * writes (split and unescaped by suite-file.h). Shared by
 * t/spf-suite.c (our checker) and t/spf-libspf2.c (the libspf2 reference).
 */
#ifndef AM_SPF_SUITEFILE_H
#define AM_SPF_SUITEFILE_H

#include <stddef.h>

#include "suite-file.h"

struct dns_resolver;

/* suite_type_of - "TXT" and the like to DNS_T_*, 0 if unknown */
int suite_type_of(const char *s);
/* suite_in_list - name is one of the comma-separated list */
int suite_in_list(const char *list, const char *name);
/* suite_add_txt - one TXT (or SPF) RR of n character-strings */
void suite_add_txt(struct dns_resolver *dns, const char *name, int type,
    char **s, const size_t *len, size_t n);

#endif
