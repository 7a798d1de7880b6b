/*
 * results.h - what the methods found about one message, as a list.
 *
 * Each method appends its results in the order they go into the
 * Authentication-Results header: a method name, a result and a reason
 * (RFC 8601 2.2; the reason is written as the comment after the result),
 * properties (ptype.property=value: smtp.mailfrom, header.d, header.from,
 * policy.*), and the typed facts policy and the log line need (the SPF,
 * DKIM or DMARC outcome behind the result). The header, the log line and
 * the policy decision are built from the list alone; nothing here does
 * DNS or I/O.
 *
 * Strings are copied into the list's arena; the typed facts are borrowed
 * and must live as long as it (the session keeps them in the message's
 * arena or in the method's per-message state). A list is used by one
 * thread at a time.
 */
#ifndef AM_RESULTS_H
#define AM_RESULTS_H

#include <stddef.h>

#include "mailaddr.h"

struct arena;
struct spf_outcome;
struct dkv_result;
struct dmarc_outcome;
struct arc_result;

#define RESULTS_MAX_PROPS 8

struct results_prop {
	const char *ptype;     /* "smtp", "header", "policy", ... */
	const char *property;  /* "mailfrom", "d", "from", ... */
	const char *value;
	const char *comment;   /* written after the value, or NULL */
};

struct result {
	const char *method;    /* "spf", "dkim", "dmarc" (RFC 8601 keyword) */
	const char *result;    /* "pass", "fail", ..., "none" */
	const char *reason;    /* plain words, or NULL */
	size_t nprops;
	struct results_prop props[RESULTS_MAX_PROPS];
	/* typed facts: at most one is set, by the method that added it */
	const struct spf_outcome *spf;      /* spf: the check of one identity */
	const struct dkv_result *dkim;      /* dkim: one signature (NULL: none) */
	const struct dmarc_outcome *dmarc;  /* dmarc: one author domain's
					     * evaluation, its domain in
					     * header.from */
	const struct arc_result *arc;       /* arc: the chain's validation
					     * (NULL: arc=none, no ARC
					     * header field at all) */
	/* dmarc: why no author domain could be evaluated (MAILADDR_OK for
	 * every other result); the reason says it in words */
	enum mailaddr_status from_error;
	/* dmarc: a failure whose policy a trusted ARC sealer overrode (set by
	 * the session from the policy decision): the sealer (ARC-Seal d=)
	 * and RFC 7489's PolicyOverride for aggregate reports,
	 * "trusted_forwarder" (the sealer saw DMARC pass) or "mailing_list"
	 * (it saw an aligned DKIM or SPF pass); NULL: not overridden */
	const char *arc_override_by;
	const char *policy_override;
};

struct results {
	struct arena *arena;
	struct result *v;      /* n results, in header order */
	size_t n, cap;
};

/* results_init - an empty list whose memory comes from a (which must
 * outlive it); nothing to free but the arena */
void results_init(struct results *rs, struct arena *a);
/* results_add - append a result (reason may be NULL) and return it, to
 * add properties and facts to; the list has no size limit */
struct result *results_add(struct results *rs, const char *method,
    const char *result, const char *reason);
/* results_prop - ptype.property=value (comment may be NULL) on r, which
 * results_add() returned; 0, or -1 when r has RESULTS_MAX_PROPS already */
int results_prop(struct results *rs, struct result *r, const char *ptype,
    const char *property, const char *value, const char *comment);
/* results_prop_value - the value of r's ptype.property, or NULL */
const char *results_prop_value(const struct result *r, const char *ptype,
    const char *property);
/* results_next - the first result of method after `after` (NULL: from
 * the start of the list), or NULL when there is none */
const struct result *results_next(const struct results *rs,
    const struct result *after, const char *method);
/* results_count - how many results of method the list holds */
size_t results_count(const struct results *rs, const char *method);

#endif
