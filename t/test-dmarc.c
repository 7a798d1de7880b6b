/*
 * test-dmarc.c - DMARC (lib/dmarc/dmarc.c): record parsing (RFC 7489 and
 * RFC 9989 rules), alignment, record discovery through the table resolver
 * (temperror at each step, several records, invalid records), p/sp/np,
 * pct sampling with given random numbers, the null sender, the PSL swap;
 * the RFC 9989 tree walk (lib/dmarc/treewalk.c): its names, a table of
 * evaluations with their lookup counts (deep names, psd=y/n, SERVFAIL,
 * CNAME, t=, pct, np, alignment by tree-walk org domains), the org domain
 * and the RFC's examples; and one named case per
 * libopendmarc 1.4.2 defect (shared/LIBRARY-TRAPS.md), each showing the
 * defect in libopendmarc itself next to our answer.
 *
 * Defect 7 (libopendmarc's own query_dmarc goes through libresolv,
 * IPv4-only, re-initialised per call) has no case: lib/dmarc/dmarc.c never calls
 * libopendmarc, and record lookups go through struct dns_resolver.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "dns.h"
#include "mailaddr.h"
#include "psl.h"
#include "stats.h"
#include "tap.h"
#include "treewalk.h"
#include "util.h"

/* libopendmarc's header defines DMARC_POLICY_NONE, _QUARANTINE and _REJECT
 * as macros for its own codes: keep them under other names and let ours
 * (enum dmarc_policy, declared above) show through again */
#include <opendmarc/dmarc.h>
enum {
	LIB_POLICY_NONE = DMARC_POLICY_NONE,
	LIB_POLICY_QUARANTINE = DMARC_POLICY_QUARANTINE,
	LIB_POLICY_REJECT = DMARC_POLICY_REJECT,
};
#undef DMARC_POLICY_NONE
#undef DMARC_POLICY_QUARANTINE
#undef DMARC_POLICY_REJECT

#ifndef PSL_PATH
#define PSL_PATH "/usr/share/publicsuffix/public_suffix_list.dat"
#endif

/* exported by libopendmarc 1.4.2 but not declared in its header */
int opendmarc_get_tld(u_char *domain, u_char *tld, size_t tld_len);
u_char *opendmarc_util_finddomain(u_char *raw, u_char *buf, size_t buflen);

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* a small list: enough for .com, .org, .net, .biz, .co.uk; .example and
 * .test are unlisted (the implicit rule "*") */
static const char test_psl[] =
	"com\norg\nnet\nbiz\nuk\nco.uk\n*.ck\n!www.ck\n";

/* ---- record parsing --------------------------------------------------- */

static const struct {
	const char *name, *txt;
	int valid;
	enum dmarc_policy p, sp, np;
	unsigned pct;
	int adkim_strict, aspf_strict;
	const char *rua, *fo;
	unsigned ri;
} records[] = {
	{"smallest", "v=DMARC1; p=none", 1, DMARC_POLICY_NONE, 0, 0, 100, 0,
	    0, "", "0", 86400},
	{"every tag",
	    "v=DMARC1;p=reject;sp=quarantine;np=none;pct=20;adkim=s;aspf=s;"
	    "rua=mailto:a@x.example,mailto:b@x.example!10m;"
	    "ruf=mailto:f@x.example;fo=1:d;ri=3600;rf=afrf",
	    1, DMARC_POLICY_REJECT, DMARC_POLICY_QUARANTINE, DMARC_POLICY_NONE,
	    20, 1, 1, "mailto:a@x.example,mailto:b@x.example!10m", "1:d", 3600},
	{"white space and case", " v = DMARC1 ; p = Quarantine ; ", 1,
	    DMARC_POLICY_QUARANTINE, 0, 0, 100, 0, 0, "", "0", 86400},
	{"tag names are case-insensitive", "V=DMARC1; P=REJECT; ASPF=S", 1,
	    DMARC_POLICY_REJECT, 0, 0, 100, 0, 1, "", "0", 86400},
	{"empty tags", "v=DMARC1;;p=none;;", 1, DMARC_POLICY_NONE, 0, 0, 100,
	    0, 0, "", "0", 86400},
	{"unknown tag ignored", "v=DMARC1; p=none; foo=bar; psd=y", 1,
	    DMARC_POLICY_NONE, 0, 0, 100, 0, 0, "", "0", 86400},
	{"first of a repeated tag", "v=DMARC1; p=reject; p=none", 1,
	    DMARC_POLICY_REJECT, 0, 0, 100, 0, 0, "", "0", 86400},
	{"syntax error in the remainder ignored", "v=DMARC1; p=none; reject",
	    1, DMARC_POLICY_NONE, 0, 0, 100, 0, 0, "", "0", 86400},
	{"pct=0", "v=DMARC1; p=reject; pct=0", 1, DMARC_POLICY_REJECT, 0, 0,
	    0, 0, 0, "", "0", 86400},
	{"pct=100", "v=DMARC1; p=reject; pct=100", 1, DMARC_POLICY_REJECT, 0,
	    0, 100, 0, 0, "", "0", 86400},
	{"pct over 100 ignored", "v=DMARC1; p=none; pct=500", 1,
	    DMARC_POLICY_NONE, 0, 0, 100, 0, 0, "", "0", 86400},
	{"negative pct ignored", "v=DMARC1; p=none; pct=-1", 1,
	    DMARC_POLICY_NONE, 0, 0, 100, 0, 0, "", "0", 86400},
	{"empty pct ignored", "v=DMARC1; p=none; pct=", 1, DMARC_POLICY_NONE,
	    0, 0, 100, 0, 0, "", "0", 86400},
	{"bad adkim ignored", "v=DMARC1; p=none; adkim=bob; aspf=x", 1,
	    DMARC_POLICY_NONE, 0, 0, 100, 0, 0, "", "0", 86400},
	{"bad np ignored", "v=DMARC1; p=none; np=bogus", 1, DMARC_POLICY_NONE,
	    0, 0, 100, 0, 0, "", "0", 86400},
	{"bad fo, ri, rf ignored", "v=DMARC1; p=none; fo=x; ri=bob; rf=ffrf", 1,
	    DMARC_POLICY_NONE, 0, 0, 100, 0, 0, "", "0", 86400},
	{"rua list keeps the valid URIs",
	    "v=DMARC1; p=none; rua=mailto:a@b.example, bogus, mailto:c@d.example",
	    1, DMARC_POLICY_NONE, 0, 0, 100, 0, 0,
	    "mailto:a@b.example,mailto:c@d.example", "0", 86400},
	{"no p, mailto rua: p=none (6.6.3)",
	    "v=DMARC1; rua=mailto:d@x.example", 1, DMARC_POLICY_NONE, 0, 0, 100,
	    0, 0, "mailto:d@x.example", "0", 86400},
	{"bad p, mailto rua: p=none (6.6.3)",
	    "v=DMARC1; p=bogus; rua=mailto:d@x.example", 1, DMARC_POLICY_NONE,
	    0, 0, 100, 0, 0, "mailto:d@x.example", "0", 86400},
	{"bad sp, mailto rua: p=none, sp dropped (6.6.3)",
	    "v=DMARC1; p=reject; sp=bogus; rua=mailto:d@x.example", 1,
	    DMARC_POLICY_NONE, 0, 0, 100, 0, 0, "mailto:d@x.example", "0",
	    86400},

	{"empty", "", 0, 0, 0, 0, 100, 0, 0, "", "0", 86400},
	{"version only", "v=DMARC1", 0, 0, 0, 0, 100, 0, 0, "", "0", 86400},
	{"version not first", "p=none; v=DMARC1", 0, 0, 0, 0, 100, 0, 0, "",
	    "0", 86400},
	{"version value is exact", "v=dmarc1; p=none", 0, 0, 0, 0, 100, 0, 0,
	    "", "0", 86400},
	{"version DMARC10", "v=DMARC10; p=none", 0, 0, 0, 0, 100, 0, 0, "",
	    "0", 86400},
	{"no separator after version", "v=DMARC1 p=none", 0, 0, 0, 0, 100, 0,
	    0, "", "0", 86400},
	{"SPF record", "v=spf1 -all", 0, 0, 0, 0, 100, 0, 0, "", "0", 86400},
	{"bad p, no rua", "v=DMARC1; p=bogus", 0, 0, 0, 0, 100, 0, 0, "", "0",
	    86400},
	{"p=n is not none", "v=DMARC1; p=n", 0, 0, 0, 0, 100, 0, 0, "", "0",
	    86400},
	{"bad sp, no rua", "v=DMARC1; p=none; sp=bob", 0, 0, 0, 0, 100, 0, 0,
	    "", "0", 86400},
	{"no p, rua not mailto", "v=DMARC1; rua=ftp://x.example", 0, 0, 0, 0,
	    100, 0, 0, "", "0", 86400},
};

static void
test_records(void)
{
	for (size_t i = 0; i < N(records); i++) {
		struct dmarc_record r;
		char err[128] = "";
		int rc = dmarc_record_parse(records[i].txt, &r, err, sizeof(err));

		is_int(rc, records[i].valid ? 0 : -1, "record %s: valid (%s)",
		    records[i].name, err);
		if (!records[i].valid) {
			ok(err[0] != '\0', "record %s: a reason",
			    records[i].name);
			continue;
		}
		is_int(r.p, records[i].p, "record %s: p", records[i].name);
		is_int(r.sp, records[i].sp, "record %s: sp", records[i].name);
		is_int(r.np, records[i].np, "record %s: np", records[i].name);
		is_int(r.pct, records[i].pct, "record %s: pct",
		    records[i].name);
		is_int(r.adkim_strict, records[i].adkim_strict,
		    "record %s: adkim", records[i].name);
		is_int(r.aspf_strict, records[i].aspf_strict,
		    "record %s: aspf", records[i].name);
		is_str(r.rua, records[i].rua, "record %s: rua",
		    records[i].name);
		is_str(r.fo, records[i].fo, "record %s: fo", records[i].name);
		is_int(r.ri, records[i].ri, "record %s: ri", records[i].name);
	}
	/* bound */
	{
		char *big = xmalloc(10000), err[128];
		struct dmarc_record r;

		memset(big, ' ', 9999);
		memcpy(big, "v=DMARC1; p=none;", 17);
		big[9999] = '\0';
		is_int(dmarc_record_parse(big, &r, err, sizeof(err)), -1,
		    "record over the bound");
		is_int(dmarc_record_parse(NULL, &r, err, sizeof(err)), -1,
		    "NULL record");
		free(big);
	}
}

/* RFC 9989 records (dmarc_record_parse_as, TREEWALK) */
#define PSD_U DMARC_PSD_U
#define PSD_Y DMARC_PSD_Y
#define PSD_N DMARC_PSD_N
static const struct {
	const char *name, *txt;
	int valid;
	enum dmarc_policy p, sp, np;
	enum dmarc_psd psd;
	int has_t, testing;
} records9989[] = {
	{"psd=y, no p: p=none", "v=DMARC1; psd=y", 1, DMARC_POLICY_NONE, 0,
	    0, PSD_Y, 0, 0},
	{"psd=n", "v=DMARC1; p=reject; psd=n", 1, DMARC_POLICY_REJECT, 0, 0,
	    PSD_N, 0, 0},
	{"psd=u", "v=DMARC1; p=reject; psd=U", 1, DMARC_POLICY_REJECT, 0, 0,
	    PSD_U, 0, 0},
	{"bad psd: the default u", "v=DMARC1; p=none; psd=x", 1,
	    DMARC_POLICY_NONE, 0, 0, PSD_U, 0, 0},
	{"t=y", "v=DMARC1; p=reject; t=y", 1, DMARC_POLICY_REJECT, 0, 0,
	    PSD_U, 1, 1},
	{"t=n", "v=DMARC1; p=reject; t=n", 1, DMARC_POLICY_REJECT, 0, 0,
	    PSD_U, 1, 0},
	{"bad t: the default n", "v=DMARC1; p=reject; t=maybe", 1,
	    DMARC_POLICY_REJECT, 0, 0, PSD_U, 0, 0},
	{"legacy pct=0: testing", "v=DMARC1; p=reject; pct=0", 1,
	    DMARC_POLICY_REJECT, 0, 0, PSD_U, 0, 1},
	{"pct=0, t=n: t wins", "v=DMARC1; p=reject; pct=0; t=n", 1,
	    DMARC_POLICY_REJECT, 0, 0, PSD_U, 1, 0},
	{"pct=0, bad t: pct's transition", "v=DMARC1; p=reject; pct=0; t=x",
	    1, DMARC_POLICY_REJECT, 0, 0, PSD_U, 0, 1},
	{"pct=50: ignored", "v=DMARC1; p=reject; pct=50", 1,
	    DMARC_POLICY_REJECT, 0, 0, PSD_U, 0, 0},
	{"no p, no rua: p=none", "v=DMARC1; adkim=s", 1, DMARC_POLICY_NONE, 0,
	    0, PSD_U, 0, 0},
	{"every policy tag", "v=DMARC1; p=quarantine; sp=reject; np=none", 1,
	    DMARC_POLICY_QUARANTINE, DMARC_POLICY_REJECT, DMARC_POLICY_NONE,
	    PSD_U, 0, 0},
	{"bad p, rua of another scheme: p=none",
	    "v=DMARC1; p=bogus; rua=https://r.example/x", 1, DMARC_POLICY_NONE,
	    0, 0, PSD_U, 0, 0},
	{"bad np, mailto rua: p=none, sp and np dropped",
	    "v=DMARC1; p=reject; sp=reject; np=bogus; rua=mailto:d@x.example",
	    1, DMARC_POLICY_NONE, 0, 0, PSD_U, 0, 0},
	{"bad np, no rua", "v=DMARC1; p=reject; np=bogus", 0, 0, 0, 0, PSD_U,
	    0, 0},
	{"bad sp, no valid rua", "v=DMARC1; p=none; sp=x; rua=bogus", 0, 0, 0,
	    0, PSD_U, 0, 0},
	{"bad p, no rua", "v=DMARC1; p=bogus; psd=n", 0, 0, 0, 0, PSD_N, 0,
	    0},
	{"version not first", "p=none; v=DMARC1", 0, 0, 0, 0, PSD_U, 0, 0},
	{"removed tags ignored", "v=DMARC1; p=none; ri=bob; rf=x; pct=x", 1,
	    DMARC_POLICY_NONE, 0, 0, PSD_U, 0, 0},
};

static void
test_records9989(void)
{
	for (size_t i = 0; i < N(records9989); i++) {
		struct dmarc_record r;
		char err[128] = "";
		const char *n = records9989[i].name;
		int rc = dmarc_record_parse_as(records9989[i].txt,
		    DMARC_DISCOVERY_TREEWALK, &r, err, sizeof(err));

		is_int(rc, records9989[i].valid ? 0 : -1,
		    "9989 record %s: valid (%s)", n, err);
		is_int(r.psd, records9989[i].psd, "9989 record %s: psd", n);
		if (!records9989[i].valid)
			continue;
		is_int(r.p, records9989[i].p, "9989 record %s: p", n);
		is_int(r.sp, records9989[i].sp, "9989 record %s: sp", n);
		is_int(r.np, records9989[i].np, "9989 record %s: np", n);
		is_int(r.has_t, records9989[i].has_t, "9989 record %s: has_t",
		    n);
		is_int(r.testing, records9989[i].testing,
		    "9989 record %s: testing", n);
	}
	/* the RFC 7489 parser reads t= too but keeps pct as it was */
	{
		struct dmarc_record r;
		char err[128];

		is_int(dmarc_record_parse("v=DMARC1; p=reject; pct=0", &r, err,
		    sizeof(err)), 0, "7489 pct=0: valid");
		ok(r.pct == 0 && !r.testing, "7489 pct=0: pct 0, not testing");
		is_int(dmarc_record_parse("v=DMARC1; psd=y", &r, err,
		    sizeof(err)), -1, "7489: psd=y without p is invalid");
		is_int(dmarc_record_parse_as("v=DMARC1; psd=y",
		    DMARC_DISCOVERY_PSL, &r, err, sizeof(err)), -1,
		    "parse_as PSL is the 7489 parser");
	}
}

/* ---- alignment ---------------------------------------------------------- */

/* a label of 64 octets: not in a domain name */
#define L64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct {
	const char *name, *a, *b;
	int strict, want;
} alignments[] = {
	{"strict: equal", "example.com", "example.com", 1, 1},
	{"strict: case and trailing dot", "EXAMPLE.com.", "example.COM", 1, 1},
	{"strict: siblings", "a.example.com", "b.example.com", 1, 0},
	{"strict: parent", "mail.example.com", "example.com", 1, 0},
	{"relaxed: siblings", "a.example.com", "b.example.com", 0, 1},
	{"relaxed: parent", "mail.example.com", "example.com", 0, 1},
	{"relaxed: other org", "example.com", "example.org", 0, 0},
	{"relaxed: one-letter label", "x.com", "evil.com", 0, 0},
	{"relaxed: under co.uk", "a.example.co.uk", "b.example.co.uk", 0, 1},
	{"relaxed: neighbours under co.uk", "example.co.uk", "other.co.uk",
	    0, 0},
	{"relaxed: implicit rule", "a.y.test", "b.y.test", 0, 1},
	{"relaxed: implicit rule, other", "y.test", "z.test", 0, 0},
	{"relaxed: same public suffix", "net", "net", 0, 1},
	{"relaxed: suffix and below", "example.net", "net", 0, 0},
	{"relaxed: wildcard", "a.b.test.ck", "c.b.test.ck", 0, 1},
	{"relaxed: wildcard, other", "a.b.test.ck", "a.c.test.ck", 0, 0},
	{"relaxed: exception", "www.ck", "a.www.ck", 0, 1},
	{"not a name: leading dot", ".mac.com.", "mac.com", 1, 0},
	{"not a name: empty", "", "", 0, 0},
	{"not a name: empty label", "mac..com", "mac..com", 1, 0},
	{"not a name: label over 63",
	    L64 ".example.com", L64 ".example.com", 1, 0},
	{"not a name: two final dots", "mac.com..", "mac.com..", 1, 0},
	{"final dot", "mac.com.", "MAC.com", 1, 1},
};

static void
test_alignment(const struct psl *psl)
{
	for (size_t i = 0; i < N(alignments); i++)
		is_int(dmarc_aligned(psl, alignments[i].a, alignments[i].b,
		    alignments[i].strict), alignments[i].want, "aligned %s",
		    alignments[i].name);
	is_int(dmarc_aligned(psl, NULL, "example.com", 0), 0, "aligned NULL");
	is_int(dmarc_aligned(NULL, "a.b.co.uk", "c.b.co.uk", 0), 1,
	    "aligned without a list: the implicit rule");
}

/* ---- evaluation --------------------------------------------------------- */

static void
txt(struct dns_resolver *r, const char *name, const char *text)
{
	dns_table_add_text(r, name, DNS_T_TXT, text);
}

static struct dns_resolver *
make_zone(void)
{
	struct dns_resolver *r = dns_table_new();
	static const char *const split[] = {"v=DMARC1; p=", "reject"};

	txt(r, "_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine");
	dns_table_add_text(r, "example.com", DNS_T_A, "192.0.2.1");
	dns_table_add_text(r, "mail.example.com", DNS_T_A, "192.0.2.2");
	txt(r, "_dmarc.own.example.org", "v=DMARC1; p=reject; sp=none");
	txt(r, "_dmarc.strict.org", "v=DMARC1; p=reject; aspf=s; adkim=s");
	txt(r, "_dmarc.sub.example.net", "v=spf1 -all");
	txt(r, "_dmarc.example.net", "v=DMARC1; p=quarantine");
	txt(r, "_dmarc.multi.org", "v=DMARC1; p=reject");
	txt(r, "_dmarc.multi.org", "v=DMARC1; p=none");
	txt(r, "_dmarc.x.multi2.org", "v=DMARC1; p=none");
	txt(r, "_dmarc.x.multi2.org", "v=DMARC1; p=quarantine");
	txt(r, "_dmarc.multi2.org", "v=DMARC1; p=reject");
	txt(r, "_dmarc.mixed.org", "v=spf1 -all");
	txt(r, "_dmarc.mixed.org", "v=DMARC1; p=reject");
	txt(r, "_dmarc.bad.org", "v=DMARC1; p=bogus");
	txt(r, "_dmarc.x.good2.org", "v=DMARC1; p=bogus");
	txt(r, "_dmarc.good2.org", "v=DMARC1; p=reject");
	txt(r, "_dmarc.norp.org", "v=DMARC1; rua=mailto:d@norp.org");
	dns_table_add_txt_strings(r, "_dmarc.split.org", split, 2);
	dns_table_set_status(r, "_dmarc.tf1.org", DNS_T_TXT,
	    DNS_STATUS_TEMPFAIL);
	dns_table_set_status(r, "_dmarc.tf2.org", DNS_T_TXT,
	    DNS_STATUS_TEMPFAIL);
	txt(r, "_dmarc.np.biz", "v=DMARC1; p=none; sp=quarantine; np=reject");
	dns_table_add_text(r, "real.np.biz", DNS_T_MX, "10 mx.np.biz");
	txt(r, "nodata.np.biz", "v=spf1 -all");
	dns_table_set_status(r, "tf.np.biz", DNS_T_A, DNS_STATUS_TEMPFAIL);
	txt(r, "_dmarc.npnosp.biz", "v=DMARC1; p=reject; np=none");
	dns_table_add_text(r, "real.npnosp.biz", DNS_T_AAAA, "2001:db8::1");
	txt(r, "_dmarc.nonp.biz", "v=DMARC1; p=none; sp=quarantine");
	txt(r, "_dmarc.pct0.org", "v=DMARC1; p=reject; pct=0");
	txt(r, "_dmarc.pct100.org", "v=DMARC1; p=reject; pct=100");
	txt(r, "_dmarc.pct50.org", "v=DMARC1; p=quarantine; pct=50");
	txt(r, "_dmarc.pct50r.org", "v=DMARC1; p=reject; pct=50");
	return r;
}

#define SPF_NONE NULL, 0
#define NO_DKIM NULL
#define P_ DMARC_POLICY_UNSET
#define P_NONE DMARC_POLICY_NONE
#define P_QUAR DMARC_POLICY_QUARANTINE
#define P_REJ DMARC_POLICY_REJECT

static const struct {
	const char *name;
	const char *from, *spf_domain;
	int spf_pass;
	const char *dkim;  /* "d1:pass,d2:fail" */
	unsigned rnd;
	enum dmarc_res res;
	enum dmarc_policy policy, disposition;
	int from_org, sampled_out, queries;  /* queries: -1 not checked */
	const char *policy_domain, *reason;
} evals[] = {
	{"aligned DKIM pass", "example.com", SPF_NONE, "example.com:pass", 0,
	    DMARC_RES_PASS, P_REJ, P_NONE, 0, 0, 1, "example.com",
	    "aligned DKIM pass for example.com"},
	{"relaxed SPF through the org domain", "example.com",
	    "bounce.example.com", 1, NO_DKIM, 0, DMARC_RES_PASS, P_REJ, P_NONE,
	    0, 0, 1, "example.com", "aligned SPF pass for bounce.example.com"},
	{"unaligned SPF pass", "example.com", "other.org", 1, NO_DKIM, 0,
	    DMARC_RES_FAIL, P_REJ, P_REJ, 0, 0, -1, "example.com",
	    "SPF pass for other.org is not aligned (relaxed)"},
	{"unaligned DKIM pass", "example.com", SPF_NONE, "other.org:pass", 0,
	    DMARC_RES_FAIL, P_REJ, P_REJ, 0, 0, -1, "example.com",
	    "DKIM pass for other.org is not aligned (relaxed)"},
	{"aligned DKIM that failed", "example.com", SPF_NONE,
	    "example.com:fail", 0, DMARC_RES_FAIL, P_REJ, P_REJ, 0, 0, -1,
	    "example.com", "no aligned SPF or DKIM pass for example.com"},
	{"any one aligned signature", "example.com", SPF_NONE,
	    "list.example.org:pass,example.com:fail,EXAMPLE.com:pass", 0,
	    DMARC_RES_PASS, P_REJ, P_NONE, 0, 0, -1, "example.com",
	    "aligned DKIM pass for example.com"},
	{"null sender never aligns", "example.com", NULL, 1, NO_DKIM, 0,
	    DMARC_RES_FAIL, P_REJ, P_REJ, 0, 0, -1, "example.com",
	    "no aligned SPF or DKIM pass for example.com"},
	{"SPF not pass", "example.com", "example.com", 0, NO_DKIM, 0,
	    DMARC_RES_FAIL, P_REJ, P_REJ, 0, 0, -1, "example.com",
	    "no aligned SPF or DKIM pass for example.com"},
	{"author domain case and trailing dot", "EXAMPLE.Com.", SPF_NONE,
	    "example.com:pass", 0, DMARC_RES_PASS, P_REJ, P_NONE, 0, 0, 1,
	    "example.com", "aligned DKIM pass for example.com"},
	{"subdomain: org record, sp", "mail.example.com", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_FAIL, P_QUAR, P_QUAR, 1, 0, 2, "example.com",
	    "no aligned SPF or DKIM pass for mail.example.com"},
	{"subdomain: relaxed DKIM of the org", "mail.example.com", SPF_NONE,
	    "example.com:pass", 0, DMARC_RES_PASS, P_QUAR, P_NONE, 1, 0, 2,
	    "example.com", "aligned DKIM pass for example.com"},
	{"own record: p even with sp", "own.example.org", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_FAIL, P_REJ, P_REJ, 0, 0, 1, "own.example.org", NULL},
	{"strict SPF", "strict.org", "mail.strict.org", 1, NO_DKIM, 0,
	    DMARC_RES_FAIL, P_REJ, P_REJ, 0, 0, -1, "strict.org",
	    "SPF pass for mail.strict.org is not aligned (strict)"},
	{"strict DKIM", "strict.org", SPF_NONE, "mail.strict.org:pass", 0,
	    DMARC_RES_FAIL, P_REJ, P_REJ, 0, 0, -1, "strict.org",
	    "DKIM pass for mail.strict.org is not aligned (strict)"},
	{"strict DKIM, equal", "strict.org", SPF_NONE, "STRICT.ORG:pass", 0,
	    DMARC_RES_PASS, P_REJ, P_NONE, 0, 0, -1, "strict.org",
	    "aligned DKIM pass for strict.org"},
	{"no record", "norecord.org", SPF_NONE, NO_DKIM, 0, DMARC_RES_NONE, P_,
	    P_, 0, 0, 1, "", "no DMARC record for norecord.org"},
	{"no record at either", "a.norecord.org", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_NONE, P_, P_, 0, 0, 2, "",
	    "no DMARC record for a.norecord.org"},
	{"public suffix author: no second lookup", "com", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_NONE, P_, P_, 0, 0, 1, "", "no DMARC record for com"},
	{"non-DMARC TXT ignored, org record", "sub.example.net", SPF_NONE,
	    NO_DKIM, 0, DMARC_RES_FAIL, P_QUAR, P_QUAR, 1, 0, 2, "example.net",
	    NULL},
	{"non-DMARC TXT beside the record", "mixed.org", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_FAIL, P_REJ, P_REJ, 0, 0, 1, "mixed.org", NULL},
	{"several records: none", "multi.org", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_NONE, P_, P_, 0, 0, 1, "multi.org",
	    "several DMARC records at _dmarc.multi.org"},
	{"several records at the org", "x.multi.org", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_NONE, P_, P_, 1, 0, 2, "multi.org",
	    "several DMARC records at _dmarc.multi.org"},
	{"several at the author: no fallback", "x.multi2.org", SPF_NONE,
	    NO_DKIM, 0, DMARC_RES_NONE, P_, P_, 0, 0, 1, "x.multi2.org",
	    "several DMARC records at _dmarc.x.multi2.org"},
	{"invalid record: none", "bad.org", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_NONE, P_, P_, 0, 0, 1, "bad.org",
	    "invalid DMARC record at _dmarc.bad.org: invalid p= and no rua= to "
	    "fall back on"},
	{"invalid at the author: no fallback", "x.good2.org", SPF_NONE,
	    NO_DKIM, 0, DMARC_RES_NONE, P_, P_, 0, 0, 1, "x.good2.org", NULL},
	{"no p, mailto rua: p=none", "norp.org", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_FAIL, P_NONE, P_NONE, 0, 0, 1, "norp.org", NULL},
	{"record in two strings", "split.org", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_FAIL, P_REJ, P_REJ, 0, 0, 1, "split.org", NULL},
	{"temperror at the author", "tf1.org", SPF_NONE, "tf1.org:pass", 0,
	    DMARC_RES_TEMPERROR, P_, P_, 0, 0, 1, "tf1.org",
	    "DNS error looking up _dmarc.tf1.org: "},
	{"temperror at the org", "x.tf2.org", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_TEMPERROR, P_, P_, 1, 0, 2, "tf2.org",
	    "DNS error looking up _dmarc.tf2.org: "},
	{"np: NXDOMAIN subdomain", "ghost.np.biz", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_FAIL, P_REJ, P_REJ, 1, 0, 3, "np.biz", NULL},
	{"np: existing subdomain (MX): sp", "real.np.biz", SPF_NONE, NO_DKIM,
	    0, DMARC_RES_FAIL, P_QUAR, P_QUAR, 1, 0, 5, "np.biz", NULL},
	{"np: NODATA for A, AAAA, MX (RFC 9091 2.7)", "nodata.np.biz",
	    SPF_NONE, NO_DKIM, 0, DMARC_RES_FAIL, P_REJ, P_REJ, 1, 0, 5,
	    "np.biz", NULL},
	{"np: existence unknown (tempfail): sp", "tf.np.biz", SPF_NONE,
	    NO_DKIM, 0, DMARC_RES_FAIL, P_QUAR, P_QUAR, 1, 0, -1, "np.biz",
	    NULL},
	{"np: the org domain itself: p", "np.biz", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_FAIL, P_NONE, P_NONE, 0, 0, 1, "np.biz", NULL},
	{"np=none over p=reject", "ghost.npnosp.biz", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_FAIL, P_NONE, P_NONE, 1, 0, 3, "npnosp.biz", NULL},
	{"np, existing (AAAA), no sp: p", "real.npnosp.biz", SPF_NONE, NO_DKIM,
	    0, DMARC_RES_FAIL, P_REJ, P_REJ, 1, 0, 4, "npnosp.biz", NULL},
	{"no np: sp, no existence queries", "ghost.nonp.biz", SPF_NONE,
	    NO_DKIM, 0, DMARC_RES_FAIL, P_QUAR, P_QUAR, 1, 0, 2, "nonp.biz",
	    NULL},
	{"pct=0: sampled out", "pct0.org", SPF_NONE, NO_DKIM, 0, DMARC_RES_FAIL,
	    P_REJ, P_QUAR, 0, 1, 1, "pct0.org", NULL},
	{"pct=0, pass: nothing to sample", "pct0.org", "pct0.org", 1, NO_DKIM,
	    0, DMARC_RES_PASS, P_REJ, P_NONE, 0, 0, 1, "pct0.org", NULL},
	{"pct=100, random 99: applies", "pct100.org", SPF_NONE, NO_DKIM, 99,
	    DMARC_RES_FAIL, P_REJ, P_REJ, 0, 0, 1, "pct100.org", NULL},
	{"pct=50, random 49: applies", "pct50.org", SPF_NONE, NO_DKIM, 49,
	    DMARC_RES_FAIL, P_QUAR, P_QUAR, 0, 0, 1, "pct50.org", NULL},
	{"pct=50, random 50: quarantine becomes none", "pct50.org", SPF_NONE,
	    NO_DKIM, 50, DMARC_RES_FAIL, P_QUAR, P_NONE, 0, 1, 1, "pct50.org",
	    NULL},
	{"pct=50, random 50: reject becomes quarantine", "pct50r.org",
	    SPF_NONE, NO_DKIM, 50, DMARC_RES_FAIL, P_REJ, P_QUAR, 0, 1, 1,
	    "pct50r.org", NULL},
	{"no author domain: NULL", NULL, SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_PERMERROR, P_, P_, 0, 0, 0, "", "no author domain"},
	{"no author domain: empty", "", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_PERMERROR, P_, P_, 0, 0, 0, "", "no author domain"},
	{"author domain not a name", "a..example.com", SPF_NONE, NO_DKIM, 0,
	    DMARC_RES_PERMERROR, P_, P_, 0, 0, 0, "",
	    "author domain is not a domain name"},
};

/* parse_dkim - "d1:pass,d2:fail" into up to 8 results */
static size_t
parse_dkim(const char *spec, struct dmarc_dkim *d, char buf[256])
{
	size_t n = 0;
	char *s, *item;

	if (spec == NULL)
		return 0;
	str_copy(buf, spec, 256);
	s = buf;
	while (n < 8 && (item = strsep(&s, ",")) != NULL) {
		char *colon = strchr(item, ':');

		*colon = '\0';
		d[n].domain = item;
		d[n].pass = strcmp(colon + 1, "pass") == 0;
		n++;
	}
	return n;
}

/* evaluate_row - dmarc_evaluate() of a table row's identifiers */
static enum dmarc_res
evaluate_row(struct dmarc_checker *c, const char *from,
    const char *spf_domain, int spf_pass, const char *dkim, unsigned rnd,
    struct dmarc_outcome *out)
{
	struct dmarc_dkim dk[8];
	char buf[256];
	struct dmarc_input in = {
		.from_domain = from,
		.spf_domain = spf_domain,
		.spf_pass = spf_pass,
		.dkim = dk,
		.ndkim = parse_dkim(dkim, dk, buf),
	};

	return dmarc_evaluate(c, &in, rnd, NULL, out);
}

static void
test_evaluate(struct psl *psl)
{
	struct dns_resolver *dns = make_zone();
	char err[128];
	struct dmarc_checker *c = dmarc_checker_new(dns, psl, err, sizeof(err));
	const struct stats_metric *counter[DMARC_RES_PERMERROR + 1];
	uint64_t before[DMARC_RES_PERMERROR + 1];
	long long want[DMARC_RES_PERMERROR + 1];

	if (!ok(c != NULL, "checker: %s", c ? "ok" : err))
		return;
	for (int r = DMARC_RES_NONE; r <= DMARC_RES_PERMERROR; r++) {
		char name[64];

		snprintf(name, sizeof(name), "dmarc_evaluations_%s_total",
		    dmarc_res_name((enum dmarc_res)r));
		counter[r] = stats_find(name);
		ok(counter[r] != NULL, "counter %s registered", name);
		before[r] = counter[r] ? stats_value(counter[r]) : 0;
		want[r] = 0;
	}
	for (size_t i = 0; i < N(evals); i++) {
		struct dmarc_outcome out;
		unsigned long q0 = dns_table_queries(dns);
		enum dmarc_res r = evaluate_row(c, evals[i].from,
		    evals[i].spf_domain, evals[i].spf_pass, evals[i].dkim,
		    evals[i].rnd, &out);
		const char *n = evals[i].name;

		is_int(r, evals[i].res, "%s: returned result", n);
		is_str(dmarc_res_name(out.result), dmarc_res_name(evals[i].res),
		    "%s: result (%s)", n, out.reason);
		is_str(dmarc_policy_name(out.policy),
		    dmarc_policy_name(evals[i].policy), "%s: policy", n);
		is_str(dmarc_policy_name(out.disposition),
		    dmarc_policy_name(evals[i].disposition), "%s: disposition",
		    n);
		is_int(out.record_from_org, evals[i].from_org,
		    "%s: record from the org domain", n);
		is_int(out.sampled_out, evals[i].sampled_out, "%s: sampled out",
		    n);
		is_str(out.policy_domain, evals[i].policy_domain,
		    "%s: policy domain", n);
		if (evals[i].queries >= 0)
			is_int(dns_table_queries(dns) - q0, evals[i].queries,
			    "%s: DNS queries", n);
		if (evals[i].reason != NULL)
			ok(strncmp(out.reason, evals[i].reason,
			    strlen(evals[i].reason)) == 0,
			    "%s: reason \"%s\", want \"%s\"", n, out.reason,
			    evals[i].reason);
		want[evals[i].res]++;
	}
	for (int r = DMARC_RES_NONE; r <= DMARC_RES_PERMERROR; r++)
		if (counter[r] != NULL)
			is_int((long long)(stats_value(counter[r]) - before[r]),
			    want[r], "counter of %s moved by its evaluations",
			    dmarc_res_name((enum dmarc_res)r));
	/* an author domain that is not a domain name (a label over 63) */
	{
		struct dmarc_input in = {.from_domain = L64 ".example.com"};
		struct dmarc_outcome out;

		dmarc_evaluate(c, &in, 0, NULL, &out);
		is_int(out.result, DMARC_RES_PERMERROR, "label over 63: %s",
		    out.reason);
	}

	/* a swapped list applies to the next message: with example.com a
	 * public suffix, mail.example.com is its own org domain */
	{
		struct psl *p2 = psl_load_string("com\nexample.com\n", err,
		    sizeof(err));
		struct dmarc_input in = {.from_domain = "mail.example.com"};
		struct dmarc_outcome out;

		dmarc_checker_set_psl(c, p2);
		psl_unref(&p2); /* the checker holds its own */
		dmarc_evaluate(c, &in, 0, NULL, &out);
		is_int(out.result, DMARC_RES_NONE, "swapped list: no fallback");
		dmarc_checker_set_psl(c, psl);
		dmarc_evaluate(c, &in, 0, NULL, &out);
		is_int(out.result, DMARC_RES_FAIL, "list swapped back");
	}
	/* a deadline already spent: temperror, no wait */
	{
		struct timespec past = {0, 0};
		struct dmarc_input in = {.from_domain = "example.com"};
		struct dmarc_outcome out;

		dmarc_evaluate(c, &in, 0, &past, &out);
		is_int(out.result, DMARC_RES_TEMPERROR, "spent deadline: %s",
		    out.reason);
	}
	ok(dmarc_checker_new(NULL, psl, err, sizeof(err)) == NULL,
	    "checker without a resolver: %s", err);
	dmarc_checker_free(&c);
	ok(c == NULL, "checker freed");
	dns_resolver_free(&dns);
}

static void
test_names(void)
{
	is_str(dmarc_res_name(DMARC_RES_NONE), "none", "name none");
	is_str(dmarc_res_name(DMARC_RES_PASS), "pass", "name pass");
	is_str(dmarc_res_name(DMARC_RES_FAIL), "fail", "name fail");
	is_str(dmarc_res_name(DMARC_RES_TEMPERROR), "temperror", "name temp");
	is_str(dmarc_res_name(DMARC_RES_PERMERROR), "permerror", "name perm");
	is_str(dmarc_policy_name(DMARC_POLICY_QUARANTINE), "quarantine",
	    "name quarantine");
}

/* ---- the tree walk (RFC 9989 4.10) ---------------------------------------- */

static void
test_walk_names(void)
{
	static const char *const want[] = {
		"a.b.c.d.e.f.g.h.i.j.mail.example.com",
		"g.h.i.j.mail.example.com", "h.i.j.mail.example.com",
		"i.j.mail.example.com", "j.mail.example.com",
		"mail.example.com", "example.com", "com",
	};
	const char *names[TREEWALK_MAX_QUERIES];
	size_t n = treewalk_names(want[0], names);

	/* the RFC's example: eight queries, the second at seven labels */
	is_int(n, 8, "walk names: 13 labels, 8 names");
	for (size_t i = 0; i < n && i < N(want); i++)
		is_str(names[i], want[i], "walk names: 13 labels, name %zu", i);
	is_int(treewalk_names("a.b.c.d.e.f.g.h", names), 8,
	    "walk names: 8 labels, 8 names");
	is_str(names[1], "b.c.d.e.f.g.h", "walk names: 8 labels, the second");
	is_int(treewalk_names("a.b.c.d.e.f.g", names), 7,
	    "walk names: 7 labels, 7 names");
	is_str(names[1], "b.c.d.e.f.g", "walk names: 7 labels, the second");
	is_int(treewalk_names("com", names), 1, "walk names: a TLD, itself");
	is_int(treewalk_names("", names), 0, "walk names: the root, none");
}

static struct dns_resolver *
make_walk_zone(void)
{
	struct dns_resolver *r = dns_table_new();

	txt(r, "_dmarc.org1.example", "v=DMARC1; p=reject; sp=quarantine");
	dns_table_add_text(r, "a.b.org1.example", DNS_T_A, "192.0.2.1");
	txt(r, "_dmarc.deep.example", "v=DMARC1; p=reject");
	txt(r, "_dmarc.g.h.i.j.mail.deep2.example",
	    "v=DMARC1; p=quarantine; psd=n");
	/* skipped by the shortening: never asked */
	txt(r, "_dmarc.f.g.h.i.j.mail.deep2.example",
	    "v=DMARC1; p=none; psd=n");
	txt(r, "_dmarc.eight.example", "v=DMARC1; p=reject");
	txt(r, "_dmarc.seven.example", "v=DMARC1; p=quarantine");
	txt(r, "_dmarc.psdtld", "v=DMARC1; p=reject; psd=y");
	txt(r, "_dmarc.owned.psdtld", "v=DMARC1; p=none");
	txt(r, "_dmarc.gov.psd2", "v=DMARC1; p=quarantine; psd=y");
	txt(r, "_dmarc.psd2", "v=DMARC1; p=none"); /* not reached */
	txt(r, "_dmarc.dept.corp.example", "v=DMARC1; p=quarantine; psd=n");
	txt(r, "_dmarc.corp.example", "v=DMARC1; p=reject");
	txt(r, "_dmarc.sub.par.example", "v=DMARC1; p=none");
	txt(r, "_dmarc.par.example", "v=DMARC1; p=reject");
	txt(r, "_dmarc.x.twice.example", "v=DMARC1; p=none");
	txt(r, "_dmarc.x.twice.example", "v=DMARC1; p=quarantine");
	txt(r, "_dmarc.twice.example", "v=DMARC1; p=reject");
	dns_table_set_status(r, "_dmarc.nx.nxw.example", DNS_T_TXT,
	    DNS_STATUS_NXDOMAIN);
	txt(r, "_dmarc.nxw.example", "v=DMARC1; p=quarantine");
	dns_table_set_fail(r, "_dmarc.sf.example", DNS_T_TXT,
	    DNS_FAIL_SERVFAIL);
	txt(r, "_dmarc.sub.sf2.example", "v=DMARC1; p=reject");
	dns_table_set_fail(r, "_dmarc.sf2.example", DNS_T_TXT,
	    DNS_FAIL_SERVFAIL);
	txt(r, "_dmarc.brand.sftld", "v=DMARC1; p=reject");
	dns_table_set_status(r, "_dmarc.sftld", DNS_T_TXT, DNS_STATUS_TEMPFAIL);
	dns_table_add_text(r, "_dmarc.cn.example", DNS_T_CNAME,
	    "_dmarc.target.example");
	txt(r, "_dmarc.target.example", "v=DMARC1; p=quarantine");
	txt(r, "_dmarc.tyr.example", "v=DMARC1; p=reject; t=y");
	txt(r, "_dmarc.tyq.example", "v=DMARC1; p=quarantine; t=y");
	txt(r, "_dmarc.tyn.example", "v=DMARC1; p=none; t=y");
	txt(r, "_dmarc.pct0w.example", "v=DMARC1; p=reject; pct=0");
	txt(r, "_dmarc.pct50w.example", "v=DMARC1; p=reject; pct=50");
	txt(r, "_dmarc.npw.example",
	    "v=DMARC1; p=none; sp=quarantine; np=reject");
	dns_table_add_text(r, "real.npw.example", DNS_T_A, "192.0.2.3");
	txt(r, "nodata.npw.example", "v=spf1 -all");
	dns_table_set_status(r, "tf.npw.example", 0, DNS_STATUS_TEMPFAIL);
	txt(r, "_dmarc.strictw.example",
	    "v=DMARC1; p=reject; adkim=s; aspf=s");
	txt(r, "_dmarc.badp.example", "v=DMARC1; p=bogus");
	txt(r, "_dmarc.badpr.example",
	    "v=DMARC1; p=bogus; rua=mailto:d@badpr.example");
	txt(r, "_dmarc.nop.example", "v=DMARC1; rua=bogus");
	return r;
}

#define D13 "a.b.c.d.e.f.g.h.i.j.mail."

static const struct {
	const char *name;
	const char *from, *spf_domain;
	int spf_pass;
	const char *dkim;  /* "d1:pass,d2:fail" */
	enum dmarc_res res;
	enum dmarc_policy policy, disposition;
	int from_org, from_psd, testing;
	unsigned lookups;  /* _dmarc lookups */
	int queries;       /* every DNS query; -1 not checked */
	const char *policy_domain, *org_domain, *reason;
} walks[] = {
	{"record only at the org level", "a.b.org1.example", SPF_NONE,
	    NO_DKIM, DMARC_RES_FAIL, P_QUAR, P_QUAR, 1, 0, 0, 4, 4,
	    "org1.example", "org1.example", NULL},
	{"no record anywhere", "x.y.none.example", SPF_NONE, NO_DKIM,
	    DMARC_RES_NONE, P_, P_, 0, 0, 0, 4, 4, "", "x.y.none.example",
	    "no DMARC record for x.y.none.example"},
	{"13 labels: 8 lookups", D13 "deep.example", SPF_NONE, NO_DKIM,
	    DMARC_RES_FAIL, P_REJ, P_REJ, 1, 0, 0, 8, 8, "deep.example",
	    "deep.example", NULL},
	{"13 labels: the second at 7 labels (psd=n)", D13 "deep2.example",
	    SPF_NONE, NO_DKIM, DMARC_RES_FAIL, P_QUAR, P_QUAR, 1, 0, 0, 2, 2,
	    "g.h.i.j.mail.deep2.example", "g.h.i.j.mail.deep2.example", NULL},
	{"8 labels: 8 lookups", "a.b.c.d.e.f.eight.example", SPF_NONE,
	    NO_DKIM, DMARC_RES_FAIL, P_REJ, P_REJ, 1, 0, 0, 8, 8,
	    "eight.example", "eight.example", NULL},
	{"7 labels: 7 lookups", "a.b.c.d.e.seven.example", SPF_NONE, NO_DKIM,
	    DMARC_RES_FAIL, P_QUAR, P_QUAR, 1, 0, 0, 7, 7, "seven.example",
	    "seven.example", NULL},
	{"psd=y at a TLD: the PSD's record", "mail.brand.psdtld", SPF_NONE,
	    NO_DKIM, DMARC_RES_FAIL, P_REJ, P_REJ, 0, 1, 0, 3, 3, "psdtld",
	    "brand.psdtld", NULL},
	{"psd=y at a TLD: the org's own record first", "mail.owned.psdtld",
	    SPF_NONE, NO_DKIM, DMARC_RES_FAIL, P_NONE, P_NONE, 1, 0, 0, 3, 3,
	    "owned.psdtld", "owned.psdtld", NULL},
	{"psd=y at a TLD: a sibling does not align", "x.brand.psdtld",
	    SPF_NONE, "brand2.psdtld:pass", DMARC_RES_FAIL, P_REJ, P_REJ, 0,
	    1, 0, 3, 3, "psdtld", "brand.psdtld",
	    "DKIM pass for brand2.psdtld is not aligned (relaxed)"},
	{"psd=y at a TLD: the same org aligns", "x.brand.psdtld", SPF_NONE,
	    "mail.brand.psdtld:pass", DMARC_RES_PASS, P_REJ, P_NONE, 0, 1, 0,
	    4, 4, "psdtld", "brand.psdtld",
	    "aligned DKIM pass for mail.brand.psdtld"},
	{"psd=y at a second level", "mail.agency.gov.psd2", SPF_NONE, NO_DKIM,
	    DMARC_RES_FAIL, P_QUAR, P_QUAR, 0, 1, 0, 3, 3, "gov.psd2",
	    "agency.gov.psd2", NULL},
	{"psd=n anchors the org domain", "mail.dept.corp.example", SPF_NONE,
	    "corp.example:pass", DMARC_RES_FAIL, P_QUAR, P_QUAR, 1, 0, 0, 2,
	    2, "dept.corp.example", "dept.corp.example",
	    "DKIM pass for corp.example is not aligned (relaxed)"},
	{"psd=n: a sibling below it aligns", "mail.dept.corp.example",
	    SPF_NONE, "x.dept.corp.example:pass", DMARC_RES_PASS, P_QUAR,
	    P_NONE, 1, 0, 0, 3, 3, "dept.corp.example", "dept.corp.example",
	    NULL},
	{"records at author and parent: the author's", "sub.par.example",
	    SPF_NONE, NO_DKIM, DMARC_RES_FAIL, P_NONE, P_NONE, 0, 0, 0, 1, 1,
	    "sub.par.example", "", NULL},
	{"records at author and parent: org is the highest", "sub.par.example",
	    "other.par.example", 1, NO_DKIM, DMARC_RES_PASS, P_NONE, P_NONE, 0,
	    0, 0, 4, 4, "sub.par.example", "par.example",
	    "aligned SPF pass for other.par.example"},
	{"two records at one name: discarded, walk on", "x.twice.example",
	    SPF_NONE, NO_DKIM, DMARC_RES_FAIL, P_REJ, P_REJ, 1, 0, 0, 3, 3,
	    "twice.example", "twice.example", NULL},
	{"NXDOMAIN on the way", "a.nx.nxw.example", SPF_NONE, NO_DKIM,
	    DMARC_RES_FAIL, P_QUAR, P_QUAR, 1, 0, 0, 4, 4, "nxw.example",
	    "nxw.example", NULL},
	{"SERVFAIL on the way: temperror", "mail.sf.example", SPF_NONE,
	    NO_DKIM, DMARC_RES_TEMPERROR, P_, P_, 0, 0, 0, 2, 2, "sf.example",
	    "", "DNS error looking up _dmarc.sf.example: SERVFAIL"},
	{"SERVFAIL above a record found: temperror", "a.sub.sf2.example",
	    SPF_NONE, NO_DKIM, DMARC_RES_TEMPERROR, P_, P_, 0, 0, 0, 3, 3,
	    "sf2.example", "", "DNS error looking up _dmarc.sf2.example"},
	{"timeout on an alignment walk: temperror", "brand.sftld", SPF_NONE,
	    "mail.brand.sftld:pass", DMARC_RES_TEMPERROR, P_, P_, 0, 0, 0, 2,
	    2, "brand.sftld", "", "DNS error looking up _dmarc.sftld: timeout"},
	{"equal names align with no walk", "brand.sftld", SPF_NONE,
	    "brand.sftld:pass", DMARC_RES_PASS, P_REJ, P_NONE, 0, 0, 0, 1, 1,
	    "brand.sftld", "", NULL},
	{"CNAME on _dmarc", "cn.example", SPF_NONE, NO_DKIM, DMARC_RES_FAIL,
	    P_QUAR, P_QUAR, 0, 0, 0, 1, 1, "cn.example", "", NULL},
	{"t=y, p=reject: quarantine", "tyr.example", SPF_NONE, NO_DKIM,
	    DMARC_RES_FAIL, P_REJ, P_QUAR, 0, 0, 1, 1, 1, "tyr.example", "",
	    NULL},
	{"t=y, p=quarantine: none", "tyq.example", SPF_NONE, NO_DKIM,
	    DMARC_RES_FAIL, P_QUAR, P_NONE, 0, 0, 1, 1, 1, "tyq.example", "",
	    NULL},
	{"t=y, p=none: no effect", "tyn.example", SPF_NONE, NO_DKIM,
	    DMARC_RES_FAIL, P_NONE, P_NONE, 0, 0, 0, 1, 1, "tyn.example", "",
	    NULL},
	{"t=y on a pass: shown, nothing lowered", "tyr.example", SPF_NONE,
	    "tyr.example:pass", DMARC_RES_PASS, P_REJ, P_NONE, 0, 0, 1, 1, 1,
	    "tyr.example", "", NULL},
	{"legacy pct=0: testing", "pct0w.example", SPF_NONE, NO_DKIM,
	    DMARC_RES_FAIL, P_REJ, P_QUAR, 0, 0, 1, 1, 1, "pct0w.example", "",
	    NULL},
	{"pct=50 ignored: the whole policy", "pct50w.example", SPF_NONE,
	    NO_DKIM, DMARC_RES_FAIL, P_REJ, P_REJ, 0, 0, 0, 1, 1,
	    "pct50w.example", "", NULL},
	{"np for a non-existent subdomain", "ghost.npw.example", SPF_NONE,
	    NO_DKIM, DMARC_RES_FAIL, P_REJ, P_REJ, 1, 0, 0, 3, 4,
	    "npw.example", "npw.example", NULL},
	{"sp for an existing subdomain", "real.npw.example", SPF_NONE,
	    NO_DKIM, DMARC_RES_FAIL, P_QUAR, P_QUAR, 1, 0, 0, 3, 4,
	    "npw.example", "npw.example", NULL},
	{"NODATA is a name that exists (RFC 8020): sp", "nodata.npw.example",
	    SPF_NONE, NO_DKIM, DMARC_RES_FAIL, P_QUAR, P_QUAR, 1, 0, 0, 3, 4,
	    "npw.example", "npw.example", NULL},
	{"existence unknown (timeouts): sp", "tf.npw.example", SPF_NONE,
	    NO_DKIM, DMARC_RES_FAIL, P_QUAR, P_QUAR, 1, 0, 0, 3, 6,
	    "npw.example", "npw.example", NULL},
	{"relaxed: a parent's d= aligns", "mail.org1.example", SPF_NONE,
	    "org1.example:pass", DMARC_RES_PASS, P_QUAR, P_NONE, 1, 0, 0, 3,
	    3, "org1.example", "org1.example",
	    "aligned DKIM pass for org1.example"},
	{"relaxed: another TLD, no walk", "org1.example", "org1.test", 1,
	    NO_DKIM, DMARC_RES_FAIL, P_REJ, P_REJ, 0, 0, 0, 1, 1,
	    "org1.example", "", "SPF pass for org1.test is not aligned"},
	{"strict: a subdomain does not align, no walk", "strictw.example",
	    "mail.strictw.example", 1, "mail.strictw.example:pass",
	    DMARC_RES_FAIL, P_REJ, P_REJ, 0, 0, 0, 1, 1, "strictw.example", "",
	    "SPF pass for mail.strictw.example is not aligned (strict)"},
	{"invalid p, no rua: no DMARC", "badp.example", SPF_NONE, NO_DKIM,
	    DMARC_RES_NONE, P_, P_, 0, 0, 0, 1, 1, "badp.example", "",
	    "invalid DMARC record at _dmarc.badp.example: invalid p="},
	{"invalid p, a rua: p=none", "badpr.example", SPF_NONE, NO_DKIM,
	    DMARC_RES_FAIL, P_NONE, P_NONE, 0, 0, 0, 1, 1, "badpr.example", "",
	    NULL},
	{"no p, no valid rua: p=none", "nop.example", SPF_NONE, NO_DKIM,
	    DMARC_RES_FAIL, P_NONE, P_NONE, 0, 0, 0, 1, 1, "nop.example", "",
	    NULL},
};

static void
test_walk_evaluate(void)
{
	struct dns_resolver *dns = make_walk_zone();
	char err[128], org[DNAME_BUFSIZE];
	struct dmarc_checker *c = dmarc_checker_new(dns, NULL, err,
	    sizeof(err));
	const struct stats_metric *lk = stats_find("dmarc_lookups_total");

	if (!ok(c != NULL, "walk checker: %s", c ? "ok" : err))
		return;
	is_int(dmarc_checker_discovery(c), DMARC_DISCOVERY_TREEWALK,
	    "no list: tree walk");
	ok(lk != NULL, "dmarc_lookups_total registered");
	for (size_t i = 0; i < N(walks); i++) {
		struct dmarc_outcome out;
		unsigned long q0 = dns_table_queries(dns);
		uint64_t l0 = lk ? stats_value(lk) : 0;
		const char *n = walks[i].name;

		evaluate_row(c, walks[i].from, walks[i].spf_domain,
		    walks[i].spf_pass, walks[i].dkim, 99, &out);
		is_str(dmarc_res_name(out.result), dmarc_res_name(walks[i].res),
		    "walk %s: result (%s)", n, out.reason);
		is_str(dmarc_policy_name(out.policy),
		    dmarc_policy_name(walks[i].policy), "walk %s: policy", n);
		is_str(dmarc_policy_name(out.disposition),
		    dmarc_policy_name(walks[i].disposition),
		    "walk %s: disposition", n);
		is_int(out.record_from_org, walks[i].from_org,
		    "walk %s: record from the org domain", n);
		is_int(out.record_from_psd, walks[i].from_psd,
		    "walk %s: record from the PSD", n);
		is_int(out.testing, walks[i].testing, "walk %s: testing", n);
		is_int(out.sampled_out, 0, "walk %s: no sampling", n);
		is_int(out.discovery, DMARC_DISCOVERY_TREEWALK,
		    "walk %s: discovery", n);
		is_str(out.policy_domain, walks[i].policy_domain,
		    "walk %s: policy domain", n);
		is_str(out.org_domain, walks[i].org_domain,
		    "walk %s: org domain", n);
		is_int(out.walk_queries, walks[i].lookups,
		    "walk %s: _dmarc lookups", n);
		if (lk != NULL)
			is_int((long long)(stats_value(lk) - l0),
			    walks[i].lookups, "walk %s: dmarc_lookups_total",
			    n);
		if (walks[i].queries >= 0)
			is_int(dns_table_queries(dns) - q0, walks[i].queries,
			    "walk %s: DNS queries", n);
		if (walks[i].reason != NULL)
			ok(strncmp(out.reason, walks[i].reason,
			    strlen(walks[i].reason)) == 0,
			    "walk %s: reason \"%s\", want \"%s\"", n,
			    out.reason, walks[i].reason);
	}

	/* dmarc_org_domain: the walk from the name itself */
	is_int(dmarc_org_domain(c, "A.B.Org1.Example.", NULL, org,
	    sizeof(org)), 0, "org domain: a walk");
	is_str(org, "org1.example", "org domain: the highest record");
	dmarc_org_domain(c, "mail.brand.psdtld", NULL, org, sizeof(org));
	is_str(org, "brand.psdtld", "org domain: one below psd=y");
	dmarc_org_domain(c, "psdtld", NULL, org, sizeof(org));
	is_str(org, "psdtld", "org domain: a psd=y name is its own");
	dmarc_org_domain(c, D13 "deep2.example", NULL, org, sizeof(org));
	is_str(org, "g.h.i.j.mail.deep2.example", "org domain: psd=n");
	dmarc_org_domain(c, "x.y.none.example", NULL, org, sizeof(org));
	is_str(org, "x.y.none.example", "org domain: no record, itself");
	is_int(dmarc_org_domain(c, "mail.sf.example", NULL, org, sizeof(org)),
	    -1, "org domain: SERVFAIL on the walk");
	is_int(dmarc_org_domain(c, "a..b", NULL, org, sizeof(org)), -1,
	    "org domain: not a name");
	{
		struct timespec past = {0, 0};

		is_int(dmarc_org_domain(c, "a.b.org1.example", &past, org,
		    sizeof(org)), -1, "org domain: spent deadline");
	}

	/* the PSL discovery on the same checker: the list's org domains */
	dmarc_checker_set_discovery(c, DMARC_DISCOVERY_PSL);
	is_int(dmarc_checker_discovery(c), DMARC_DISCOVERY_PSL, "set to PSL");
	dmarc_org_domain(c, "a.b.org1.example", NULL, org, sizeof(org));
	is_str(org, "org1.example", "PSL without a list: the rule \"*\"");
	{
		struct dmarc_input in = {.from_domain = D13 "deep2.example"};
		struct dmarc_outcome out;

		dmarc_evaluate(c, &in, 0, NULL, &out);
		ok(out.result == DMARC_RES_NONE && out.walk_queries == 2 &&
		    out.discovery == DMARC_DISCOVERY_PSL,
		    "PSL without a list: author, then the last two labels "
		    "(%s, %u lookups)", out.reason, out.walk_queries);
	}
	is_str(dmarc_discovery_name(DMARC_DISCOVERY_TREEWALK), "treewalk",
	    "name treewalk");
	is_str(dmarc_discovery_name(DMARC_DISCOVERY_PSL), "psl", "name psl");
	dmarc_checker_free(&c);
	dns_resolver_free(&dns);
}

/* the RFC's three examples of 4.10.2, each in a zone of its own */
static void
test_walk_rfc_examples(void)
{
	static const struct {
		const char *records[2][2], *want;
	} ex[] = {
		{{{"_dmarc.mail.example.com", "v=DMARC1; p=none"},
		    {"_dmarc.example.com", "v=DMARC1; p=none"}}, "example.com"},
		{{{"_dmarc.mail.example.com", "v=DMARC1; p=none; psd=n"},
		    {"_dmarc.example.com", "v=DMARC1; p=none"}},
		    "mail.example.com"},
		{{{"_dmarc.com", "v=DMARC1; psd=y"}, {NULL, NULL}},
		    "example.com"},
	};

	for (size_t i = 0; i < N(ex); i++) {
		struct dns_resolver *dns = dns_table_new();
		struct dmarc_checker *c;
		char err[128], org[DNAME_BUFSIZE];

		for (size_t j = 0; j < 2; j++)
			if (ex[i].records[j][0] != NULL)
				txt(dns, ex[i].records[j][0],
				    ex[i].records[j][1]);
		c = dmarc_checker_new(dns, NULL, err, sizeof(err));
		dmarc_org_domain(c, "a.mail.example.com", NULL, org,
		    sizeof(org));
		is_str(org, ex[i].want, "RFC 9989 4.10.2 example %zu", i + 1);
		dmarc_checker_free(&c);
		dns_resolver_free(&dns);
	}
}

/* ---- libopendmarc 1.4.2 defects, shown next to our answers ------------- */

/* lib_policy - libopendmarc's policy for a stored record, no SPF/DKIM */
static int
lib_policy(const char *record, const char *domain, const char *org,
    const char *from)
{
	DMARC_POLICY_T *p = opendmarc_policy_connect_init(
	    (u_char *)"192.0.2.1", DMARC_POLICY_IP_TYPE_IPV4);
	int r;

	opendmarc_policy_store_from_domain(p, (u_char *)from);
	opendmarc_policy_store_dmarc(p, (u_char *)record, (u_char *)domain,
	    (u_char *)org);
	r = opendmarc_get_policy_to_enforce(p);
	opendmarc_policy_connect_shutdown(p);
	return r;
}

static void
test_libopendmarc(const struct psl *full, const char *psl_path)
{
	OPENDMARC_LIB_T lib;
	struct dns_resolver *dns = dns_table_new();
	struct dmarc_checker *c;
	struct dmarc_outcome out;
	char err[128], tld[256], dom[256];
	int lib_psl;

	memset(&lib, 0, sizeof(lib));
	lib.tld_type = OPENDMARC_TLD_TYPE_MOZILLA;
	str_copy((char *)lib.tld_source_file, psl_path,
	    sizeof(lib.tld_source_file));
	lib_psl = opendmarc_policy_library_init(&lib) == DMARC_PARSE_OKAY;
	ok(lib_psl, "libopendmarc loaded %s", psl_path);

	txt(dns, "_dmarc.example.com", "v=DMARC1; p=reject; sp=none; pct=0");
	c = dmarc_checker_new(dns, (struct psl *)full, err, sizeof(err));

	/* (1) strict alignment is wrong once the PSL is loaded */
	ok(opendmarc_policy_check_alignment((u_char *)"a.example.com",
	    (u_char *)"b.example.com", DMARC_RECORD_A_STRICT) == 0,
	    "defect 1, strict alignment with the PSL: libopendmarc says "
	    "a.example.com and b.example.com align strictly");
	is_int(dmarc_aligned(full, "a.example.com", "b.example.com", 1), 0,
	    "defect 1, strict alignment with the PSL: ours does not align");

	/* (2) a one-character leftmost label is dropped */
	memset(tld, 0, sizeof(tld));
	opendmarc_get_tld((u_char *)"x.com", (u_char *)tld, sizeof(tld));
	is_str(tld, "com", "defect 2, one-letter label: libopendmarc's org "
	    "domain of x.com is com");
	ok(opendmarc_policy_check_alignment((u_char *)"x.com",
	    (u_char *)"evil.com", DMARC_RECORD_A_RELAXED) == 0,
	    "defect 2, one-letter label: libopendmarc aligns x.com with "
	    "evil.com");
	psl_org_domain(full, "x.com", dom, sizeof(dom));
	is_str(dom, "x.com", "defect 2, one-letter label: ours says x.com");
	is_int(dmarc_aligned(full, "x.com", "evil.com", 0), 0,
	    "defect 2, one-letter label: ours does not align");

	/* (3) pct is ignored by get_policy_to_enforce */
	is_int(lib_policy("v=DMARC1; p=reject; pct=0", "example.com", NULL,
	    "example.com"), LIB_POLICY_REJECT,
	    "defect 3, pct ignored: libopendmarc enforces reject at pct=0");
	{
		struct dmarc_input in = {.from_domain = "example.com"};

		dmarc_evaluate(c, &in, 0, NULL, &out);
		ok(out.policy == DMARC_POLICY_REJECT &&
		    out.disposition == DMARC_POLICY_QUARANTINE &&
		    out.sampled_out == 1,
		    "defect 3, pct ignored: ours samples pct=0 down to "
		    "quarantine");
	}

	/* (4) sp applied to the From domain's own record */
	is_int(lib_policy("v=DMARC1; p=reject; sp=none", "example.com",
	    "example.com", "example.com"), LIB_POLICY_NONE,
	    "defect 4, sp misapplied: libopendmarc takes sp=none for "
	    "example.com's own record");
	{
		struct dmarc_input in = {.from_domain = "example.com"};

		dmarc_evaluate(c, &in, 0, NULL, &out);
		is_int(out.policy, DMARC_POLICY_REJECT,
		    "defect 4, sp misapplied: ours applies p=reject");
	}

	/* (5) PSL wildcard and exception rules; unlisted TLDs */
	memset(tld, 0, sizeof(tld));
	opendmarc_get_tld((u_char *)"a.b.test.ck", (u_char *)tld, sizeof(tld));
	ok(strcmp(tld, "b.test.ck") != 0,
	    "defect 5, PSL wildcard: libopendmarc's org domain of a.b.test.ck "
	    "is \"%s\"", tld);
	psl_org_domain(full, "a.b.test.ck", dom, sizeof(dom));
	is_str(dom, "b.test.ck", "defect 5, PSL wildcard: ours (*.ck)");
	memset(tld, 0, sizeof(tld));
	opendmarc_get_tld((u_char *)"a.b.c.kobe.jp", (u_char *)tld,
	    sizeof(tld));
	ok(strcmp(tld, "b.c.kobe.jp") != 0,
	    "defect 5, PSL wildcard: libopendmarc's org domain of "
	    "a.b.c.kobe.jp is \"%s\"", tld);
	psl_org_domain(full, "a.b.c.kobe.jp", dom, sizeof(dom));
	is_str(dom, "b.c.kobe.jp", "defect 5, PSL wildcard: ours (*.kobe.jp)");
	psl_org_domain(full, "www.www.ck", dom, sizeof(dom));
	is_str(dom, "www.ck", "defect 5, PSL exception: ours (!www.ck)");
	memset(tld, 0, sizeof(tld));
	opendmarc_get_tld((u_char *)"x.y.test", (u_char *)tld, sizeof(tld));
	is_str(tld, "", "defect 5, unlisted TLD: libopendmarc gives an empty "
	    "org domain for x.y.test");
	psl_org_domain(full, "x.y.test", dom, sizeof(dom));
	is_str(dom, "y.test", "defect 5, unlisted TLD: ours gives y.test");

	/* (6) several From addresses: libopendmarc takes the first */
	{
		u_char buf[256];
		const char *from = "a@x.example, b@y.example";
		u_char *got = opendmarc_util_finddomain((u_char *)from, buf,
		    sizeof(buf));

		is_str(got ? (char *)got : "(null)", "x.example",
		    "defect 6, several From addresses: libopendmarc picks the "
		    "first domain");
		is_int(mailaddr_from_domain(from, dom, sizeof(dom)),
		    MAILADDR_MULTIPLE,
		    "defect 6, several From addresses: ours says several");
	}

	dmarc_checker_free(&c);
	dns_resolver_free(&dns);
	opendmarc_policy_library_shutdown(&lib);
}

int
main(void)
{
	char err[256], path[1024];
	struct psl *psl = psl_load_string(test_psl, err, sizeof(err));
	struct psl *full;

	if (!ok(psl != NULL, "test list: %s", psl ? "ok" : err))
		return test_done("test-dmarc");
	test_records();
	test_records9989();
	test_alignment(psl);
	test_evaluate(psl);
	test_names();
	test_walk_names();
	test_walk_evaluate();
	test_walk_rfc_examples();

	test_data(path, sizeof(path), "dmarc/publicsuffix/public_suffix_list.dat");
	full = psl_load(path, err, sizeof(err));
	if (ok(full != NULL, "the PSL snapshot of the suite loads: %s",
	    full ? path : err))
		test_libopendmarc(full, path);
	psl_unref(&full);
	psl_unref(&psl);
	return test_done("test-dmarc");
}
