/*
 * dmarc.h - DMARC (RFC 7489): record, alignment, policy.
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

struct dmarc_record {
	enum dmarc_policy p, sp, np;  /* sp, np UNSET when absent */
	unsigned pct;                 /* 0..100, default 100 */
	int adkim_strict, aspf_strict;
	char rua[512], ruf[512];      /* as written (parsed, not used yet) */
	char fo[16];
	unsigned ri;                  /* default 86400 */
};

/* dmarc_record_parse - RFC 7489 6.3 record text into r. 0, or -1 with
 * err when it is not a valid DMARC record (no v=DMARC1 first, bad p=,
 * ...): such a record is treated as absent (6.6.3). Unknown tags are
 * ignored. */
int dmarc_record_parse(const char *txt, struct dmarc_record *r, char *err,
    size_t errlen);

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
	enum dmarc_policy policy;       /* the policy that applies (p, sp or np) */
	enum dmarc_policy disposition;  /* what to do after pct sampling */
	int sampled_out;                /* pct said not to apply the policy */
	int record_from_org;            /* the record came from the org domain */
	int spf_aligned, dkim_aligned;  /* an aligned identifier that passed */
	int temp_aligned;               /* on fail: an aligned identifier had a
					 * temporary error, so the failure may
					 * not be final */
	char policy_domain[DNAME_BUFSIZE]; /* where the record was found */
	char dkim_domain[DNAME_BUFSIZE];   /* the aligned passing d=, or "" */
	char reason[160];               /* plain words for logs and comments */
	struct dmarc_record record;
};

struct dmarc_checker;

/* dmarc_checker_new - psl: borrowed reference (the checker takes its own) */
struct dmarc_checker *dmarc_checker_new(struct dns_resolver *dns,
    struct psl *psl, char *err, size_t errlen);
/* dmarc_checker_set_psl - swap in another list (SIGHUP); messages in
 * progress keep the one they started with */
void dmarc_checker_set_psl(struct dmarc_checker *c, struct psl *psl);
void dmarc_checker_free(struct dmarc_checker **cp);

/* dmarc_evaluate - RFC 7489 6.6: find the record (author domain, then the
 * organizational domain), check alignment, pick p/sp/np, sample pct with
 * the given random number (0..99: the policy applies when r < pct).
 * deadline: CLOCK_MONOTONIC limit for lookups (NULL: resolver default).
 * Always fills *out; returns out->result. */
enum dmarc_res dmarc_evaluate(struct dmarc_checker *c,
    const struct dmarc_input *in, unsigned random_0_99,
    const struct timespec *deadline, struct dmarc_outcome *out);

/* dmarc_aligned - RFC 7489 3.1: whether a and b align, strictly (equal)
 * or relaxed (same organizational domain) */
int dmarc_aligned(const struct psl *psl, const char *a, const char *b,
    int strict);

const char *dmarc_res_name(enum dmarc_res r);
const char *dmarc_policy_name(enum dmarc_policy p);

#endif
