/*
 * dns_impl.h - what a resolver back end provides (private to lib/dns*.c).
 */
#ifndef AM_DNS_IMPL_H
#define AM_DNS_IMPL_H

#include <time.h>

#include "dns.h"

struct dns_ops {
	/* start: name is dname_valid() (dns_query_start checked it) */
	struct dns_query *(*start)(struct dns_resolver *r, const char *name, int type);
	/* wait: timeout_ms is never 0 here (the default is filled in) */
	struct dns_answer *(*wait)(struct dns_query *q, unsigned timeout_ms);
	void (*cancel)(struct dns_query *q);
	void (*destroy)(struct dns_resolver *r);
};

/* every back end's resolver struct begins with this */
struct dns_resolver {
	const struct dns_ops *ops;
	unsigned default_timeout_ms; /* 0: DNS_TIMEOUT_DEFAULT_MS */
};

/* every back end's query struct begins with this; wait() and cancel()
 * free the query */
struct dns_query {
	struct dns_resolver *r;
	int type;                /* dns_query_start(): for the counters */
	struct timespec started; /* CLOCK_MONOTONIC, dns_query_start() */
};

/* dns_backend_wait - dns_query_wait for a resolver layered on another
 * (the cache asking its back end): the same, but the answer is not
 * counted (the outer dns_query_wait counts it once) */
struct dns_answer *dns_backend_wait(struct dns_query **qp,
    unsigned timeout_ms);
/* dns_stats_register - register dns.c's answer counters (every back end's
 * constructor calls it; idempotent) */
void dns_stats_register(void);

/* dns_answer_new - an empty answer with the given status and fail
 * DNS_FAIL_NONE (helpers for back ends); dns_answer_set_rrs copies count
 * rdata blobs into it */
struct dns_answer *dns_answer_new(enum dns_status status, int rcode,
    const char *why);
/* dns_answer_fail - an empty answer for a failure of that kind (not
 * DNS_FAIL_NONE): NXDOMAIN for DNS_FAIL_BADNAME, TEMPFAIL otherwise; bogus
 * set for DNS_FAIL_BOGUS. rcode is the one received, or the one the
 * failure stands for (2, SERVFAIL, when nothing was received) */
struct dns_answer *dns_answer_fail(enum dns_fail fail, int rcode,
    const char *why);
void dns_answer_set_rrs(struct dns_answer *a, const struct dns_rr *rrs,
    size_t count);

#endif
