/*
 * mailaddr.h - the author domain from a From header (RFC 5322 3.4, 3.6.2).
 *
 * A strict parser of address lists: display names, comments (nested),
 * quoted local parts, angle addresses, groups, obsolete routes, folding.
 * It never reads past the value and never writes past out.
 */
#ifndef AM_MAILADDR_H
#define AM_MAILADDR_H

#include <stddef.h>

#include "dname.h"

enum mailaddr_status {
	MAILADDR_OK = 0,     /* exactly one address: its domain is in out */
	MAILADDR_NONE,       /* no address (empty, or an empty group) */
	MAILADDR_MULTIPLE,   /* more than one address */
	MAILADDR_SYNTAX,     /* not an RFC 5322 address list */
	MAILADDR_NO_DOMAIN,  /* an address without a domain */
	MAILADDR_TOO_MANY,   /* more author domains than MAILADDR_MAX_AUTHORS */
};

#define MAILADDR_MAX_AUTHORS 8  /* distinct author domains evaluated */

/* the author domains of one From field, distinct, in order of appearance */
struct mailaddr_authors {
	size_t n;
	unsigned naddr;                /* addresses, repeats included */
	char domain[MAILADDR_MAX_AUTHORS][DNAME_BUFSIZE];
};

/* mailaddr_from_domain - parse a From value; on MAILADDR_OK the domain,
 * lowercased, without a trailing dot, is in out. Domain literals
 * ("[192.0.2.1]") are MAILADDR_NO_DOMAIN for DMARC's purpose. */
enum mailaddr_status mailaddr_from_domain(const char *value, char *out,
    size_t outlen);
/* mailaddr_from_domains - parse a From value with one or more mailboxes
 * (RFC 7489 6.6.1: each author domain is evaluated); on MAILADDR_OK
 * out->n >= 1 distinct lowercased domains. MAILADDR_NO_DOMAIN when any
 * address lacks a usable domain, MAILADDR_TOO_MANY past
 * MAILADDR_MAX_AUTHORS distinct domains (a bound on the DNS work one
 * header can cause). Never MAILADDR_MULTIPLE. */
enum mailaddr_status mailaddr_from_domains(const char *value,
    struct mailaddr_authors *out);
/* mailaddr_status_text - "no address", "several addresses", ... */
const char *mailaddr_status_text(enum mailaddr_status s);

#endif
