/*
 * dmarc-suite.c - other people's DMARC expectations, run through
 * lib/mailaddr, lib/psl and lib/dmarc.
 *
 * usage: dmarc-suite FLAT.txt KNOWN.txt
 * FLAT.txt is t/dmarc-suite.py's flattening of t/data/dmarc
 * (opendmarc tables, Mail::DMARC cases with its mock zone, authheaders
 * cases, the PSL test list); KNOWN.txt lists our deliberate differences,
 * one "table<TAB>id<TAB>reason" a line. A case that differs and is not
 * listed fails; a listed case that now agrees fails too, and so does a
 * listed case that no table holds. Informative (DMARCbis) rows are counted
 * apart and never fail.
 *
 * Prints "dmarc <table>: N/M" per table (N agreeing of M normative cases);
 * "(table)" marks the tables whose EVAL rows look up DNS (the mail-dmarc
 * cases with mock-zone.db, authheaders with dns-records.tsv).
 *
 * With --forward HOST@BASE the EVAL rows run once more on the production
 * DNS path: t/dnsd.py serves the zone after the i-th ZONE_RESET on port
 * BASE+i, and the row is evaluated by dmarc_evaluate(), the function the
 * session calls, on the checker of a session_env (session_env_open:
 * libunbound behind the answer cache, the row's PSL). The rows hand SPF and
 * DKIM results in, so no session can carry them. Printed as "dmarc
 * <table> (unbound): N/M of the EVAL rows" (those that can look up DNS;
 * a From without a usable domain is decided before any lookup), with the
 * table path's count of the same rows. The unbound path is held to the table path: a row whose
 * result, policy, disposition or header.from differ between them must be
 * listed as "<table>-unbound<TAB>id<TAB>reason", and a listed row that no
 * longer differs fails.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "dmarc.h"
#include "dns.h"
#include "mailaddr.h"
#include "psl.h"
#include "session.h"
#include "settings.h"
#include "suite-unbound.h"
#include "tap.h"
#include "util.h"

#define MAX_FIELDS 16
#define MAX_TABLES 16
#define MAX_KNOWN 128
#define MAX_PSLS 4

struct table {
	char name[64];
	int total, agree, known, skipped, info_total, info_agree;
	/* the EVAL rows, which look up DNS: on the table path (normative
	 * ones) and on the unbound path */
	int evals, dns_total, dns_agree, dns_info_total, dns_info_agree;
	int u_total, u_agree, u_known, u_info_total, u_info_agree;
};

struct known {
	char table[64], id[128];
	int seen;
};

static struct table tables[MAX_TABLES];
static size_t ntables;
static struct known known[MAX_KNOWN];
static size_t nknown;

static struct {
	char path[1024];
	struct psl *psl;
} psls[MAX_PSLS];
static size_t npsls;
static struct psl *cur_psl;
static char cur_psl_path[1024];
static struct dns_resolver *zone;

/* --forward: the unbound path */
static struct suite_fwd fwd;
static unsigned nzones;          /* ZONE_RESETs seen: zone i is block i-1 */
static struct session_env *uenv; /* for the current zone and PSL */
static struct settings *ucfg;
static char upsl[1024];          /* the PSL uenv was made with */

/* unescape - undo dmarc-suite.py's \\, \t, \r, \n in place */
static void
unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '\\' && s[1] != '\0') {
			s++;
			*o++ = *s == 't' ? '\t' : *s == 'r' ? '\r' :
			    *s == 'n' ? '\n' : *s;
		} else
			*o++ = *s;
	}
	*o = '\0';
}

static size_t
split(char *line, char **f)
{
	size_t n = 0;
	char *s = line;

	while (n < MAX_FIELDS && (f[n] = strsep(&s, "\t")) != NULL)
		unescape(f[n++]);
	return n;
}

static struct table *
table(const char *name)
{
	for (size_t i = 0; i < ntables; i++)
		if (strcmp(tables[i].name, name) == 0)
			return &tables[i];
	if (ntables == MAX_TABLES) {
		fprintf(stderr, "dmarc-suite: too many tables\n");
		exit(1);
	}
	str_copy(tables[ntables].name, name, sizeof(tables[0].name));
	return &tables[ntables++];
}

static struct known *
find_known(const char *t, const char *id)
{
	for (size_t i = 0; i < nknown; i++)
		if (strcmp(known[i].table, t) == 0 &&
		    strcmp(known[i].id, id) == 0)
			return &known[i];
	return NULL;
}

static void
load_known(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];

	if (f == NULL) {
		fprintf(stderr, "dmarc-suite: %s: cannot open\n", path);
		exit(1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *fl[MAX_FIELDS];

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (split(line, fl) < 3 || nknown == MAX_KNOWN) {
			fprintf(stderr, "dmarc-suite: %s: bad line\n", path);
			exit(1);
		}
		str_copy(known[nknown].table, fl[0], sizeof(known[0].table));
		str_copy(known[nknown].id, fl[1], sizeof(known[0].id));
		nknown++;
	}
	fclose(f);
}

/* verdict - count one case: agree, a listed difference, or a failure */
static void
verdict(const char *t, const char *id, int info, int agree, const char *got,
    const char *want)
{
	struct table *tb = table(t);
	struct known *k = find_known(t, id);

	if (k != NULL)
		k->seen = 1;
	if (info) {
		tb->info_total++;
		tb->info_agree += agree;
		return;
	}
	tb->total++;
	if (agree) {
		tb->agree++;
		ok(k == NULL, "%s %s: listed as a difference but agrees (%s)",
		    t, id, got);
	} else if (k != NULL) {
		tb->known++;
		ok(1, "known difference");
	} else
		ok(0, "%s %s: got %s, want %s", t, id, got, want);
}

static void
use_psl(const char *path)
{
	char err[256];

	str_copy(cur_psl_path, path, sizeof(cur_psl_path));
	if (strcmp(path, "-") == 0) {
		cur_psl = NULL;
		return;
	}
	for (size_t i = 0; i < npsls; i++) {
		if (strcmp(psls[i].path, path) == 0) {
			cur_psl = psls[i].psl;
			return;
		}
	}
	if (npsls == MAX_PSLS) {
		fprintf(stderr, "dmarc-suite: too many lists\n");
		exit(1);
	}
	psls[npsls].psl = psl_load(path, err, sizeof(err));
	if (psls[npsls].psl == NULL) {
		fprintf(stderr, "dmarc-suite: %s\n", err);
		exit(1);
	}
	str_copy(psls[npsls].path, path, sizeof(psls[0].path));
	cur_psl = psls[npsls++].psl;
}

static void
add_zone(const char *name, const char *type, const char *value)
{
	int t = strcmp(type, "TXT") == 0 ? DNS_T_TXT :
	    strcmp(type, "A") == 0 ? DNS_T_A :
	    strcmp(type, "AAAA") == 0 ? DNS_T_AAAA :
	    strcmp(type, "MX") == 0 ? DNS_T_MX : 0;

	if (t == 0 || dns_table_add_text(zone, name, t, value) < 0) {
		fprintf(stderr, "dmarc-suite: bad zone entry %s %s\n", name,
		    type);
		exit(1);
	}
}

/* parse_dkim - "d1:pass,d2:fail" into up to 8 results (strings in buf) */
static size_t
parse_dkim(const char *spec, struct dmarc_dkim *d, char *buf, size_t buflen)
{
	size_t n = 0;
	char *s = buf, *item;

	str_copy(buf, spec, buflen);
	while (n < 8 && (item = strsep(&s, ",")) != NULL) {
		char *colon = strchr(item, ':');

		if (colon == NULL)
			continue;
		*colon = '\0';
		d[n].domain = item;
		d[n].pass = strcmp(colon + 1, "pass") == 0;
		n++;
	}
	return n;
}

/* info_flag - the <info> field: 1 for informative (DMARCbis) rows */
static int
info_flag(char **f)
{
	return f[3][0] == '1';
}

static void
run_parse(char **f)
{
	struct dmarc_record r;
	char err[128], got[200], want[200];
	int rc = dmarc_record_parse(f[4], &r, err, sizeof(err));
	int agree = (rc == 0) == (strcmp(f[5], "valid") == 0);

	if (rc == 0 && agree && strcmp(f[6], "-") != 0)
		agree = strcmp(dmarc_policy_name(r.p), f[6]) == 0;
	if (rc == 0 && agree && strcmp(f[7], "-") != 0)
		agree = (unsigned)strtoul(f[7], NULL, 10) == r.pct;
	if (rc == 0)
		snprintf(got, sizeof(got), "valid p=%s pct=%u",
		    dmarc_policy_name(r.p), r.pct);
	else
		snprintf(got, sizeof(got), "invalid (%s)", err);
	snprintf(want, sizeof(want), "%s p=%s pct=%s", f[5], f[6], f[7]);
	verdict(f[1], f[2], info_flag(f), agree, got, want);
}

static void
run_align(char **f, int dkim)
{
	int strict = strcmp(f[6], "strict") == 0;
	int want = strcmp(f[7], "aligned") == 0, got = 0;

	if (dkim) {
		struct dmarc_dkim d[8];
		char buf[512];
		size_t n = parse_dkim(f[5], d, buf, sizeof(buf));

		for (size_t i = 0; i < n; i++)
			if (d[i].pass && dmarc_aligned(cur_psl, f[4],
			    d[i].domain, strict))
				got = 1;
	} else
		got = dmarc_aligned(cur_psl, f[4], f[5], strict);
	verdict(f[1], f[2], info_flag(f), got == want,
	    got ? "aligned" : "not-aligned", f[7]);
}

static void
run_from(char **f)
{
	char out[256], got[300];
	enum mailaddr_status st = mailaddr_from_domain(f[4], out, sizeof(out));
	int agree;

	if (strcmp(f[5], "!error") == 0)
		agree = st != MAILADDR_OK;
	else
		agree = st == MAILADDR_OK && strcmp(out, f[5]) == 0;
	if (st == MAILADDR_OK)
		str_copy(got, out, sizeof(got));
	else
		snprintf(got, sizeof(got), "(%s)", mailaddr_status_text(st));
	verdict(f[1], f[2], info_flag(f), agree, got, f[5]);
}

static void
run_org(char **f)
{
	char out[256];
	const char *in = strcmp(f[4], "(null)") == 0 ? NULL : f[4];
	int rc = psl_org_domain(cur_psl, in, out, sizeof(out));
	const char *got = rc == 0 ? out : "(null)";

	verdict(f[1], f[2], info_flag(f), strcmp(got, f[5]) == 0, got, f[5]);
}

/* eval - an EVAL row through dmarc_evaluate() on checker c with lookups
 * bounded by deadline (NULL: none); got gets the outcome with its reason,
 * cmp the fields compared. 1 when it agrees with the row. */
static int
eval(char **f, struct dmarc_checker *c, const struct timespec *deadline,
    char *got, size_t gotlen, char *cmp, size_t cmplen)
{
	char from[256], buf[512];
	struct dmarc_dkim d[8];
	struct dmarc_input in;
	struct dmarc_outcome out;
	const char *hfrom = "none", *pol;
	int agree = 1;

	memset(&in, 0, sizeof(in));
	memset(&out, 0, sizeof(out));
	if (strcmp(f[4], "header") == 0) {
		enum mailaddr_status st = mailaddr_from_domain(f[5], from,
		    sizeof(from));

		if (st != MAILADDR_OK) {
			/* the session's mapping: no usable author domain */
			out.result = DMARC_RES_PERMERROR;
			snprintf(out.reason, sizeof(out.reason), "From: %s",
			    mailaddr_status_text(st));
			goto compare;
		}
	} else
		str_copy(from, f[5], sizeof(from));
	hfrom = from;
	in.from_domain = from;
	in.spf_domain = strcmp(f[6], "-") == 0 ? NULL : f[6];
	in.spf_pass = f[7][0] == '1';
	in.ndkim = parse_dkim(f[8], d, buf, sizeof(buf));
	in.dkim = d;
	dmarc_evaluate(c, &in, 0, deadline, &out);
compare:
	pol = out.policy == DMARC_POLICY_UNSET ? "none" :
	    dmarc_policy_name(out.policy);
	if (strcmp(f[9], "-") != 0 &&
	    strcmp(dmarc_res_name(out.result), f[9]) != 0)
		agree = 0;
	if (strcmp(f[10], "-") != 0 && strcmp(pol, f[10]) != 0)
		agree = 0;
	if (strcmp(f[11], "-") != 0 &&
	    strcmp(dmarc_policy_name(out.disposition), f[11]) != 0)
		agree = 0;
	if (strcmp(f[12], "-") != 0 && strcmp(hfrom, f[12]) != 0)
		agree = 0;
	snprintf(cmp, cmplen, "dmarc=%s policy=%s disposition=%s "
	    "header.from=%s", dmarc_res_name(out.result), pol,
	    dmarc_policy_name(out.disposition), hfrom);
	snprintf(got, gotlen, "%s (%s)", cmp, out.reason);
	return agree;
}
/* unbound_checker - the DMARC checker of a session_env for the current
 * zone (t/dnsd.py's block) and PSL, made when either changes */
static struct dmarc_checker *
unbound_checker(void)
{
	char abs[PATH_MAX], *extra;

	if (uenv != NULL && strcmp(upsl, cur_psl_path) == 0)
		return uenv->dmarc;
	suite_env_close(&uenv, &ucfg);
	if (nzones == 0 || realpath(cur_psl_path, abs) == NULL) {
		fprintf(stderr, "dmarc-suite: EVAL row without a zone or a "
		    "list (%s)\n", cur_psl_path);
		exit(1);
	}
	fwd.next = fwd.base + nzones - 1;
	extra = xasprintf("spf = { enable = false; };\n"
	    "dkim = { enable = false; };\n"
	    "dmarc = { psl_file = \"%s\"; };", abs);
	uenv = suite_env_open(&fwd, extra, &ucfg);
	free(extra);
	str_copy(upsl, cur_psl_path, sizeof(upsl));
	return uenv->dmarc;
}

static void
run_eval(char **f)
{
	struct table *tb = table(f[1]);
	struct dmarc_checker *c;
	char err[128], got[700], cmp[400], want[400], ugot[700], ucmp[400];
	char ut[80];
	struct timespec deadline;
	struct known *k;
	int agree, uagree;

	c = dmarc_checker_new(zone, cur_psl, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "dmarc-suite: %s\n", err);
		exit(1);
	}
	agree = eval(f, c, NULL, got, sizeof(got), cmp, sizeof(cmp));
	dmarc_checker_free(&c);
	snprintf(want, sizeof(want), "dmarc=%s policy=%s disposition=%s "
	    "header.from=%s", f[9], f[10], f[11], f[12]);
	verdict(f[1], f[2], info_flag(f), agree, got, want);
	tb->evals++;
	if (info_flag(f)) {
		tb->dns_info_total++;
		tb->dns_info_agree += agree;
	} else {
		tb->dns_total++;
		tb->dns_agree += agree;
	}
	if (fwd.host[0] == '\0')
		return;

	/* the production DNS path: the session's function and resolver,
	 * with the session's default DNS budget for a message */
	c = unbound_checker();
	uagree = eval(f, c, deadline_in(&deadline, ucfg->policy_dns_budget_ms),
	    ugot, sizeof(ugot), ucmp, sizeof(ucmp));
	if (info_flag(f)) {
		tb->u_info_total++;
		tb->u_info_agree += uagree;
	} else {
		tb->u_total++;
		tb->u_agree += uagree;
	}
	snprintf(ut, sizeof(ut), "%s-unbound", f[1]);
	if ((k = find_known(ut, f[2])) != NULL)
		k->seen = 1;
	if (strcmp(cmp, ucmp) == 0) {
		ok(k == NULL, "%s %s: listed as a difference but the paths "
		    "agree (%s)", ut, f[2], ugot);
	} else if (k != NULL) {
		tb->u_known++;
		ok(1, "known difference");
	} else
		ok(0, "%s %s: unbound path %s, table path %s", ut, f[2], ugot,
		    got);
}

static int
need(size_t n, size_t want, const char *what)
{
	if (n < want) {
		fprintf(stderr, "dmarc-suite: short %s line\n", what);
		exit(1);
	}
	return 1;
}

int
main(int argc, char **argv)
{
	FILE *in;
	char *line = NULL;
	size_t cap = 0;

	if (suite_fwd_args(&argc, &argv, &fwd) != 0 || argc != 3) {
		fprintf(stderr, "usage: dmarc-suite [--forward HOST@BASE] "
		    "FLAT.txt KNOWN.txt\n");
		return 2;
	}
	load_known(argv[2]);
	if ((in = fopen(argv[1], "r")) == NULL) {
		fprintf(stderr, "dmarc-suite: %s: cannot open\n", argv[1]);
		return 1;
	}
	zone = dns_table_new();
	while (getline(&line, &cap, in) > 0) {
		char *f[MAX_FIELDS];
		size_t n;

		line[strcspn(line, "\n")] = '\0';
		n = split(line, f);
		if (strcmp(f[0], "PSL") == 0 && need(n, 2, f[0]))
			use_psl(f[1]);
		else if (strcmp(f[0], "ZONE_RESET") == 0) {
			dns_resolver_free(&zone);
			zone = dns_table_new();
			/* the next zone: t/dnsd.py's next block */
			suite_env_close(&uenv, &ucfg);
			nzones++;
		} else if (strcmp(f[0], "ZONE") == 0 && need(n, 4, f[0]))
			add_zone(f[1], f[2], f[3]);
		else if (strcmp(f[0], "PARSE") == 0 && need(n, 8, f[0]))
			run_parse(f);
		else if (strcmp(f[0], "ALIGN") == 0 && need(n, 8, f[0]))
			run_align(f, 0);
		else if (strcmp(f[0], "DALIGN") == 0 && need(n, 8, f[0]))
			run_align(f, 1);
		else if (strcmp(f[0], "FROM") == 0 && need(n, 6, f[0]))
			run_from(f);
		else if (strcmp(f[0], "ORG") == 0 && need(n, 6, f[0]))
			run_org(f);
		else if (strcmp(f[0], "EVAL") == 0 && need(n, 13, f[0]))
			run_eval(f);
		else if (strcmp(f[0], "SKIP") == 0 && need(n, 4, f[0]))
			table(f[1])->skipped++;
		else {
			fprintf(stderr, "dmarc-suite: unknown line %s\n", f[0]);
			return 1;
		}
	}
	free(line);
	fclose(in);

	suite_env_close(&uenv, &ucfg);
	/* entries for the unbound path are checked only when it ran */
	for (size_t i = 0; i < nknown; i++)
		if (fwd.host[0] != '\0' ||
		    strstr(known[i].table, "-unbound") == NULL)
			ok(known[i].seen, "%s %s: listed as a difference, no "
			    "such case", known[i].table, known[i].id);
	for (size_t i = 0; i < ntables; i++) {
		const struct table *t = &tables[i];

		printf("dmarc %s%s: %d/%d", t->name, t->evals ? " (table)" : "",
		    t->agree, t->total);
		if (t->known)
			printf(" (%d known differences)", t->known);
		if (t->skipped)
			printf(" (%d not run)", t->skipped);
		if (t->info_total)
			printf(" (DMARCbis, informative: %d/%d agree)",
			    t->info_agree, t->info_total);
		printf("\n");
		if (fwd.host[0] == '\0' || t->evals == 0)
			continue;
		printf("dmarc %s (unbound): %d/%d of the EVAL rows (table "
		    "path: %d/%d)", t->name, t->u_agree, t->u_total,
		    t->dns_agree, t->dns_total);
		if (t->u_known)
			printf(" (%d known differences)", t->u_known);
		if (t->u_info_total)
			printf(" (DMARCbis, informative: %d/%d agree; table "
			    "path: %d/%d)", t->u_info_agree, t->u_info_total,
			    t->dns_info_agree, t->dns_info_total);
		printf("\n");
	}
	dns_resolver_free(&zone);
	for (size_t i = 0; i < npsls; i++)
		psl_unref(&psls[i].psl);
	return test_done("dmarc-suite");
}
