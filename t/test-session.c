/*
 * test-session.c - the message session end to end, offline: a table
 * resolver, the SPF checker and a config from text.
 */
#include <string.h>

#include "authres.h"
#include "config.h"
#include "dns.h"
#include "session.h"
#include "spf.h"
#include "tap.h"

static struct session_env env;

static struct am_config *
conf(const char *text)
{
	char err[256];
	struct am_config *c = config_load_string(text, "test.conf", err, sizeof(err));

	if (c == NULL)
		fprintf(stderr, "config: %s\n", err);
	return c;
}

struct msg {
	const char *name;
	const char *conf;
	const char *ip, *helo, *from, *auth;
	const char *headers[6][2];
	/* expectations */
	const char *ar;            /* exact header value (folds as "\n\t"), or NULL: none */
	const char *skipped;
	size_t ndelete;
	unsigned del[3];
};

static const char *base =
    "authserv_id = \"mx.test.example\";\n"
    "trusted_networks = [ \"127.0.0.0/8\", \"10.0.0.0/8\" ];\n";

static const struct msg cases[] = {
	{"spf pass, helo checked too", NULL, "192.0.2.10", "mail.example.org",
	    "<user@example.org>", NULL, {{"From", " user@example.org"}},
	    "mx.test.example;\n\tspf=pass (192.0.2.10 is permitted by example.org)"
	    "\n\t    smtp.mailfrom=user@example.org;\n\tspf=pass (192.0.2.10 is permitted"
	    " by mail.example.org)\n\t    smtp.helo=mail.example.org", NULL, 0, {0}},
	{"null sender checks helo only", NULL, "192.0.2.10", "mail.example.org",
	    "<>", NULL, {{NULL, NULL}},
	    "mx.test.example;\n\tspf=pass (192.0.2.10 is permitted by"
	    " mail.example.org)\n\t    smtp.helo=mail.example.org", NULL, 0, {0}},
	{"forged ours removed, others kept", "spf = { helo = false; };",
	    "192.0.2.99", "x", "<user@example.org>", NULL,
	    {{"Authentication-Results", " other.example; spf=pass"},
	     {"Authentication-Results", " MX.TEST.EXAMPLE; spf=pass"},
	     {"Authentication-Results", " (c) mx.test.example; dkim=pass"}},
	    NULL, NULL, 2, {2, 3}},
	{"trusted client skipped, headers untouched", NULL, "10.1.2.3", "x",
	    "<user@example.org>", NULL,
	    {{"Authentication-Results", " mx.test.example; spf=pass"}},
	    NULL, "trusted network", 0, {0}},
	{"ipv4-mapped trusted client", NULL, "::ffff:10.1.2.3", "x",
	    "<user@example.org>", NULL, {{NULL, NULL}},
	    NULL, "trusted network", 0, {0}},
	{"authenticated client skipped, forgery still removed", NULL,
	    "192.0.2.10", "x", "<user@example.org>", "alice",
	    {{"Authentication-Results", " mx.test.example; spf=pass"}},
	    NULL, "authenticated", 1, {1}},
	{"authenticated client evaluated when asked", "skip_authenticated = false;"
	    "spf = { helo = false; };",
	    "192.0.2.10", "x", "<user@example.org>", "alice", {{NULL, NULL}},
	    "mx.test.example;\n\tspf=pass (192.0.2.10 is permitted by example.org)"
	    "\n\t    smtp.mailfrom=user@example.org", NULL, 0, {0}},
	{"spf disabled says none", "spf = { enable = false; };", "192.0.2.10",
	    "mail.example.org", "<user@example.org>", NULL, {{NULL, NULL}},
	    "mx.test.example; none", NULL, 0, {0}},
	{"fail with comment", "spf = { helo = false; };", "192.0.2.9", "x",
	    "<user@example.org>", NULL, {{NULL, NULL}},
	    "mx.test.example;\n\tspf=fail (192.0.2.9 is not permitted by example.org)"
	    "\n\t    smtp.mailfrom=user@example.org", NULL, 0, {0}},
};

static void
run_case(const struct msg *m)
{
	char text[1024];
	struct am_config *cfg;
	struct session *s;
	const struct session_verdict *v;

	snprintf(text, sizeof(text), "%s%s", base, m->conf ? m->conf : "");
	cfg = conf(text);
	if (!ok(cfg != NULL, "%s: config", m->name))
		return;
	s = session_new(&env, cfg);
	config_unref(&cfg);
	session_connect(s, "client.example", m->ip);
	session_helo(s, m->helo);
	session_mail_from(s, m->from);
	if (m->auth)
		session_macro(s, "{auth_authen}", m->auth);
	session_rcpt(s, "<rcpt@test.example>");
	for (int i = 0; i < 6 && m->headers[i][0] != NULL; i++)
		session_header(s, m->headers[i][0], m->headers[i][1]);
	session_eoh(s);
	session_body(s, (const unsigned char *)"hello\r\n", 7);
	v = session_eom(s);
	is_int(v->action, SESSION_ACCEPT, "%s: action", m->name);
	if (m->ar != NULL)
		is_str(v->authres, m->ar, "%s: header", m->name);
	else if (m->skipped != NULL)
		ok(v->authres == NULL, "%s: no header", m->name);
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
	ok(strstr(session_log_line(s, 1.5), "action=accept") != NULL, "%s: log line",
	    m->name);
	/* a second message on the same connection starts clean */
	session_reset(s);
	session_free(&s);
	ok(s == NULL, "%s: session_free clears", m->name);
}

static void
test_limits(void)
{
	struct am_config *cfg = conf(base);
	struct session *s;
	int rc = 0;

	if (cfg == NULL)
		return;
	s = session_new(&env, cfg);
	config_unref(&cfg);
	session_connect(s, NULL, "192.0.2.10");
	session_mail_from(s, "<user@example.org>");
	for (int i = 0; i < SESSION_MAX_HEADERS + 5; i++)
		rc |= session_header(s, "X-Many", " v");
	is_int(rc, -1, "header count limit reported");
	ok(session_eom(s)->authres != NULL, "still a verdict over the header limit");
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
	struct am_config *cfg = conf("authserv_id = \"mx.test.example\"; spf = { helo = false; };");

	if (cfg == NULL)
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct session *s = session_new(&env, cfg);
		const struct session_verdict *v;

		session_connect(s, NULL, "192.0.2.10");
		session_helo(s, "x");
		session_mail_from(s, cases[i].arg);
		v = session_eom(s);
		ok(v->authres != NULL && v->spf_mailfrom_done, "envelope %s evaluated",
		    cases[i].arg);
		session_free(&s);
	}
	config_unref(&cfg);
}

int
main(void)
{
	char err[256];

	env.dns = dns_table_new();
	dns_table_add_text(env.dns, "example.org", DNS_T_TXT,
	    "v=spf1 ip4:192.0.2.10 -all");
	dns_table_add_text(env.dns, "mail.example.org", DNS_T_TXT,
	    "v=spf1 ip4:192.0.2.10 -all");
	env.spf = spf_checker_new(env.dns, "mx.test.example", err, sizeof(err));
	if (!ok(env.spf != NULL, "spf checker: %s", err))
		return test_done("session");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	test_limits();
	test_envelope();
	spf_checker_free(&env.spf);
	dns_resolver_free(&env.dns);
	return test_done("session");
}
