/*
 * dns.h - the one resolver interface every method uses.
 *
 * A struct dns_resolver is injected: dns_unbound_new() backs it with
 * libunbound (async with one dispatcher thread, per-query timeout, DNSSEC
 * bits), dns_cache_new() puts an answer cache in front of another resolver
 * (the daemon's: a cache over libunbound), dns_table_new() answers from a
 * static table in unit tests and conformance suites. Every function here
 * is safe to call from any thread.
 *
 * A query never returns NULL: it returns an answer whose status keeps
 * permanent outcomes (NXDOMAIN, NODATA) apart from temporary ones
 * (TEMPFAIL), like Postfix's DNS_FAIL vs DNS_RETRY, and whose fail says
 * what went wrong (SERVFAIL, timeout, DNSSEC bogus, ...) the same way for
 * every back end. Names are checked once, by dns_query_start(), for every
 * back end (dname_valid()). Answers and failures are counted in the stats
 * registry (dns_queries_total, dns_failures_*_total).
 */
#ifndef AM_DNS_H
#define AM_DNS_H

#include <stddef.h>
#include <time.h>

/* RR types we ask for */
enum {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_CNAME = 5,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_SPF = 99,
};

enum dns_status {
	DNS_STATUS_OK = 0,   /* at least one RR of the asked type */
	DNS_STATUS_NXDOMAIN, /* permanent: the name does not exist */
	DNS_STATUS_NODATA,   /* permanent: the name exists, no RR of the type */
	DNS_STATUS_TEMPFAIL, /* temporary: fail says why */
};

/* what made an answer what it is, beyond its status: every back end fills
 * it in every answer, and code tests it, never the why text (which is for
 * people) */
enum dns_fail {
	DNS_FAIL_NONE = 0,  /* an answer as the server gave it */
	DNS_FAIL_SERVFAIL,  /* TEMPFAIL: the server answered SERVFAIL */
	DNS_FAIL_REFUSED,   /* TEMPFAIL: REFUSED or another error rcode */
	DNS_FAIL_TIMEOUT,   /* TEMPFAIL: no answer within the timeout */
	DNS_FAIL_BUDGET,    /* TEMPFAIL: the message's DNS time budget was spent */
	DNS_FAIL_BOGUS,     /* TEMPFAIL: DNSSEC validation failed */
	DNS_FAIL_MALFORMED, /* TEMPFAIL: an answer that could not be parsed */
	DNS_FAIL_RESOLVER,  /* TEMPFAIL: the resolver failed or is shutting down */
	DNS_FAIL_BADNAME,   /* NXDOMAIN: not a domain name, never asked */
};

struct dns_rr {
	const unsigned char *data; /* rdata, names uncompressed */
	size_t len;
};

struct dns_answer {
	enum dns_status status;
	enum dns_fail fail;
	int rcode;          /* DNS rcode as received (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN) */
	int secure;         /* DNSSEC validated */
	int bogus;          /* DNSSEC validation failed (status is TEMPFAIL) */
	unsigned ttl;       /* seconds the answer may be reused; 0: not at all */
	size_t count;       /* number of RRs in rr[] */
	struct dns_rr *rr;
	unsigned char *packet; /* whole answer in wire format, or NULL */
	size_t packet_len;
	char why[128];      /* for people, with a fail: "timeout", "SERVFAIL", "DNSSEC bogus: ..." */
};

struct dns_resolver;
struct dns_query;

/* dns_query - resolve name/type, waiting at most timeout_ms (0: the
 * resolver's default). Never NULL; free with dns_answer_free(). */
struct dns_answer *dns_query(struct dns_resolver *r, const char *name,
    int type, unsigned timeout_ms);
/* dns_query_start - start a lookup without waiting; NULL only when the
 * resolver is shutting down (treat as TEMPFAIL). A name that is not
 * dname_valid() (or NULL) reaches no back end and no cache: it is answered
 * NXDOMAIN, fail DNS_FAIL_BADNAME, why "not a domain name". */
struct dns_query *dns_query_start(struct dns_resolver *r, const char *name,
    int type);
/* dns_query_wait - wait for a started lookup, at most timeout_ms (0: the
 * resolver's default). Consumes *qp (set to NULL); a timeout cancels the
 * lookup and answers TEMPFAIL DNS_FAIL_TIMEOUT; a NULL query (the resolver
 * was shutting down) answers TEMPFAIL DNS_FAIL_RESOLVER. Never NULL. */
struct dns_answer *dns_query_wait(struct dns_query **qp, unsigned timeout_ms);
/* dns_query_cancel - abandon a started lookup; *qp is set to NULL */
void dns_query_cancel(struct dns_query **qp);

/* dns_query_until, dns_query_wait_until - the same, bounded by a deadline on
 * CLOCK_MONOTONIC (a message's DNS budget) as well as by the resolver's
 * default timeout; NULL: the default alone. Past the deadline they answer
 * TEMPFAIL DNS_FAIL_BUDGET ("DNS time budget spent") without waiting. */
struct dns_answer *dns_query_until(struct dns_resolver *r, const char *name,
    int type, const struct timespec *deadline);
struct dns_answer *dns_query_wait_until(struct dns_query **qp,
    const struct timespec *deadline);
void dns_answer_free(struct dns_answer **ap);
void dns_resolver_free(struct dns_resolver **rp);

/* dns_status_name - "ok", "nxdomain", "nodata", "tempfail" */
const char *dns_status_name(enum dns_status s);
/* dns_fail_name - "none", "servfail", "refused", "timeout", "budget",
 * "bogus", "malformed", "resolver", "badname" */
const char *dns_fail_name(enum dns_fail f);

/* rdata decoding. Each returns 0, or -1 when the rdata is malformed or the
 * output does not fit (a defined result, never a crash). */
/* dns_rr_txt - join a TXT RR's character-strings into out (NUL-terminated) */
int dns_rr_txt(const struct dns_rr *rr, char *out, size_t outlen);
/* dns_rr_name - the domain name in rdata at offset off (PTR, CNAME, NS, MX+2)
 * as dotted text without the trailing dot ("" for the root) */
int dns_rr_name(const struct dns_rr *rr, size_t off, char *out, size_t outlen);
/* dns_name_to_wire - the inverse: a dotted name ("." or "" the root) in
 * uncompressed wire format into out, its length in *lenp; -1 when it is
 * not dname_valid() (empty label, label over 63, over 255 octets in wire
 * format) or out is short */
int dns_name_to_wire(const char *name, unsigned char *out, size_t outlen,
    size_t *lenp);
/* dns_rr_mx - preference and exchange of an MX RR */
int dns_rr_mx(const struct dns_rr *rr, unsigned *pref, char *out, size_t outlen);

/* ---- libunbound back end ------------------------------------------------ */
struct dns_unbound_opts {
	const char *const *forwarders; /* "127.0.0.1@5353", "::1"; NULL: resolv.conf */
	size_t nforwarders;
	const char *resolv_conf;       /* NULL: /etc/resolv.conf (when no forwarders) */
	unsigned timeout_ms;           /* default per-query timeout; 0: DNS_TIMEOUT_DEFAULT_MS */
	const char *const *transparent_zones; /* let queries reach these built-in local zones */
	size_t ntransparent;
	const char *trust_anchor_file; /* DNSSEC validation when set */
	size_t cache_bytes;            /* message cache size; 0: 4 MB */
};
/* dns_unbound_new - start the shared resolver and its dispatcher thread;
 * NULL with err filled on failure */
struct dns_resolver *dns_unbound_new(const struct dns_unbound_opts *opts,
    char *err, size_t errlen);

/* ---- answer cache --------------------------------------------------------- */
struct dns_cache_opts {
	size_t max_entries; /* 0: 10,000 answers */
	size_t max_bytes;   /* 0: 8 MB */
	unsigned max_ttl;   /* seconds; 0: one day */
};
struct dns_cache_stats {
	unsigned long hits, misses, expired, evictions;
	size_t entries, bytes;
};
/* dns_cache_new - a resolver that answers repeated questions from memory in
 * the calling thread and asks backend (which it then owns) otherwise; only
 * final answers with a TTL are kept (see dns_cache.c) */
struct dns_resolver *dns_cache_new(struct dns_resolver *backend,
    const struct dns_cache_opts *o);
/* dns_cache_set_clock - tests: a clock in seconds instead of CLOCK_MONOTONIC
 * (NULL: back to it) */
void dns_cache_set_clock(struct dns_resolver *r, time_t (*clock)(void *),
    void *arg);
/* dns_cache_get_stats - counters and size of a dns_cache_new() resolver */
void dns_cache_get_stats(struct dns_resolver *r, struct dns_cache_stats *s);

/* ---- table back end (tests, conformance suites) ---------------------------- */
/* Every dns_table_* function ignores a name that is not dname_valid(): no
 * query can ask for it. */
struct dns_resolver *dns_table_new(void);
/* dns_table_add - add one RR with raw rdata */
void dns_table_add(struct dns_resolver *r, const char *name, int type,
    const void *rdata, size_t len);
/* dns_table_add_text - add one RR from presentation text: A "192.0.2.1",
 * AAAA "2001:db8::1", TXT "v=spf1 -all" (one string; split into 255-byte
 * character-strings), MX "10 mx.example.org", PTR/CNAME/NS "host.example". 0, or -1 when
 * name or text is not one */
int dns_table_add_text(struct dns_resolver *r, const char *name, int type,
    const char *text);
/* dns_table_add_txt_strings - one TXT RR made of n character-strings */
void dns_table_add_txt_strings(struct dns_resolver *r, const char *name,
    const char *const *strings, size_t n);
/* dns_table_set_status - make name/type (type 0: every type) answer with
 * this status and no data: TEMPFAIL simulates a timeout (fail
 * DNS_FAIL_TIMEOUT, why "timeout"), OK answers NODATA */
void dns_table_set_status(struct dns_resolver *r, const char *name, int type,
    enum dns_status status);
/* dns_table_set_fail - make name/type (type 0: every type) fail that way,
 * with no data: TEMPFAIL with the fail, rcode and why the other back ends
 * give (DNS_FAIL_BOGUS sets bogus); DNS_FAIL_NONE is ignored */
void dns_table_set_fail(struct dns_resolver *r, const char *name, int type,
    enum dns_fail fail);
/* dns_table_queries - how many queries were answered so far */
unsigned long dns_table_queries(struct dns_resolver *r);

#endif
