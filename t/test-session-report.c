/*
 * test-session-report.c - the DMARC aggregate report records a session
 * builds (session_report_records()): for a pass, a failure under
 * p=reject, t=y, pct sampling, report-only mode, never_reject, several
 * DKIM signatures, the null sender, two authors; none for skipped
 * clients, a domain without a record or a temporary error; and the
 * writer started by session_env_reports_start() holding what a message
 * handed it (the ARC override's record is in test-session's ARC case,
 * which has the sealed message). Offline: a table resolver.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dkim.h"
#include "dmarc.h"
#include "dns.h"
#include "log.h"
#include "message.h"
#include "psl.h"
#include "report.h"
#include "session.h"
#include "settings.h"
#include "spf.h"
#include "store.h"
#include "tap.h"
#include "util.h"

static struct session_env env;

/* what a callback saw: up to 4 records, copied out of the session's
 * arena into plain fields */
struct got {
	size_t n;
	struct {
		char ip[64], hfrom[256], efrom[256], eto[256], pdom[256];
		int efrom_null, eto_null;
		enum report_disposition dis;
		enum dmarc_policy p;
		int testing, adkim_strict, dkim_aligned, spf_aligned;
		unsigned pct;
		enum dmarc_discovery discovery;
		size_t nreasons;
		enum report_override why[4];
		char comment[4][128];
		size_t ndkim;
		char dkim[4][128]; /* "d s result" */
		size_t nspf;
		char spf[128];	   /* "domain scope result" */
	} r[4];
};

static void
grab(const struct report_record *rec, void *ctx)
{
	struct got *g = ctx;
	size_t i = g->n++;

	if (i >= 4)
		return;
	snprintf(g->r[i].ip, sizeof(g->r[i].ip), "%s", rec->source_ip);
	snprintf(g->r[i].hfrom, sizeof(g->r[i].hfrom), "%s", rec->header_from);
	g->r[i].efrom_null = rec->envelope_from == NULL;
	snprintf(g->r[i].efrom, sizeof(g->r[i].efrom), "%s",
	    rec->envelope_from ? rec->envelope_from : "");
	g->r[i].eto_null = rec->envelope_to == NULL;
	snprintf(g->r[i].eto, sizeof(g->r[i].eto), "%s",
	    rec->envelope_to ? rec->envelope_to : "");
	snprintf(g->r[i].pdom, sizeof(g->r[i].pdom), "%s", rec->policy.domain);
	g->r[i].dis = rec->disposition;
	g->r[i].p = rec->policy.p;
	g->r[i].testing = rec->policy.testing;
	g->r[i].adkim_strict = rec->policy.adkim_strict;
	g->r[i].pct = rec->policy.pct;
	g->r[i].discovery = rec->policy.discovery;
	g->r[i].dkim_aligned = rec->dkim_aligned;
	g->r[i].spf_aligned = rec->spf_aligned;
	g->r[i].nreasons = rec->nreasons;
	for (size_t k = 0; k < rec->nreasons && k < 4; k++) {
		g->r[i].why[k] = rec->reasons[k].type;
		snprintf(g->r[i].comment[k], sizeof(g->r[i].comment[k]), "%s",
		    rec->reasons[k].comment ? rec->reasons[k].comment : "");
	}
	g->r[i].ndkim = rec->ndkim;
	for (size_t k = 0; k < rec->ndkim && k < 4; k++)
		snprintf(g->r[i].dkim[k], sizeof(g->r[i].dkim[k]), "%s %s %s",
		    rec->dkim[k].domain, rec->dkim[k].selector,
		    report_dkim_res_name(rec->dkim[k].result));
	g->r[i].nspf = rec->nspf;
	if (rec->nspf > 0)
		snprintf(g->r[i].spf, sizeof(g->r[i].spf), "%s %s %s",
		    rec->spf[0].domain, rec->spf[0].scope == REPORT_SPF_MFROM ?
		    "mfrom" : "helo", report_spf_res_name(rec->spf[0].result));
}

static const char *base =
    "authserv_id = \"mx.test.example\";\n"
    "trusted_networks = [ \"127.0.0.0/8\", \"10.0.0.0/8\" ];\n"
    "iprev = { enable = false; };\n";

/* run - one message (from: the From header field's value) through a
 * session; its records into *g; the verdict's action */
static enum session_action
run(const char *extra, const char *ip, const char *helo, const char *mail,
    const char *from, const char *auth, struct got *g)
{
	char text[1024], err[256];
	struct settings *cfg;
	struct session *s;
	enum session_action a;
	size_t n;

	snprintf(text, sizeof(text), "%s%s", base, extra ? extra : "");
	cfg = settings_load_string(text, "t.conf", err, sizeof(err));
	if (!ok(cfg != NULL, "config: %s", err))
		return SESSION_TEMPFAIL;
	s = session_new(&env, cfg);
	settings_unref(&cfg);
	session_connect(s, "client.example", ip);
	session_helo(s, helo);
	session_mail_from(s, mail);
	if (auth != NULL)
		session_macro(s, "{auth_authen}", auth);
	session_rcpt(s, "<Rcpt@Test.Example>");
	session_rcpt(s, "<other@second.example>");
	session_header(s, "From", from);
	session_header(s, "Subject", " hi");
	session_eoh(s);
	session_body(s, (const unsigned char *)"hello\r\n", 7);
	a = session_eom(s)->action;
	memset(g, 0, sizeof(*g));
	n = session_report_records(s, grab, g);
	is_int(n, g->n, "the count returned is the records handed over");
	session_free(&s);
	return a;
}

static void
test_pass(void)
{
	struct got g;

	run(NULL, "192.0.2.20", "mail.example.com", "<user@Example.COM>",
	    " user@example.com", NULL, &g);
	if (!is_int(g.n, 1, "pass: one record"))
		return;
	is_str(g.r[0].ip, "192.0.2.20", "pass: source_ip");
	is_str(g.r[0].hfrom, "example.com", "pass: header_from");
	is_str(g.r[0].efrom, "example.com", "pass: envelope_from, lowercased");
	is_str(g.r[0].eto, "test.example", "pass: envelope_to, the first "
	    "RCPT TO's domain, lowercased");
	is_str(g.r[0].pdom, "example.com", "pass: policy domain");
	is_int(g.r[0].p, DMARC_POLICY_REJECT, "pass: p=reject");
	is_int(g.r[0].pct, 100, "pass: pct 100");
	is_int(g.r[0].dis, REPORT_DISP_PASS, "pass: disposition pass");
	is_int(g.r[0].nreasons, 0, "pass: no override");
	is_int(g.r[0].spf_aligned, 1, "pass: spf aligned");
	is_int(g.r[0].dkim_aligned, 0, "pass: dkim not aligned");
	is_int(g.r[0].ndkim, 0, "pass: no signature");
	is_str(g.r[0].spf, "example.com mfrom pass", "pass: spf mfrom");
}

static void
test_fail(void)
{
	struct got g;

	is_int(run(NULL, "192.0.2.99", "x", "<user@example.com>",
	    " user@example.com", NULL, &g), SESSION_REJECT, "fail: rejected");
	if (!is_int(g.n, 1, "fail: one record"))
		return;
	is_int(g.r[0].dis, REPORT_DISP_REJECT, "fail: disposition reject");
	is_int(g.r[0].nreasons, 0, "fail: no override");
	is_int(g.r[0].spf_aligned + g.r[0].dkim_aligned, 0, "fail: unaligned");
	is_str(g.r[0].spf, "example.com mfrom fail", "fail: spf fail");

	/* p=quarantine, held */
	run(NULL, "192.0.2.99", "x", "<user@example.net>",
	    " user@example.net", NULL, &g);
	ok(g.n == 1 && g.r[0].dis == REPORT_DISP_QUARANTINE &&
	    g.r[0].p == DMARC_POLICY_QUARANTINE, "quarantine: disposition "
	    "quarantine");

	/* report-only mode: nothing done, local policy says why */
	is_int(run("policy = { mode = \"report-only\"; };", "192.0.2.99", "x",
	    "<user@example.com>", " user@example.com", NULL, &g),
	    SESSION_ACCEPT, "report-only: accepted");
	ok(g.n == 1 && g.r[0].dis == REPORT_DISP_NONE && g.r[0].nreasons == 1 &&
	    g.r[0].why[0] == REPORT_OVR_LOCAL_POLICY &&
	    strcmp(g.r[0].comment[0], "report-only mode") == 0,
	    "report-only: none, local_policy \"report-only mode\"");

	/* never_reject */
	is_int(run("policy = { never_reject = [ \"example.com\" ]; };",
	    "192.0.2.99", "x", "<user@example.com>", " user@example.com", NULL,
	    &g), SESSION_ACCEPT, "never_reject: accepted");
	ok(g.n == 1 && g.r[0].dis == REPORT_DISP_NONE && g.r[0].nreasons == 1 &&
	    g.r[0].why[0] == REPORT_OVR_LOCAL_POLICY &&
	    strcmp(g.r[0].comment[0], "never_reject") == 0,
	    "never_reject: none, local_policy \"never_reject\"");
}

static void
test_testing(void)
{
	struct got g;

	/* RFC 9989 t=y: reject one lower, quarantine */
	run(NULL, "192.0.2.99", "x", "<user@testy.example>",
	    " user@testy.example", NULL, &g);
	ok(g.n == 1 && g.r[0].dis == REPORT_DISP_QUARANTINE &&
	    g.r[0].testing == 1 && g.r[0].nreasons == 1 &&
	    g.r[0].why[0] == REPORT_OVR_POLICY_TEST_MODE,
	    "t=y p=reject: quarantine, policy_test_mode (n %zu dis %d)", g.n,
	    (int)g.r[0].dis);
	/* t=y p=quarantine: none */
	run(NULL, "192.0.2.99", "x", "<user@testq.example>",
	    " user@testq.example", NULL, &g);
	ok(g.n == 1 && g.r[0].dis == REPORT_DISP_NONE && g.r[0].nreasons == 1 &&
	    g.r[0].why[0] == REPORT_OVR_POLICY_TEST_MODE,
	    "t=y p=quarantine: none, policy_test_mode");
	/* a pass under t=y: pass, no reason */
	run(NULL, "192.0.2.20", "x", "<user@testy.example>",
	    " user@testy.example", NULL, &g);
	ok(g.n == 1 && g.r[0].dis == REPORT_DISP_PASS && g.r[0].nreasons == 0,
	    "t=y pass: pass");
}

static void
test_none_made(void)
{
	struct got g;

	run(NULL, "10.1.2.3", "x", "<user@example.com>", " user@example.com",
	    NULL, &g);
	is_int(g.n, 0, "trusted network: no record");
	run(NULL, "192.0.2.99", "x", "<user@example.com>", " user@example.com",
	    "alice", &g);
	is_int(g.n, 0, "authenticated: no record");
	run("skip_authenticated = false;", "192.0.2.99", "x",
	    "<user@example.com>", " user@example.com", "alice", &g);
	is_int(g.n, 1, "authenticated and evaluated: a record");
	run(NULL, "192.0.2.10", "x", "<user@example.org>", " user@example.org",
	    NULL, &g);
	is_int(g.n, 0, "no DMARC record: no record");
	run(NULL, "192.0.2.10", "x", "<user@tempfail.example.org>",
	    " user@tempfail.example.org", NULL, &g);
	is_int(g.n, 0, "DMARC temperror: no record");
	run(NULL, "192.0.2.99", "x", "<user@example.com>",
	    " a@example.com, b@EXAMPLE.com", NULL, &g);
	is_int(g.n, 1, "two From addresses of one domain: one record");
	run(NULL, "192.0.2.99", "x", "<user@example.com>", " nobody", NULL,
	    &g);
	is_int(g.n, 0, "a From without a domain: permerror, no record");
}

static void
test_envelope(void)
{
	struct got g;

	/* the null sender: SPF of HELO, no envelope_from */
	run(NULL, "192.0.2.20", "mail.example.com", "<>", " user@example.com",
	    NULL, &g);
	if (is_int(g.n, 1, "null sender: one record")) {
		ok(g.r[0].efrom_null, "null sender: envelope_from NULL");
		is_str(g.r[0].spf, "mail.example.com helo pass",
		    "null sender: spf of the HELO identity");
		is_int(g.r[0].dis, REPORT_DISP_PASS,
		    "null sender: relaxed alignment of HELO passes");
	}
	/* two authors: a record each, in order */
	run(NULL, "192.0.2.99", "x", "<user@example.com>",
	    " a@example.com, b@example.net", NULL, &g);
	ok(g.n == 2 && strcmp(g.r[0].hfrom, "example.com") == 0 &&
	    strcmp(g.r[1].hfrom, "example.net") == 0 &&
	    g.r[0].dis == REPORT_DISP_REJECT &&
	    g.r[1].dis == REPORT_DISP_QUARANTINE,
	    "two authors: two records, each its own disposition");
}

/* test_dkim - RFC 8463 A.3: two signatures, both in the record */
static void
test_dkim(void)
{
	char path[1024], line[2048], err[256];
	struct settings *cfg;
	struct session *s;
	struct got g;
	FILE *f, *keys;

	test_data(path, sizeof(path), "dkim/go-msgauth/dns-records.tsv");
	if (!ok((keys = fopen(path, "r")) != NULL, "open %s", path))
		return;
	while (fgets(line, sizeof(line), keys) != NULL) {
		char *tab = strchr(line, '\t'), *end;

		if (line[0] == '#' || tab == NULL ||
		    strncmp(line, "name\t", 5) == 0)
			continue;
		*tab++ = '\0';
		if ((end = strchr(tab, '\t')) != NULL)
			*end = '\0';
		tab[strcspn(tab, "\r\n")] = '\0';
		dns_table_add_text(env.dns, line, DNS_T_TXT, tab);
	}
	fclose(keys);
	test_data(path, sizeof(path),
	    "dkim/go-msgauth/rfc8463-appendix-a3-signed.eml");
	if (!ok((f = fopen(path, "r")) != NULL, "open %s", path))
		return;
	cfg = settings_load_string("authserv_id = \"mx.test.example\"; "
	    "spf = { helo = false; }; iprev = { enable = false; };", "t.conf",
	    err, sizeof(err));
	s = session_new(&env, cfg);
	settings_unref(&cfg);
	session_connect(s, NULL, "192.0.2.99");
	session_helo(s, "x");
	session_mail_from(s, "<joe@football.example.com>");
	is_int(message_feed(s, f, err, sizeof(err)), 0, "signed message read");
	fclose(f);
	session_eom(s);
	memset(&g, 0, sizeof(g));
	session_report_records(s, grab, &g);
	if (is_int(g.n, 1, "dkim: one record")) {
		is_int(g.r[0].ndkim, 2, "dkim: both signatures");
		is_str(g.r[0].dkim[0], "football.example.com brisbane pass",
		    "dkim: the ed25519 one");
		is_str(g.r[0].dkim[1], "football.example.com test pass",
		    "dkim: the rsa one");
		is_int(g.r[0].dkim_aligned, 1, "dkim: aligned");
		is_int(g.r[0].dis, REPORT_DISP_PASS, "dkim: pass");
		ok(g.r[0].eto_null, "dkim: no RCPT TO, no envelope_to");
	}
	session_free(&s);
}

/* test_pct - RFC 7489 discovery: pct=0 samples the policy out */
static void
test_pct(struct dmarc_checker *psl_checker)
{
	struct dmarc_checker *tw = env.dmarc;
	struct got g;

	env.dmarc = psl_checker;
	run(NULL, "192.0.2.99", "x", "<user@pct0.example.org>",
	    " user@pct0.example.org", NULL, &g);
	ok(g.n == 1 && g.r[0].dis == REPORT_DISP_QUARANTINE &&
	    g.r[0].pct == 0 && g.r[0].discovery == DMARC_DISCOVERY_PSL &&
	    g.r[0].nreasons == 1 && g.r[0].why[0] == REPORT_OVR_OTHER &&
	    strcmp(g.r[0].comment[0], "pct sampling") == 0,
	    "psl pct=0: quarantine, other \"pct sampling\"");
	env.dmarc = tw;
	/* the tree walk reads pct=0 as t=y */
	run(NULL, "192.0.2.99", "x", "<user@pct0.example.org>",
	    " user@pct0.example.org", NULL, &g);
	ok(g.n == 1 && g.r[0].dis == REPORT_DISP_QUARANTINE &&
	    g.r[0].discovery == DMARC_DISCOVERY_TREEWALK &&
	    g.r[0].nreasons == 1 &&
	    g.r[0].why[0] == REPORT_OVR_POLICY_TEST_MODE,
	    "treewalk pct=0: quarantine, policy_test_mode");
}

/* test_writer - session_env_reports_start() and a message: the record
 * is in the store after the stop */
static void
test_writer(void)
{
	char dir[] = "/tmp/test-session-report-XXXXXX", text[1024], err[256];
	char uri[600], p[700];
	struct settings *cfg;
	struct report_store *st;
	struct report_set *set;
	struct got g;
	time_t now = time(NULL), begin = now - now % 86400;

	if (!ok(mkdtemp(dir) != NULL, "writer: mkdtemp"))
		return;
	snprintf(uri, sizeof(uri), "sqlite:%s/r.db", dir);
	snprintf(text, sizeof(text), "reports = { enable = false; store = "
	    "\"%s\"; };", uri);
	cfg = settings_load_string(text, "t.conf", err, sizeof(err));
	ok(cfg != NULL && session_env_reports_start(&env, cfg, err,
	    sizeof(err)) == 0 && env.reports == NULL,
	    "writer: reports.enable false starts none");
	settings_unref(&cfg);
	snprintf(text, sizeof(text), "reports = { enable = true; store = "
	    "\"%s\"; };", uri);
	cfg = settings_load_string(text, "t.conf", err, sizeof(err));
	ok(cfg != NULL && session_env_reports_start(&env, cfg, err,
	    sizeof(err)) == 0 && env.reports != NULL, "writer: started (%s)",
	    err);
	settings_unref(&cfg);
	run(NULL, "192.0.2.99", "x", "<user@example.com>", " user@example.com",
	    NULL, &g);
	run(NULL, "192.0.2.99", "x", "<user@example.com>", " user@example.com",
	    NULL, &g);
	run(NULL, "10.9.9.9", "x", "<user@example.com>", " user@example.com",
	    NULL, &g);
	session_env_reports_stop(&env);
	ok(env.reports == NULL, "writer: stopped");
	st = report_store_open(uri, err, sizeof(err));
	if (ok(st != NULL, "writer: the store opens (%s)", err)) {
		set = report_set_new("example.com", begin, begin + 86399);
		ok(report_store_load(st, "example.com", begin, begin + 86399,
		    set, NULL, err, sizeof(err)) == 0, "writer: load (%s)", err);
		is_int(report_set_messages(set), 2, "writer: the two evaluated "
		    "messages, not the trusted one");
		is_int(report_set_rows(set), 1, "writer: equal, one row");
		report_set_free(&set);
		report_store_close(&st);
	}
	for (const char *const *x = (const char *const[]){ "", "-wal", "-shm",
	    NULL }; *x != NULL; x++) {
		snprintf(p, sizeof(p), "%s/r.db%s", dir, *x);
		unlink(p);
	}
	rmdir(dir);
}

int
main(void)
{
	char err[256];
	struct dkv_opts dk = { .max_signatures = 8, .min_rsa_bits = 1024 };
	struct dmarc_checker *pc;
	struct psl *psl;

	log_set_level(LOG_CRIT);
	env.dns = dns_table_new();
	dns_table_add_text(env.dns, "example.org", DNS_T_TXT,
	    "v=spf1 ip4:192.0.2.10 -all");
	dns_table_add_text(env.dns, "example.com", DNS_T_TXT,
	    "v=spf1 ip4:192.0.2.20 -all");
	dns_table_add_text(env.dns, "mail.example.com", DNS_T_TXT,
	    "v=spf1 ip4:192.0.2.20 -all");
	dns_table_add_text(env.dns, "example.net", DNS_T_TXT,
	    "v=spf1 ip4:192.0.2.20 -all");
	dns_table_add_text(env.dns, "testy.example", DNS_T_TXT,
	    "v=spf1 ip4:192.0.2.20 -all");
	dns_table_add_text(env.dns, "_dmarc.example.com", DNS_T_TXT,
	    "v=DMARC1; p=reject");
	dns_table_add_text(env.dns, "_dmarc.example.net", DNS_T_TXT,
	    "v=DMARC1; p=quarantine");
	dns_table_add_text(env.dns, "_dmarc.testy.example", DNS_T_TXT,
	    "v=DMARC1; p=reject; t=y");
	dns_table_add_text(env.dns, "_dmarc.testq.example", DNS_T_TXT,
	    "v=DMARC1; p=quarantine; t=y");
	dns_table_add_text(env.dns, "_dmarc.pct0.example.org", DNS_T_TXT,
	    "v=DMARC1; p=reject; pct=0");
	dns_table_add_text(env.dns, "_dmarc.football.example.com", DNS_T_TXT,
	    "v=DMARC1; p=none");
	dns_table_set_status(env.dns, "_dmarc.tempfail.example.org", DNS_T_TXT,
	    DNS_STATUS_TEMPFAIL);
	env.spf = spf_checker_new(env.dns, "mx.test.example", err, sizeof(err));
	env.dkim = dkv_verifier_new(env.dns, &dk, err, sizeof(err));
	env.dmarc = dmarc_checker_new(env.dns, NULL, err, sizeof(err));
	if (!ok(env.spf != NULL && env.dkim != NULL && env.dmarc != NULL,
	    "checkers: %s", err))
		return test_done("session-report");
	dmarc_checker_set_discovery(env.dmarc, DMARC_DISCOVERY_TREEWALK);
	psl = psl_load(PSL_PATH, err, sizeof(err));
	if (!ok(psl != NULL, "psl: %s", err))
		return test_done("session-report");
	pc = dmarc_checker_new(env.dns, psl, err, sizeof(err));
	psl_unref(&psl);
	test_pass();
	test_fail();
	test_testing();
	test_none_made();
	test_envelope();
	test_dkim();
	test_pct(pc);
	test_writer();
	dmarc_checker_free(&pc);
	{
		struct session_env *e = xmalloc(sizeof(*e));

		*e = env;
		session_env_close(&e);
	}
	return test_done("session-report");
}
