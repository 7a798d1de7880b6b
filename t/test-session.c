/*
 * test-session.c - the message session end to end, offline: a table
 * resolver, the SPF checker, the DKIM verifier, DMARC with the system PSL
 * and configs from text. Each case is a message and what must come of it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "arc.h"
#include "authres.h"
#include "dkim.h"
#include "dmarc.h"
#include "dns.h"
#include "log.h"
#include "mailaddr.h"
#include "message.h"
#include "psl.h"
#include "report.h"
#include "results.h"
#include "session.h"
#include "settings.h"
#include "spf.h"
#include "stats.h"
#include "stats-snap.h"
#include "tap.h"
#include "util.h"

static struct session_env env;

static struct settings *
conf(const char *text)
{
	char err[256];
	struct settings *c = settings_load_string(text, "test.conf", err, sizeof(err));

	if (c == NULL)
		fprintf(stderr, "config: %s\n", err);
	return c;
}

struct msg {
	const char *name;
	const char *conf;
	const char *ip, *helo, *from, *auth;
	const char *headers[6][2];  /* no From given: "From: user@example.org" is added */
	/* expectations */
	enum session_action action;
	const char *ar;            /* exact header value (folds "\n\t"), "*" any, NULL none */
	const char *ar_has[3];     /* substrings of the unfolded header */
	const char *smtp;          /* "550 5.7.1" prefix of code + xcode, or NULL */
	const char *skipped;
	size_t ndelete;
	unsigned del[3];
};

/* iprev is off here (its own cases turn it on): the headers below are
 * the other methods' */
static const char *base =
    "authserv_id = \"mx.test.example\";\n"
    "trusted_networks = [ \"127.0.0.0/8\", \"10.0.0.0/8\" ];\n"
    "iprev = { enable = false; };\n";

static const struct msg cases[] = {
	{"spf pass, helo checked too", NULL, "192.0.2.10", "mail.example.org",
	    "<user@example.org>", NULL, {{"From", " user@example.org"}},
	    SESSION_ACCEPT,
	    "mx.test.example;\n\tspf=pass (192.0.2.10 is permitted by example.org)"
	    "\n\t    smtp.mailfrom=user@example.org;\n\tspf=pass (192.0.2.10 is permitted"
	    " by mail.example.org)\n\t    smtp.helo=mail.example.org;\n\tdkim=none;"
	    "\n\tdmarc=none (no DMARC record for example.org) header.from=example.org",
	    {NULL}, NULL, NULL, 0, {0}},
	{"null sender checks helo only", NULL, "192.0.2.10", "mail.example.org",
	    "<>", NULL, {{NULL, NULL}}, SESSION_ACCEPT, "*",
	    {"spf=pass (192.0.2.10 is permitted by mail.example.org) smtp.helo=mail.example.org;",
	     NULL}, NULL, NULL, 0, {0}},
	{"null sender, helo an address literal: spf=none for it", NULL,
	    "192.0.2.10", "[192.0.2.10]", "<>", NULL, {{NULL, NULL}},
	    SESSION_ACCEPT, "*",
	    {"spf=none (not a valid domain name: [192.0.2.10]) smtp.helo=\"[192.0.2.10]\";",
	     NULL}, NULL, NULL, 0, {0}},
	{"null sender, helo a single label: spf=none for it", NULL,
	    "192.0.2.10", "A2345678", "<>", NULL, {{NULL, NULL}},
	    SESSION_ACCEPT, "*",
	    {"spf=none (not a valid domain name: A2345678) smtp.helo=A2345678;",
	     NULL}, NULL, NULL, 0, {0}},
	{"forged ours removed, others kept", "spf = { helo = false; };",
	    "192.0.2.99", "x", "<user@example.org>", NULL,
	    {{"Authentication-Results", " other.example; spf=pass"},
	     {"Authentication-Results", " MX.TEST.EXAMPLE; spf=pass"},
	     {"Authentication-Results", " (c) mx.test.example; dkim=pass"}},
	    SESSION_ACCEPT, "*", {NULL}, NULL, NULL, 2, {2, 3}},
	{"trusted client skipped, headers untouched", NULL, "10.1.2.3", "x",
	    "<user@example.org>", NULL,
	    {{"Authentication-Results", " mx.test.example; spf=pass"}},
	    SESSION_ACCEPT, NULL, {NULL}, NULL, "trusted network", 0, {0}},
	{"ipv4-mapped trusted client", NULL, "::ffff:10.1.2.3", "x",
	    "<user@example.org>", NULL, {{NULL, NULL}},
	    SESSION_ACCEPT, NULL, {NULL}, NULL, "trusted network", 0, {0}},
	{"authenticated client skipped, forgery still removed", NULL,
	    "192.0.2.10", "x", "<user@example.com>", "alice",
	    {{"Authentication-Results", " mx.test.example; spf=pass"},
	     {"From", " ceo@example.com"}},
	    SESSION_ACCEPT, NULL, {NULL}, NULL, "authenticated", 1, {1}},
	{"authenticated client evaluated when asked", "skip_authenticated = false;"
	    "spf = { helo = false; };",
	    "192.0.2.10", "x", "<user@example.org>", "alice", {{NULL, NULL}},
	    SESSION_ACCEPT, "*", {"spf=pass (192.0.2.10 is permitted by example.org)"
	    " smtp.mailfrom=user@example.org;", NULL}, NULL, NULL, 0, {0}},
	{"methods off say none", "spf = { enable = false; }; dkim = { enable = false; };"
	    "dmarc = { enable = false; };", "192.0.2.10",
	    "mail.example.org", "<user@example.org>", NULL, {{NULL, NULL}},
	    SESSION_ACCEPT, "mx.test.example; none", {NULL}, NULL, NULL, 0, {0}},
	{"fail with comment", "spf = { helo = false; };", "192.0.2.9", "x",
	    "<user@example.org>", NULL, {{NULL, NULL}}, SESSION_ACCEPT, "*",
	    {"spf=fail (192.0.2.9 is not permitted by example.org) smtp.mailfrom=user@example.org;",
	     NULL}, NULL, NULL, 0, {0}},
	/* DMARC: example.com publishes p=reject, SPF passes only 192.0.2.20 */
	{"dmarc pass through aligned spf", "spf = { helo = false; };",
	    "192.0.2.20", "x", "<bounce@mail.example.com>", NULL,
	    {{"From", " Boss <ceo@example.com>"}}, SESSION_ACCEPT, "*",
	    {"dmarc=pass (p=reject dis=none) header.from=example.com", NULL},
	    NULL, NULL, 0, {0}},
	{"dmarc reject: 550 naming the domain", "spf = { helo = false; };",
	    "192.0.2.99", "x", "<bounce@example.com>", NULL,
	    {{"From", " ceo@example.com"}}, SESSION_REJECT, "*",
	    {"dmarc=fail (p=reject dis=reject) header.from=example.com", NULL},
	    "550 5.7.1 Rejected by the DMARC policy of example.com", NULL, 0, {0}},
	{"dmarc reject in report-only mode is delivered",
	    "policy = { mode = \"report-only\"; };", "192.0.2.99", "x",
	    "<bounce@example.com>", NULL, {{"From", " ceo@example.com"}},
	    SESSION_ACCEPT, "*", {"dmarc=fail (p=reject dis=reject)", NULL}, NULL,
	    NULL, 0, {0}},
	{"never_reject domain is delivered",
	    "policy = { never_reject = [ \"Example.COM\" ]; };", "192.0.2.99",
	    "x", "<bounce@example.com>", NULL, {{"From", " ceo@sub.example.com"}},
	    SESSION_ACCEPT, "*", {"dmarc=fail", NULL}, NULL, NULL, 0, {0}},
	{"dmarc quarantine is held", NULL, "192.0.2.99", "x",
	    "<bounce@example.net>", NULL, {{"From", " a@example.net"}},
	    SESSION_QUARANTINE, "*",
	    {"dmarc=fail (p=quarantine dis=quarantine) header.from=example.net", NULL},
	    NULL, NULL, 0, {0}},
	{"dmarc quarantine as header only", "policy = { quarantine = \"header\"; };",
	    "192.0.2.99", "x", "<bounce@example.net>", NULL,
	    {{"From", " a@example.net"}}, SESSION_ACCEPT, "*",
	    {"dis=quarantine", NULL}, NULL, NULL, 0, {0}},
	{"pct=0: reject becomes quarantine", NULL, "192.0.2.99", "x",
	    "<bounce@pct0.example.org>", NULL, {{"From", " a@pct0.example.org"}},
	    SESSION_QUARANTINE, "*", {"dmarc=fail (p=reject dis=quarantine)", NULL},
	    NULL, NULL, 0, {0}},
	{"several From headers are rejected", NULL, "192.0.2.20", "x",
	    "<bounce@example.com>", NULL,
	    {{"From", " a@example.com"}, {"From", " b@example.org"}},
	    SESSION_REJECT, "*", {"dmarc=permerror", NULL},
	    "550 5.7.1 Rejected: the message has several From headers", NULL, 0, {0}},
	/* RFC 7489 6.6.1: one From field, several author domains: each is
	 * evaluated, one dmarc= each, the strictest failure decides */
	{"two author domains in one From: each evaluated", NULL, "192.0.2.20",
	    "x", "<bounce@example.com>", NULL,
	    {{"From", " a@example.com, b@example.org, c@EXAMPLE.com"}},
	    SESSION_ACCEPT, "*", {"dmarc=pass (p=reject dis=none) header.from=example.com; "
	    "dmarc=none (no DMARC record for example.org) header.from=example.org", NULL},
	    NULL, NULL, 0, {0}},
	{"two author domains: the failing one (quarantine) applies", NULL, "192.0.2.20",
	    "x", "<bounce@example.com>", NULL,
	    {{"From", " a@example.com, Boss <b@example.net>"}},
	    SESSION_QUARANTINE, "*", {"dmarc=pass (p=reject dis=none) header.from=example.com; "
	    "dmarc=fail (p=quarantine dis=quarantine) header.from=example.net", NULL},
	    NULL, NULL, 0, {0}},
	{"two author domains, both fail: the strictest (reject) applies", NULL,
	    "192.0.2.99", "x", "<bounce@example.org>", NULL,
	    {{"From", " a@example.net, b@example.com"}},
	    SESSION_REJECT, "*", {"dmarc=fail (p=quarantine dis=quarantine) header.from=example.net; "
	    "dmarc=fail (p=reject dis=reject) header.from=example.com", NULL},
	    "550 5.7.1 Rejected by the DMARC policy of example.com", NULL, 0, {0}},
	{"an author without a domain in the list: permerror", NULL, "192.0.2.20",
	    "x", "<bounce@example.com>", NULL, {{"From", " a@example.com, undisclosed"}},
	    SESSION_REJECT, "*", {"dmarc=permerror (the From address has no domain)",
	    NULL}, "550 5.7.1", NULL, 0, {0}},
	{"more author domains than evaluated: permerror", NULL, "192.0.2.20",
	    "x", "<bounce@example.com>", NULL, {{"From", " a@a.example, b@b.example, "
	    "c@c.example, d@d.example, e@e.example, f@f.example, g@g.example, "
	    "h@h.example, i@i.example"}}, SESSION_REJECT, "*",
	    {"dmarc=permerror (the From header names more than 8 author domains)",
	    NULL}, "550 5.7.1", NULL, 0, {0}},
	{"DMARC record temperror: tempfail when asked",
	    "policy = { on_temperror = \"tempfail\"; };", "192.0.2.99", "x",
	    "<bounce@tempfail.example.org>", NULL,
	    {{"From", " a@tempfail.example.org"}}, SESSION_TEMPFAIL, "*",
	    {"dmarc=temperror", NULL}, "451 4.7.5", NULL, 0, {0}},
	{"aligned SPF temperror under p=reject: tempfail when asked",
	    "spf = { helo = false; }; policy = { on_temperror = \"tempfail\"; };",
	    "192.0.2.99", "x", "<bounce@spftemp.example.com>", NULL,
	    {{"From", " ceo@example.com"}}, SESSION_TEMPFAIL, "*",
	    {"spf=temperror", "dmarc=fail (p=reject dis=reject)", NULL}, "451 4.7.5",
	    NULL, 0, {0}},
	{"unaligned SPF temperror cannot save a failure: rejected",
	    "spf = { helo = false; }; policy = { on_temperror = \"tempfail\"; };",
	    "192.0.2.99", "x", "<bounce@spftemp.example.org>", NULL,
	    {{"From", " ceo@example.com"}}, SESSION_REJECT, "*",
	    {"spf=temperror", "dmarc=fail (p=reject dis=reject)", NULL},
	    "550 5.7.1", NULL, 0, {0}},
	{"null sender: the HELO identity is DMARC's SPF identity (RFC 7208 2.4)",
	    NULL, "192.0.2.20", "mail.example.com", "<>", NULL,
	    {{"From", " MAILER-DAEMON@example.com"}}, SESSION_ACCEPT, "*",
	    {"spf=pass (192.0.2.20 is permitted by mail.example.com) smtp.helo=mail.example.com",
	     "dmarc=pass (p=reject dis=none) header.from=example.com", NULL},
	    NULL, NULL, 0, {0}},
	{"null sender with a failing HELO under p=reject is rejected", NULL,
	    "192.0.2.99", "mail.example.com", "<>", NULL,
	    {{"From", " MAILER-DAEMON@example.com"}}, SESSION_REJECT, "*",
	    {"dmarc=fail (p=reject dis=reject)", NULL}, "550 5.7.1", NULL, 0, {0}},
	{"a HELO pass does not align when MAIL FROM is not null",
	    NULL, "192.0.2.20", "mail.example.com", "<bounce@other.example.org>",
	    NULL, {{"From", " ceo@example.com"}}, SESSION_REJECT, "*",
	    {"smtp.helo=mail.example.com", "dmarc=fail (p=reject dis=reject)", NULL},
	    "550 5.7.1", NULL, 0, {0}},
	{"DMARC record temperror: accepted by default", NULL, "192.0.2.99", "x",
	    "<bounce@tempfail.example.org>", NULL,
	    {{"From", " a@tempfail.example.org"}}, SESSION_ACCEPT, "*",
	    {"dmarc=temperror", NULL}, NULL, NULL, 0, {0}},
};

/* unfold - the header on one line, folds become one space */
static char *
unfold(const char *v)
{
	char *o = strdup(v), *w = o;

	for (const char *p = v; *p; p++) {
		if (*p == '\n') {
			while (p[1] == '\t' || p[1] == ' ')
				p++;
			*w++ = ' ';
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
	return o;
}

/* counter - a registered counter's value (0 when it is not registered) */
static unsigned long long
counter(const char *name)
{
	const struct stats_metric *m = stats_find(name);

	return m != NULL ? stats_value(m) : 0;
}

/* the labelled families a message moves (lib/session/metrics.c) */
static const char *const moved[] = {
	"results_total", "dkim_signatures_total", "dmarc_messages_total",
	"dmarc_overrides_total", NULL,
};

/* what the DMARC cases count: the policy that applied, the disposition
 * done, and why they differ (the cases not listed count nothing) */
static const struct {
	const char *name, *messages, *overrides;
} dmarc_counts[] = {
	{"dmarc pass through aligned spf",
	    "policy=\"reject\",disposition=\"none\"}+1", ""},
	{"dmarc reject: 550 naming the domain",
	    "policy=\"reject\",disposition=\"reject\"}+1", ""},
	{"dmarc reject in report-only mode is delivered",
	    "policy=\"reject\",disposition=\"none\"}+1",
	    "reason=\"local_policy\"}+1"},
	{"never_reject domain is delivered",
	    "policy=\"reject\",disposition=\"none\"}+1",
	    "reason=\"local_policy\"}+1"},
	{"dmarc quarantine is held",
	    "policy=\"quarantine\",disposition=\"quarantine\"}+1", ""},
	{"dmarc quarantine as header only",
	    "policy=\"quarantine\",disposition=\"quarantine\"}+1", ""},
	{"pct=0: reject becomes quarantine",
	    "policy=\"reject\",disposition=\"quarantine\"}+1",
	    "reason=\"sampled_out\"}+1"},
	{"two author domains in one From: each evaluated",
	    "policy=\"reject\",disposition=\"none\"}+1", ""},
	{"two author domains: the failing one (quarantine) applies",
	    "policy=\"quarantine\",disposition=\"quarantine\"}+1", ""},
	{"two author domains, both fail: the strictest (reject) applies",
	    "policy=\"reject\",disposition=\"reject\"}+1", ""},
	{"unaligned SPF temperror cannot save a failure: rejected",
	    "policy=\"reject\",disposition=\"reject\"}+1", ""},
	{"null sender: the HELO identity is DMARC's SPF identity (RFC 7208 2.4)",
	    "policy=\"reject\",disposition=\"none\"}+1", ""},
	{"null sender with a failing HELO under p=reject is rejected",
	    "policy=\"reject\",disposition=\"reject\"}+1", ""},
	{"a HELO pass does not align when MAIL FROM is not null",
	    "policy=\"reject\",disposition=\"reject\"}+1", ""},
	{"walk: legacy pct=0 is t=y",
	    "policy=\"reject\",disposition=\"quarantine\"}+1",
	    "reason=\"testing\"}+1"},
	{"walk: t=y",
	    "policy=\"reject\",disposition=\"quarantine\"}+1",
	    "reason=\"testing\"}+1"},
	{"walk: the org domain's record for a subdomain",
	    "policy=\"reject\",disposition=\"none\"}+1", ""},
};

/* check_counts - the labelled metrics m moved: results_total exactly the
 * header's results, the DMARC families as dmarc_counts[] says */
static void
check_counts(const struct msg *m, const struct session_verdict *v,
    const struct snap *before)
{
	char got[1024], want[1024] = "", one[128];
	const char *dm = "", *ov = "";
	size_t used = 0;

	if (v->authres != NULL) {
		char err[128];
		struct authres *ar = authres_parse(v->authres, err, sizeof(err));

		/* in the registry's order: method by method (spf, dkim, dmarc,
		 * arc, iprev), results in metrics.c's order */
		static const char *const meth[] = {"spf", "dkim", "dmarc", "arc", "iprev"};
		static const char *const res[] = {"pass", "fail", "softfail",
		    "neutral", "none", "policy", "temperror", "permerror"};

		for (size_t i = 0; ar != NULL && i < 5; i++)
			for (size_t j = 0; j < 8; j++) {
				unsigned n = 0;

				for (size_t k = 0; k < ar->nresults; k++)
					n += strcmp(ar->results[k].method, meth[i]) == 0 &&
					    strcmp(ar->results[k].result, res[j]) == 0;
				if (n == 0)
					continue;
				snprintf(one, sizeof(one), "method=\"%s\",result=\"%s\"}+%u",
				    meth[i], res[j], n);
				used += (size_t)snprintf(want + used, sizeof(want) - used,
				    "%s%s", used ? " " : "", one);
			}
		authres_free(&ar);
	}
	/* snap_diff writes "{labels}+N": compare without the braces' opening */
	snap_diff(before, "results_total", got, sizeof(got));
	{
		char *w = got, *r = got;

		for (; *r; r++)
			if (*r != '{')
				*w++ = *r;
		*w = '\0';
	}
	is_str(got, want, "%s: results_total moved by the header's results",
	    m->name);
	for (size_t i = 0; i < sizeof(dmarc_counts) / sizeof(dmarc_counts[0]); i++)
		if (strcmp(dmarc_counts[i].name, m->name) == 0) {
			dm = dmarc_counts[i].messages;
			ov = dmarc_counts[i].overrides;
		}
	snap_diff(before, "dmarc_messages_total", got, sizeof(got));
	is_str(got[0] ? got + 1 : got, dm, "%s: dmarc_messages_total", m->name);
	snap_diff(before, "dmarc_overrides_total", got, sizeof(got));
	is_str(got[0] ? got + 1 : got, ov, "%s: dmarc_overrides_total", m->name);
}

static void
run_case(const struct msg *m)
{
	char text[1024], name[64];
	unsigned long long total, action, skipped, evals;
	struct snap before;
	struct settings *cfg;
	struct session *s;
	const struct session_verdict *v;
	int have_from = 0;

	snprintf(text, sizeof(text), "%s%s", base, m->conf ? m->conf : "");
	cfg = conf(text);
	if (!ok(cfg != NULL, "%s: config", m->name))
		return;
	s = session_new(&env, cfg);
	settings_unref(&cfg);
	session_connect(s, "client.example", m->ip);
	session_helo(s, m->helo);
	session_mail_from(s, m->from);
	if (m->auth)
		session_macro(s, "{auth_authen}", m->auth);
	session_rcpt(s, "<rcpt@test.example>");
	for (int i = 0; i < 6 && m->headers[i][0] != NULL; i++) {
		session_header(s, m->headers[i][0], m->headers[i][1]);
		have_from |= strcmp(m->headers[i][0], "From") == 0;
	}
	if (!have_from)
		session_header(s, "From", " user@example.org");
	session_eoh(s);
	session_body(s, (const unsigned char *)"hello\r\n", 7);
	snprintf(name, sizeof(name), "messages_%s_total",
	    session_action_name(m->action));
	total = counter("messages_total");
	action = counter(name);
	skipped = counter("messages_skipped_total");
	evals = counter("message_eval_microseconds");
	snap_take(&before, moved);
	v = session_eom(s);
	check_counts(m, v, &before);
	is_str(session_action_name(v->action), session_action_name(m->action),
	    "%s: action", m->name);
	is_int(counter("messages_total"), total + 1, "%s: counted", m->name);
	is_int(counter(name), action + 1, "%s: counted as %s", m->name,
	    session_action_name(m->action));
	is_int(counter("messages_skipped_total"), skipped + (m->skipped != NULL),
	    "%s: counted as skipped or not", m->name);
	is_int(counter("message_eval_microseconds"), evals + 1,
	    "%s: evaluation time observed", m->name);
	if (m->ar == NULL)
		ok(v->authres == NULL, "%s: no header", m->name);
	else if (strcmp(m->ar, "*") != 0)
		is_str(v->authres, m->ar, "%s: header", m->name);
	for (int i = 0; i < 3 && m->ar_has[i] != NULL; i++) {
		char *u = v->authres ? unfold(v->authres) : NULL;

		ok(u != NULL && strstr(u, m->ar_has[i]) != NULL,
		    "%s: header has \"%s\" (got \"%s\")", m->name, m->ar_has[i],
		    u ? u : "(none)");
		free(u);
	}
	if (m->smtp != NULL) {
		char got[512];

		snprintf(got, sizeof(got), "%s %s %s", v->smtp_rcode ? v->smtp_rcode : "",
		    v->smtp_xcode ? v->smtp_xcode : "", v->smtp_text ? v->smtp_text : "");
		ok(strncmp(got, m->smtp, strlen(m->smtp)) == 0,
		    "%s: reply \"%s\" starts with \"%s\"", m->name, got, m->smtp);
	}
	is_str(v->skipped, m->skipped, "%s: skipped", m->name);
	is_int(v->nar_delete, m->ndelete, "%s: deletions", m->name);
	for (size_t i = 0; i < m->ndelete && i < v->nar_delete; i++)
		is_int(v->ar_delete[i], m->del[i], "%s: deletion %zu", m->name, i);
	if (v->authres != NULL) {
		char err[128];
		struct authres *ar = authres_parse(v->authres, err, sizeof(err));

		ok(ar != NULL, "%s: our header parses (%s)", m->name, ar ? "" : err);
		authres_free(&ar);
	}
	ok(strstr(session_log_line(s, 1.5), "action=") != NULL, "%s: log line",
	    m->name);
	/* a second message on the same connection starts clean */
	session_reset(s);
	session_free(&s);
	ok(s == NULL, "%s: session_free clears", m->name);
}

static void
test_limits(void)
{
	struct settings *cfg = conf(base);
	struct settings *rej = conf("authserv_id = \"mx.test.example\";\n"
	    "policy = { on_oversize = \"reject\"; };");
	const struct session_verdict *v;
	struct session *s;
	char *big;
	int rc = 0;

	if (cfg == NULL || rej == NULL)
		return;
	/* over the header count: refused (tempfail by default), and every
	 * forgery of ours still found, past the limit too */
	s = session_new(&env, cfg);
	session_connect(s, NULL, "192.0.2.10");
	session_mail_from(s, "<user@example.org>");
	session_header(s, "From", " user@example.org");
	for (int i = 0; i < SESSION_MAX_HEADERS + 5; i++)
		rc |= session_header(s, "X-Many", " v");
	session_header(s, "Authentication-Results", " mx.test.example; dkim=pass");
	is_int(rc, -1, "header count limit reported");
	v = session_eom(s);
	is_int(v->action, SESSION_TEMPFAIL, "over the header limit: tempfail");
	is_str(v->smtp_rcode, "451", "over the header limit: 451");
	is_int(v->nar_delete, 1, "forgery past the header limit still removed");
	session_free(&s);

	/* 65 forgeries (a table of 64 kept the 65th) within the limits */
	s = session_new(&env, cfg);
	session_connect(s, NULL, "192.0.2.10");
	session_mail_from(s, "<user@example.org>");
	session_header(s, "From", " user@example.org");
	for (int i = 0; i < 65; i++)
		session_header(s, "Authentication-Results",
		    " mx.test.example; dkim=pass; dmarc=pass");
	v = session_eom(s);
	is_int(v->nar_delete, 65, "65 forgeries: all 65 removed");
	ok(v->nar_delete == 65 && v->ar_delete[64] == 65,
	    "65 forgeries: the 65th by its index");
	is_int(v->action, SESSION_ACCEPT, "65 forgeries: delivered (cleaned)");
	session_free(&s);

	/* a second From after 999 padding fields (past the count limit):
	 * counted, and the several-From reject wins over the oversize
	 * tempfail (every field was counted: that answer is final) */
	s = session_new(&env, cfg);
	session_connect(s, NULL, "192.0.2.10");
	session_mail_from(s, "<user@example.org>");
	session_header(s, "From", " user@example.org");
	for (int i = 0; i < 999; i++)
		session_header(s, "X-Pad", " v");
	session_header(s, "From", " ceo@example.com");
	v = session_eom(s);
	is_str(v->reason, "the message has several From headers",
	    "From past the limit: counted");
	is_int(v->action, SESSION_REJECT, "From past the limit: several From, reject");
	is_str(v->smtp_rcode, "550", "From past the limit: 550");
	session_free(&s);

	/* oversize with one good From: on_oversize = reject gives 552 */
	s = session_new(&env, rej);
	session_connect(s, NULL, "192.0.2.10");
	session_mail_from(s, "<user@example.org>");
	session_header(s, "From", " user@example.org");
	for (int i = 0; i < 1000; i++)
		session_header(s, "X-Pad", " v");
	v = session_eom(s);
	is_int(v->action, SESSION_REJECT, "on_oversize reject: reject");
	is_str(v->smtp_rcode, "552", "on_oversize reject: 552");
	session_free(&s);

	/* 1 MB of header bytes, then a forgery and the only From */
	s = session_new(&env, cfg);
	big = xmalloc(200 * 1024 + 2);
	memset(big, 'x', 200 * 1024 + 1);
	big[0] = ' ';
	big[200 * 1024 + 1] = '\0';
	session_connect(s, NULL, "192.0.2.10");
	session_mail_from(s, "<user@example.org>");
	for (int i = 0; i < 6; i++)
		session_header(s, "X-Big", big);
	session_header(s, "Authentication-Results", " mx.test.example; dmarc=pass");
	session_header(s, "From", " user@example.org");
	v = session_eom(s);
	is_int(v->nar_delete, 1, "forgery past 1 MB of headers removed");
	ok(results_next(v->results, NULL, "dmarc") == NULL,
	    "From past 1 MB of headers counted (no From error)");
	is_int(v->action, SESSION_TEMPFAIL, "past 1 MB of headers: tempfail");
	free(big);
	session_free(&s);

	/* just under the limits: evaluated as usual */
	s = session_new(&env, cfg);
	session_connect(s, NULL, "192.0.2.10");
	session_mail_from(s, "<user@example.org>");
	session_header(s, "From", " user@example.org");
	rc = 0;
	for (int i = 0; i < SESSION_MAX_HEADERS - 1; i++)
		rc |= session_header(s, "X-Many", " v");
	is_int(rc, 0, "1000 fields: within the limit");
	v = session_eom(s);
	ok(v->authres != NULL && v->action == SESSION_ACCEPT,
	    "1000 fields: evaluated and accepted");
	session_free(&s);
	settings_unref(&cfg);
	settings_unref(&rej);
}

/* RFC 5322 4.5.3: white space before the colon ("From :") is a header
 * field readers must accept: the message reader of -t sees it as a header
 * (not the start of the body), and the session counts "From " (a name an
 * MTA may pass with its white space) as a From field, so a second author
 * written that way is a second From, as the milter sees it */
static void
test_obsolete_colon(void)
{
	static const char msg[] =
	    "From: user@example.org\r\n"
	    "Subject : hello\r\n"
	    "From\t : other@example.net\r\n"
	    "Authentication-Results : mx.test.example; dmarc=pass\r\n"
	    "\r\n"
	    "body\r\n";
	struct settings *cfg = conf(base);
	const struct session_verdict *v;
	struct session *s;
	const struct result *r;
	char err[256];
	FILE *f;

	if (cfg == NULL)
		return;
	s = session_new(&env, cfg);
	settings_unref(&cfg);
	session_connect(s, NULL, "192.0.2.10");
	session_helo(s, "mail.example.org");
	session_mail_from(s, "<user@example.org>");
	f = fmemopen((void *)msg, sizeof(msg) - 1, "r");
	ok(f != NULL && message_feed(s, f, err, sizeof(err)) == 0,
	    "obsolete colon: message read");
	if (f != NULL)
		fclose(f);
	v = session_eom(s);
	is_str(v->reason, "the message has several From headers",
	    "obsolete colon: \"From :\" is a second From field");
	r = results_next(v->results, NULL, "dmarc");
	ok(r != NULL && r->from_error == MAILADDR_MULTIPLE &&
	    strcmp(r->result, "permerror") == 0 && r->dmarc == NULL,
	    "obsolete colon: several From, a dmarc permerror");
	is_int(v->nar_delete, 1, "obsolete colon: our forged A-R is removed");
	session_free(&s);

	/* the name as an MTA may pass it, white space and all */
	cfg = conf(base);
	s = session_new(&env, cfg);
	settings_unref(&cfg);
	session_connect(s, NULL, "192.0.2.10");
	session_mail_from(s, "<user@example.org>");
	session_header(s, "From", " user@example.org");
	session_header(s, "From ", " other@example.net");
	v = session_eom(s);
	is_str(v->reason, "the message has several From headers",
	    "name \"From \" from the MTA counts as From");
	session_free(&s);
}

static void
test_envelope(void)
{
	static const struct {
		const char *arg, *want;
	} cases[] = {
		{"<user@example.org>", "smtp.mailfrom=user@example.org"},
		{"<@relay.example:user@example.org>", "smtp.mailfrom=user@example.org"},
		{"<\"odd user\"@example.org>", "smtp.mailfrom=\"\\\"odd user\\\"@example.org\""},
	};
	struct settings *cfg = conf("authserv_id = \"mx.test.example\"; spf = { helo = false; };");

	if (cfg == NULL)
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct session *s = session_new(&env, cfg);
		const struct session_verdict *v;
		const struct result *r;

		session_connect(s, NULL, "192.0.2.10");
		session_helo(s, "x");
		session_mail_from(s, cases[i].arg);
		session_header(s, "From", " user@example.org");
		v = session_eom(s);
		r = results_next(v->results, NULL, "spf");
		ok(v->authres != NULL && r != NULL && r->spf != NULL &&
		    results_prop_value(r, "smtp", "mailfrom") != NULL,
		    "envelope %s evaluated", cases[i].arg);
		ok(v->authres != NULL && strstr(v->authres, cases[i].want) != NULL,
		    "envelope %s: header has %s: %s", cases[i].arg, cases[i].want,
		    v->authres ? v->authres : "(none)");
		session_free(&s);
	}
	settings_unref(&cfg);
}

/* test_signed - a signed message read from a file through the whole
 * session: the DKIM key lookups happen while the headers end, so this
 * catches a DNS budget that is not yet set when they do (the RFC 8463
 * A.3 example, keys from the same data set) */
static void
test_signed(void)
{
	char path[1024], line[2048], err[256], diff[256];
	struct snap before;
	struct settings *cfg;
	struct session *s;
	const struct session_verdict *v;
	const struct result *r;
	FILE *f, *keys;
	char *u;

	test_data(path, sizeof(path), "dkim/go-msgauth/dns-records.tsv");
	if (!ok((keys = fopen(path, "r")) != NULL, "open %s", path))
		return;
	while (fgets(line, sizeof(line), keys) != NULL) {
		char *tab = strchr(line, '\t'), *end;

		if (line[0] == '#' || tab == NULL || strncmp(line, "name\t", 5) == 0)
			continue;
		*tab++ = '\0';
		end = strchr(tab, '\t');
		if (end != NULL)
			*end = '\0';
		tab[strcspn(tab, "\r\n")] = '\0';
		dns_table_add_text(env.dns, line, DNS_T_TXT, tab);
	}
	fclose(keys);
	test_data(path, sizeof(path),
	    "dkim/go-msgauth/rfc8463-appendix-a3-signed.eml");
	if (!ok((f = fopen(path, "r")) != NULL, "open %s", path))
		return;
	cfg = conf("authserv_id = \"mx.test.example\"; spf = { helo = false; };"
	    "policy = { dns_budget_ms = 5000; };");
	s = session_new(&env, cfg);
	settings_unref(&cfg);
	session_connect(s, NULL, "192.0.2.99");
	session_helo(s, "x");
	session_mail_from(s, "<joe@football.example.com>");
	is_int(message_feed(s, f, err, sizeof(err)), 0, "signed message read");
	fclose(f);
	snap_take(&before, moved);
	v = session_eom(s);
	is_int(results_count(v->results, "dkim"), 2, "two signatures");
	/* RFC 8463 A.3: an RSA key of 1024 bits and an Ed25519 key */
	is_str(snap_diff(&before, "dkim_signatures_total", diff, sizeof(diff)),
	    "{algorithm=\"rsa-sha256\",key_bits=\"1024\"}+1 "
	    "{algorithm=\"ed25519-sha256\",key_bits=\"256\"}+1",
	    "dkim_signatures_total: by algorithm and key size");
	r = results_next(v->results, results_next(v->results, NULL, "dkim"),
	    "dkim");
	u = v->authres ? strdup(v->authres) : NULL;
	ok(u != NULL && strstr(u, "dkim=pass (ed25519 key) header.d=football.example.com") != NULL,
	    "ed25519 signature passes: %s", u ? u : "(none)");
	ok(u != NULL && strstr(u, "header.a=rsa-sha256") != NULL &&
	    r != NULL && r->dkim != NULL && r->dkim->result == DKV_RES_PASS,
	    "rsa signature passes");
	free(u);
	session_free(&s);
}

/* test_log_line - the whole line for a few messages, byte for byte: it
 * is built from the results list, the author domains and the verdict */
static void
test_log_line(void)
{
	static const struct {
		const char *name, *conf, *ip, *helo, *from, *qid, *fromhdr;
		int pad;
		const char *line;
	} cases[] = {
		{"spf, dkim none, dmarc none", "", "192.0.2.10",
		    "mail.example.org", "<user@example.org>", "4XyZ",
		    " user@example.org", 0,
		    "qid=4XyZ client=192.0.2.10 helo=mail.example.org "
		    "from=user@example.org spf=pass spf_helo=pass dkim=none "
		    "header_from=example.org dmarc=none policy=unset dis=unset "
		    "dmarc_discovery=psl ar_removed=0 action=accept ms=1.5"},
		{"two authors, the quarantine acted on", "spf = { helo = false; };",
		    "192.0.2.20", "x y", "<bounce@example.com>", NULL,
		    " a@example.com, Boss <b@example.net>", 0,
		    "qid=- client=192.0.2.20 helo=\"x y\" from=bounce@example.com "
		    "spf=pass spf_helo=- dkim=none header_from=example.com,"
		    "example.net dmarc_authors=pass:example.com,fail:example.net "
		    "acted_on=example.net dmarc=fail policy=quarantine "
		    "dis=quarantine dmarc_discovery=psl "
		    "reason=\"DMARC policy quarantine\" "
		    "ar_removed=0 action=quarantine ms=1.5"},
		{"two authors, DMARC off", "dmarc = { enable = false; };"
		    "spf = { enable = false; };", "192.0.2.20", "x", "<>", NULL,
		    " a@example.com, b@example.net", 0,
		    "qid=- client=192.0.2.20 helo=x from=\"\" dkim=none "
		    "header_from=example.com,example.net acted_on=example.com "
		    "ar_removed=0 action=accept ms=1.5"},
		{"trusted", "", "10.0.0.1", "x", "<a@example.com>", NULL,
		    " a@example.com", 0,
		    "qid=- client=10.0.0.1 helo=x from=a@example.com "
		    "skipped=\"trusted network\" ar_removed=0 action=accept ms=1.5"},
		{"several From", "", "192.0.2.20", "x", "<a@example.com>", NULL,
		    NULL, 0,
		    "qid=- client=192.0.2.20 helo=x from=a@example.com spf=pass "
		    "spf_helo=- dkim=none reason=\"the message has several From "
		    "headers\" ar_removed=0 action=reject ms=1.5"},
		{"oversize", "", "192.0.2.20", "x", "<a@example.com>", NULL,
		    " a@example.com", SESSION_MAX_HEADERS,
		    "qid=- client=192.0.2.20 helo=x from=a@example.com "
		    "reason=\"more than 1000 header fields or 1048576 bytes of "
		    "them\" ar_removed=0 action=tempfail ms=1.5"},
	};
	char text[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct settings *cfg;
		struct session *s;

		snprintf(text, sizeof(text), "%s%s", base, cases[i].conf);
		if ((cfg = conf(text)) == NULL)
			continue;
		s = session_new(&env, cfg);
		settings_unref(&cfg);
		session_connect(s, NULL, cases[i].ip);
		session_helo(s, cases[i].helo);
		session_mail_from(s, cases[i].from);
		if (cases[i].qid != NULL)
			session_macro(s, "i", cases[i].qid);
		if (cases[i].fromhdr != NULL) {
			session_header(s, "From", cases[i].fromhdr);
		} else {
			session_header(s, "From", " a@example.com");
			session_header(s, "From", " b@example.com");
		}
		for (int j = 0; j < cases[i].pad; j++)
			session_header(s, "X-Pad", " v");
		session_eoh(s);
		session_eom(s);
		is_str(session_log_line(s, 1.5), cases[i].line, "log line: %s",
		    cases[i].name);
		session_free(&s);
	}
}

/* test_log_value - the values of the log line (log.h) */
static void
test_log_value(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"example.org", "example.org"},
		{"", "\"\""},
		{"a b", "\"a b\""},
		{"a=b", "\"a=b\""},
		{"say \"hi\"", "\"say ?hi?\""},
		{"tab\there", "\"tab?here\""},
		{"line\r\nbreak", "\"line??break\""},
		{"caf\xc3\xa9", "caf\xc3\xa9"},
	};
	char buf[LOG_VALUE_SIZE], big[300], want[LOG_VALUE_SIZE], small[6];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_str(log_value(cases[i].in, buf, sizeof(buf)), cases[i].out,
		    "log_value \"%s\"", cases[i].out);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memset(want, 'x', LOG_VALUE_MAX);
	want[LOG_VALUE_MAX] = '\0';
	is_str(log_value(big, buf, sizeof(buf)), want, "log_value: cut at %d",
	    LOG_VALUE_MAX);
	big[250] = ' ';
	is_str(log_value(big, buf, sizeof(buf)), want,
	    "log_value: what is cut off does not quote");
	big[10] = ' ';
	ok(strlen(log_value(big, buf, sizeof(buf))) == LOG_VALUE_MAX + 2 &&
	    buf[0] == '"' && buf[LOG_VALUE_MAX + 1] == '"',
	    "log_value: quoted and cut fits LOG_VALUE_SIZE");
	is_str(log_value("a b c d", small, sizeof(small)), "\"a b\"",
	    "log_value: a small buffer keeps the quotes");
	is_str(log_value("abcdefgh", small, sizeof(small)), "abcde",
	    "log_value: a small buffer, unquoted");
}

/* test_env_stats - the exit line's pairs come from the stats registry */
static void
test_env_stats(void)
{
	char buf[4096], want[128];
	const struct stats_metric *m = stats_find("messages_total");

	session_env_stats(&env, buf, sizeof(buf));
	snprintf(want, sizeof(want), "messages_total=%llu ",
	    m != NULL ? (unsigned long long)stats_value(m) : 0ULL);
	ok(m != NULL && stats_value(m) > 0 && strstr(buf, want) != NULL,
	    "env stats: %s in \"%s\"", want, buf);
	ok(strstr(buf, "messages_reject_total=") != NULL &&
	    strstr(buf, "messages_skipped_total=") != NULL &&
	    strstr(buf, "message_eval_microseconds_count=") != NULL,
	    "env stats: the session's counters and histogram");
	ok(strstr(buf, "spf_checks_pass_total=") != NULL,
	    "env stats: the methods' counters too");
	session_env_stats(&env, buf, 40);
	ok(strlen(buf) < 40 && buf[0] != ' ' && strchr(buf, '=') != NULL,
	    "env stats: cut to whole pairs: \"%s\"", buf);
}

/* the same session with the tree-walk checker (dmarc.discovery's
 * default), and the settings reaching session_env_open() */
static const struct msg walk_cases[] = {
	{"walk: legacy pct=0 is t=y", NULL, "192.0.2.99", "x",
	    "<bounce@pct0.example.org>", NULL, {{"From", " a@pct0.example.org"}},
	    SESSION_QUARANTINE, "*",
	    {"dmarc=fail (p=reject t=y dis=quarantine)", NULL}, NULL, NULL, 0,
	    {0}},
	{"walk: t=y", NULL, "192.0.2.99", "x", "<bounce@testing.example.org>",
	    NULL, {{"From", " a@testing.example.org"}}, SESSION_QUARANTINE, "*",
	    {"dmarc=fail (p=reject t=y dis=quarantine)", NULL}, NULL, NULL, 0,
	    {0}},
	{"walk: the org domain's record for a subdomain", NULL, "192.0.2.20",
	    "x", "<bounce@mail.example.com>", NULL,
	    {{"From", " a@mail.example.com"}}, SESSION_ACCEPT, "*",
	    {"dmarc=pass (p=reject dis=none) header.from=mail.example.com",
	    NULL}, NULL, NULL, 0, {0}},
	{"walk: a DNS failure above is temperror", NULL, "192.0.2.99", "x",
	    "<bounce@a.tempfail.example.org>", NULL,
	    {{"From", " a@a.tempfail.example.org"}}, SESSION_ACCEPT, "*",
	    {"dmarc=temperror", NULL}, NULL, NULL, 0, {0}},
};

static void
test_treewalk(void)
{
	struct dmarc_checker *psl_checker = env.dmarc;
	struct session_env *e;
	struct settings *cfg;
	struct session *s;
	char err[256];

	dns_table_add_text(env.dns, "_dmarc.testing.example.org", DNS_T_TXT,
	    "v=DMARC1; p=reject; t=y");
	env.dmarc = dmarc_checker_new(env.dns, NULL, err, sizeof(err));
	if (!ok(env.dmarc != NULL, "walk checker: %s", err))
		goto out;
	for (size_t i = 0; i < sizeof(walk_cases) / sizeof(walk_cases[0]); i++)
		run_case(&walk_cases[i]);
	/* the log line names the discovery */
	if ((cfg = conf(base)) != NULL) {
		s = session_new(&env, cfg);
		settings_unref(&cfg);
		session_connect(s, NULL, "192.0.2.99");
		session_helo(s, "x");
		session_mail_from(s, "<bounce@testing.example.org>");
		session_header(s, "From", " a@testing.example.org");
		session_eoh(s);
		session_eom(s);
		ok(strstr(session_log_line(s, 1.5), " dmarc=fail policy=reject "
		    "dis=quarantine dmarc_discovery=treewalk ") != NULL,
		    "walk: log line \"%s\"", session_log_line(s, 1.5));
		session_free(&s);
	}
	dmarc_checker_free(&env.dmarc);
out:
	env.dmarc = psl_checker;

	/* dmarc.discovery reaches the checker; the tree walk reads no PSL */
	cfg = conf("dns = { nameservers = [ \"127.0.0.1\" ]; };\n"
	    "dmarc = { psl_file = \"/nonexistent/psl.dat\"; };\n");
	e = cfg ? session_env_open(cfg, err, sizeof(err)) : NULL;
	if (ok(e != NULL, "env: treewalk opens without the PSL file (%s)",
	    e ? "ok" : err)) {
		is_int(dmarc_checker_discovery(e->dmarc),
		    DMARC_DISCOVERY_TREEWALK, "env: treewalk by default");
		is_int(session_env_reload(e, cfg, err, sizeof(err)), 0,
		    "env: a reload reads no PSL in treewalk mode");
	}
	session_env_close(&e);
	settings_unref(&cfg);
	cfg = conf("dns = { nameservers = [ \"127.0.0.1\" ]; };\n"
	    "dmarc = { discovery = \"psl\"; "
	    "psl_file = \"/nonexistent/psl.dat\"; };\n");
	e = cfg ? session_env_open(cfg, err, sizeof(err)) : NULL;
	ok(e == NULL && strstr(err, "/nonexistent/psl.dat") != NULL,
	    "env: psl mode needs its file (%s)", err);
	session_env_close(&e);
	settings_unref(&cfg);
	cfg = conf("dns = { nameservers = [ \"127.0.0.1\" ]; };\n"
	    "dmarc = { discovery = \"psl\"; psl_file = \"" PSL_PATH "\"; };\n");
	e = cfg ? session_env_open(cfg, err, sizeof(err)) : NULL;
	if (ok(e != NULL, "env: psl mode with its file (%s)", e ? "ok" : err))
		is_int(dmarc_checker_discovery(e->dmarc), DMARC_DISCOVERY_PSL,
		    "env: dmarc.discovery = psl reaches the checker");
	session_env_close(&e);
	settings_unref(&cfg);
}

/* ---- ARC: a list seals, our MX verifies and overrides ------------------ */

static char arc_dir[] = "/tmp/test-session-arc-XXXXXX";
static char arc_key[300];

/* arc_keys - one RSA key in arc_dir, published for lists.example.org and
 * mx.test.example at selector sel */
static int
arc_keys(void)
{
	unsigned char der[2048], *p = der;
	char b[4096], rec[4200];
	EVP_PKEY *pk;
	FILE *f;
	int l;

	if (mkdtemp(arc_dir) == NULL ||
	    (pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)) == NULL)
		return -1;
	snprintf(arc_key, sizeof(arc_key), "%s/arc.pem", arc_dir);
	if ((f = fopen(arc_key, "w")) == NULL)
		return -1;
	PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	l = i2d_PUBKEY(pk, &p);
	EVP_PKEY_free(pk);
	if (l <= 0)
		return -1;
	EVP_EncodeBlock((unsigned char *)b, der, l);
	snprintf(rec, sizeof(rec), "v=DKIM1; k=rsa; p=%s", b);
	dns_table_add_text(env.dns, "sel._domainkey.lists.example.org",
	    DNS_T_TXT, rec);
	dns_table_add_text(env.dns, "sel._domainkey.mx.test.example",
	    DNS_T_TXT, rec);
	return 0;
}

/* a message as the MTA hands it: fields (name, value with its leading
 * space, folds kept) and a body */
struct amsg {
	char *name[24], *value[24];
	size_t n;
	char body[256];
};

static void
amsg_add(struct amsg *m, const char *name, const char *value)
{
	m->name[m->n] = strdup(name);
	m->value[m->n] = strdup(value);
	m->n++;
}

/* amsg_top - "Name: value" fields of a verdict's ARC set, in order, put
 * above everything else (as the milter inserts them) */
static void
amsg_top(struct amsg *m, const char *const *fields, size_t nf)
{
	memmove(&m->name[nf], &m->name[0], m->n * sizeof(m->name[0]));
	memmove(&m->value[nf], &m->value[0], m->n * sizeof(m->value[0]));
	for (size_t i = 0; i < nf; i++) {
		const char *c = strchr(fields[i], ':');

		m->name[i] = strndup(fields[i], (size_t)(c - fields[i]));
		m->value[i] = strdup(c + 1);
	}
	m->n += nf;
}

static void
amsg_free(struct amsg *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->name[i]);
		free(m->value[i]);
	}
	m->n = 0;
}

/* arc_run - one message through a session; the verdict stays valid
 * until *sp is freed */
static const struct session_verdict *
arc_run(struct session **sp, const char *conftext, const char *ip,
    const char *mailfrom, const struct amsg *m)
{
	struct settings *cfg = conf(conftext);
	const struct session_verdict *v;
	struct session *s;

	if (cfg == NULL)
		return NULL;
	s = session_new(&env, cfg);
	settings_unref(&cfg);
	session_connect(s, "client.example", ip);
	session_helo(s, "mail.example.net");
	session_mail_from(s, mailfrom);
	session_rcpt(s, "<rcpt@test.example>");
	for (size_t i = 0; i < m->n; i++)
		session_header(s, m->name[i], m->value[i]);
	session_eoh(s);
	session_body(s, (const unsigned char *)m->body, strlen(m->body));
	v = session_eom(s);
	*sp = s;
	return v;
}

static int
has(const char *hay, const char *needle)
{
	char *u = hay ? unfold(hay) : NULL;
	int r = u != NULL && strstr(u, needle) != NULL;

	if (!r)
		printf("# \"%s\" not in \"%s\"\n", needle, u ? u : "(null)");
	free(u);
	return r;
}

/* test_iprev - iprev= last in the header: the PTR lookup starts at the
 * connection, the outcome is kept for the connection's next message;
 * trusted and authenticated clients get none, nor does iprev.enable =
 * false */
static void
test_iprev(void)
{
	struct settings *cfg = conf("authserv_id = \"mx.test.example\";\n"
	    "trusted_networks = [ \"10.0.0.0/8\" ];\n"
	    "spf = { helo = false; }; dkim = { enable = false; };\n"
	    "dmarc = { enable = false; };\n"), *off;
	const struct session_verdict *v;
	const struct result *r;
	struct session *s;
	unsigned long q0;

	dns_table_add_text(env.dns, "77.2.0.192.in-addr.arpa", DNS_T_PTR,
	    "rdns.example.org");
	dns_table_add_text(env.dns, "rdns.example.org", DNS_T_A, "192.0.2.77");
	dns_table_add_text(env.dns, "rdns.example.org", DNS_T_TXT,
	    "v=spf1 ip4:192.0.2.77 -all");
	if (!ok(cfg != NULL, "iprev: config"))
		return;
	s = session_new(&env, cfg);
	q0 = dns_table_queries(env.dns);
	session_connect(s, "rdns.example.org", "192.0.2.77");
	is_int(dns_table_queries(env.dns) - q0, 1,
	    "iprev: the PTR lookup starts at the connection");
	session_helo(s, "x");
	session_mail_from(s, "<user@rdns.example.org>");
	session_header(s, "From", " user@rdns.example.org");
	session_eoh(s);
	v = session_eom(s);
	is_str(v->authres, "mx.test.example;\n\tspf=pass (192.0.2.77 is "
	    "permitted by rdns.example.org)\n\t    smtp.mailfrom=user@rdns."
	    "example.org;\n\tiprev=pass "
	    "(rdns.example.org) policy.iprev=192.0.2.77",
	    "iprev: pass, last in the header");
	r = results_next(v->results, NULL, "iprev");
	ok(r != NULL && r == &v->results->v[v->results->n - 1],
	    "iprev: the last result");
	/* the next message on the connection: the same, no PTR lookup */
	q0 = dns_table_queries(env.dns);
	session_mail_from(s, "<user@rdns.example.org>");
	session_header(s, "From", " user@rdns.example.org");
	v = session_eom(s);
	ok(has(v->authres, "iprev=pass (rdns.example.org) "
	    "policy.iprev=192.0.2.77"),
	    "iprev: second message: %s", v->authres ? v->authres : "(none)");
	is_int(dns_table_queries(env.dns) - q0, 1,
	    "iprev: second message: SPF's lookup alone");
	session_free(&s);

	/* SPF's ptr mechanism and %{p} take iprev's validated names: the
	 * PTR and A lookups are made once for both (each on its own would
	 * make them twice: 5 lookups) */
	dns_table_add_text(env.dns, "ptrspf.example.org", DNS_T_TXT,
	    "v=spf1 ptr:example.org -all");
	dns_table_add_text(env.dns, "79.2.0.192.in-addr.arpa", DNS_T_PTR,
	    "rdns79.example.org");
	dns_table_add_text(env.dns, "rdns79.example.org", DNS_T_A, "192.0.2.79");
	dns_table_add_text(env.dns, "pspf.example.org", DNS_T_TXT,
	    "v=spf1 exists:%{p}.ok.example.org -all");
	dns_table_add_text(env.dns, "rdns79.example.org.ok.example.org",
	    DNS_T_A, "127.0.0.2");
	s = session_new(&env, cfg);
	q0 = dns_table_queries(env.dns);
	session_connect(s, NULL, "192.0.2.79");
	session_mail_from(s, "<user@ptrspf.example.org>");
	session_header(s, "From", " user@ptrspf.example.org");
	v = session_eom(s);
	ok(has(v->authres, "spf=pass") && has(v->authres,
	    "iprev=pass (rdns79.example.org)"), "iprev + SPF ptr: both pass: %s",
	    v->authres ? v->authres : "(none)");
	is_int(dns_table_queries(env.dns) - q0, 3,
	    "iprev + SPF ptr: PTR, TXT and A, each once");
	q0 = dns_table_queries(env.dns);
	session_mail_from(s, "<user@pspf.example.org>");
	session_header(s, "From", " user@pspf.example.org");
	v = session_eom(s);
	ok(has(v->authres, "spf=pass"), "iprev + SPF %%{p}: pass: %s",
	    v->authres ? v->authres : "(none)");
	is_int(dns_table_queries(env.dns) - q0, 2,
	    "iprev + SPF %%{p}, next message: the TXT and the exists A only");
	session_free(&s);

	/* no PTR record: permerror, IPv4-mapped client unmapped */
	s = session_new(&env, cfg);
	session_connect(s, NULL, "::ffff:192.0.2.78");
	session_mail_from(s, "<>");
	session_header(s, "From", " user@example.org");
	v = session_eom(s);
	ok(has(v->authres, "iprev=permerror (no PTR record for 192.0.2.78) "
	    "policy.iprev=192.0.2.78"), "iprev: no PTR: permerror");
	session_free(&s);

	/* trusted: no lookup, no header; authenticated: skipped */
	s = session_new(&env, cfg);
	q0 = dns_table_queries(env.dns);
	session_connect(s, NULL, "10.9.9.9");
	is_int(dns_table_queries(env.dns) - q0, 0,
	    "iprev: no lookup for a trusted client");
	session_mail_from(s, "<user@example.org>");
	session_header(s, "From", " user@example.org");
	v = session_eom(s);
	ok(v->authres == NULL && results_next(v->results, NULL, "iprev") == NULL,
	    "iprev: trusted: none");
	session_free(&s);
	s = session_new(&env, cfg);
	session_connect(s, NULL, "192.0.2.77");
	session_mail_from(s, "<user@example.org>");
	session_macro(s, "{auth_authen}", "alice");
	session_header(s, "From", " user@example.org");
	v = session_eom(s);
	ok(v->authres == NULL && results_next(v->results, NULL, "iprev") == NULL,
	    "iprev: authenticated: none");
	session_free(&s);
	settings_unref(&cfg);

	off = conf("authserv_id = \"mx.test.example\";\n"
	    "iprev = { enable = false; };\n");
	if (off == NULL)
		return;
	s = session_new(&env, off);
	q0 = dns_table_queries(env.dns);
	session_connect(s, NULL, "192.0.2.77");
	is_int(dns_table_queries(env.dns) - q0, 0,
	    "iprev: iprev.enable = false: no lookup");
	session_mail_from(s, "<user@rdns.example.org>");
	session_header(s, "From", " user@rdns.example.org");
	v = session_eom(s);
	ok(results_next(v->results, NULL, "iprev") == NULL,
	    "iprev: iprev.enable = false: no iprev");
	session_free(&s);
	settings_unref(&off);
}

#define LIST_CONF "authserv_id = \"lists.example.org\";\n" \
	"spf = { helo = false; };\n" "iprev = { enable = false; };\n" \
	"arc = { seal = { domain = \"lists.example.org\"; " \
	"selector = \"sel\"; key_file = \"%s\"; }; };\n"
#define MX_CONF(extra) "authserv_id = \"mx.test.example\";\n" \
	"spf = { helo = false; };\n" "iprev = { enable = false; };\n" extra

/* first_record - keep the first report record (its arrays live in the
 * session's arena until session_reset) */
static void
first_record(const struct report_record *r, void *ctx)
{
	*(struct report_record *)ctx = *r;
}

/* test_arc_start - the key of arc.seal is read when the environment is
 * made: a missing one is a start error naming the file */
static void
test_arc_start(const char *listconf)
{
	char err[512] = "";
	struct settings *cfg = conf("dns = { nameservers = [ \"127.0.0.1\" ]; };"
	    "arc = { seal = { domain = \"example.net\"; selector = \"s\"; "
	    "key_file = \"/nonexistent/arc-key.pem\"; }; };");
	struct session_env *e;

	e = cfg ? session_env_open(cfg, err, sizeof(err)) : NULL;
	ok(cfg != NULL && e == NULL && strstr(err, "/nonexistent/arc-key.pem") &&
	    strstr(err, "No such file"), "arc: a missing key stops the start: %s",
	    err);
	session_env_close(&e);
	settings_unref(&cfg);
	cfg = conf(listconf);
	e = cfg ? session_env_open(cfg, err, sizeof(err)) : NULL;
	ok(e != NULL && e->arc != NULL, "arc: a readable key starts (%s)",
	    e ? "" : err);
	session_env_close(&e);
	settings_unref(&cfg);
	cfg = conf("arc = { enable = false; };");
	e = cfg ? session_env_open(cfg, err, sizeof(err)) : NULL;
	ok(e != NULL && e->arc == NULL, "arc: no verifier when off at start");
	session_env_close(&e);
	settings_unref(&cfg);
}

static void
test_arc(void)
{
	char listconf[512], err[512], *seal[3], diff[256];
	struct snap before;
	struct amsg list = {0}, mx = {0};
	struct report_record rec;
	const struct session_verdict *v;
	const struct result *r;
	struct session *s;
	const char *mxc = MX_CONF("arc = { trusted_sealers = "
	    "[ \"lists.example.org\" ]; };");
	struct settings *cfg;

	env.arc = arc_verifier_new(env.dns, &(struct arc_opts){1024}, err,
	    sizeof(err));
	if (!ok(env.arc != NULL && arc_keys() == 0, "arc: verifier and key"))
		return;
	/* no ARC header: arc=none with the client, nothing else */
	amsg_add(&mx, "From", " user@example.org");
	strcpy(mx.body, "hello\r\n");
	v = arc_run(&s, MX_CONF(""), "192.0.2.10", "<user@example.org>", &mx);
	ok(v != NULL && has(v->authres, "; arc=none smtp.remote-ip=192.0.2.10"),
	    "arc: none, with smtp.remote-ip");
	ok(v != NULL && v->arc_set[0] == NULL && v->seal_note == NULL,
	    "arc: no seal without arc.seal");
	ok(strstr(session_log_line(s, 1), " arc=none") != NULL,
	    "arc: the log line says arc=none");
	session_free(&s);
	v = arc_run(&s, MX_CONF("arc = { enable = false; };"), "192.0.2.10",
	    "<user@example.org>", &mx);
	ok(v != NULL && strstr(v->authres, "\tarc=") == NULL &&
	    results_next(v->results, NULL, "arc") == NULL,
	    "arc: arc.enable = false, no arc result");
	session_free(&s);
	amsg_free(&mx);

	/* the list: the author's message, subject and footer changed, as
	 * it arrived from the author's server (dmarc=pass), sealed */
	snprintf(listconf, sizeof(listconf), LIST_CONF, arc_key);
	cfg = conf(listconf);
	ok(session_env_reload(&env, cfg, err, sizeof(err)) == 0,
	    "arc: the list's key loads (%s)", err);
	settings_unref(&cfg);
	amsg_add(&list, "From", " Author <user@example.com>");
	amsg_add(&list, "To", " list@lists.example.org");
	amsg_add(&list, "Subject", " [list] hello");
	amsg_add(&list, "Date", " Mon, 23 Nov 2026 12:00:00 +0000");
	amsg_add(&list, "Message-ID", " <arc-1@example.com>");
	amsg_add(&list, "List-Id", " <list.lists.example.org>");
	strcpy(list.body, "hello\r\n-- \r\nthe list footer\r\n");
	v = arc_run(&s, listconf, "192.0.2.20", "<user@example.com>", &list);
	if (!ok(v != NULL && v->action == SESSION_ACCEPT && v->arc_set[0] &&
	    v->arc_set[1] && v->arc_set[2], "arc: the list seals (%s)",
	    v && v->seal_note ? v->seal_note : ""))
		return;
	ok(strncmp(v->arc_set[0], "ARC-Seal: ", 10) == 0 &&
	    has(v->arc_set[0], " i=1;") &&
	    strncmp(v->arc_set[1], "ARC-Message-Signature: ", 23) == 0 &&
	    has(v->arc_set[1], " i=1;") &&
	    strncmp(v->arc_set[2], "ARC-Authentication-Results: i=1; "
	    "lists.example.org;", 51) == 0, "arc: the set, AS first");
	ok(has(v->arc_set[0], "cv=none") && has(v->arc_set[0],
	    "d=lists.example.org"), "arc: cv=none, d= the list");
	ok(has(v->arc_set[2], "dmarc=pass (p=reject dis=none) "
	    "header.from=example.com; arc=none smtp.remote-ip=192.0.2.20"),
	    "arc: the AAR is our header's payload");
	ok(strchr(v->arc_set[0], '\r') == NULL, "arc: LF folds for libmilter");
	ok(strstr(session_log_line(s, 1), " arc_seal=yes") != NULL,
	    "arc: the log line says sealed");
	for (int i = 0; i < 3; i++)
		seal[i] = strdup(v->arc_set[i]);
	session_free(&s);
	amsg_top(&list, (const char *const *)seal, 3);
	for (int i = 0; i < 3; i++)
		free(seal[i]);
	cfg = conf(MX_CONF(""));
	ok(session_env_reload(&env, cfg, err, sizeof(err)) == 0,
	    "arc: no arc.seal, no key (%s)", err);
	settings_unref(&cfg);

	/* our MX: from the list's server, DMARC fails (p=reject) */
	snap_take(&before, moved);
	v = arc_run(&s, mxc, "198.51.100.7", "<list-bounces@lists.example.org>",
	    &list);
	ok(v != NULL && v->action == SESSION_ACCEPT && v->smtp_rcode == NULL,
	    "arc: trusted list: delivered");
	is_str(snap_diff(&before, "dmarc_overrides_total", diff, sizeof(diff)),
	    "{reason=\"trusted_forwarder\"}+1",
	    "arc: counted as an override by a trusted forwarder");
	is_str(snap_diff(&before, "dmarc_messages_total", diff, sizeof(diff)),
	    "{policy=\"reject\",disposition=\"none\"}+1",
	    "arc: counted as p=reject, disposition none");
	ok(v != NULL && has(v->authres, "dmarc=fail (p=reject dis=none; arc "
	    "override by lists.example.org) header.from=example.com; arc=pass "
	    "(i=1 by lists.example.org) smtp.remote-ip=198.51.100.7"),
	    "arc: the header says dmarc=fail, the override, arc=pass");
	r = v ? results_next(v->results, NULL, "dmarc") : NULL;
	ok(r != NULL && r->policy_override != NULL && strcmp(r->policy_override,
	    "trusted_forwarder") == 0 && strcmp(r->arc_override_by,
	    "lists.example.org") == 0, "arc: PolicyOverride kept on the result");
	ok(session_report_records(s, first_record, &rec) == 1 &&
	    rec.disposition == REPORT_DISP_NONE && rec.nreasons == 1 &&
	    rec.reasons[0].type == REPORT_OVR_TRUSTED_FORWARDER &&
	    strcmp(rec.reasons[0].comment, "arc=pass sealer lists.example.org")
	    == 0, "arc: report record: none, trusted_forwarder, the sealer");
	ok(strstr(session_log_line(s, 1), " dmarc=fail policy=reject dis=none "
	    "dmarc_discovery=") != NULL && strstr(session_log_line(s, 1),
	    " arc=pass arc_override=lists.example.org "
	    "policy_override=trusted_forwarder") != NULL,
	    "arc: the log line: %s", session_log_line(s, 1));
	session_free(&s);
	v = arc_run(&s, MX_CONF(""), "198.51.100.7",
	    "<list-bounces@lists.example.org>", &list);
	ok(v != NULL && v->action == SESSION_REJECT &&
	    has(v->authres, "dmarc=fail (p=reject dis=reject)") &&
	    has(v->authres, "arc=pass"), "arc: list not trusted: rejected");
	ok(strstr(session_log_line(s, 1), "arc_override") == NULL,
	    "arc: no override in the log");
	session_free(&s);
	/* the AAR altered after sealing: the seal breaks */
	free(list.value[2]);
	list.value[2] = strdup(" i=1; lists.example.org; dmarc=pass "
	    "header.from=example.com");
	v = arc_run(&s, mxc, "198.51.100.7", "<list-bounces@lists.example.org>",
	    &list);
	ok(v != NULL && v->action == SESSION_REJECT &&
	    has(v->authres, "arc=fail (") && has(v->authres,
	    "dmarc=fail (p=reject dis=reject)"),
	    "arc: altered AAR: arc=fail, rejected");
	session_free(&s);
	amsg_free(&list);

	/* a bad key at a reload keeps the old one */
	cfg = conf(listconf);
	ok(session_env_reload(&env, cfg, err, sizeof(err)) == 0, "arc: key");
	settings_unref(&cfg);
	cfg = conf("arc = { seal = { domain = \"lists.example.org\"; selector "
	    "= \"sel\"; key_file = \"/nonexistent/arc.pem\"; }; };");
	ok(session_env_reload(&env, cfg, err, sizeof(err)) == -1 &&
	    strstr(err, "ARC sealing key kept") != NULL &&
	    strstr(err, arc_key) != NULL &&
	    strstr(err, "/nonexistent/arc.pem") != NULL,
	    "arc: a bad key at reload keeps the old one: %s", err);
	settings_unref(&cfg);
	amsg_add(&mx, "From", " user@example.org");
	strcpy(mx.body, "hello\r\n");
	v = arc_run(&s, listconf, "192.0.2.10", "<user@example.org>", &mx);
	ok(v != NULL && v->arc_set[0] != NULL, "arc: still sealing");
	session_free(&s);
	/* a rejected message is not sealed */
	free(mx.value[0]);
	mx.value[0] = strdup(" user@example.com");
	v = arc_run(&s, listconf, "192.0.2.99", "<user@example.org>", &mx);
	ok(v != NULL && v->action == SESSION_REJECT && v->arc_set[0] == NULL,
	    "arc: rejected, not sealed");
	session_free(&s);
	amsg_free(&mx);
	cfg = conf(MX_CONF(""));
	session_env_reload(&env, cfg, err, sizeof(err));
	settings_unref(&cfg);
	test_arc_start(listconf);
	unlink(arc_key);
	rmdir(arc_dir);
	arc_verifier_free(&env.arc);
}

int
main(void)
{
	char err[256];
	struct dkv_opts dk = {.max_signatures = 8, .min_rsa_bits = 1024};
	struct psl *psl;

	env.dns = dns_table_new();
	dns_table_add_text(env.dns, "example.org", DNS_T_TXT,
	    "v=spf1 ip4:192.0.2.10 -all");
	dns_table_add_text(env.dns, "mail.example.org", DNS_T_TXT,
	    "v=spf1 ip4:192.0.2.10 -all");
	dns_table_add_text(env.dns, "example.com", DNS_T_TXT, "v=spf1 ip4:192.0.2.20 -all");
	dns_table_add_text(env.dns, "mail.example.com", DNS_T_TXT, "v=spf1 ip4:192.0.2.20 -all");
	dns_table_add_text(env.dns, "_dmarc.example.com", DNS_T_TXT, "v=DMARC1; p=reject");
	dns_table_add_text(env.dns, "_dmarc.example.net", DNS_T_TXT, "v=DMARC1; p=quarantine");
	dns_table_add_text(env.dns, "_dmarc.pct0.example.org", DNS_T_TXT,
	    "v=DMARC1; p=reject; pct=0");
	dns_table_set_status(env.dns, "_dmarc.tempfail.example.org", DNS_T_TXT,
	    DNS_STATUS_TEMPFAIL);
	dns_table_set_status(env.dns, "spftemp.example.com", DNS_T_TXT,
	    DNS_STATUS_TEMPFAIL);
	dns_table_set_status(env.dns, "spftemp.example.org", DNS_T_TXT,
	    DNS_STATUS_TEMPFAIL);
	env.spf = spf_checker_new(env.dns, "mx.test.example", err, sizeof(err));
	if (!ok(env.spf != NULL, "spf checker: %s", err))
		return test_done("session");
	env.dkim = dkv_verifier_new(env.dns, &dk, err, sizeof(err));
	if (!ok(env.dkim != NULL, "dkim verifier: %s", err))
		return test_done("session");
	psl = psl_load(PSL_PATH, err, sizeof(err));
	if (!ok(psl != NULL, "psl: %s", err))
		return test_done("session");
	env.dmarc = dmarc_checker_new(env.dns, psl, err, sizeof(err));
	psl_unref(&psl);
	if (!ok(env.dmarc != NULL, "dmarc checker: %s", err))
		return test_done("session");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	test_limits();
	test_obsolete_colon();
	test_envelope();
	test_log_line();
	test_log_value();
	test_signed();
	test_env_stats();
	test_treewalk();
	test_arc();
	test_iprev();
	{
		/* session_env_close frees what the reloads added too (the
		 * box of the ARC sealing key) */
		struct session_env *e = xmalloc(sizeof(*e));

		*e = env;
		session_env_close(&e);
	}
	return test_done("session");
}
