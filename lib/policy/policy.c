/*
 * policy.c - the decision from results and settings (see policy.h).
 */
#include "config.h"

#include <string.h>

#include "dmarc.h"
#include "dname.h"
#include "policy.h"
#include "settings.h"
#include "util.h"

/* temp_relevant - a temporary DNS error that could change the outcome:
 * the DMARC record lookup itself, or, on a failure, the check of an
 * identifier that would have aligned (an unaligned one cannot matter) */
static int
temp_relevant(const struct dmarc_outcome *o)
{
	return o->result == DMARC_RES_TEMPERROR ||
	    (o->result == DMARC_RES_FAIL && o->temp_aligned);
}

/* dmarc_rank - how strongly an author domain's evaluation weighs on the
 * action (RFC 7489 6.6.1: the strictest policy among the checks that fail):
 * a final reject, a final quarantine, a temporary error that could change
 * the outcome, a failure with p=none, a pass, no policy */
static int
dmarc_rank(const struct dmarc_outcome *o)
{
	if (temp_relevant(o))
		return 4;
	if (o->result == DMARC_RES_FAIL)
		return o->disposition == DMARC_POLICY_REJECT ? 6 :
		    o->disposition == DMARC_POLICY_QUARANTINE ? 5 : 3;
	return o->result == DMARC_RES_PASS ? 2 : 1;
}

/* acted_on - the evaluated author domain the action follows: the highest
 * rank, the first of equals; NULL when none was evaluated */
static const struct result *
acted_on(const struct results *rs)
{
	const struct result *pick = NULL;

	for (const struct result *r = results_next(rs, NULL, "dmarc");
	    r != NULL; r = results_next(rs, r, "dmarc"))
		if (r->dmarc != NULL && (pick == NULL ||
		    dmarc_rank(r->dmarc) > dmarc_rank(pick->dmarc)))
			pick = r;
	return pick;
}

/* from_error - the result saying the From names no usable author, or NULL */
static const struct result *
from_error(const struct results *rs)
{
	for (const struct result *r = results_next(rs, NULL, "dmarc");
	    r != NULL; r = results_next(rs, r, "dmarc"))
		if (r->from_error != MAILADDR_OK)
			return r;
	return NULL;
}

/* never_reject - whether the author domain (or a parent of it) is on the
 * list of domains never rejected */
static int
never_reject(const struct settings *cfg, const char *domain)
{
	for (size_t i = 0; domain != NULL && i < cfg->policy_nnever_reject; i++)
		if (dname_under(domain, cfg->policy_never_reject[i]))
			return 1;
	return 0;
}

static void
set_reply(struct policy_decision *out, struct arena *a,
    enum policy_action action, const char *rcode, const char *xcode,
    const char *text)
{
	char *t = arena_strdup(a, text);

	/* libmilter takes the text as a format: no '%', no line breaks */
	for (char *p = t; *p; p++)
		if (*p == '%' || *p == '\r' || *p == '\n')
			*p = ' ';
	out->action = action;
	out->smtp_rcode = rcode;
	out->smtp_xcode = xcode;
	out->smtp_text = t;
}

/* decide_from - a From without a usable author: the result's reason is
 * why; rejected in enforce mode when on_from_error says so */
static void
decide_from(const struct result *r, const struct settings *cfg,
    struct arena *a, struct policy_decision *out)
{
	const char *why = r->reason ? r->reason : "the From header cannot be parsed";

	out->reason = why;
	if (cfg->policy_mode == POLICY_ENFORCE &&
	    cfg->policy_on_from_error == FROM_ERROR_REJECT)
		set_reply(out, a, POLICY_REJECT, "550", "5.7.1",
		    arena_printf(a, "Rejected: %s (RFC 5322 3.6 requires "
		    "exactly one author for DMARC)", why));
}

/* decide_dmarc - the action the acted-on author domain's DMARC result
 * asks for */
static void
decide_dmarc(const struct result *r, const struct settings *cfg,
    struct arena *a, struct policy_decision *out)
{
	int enforce = cfg->policy_mode == POLICY_ENFORCE;
	const struct dmarc_outcome *d = r->dmarc;
	const char *domain = results_prop_value(r, "header", "from");
	const char *where = d->policy_domain[0] ? d->policy_domain : domain;

	if (temp_relevant(d)) {
		out->reason = "temporary DNS error";
		if (enforce && cfg->policy_on_temperror == TEMPERROR_TEMPFAIL)
			set_reply(out, a, POLICY_TEMPFAIL, "451", "4.7.5",
			    arena_printf(a, "Cannot check DMARC for %s now: "
			    "temporary DNS error, try again later", domain));
		return;
	}
	if (d->result != DMARC_RES_FAIL)
		return;
	if (d->disposition == DMARC_POLICY_REJECT) {
		out->reason = "DMARC policy reject";
		if (!enforce || never_reject(cfg, domain))
			return;
		set_reply(out, a, POLICY_REJECT, "550", "5.7.1",
		    arena_printf(a, "Rejected by the DMARC policy of %s: %s",
		    where, d->reason[0] ? d->reason :
		    "no aligned SPF or DKIM pass"));
	} else if (d->disposition == DMARC_POLICY_QUARANTINE) {
		out->reason = "DMARC policy quarantine";
		if (!enforce || cfg->policy_quarantine != QUARANTINE_HOLD)
			return;
		out->action = POLICY_QUARANTINE;
		out->quarantine_reason = arena_printf(a, "DMARC policy of %s: %s",
		    where, d->reason);
	}
}

void
policy_decide(const struct policy_input *in, const struct settings *cfg,
    struct arena *a, struct policy_decision *out)
{
	const struct result *from;

	memset(out, 0, sizeof(*out));
	out->action = POLICY_ACCEPT;
	if (in->skipped != NULL)
		return;
	from = from_error(in->results);
	if (in->oversize != NULL) {
		/* every field was looked at for From, but nothing else was
		 * evaluated: policy.on_oversize, in report-only mode too (a
		 * limit of ours, not a DMARC verdict). A From that is wrong
		 * whatever the rest says keeps its own answer. */
		if (from != NULL) {
			decide_from(from, cfg, a, out);
			if (out->action == POLICY_REJECT)
				return;
		}
		out->reason = in->oversize;
		if (cfg->policy_on_oversize == OVERSIZE_REJECT)
			set_reply(out, a, POLICY_REJECT, "552", "5.3.4",
			    "Message header too large for authmilter to check");
		else
			set_reply(out, a, POLICY_TEMPFAIL, "451", "4.7.0",
			    "Message header too large for authmilter to check "
			    "now");
		return;
	}
	if (from != NULL) {
		decide_from(from, cfg, a, out);
		return;
	}
	out->acted_on = acted_on(in->results);
	if (out->acted_on != NULL)
		decide_dmarc(out->acted_on, cfg, a, out);
}

const char *
policy_action_name(enum policy_action a)
{
	switch (a) {
	case POLICY_ACCEPT:
		return "accept";
	case POLICY_REJECT:
		return "reject";
	case POLICY_QUARANTINE:
		return "quarantine";
	case POLICY_TEMPFAIL:
		return "tempfail";
	}
	return "accept";
}
