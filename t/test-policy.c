/*
 * test-policy.c - the decision from results and settings, without any
 * resolver: each case is a results list built by hand, the facts the
 * session adds (skipped, oversize), the settings, and the decision that
 * must come of them, reply text and all.
 */
#include "config.h"

#include <string.h>

#include "arc.h"
#include "dkim.h"
#include "dmarc.h"
#include "mailaddr.h"
#include "policy.h"
#include "results.h"
#include "settings.h"
#include "spf.h"
#include "tap.h"
#include "util.h"

/* one result of the list, in short: a DMARC evaluation of an author
 * domain (R_DMARC), a From that names no usable author (R_FROM), or
 * results policy must not act on (R_SPF, R_DKIM) */
enum kind { R_END = 0, R_DMARC, R_FROM, R_SPF, R_DKIM };

struct in {
	enum kind kind;
	const char *domain;        /* dmarc: header.from; spf, dkim: the domain */
	enum dmarc_res res;        /* dmarc */
	enum dmarc_policy dis;     /* dmarc: disposition (policy the same) */
	int temp_aligned;          /* dmarc, on fail */
	const char *policy_domain; /* dmarc: where the record was, "" none */
	const char *why;           /* dmarc: outcome reason; from: the reason */
	enum mailaddr_status from; /* from */
};

struct pcase {
	const char *name;
	const char *conf;
	const char *skipped, *oversize;
	struct in in[4];
	/* the decision */
	enum policy_action action;
	const char *reply;         /* "550 5.7.1 text", NULL for none */
	const char *quarantine;    /* quarantine_reason */
	const char *reason;
	const char *acted_on;      /* header.from of the acted-on result */
};

#define ENFORCE NULL
#define REPORT "policy = { mode = \"report-only\"; };"
#define TEMPFAIL "policy = { on_temperror = \"tempfail\"; };"
#define OVERSIZE "more than 1000 header fields or 1048576 bytes of them"
#define NOFROM "the message has no From header"
#define SEVERAL "the message has several From headers"
#define SYNTAX "the From header cannot be parsed"

#define DM(d, r, dis, pd, why) { R_DMARC, d, r, dis, 0, pd, why, MAILADDR_OK }
#define PASS(d) DM(d, DMARC_RES_PASS, DMARC_POLICY_NONE, d, "")
#define REJ(d) DM(d, DMARC_RES_FAIL, DMARC_POLICY_REJECT, d, \
	"no aligned SPF or DKIM pass")
#define QUAR(d) DM(d, DMARC_RES_FAIL, DMARC_POLICY_QUARANTINE, d, \
	"no aligned SPF or DKIM pass")
#define PNONE(d) DM(d, DMARC_RES_FAIL, DMARC_POLICY_NONE, d, "")
#define NOREC(d) DM(d, DMARC_RES_NONE, DMARC_POLICY_UNSET, "", \
	"no DMARC record")
#define TEMP(d) DM(d, DMARC_RES_TEMPERROR, DMARC_POLICY_UNSET, "", \
	"DNS timeout")
#define FROM(st, w) { .kind = R_FROM, .why = (w), .from = (st) }
#define END { .kind = R_END }
#define SPFR(d) { .kind = R_SPF, .domain = (d) }
#define DKIMR(d) { .kind = R_DKIM, .domain = (d) }
/* a failure under p=reject while an aligned identifier had a temperror */
#define REJ_TEMP(d) { .kind = R_DMARC, .domain = (d), .res = DMARC_RES_FAIL, \
	.dis = DMARC_POLICY_REJECT, .temp_aligned = 1, .policy_domain = (d), \
	.why = "no aligned SPF or DKIM pass" }

static const struct pcase cases[] = {
	/* nothing to act on */
	{"no results", ENFORCE, NULL, NULL, {END}, POLICY_ACCEPT, NULL,
	    NULL, NULL, NULL},
	{"spf and dkim fail alone decide nothing", ENFORCE, NULL, NULL,
	    {SPFR("example.com"), DKIMR("example.com")}, POLICY_ACCEPT,
	    NULL, NULL, NULL, NULL},
	{"dmarc pass", ENFORCE, NULL, NULL, {PASS("example.com")},
	    POLICY_ACCEPT, NULL, NULL, NULL, "example.com"},
	{"dmarc none", ENFORCE, NULL, NULL, {NOREC("example.org")},
	    POLICY_ACCEPT, NULL, NULL, NULL, "example.org"},
	{"dmarc fail under p=none", ENFORCE, NULL, NULL, {PNONE("example.org")},
	    POLICY_ACCEPT, NULL, NULL, NULL, "example.org"},

	/* skipped clients: accepted whatever the list says */
	{"trusted network skipped", ENFORCE, "trusted network", NULL,
	    {REJ("example.com")}, POLICY_ACCEPT, NULL, NULL, NULL, NULL},
	{"authenticated skipped", ENFORCE, "authenticated", NULL,
	    {FROM(MAILADDR_NONE, NOFROM)}, POLICY_ACCEPT, NULL, NULL, NULL, NULL},
	{"skipped wins over oversize", ENFORCE, "authenticated", OVERSIZE,
	    {END}, POLICY_ACCEPT, NULL, NULL, NULL, NULL},

	/* p=reject */
	{"reject: 550 naming the policy domain", ENFORCE, NULL, NULL,
	    {SPFR("example.com"), REJ("example.com")}, POLICY_REJECT,
	    "550 5.7.1 Rejected by the DMARC policy of example.com: no "
	    "aligned SPF or DKIM pass", NULL, "DMARC policy reject",
	    "example.com"},
	{"reject: record of the organizational domain", ENFORCE, NULL, NULL,
	    {DM("mail.example.com", DMARC_RES_FAIL, DMARC_POLICY_REJECT,
	    "example.com", "DKIM d=other.example does not align")},
	    POLICY_REJECT, "550 5.7.1 Rejected by the DMARC policy of "
	    "example.com: DKIM d=other.example does not align", NULL,
	    "DMARC policy reject", "mail.example.com"},
	{"reject: no policy domain, no reason: the author and plain words",
	    ENFORCE, NULL, NULL, {DM("example.com", DMARC_RES_FAIL,
	    DMARC_POLICY_REJECT, "", "")}, POLICY_REJECT,
	    "550 5.7.1 Rejected by the DMARC policy of example.com: no aligned "
	    "SPF or DKIM pass", NULL, "DMARC policy reject", "example.com"},
	{"reject: '%' and line breaks leave the reply text", ENFORCE, NULL,
	    NULL, {DM("example.com", DMARC_RES_FAIL, DMARC_POLICY_REJECT,
	    "example.com", "100%s\r\nx")}, POLICY_REJECT,
	    "550 5.7.1 Rejected by the DMARC policy of example.com: 100 s  x",
	    NULL, "DMARC policy reject", "example.com"},
	{"reject in report-only mode is accepted", REPORT, NULL, NULL,
	    {REJ("example.com")}, POLICY_ACCEPT, NULL, NULL,
	    "DMARC policy reject", "example.com"},
	{"never_reject: the domain itself", "policy = { never_reject = "
	    "[ \"example.com\" ]; };", NULL, NULL, {REJ("example.com")},
	    POLICY_ACCEPT, NULL, NULL, "DMARC policy reject", "example.com"},
	{"never_reject: a subdomain, any case", "policy = { never_reject = "
	    "[ \"Example.COM\" ]; };", NULL, NULL, {REJ("sub.example.com")},
	    POLICY_ACCEPT, NULL, NULL, "DMARC policy reject", "sub.example.com"},
	{"never_reject: not a label boundary", "policy = { never_reject = "
	    "[ \"example.com\" ]; };", NULL, NULL, {REJ("badexample.com")},
	    POLICY_REJECT, "550 5.7.1 Rejected by the DMARC policy of "
	    "badexample.com: no aligned SPF or DKIM pass", NULL,
	    "DMARC policy reject", "badexample.com"},
	{"never_reject: a parent is not covered by its child",
	    "policy = { never_reject = [ \"a.example.com\" ]; };", NULL, NULL,
	    {REJ("example.com")}, POLICY_REJECT, "550 5.7.1 Rejected by the "
	    "DMARC policy of example.com: no aligned SPF or DKIM pass", NULL,
	    "DMARC policy reject", "example.com"},

	/* p=quarantine */
	{"quarantine: held", ENFORCE, NULL, NULL, {QUAR("example.net")},
	    POLICY_QUARANTINE, NULL, "DMARC policy of example.net: no aligned "
	    "SPF or DKIM pass", "DMARC policy quarantine", "example.net"},
	{"quarantine as a header only", "policy = { quarantine = \"header\"; };",
	    NULL, NULL, {QUAR("example.net")}, POLICY_ACCEPT, NULL, NULL,
	    "DMARC policy quarantine", "example.net"},
	{"quarantine in report-only mode", REPORT, NULL, NULL,
	    {QUAR("example.net")}, POLICY_ACCEPT, NULL, NULL,
	    "DMARC policy quarantine", "example.net"},
	{"quarantine is not rejection: never_reject does not matter",
	    "policy = { never_reject = [ \"example.net\" ]; };", NULL, NULL,
	    {QUAR("example.net")}, POLICY_QUARANTINE, NULL, "DMARC policy of "
	    "example.net: no aligned SPF or DKIM pass",
	    "DMARC policy quarantine", "example.net"},

	/* temporary errors */
	{"record temperror: accepted by default", ENFORCE, NULL, NULL,
	    {TEMP("tempfail.example.org")}, POLICY_ACCEPT, NULL, NULL,
	    "temporary DNS error", "tempfail.example.org"},
	{"record temperror: tempfail when asked", TEMPFAIL, NULL, NULL,
	    {TEMP("tempfail.example.org")}, POLICY_TEMPFAIL, "451 4.7.5 Cannot "
	    "check DMARC for tempfail.example.org now: temporary DNS error, try "
	    "again later", NULL, "temporary DNS error", "tempfail.example.org"},
	{"temperror, tempfail asked, report-only mode: accepted",
	    "policy = { mode = \"report-only\"; on_temperror = \"tempfail\"; };",
	    NULL, NULL, {TEMP("tempfail.example.org")}, POLICY_ACCEPT, NULL,
	    NULL, "temporary DNS error", "tempfail.example.org"},
	{"aligned temperror on a reject: the failure is not final", TEMPFAIL,
	    NULL, NULL, {REJ_TEMP("example.com")},
	    POLICY_TEMPFAIL, "451 4.7.5 Cannot check DMARC for example.com now: "
	    "temporary DNS error, try again later", NULL, "temporary DNS error",
	    "example.com"},
	{"aligned temperror on a reject, accepted by default", ENFORCE, NULL,
	    NULL, {REJ_TEMP("example.com")}, POLICY_ACCEPT,
	    NULL, NULL, "temporary DNS error", "example.com"},

	/* a From that names no usable author */
	{"no From: rejected", ENFORCE, NULL, NULL,
	    {FROM(MAILADDR_NONE, NOFROM)}, POLICY_REJECT, "550 5.7.1 Rejected: "
	    "the message has no From header (RFC 5322 3.6 requires exactly one "
	    "author for DMARC)", NULL, NOFROM, NULL},
	{"several From: rejected", ENFORCE, NULL, NULL,
	    {SPFR("example.com"), FROM(MAILADDR_MULTIPLE, SEVERAL)},
	    POLICY_REJECT, "550 5.7.1 Rejected: the message has several From "
	    "headers (RFC 5322 3.6 requires exactly one author for DMARC)",
	    NULL, SEVERAL, NULL},
	{"unparseable From: rejected", ENFORCE, NULL, NULL,
	    {FROM(MAILADDR_SYNTAX, SYNTAX)}, POLICY_REJECT, "550 5.7.1 "
	    "Rejected: the From header cannot be parsed (RFC 5322 3.6 requires "
	    "exactly one author for DMARC)", NULL, SYNTAX, NULL},
	{"From error with no words: the generic reason", ENFORCE, NULL, NULL,
	    {FROM(MAILADDR_SYNTAX, NULL)}, POLICY_REJECT, "550 5.7.1 "
	    "Rejected: the From header cannot be parsed (RFC 5322 3.6 requires "
	    "exactly one author for DMARC)", NULL, SYNTAX, NULL},
	{"From error accepted when asked", "policy = { on_from_error = "
	    "\"accept\"; };", NULL, NULL, {FROM(MAILADDR_MULTIPLE, SEVERAL)},
	    POLICY_ACCEPT, NULL, NULL, SEVERAL, NULL},
	{"From error in report-only mode: accepted", REPORT, NULL, NULL,
	    {FROM(MAILADDR_NONE, NOFROM)}, POLICY_ACCEPT, NULL, NULL, NOFROM,
	    NULL},

	/* headers over the limits */
	{"oversize: tempfail by default", ENFORCE, NULL, OVERSIZE, {END},
	    POLICY_TEMPFAIL, "451 4.7.0 Message header too large for authmilter "
	    "to check now", NULL, OVERSIZE, NULL},
	{"oversize: reject when asked", "policy = { on_oversize = \"reject\"; };",
	    NULL, OVERSIZE, {END}, POLICY_REJECT, "552 5.3.4 Message header "
	    "too large for authmilter to check", NULL, OVERSIZE, NULL},
	{"oversize in report-only mode too", REPORT, NULL, OVERSIZE, {END},
	    POLICY_TEMPFAIL, "451 4.7.0 Message header too large for authmilter "
	    "to check now", NULL, OVERSIZE, NULL},
	{"oversize with several From: the From reject wins", "policy = { "
	    "on_oversize = \"reject\"; };", NULL, OVERSIZE,
	    {FROM(MAILADDR_MULTIPLE, SEVERAL)}, POLICY_REJECT, "550 5.7.1 "
	    "Rejected: the message has several From headers (RFC 5322 3.6 "
	    "requires exactly one author for DMARC)", NULL, SEVERAL, NULL},
	{"oversize with a From error accepted: oversize", "policy = { "
	    "on_from_error = \"accept\"; };", NULL, OVERSIZE,
	    {FROM(MAILADDR_NONE, NOFROM)}, POLICY_TEMPFAIL, "451 4.7.0 Message "
	    "header too large for authmilter to check now", NULL, OVERSIZE,
	    NULL},
	{"oversize with a From error, report-only: oversize", REPORT, NULL,
	    OVERSIZE, {FROM(MAILADDR_NONE, NOFROM)}, POLICY_TEMPFAIL, "451 "
	    "4.7.0 Message header too large for authmilter to check now", NULL,
	    OVERSIZE, NULL},

	/* several author domains (RFC 7489 6.6.1): the strictest failure */
	{"pass and quarantine: quarantine", ENFORCE, NULL, NULL,
	    {PASS("example.com"), QUAR("example.net")}, POLICY_QUARANTINE, NULL,
	    "DMARC policy of example.net: no aligned SPF or DKIM pass",
	    "DMARC policy quarantine", "example.net"},
	{"quarantine and reject: reject", ENFORCE, NULL, NULL,
	    {QUAR("example.net"), REJ("example.com")}, POLICY_REJECT, "550 "
	    "5.7.1 Rejected by the DMARC policy of example.com: no aligned SPF "
	    "or DKIM pass", NULL, "DMARC policy reject", "example.com"},
	{"reject and quarantine: reject", ENFORCE, NULL, NULL,
	    {REJ("example.com"), QUAR("example.net")}, POLICY_REJECT, "550 "
	    "5.7.1 Rejected by the DMARC policy of example.com: no aligned SPF "
	    "or DKIM pass", NULL, "DMARC policy reject", "example.com"},
	{"reject never rejected beside a quarantine: the reject is acted on",
	    "policy = { never_reject = [ \"example.com\" ]; };", NULL, NULL,
	    {QUAR("example.net"), REJ("example.com")}, POLICY_ACCEPT, NULL, NULL,
	    "DMARC policy reject", "example.com"},
	{"temperror beside a failure under p=none: the temperror", TEMPFAIL,
	    NULL, NULL, {PNONE("example.org"), TEMP("tempfail.example.org")},
	    POLICY_TEMPFAIL, "451 4.7.5 Cannot check DMARC for "
	    "tempfail.example.org now: temporary DNS error, try again later",
	    NULL, "temporary DNS error", "tempfail.example.org"},
	{"reject beside a temperror: the reject is final", TEMPFAIL, NULL, NULL,
	    {TEMP("tempfail.example.org"), REJ("example.com")}, POLICY_REJECT,
	    "550 5.7.1 Rejected by the DMARC policy of example.com: no aligned "
	    "SPF or DKIM pass", NULL, "DMARC policy reject", "example.com"},
	{"quarantine beside a temperror: the quarantine", TEMPFAIL, NULL, NULL,
	    {TEMP("tempfail.example.org"), QUAR("example.net")},
	    POLICY_QUARANTINE, NULL, "DMARC policy of example.net: no aligned "
	    "SPF or DKIM pass", "DMARC policy quarantine", "example.net"},
	{"fail under p=none beats a pass", ENFORCE, NULL, NULL,
	    {PASS("example.com"), PNONE("example.org")}, POLICY_ACCEPT, NULL,
	    NULL, NULL, "example.org"},
	{"pass beats no record", ENFORCE, NULL, NULL,
	    {NOREC("example.org"), PASS("example.com")}, POLICY_ACCEPT, NULL,
	    NULL, NULL, "example.com"},
	{"equals: the first", ENFORCE, NULL, NULL,
	    {PASS("example.com"), PASS("example.net"), PASS("example.org")},
	    POLICY_ACCEPT, NULL, NULL, NULL, "example.com"},
	{"two rejects: the first named", ENFORCE, NULL, NULL,
	    {REJ("a.example"), REJ("b.example")}, POLICY_REJECT, "550 5.7.1 "
	    "Rejected by the DMARC policy of a.example: no aligned SPF or DKIM "
	    "pass", NULL, "DMARC policy reject", "a.example"},
};

static struct settings *
conf(const char *text)
{
	char buf[1024], err[256];
	struct settings *c;

	snprintf(buf, sizeof(buf), "authserv_id = \"mx.test.example\";\n%s",
	    text ? text : "");
	c = settings_load_string(buf, "test.conf", err, sizeof(err));
	if (c == NULL)
		fprintf(stderr, "config: %s\n", err);
	return c;
}

/* build - the case's results list, with the outcomes behind it in a */
static void
build(const struct pcase *c, struct results *rs, struct arena *a)
{
	results_init(rs, a);
	for (size_t i = 0; i < 4 && c->in[i].kind != R_END; i++) {
		const struct in *in = &c->in[i];
		struct result *r;

		switch (in->kind) {
		case R_DMARC: {
			struct dmarc_outcome *o = arena_alloc(a, sizeof(*o));

			o->result = in->res;
			o->policy = o->disposition = in->dis;
			o->temp_aligned = in->temp_aligned;
			str_copy(o->policy_domain, in->policy_domain,
			    sizeof(o->policy_domain));
			str_copy(o->reason, in->why, sizeof(o->reason));
			r = results_add(rs, "dmarc", dmarc_res_name(in->res),
			    NULL);
			results_prop(rs, r, "header", "from", in->domain, NULL);
			r->dmarc = o;
			break;
		}
		case R_FROM:
			r = results_add(rs, "dmarc", "permerror", in->why);
			r->from_error = in->from;
			break;
		case R_SPF: {
			struct spf_outcome *o = arena_alloc(a, sizeof(*o));

			o->result = SPF_RESULT_FAIL;
			r = results_add(rs, "spf", "fail", NULL);
			results_prop(rs, r, "smtp", "mailfrom", in->domain, NULL);
			r->spf = o;
			break;
		}
		case R_DKIM: {
			struct dkv_result *o = arena_alloc(a, sizeof(*o));

			o->result = DKV_RES_FAIL;
			str_copy(o->domain, in->domain, sizeof(o->domain));
			r = results_add(rs, "dkim", "fail", "body hash mismatch");
			results_prop(rs, r, "header", "d", in->domain, NULL);
			r->dkim = o;
			break;
		}
		case R_END:
			break;
		}
	}
}

static void
run(const struct pcase *c)
{
	struct settings *cfg = conf(c->conf);
	struct arena *a = arena_new();
	struct results rs;
	struct policy_input in;
	struct policy_decision d;
	char reply[512];

	if (!ok(cfg != NULL, "%s: config", c->name)) {
		arena_free(&a);
		return;
	}
	build(c, &rs, a);
	in.results = &rs;
	in.skipped = c->skipped;
	in.oversize = c->oversize;
	policy_decide(&in, cfg, a, &d);
	is_str(policy_action_name(d.action), policy_action_name(c->action),
	    "%s: action", c->name);
	if (d.smtp_rcode != NULL)
		snprintf(reply, sizeof(reply), "%s %s %s", d.smtp_rcode,
		    d.smtp_xcode ? d.smtp_xcode : "(null)",
		    d.smtp_text ? d.smtp_text : "(null)");
	is_str(d.smtp_rcode ? reply : NULL, c->reply, "%s: reply", c->name);
	is_str(d.quarantine_reason, c->quarantine, "%s: quarantine reason",
	    c->name);
	is_str(d.reason, c->reason, "%s: reason", c->name);
	is_str(d.acted_on ? results_prop_value(d.acted_on, "header", "from") :
	    NULL, c->acted_on, "%s: acted on", c->name);
	arena_free(&a);
	settings_unref(&cfg);
}

/* test_results - the list itself: order, properties, lookups, growth */
static void
test_results(void)
{
	struct arena *a = arena_new();
	struct results rs;
	struct result *r;
	const struct result *f;
	char name[32];
	int full = 0;

	results_init(&rs, a);
	is_int(rs.n, 0, "list: empty");
	ok(results_next(&rs, NULL, "spf") == NULL, "list: nothing to find");
	r = results_add(&rs, "spf", "pass", "permitted");
	results_prop(&rs, r, "smtp", "mailfrom", "a@example.org", NULL);
	r = results_add(&rs, "dkim", "none", NULL);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "d%d.example", i);
		r = results_add(&rs, "dkim", "pass", NULL);
		results_prop(&rs, r, "header", "d", name, NULL);
	}
	for (int i = 0; i < RESULTS_MAX_PROPS + 1; i++)
		full |= results_prop(&rs, r, "policy", "x", "y", "z");
	is_int(full, -1, "list: a result's properties are bounded");
	is_int(r->nprops, RESULTS_MAX_PROPS, "list: the bound is kept");
	is_int(rs.n, 102, "list: no bound on results");
	is_int(results_count(&rs, "dkim"), 101, "list: count by method");
	is_int(results_count(&rs, "dmarc"), 0, "list: count of none");
	f = results_next(&rs, NULL, "spf");
	ok(f != NULL && strcmp(f->reason, "permitted") == 0 &&
	    strcmp(results_prop_value(f, "smtp", "mailfrom"), "a@example.org") == 0,
	    "list: the first result and its property");
	ok(f != NULL && results_prop_value(f, "smtp", "helo") == NULL,
	    "list: a property it does not have");
	f = results_next(&rs, NULL, "dkim");
	ok(f != NULL && f->reason == NULL && strcmp(f->result, "none") == 0,
	    "list: dkim=none first");
	f = results_next(&rs, f, "dkim");
	ok(f != NULL && strcmp(results_prop_value(f, "header", "d"),
	    "d0.example") == 0, "list: then the signatures in order");
	ok(strcmp(results_prop_value(&rs.v[101], "header", "d"),
	    "d99.example") == 0, "list: the last one kept through growth");
	ok(results_next(&rs, &rs.v[101], "dkim") == NULL, "list: the end");
	arena_free(&a);
}

/* ---- the ARC override (policy.h): chains built by hand ----------------- */

struct seal {
	const char *d;      /* ARC-Seal d= */
	const char *aar;    /* ARC-Authentication-Results after "i=N;" */
};

struct dm {
	const char *from;   /* header.from */
	enum dmarc_policy dis;
	enum dmarc_res res;
	const char *org;    /* org_domain, "" not determined */
	int strict;         /* adkim=s aspf=s */
	int temp;           /* temp_aligned */
};

struct acase {
	const char *name;
	const char *conf;
	enum arc_res chain;
	struct seal seals[3];
	struct dm dmarc[2];
	/* the decision */
	enum policy_action action;
	const char *acted_on;
	const char *sealer;      /* of the first override, NULL none */
	const char *why;         /* its PolicyOverride */
	size_t noverrides;
	unsigned oldest_pass;    /* the chain's header.oldest-pass */
};

#define TRUST "arc = { trusted_sealers = [ \"lists.example.org\", " \
	"\"fwd.example.net\" ]; };"
#define AAR_DMARC "lists.example.org; spf=pass smtp.mailfrom=a@example.com;" \
	" dmarc=pass header.from=example.com"
#define DM_REJ(f) { f, DMARC_POLICY_REJECT, DMARC_RES_FAIL, f, 0, 0 }

static const struct acase acases[] = {
	{"arc: trusted sealer saw dmarc=pass: overridden", TRUST,
	    ARC_RES_PASS, {{"lists.example.org", AAR_DMARC}},
	    {DM_REJ("example.com")}, POLICY_ACCEPT, "example.com",
	    "lists.example.org", "trusted_forwarder", 1},
	{"arc: the same chain, sealer not trusted: rejected",
	    "arc = { trusted_sealers = [ \"other.example.org\" ]; };",
	    ARC_RES_PASS, {{"lists.example.org", AAR_DMARC}},
	    {DM_REJ("example.com")}, POLICY_REJECT, "example.com", NULL, NULL,
	    0},
	{"arc: no trusted sealers at all: rejected", NULL,
	    ARC_RES_PASS, {{"lists.example.org", AAR_DMARC}},
	    {DM_REJ("example.com")}, POLICY_REJECT, "example.com", NULL, NULL,
	    0},
	{"arc: chain fails: rejected", TRUST,
	    ARC_RES_FAIL, {{"lists.example.org", AAR_DMARC}},
	    {DM_REJ("example.com")}, POLICY_REJECT, "example.com", NULL, NULL,
	    0},
	{"arc: chain temperror: rejected", TRUST,
	    ARC_RES_TEMPERROR, {{"lists.example.org", AAR_DMARC}},
	    {DM_REJ("example.com")}, POLICY_REJECT, "example.com", NULL, NULL,
	    0},
	{"arc: trusted sealer's dmarc=pass for another domain: rejected",
	    TRUST, ARC_RES_PASS, {{"lists.example.org",
	    "lists.example.org; dmarc=pass header.from=example.net"}},
	    {DM_REJ("example.com")}, POLICY_REJECT, "example.com", NULL, NULL,
	    0},
	{"arc: trusted sealer's dmarc=fail: rejected", TRUST, ARC_RES_PASS,
	    {{"lists.example.org",
	    "lists.example.org; dmarc=fail header.from=example.com"}},
	    {DM_REJ("example.com")}, POLICY_REJECT, "example.com", NULL, NULL,
	    0},
	{"arc: aligned dkim=pass under the org domain: mailing_list", TRUST,
	    ARC_RES_PASS, {{"lists.example.org",
	    "lists.example.org; dkim=pass header.d=mail.example.com"}},
	    {DM_REJ("example.com")}, POLICY_ACCEPT, "example.com",
	    "lists.example.org", "mailing_list", 1},
	{"arc: dkim=pass of another domain: rejected", TRUST, ARC_RES_PASS,
	    {{"lists.example.org",
	    "lists.example.org; dkim=pass header.d=lists.example.org"}},
	    {DM_REJ("example.com")}, POLICY_REJECT, "example.com", NULL, NULL,
	    0},
	{"arc: dkim=pass of a subdomain under adkim=s: rejected", TRUST,
	    ARC_RES_PASS, {{"lists.example.org",
	    "lists.example.org; dkim=pass header.d=mail.example.com"}},
	    {{"example.com", DMARC_POLICY_REJECT, DMARC_RES_FAIL,
	    "example.com", 1, 0}}, POLICY_REJECT, "example.com", NULL, NULL,
	    0},
	{"arc: aligned spf=pass: mailing_list", TRUST, ARC_RES_PASS,
	    {{"lists.example.org",
	    "lists.example.org; spf=pass smtp.mailfrom=b@bounce.example.com"}},
	    {DM_REJ("example.com")}, POLICY_ACCEPT, "example.com",
	    "lists.example.org", "mailing_list", 1},
	{"arc: no org domain known: only the author domain aligns", TRUST,
	    ARC_RES_PASS, {{"lists.example.org",
	    "lists.example.org; spf=pass smtp.mailfrom=b@example.com"}},
	    {{"sub.example.com", DMARC_POLICY_REJECT, DMARC_RES_FAIL, "", 0,
	    0}}, POLICY_REJECT, "sub.example.com", NULL, NULL, 0},
	{"arc: an AAR that does not parse: rejected", TRUST, ARC_RES_PASS,
	    {{"lists.example.org", "lists.example.org; dmarc=pass header.from="}},
	    {DM_REJ("example.com")}, POLICY_REJECT, "example.com", NULL, NULL,
	    0},
	{"arc: untrusted i=2 above a trusted i=1: the trusted one speaks",
	    TRUST, ARC_RES_PASS, {{"lists.example.org", AAR_DMARC},
	    {"relay.example.biz", "relay.example.biz; dmarc=fail "
	    "header.from=example.com"}},
	    {DM_REJ("example.com")}, POLICY_ACCEPT, "example.com",
	    "lists.example.org", "trusted_forwarder", 1},
	{"arc: untrusted i=2 changed the message after the trusted i=1 "
	    "(oldest-pass=2): rejected", TRUST, ARC_RES_PASS,
	    {{"lists.example.org", AAR_DMARC},
	    {"relay.example.biz", "relay.example.biz; dmarc=fail "
	    "header.from=example.com"}},
	    {DM_REJ("example.com")}, POLICY_REJECT, "example.com", NULL, NULL,
	    0, 2},
	{"arc: a trusted i=2 after a change at i=2 (oldest-pass=2): it speaks",
	    TRUST, ARC_RES_PASS, {{"relay.example.biz", "x; none"},
	    {"lists.example.org", AAR_DMARC}},
	    {DM_REJ("example.com")}, POLICY_ACCEPT, "example.com",
	    "lists.example.org", "trusted_forwarder", 1, 2},
	{"arc: trusted i=1 and i=3, the message changed at i=2: i=3 speaks",
	    TRUST, ARC_RES_PASS, {{"lists.example.org", AAR_DMARC},
	    {"relay.example.biz", "x; none"},
	    {"fwd.example.net", "fwd.example.net; dkim=pass "
	    "header.d=example.com"}},
	    {DM_REJ("example.com")}, POLICY_ACCEPT, "example.com",
	    "fwd.example.net", "mailing_list", 1, 2},
	{"arc: untrusted i=2 claiming dmarc=pass above nothing trusted",
	    TRUST, ARC_RES_PASS, {{"relay.example.biz", "x; none"},
	    {"relay2.example.biz", "relay2.example.biz; dmarc=pass "
	    "header.from=example.com"}},
	    {DM_REJ("example.com")}, POLICY_REJECT, "example.com", NULL, NULL,
	    0},
	{"arc: the newest trusted instance speaks", TRUST, ARC_RES_PASS,
	    {{"lists.example.org", AAR_DMARC}, {"fwd.example.net",
	    "fwd.example.net; dkim=pass header.d=example.com"}},
	    {DM_REJ("example.com")}, POLICY_ACCEPT, "example.com",
	    "fwd.example.net", "mailing_list", 1},
	{"arc: the sealer list is dname-normalised",
	    "arc = { trusted_sealers = [ \"Lists.EXAMPLE.org.\" ]; };",
	    ARC_RES_PASS, {{"lists.example.org", AAR_DMARC}},
	    {DM_REJ("example.com")}, POLICY_ACCEPT, "example.com",
	    "lists.example.org", "trusted_forwarder", 1},
	{"arc: p=quarantine overridden: not held", TRUST, ARC_RES_PASS,
	    {{"lists.example.org", AAR_DMARC}},
	    {{"example.com", DMARC_POLICY_QUARANTINE, DMARC_RES_FAIL,
	    "example.com", 0, 0}}, POLICY_ACCEPT, "example.com",
	    "lists.example.org", "trusted_forwarder", 1},
	{"arc: p=none needs no override", TRUST, ARC_RES_PASS,
	    {{"lists.example.org", AAR_DMARC}},
	    {{"example.com", DMARC_POLICY_NONE, DMARC_RES_FAIL,
	    "example.com", 0, 0}}, POLICY_ACCEPT, "example.com", NULL, NULL,
	    0},
	{"arc: a failure that may be temporary is not overridden",
	    TRUST " policy = { on_temperror = \"tempfail\"; };", ARC_RES_PASS,
	    {{"lists.example.org", AAR_DMARC}},
	    {{"example.com", DMARC_POLICY_REJECT, DMARC_RES_FAIL,
	    "example.com", 0, 1}}, POLICY_TEMPFAIL, "example.com", NULL, NULL,
	    0},
	{"arc: two authors, one vouched for: the other acted on", TRUST,
	    ARC_RES_PASS, {{"lists.example.org", AAR_DMARC}},
	    {DM_REJ("example.com"), {"example.net", DMARC_POLICY_QUARANTINE,
	    DMARC_RES_FAIL, "example.net", 0, 0}}, POLICY_QUARANTINE,
	    "example.net", "lists.example.org", "trusted_forwarder", 1},
	{"arc: two authors, both vouched for: accepted", TRUST,
	    ARC_RES_PASS, {{"lists.example.org", "lists.example.org; "
	    "dmarc=pass header.from=example.com; dmarc=pass "
	    "header.from=example.net"}},
	    {DM_REJ("example.com"), DM_REJ("example.net")}, POLICY_ACCEPT,
	    "example.com", "lists.example.org", "trusted_forwarder", 2},
	{"arc: report-only still records the override", TRUST " " REPORT,
	    ARC_RES_PASS, {{"lists.example.org", AAR_DMARC}},
	    {DM_REJ("example.com")}, POLICY_ACCEPT, "example.com",
	    "lists.example.org", "trusted_forwarder", 1},
};

static void
run_arc(const struct acase *c)
{
	struct settings *cfg = conf(c->conf);
	struct arena *a = arena_new();
	struct arc_result *chain = arena_alloc(a, sizeof(*chain));
	struct results rs;
	struct policy_input in;
	struct policy_decision d;
	struct result *r;

	if (!ok(cfg != NULL, "%s: config", c->name)) {
		arena_free(&a);
		return;
	}
	memset(chain, 0, sizeof(*chain));
	results_init(&rs, a);
	for (size_t i = 0; i < 2 && c->dmarc[i].from != NULL; i++) {
		struct dmarc_outcome *o = arena_alloc(a, sizeof(*o));

		memset(o, 0, sizeof(*o));
		o->result = c->dmarc[i].res;
		o->policy = o->disposition = c->dmarc[i].dis;
		o->temp_aligned = c->dmarc[i].temp;
		o->record.adkim_strict = o->record.aspf_strict =
		    c->dmarc[i].strict;
		str_copy(o->policy_domain, c->dmarc[i].from,
		    sizeof(o->policy_domain));
		str_copy(o->org_domain, c->dmarc[i].org, sizeof(o->org_domain));
		r = results_add(&rs, "dmarc", dmarc_res_name(o->result), NULL);
		results_prop(&rs, r, "header", "from", c->dmarc[i].from, NULL);
		r->dmarc = o;
	}
	chain->result = c->chain;
	chain->oldest_pass = c->oldest_pass;
	for (size_t i = 0; i < 3 && c->seals[i].d != NULL; i++) {
		chain->n = (unsigned)i + 1;
		chain->inst[i].i = (unsigned)i + 1;
		chain->inst[i].cv = i ? ARC_RES_PASS : ARC_RES_NONE;
		str_copy(chain->inst[i].seal_domain, c->seals[i].d,
		    sizeof(chain->inst[i].seal_domain));
		chain->inst[i].aar = c->seals[i].aar;
	}
	r = results_add(&rs, "arc", arc_res_name(c->chain), NULL);
	r->arc = chain;
	in.results = &rs;
	in.skipped = in.oversize = NULL;
	policy_decide(&in, cfg, a, &d);
	is_str(policy_action_name(d.action), policy_action_name(c->action),
	    "%s: action", c->name);
	is_str(d.acted_on ? results_prop_value(d.acted_on, "header", "from") :
	    NULL, c->acted_on, "%s: acted on", c->name);
	is_int(d.noverrides, c->noverrides, "%s: overrides", c->name);
	is_str(d.noverrides ? d.overrides[0].sealer : NULL, c->sealer,
	    "%s: sealer", c->name);
	is_str(d.noverrides ? d.overrides[0].reason : NULL, c->why,
	    "%s: PolicyOverride", c->name);
	if (d.noverrides > 0) {
		ok(policy_overridden(&d, d.overrides[0].dmarc) ==
		    &d.overrides[0], "%s: policy_overridden finds it", c->name);
		if (c->action == POLICY_ACCEPT && c->noverrides ==
		    results_count(&rs, "dmarc"))
			ok(d.reason != NULL && strstr(d.reason, "overridden by "
			    "ARC (trusted sealer ") != NULL && d.smtp_rcode ==
			    NULL, "%s: reason \"%s\"", c->name,
			    d.reason ? d.reason : "(null)");
	}
	arena_free(&a);
	settings_unref(&cfg);
}

int
main(void)
{
	for (size_t i = 0; i < sizeof(acases) / sizeof(acases[0]); i++)
		run_arc(&acases[i]);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);
	is_str(policy_action_name(POLICY_ACCEPT), "accept", "name: accept");
	is_str(policy_action_name(POLICY_REJECT), "reject", "name: reject");
	is_str(policy_action_name(POLICY_QUARANTINE), "quarantine",
	    "name: quarantine");
	is_str(policy_action_name(POLICY_TEMPFAIL), "tempfail", "name: tempfail");
	test_results();
	return test_done("policy");
}
