/*
 * report.c - the session's part in DMARC aggregate reports (issue 14): a
 * report record (report.h) for each author domain whose DMARC evaluation
 * found a policy record, with the disposition the message really got for
 * it and why that differs from the published policy; and the report
 * writer of the process (store.h), started by the daemon.
 *
 * The records are built from what session_eom() left: the results list
 * (the SPF, DKIM and DMARC outcomes behind each result), the policy
 * decision (its ARC overrides) and the settings that bent it (report-only
 * mode, policy.never_reject). A message not evaluated (trusted network,
 * authenticated client, headers over the limits) has no DMARC result with
 * a policy, so no record; a message answered with a temporary failure has
 * none either: the sender tries again and that attempt is counted.
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include "dkim.h"
#include "dmarc.h"
#include "dname.h"
#include "report.h"
#include "session_impl.h"
#include "settings.h"
#include "spf.h"
#include "store.h"
#include "util.h"

/* dkim_res - a signature's result as reports name it */
static enum report_dkim_res
dkim_res(enum dkv_res r)
{
	switch (r) {
	case DKV_RES_PASS:
		return REPORT_DKIM_PASS;
	case DKV_RES_FAIL:
		return REPORT_DKIM_FAIL;
	case DKV_RES_NEUTRAL:
		return REPORT_DKIM_NEUTRAL;
	case DKV_RES_POLICY:
		return REPORT_DKIM_POLICY;
	case DKV_RES_TEMPERROR:
		return REPORT_DKIM_TEMPERROR;
	case DKV_RES_PERMERROR:
		return REPORT_DKIM_PERMERROR;
	case DKV_RES_NONE:
		break;
	}
	return REPORT_DKIM_NONE;
}

/* spf_res - an SPF result as reports name it */
static enum report_spf_res
spf_res(enum spf_result r)
{
	switch (r) {
	case SPF_RESULT_NEUTRAL:
		return REPORT_SPF_NEUTRAL;
	case SPF_RESULT_PASS:
		return REPORT_SPF_PASS;
	case SPF_RESULT_FAIL:
		return REPORT_SPF_FAIL;
	case SPF_RESULT_SOFTFAIL:
		return REPORT_SPF_SOFTFAIL;
	case SPF_RESULT_TEMPERROR:
		return REPORT_SPF_TEMPERROR;
	case SPF_RESULT_PERMERROR:
		return REPORT_SPF_PERMERROR;
	case SPF_RESULT_NONE:
		break;
	}
	return REPORT_SPF_NONE;
}

/* domain_of - the lowercased domain of an address ("" and addresses
 * without one: NULL), from the message's arena */
static const char *
domain_of(struct session *s, const char *addr)
{
	char norm[DNAME_BUFSIZE];
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;

	if (at == NULL || at[1] == '\0' ||
	    dname_norm(at + 1, norm, sizeof(norm)) != 0)
		return NULL;
	return arena_strdup(s->arena, norm);
}

/* never_rejected - whether the author domain is under policy.never_reject */
static int
never_rejected(const struct settings *cfg, const char *domain)
{
	for (size_t i = 0; domain != NULL && i < cfg->policy_nnever_reject; i++)
		if (dname_under(domain, cfg->policy_never_reject[i]))
			return 1;
	return 0;
}

/* struct reasons - the overrides of one record */
struct reasons {
	struct report_reason v[4];
	size_t n;
};

static void
reason_add(struct reasons *rs, enum report_override type, const char *comment)
{
	if (rs->n < sizeof(rs->v) / sizeof(rs->v[0])) {
		rs->v[rs->n].type = type;
		rs->v[rs->n].comment = comment;
		rs->n++;
	}
}

/* disposition - what was done for this author domain, and why it is not
 * the published policy: the record's own test mode or pct sample, then
 * what policy_decide() let stand of it (policy.c has the same rules): a
 * trusted ARC sealer's override, a temporary DNS error that could change
 * the outcome, report-only mode, policy.never_reject */
static enum report_disposition
disposition(struct session *s, const struct result *r, struct reasons *rs)
{
	const struct dmarc_outcome *o = r->dmarc;
	const struct policy_override *ov;
	enum dmarc_policy dis = o->disposition;

	if (o->result == DMARC_RES_PASS)
		return REPORT_DISP_PASS;
	if (o->testing && dis != o->policy)
		reason_add(rs, REPORT_OVR_POLICY_TEST_MODE, NULL);
	if (o->sampled_out)
		reason_add(rs, REPORT_OVR_OTHER, "pct sampling");
	if (dis == DMARC_POLICY_REJECT || dis == DMARC_POLICY_QUARANTINE) {
		if ((ov = policy_overridden(&s->decision, r)) != NULL) {
			reason_add(rs, strcmp(ov->reason, "mailing_list") == 0 ?
			    REPORT_OVR_MAILING_LIST :
			    REPORT_OVR_TRUSTED_FORWARDER,
			    arena_printf(s->arena, "arc=pass sealer %s",
			    ov->sealer));
			dis = DMARC_POLICY_NONE;
		} else if (o->temp_aligned) {
			reason_add(rs, REPORT_OVR_LOCAL_POLICY,
			    "temporary DNS error");
			dis = DMARC_POLICY_NONE;
		} else if (s->cfg->policy_mode == POLICY_REPORT_ONLY) {
			reason_add(rs, REPORT_OVR_LOCAL_POLICY,
			    "report-only mode");
			dis = DMARC_POLICY_NONE;
		} else if (dis == DMARC_POLICY_REJECT &&
		    never_rejected(s->cfg, results_prop_value(r, "header",
		    "from"))) {
			reason_add(rs, REPORT_OVR_LOCAL_POLICY, "never_reject");
			dis = DMARC_POLICY_NONE;
		}
	}
	return dis == DMARC_POLICY_REJECT ? REPORT_DISP_REJECT :
	    dis == DMARC_POLICY_QUARANTINE ? REPORT_DISP_QUARANTINE :
	    REPORT_DISP_NONE;
}

/* auth_results - the DKIM signatures and the SPF result of the message
 * into rec (arrays from the message's arena): every signature verified
 * (up to REPORT_DKIM_MAX), and SPF for MAIL FROM, or for HELO with the
 * null sender */
static void
auth_results(struct session *s, struct report_record *rec)
{
	const struct results *rs = &s->results;
	size_t nd = results_count(rs, "dkim"), n = 0;
	const struct result *mf = NULL, *helo = NULL, *r;
	struct report_dkim *dk;
	struct report_spf *sp;
	char norm[DNAME_BUFSIZE];

	if (nd > REPORT_DKIM_MAX)
		nd = REPORT_DKIM_MAX;
	dk = arena_alloc(s->arena, (nd + 1) * sizeof(*dk));
	for (r = results_next(rs, NULL, "dkim"); r != NULL && n < nd;
	    r = results_next(rs, r, "dkim")) {
		if (r->dkim == NULL)
			continue; /* dkim=none: no signature */
		dk[n].domain = r->dkim->domain;
		dk[n].selector = r->dkim->selector;
		dk[n].result = dkim_res(r->dkim->result);
		n++;
	}
	rec->dkim = dk;
	rec->ndkim = n;

	for (r = results_next(rs, NULL, "spf"); r != NULL;
	    r = results_next(rs, r, "spf")) {
		if (r->spf == NULL)
			continue;
		if (mf == NULL && results_prop_value(r, "smtp", "mailfrom"))
			mf = r;
		if (helo == NULL && results_prop_value(r, "smtp", "helo"))
			helo = r;
	}
	r = mf != NULL ? mf : helo;
	if (r == NULL)
		return;
	sp = arena_alloc(s->arena, sizeof(*sp));
	/* the domain check_host() started from, lowercased; as sent when it
	 * is no domain name (a HELO address literal) */
	sp->domain = r->spf->domain[0] != '\0' ? r->spf->domain :
	    r == mf ? domain_of(s, s->mail_from) :
	    results_prop_value(r, "smtp", "helo");
	if (sp->domain != NULL && dname_norm(sp->domain, norm,
	    sizeof(norm)) == 0)
		sp->domain = arena_strdup(s->arena, norm);
	sp->scope = r == mf ? REPORT_SPF_MFROM : REPORT_SPF_HELO;
	sp->result = spf_res(r->spf->result);
	rec->spf = sp;
	rec->nspf = 1;
}

size_t
session_report_records(struct session *s,
    void (*fn)(const struct report_record *rec, void *ctx), void *ctx)
{
	struct report_record base, rec;
	const struct result *r;
	size_t n = 0;
	int have_auth = 0;

	if (s->client_ip[0] == '\0' || s->decision.action == POLICY_TEMPFAIL)
		return 0;
	memset(&base, 0, sizeof(base));
	base.when = time(NULL);
	base.source_ip = s->client_ip;
	base.envelope_from = domain_of(s, s->mail_from);
	base.envelope_to = s->rcpt_domain;
	for (r = results_next(&s->results, NULL, "dmarc"); r != NULL;
	    r = results_next(&s->results, r, "dmarc")) {
		const struct dmarc_outcome *o = r->dmarc;
		struct reasons rs;

		if (o == NULL || (o->result != DMARC_RES_PASS &&
		    o->result != DMARC_RES_FAIL) || o->policy_domain[0] == '\0')
			continue;
		if (!have_auth) {
			auth_results(s, &base);
			have_auth = 1;
		}
		rec = base;
		rec.header_from = results_prop_value(r, "header", "from");
		rec.policy.domain = o->policy_domain;
		rec.policy.discovery = o->discovery;
		rec.policy.p = o->record.p;
		rec.policy.sp = o->record.sp;
		rec.policy.np = o->record.np;
		rec.policy.adkim_strict = o->record.adkim_strict;
		rec.policy.aspf_strict = o->record.aspf_strict;
		rec.policy.testing = o->record.testing;
		rec.policy.pct = o->record.pct;
		rec.dkim_aligned = o->dkim_aligned;
		rec.spf_aligned = o->spf_aligned;
		memset(&rs, 0, sizeof(rs));
		rec.disposition = disposition(s, r, &rs);
		if (rs.n > 0) {
			struct report_reason *v = arena_alloc(s->arena,
			    rs.n * sizeof(*v));

			memcpy(v, rs.v, rs.n * sizeof(*v));
			rec.reasons = v;
			rec.nreasons = rs.n;
		}
		if (fn != NULL)
			fn(&rec, ctx);
		n++;
	}
	return n;
}

/* submit - one record to the process's writer */
static void
submit(const struct report_record *rec, void *ctx)
{
	report_writer_submit(ctx, rec);
}

void
session_report_submit(struct session *s)
{
	if (s->env->reports != NULL)
		session_report_records(s, submit, s->env->reports);
}

int
session_env_reports_start(struct session_env *env, const struct settings *cfg,
    char *err, size_t errlen)
{
	struct report_writer_opts o = {
		.uri = cfg->reports_store,
		.queue_max = cfg->reports_queue_max,
		.keep_days = cfg->reports_keep_days,
	};

	if (!cfg->reports_enable || env->reports != NULL)
		return 0;
	env->reports = report_writer_start(&o, err, errlen);
	return env->reports != NULL ? 0 : -1;
}

void
session_env_reports_stop(struct session_env *env)
{
	report_writer_stop(&env->reports);
}
