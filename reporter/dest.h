/*
 * dest.h - where a policy domain's aggregate reports go, as the DNS says
 * today: the rua= of its DMARC record, and whether a destination outside
 * its organizational domain agreed to receive them (RFC 9990 3.5.1,
 * formerly RFC 7489 7.1).
 *
 * Each function answers DEST_OK, DEST_NONE (a permanent no: why says
 * what was found) or DEST_TEMP (a DNS failure that may pass: why says
 * which; the caller tries the report again on a later run).
 */
#ifndef AM_DEST_H
#define AM_DEST_H

#include <stddef.h>

#include "dmarc.h"
#include "report.h"

struct dns_resolver;

/* the lookups' tools, borrowed */
struct dest_dns {
	struct dns_resolver *dns;
	struct dmarc_checker *dmarc;	/* organizational domains */
	enum dmarc_discovery discovery; /* how a record is parsed */
};

enum dest_status { DEST_OK = 0, DEST_NONE, DEST_TEMP };

/* dest_rua - the mailto: destinations of rua= in the DMARC record at
 * _dmarc.<domain> (the policy domain: where the daemon found the record)
 * into *out. DEST_NONE when there is no record, more than one (RFC 9989
 * 4.10.1: none applies), or no usable mailto: in its rua=. */
enum dest_status dest_rua(const struct dest_dns *d, const char *domain,
			  struct report_rua_list *out, char *why,
			  size_t whylen);

/* dest_org - the organizational domain of domain (the checker's
 * discovery) into org */
enum dest_status dest_org(const struct dest_dns *d, const char *domain,
			  char *org, size_t orglen, char *why, size_t whylen);

/* dest_authorized - whether reports about domain (whose organizational
 * domain is org) may go to an address at rua_domain: DEST_OK when
 * rua_domain is org or below it, or when
 * <domain>._report._dmarc.<rua_domain> has a TXT record that begins with
 * "v=DMARC1"; DEST_NONE otherwise */
enum dest_status dest_authorized(const struct dest_dns *d, const char *domain,
				 const char *org, const char *rua_domain,
				 char *why, size_t whylen);

/* dest_is_dmarc1 - whether a TXT record begins with the tag v=DMARC1
 * (RFC 7489 6.4: "v" "=" "DMARC1", spaces allowed around '=', then the
 * end, a space or ';') */
int dest_is_dmarc1(const char *txt);

#endif
