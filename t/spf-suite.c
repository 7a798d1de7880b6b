/*
 * spf-suite.c - run the openspf RFC 7208 conformance suite through
 * spf_check() with each scenario's zone loaded into a table resolver and,
 * with --forward, once more through the production DNS path: a session
 * (session_connect/helo/mail_from/eom, as the milter drives it) whose
 * session_env forwards libunbound to t/dnsd.py serving the same scenario.
 *
 * Usage: spf-suite [--forward HOST@BASE] RFC7208.txt KNOWN-FAILURES [RFC4408.txt]
 * The .txt files are t/spf-suite.py's flat output; with --forward,
 * t/dnsd.py serves scenario i of the files (in this order) on port BASE+i.
 * Every failing case is printed with got/want. The run fails unless every
 * failure is listed in KNOWN-FAILURES ("suite:name<TAB>reason" lines, #
 * comments), and fails too when a listed case passes, so the list stays
 * honest. The RFC 4408 suite is informational: its count is printed, its
 * failures never fail the run.
 *
 * The unbound path is held to the table path: a case that passes on one
 * and fails on the other, or fails on both with different results, must
 * be listed as "rfc7208-unbound:name" (or rfc4408-unbound:) with its
 * reason, and a listed one that no longer differs fails the run.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"
#include "dns.h"
#include "results.h"
#include "session.h"
#include "spf.h"
#include "spf-suitefile.h"
#include "suite-unbound.h"
#include "tap.h"
#include "util.h"

/* the counts of one suite on one path */
struct tally {
	int npass, ntotal;
};

/* result_ok - got is among the comma-separated wanted results */
static int
result_ok(enum spf_result got, const char *want)
{
	return suite_in_list(want, spf_result_name(got));
}

/* judge - whether outcome o (have: there is one) is what TEST line f
 * wants; 1 when it passes */
static int
judge(const struct spf_outcome *o, int have, char **f, const char *suite,
    const char *path)
{
	const char *want_exp = f[6];
	int pass;

	if (!have) {
		printf("%s%s %s: got no spf= result, want %s\n", suite, path,
		    f[1], f[5]);
		return 0;
	}
	pass = result_ok(o->result, f[5]);
	if (pass && *want_exp != '\0' && o->result == SPF_RESULT_FAIL) {
		if (strcmp(want_exp, "DEFAULT") == 0)
			pass = strstr(o->explanation, " is not permitted by ") !=
			    NULL;
		else
			pass = strcmp(o->explanation, want_exp) == 0;
	}
	if (!pass)
		printf("%s%s %s: got %s \"%s\" (%s), want %s \"%s\"\n", suite,
		    path, f[1], spf_result_name(o->result), o->explanation,
		    o->reason, f[5], want_exp);
	return pass;
}

/* table_check - the TEST line through spf_check() */
static void
table_check(struct spf_checker *c, char **f, struct spf_outcome *o)
{
	const char *mailfrom = f[4], *at = strrchr(f[4], '@');

	/* an empty MAIL FROM (or one with no domain) checks the HELO
	 * identity, as the suite intends */
	if (at != NULL && at[1] == '\0')
		mailfrom = NULL;
	spf_check(c, f[2], mailfrom, f[3], o);
}

/* session_check - the TEST line through a session as the milter feeds it:
 * the result for MAIL FROM, or for HELO when MAIL FROM is null; 0 when the
 * session gave neither */
static int
session_check(const struct session_env *env, struct settings *cfg, char **f,
    struct spf_outcome *o)
{
	struct session *s = session_new(env, cfg);
	const struct session_verdict *v;
	const struct result *r;
	char *arg = xasprintf("<%s>", f[4]);
	int have = 1;

	session_connect(s, NULL, f[2]);
	session_helo(s, f[3]);
	session_mail_from(s, arg);
	session_eoh(s);
	v = session_eom(s);
	/* MAIL FROM's result comes first when it was checked */
	r = results_next(v->results, NULL, "spf");
	if (r != NULL)
		*o = *r->spf;
	else
		have = 0;
	session_free(&s);
	free(arg);
	return have;
}

/* run_suite - run a flat suite file; fills t (table path) and u (unbound
 * path, when fwd has a host). known may be NULL (informational) for the
 * table path; the unbound path always answers to it. Returns the number
 * of unlisted failures plus listed cases that passed. */
static int
run_suite(const char *path, const char *suite, struct suite_known *k,
    struct suite_known *ku, struct suite_fwd *fwd, struct tally *t, struct tally *u)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	struct dns_resolver *dns = NULL;
	struct spf_checker *c = NULL;
	struct session_env *env = NULL;
	struct settings *cfg = NULL;
	char err[128];
	int bad = 0;

	memset(t, 0, sizeof(*t));
	memset(u, 0, sizeof(*u));
	if (f == NULL) {
		fprintf(stderr, "spf-suite: cannot open %s\n", path);
		return 1;
	}
	while (getline(&line, &cap, f) > 0) {
		char *fl[SUITE_MAX_FIELDS];
		size_t fll[SUITE_MAX_FIELDS];
		size_t n = suite_split(line, fl, fll);

		if (strcmp(fl[0], "SCENARIO") == 0) {
			dns = dns_table_new();
			c = spf_checker_new(dns, "receiver.example.net", err,
			    sizeof(err));
			/* a fresh resolver per scenario: names repeat across
			 * scenarios, and nothing may come from another's cache.
			 * HELO is checked only where the suite means it (the
			 * null sender), as the table path does */
			if (fwd->host[0] != '\0')
				env = suite_env_open(fwd, "spf = { helo = false; };\n"
				    "dkim = { enable = false; };\n"
				    "dmarc = { enable = false; };", &cfg);
		} else if (dns == NULL) {
			continue;
		} else if (strcmp(fl[0], "ZONE") == 0 && n >= 4) {
			if (dns_table_add_text(dns, fl[1], suite_type_of(fl[2]),
			    fl[3]) != 0)
				fprintf(stderr, "%s: skipped bad RR %s %s %s\n",
				    suite, fl[1], fl[2], fl[3]);
		} else if (strcmp(fl[0], "TXT") == 0 && n >= 4) {
			unsigned long ns = 0;

			str_parse_uint(fl[3], SUITE_MAX_FIELDS, &ns);
			if (ns > n - 4)
				ns = n - 4;
			/* type 99 is never asked for (RFC 7208 3.1) */
			if (suite_type_of(fl[2]) == DNS_T_TXT)
				suite_add_txt(dns, fl[1], DNS_T_TXT, fl + 4,
				    fll + 4, ns);
		} else if (strcmp(fl[0], "TIMEOUT") == 0 && n >= 3) {
			static const char *const ty[] = { "A", "AAAA", "MX",
				"PTR", "TXT", "CNAME" };

			/* types answered before the TIMEOUT entry still answer */
			for (size_t i = 0; i < sizeof(ty) / sizeof(ty[0]); i++)
				if (!suite_in_list(fl[2], ty[i]))
					dns_table_set_status(dns, fl[1],
					    suite_type_of(ty[i]), DNS_STATUS_TEMPFAIL);
		} else if (strcmp(fl[0], "TEST") == 0 && n >= 7) {
			struct spf_outcome o, ou;
			char full[256];
			int p, pu, have, idx;

			table_check(c, fl, &o);
			p = judge(&o, 1, fl, suite, "");
			snprintf(full, sizeof(full), "%s:%s", suite, fl[1]);
			t->ntotal++;
			t->npass += p;
			if (k != NULL) {
				idx = suite_known_mark(k, full) ? 0 : -1;
				/* each case is one check: a pass, or a listed
				 * known failure; a listed case that passes
				 * fails the list */
				if (!ok(p != (idx >= 0), "%s: %s", full, p ?
				    "now passes: remove it from the known failures" :
				    "fails and is not listed in the known failures"))
					bad++;
			}
			if (env == NULL)
				continue;
			have = session_check(env, cfg, fl, &ou);
			pu = judge(&ou, have, fl, suite, " (unbound)");
			u->ntotal++;
			u->npass += pu;
			snprintf(full, sizeof(full), "%s-unbound:%s", suite, fl[1]);
			idx = suite_known_mark(ku, full) ? 0 : -1;
			/* a difference between the paths is listed, and a
			 * listed one is still a difference. Where the suite
			 * allows several results, the paths may differ among
			 * them (ptr-limit: the order of PTR records) */
			if (have && pu == p && (p || ou.result == o.result)) {
				ok(idx < 0, "%s: the paths agree now: remove it "
				    "from the known failures", full);
			} else if (!ok(idx >= 0, "%s: unbound path %s, table path "
			    "%s (%s); not listed in the known failures", full,
			    have ? spf_result_name(ou.result) : "(no result)",
			    spf_result_name(o.result), p ? "pass" : "fail"))
				bad++;
		} else if (strcmp(fl[0], "END") == 0) {
			spf_checker_free(&c);
			dns_resolver_free(&dns);
			suite_env_close(&env, &cfg);
		}
	}
	spf_checker_free(&c);
	dns_resolver_free(&dns);
	suite_env_close(&env, &cfg);
	free(line);
	fclose(f);
	return bad;
}

int
main(int argc, char **argv)
{
	struct suite_known k = { .n = 0 };
	struct suite_fwd fwd;
	struct tally t, u;
	int bad;

	if (suite_fwd_args(&argc, &argv, &fwd) != 0 || argc < 3) {
		fprintf(stderr, "usage: spf-suite [--forward HOST@BASE] "
		    "RFC7208.txt KNOWN [RFC4408.txt]\n");
		return 2;
	}
	if (suite_known_load(&k, argv[2]) != 0)
		ok(0, "cannot read the known failures %s", argv[2]);
	bad = run_suite(argv[1], "rfc7208", &k, &k, &fwd, &t, &u);
	printf("spf rfc7208 suite (table): %d/%d passed\n", t.npass, t.ntotal);
	if (fwd.host[0] != '\0')
		printf("spf rfc7208 suite (unbound): %d/%d passed\n", u.npass,
		    u.ntotal);
	ok(t.ntotal > 0, "rfc7208 suite has cases");
	ok(fwd.host[0] == '\0' || u.ntotal == t.ntotal,
	    "the unbound path ran every rfc7208 case");
	ok(bad == 0, "every rfc7208 failure is a listed known failure");
	if (argc > 3) {
		bad = run_suite(argv[3], "rfc4408", NULL, &k, &fwd, &t, &u);
		printf("spf rfc4408 suite (table, informational): %d/%d passed\n",
		    t.npass, t.ntotal);
		if (fwd.host[0] != '\0')
			printf("spf rfc4408 suite (unbound, informational): "
			    "%d/%d passed\n", u.npass, u.ntotal);
		ok(bad == 0, "every rfc4408 difference between the paths is "
		    "listed");
	}
	/* entries for the unbound path are checked only when it ran */
	for (size_t i = 0; i < k.n; i++)
		if (fwd.host[0] != '\0' || strstr(k.name[i], "-unbound:") == NULL)
			ok(k.seen[i], "known failure %s is a case of the suite",
			    k.name[i]);
	suite_known_free(&k);
	return test_done("spf-suite");
}
