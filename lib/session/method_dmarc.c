/*
 * method_dmarc.c - DMARC (RFC 9989, or RFC 7489 with dmarc.discovery =
 * "psl") in the session: one dmarc= result per author domain
 * (header.from), from what SPF and DKIM added to the list, or one
 * permerror for a From that names no usable author (see session_impl.h).
 * The comment of a pass or fail is "p=POLICY dis=DISPOSITION", with
 * "t=y" between them when the record's test mode lowered (or, on a pass,
 * would lower) the policy.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dkim.h"
#include "dmarc.h"
#include "session_impl.h"
#include "settings.h"
#include "spf.h"
#include "util.h"

/* session_dmarc_from_error - permerror, with the reason in words */
void
session_dmarc_from_error(struct session *s, struct results *rs)
{
	struct result *r = results_add(rs, "dmarc", "permerror", s->from_error);

	r->from_error = s->from_status;
}

/* dmarc_input - what SPF and DKIM found, from the list, as DMARC takes it */
static void
dmarc_input(struct session *s, const struct results *rs,
    struct dmarc_input *in)
{
	const struct result *mf = NULL, *helo = NULL, *spf = NULL;
	struct dmarc_dkim *ids;
	size_t n = 0;

	memset(in, 0, sizeof(*in));
	for (const struct result *r = results_next(rs, NULL, "spf"); r != NULL;
	    r = results_next(rs, r, "spf")) {
		if (mf == NULL && results_prop_value(r, "smtp", "mailfrom"))
			mf = r;
		if (helo == NULL && results_prop_value(r, "smtp", "helo"))
			helo = r;
	}
	if (mf != NULL) {
		const char *at = strrchr(results_prop_value(mf, "smtp",
		    "mailfrom"), '@');

		in->spf_domain = at != NULL && at[1] != '\0' ? at + 1 : NULL;
		spf = mf;
	} else if (helo != NULL) {
		/* the null sender: RFC 7208 2.4 makes postmaster@HELO the MAIL
		 * FROM identity, which is the one DMARC uses (RFC 7489 4.1) */
		in->spf_domain = results_prop_value(helo, "smtp", "helo");
		spf = helo;
	}
	if (spf != NULL) {
		in->spf_pass = spf->spf->result == SPF_RESULT_PASS;
		in->spf_temperror = spf->spf->result == SPF_RESULT_TEMPERROR;
	}
	/* every signature counts, however many dkim.max_signatures allows */
	ids = arena_alloc(s->arena, (results_count(rs, "dkim") + 1) *
	    sizeof(*ids));
	for (const struct result *r = results_next(rs, NULL, "dkim"); r != NULL;
	    r = results_next(rs, r, "dkim")) {
		if (r->dkim == NULL)
			continue;
		ids[n].domain = r->dkim->domain;
		ids[n].pass = r->dkim->result == DKV_RES_PASS;
		ids[n].temperror = r->dkim->result == DKV_RES_TEMPERROR;
		n++;
	}
	in->dkim = ids;
	in->ndkim = n;
}

/* dmarc_eom - one result per author domain (RFC 7489 6.6.1), in order of
 * appearance; a From without a usable author is one permerror */
static void
dmarc_eom(struct session *s, void *st, struct results *rs)
{
	struct dmarc_input in;

	(void)st;
	if (!s->cfg->dmarc_enable)
		return;
	if (s->from_status != MAILADDR_OK) {
		session_dmarc_from_error(s, rs);
		return;
	}
	dmarc_input(s, rs, &in);
	for (size_t i = 0; i < s->nauthors; i++) {
		struct dmarc_outcome *o = arena_alloc(s->arena, sizeof(*o));
		struct result *r;
		const char *reason;

		in.from_domain = s->authors[i];
		/* RFC 7489 6.6.4: pct is a sample of messages: our own coin
		 * (the tree walk does not sample) */
		dmarc_evaluate(s->env->dmarc, &in, arc4random_uniform(100),
		    &s->deadline, o);
		if (o->result == DMARC_RES_PASS || o->result == DMARC_RES_FAIL)
			reason = arena_printf(s->arena, "p=%s%s dis=%s",
			    dmarc_policy_name(o->policy),
			    o->testing ? " t=y" : "",
			    dmarc_policy_name(o->disposition));
		else
			reason = o->reason[0] ? o->reason : NULL;
		r = results_add(rs, "dmarc", dmarc_res_name(o->result), reason);
		results_prop(rs, r, "header", "from", s->authors[i], NULL);
		r->dmarc = o;
	}
}

const struct session_method session_method_dmarc = {
	.name = "dmarc",
	.eom = dmarc_eom,
};
