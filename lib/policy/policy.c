/*
 * policy.c - the decision from results and settings (see policy.h).
 */
#include "config.h"

#include <string.h>

#include "arc.h"
#include "authres.h"
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

const struct policy_override *
policy_overridden(const struct policy_decision *d, const struct result *r)
{
	for (size_t i = 0; i < d->noverrides; i++)
		if (d->overrides[i].dmarc == r)
			return &d->overrides[i];
	return NULL;
}

/* acted_on - the evaluated author domain the action follows: the highest
 * rank, the first of equals, overridden ones left out; NULL when none */
static const struct result *
acted_on(const struct results *rs, const struct policy_decision *d)
{
	const struct result *pick = NULL;

	for (const struct result *r = results_next(rs, NULL, "dmarc");
	    r != NULL; r = results_next(rs, r, "dmarc"))
		if (r->dmarc != NULL && policy_overridden(d, r) == NULL &&
		    (pick == NULL ||
		    dmarc_rank(r->dmarc) > dmarc_rank(pick->dmarc)))
			pick = r;
	return pick;
}

/* trusted_sealer - whether d= is on arc.trusted_sealers (both are
 * dname_norm'd: the list by settings, d= by lib/arc) */
static int
trusted_sealer(const struct settings *cfg, const char *d)
{
	for (size_t i = 0; i < cfg->arc_ntrusted_sealers; i++)
		if (dname_equal(d, cfg->arc_trusted_sealers[i]))
			return 1;
	return 0;
}

/* aligned - an identifier's domain aligned with the author domain as its
 * DMARC record asks (RFC 7489 3.1): strict, the same name; relaxed, under
 * the author's organizational domain (the author domain itself when the
 * evaluation did not determine one: no DNS here) */
static int
aligned(const char *id, const struct dmarc_outcome *o, const char *author,
    int strict)
{
	if (id == NULL || *id == '\0')
		return 0;
	if (strict)
		return dname_equal(id, author);
	return dname_under(id, o->org_domain[0] ? o->org_domain : author);
}

/* aar_vouches - what one ARC-Authentication-Results says of the author
 * domain: 2 a dmarc=pass for it, 1 an aligned dkim or spf pass, 0 nothing
 * (or a payload that does not parse) */
static int
aar_vouches(const char *aar, const struct dmarc_outcome *o,
    const char *author)
{
	struct authres *ar;
	char err[128];
	int best = 0;

	if (aar == NULL || (ar = authres_parse(aar, err, sizeof(err))) == NULL)
		return 0;
	for (size_t i = 0; i < ar->nresults; i++) {
		const struct authres_result *r = &ar->results[i];

		if (strcmp(r->result, "pass") != 0)
			continue;
		for (size_t j = 0; j < r->nprops; j++) {
			const struct authres_prop *p = &r->props[j];
			const char *at;

			if (strcmp(r->method, "dmarc") == 0 &&
			    strcmp(p->ptype, "header") == 0 &&
			    strcmp(p->property, "from") == 0 &&
			    dname_equal(p->value, author))
				best = 2;
			else if (strcmp(r->method, "dkim") == 0 &&
			    strcmp(p->ptype, "header") == 0 &&
			    strcmp(p->property, "d") == 0 &&
			    aligned(p->value, o, author, o->record.adkim_strict) &&
			    best < 1)
				best = 1;
			else if (strcmp(r->method, "spf") == 0 &&
			    strcmp(p->ptype, "smtp") == 0 &&
			    strcmp(p->property, "mailfrom") == 0 &&
			    (at = strrchr(p->value, '@')) != NULL &&
			    aligned(at + 1, o, author, o->record.aspf_strict) &&
			    best < 1)
				best = 1;
		}
	}
	authres_free(&ar);
	return best;
}

/* arc_override - whether a trusted sealer overrides this DMARC failure:
 * the chain passed, and the newest instance sealed by a trusted sealer
 * whose ARC-Authentication-Results vouches for the author domain, and
 * whose ARC-Message-Signature still verifies (its i at or above
 * header.oldest-pass): what it vouched for is the message we have. A
 * trusted sealer's word about a message an untrusted hop changed after it
 * counts for nothing: anyone holding a message a trusted list sealed
 * could otherwise rewrite its body, seal it with their own key (the seals
 * cover only the ARC fields) and have the author's DMARC failure
 * overridden. A hop after a trusted one that changes the message (a
 * scanner adding a footer) must be trusted itself. */
static int
arc_override(const struct results *rs, const struct result *r,
    const struct settings *cfg, struct policy_override *ov)
{
	const struct dmarc_outcome *d = r->dmarc;
	const char *author = results_prop_value(r, "header", "from");
	const struct result *a = results_next(rs, NULL, "arc");
	const struct arc_result *chain = a != NULL ? a->arc : NULL;

	if (chain == NULL || chain->result != ARC_RES_PASS || author == NULL ||
	    cfg->arc_ntrusted_sealers == 0 || d->result != DMARC_RES_FAIL ||
	    temp_relevant(d) || (d->disposition != DMARC_POLICY_REJECT &&
	    d->disposition != DMARC_POLICY_QUARANTINE))
		return 0;
	for (unsigned i = chain->n; i > 0 && i <= ARC_MAX_INSTANCES; i--) {
		const struct arc_instance *in = &chain->inst[i - 1];
		int v;

		if (!trusted_sealer(cfg, in->seal_domain))
			continue;
		if (chain->oldest_pass != 0 && i < chain->oldest_pass)
			break; /* changed since; older instances even more so */
		v = aar_vouches(in->aar, d, author);
		if (v == 0)
			continue;
		ov->dmarc = r;
		ov->sealer = in->seal_domain;
		ov->reason = v == 2 ? "trusted_forwarder" : "mailing_list";
		return 1;
	}
	return 0;
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

/* pick_dmarc - the author domain acted on, after the overrides, and
 * its action */
static void
pick_dmarc(const struct results *rs, const struct settings *cfg,
    struct arena *a, struct policy_decision *out)
{
	size_t ndmarc = results_count(rs, "dmarc");
	struct policy_override ov;
	const struct result *r;

	while ((r = acted_on(rs, out)) != NULL && r->dmarc != NULL &&
	    arc_override(rs, r, cfg, &ov)) {
		if (out->overrides == NULL)
			out->overrides = arena_alloc(a, ndmarc *
			    sizeof(*out->overrides));
		out->overrides[out->noverrides++] = ov;
	}
	if (r == NULL && out->noverrides > 0) {
		/* every failure was overridden: the first one stays the
		 * one the log line names; the message is accepted */
		out->acted_on = out->overrides[0].dmarc;
		out->reason = arena_printf(a, "DMARC policy %s overridden by "
		    "ARC (trusted sealer %s)",
		    dmarc_policy_name(out->acted_on->dmarc->disposition),
		    out->overrides[0].sealer);
		return;
	}
	out->acted_on = r;
	if (r != NULL)
		decide_dmarc(r, cfg, a, out);
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
	pick_dmarc(in->results, cfg, a, out);
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
