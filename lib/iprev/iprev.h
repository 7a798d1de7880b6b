/*
 * iprev.h - the "iprev" method of RFC 8601 2.7.3: forward-confirmed
 * reverse DNS of the client address.
 *
 * The client address's PTR names are looked up (the reverse lookup), at
 * most IPREV_MAX_NAMES of them are looked at, and each one's A (IPv4
 * client) or AAAA (IPv6 client) records (the forward lookups, all started
 * at once). The result is pass when one of those addresses is the client
 * address. The PTR lookup can be started as soon as the address is known
 * (iprev_start, at the connection) and waited for later, within a
 * message's DNS budget (iprev_finish); a final outcome is kept for the
 * connection's next messages. SPF's ptr mechanism and %{p} need the same
 * lookups (RFC 7208 5.5's validated names): iprev_validated gives them
 * from the lookup, so each query is made once for both.
 *
 * Reading of RFC 8601 2.7.3 (and RFC 8601 3):
 *   pass       a forward lookup of a PTR name gave the client address
 *   fail       the PTR names' forward lookups completed and none gave it
 *              (NXDOMAIN or NODATA for a name counts as completed)
 *   temperror  the PTR lookup failed temporarily (SERVFAIL, timeout, the
 *              budget spent), or no name confirmed and some forward lookup
 *              failed temporarily (a later try might pass)
 *   permerror  no PTR data: the PTR lookup answered NXDOMAIN or NODATA (or
 *              gave no usable name)
 */
#ifndef AM_IPREV_H
#define AM_IPREV_H

#include <time.h>

#include "dname.h"
#include "dns.h"

struct dns_resolver;

#define IPREV_MAX_NAMES 10 /* PTR names looked at (RFC 7208 4.6.4's limit) */

enum iprev_result {
	IPREV_PASS = 0,
	IPREV_FAIL,
	IPREV_TEMPERROR,
	IPREV_PERMERROR,
};

struct iprev_outcome {
	enum iprev_result result;
	char ip[64];              /* the client address, unmapped (policy.iprev) */
	char name[DNAME_BUFSIZE]; /* pass: the name that confirmed it; "" */
	unsigned nnames;          /* PTR names in the answer */
	unsigned nlooked;         /* of them, looked at (<= IPREV_MAX_NAMES) */
	char reason[DNAME_BUFSIZE + 192]; /* for people: the name, or why not */
};

struct iprev_lookup;

/* iprev_start - start the PTR lookup of ip (IPv4, IPv6 or IPv4-mapped
 * IPv6) on r without waiting; NULL when ip is not an address */
struct iprev_lookup *iprev_start(struct dns_resolver *r, const char *ip);
/* iprev_finish - the outcome: waits for the PTR answer and does the
 * forward lookups, bounded by deadline (CLOCK_MONOTONIC; NULL: the
 * resolver's timeout alone). A pass, fail or permerror is kept and given
 * again by the next call without DNS; after a temperror the next call
 * asks again. */
void iprev_finish(struct iprev_lookup *l, const struct timespec *deadline,
    struct iprev_outcome *o);
/* iprev_validated - RFC 7208 5.5's validated names of the client, for
 * SPF's ptr mechanism and %{p}: the names among the first
 * IPREV_MAX_NAMES PTR records whose A or AAAA lookup gave the client
 * address, in the PTR answer's order, at most max of them into names
 * (pointers valid while l lives); *status the PTR answer's status (no
 * names unless DNS_STATUS_OK). The same lookups iprev_finish makes, done
 * once for both: every forward lookup is waited for here (iprev_finish
 * alone stops at the first that confirms); a name whose lookup failed
 * for now is not validated. Bounded by deadline like iprev_finish. */
size_t iprev_validated(struct iprev_lookup *l, const struct timespec *deadline,
    enum dns_status *status, const char **names, size_t max);
/* iprev_free - cancel what is still running, free, set *lp to NULL */
void iprev_free(struct iprev_lookup **lp);
/* iprev_check_until - iprev_start, iprev_finish and iprev_free in one; 0,
 * or -1 (o untouched) when ip is not an address */
int iprev_check_until(struct dns_resolver *r, const char *ip,
    const struct timespec *deadline, struct iprev_outcome *o);
/* iprev_result_name - "pass", "fail", "temperror", "permerror" */
const char *iprev_result_name(enum iprev_result res);

#endif
