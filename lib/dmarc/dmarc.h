/*
 * dmarc.h - DMARC: record, discovery, alignment, policy, by RFC 9989 (the
 * DNS tree walk, psd=, t=; the default) or by RFC 7489 with the Public
 * Suffix List (pct sampling; the old way, kept as it was).
 *
 * Decided here, not by libopendmarc 1.4.2 (strict alignment broken with
 * the PSL loaded, short labels mishandled, pct ignored, sp misapplied,
 * PSL rules wrong, its own lookups through libresolv). Record lookups go
 * through our resolver.
 */
#ifndef AM_DMARC_H
#define AM_DMARC_H

#include <stddef.h>
#include <time.h>

#include "dname.h"

struct dns_resolver;
struct psl;

enum dmarc_policy {
	DMARC_POLICY_UNSET = 0,
	DMARC_POLICY_NONE,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
};

/* how policy records and organizational domains are found */
enum dmarc_discovery {
	DMARC_DISCOVERY_TREEWALK = 0, /* RFC 9989 4.10: the DNS tree walk */
	DMARC_DISCOVERY_PSL,          /* RFC 7489 3.2, 6.6.3: the PSL */
};

/* psd= (RFC 9989 4.7): u is the default */
enum dmarc_psd { DMARC_PSD_U = 0, DMARC_PSD_Y, DMARC_PSD_N };

struct dmarc_record {
	enum dmarc_policy p, sp, np;  /* sp, np UNSET when absent */
	unsigned pct;                 /* 0..100, default 100 */
	enum dmarc_psd psd;           /* default u */
	int has_t;                    /* a valid t= (y or n) was given */
	int testing;                  /* t=y; RFC 9989 parsing: or pct=0
					 * without t= (the legacy transition) */
	int adkim_strict, aspf_strict;
	char rua[512], ruf[512];      /* as written (parsed, not used yet) */
	char fo[16];
	unsigned ri;                  /* default 86400 */
};

/* dmarc_record_parse - RFC 7489 6.3 record text into r. 0, or -1 with
 * err when it is not a valid DMARC record (no v=DMARC1 first, bad p=,
 * ...): such a record is treated as absent (6.6.3). Unknown tags are
 * ignored; psd= and t= are read into r (PSL discovery does not use them). */
int dmarc_record_parse(const char *txt, struct dmarc_record *r, char *err,
    size_t errlen);
/* dmarc_record_parse_as - the record by the rules of a discovery: PSL is
 * dmarc_record_parse(); TREEWALK is RFC 9989 4.7, 4.10.1: a missing p= is
 * p=none, an invalid p=, sp= or np= reads as "p=none" when rua= holds at
 * least one valid URI (any scheme) and is -1 otherwise, pct=0 without t=
 * is testing (t=y). On -1 r still holds what was read (psd= for the walk). */
int dmarc_record_parse_as(const char *txt, enum dmarc_discovery d,
    struct dmarc_record *r, char *err, size_t errlen);

/* dmarc_uri_valid - whether the n bytes at u are one dmarc-uri (RFC 7489
 * 6.4, RFC 9989): a URI with a scheme, then optionally "!" and a size
 * (digits, then k, m, g or t); *mailto is set when it is a mailto: URI
 * with an address. The rua= and ruf= readers use the same rule. */
int dmarc_uri_valid(const char *u, size_t n, int *mailto);

enum dmarc_res {
	DMARC_RES_NONE = 0,   /* no policy record */
	DMARC_RES_PASS,
	DMARC_RES_FAIL,
	DMARC_RES_TEMPERROR,
	DMARC_RES_PERMERROR,  /* no usable author domain */
};

/* one authenticated identifier handed in by the other methods */
struct dmarc_dkim {
	const char *domain;   /* d= */
	int pass;             /* the signature verified (dkim=pass) */
	int temperror;        /* its key lookup failed temporarily */
};

struct dmarc_input {
	const char *from_domain;      /* RFC5322.From domain */
	const char *spf_domain;       /* MAIL FROM domain; NULL for the null sender */
	int spf_pass;                 /* SPF result for MAIL FROM was pass */
	int spf_temperror;            /* SPF for MAIL FROM was temperror */
	const struct dmarc_dkim *dkim;
	size_t ndkim;
};

struct dmarc_outcome {
	enum dmarc_res result;
	enum dmarc_discovery discovery; /* how the record was found */
	enum dmarc_policy policy;       /* the policy that applies (p, sp or np) */
	enum dmarc_policy disposition;  /* what to do after pct sampling or t=y */
	int sampled_out;                /* PSL: pct said not to apply the policy */
	int testing;                    /* TREEWALK: the applied record is in
					 * test mode (t=y, legacy pct=0) and its
					 * policy is not none: on fail the
					 * disposition is one lower; set on pass
					 * too (the header shows t=y) */
	int record_from_org;            /* the record came from the org domain
					 * (not the author domain's own) */
	int record_from_psd;            /* TREEWALK: the record is the public
					 * suffix domain's (psd=y) */
	unsigned walk_queries;          /* _dmarc TXT lookups made (the
					 * evaluation's memo hits excluded) */
	int spf_aligned, dkim_aligned;  /* an aligned identifier that passed */
	int temp_aligned;               /* on fail: an aligned identifier had a
					 * temporary error, so the failure may
					 * not be final */
	char policy_domain[DNAME_BUFSIZE]; /* where the record was found */
	char org_domain[DNAME_BUFSIZE];    /* the author domain's org domain,
					    * when the evaluation determined it
					    * (PSL: always; TREEWALK: when a walk
					    * or the author's psd= told), or "" */
	char dkim_domain[DNAME_BUFSIZE];   /* the aligned passing d=, or "" */
	char reason[160];               /* plain words for logs and comments */
	struct dmarc_record record;
};

struct dmarc_checker;

/* dmarc_checker_new - psl: borrowed reference (the checker takes its own),
 * or NULL. The discovery is PSL when a list is given, TREEWALK otherwise. */
struct dmarc_checker *dmarc_checker_new(struct dns_resolver *dns,
    struct psl *psl, char *err, size_t errlen);
/* dmarc_checker_set_discovery - PSL without a list: the list's implicit
 * rule "*" alone (every name's org domain is its last two labels, as
 * dmarc_aligned(NULL, ...)). Set it before the checker is shared. */
void dmarc_checker_set_discovery(struct dmarc_checker *c,
    enum dmarc_discovery d);
enum dmarc_discovery dmarc_checker_discovery(const struct dmarc_checker *c);
/* dmarc_checker_set_psl - swap in another list (SIGHUP); messages in
 * progress keep the one they started with */
void dmarc_checker_set_psl(struct dmarc_checker *c, struct psl *psl);
void dmarc_checker_free(struct dmarc_checker **cp);

/* dmarc_evaluate - by the checker's discovery. PSL: RFC 7489 6.6: find the
 * record (author domain, then the organizational domain), check alignment,
 * pick p/sp/np, sample pct with the given random number (0..99: the policy
 * applies when r < pct). TREEWALK: RFC 9989 4.10: the author domain's
 * record, else the walk's organizational domain's, else the public suffix
 * domain's; alignment by tree-walk org domains; p/sp/np; t=y one lower;
 * random_0_99 unused. Every lookup is dns_query_until() with the deadline
 * (CLOCK_MONOTONIC; NULL: the resolver's default), once per _dmarc name
 * per evaluation. Always fills *out; returns out->result. */
enum dmarc_res dmarc_evaluate(struct dmarc_checker *c,
    const struct dmarc_input *in, unsigned random_0_99,
    const struct timespec *deadline, struct dmarc_outcome *out);

/* dmarc_aligned - RFC 7489 3.1: whether a and b align, strictly (equal)
 * or relaxed (same organizational domain by the PSL) */
int dmarc_aligned(const struct psl *psl, const char *a, const char *b,
    int strict);

/* dmarc_org_domain - the organizational domain of domain by the checker's
 * discovery (TREEWALK: RFC 9989 4.10.2, a walk from domain itself; PSL:
 * the list, a public suffix being its own) into out, lowercase. 0, or -1
 * on a DNS failure on the walk or a name that is not a domain name. */
int dmarc_org_domain(struct dmarc_checker *c, const char *domain,
    const struct timespec *deadline, char *out, size_t outlen);

const char *dmarc_res_name(enum dmarc_res r);
/* dmarc_discovery_name - "treewalk", "psl" */
const char *dmarc_discovery_name(enum dmarc_discovery d);
const char *dmarc_policy_name(enum dmarc_policy p);

#endif
