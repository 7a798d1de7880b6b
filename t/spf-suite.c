/*
 * spf-suite.c - run the openspf RFC 7208 conformance suite through
 * spf_check() with each scenario's zone loaded into a table resolver.
 *
 * Usage: spf-suite RFC7208.txt KNOWN-FAILURES [RFC4408.txt]
 * The .txt files are t/spf-suite.py's flat output. Every failing case is
 * printed with got/want. The run fails unless every failure is listed in
 * KNOWN-FAILURES ("suite:name<TAB>reason" lines, # comments), and fails too when
 * a listed case passes, so the list stays honest. The RFC 4408 suite is
 * informational: its count is printed, its failures never fail the run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "spf.h"
#include "spf-suitefile.h"
#include "tap.h"
#include "util.h"

#define MAX_KNOWN 256

struct known {
	char *name[MAX_KNOWN];
	int seen[MAX_KNOWN];
	size_t n;
};

static int
known_find(struct known *k, const char *name)
{
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->name[i], name) == 0)
			return (int)i;
	return -1;
}

static void
known_load(struct known *k, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL && k->n < MAX_KNOWN) {
		size_t len = strcspn(line, " \t\r\n");

		if (line[0] == '#' || len == 0)
			continue;
		k->name[k->n++] = xstrndup(line, len);
	}
	fclose(f);
}

/* run_test - one TEST line; 1 when it passes */
/* result_ok - got is among the comma-separated wanted results */
static int
result_ok(enum spf_result got, const char *want)
{
	return suite_in_list(want, spf_result_name(got));
}

static int
run_test(struct spf_checker *c, char **f, const char *suite)
{
	struct spf_outcome o;
	const char *mailfrom = f[4], *at = strrchr(f[4], '@');
	const char *want_exp = f[6];
	int pass;

	/* an empty MAIL FROM (or one with no domain) checks the HELO
	 * identity, as the suite intends */
	if (at != NULL && at[1] == '\0')
		mailfrom = NULL;
	spf_check(c, f[2], mailfrom, f[3], &o);
	pass = result_ok(o.result, f[5]);
	if (pass && *want_exp != '\0' && o.result == SPF_RESULT_FAIL) {
		if (strcmp(want_exp, "DEFAULT") == 0)
			pass = strstr(o.explanation, " is not permitted by ") !=
			    NULL;
		else
			pass = strcmp(o.explanation, want_exp) == 0;
	}
	if (!pass)
		printf("%s %s: got %s \"%s\" (%s), want %s \"%s\"\n", suite,
		    f[1], spf_result_name(o.result), o.explanation, o.reason,
		    f[5], want_exp);
	return pass;
}

/* run_suite - run a flat suite file; fills npass and ntotal. known may be
 * NULL (informational). Returns the number of unlisted failures plus
 * listed cases that passed. */
static int
run_suite(const char *path, const char *suite, struct known *k,
    int *npass, int *ntotal)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	struct dns_resolver *dns = NULL;
	struct spf_checker *c = NULL;
	char err[128];
	int bad = 0;

	*npass = *ntotal = 0;
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
			char full[256];
			int p = run_test(c, fl, suite), idx;

			snprintf(full, sizeof(full), "%s:%s", suite, fl[1]);
			(*ntotal)++;
			*npass += p;
			if (k == NULL)
				continue;
			idx = known_find(k, full);
			if (idx >= 0)
				k->seen[idx] = 1;
			/* each case is one check: a pass, or a listed known
			 * failure; a listed case that passes fails the list */
			if (!ok(p != (idx >= 0), "%s: %s", full, p ?
			    "now passes: remove it from the known failures" :
			    "fails and is not listed in the known failures"))
				bad++;
		} else if (strcmp(fl[0], "END") == 0) {
			spf_checker_free(&c);
			dns_resolver_free(&dns);
		}
	}
	spf_checker_free(&c);
	dns_resolver_free(&dns);
	free(line);
	fclose(f);
	return bad;
}

int
main(int argc, char **argv)
{
	struct known k = { .n = 0 };
	int np, nt, bad;

	if (argc < 3) {
		fprintf(stderr, "usage: spf-suite RFC7208.txt KNOWN [RFC4408.txt]\n");
		return 2;
	}
	known_load(&k, argv[2]);
	bad = run_suite(argv[1], "rfc7208", &k, &np, &nt);
	printf("spf rfc7208 suite: %d/%d passed\n", np, nt);
	ok(nt > 0, "rfc7208 suite has cases");
	ok(bad == 0, "every rfc7208 failure is a listed known failure");
	for (size_t i = 0; i < k.n; i++)
		ok(k.seen[i], "known failure %s is a case of the suite", k.name[i]);
	if (argc > 3) {
		int np4, nt4;

		run_suite(argv[3], "rfc4408", NULL, &np4, &nt4);
		printf("spf rfc4408 suite (informational): %d/%d passed\n", np4,
		    nt4);
	}
	for (size_t i = 0; i < k.n; i++)
		free(k.name[i]);
	return test_done("spf-suite");
}
