/*
 * spf.h - RFC 7208 check_host(), evaluated here over the injected resolver.
 *
 * One struct spf_checker per process; spf_check() is safe from any thread
 * and keeps all its state in a per-call context. Every DNS lookup goes
 * through struct dns_resolver. Debian's libspf2 1.2.10 is not in the
 * evaluation path: it departs from RFC 7208 in ways that cannot be
 * corrected from outside (limits per record and off by one, no void
 * limit, DNS errors on the record as INVALID, 127/8 always passing,
 * IPv4-mapped clients, exp= text) and its macro expander can be crashed by
 * a DNS answer. t/spf-libspf2.c keeps it as a reference and shows each of
 * those defects next to our answer.
 */
#ifndef AM_SPF_H
#define AM_SPF_H

#include <stddef.h>
#include <time.h>

#include "dname.h"
#include "dns.h"

#define SPF_MAX_PTR_NAMES 10 /* RFC 7208 4.6.4: PTR names per ptr term */

struct dns_resolver;

enum spf_result {
	SPF_RESULT_NONE = 0,
	SPF_RESULT_NEUTRAL,
	SPF_RESULT_PASS,
	SPF_RESULT_FAIL,
	SPF_RESULT_SOFTFAIL,
	SPF_RESULT_TEMPERROR,
	SPF_RESULT_PERMERROR,
};

struct spf_outcome {
	enum spf_result result;
	char domain[DNAME_BUFSIZE]; /* the domain check_host() started from */
	char reason[256];       /* short plain-language why, for logs and A-R comments */
	char explanation[512];  /* exp= text for fail, or "" */
	unsigned dns_lookups;   /* terms that caused DNS lookups */
	unsigned void_lookups;  /* lookups that found nothing */
};

struct spf_checker;

/* spf_checker_new - receiving_host names us in %{r}; NULL with err filled
 * on failure. The resolver must outlive the checker. */
struct spf_checker *spf_checker_new(struct dns_resolver *dns,
    const char *receiving_host, char *err, size_t errlen);
void spf_checker_free(struct spf_checker **cp);

/* spf_check - check_host(ip, domain, sender) for one identity.
 * ip: the client address as text (IPv4, IPv6, IPv4-mapped IPv6).
 * sender: "local@domain" for MAIL FROM, or NULL/"" for the HELO identity
 * (postmaster@helo is used). helo: the HELO/EHLO name (for %{h}).
 * Always fills *out; returns out->result. */
enum spf_result spf_check(struct spf_checker *c, const char *ip,
    const char *sender, const char *helo, struct spf_outcome *out);

/* spf_check_until - the same, with lookups bounded by a deadline on
 * CLOCK_MONOTONIC (the message's DNS budget); past it they are temperror */
enum spf_result spf_check_until(struct spf_checker *c, const char *ip,
    const char *sender, const char *helo, const struct timespec *deadline,
    struct spf_outcome *out);

/* The client's validated names (RFC 7208 5.5) for the ptr mechanism and
 * %{p}, when someone looks them up anyway (iprev, from the connection
 * on): names() fills at most max validated names in the PTR answer's
 * order (the first SPF_MAX_PTR_NAMES PTR records looked at, a name whose
 * address lookup failed not validated) and *status with the PTR answer's
 * status, bounded by deadline; returns their number. */
struct spf_ptr_source {
	size_t (*names)(void *arg, const struct timespec *deadline,
	    enum dns_status *status, const char **names, size_t max);
	void *arg;
};

/* spf_check_ptr_until - spf_check_until with the validated names from
 * ptr (NULL: looked up by the check itself) */
enum spf_result spf_check_ptr_until(struct spf_checker *c, const char *ip,
    const char *sender, const char *helo, const struct timespec *deadline,
    const struct spf_ptr_source *ptr, struct spf_outcome *out);

/* spf_result_name - "pass", "fail", ... (RFC 7208 section 2.6 names) */
const char *spf_result_name(enum spf_result r);

#endif
