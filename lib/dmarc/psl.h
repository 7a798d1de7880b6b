/*
 * psl.h - the Public Suffix List and organizational domains (RFC 7489
 * section 3.2), implemented here: libopendmarc's PSL handling is wrong
 * (wildcards, exceptions, names under unlisted TLDs).
 *
 * A loaded list is immutable and refcounted so a SIGHUP can swap in a new
 * one while messages use the old.
 */
#ifndef AM_PSL_H
#define AM_PSL_H

#include <stddef.h>

struct psl;

/* psl_load - read a public_suffix_list.dat (ICANN and private sections,
 * wildcards "*.", exceptions "!"); NULL with err filled */
struct psl *psl_load(const char *path, char *err, size_t errlen);
/* psl_load_string - the same from text (tests) */
struct psl *psl_load_string(const char *text, char *err, size_t errlen);
struct psl *psl_ref(struct psl *p);
void psl_unref(struct psl **pp);
/* psl_org_domain - the organizational domain of domain (lowercase, no
 * trailing dot) into out: the public suffix plus one label, using the
 * rule "*" when nothing matches (so x.y.test gives y.test). -1 when the
 * domain is itself a public suffix or is not a domain name. p NULL: the
 * rule "*" alone. */
int psl_org_domain(const struct psl *p, const char *domain, char *out,
    size_t outlen);

#endif
