/*
 * dmarc-suite.c - other people's DMARC expectations and our own tree-walk
 * table, run through lib/mailaddr, lib/psl and lib/dmarc.
 *
 * usage: dmarc-suite [--forward HOST@BASE] FLAT.txt KNOWN.txt
 * FLAT.txt is t/dmarc-suite.py's flattening of t/data/dmarc
 * (opendmarc tables, Mail::DMARC cases with its mock zone, authheaders
 * cases, the PSL test list, our treewalk/ cases with their zone); KNOWN.txt
 * lists our deliberate differences, one "table<TAB>id<TAB>reason" a line.
 * A case that differs and is not listed fails; a listed case that now
 * agrees fails too, and so does a listed case that no table holds.
 *
 * Every row names the checker's discovery it runs with: "psl" (RFC 7489,
 * the current list: dmarc_checker_new(zone, psl)) or "treewalk" (RFC 9989,
 * dmarc_checker_new(zone, NULL) and dmarc_checker_set_discovery(TREEWALK)).
 * Records are parsed by dmarc_record_parse_as() in the row's mode;
 * organizational domains (ORG) are dmarc_org_domain() of the row's
 * checker, PSLORG rows psl_org_domain() of the list; tree-walk alignment
 * (ALIGN, DALIGN in treewalk mode) is strict: the same name, relaxed: the
 * same name or the same dmarc_org_domain().
 *
 * A row's <checks> ("-" or key=value words) asks more of it:
 *   EVAL   queries=N (outcome.walk_queries), org=D (outcome.org_domain),
 *          testing=0|1, psd_record=0|1 (outcome.record_from_psd), and the
 *          input random=N (the pct sampling number, default 0)
 *   ORG    queries=N: the table resolver answered N queries for the walk
 *          (table path only)
 *   PARSE  testing=0|1, has_t=0|1, psd=y|n|u
 *
 * Prints "dmarc <table>: N/M" per table (N agreeing of M cases);
 * "(table)" marks the tables with rows that look up DNS (EVAL rows, and
 * ORG, ALIGN and DALIGN rows in treewalk mode).
 *
 * With --forward HOST@BASE the rows that look up DNS run once more on the
 * production DNS path: t/dnsd.py serves the zone after the i-th
 * ZONE_RESET on port BASE+i, and the row runs on the checker of a
 * session_env (session_env_open: libunbound behind the answer cache) made
 * with dmarc.discovery set to the row's mode (and dmarc.psl_file to the
 * row's list in psl mode); EVAL rows through
 * dmarc_evaluate(), the function the session calls. The rows hand SPF and
 * DKIM results in, so no session can carry them. Printed as "dmarc
 * <table> (unbound): N/M of the rows that look up DNS" (an EVAL row whose
 * From has no usable domain is decided before any lookup but counted),
 * with the table path's count of the same rows. The unbound path is held
 * to the table path: a row whose outcome differs between them must be
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
#include "dname.h"
#include "dns.h"
#include "mailaddr.h"
#include "psl.h"
#include "session.h"
#include "settings.h"
#include "suite-file.h"
#include "suite-unbound.h"
#include "tap.h"
#include "util.h"

#define MAX_TABLES 16
#define MAX_KNOWN 128
#define MAX_PSLS 4

struct table {
	char name[64];
	int total, agree, known, skipped;
	/* the rows that look up DNS: on the table path and the unbound path */
	int dns_total, dns_agree;
	int u_total, u_agree, u_known;
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
		char *fl[SUITE_MAX_FIELDS];
		size_t fll[SUITE_MAX_FIELDS];

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (suite_split(line, fl, fll) < 3 || nknown == MAX_KNOWN) {
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
verdict(const char *t, const char *id, int agree, const char *got,
    const char *want)
{
	struct table *tb = table(t);
	struct known *k = find_known(t, id);

	if (k != NULL)
		k->seen = 1;
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

static int
type_of(const char *type)
{
	return strcmp(type, "TXT") == 0 ? DNS_T_TXT :
	    strcmp(type, "A") == 0 ? DNS_T_A :
	    strcmp(type, "AAAA") == 0 ? DNS_T_AAAA :
	    strcmp(type, "MX") == 0 ? DNS_T_MX :
	    strcmp(type, "CNAME") == 0 ? DNS_T_CNAME : 0;
}

static void
add_zone(const char *name, const char *type, const char *value)
{
	int t = type_of(type);

	if (t == 0 || dns_table_add_text(zone, name, t, value) < 0) {
		fprintf(stderr, "dmarc-suite: bad zone entry %s %s\n", name,
		    type);
		exit(1);
	}
}

/* add_servfail - every type of name but those in the comma-separated
 * list answers SERVFAIL (t/dnsd.py's SERVFAIL line) */
static void
add_servfail(const char *name, const char *answered)
{
	static const char *const ty[] = { "A", "AAAA", "MX", "TXT", "CNAME" };

	for (size_t i = 0; i < sizeof(ty) / sizeof(ty[0]); i++) {
		size_t n = strlen(ty[i]);
		const char *s = answered;
		int listed = 0;

		while ((s = strstr(s, ty[i])) != NULL) {
			if ((s == answered || s[-1] == ',') &&
			    (s[n] == '\0' || s[n] == ','))
				listed = 1;
			s += n;
		}
		if (!listed)
			dns_table_set_fail(zone, name, type_of(ty[i]),
			    DNS_FAIL_SERVFAIL);
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

/* row_mode - the <mode> field */
static enum dmarc_discovery
row_mode(char **f)
{
	if (strcmp(f[3], "treewalk") == 0)
		return DMARC_DISCOVERY_TREEWALK;
	if (strcmp(f[3], "psl") == 0)
		return DMARC_DISCOVERY_PSL;
	fprintf(stderr, "dmarc-suite: %s %s: bad mode %s\n", f[1], f[2], f[3]);
	exit(1);
}

/* check_get - the value of key in a <checks> field into out; 1 when there */
static int
check_get(const char *checks, const char *key, char *out, size_t outlen)
{
	size_t kn = strlen(key);

	for (const char *s = checks; *s != '\0';) {
		size_t n = strcspn(s, " ");

		if (n > kn && s[kn] == '=' && strncmp(s, key, kn) == 0) {
			size_t vn = n - kn - 1;

			if (vn >= outlen)
				vn = outlen - 1;
			memcpy(out, s + kn + 1, vn);
			out[vn] = '\0';
			return 1;
		}
		s += n;
		s += strspn(s, " ");
	}
	return 0;
}

/* check_uint - a number of <checks>; -1 when absent */
static long
check_uint(const char *checks, const char *key)
{
	char v[32];
	unsigned long u;

	if (!check_get(checks, key, v, sizeof(v)))
		return -1;
	if (str_parse_uint(v, 1000000, &u) != 0) {
		fprintf(stderr, "dmarc-suite: bad check %s=%s\n", key, v);
		exit(1);
	}
	return (long)u;
}

/* checker - a checker on the table resolver for the row's mode */
static struct dmarc_checker *
checker(enum dmarc_discovery mode)
{
	char err[128];
	struct dmarc_checker *c = dmarc_checker_new(zone,
	    mode == DMARC_DISCOVERY_PSL ? cur_psl : NULL, err, sizeof(err));

	if (c == NULL) {
		fprintf(stderr, "dmarc-suite: %s\n", err);
		exit(1);
	}
	dmarc_checker_set_discovery(c, mode);
	return c;
}

static const char *
psd_name(enum dmarc_psd p)
{
	return p == DMARC_PSD_Y ? "y" : p == DMARC_PSD_N ? "n" : "u";
}

static void
run_parse(char **f)
{
	struct dmarc_record r;
	char err[128], got[200], want[300], v[8];
	int rc = dmarc_record_parse_as(f[4], row_mode(f), &r, err,
	    sizeof(err));
	int agree = (rc == 0) == (strcmp(f[5], "valid") == 0);
	long n;

	if (rc == 0 && agree && strcmp(f[6], "-") != 0)
		agree = strcmp(dmarc_policy_name(r.p), f[6]) == 0;
	if (rc == 0 && agree && strcmp(f[7], "-") != 0)
		agree = (unsigned)strtoul(f[7], NULL, 10) == r.pct;
	if (rc == 0 && (n = check_uint(f[8], "testing")) >= 0 &&
	    n != (r.testing != 0))
		agree = 0;
	if (rc == 0 && (n = check_uint(f[8], "has_t")) >= 0 &&
	    n != (r.has_t != 0))
		agree = 0;
	if (rc == 0 && check_get(f[8], "psd", v, sizeof(v)) &&
	    strcmp(v, psd_name(r.psd)) != 0)
		agree = 0;
	if (rc == 0)
		snprintf(got, sizeof(got), "valid p=%s pct=%u testing=%d "
		    "has_t=%d psd=%s", dmarc_policy_name(r.p), r.pct,
		    r.testing != 0, r.has_t != 0, psd_name(r.psd));
	else
		snprintf(got, sizeof(got), "invalid (%s)", err);
	snprintf(want, sizeof(want), "%s p=%s pct=%s %s", f[5], f[6], f[7],
	    f[8]);
	verdict(f[1], f[2], agree, got, want);
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
	verdict(f[1], f[2], agree, got, f[5]);
}

/* run_pslorg - psl_org_domain() of the current list */
static void
run_pslorg(char **f)
{
	char out[256];
	const char *in = strcmp(f[4], "(null)") == 0 ? NULL : f[4];
	int rc = psl_org_domain(cur_psl, in, out, sizeof(out));
	const char *got = rc == 0 ? out : "(null)";

	verdict(f[1], f[2], strcmp(got, f[5]) == 0, got, f[5]);
}

/*
 * The rows that may look up DNS. Each runs on checker c with lookups
 * bounded by deadline (NULL: none); table_path says c is on the table
 * resolver. got gets the outcome with its reasons, cmp the fields the two
 * paths must agree on. 1 when the row's expectation holds.
 */
typedef int (*dns_row_fn)(char **f, struct dmarc_checker *c,
    const struct timespec *deadline, int table_path, char *got,
    size_t gotlen, char *cmp, size_t cmplen);

/* tw_aligned - RFC 9989 3.2: strict, the same name; relaxed, the same
 * name or the same tree-walk org domain. -1 when a walk failed. */
static int
tw_aligned(struct dmarc_checker *c, const struct timespec *deadline,
    const char *a, const char *b, int strict)
{
	char oa[DNAME_BUFSIZE], ob[DNAME_BUFSIZE];

	if (dname_equal(a, b))
		return 1;
	if (strict)
		return 0;
	if (dmarc_org_domain(c, a, deadline, oa, sizeof(oa)) != 0 ||
	    dmarc_org_domain(c, b, deadline, ob, sizeof(ob)) != 0)
		return -1;
	return dname_equal(oa, ob);
}

static int
align_row(char **f, struct dmarc_checker *c, const struct timespec *deadline,
    int dkim, char *got, size_t gotlen, char *cmp, size_t cmplen)
{
	int strict = strcmp(f[6], "strict") == 0;
	int tw = row_mode(f) == DMARC_DISCOVERY_TREEWALK;
	int want = strcmp(f[7], "aligned") == 0, res = 0;

	if (dkim) {
		struct dmarc_dkim d[8];
		char buf[512];
		size_t n = parse_dkim(f[5], d, buf, sizeof(buf));

		for (size_t i = 0; i < n && res != 1; i++) {
			int a;

			if (!d[i].pass)
				continue;
			a = tw ? tw_aligned(c, deadline, f[4], d[i].domain,
			    strict) : dmarc_aligned(cur_psl, f[4],
			    d[i].domain, strict);
			if (a != 0)
				res = a;
		}
	} else
		res = tw ? tw_aligned(c, deadline, f[4], f[5], strict) :
		    dmarc_aligned(cur_psl, f[4], f[5], strict);
	str_copy(cmp, res == 1 ? "aligned" : res == 0 ? "not-aligned" :
	    "(walk failed)", cmplen);
	str_copy(got, cmp, gotlen);
	return (res == 1) == want && res >= 0;
}

static int
align_fn(char **f, struct dmarc_checker *c, const struct timespec *deadline,
    int table_path, char *got, size_t gotlen, char *cmp, size_t cmplen)
{
	(void)table_path;
	return align_row(f, c, deadline, 0, got, gotlen, cmp, cmplen);
}

static int
dalign_fn(char **f, struct dmarc_checker *c, const struct timespec *deadline,
    int table_path, char *got, size_t gotlen, char *cmp, size_t cmplen)
{
	(void)table_path;
	return align_row(f, c, deadline, 1, got, gotlen, cmp, cmplen);
}

/* org_fn - ORG: dmarc_org_domain(); "(error)" when it fails */
static int
org_fn(char **f, struct dmarc_checker *c, const struct timespec *deadline,
    int table_path, char *got, size_t gotlen, char *cmp, size_t cmplen)
{
	char out[DNAME_BUFSIZE];
	unsigned long before = dns_table_queries(zone);
	int rc = dmarc_org_domain(c, f[4], deadline, out, sizeof(out));
	long wantq = check_uint(f[6], "queries");
	unsigned long q = dns_table_queries(zone) - before;
	int agree;

	str_copy(cmp, rc == 0 ? out : "(error)", cmplen);
	agree = strcmp(cmp, f[5]) == 0;
	if (table_path && wantq >= 0 && (unsigned long)wantq != q)
		agree = 0;
	if (table_path)
		snprintf(got, gotlen, "%s queries=%lu", cmp, q);
	else
		str_copy(got, cmp, gotlen);
	return agree;
}

/* eval_fn - EVAL: dmarc_evaluate() */
static int
eval_fn(char **f, struct dmarc_checker *c, const struct timespec *deadline,
    int table_path, char *got, size_t gotlen, char *cmp, size_t cmplen)
{
	char from[256], buf[512], v[DNAME_BUFSIZE];
	struct dmarc_dkim d[8];
	struct dmarc_input in;
	struct dmarc_outcome out;
	const char *hfrom = "none", *pol;
	long n, random = check_uint(f[13], "random");
	int agree = 1;

	(void)table_path;
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
	dmarc_evaluate(c, &in, random < 0 ? 0 : (unsigned)random, deadline,
	    &out);
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
	if ((n = check_uint(f[13], "queries")) >= 0 && n != out.walk_queries)
		agree = 0;
	if ((n = check_uint(f[13], "testing")) >= 0 && n != (out.testing != 0))
		agree = 0;
	if ((n = check_uint(f[13], "psd_record")) >= 0 &&
	    n != (out.record_from_psd != 0))
		agree = 0;
	if (check_get(f[13], "org", v, sizeof(v)) &&
	    strcmp(v, out.org_domain) != 0)
		agree = 0;
	snprintf(cmp, cmplen, "dmarc=%s policy=%s disposition=%s "
	    "header.from=%s queries=%u org=%s testing=%d psd_record=%d",
	    dmarc_res_name(out.result), pol,
	    dmarc_policy_name(out.disposition), hfrom, out.walk_queries,
	    out.org_domain[0] ? out.org_domain : "-", out.testing != 0,
	    out.record_from_psd != 0);
	snprintf(got, gotlen, "%s (%s)", cmp, out.reason);
	return agree;
}

/* unbound_checker - the DMARC checker of a session_env for the current
 * zone (t/dnsd.py's block), PSL and discovery, made when one changes: the
 * discovery by the setting dmarc.discovery, the list only in psl mode (as
 * the daemon reads it) */
static struct dmarc_checker *
unbound_checker(enum dmarc_discovery mode)
{
	static enum dmarc_discovery umode;
	char abs[PATH_MAX], *extra;

	if (uenv != NULL && umode == mode &&
	    (mode == DMARC_DISCOVERY_TREEWALK ||
	    strcmp(upsl, cur_psl_path) == 0))
		return uenv->dmarc;
	suite_env_close(&uenv, &ucfg);
	if (nzones == 0 || (mode == DMARC_DISCOVERY_PSL &&
	    realpath(cur_psl_path, abs) == NULL)) {
		fprintf(stderr, "dmarc-suite: a DNS row without a zone or a "
		    "list (%s)\n", cur_psl_path);
		exit(1);
	}
	fwd.next = fwd.base + nzones - 1;
	if (mode == DMARC_DISCOVERY_PSL)
		extra = xasprintf("spf = { enable = false; };\n"
		    "dkim = { enable = false; };\n"
		    "dmarc = { discovery = \"psl\"; psl_file = \"%s\"; };", abs);
	else
		extra = xasprintf("spf = { enable = false; };\n"
		    "dkim = { enable = false; };\n"
		    "dmarc = { discovery = \"treewalk\"; };");
	uenv = suite_env_open(&fwd, extra, &ucfg);
	free(extra);
	str_copy(upsl, cur_psl_path, sizeof(upsl));
	umode = mode;
	if (dmarc_checker_discovery(uenv->dmarc) != mode) {
		fprintf(stderr, "dmarc-suite: session_env_open made a %s "
		    "checker for dmarc.discovery = \"%s\"\n",
		    dmarc_discovery_name(dmarc_checker_discovery(uenv->dmarc)),
		    dmarc_discovery_name(mode));
		exit(1);
	}
	return uenv->dmarc;
}

/* run_dns_row - a row that looks up DNS: on the table path, and with
 * --forward on the unbound path too, held to the table path */
static void
run_dns_row(char **f, dns_row_fn fn, const char *want)
{
	struct table *tb = table(f[1]);
	struct dmarc_checker *c = checker(row_mode(f));
	char got[700], cmp[400], ugot[700], ucmp[400], ut[80];
	struct timespec deadline;
	struct known *k;
	int agree, uagree;

	agree = fn(f, c, NULL, 1, got, sizeof(got), cmp, sizeof(cmp));
	dmarc_checker_free(&c);
	verdict(f[1], f[2], agree, got, want);
	tb->dns_total++;
	tb->dns_agree += agree;
	if (fwd.host[0] == '\0')
		return;

	/* the production DNS path: the session's resolver, with the
	 * session's default DNS budget for a message */
	c = unbound_checker(row_mode(f));
	uagree = fn(f, c, deadline_in(&deadline, ucfg->policy_dns_budget_ms),
	    0, ugot, sizeof(ugot), ucmp, sizeof(ucmp));
	tb->u_total++;
	tb->u_agree += uagree;
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

static void
run_eval(char **f)
{
	char want[500];

	snprintf(want, sizeof(want), "dmarc=%s policy=%s disposition=%s "
	    "header.from=%s %s", f[9], f[10], f[11], f[12], f[13]);
	run_dns_row(f, eval_fn, want);
}

static void
run_org(char **f)
{
	char want[400];

	if (row_mode(f) == DMARC_DISCOVERY_PSL) {
		/* the list alone: no DNS */
		struct dmarc_checker *c = checker(DMARC_DISCOVERY_PSL);
		char got[400], cmp[300];
		int agree = org_fn(f, c, NULL, 0, got, sizeof(got), cmp,
		    sizeof(cmp));

		dmarc_checker_free(&c);
		verdict(f[1], f[2], agree, got, f[5]);
		return;
	}
	snprintf(want, sizeof(want), "%s %s", f[5], f[6]);
	run_dns_row(f, org_fn, want);
}

static void
run_align(char **f, int dkim)
{
	if (row_mode(f) == DMARC_DISCOVERY_PSL) {
		char got[64], cmp[64];
		int agree = align_row(f, NULL, NULL, dkim, got, sizeof(got),
		    cmp, sizeof(cmp));

		verdict(f[1], f[2], agree, got, f[7]);
		return;
	}
	run_dns_row(f, dkim ? dalign_fn : align_fn, f[7]);
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
		char *f[SUITE_MAX_FIELDS];
		size_t flen[SUITE_MAX_FIELDS], n;

		n = suite_split(line, f, flen);
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
		else if (strcmp(f[0], "TXT") == 0 && need(n, 4, f[0])) {
			unsigned long ns;

			if (str_parse_uint(f[3], n - 4, &ns) != 0) {
				fprintf(stderr, "dmarc-suite: bad TXT line\n");
				return 1;
			}
			dns_table_add_txt_strings(zone, f[1],
			    (const char *const *)f + 4, ns);
		} else if (strcmp(f[0], "SERVFAIL") == 0 && need(n, 3, f[0]))
			add_servfail(f[1], f[2]);
		else if (strcmp(f[0], "PARSE") == 0 && need(n, 9, f[0]))
			run_parse(f);
		else if (strcmp(f[0], "ALIGN") == 0 && need(n, 8, f[0]))
			run_align(f, 0);
		else if (strcmp(f[0], "DALIGN") == 0 && need(n, 8, f[0]))
			run_align(f, 1);
		else if (strcmp(f[0], "FROM") == 0 && need(n, 6, f[0]))
			run_from(f);
		else if (strcmp(f[0], "ORG") == 0 && need(n, 7, f[0]))
			run_org(f);
		else if (strcmp(f[0], "PSLORG") == 0 && need(n, 6, f[0]))
			run_pslorg(f);
		else if (strcmp(f[0], "EVAL") == 0 && need(n, 14, f[0]))
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

		printf("dmarc %s%s: %d/%d", t->name,
		    t->dns_total ? " (table)" : "", t->agree, t->total);
		if (t->known)
			printf(" (%d known differences)", t->known);
		if (t->skipped)
			printf(" (%d not run)", t->skipped);
		printf("\n");
		if (fwd.host[0] == '\0' || t->dns_total == 0)
			continue;
		printf("dmarc %s (unbound): %d/%d of the rows that look up DNS "
		    "(table path: %d/%d)", t->name, t->u_agree, t->u_total,
		    t->dns_agree, t->dns_total);
		if (t->u_known)
			printf(" (%d known differences)", t->u_known);
		printf("\n");
	}
	dns_resolver_free(&zone);
	for (size_t i = 0; i < npsls; i++)
		psl_unref(&psls[i].psl);
	return test_done("dmarc-suite");
}
