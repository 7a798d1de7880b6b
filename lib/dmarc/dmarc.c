/*
 * dmarc.c - DMARC: record parsing, policy discovery through our resolver,
 * identifier alignment, p/sp/np, by RFC 9989 (the DNS tree walk, psd=,
 * t=: DMARC_DISCOVERY_TREEWALK) or by RFC 7489 with the Public Suffix List
 * and np= from RFC 9091 (pct sampling: DMARC_DISCOVERY_PSL, as it was
 * before RFC 9989); see dmarc.h. libopendmarc is not used here. The
 * lookups and the walk are treewalk.c's.
 *
 * Record rules (RFC 7489 6.3, 6.4, 6.6.3; RFC 9989 4.7, 4.10.1):
 * - the record starts with "v=DMARC1" (the value exactly; white space
 *   around "=" and ";" is allowed); anything else is not a DMARC record;
 * - tag names and keyword values are case-insensitive (ABNF strings);
 * - RFC 7489: an invalid or missing p=, or an invalid sp=: when rua= holds
 *   at least one usable reporting URI (mailto:) the record reads as
 *   "v=DMARC1; p=none" (6.6.3), otherwise it is not valid and no policy
 *   applies;
 * - RFC 9989: a missing p= is p=none (4.7); an invalid p=, sp= or np=:
 *   when rua= holds a syntactically valid URI (any scheme) the record
 *   reads as p=none, otherwise no DMARC processing (4.10.1); t=y, or pct=0
 *   without a valid t= (the transition of the appendix on pct's removal;
 *   our reading), is test mode; any other pct is ignored;
 * - any other syntax error (a bad pct=, adkim=, psd=, t=, a tag without
 *   "=") is ignored and the default kept (6.3: "Syntax errors in the
 *   remainder of the record SHOULD be discarded in favor of default
 *   values");
 * - unknown tags are ignored (6.3); the first of a repeated tag counts.
 *
 * PSL discovery (6.6.3): TXT at _dmarc.<author domain>; TXT records that
 * do not start with v=DMARC1 are dropped; none left (or NXDOMAIN/NODATA):
 * the same at _dmarc.<organizational domain> when that differs; several
 * left: no policy (result none); a DNS failure at either step: temperror.
 *
 * Tree-walk discovery (RFC 9989 4.10.1): the author domain's record
 * (exactly one v=DMARC1 record; several are discarded), whatever its psd;
 * else the walk from the author domain (treewalk.c) gives the author
 * domain's org domain (4.10.2), and the record applied is the org
 * domain's, else the public suffix domain's (the psd=y record that ended
 * the walk). A DNS failure anywhere on the walk is temperror, even above a
 * record found below (the highest record cannot be known). The record
 * applied is not replaced by another when it is invalid: no DMARC then.
 * Relaxed alignment compares tree-walk org domains, walking lazily: equal
 * names align with no lookup, an identifier not at or under org(author)
 * cannot align, and every _dmarc name is asked once per evaluation; a
 * failed walk for a passing identifier that could align makes the result
 * temperror unless another identifier aligned. t=y applies the policy one
 * level lower (no effect on none).
 *
 * np= (RFC 9091 4.1, RFC 9989 4.10.1) applies when the record came from
 * an ancestor (the organizational or public suffix domain) and the author
 * domain does not exist, which RFC 9091 2.7 (PSL mode) defines as an
 * NXDOMAIN or NODATA answer for each of A, AAAA and MX, and RFC 9989 3.2
 * (tree-walk mode) as an NXDOMAIN answer (RFC 8020: NODATA is a name that
 * exists; one answer decides). Those queries are made only when the
 * record has np=; a DNS failure leaves existence unknown and sp (or p)
 * applies.
 *
 * Errors: dmarc_record_parse returns -1 with a message; dmarc_evaluate
 * always fills an outcome (temperror for DNS failures, permerror for a
 * missing or unusable author domain).
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dmarc.h"
#include "dname.h"
#include "dns.h"
#include "psl.h"
#include "stats.h"
#include "treewalk.h"
#include "util.h"

#define DMARC_MAX_RECORD 8192  /* longest record text we parse */

struct dmarc_checker {
	struct dns_resolver *dns;
	pthread_mutex_t lock;   /* guards psl */
	struct psl *psl;
	enum dmarc_discovery discovery; /* set before the checker is shared */
};

/* evaluations by result, process-wide (registered by dmarc_checker_new) */
static struct stats_metric evals[] = {
	[DMARC_RES_NONE] = STATS_COUNTER_LOCAL("dmarc_evaluations_none_total",
	    "DMARC evaluations with result none"),
	[DMARC_RES_PASS] = STATS_COUNTER_LOCAL("dmarc_evaluations_pass_total",
	    "DMARC evaluations with result pass"),
	[DMARC_RES_FAIL] = STATS_COUNTER_LOCAL("dmarc_evaluations_fail_total",
	    "DMARC evaluations with result fail"),
	[DMARC_RES_TEMPERROR] = STATS_COUNTER_LOCAL(
	    "dmarc_evaluations_temperror_total",
	    "DMARC evaluations with result temperror"),
	[DMARC_RES_PERMERROR] = STATS_COUNTER_LOCAL(
	    "dmarc_evaluations_permerror_total",
	    "DMARC evaluations with result permerror"),
};

/* ---- record --------------------------------------------------------- */

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* trim - s..e without surrounding white space: start in *s, length back */
static size_t
trim(const char **s, const char *e)
{
	while (*s < e && is_wsp(**s))
		(*s)++;
	while (e > *s && is_wsp(e[-1]))
		e--;
	return (size_t)(e - *s);
}

/* starts_version - whether txt begins with the tag "v=DMARC1" (6.4
 * dmarc-version then dmarc-sep or the end); *rest is what follows */
static int
starts_version(const char *txt, const char **rest)
{
	const char *s = txt;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s != 'v' && *s != 'V')
		return 0;
	s++;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s++ != '=')
		return 0;
	while (*s == ' ' || *s == '\t')
		s++;
	/* 6.3: the value "MUST match precisely" */
	if (strncmp(s, "DMARC1", 6) != 0)
		return 0;
	s += 6;
	while (is_wsp(*s))
		s++;
	if (*s != '\0' && *s != ';')
		return 0;
	if (rest != NULL)
		*rest = s;
	return 1;
}

int
dmarc_record_starts(const char *txt)
{
	return starts_version(txt, NULL);
}

static enum dmarc_policy
parse_policy(const char *v, size_t n)
{
	if (str_word_is(v, n, "none"))
		return DMARC_POLICY_NONE;
	if (str_word_is(v, n, "quarantine"))
		return DMARC_POLICY_QUARANTINE;
	if (str_word_is(v, n, "reject"))
		return DMARC_POLICY_REJECT;
	return DMARC_POLICY_UNSET;
}

/* parse_uint - decimal digits only, at most max; -1 otherwise */
static int
parse_uint(const char *v, size_t n, unsigned long max, unsigned long *out)
{
	char buf[16];

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return str_parse_uint(buf, max, out);
}

/* uri_ok - one dmarc-uri (6.4): URI [ "!" 1*DIGIT [ "k"/"m"/"g"/"t" ] ];
 * the URI needs a scheme (RFC 3986 3.1) and something after it. *mailto
 * is set for a mailto: URI with an address. */
static int
uri_ok(const char *u, size_t n, int *mailto)
{
	size_t i, end = n;
	const char *bang = memchr(u, '!', n);

	*mailto = 0;
	if (bang != NULL) {
		size_t j = (size_t)(bang - u) + 1, digits = 0;

		end = (size_t)(bang - u);
		while (j < n && u[j] >= '0' && u[j] <= '9') {
			j++;
			digits++;
		}
		if (digits == 0)
			return 0;
		if (j < n && strchr("kmgtKMGT", u[j]) != NULL)
			j++;
		if (j != n)
			return 0;
	}
	if (end == 0 || !((u[0] >= 'a' && u[0] <= 'z') ||
	    (u[0] >= 'A' && u[0] <= 'Z')))
		return 0;
	for (i = 1; i < end && u[i] != ':'; i++) {
		char c = u[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '-' ||
		    c == '.'))
			return 0;
	}
	if (i >= end || i + 1 == end)
		return 0;
	for (size_t j = i + 1; j < end; j++)
		if ((unsigned char)u[j] <= ' ' || u[j] == 0x7f)
			return 0;
	if (i == 6 && strncasecmp(u, "mailto", 6) == 0 &&
	    memchr(u + 7, '@', end - 7) != NULL)
		*mailto = 1;
	return 1;
}

int
dmarc_uri_valid(const char *u, size_t n, int *mailto)
{
	return uri_ok(u, n, mailto);
}

/* parse_uris - a comma-separated dmarc-uri list into out (the valid URIs,
 * joined by ","); returns how many were valid, *mailto counts mailto: */
static int
parse_uris(const char *v, size_t n, char *out, size_t outlen, int *mailto)
{
	const char *e = v + n;
	int valid = 0;
	size_t o = 0;

	*mailto = 0;
	out[0] = '\0';
	while (v <= e) {
		const char *comma = memchr(v, ',', (size_t)(e - v));
		const char *s = v, *ce = comma ? comma : e;
		size_t len = trim(&s, ce);
		int m;

		if (len > 0 && uri_ok(s, len, &m)) {
			valid++;
			*mailto += m;
			if (o + len + 2 <= outlen) {
				if (o > 0)
					out[o++] = ',';
				memcpy(out + o, s, len);
				o += len;
				out[o] = '\0';
			}
		}
		if (comma == NULL)
			break;
		v = comma + 1;
	}
	return valid;
}

/* colon_list_ok - a ":"-separated list whose every item is in words */
static int
colon_list_ok(const char *v, size_t n, const char *const *words)
{
	const char *e = v + n;

	if (n == 0)
		return 0;
	for (;;) {
		const char *c = memchr(v, ':', (size_t)(e - v));
		const char *s = v, *ie = c ? c : e;
		size_t len = trim(&s, ie);
		int found = 0;

		for (size_t i = 0; words[i] != NULL; i++)
			if (str_word_is(s, len, words[i]))
				found = 1;
		if (!found)
			return 0;
		if (c == NULL)
			return 1;
		v = c + 1;
	}
}

static void
record_defaults(struct dmarc_record *r)
{
	memset(r, 0, sizeof(*r));
	r->pct = 100;
	r->ri = 86400;
	str_copy(r->fo, "0", sizeof(r->fo));
}

/* parse - dmarc_record_parse_as() */
static int
parse(const char *txt, enum dmarc_discovery d, struct dmarc_record *r,
    char *err, size_t errlen)
{
	static const char *const fo_words[] = {"0", "1", "d", "s", NULL};
	static const char *const rf_words[] = {"afrf", "iodef", NULL};
	const char *s, *e;
	int p_bad = 0, sp_bad = 0, np_bad = 0, rua_mailto = 0, rua_valid = 0;
	int m;
	unsigned seen = 0;
	enum { T_P = 1, T_SP = 2, T_NP = 4, T_PCT = 8, T_ADKIM = 16,
	    T_ASPF = 32, T_RUA = 64, T_RUF = 128, T_FO = 256, T_RI = 512,
	    T_RF = 1024, T_PSD = 2048, T_T = 4096 };

	record_defaults(r);
	if (txt == NULL || *txt == '\0') {
		snprintf(err, errlen, "empty record");
		return -1;
	}
	if (strnlen(txt, DMARC_MAX_RECORD + 1) > DMARC_MAX_RECORD) {
		snprintf(err, errlen, "record over %d bytes", DMARC_MAX_RECORD);
		return -1;
	}
	if (!starts_version(txt, &s)) {
		snprintf(err, errlen, "does not start with v=DMARC1");
		return -1;
	}
	e = s + strlen(s);
	while (s < e) {
		const char *semi, *eq, *tag, *val;
		size_t tn, vn;
		unsigned long u;
		unsigned bit;

		if (*s == ';')
			s++;
		semi = memchr(s, ';', (size_t)(e - s));
		if (semi == NULL)
			semi = e;
		eq = memchr(s, '=', (size_t)(semi - s));
		tag = s;
		s = semi;
		if (eq == NULL)
			continue; /* empty, or a syntax error: ignored (6.3) */
		tn = trim(&tag, eq);
		val = eq + 1;
		vn = trim(&val, semi);
		if (str_word_is(tag, tn, "p"))
			bit = T_P;
		else if (str_word_is(tag, tn, "sp"))
			bit = T_SP;
		else if (str_word_is(tag, tn, "np"))
			bit = T_NP;
		else if (str_word_is(tag, tn, "pct"))
			bit = T_PCT;
		else if (str_word_is(tag, tn, "adkim"))
			bit = T_ADKIM;
		else if (str_word_is(tag, tn, "aspf"))
			bit = T_ASPF;
		else if (str_word_is(tag, tn, "rua"))
			bit = T_RUA;
		else if (str_word_is(tag, tn, "ruf"))
			bit = T_RUF;
		else if (str_word_is(tag, tn, "fo"))
			bit = T_FO;
		else if (str_word_is(tag, tn, "ri"))
			bit = T_RI;
		else if (str_word_is(tag, tn, "rf"))
			bit = T_RF;
		else if (str_word_is(tag, tn, "psd"))
			bit = T_PSD;
		else if (str_word_is(tag, tn, "t"))
			bit = T_T;
		else
			continue; /* unknown tags MUST be ignored (6.3) */
		if (seen & bit)
			continue;
		seen |= bit;
		switch (bit) {
		case T_P:
			r->p = parse_policy(val, vn);
			p_bad = r->p == DMARC_POLICY_UNSET;
			break;
		case T_SP:
			r->sp = parse_policy(val, vn);
			sp_bad = r->sp == DMARC_POLICY_UNSET;
			break;
		case T_NP:
			r->np = parse_policy(val, vn);
			np_bad = r->np == DMARC_POLICY_UNSET;
			break;
		case T_PCT:
			if (parse_uint(val, vn, 100, &u) == 0)
				r->pct = (unsigned)u;
			break;
		case T_ADKIM:
		case T_ASPF:
			if (str_word_is(val, vn, "s") || str_word_is(val, vn, "r")) {
				int strict = str_word_is(val, vn, "s");

				if (bit == T_ADKIM)
					r->adkim_strict = strict;
				else
					r->aspf_strict = strict;
			}
			break;
		case T_RUA:
			rua_valid = parse_uris(val, vn, r->rua, sizeof(r->rua),
			    &m);
			rua_mailto = m;
			break;
		case T_RUF:
			parse_uris(val, vn, r->ruf, sizeof(r->ruf), &m);
			break;
		case T_FO:
			if (colon_list_ok(val, vn, fo_words) &&
			    vn < sizeof(r->fo)) {
				memcpy(r->fo, val, vn);
				r->fo[vn] = '\0';
			}
			break;
		case T_RI:
			if (parse_uint(val, vn, 4294967295UL, &u) == 0)
				r->ri = (unsigned)u;
			break;
		case T_RF:
			(void)colon_list_ok(val, vn, rf_words);
			break;
		case T_PSD:
			/* RFC 9989 4.7: y, n or u; anything else: the default */
			if (str_word_is(val, vn, "y"))
				r->psd = DMARC_PSD_Y;
			else if (str_word_is(val, vn, "n"))
				r->psd = DMARC_PSD_N;
			break;
		case T_T:
			/* y or n; anything else: the default n, as if absent */
			if (str_word_is(val, vn, "y") || str_word_is(val, vn, "n")) {
				r->has_t = 1;
				r->testing = str_word_is(val, vn, "y");
			}
			break;
		}
	}
	if (d == DMARC_DISCOVERY_TREEWALK) {
		/* RFC 9989 4.7: no p= is p=none; 4.10.1: an invalid p=, sp=
		 * or np= reads as p=none when rua= has a valid URI, else the
		 * record is not applied */
		if (p_bad || sp_bad || np_bad) {
			if (rua_valid == 0) {
				snprintf(err, errlen,
				    "invalid %s and no valid rua= to fall back on",
				    p_bad ? "p=" : sp_bad ? "sp=" : "np=");
				return -1;
			}
			r->p = DMARC_POLICY_NONE;
			r->sp = DMARC_POLICY_UNSET;
			r->np = DMARC_POLICY_UNSET;
		}
		if (r->p == DMARC_POLICY_UNSET)
			r->p = DMARC_POLICY_NONE;
		/* the pct transition (RFC 9989 appendix "Removal of the pct
		 * tag"): pct=0 was a test, as t=y is; an explicit t= wins */
		if (!r->has_t && (seen & T_PCT) && r->pct == 0)
			r->testing = 1;
		return 0;
	}
	if (r->p == DMARC_POLICY_UNSET || sp_bad) {
		/* 6.6.3: no valid p= or an invalid sp= */
		if (rua_mailto > 0) {
			r->p = DMARC_POLICY_NONE;
			r->sp = DMARC_POLICY_UNSET;
			r->np = DMARC_POLICY_UNSET;
			return 0;
		}
		snprintf(err, errlen, "%s and no rua= to fall back on",
		    sp_bad ? "invalid sp=" : p_bad ? "invalid p=" :
		    "no p=");
		return -1;
	}
	return 0;
}

int
dmarc_record_parse(const char *txt, struct dmarc_record *r, char *err,
    size_t errlen)
{
	return parse(txt, DMARC_DISCOVERY_PSL, r, err, errlen);
}

int
dmarc_record_parse_as(const char *txt, enum dmarc_discovery d,
    struct dmarc_record *r, char *err, size_t errlen)
{
	return parse(txt, d, r, err, errlen);
}

/* ---- alignment -------------------------------------------------------- */

/* norm_domain - dname_norm() of a name other than the root; -1 when it
 * is not a domain name (empty, an empty label, too long) */
static int
norm_domain(const char *d, char *out, size_t outlen)
{
	if (d == NULL || dname_norm(d, out, outlen) < 0 || out[0] == '\0')
		return -1;
	return 0;
}

int
dmarc_aligned(const struct psl *psl, const char *a, const char *b,
    int strict)
{
	char na[DNAME_BUFSIZE], nb[DNAME_BUFSIZE];
	char oa[DNAME_BUFSIZE], ob[DNAME_BUFSIZE];

	if (norm_domain(a, na, sizeof(na)) < 0 ||
	    norm_domain(b, nb, sizeof(nb)) < 0)
		return 0;
	/* 3.1.1, 3.1.2: strict mode needs an exact (case-insensitive) match */
	if (strcmp(na, nb) == 0)
		return 1;
	if (strict)
		return 0;
	/* relaxed: the same organizational domain (3.2) */
	if (psl_org_domain(psl, na, oa, sizeof(oa)) < 0 ||
	    psl_org_domain(psl, nb, ob, sizeof(ob)) < 0)
		return 0;
	return strcmp(oa, ob) == 0;
}

/* ---- names ------------------------------------------------------------ */

const char *
dmarc_res_name(enum dmarc_res r)
{
	switch (r) {
	case DMARC_RES_NONE:
		return "none";
	case DMARC_RES_PASS:
		return "pass";
	case DMARC_RES_FAIL:
		return "fail";
	case DMARC_RES_TEMPERROR:
		return "temperror";
	case DMARC_RES_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

const char *
dmarc_discovery_name(enum dmarc_discovery d)
{
	return d == DMARC_DISCOVERY_PSL ? "psl" : "treewalk";
}

const char *
dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_UNSET:
		return "unset";
	case DMARC_POLICY_NONE:
		return "none";
	case DMARC_POLICY_QUARANTINE:
		return "quarantine";
	case DMARC_POLICY_REJECT:
		return "reject";
	}
	return "unset";
}

/* ---- checker ---------------------------------------------------------- */

struct dmarc_checker *
dmarc_checker_new(struct dns_resolver *dns, struct psl *psl, char *err,
    size_t errlen)
{
	struct dmarc_checker *c;

	if (dns == NULL) {
		snprintf(err, errlen, "DMARC needs a resolver");
		return NULL;
	}
	for (size_t i = 0; i < sizeof(evals) / sizeof(evals[0]); i++)
		stats_register(&evals[i]);
	treewalk_stats_register();
	c = xcalloc(1, sizeof(*c));
	c->dns = dns;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		snprintf(err, errlen, "pthread_mutex_init failed");
		free(c);
		return NULL;
	}
	c->psl = psl_ref(psl);
	c->discovery = psl != NULL ? DMARC_DISCOVERY_PSL :
	    DMARC_DISCOVERY_TREEWALK;
	return c;
}

void
dmarc_checker_set_discovery(struct dmarc_checker *c, enum dmarc_discovery d)
{
	c->discovery = d;
}

enum dmarc_discovery
dmarc_checker_discovery(const struct dmarc_checker *c)
{
	return c->discovery;
}

void
dmarc_checker_set_psl(struct dmarc_checker *c, struct psl *psl)
{
	struct psl *old;

	psl_ref(psl);
	pthread_mutex_lock(&c->lock);
	old = c->psl;
	c->psl = psl;
	pthread_mutex_unlock(&c->lock);
	psl_unref(&old);
}

void
dmarc_checker_free(struct dmarc_checker **cp)
{
	struct dmarc_checker *c = *cp;

	*cp = NULL;
	if (c == NULL)
		return;
	psl_unref(&c->psl);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* checker_psl - a reference to the current list (caller unrefs) */
static struct psl *
checker_psl(struct dmarc_checker *c)
{
	struct psl *psl;

	pthread_mutex_lock(&c->lock);
	psl = psl_ref(c->psl);
	pthread_mutex_unlock(&c->lock);
	return psl;
}

/* ---- evaluation ------------------------------------------------------- */

enum existence { EX_YES, EX_NO, EX_UNKNOWN };

/* domain_exists - whether the author domain exists, asking A, AAAA, MX in
 * turn. PSL (RFC 9091 2.7): a non-existent domain answers NXDOMAIN or
 * NODATA for all three. TREEWALK (RFC 9989 3.2.x, after RFC 8020): an
 * NXDOMAIN answer to a query for the name; NODATA means it exists, so the
 * first answer that is not a failure decides. */
static enum existence
domain_exists(struct dns_resolver *dns, const char *domain,
    enum dmarc_discovery d, const struct timespec *deadline)
{
	static const int types[] = {DNS_T_A, DNS_T_AAAA, DNS_T_MX};
	enum existence ex = EX_NO;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct dns_answer *a = dns_query_until(dns, domain, types[i],
		    deadline);
		enum dns_status st = a->status;

		dns_answer_free(&a);
		if (d == DMARC_DISCOVERY_TREEWALK) {
			if (st == DNS_STATUS_NXDOMAIN)
				return EX_NO;
			if (st != DNS_STATUS_TEMPFAIL)
				return EX_YES;
			continue;
		}
		if (st == DNS_STATUS_OK)
			return EX_YES;
		if (st == DNS_STATUS_TEMPFAIL)
			ex = EX_UNKNOWN;
		else if (st == DNS_STATUS_NXDOMAIN)
			return ex == EX_UNKNOWN ? EX_UNKNOWN : EX_NO;
	}
	return d == DMARC_DISCOVERY_TREEWALK ? EX_UNKNOWN : ex;
}

static enum dmarc_policy
lower_policy(enum dmarc_policy p)
{
	/* 6.6.4: "the next policy lower in order"; RFC 9989 t=y the same */
	switch (p) {
	case DMARC_POLICY_REJECT:
		return DMARC_POLICY_QUARANTINE;
	default:
		return DMARC_POLICY_NONE;
	}
}

static enum dmarc_res __attribute__((format(printf, 3, 4)))
finish(struct dmarc_outcome *out, enum dmarc_res res, const char *fmt, ...)
{
	va_list ap;

	out->result = res;
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
	return res;
}

/* whether the author domain fd and an identifier align: 1, 0, or -1 when
 * it cannot be known (a DNS failure on a tree walk) */
typedef int aligner_fn(void *ctx, const char *fd, const char *id,
    int strict);

static int
psl_aligner(void *ctx, const char *fd, const char *id, int strict)
{
	return dmarc_aligned(ctx, fd, id, strict);
}

/* align - the alignment checks (RFC 7489 6.6.2, RFC 9989 4.4) and the
 * result, into out; *unknown set when a passing identifier's alignment
 * could not be known (the result is then fail, for the caller to make
 * temperror) */
static void
align(aligner_fn *fn, void *ctx, const struct dmarc_input *in,
    const char *fd, struct dmarc_outcome *out, int *unknown)
{
	const struct dmarc_record *r = &out->record;
	const char *spf_unaligned = NULL, *dkim_unaligned = NULL;
	int a;

	*unknown = 0;
	/* SPF: the MAIL FROM identity only, and only a pass (3.1.2); the
	 * null sender (no domain) never aligns */
	if (in->spf_pass && in->spf_domain != NULL && *in->spf_domain) {
		a = fn(ctx, fd, in->spf_domain, r->aspf_strict);
		if (a > 0)
			out->spf_aligned = 1;
		else if (a == 0)
			spf_unaligned = in->spf_domain;
		else
			*unknown = 1;
	} else if (in->spf_temperror && in->spf_domain != NULL &&
	    fn(ctx, fd, in->spf_domain, r->aspf_strict) != 0) {
		out->temp_aligned = 1;
	}
	/* DKIM: any passing signature whose d= aligns (3.1.1) */
	for (size_t i = 0; in->dkim != NULL && i < in->ndkim; i++) {
		const struct dmarc_dkim *d = &in->dkim[i];

		if (d->domain == NULL || *d->domain == '\0')
			continue;
		if (!d->pass) {
			if (d->temperror &&
			    fn(ctx, fd, d->domain, r->adkim_strict) != 0)
				out->temp_aligned = 1;
			continue;
		}
		a = fn(ctx, fd, d->domain, r->adkim_strict);
		if (a > 0) {
			if (!out->dkim_aligned) {
				out->dkim_aligned = 1;
				str_copy(out->dkim_domain, d->domain,
				    sizeof(out->dkim_domain));
				str_lower(out->dkim_domain);
			}
		} else if (a < 0)
			*unknown = 1;
		else if (dkim_unaligned == NULL)
			dkim_unaligned = d->domain;
	}
	if (out->dkim_aligned) {
		finish(out, DMARC_RES_PASS, "aligned DKIM pass for %s",
		    out->dkim_domain);
	} else if (out->spf_aligned) {
		finish(out, DMARC_RES_PASS, "aligned SPF pass for %s",
		    in->spf_domain);
	} else if (spf_unaligned != NULL) {
		finish(out, DMARC_RES_FAIL, "SPF pass for %s is not aligned %s",
		    spf_unaligned, r->aspf_strict ? "(strict)" : "(relaxed)");
	} else if (dkim_unaligned != NULL) {
		finish(out, DMARC_RES_FAIL,
		    "DKIM pass for %s is not aligned %s", dkim_unaligned,
		    r->adkim_strict ? "(strict)" : "(relaxed)");
	} else {
		finish(out, DMARC_RES_FAIL,
		    "no aligned SPF or DKIM pass for %s", fd);
	}
}

/* choose_policy - p for the author domain's own record; for a subdomain
 * using an ancestor's record, np when the author domain does not exist
 * (RFC 9091 4.1, RFC 9989 4.10.1), else sp, else p */
static void
choose_policy(struct dmarc_checker *c, const char *fd, int from_ancestor,
    const struct timespec *deadline, struct dmarc_outcome *out)
{
	out->policy = out->record.p;
	if (from_ancestor) {
		enum existence ex = EX_YES;

		if (out->record.np != DMARC_POLICY_UNSET)
			ex = domain_exists(c->dns, fd, c->discovery,
			    deadline);
		if (ex == EX_NO)
			out->policy = out->record.np;
		else if (out->record.sp != DMARC_POLICY_UNSET)
			out->policy = out->record.sp;
	}
}

/* evaluate_psl - RFC 7489 6.6 with the PSL and pct sampling */
static enum dmarc_res
evaluate_psl(struct dmarc_checker *c, const struct dmarc_input *in,
    const char *fd, unsigned random_0_99, const struct timespec *deadline,
    struct dmarc_outcome *out)
{
	char org[DNAME_BUFSIZE], err[128];
	struct treewalk_memo memo;
	const struct treewalk_entry *e;
	struct psl *psl = checker_psl(c);
	enum dmarc_res res;
	int unknown;

	treewalk_memo_init(&memo, c->dns, deadline);
	/* 3.2: a public suffix is its own organizational domain here */
	if (psl_org_domain(psl, fd, org, sizeof(org)) < 0)
		str_copy(org, fd, sizeof(org));
	str_copy(out->org_domain, org, sizeof(out->org_domain));

	/* 6.6.3: the author domain, then the organizational domain */
	str_copy(out->policy_domain, fd, sizeof(out->policy_domain));
	e = treewalk_lookup(&memo, fd);
	if (e->found == TREEWALK_NONE && strcmp(org, fd) != 0) {
		out->record_from_org = 1;
		str_copy(out->policy_domain, org, sizeof(out->policy_domain));
		e = treewalk_lookup(&memo, org);
	}
	switch (e->found) {
	case TREEWALK_TEMPFAIL:
		res = finish(out, DMARC_RES_TEMPERROR,
		    "DNS error looking up _dmarc.%s: %s", out->policy_domain,
		    e->why);
		goto done;
	case TREEWALK_NONE:
		out->record_from_org = 0;
		str_copy(out->policy_domain, "", sizeof(out->policy_domain));
		res = finish(out, DMARC_RES_NONE, "no DMARC record for %s",
		    fd);
		goto done;
	case TREEWALK_SEVERAL:
		res = finish(out, DMARC_RES_NONE,
		    "several DMARC records at _dmarc.%s",
		    out->policy_domain);
		goto done;
	case TREEWALK_ONE:
		break;
	}
	if (dmarc_record_parse(e->txt, &out->record, err, sizeof(err)) < 0) {
		char shown[100];

		str_show(err, shown, sizeof(shown));
		res = finish(out, DMARC_RES_NONE,
		    "invalid DMARC record at _dmarc.%s: %s",
		    out->policy_domain, shown);
		goto done;
	}

	align(psl_aligner, psl, in, fd, out, &unknown);
	res = out->result;
	choose_policy(c, fd, out->record_from_org, deadline, out);

	/* 6.6.4: pct sampling, for failing mail only */
	out->disposition = DMARC_POLICY_NONE;
	if (res == DMARC_RES_FAIL) {
		if (random_0_99 < out->record.pct)
			out->disposition = out->policy;
		else {
			out->disposition = lower_policy(out->policy);
			out->sampled_out = out->policy != DMARC_POLICY_NONE;
		}
	}
done:
	out->walk_queries = memo.queries;
	treewalk_memo_free(&memo);
	psl_unref(&psl);
	return res;
}

/* the tree walks of one evaluation */
struct walkeval {
	struct treewalk_memo memo;
	const char *author;             /* normalised */
	int org_state;                  /* 0 not walked, 1 known, -1 failed */
	char org[DNAME_BUFSIZE];        /* the author domain's, when known */
	const struct treewalk_entry *failed; /* the first failed lookup */
};

/* walk_org - the org domain of domain (normalised) by a walk: 0, or -1
 * with we->failed */
static int
walk_org(struct walkeval *we, const char *domain, char *out, size_t outlen)
{
	const struct treewalk_entry *decided;
	struct treewalk w;

	if (treewalk_run(&we->memo, domain, &w) < 0) {
		if (we->failed == NULL)
			we->failed = w.failed;
		return -1;
	}
	treewalk_org(&w, out, outlen, &decided);
	return 0;
}

/* walk_aligner - RFC 9989 4.10.2: strict is equality; relaxed is the same
 * tree-walk org domain. Shortcuts (no lookup): equal names align; org(x)
 * is x or an ancestor of x, so an identifier neither equal to nor under
 * org(author) cannot align, nor one sharing no label with the author. */
static int
walk_aligner(void *ctx, const char *fd, const char *id, int strict)
{
	struct walkeval *we = ctx;
	char nid[DNAME_BUFSIZE], org[DNAME_BUFSIZE];
	const char *tld = fd; /* fd is we->author */

	if (norm_domain(id, nid, sizeof(nid)) < 0)
		return 0;
	if (strcmp(nid, we->author) == 0)
		return 1;
	if (strict)
		return 0;
	while (dname_labels(tld) > 1)
		tld = dname_parent(tld);
	if (!dname_under(nid, tld))
		return 0;
	if (we->org_state == 0)
		we->org_state = walk_org(we, we->author, we->org,
		    sizeof(we->org)) == 0 ? 1 : -1;
	if (we->org_state < 0)
		return -1;
	if (!dname_under(nid, we->org))
		return 0;
	if (walk_org(we, nid, org, sizeof(org)) < 0)
		return -1;
	return strcmp(org, we->org) == 0;
}

/* evaluate_walk - RFC 9989 4.10.1 policy discovery, 4.10.2 alignment,
 * p/sp/np, t=y */
static enum dmarc_res
evaluate_walk(struct dmarc_checker *c, const struct dmarc_input *in,
    const char *fd, const struct timespec *deadline,
    struct dmarc_outcome *out)
{
	struct walkeval we;
	const struct treewalk_entry *a, *applied = NULL;
	enum dmarc_res res;
	int unknown;

	memset(&we, 0, sizeof(we));
	treewalk_memo_init(&we.memo, c->dns, deadline);
	we.author = fd;

	/* the author domain first: its record applies, whatever its psd */
	a = treewalk_lookup(&we.memo, fd);
	if (a->found == TREEWALK_ONE) {
		applied = a;
		if (a->rec.psd != DMARC_PSD_U) {
			/* the walk from it stops here: it is its own org */
			str_copy(we.org, fd, sizeof(we.org));
			we.org_state = 1;
		}
	} else if (a->found != TREEWALK_TEMPFAIL) {
		/* the walk from the parent (shortened past eight labels) is
		 * the org domain walk from the author domain, whose first
		 * lookup is made */
		const struct treewalk_entry *o, *psd = NULL;
		struct treewalk w;

		if (treewalk_run(&we.memo, fd, &w) < 0) {
			a = w.failed;
		} else {
			const struct treewalk_entry *decided;

			treewalk_org(&w, we.org, sizeof(we.org), &decided);
			we.org_state = 1;
			if (w.n > 0 && w.step[w.n - 1]->found == TREEWALK_ONE &&
			    w.step[w.n - 1]->rec.psd == DMARC_PSD_Y)
				psd = w.step[w.n - 1];
			/* the org domain's record, else the public suffix
			 * domain's (the org domain one label below a psd=y
			 * may have been skipped by the shortening: ask) */
			o = treewalk_lookup(&we.memo, we.org);
			if (o->found == TREEWALK_TEMPFAIL)
				a = o;
			else if (o->found == TREEWALK_ONE && o != a) {
				applied = o;
				out->record_from_org = 1;
			} else if (psd != NULL) {
				applied = psd;
				out->record_from_psd = 1;
			}
		}
	}
	if (a->found == TREEWALK_TEMPFAIL) {
		str_copy(out->policy_domain, a->domain,
		    sizeof(out->policy_domain));
		res = finish(out, DMARC_RES_TEMPERROR,
		    "DNS error looking up _dmarc.%s: %s", a->domain, a->why);
		goto done;
	}
	if (we.org_state > 0)
		str_copy(out->org_domain, we.org, sizeof(out->org_domain));
	if (applied == NULL) {
		res = finish(out, DMARC_RES_NONE, "no DMARC record for %s", fd);
		goto done;
	}
	str_copy(out->policy_domain, applied->domain,
	    sizeof(out->policy_domain));
	if (!applied->valid) {
		char shown[100];

		str_show(applied->err, shown, sizeof(shown));
		res = finish(out, DMARC_RES_NONE,
		    "invalid DMARC record at _dmarc.%s: %s", applied->domain,
		    shown);
		goto done;
	}
	out->record = applied->rec;

	align(walk_aligner, &we, in, fd, out, &unknown);
	if (we.org_state > 0)
		str_copy(out->org_domain, we.org, sizeof(out->org_domain));
	res = out->result;
	if (res == DMARC_RES_FAIL && unknown && we.failed != NULL) {
		res = finish(out, DMARC_RES_TEMPERROR,
		    "DNS error looking up _dmarc.%s: %s", we.failed->domain,
		    we.failed->why);
		goto done;
	}
	choose_policy(c, fd, applied != a, deadline, out);

	/* t=y: the policy one level lower (no effect on none) */
	out->testing = out->record.testing &&
	    out->policy != DMARC_POLICY_NONE;
	out->disposition = DMARC_POLICY_NONE;
	if (res == DMARC_RES_FAIL)
		out->disposition = out->testing ? lower_policy(out->policy) :
		    out->policy;
done:
	out->walk_queries = we.memo.queries;
	treewalk_memo_free(&we.memo);
	return res;
}

/* evaluate - dmarc_evaluate() but for the count */
static enum dmarc_res
evaluate(struct dmarc_checker *c, const struct dmarc_input *in,
    unsigned random_0_99, const struct timespec *deadline,
    struct dmarc_outcome *out)
{
	char fd[DNAME_BUFSIZE];

	memset(out, 0, sizeof(*out));
	record_defaults(&out->record);
	out->discovery = c->discovery;
	if (in == NULL || in->from_domain == NULL || *in->from_domain == '\0')
		return finish(out, DMARC_RES_PERMERROR, "no author domain");
	if (norm_domain(in->from_domain, fd, sizeof(fd)) < 0)
		return finish(out, DMARC_RES_PERMERROR,
		    "author domain is not a domain name");
	if (c->discovery == DMARC_DISCOVERY_PSL)
		return evaluate_psl(c, in, fd, random_0_99, deadline, out);
	return evaluate_walk(c, in, fd, deadline, out);
}

enum dmarc_res
dmarc_evaluate(struct dmarc_checker *c, const struct dmarc_input *in,
    unsigned random_0_99, const struct timespec *deadline,
    struct dmarc_outcome *out)
{
	enum dmarc_res res = evaluate(c, in, random_0_99, deadline, out);

	stats_inc(&evals[res]);
	return res;
}

int
dmarc_org_domain(struct dmarc_checker *c, const char *domain,
    const struct timespec *deadline, char *out, size_t outlen)
{
	char d[DNAME_BUFSIZE];
	int rc = 0;

	str_copy(out, "", outlen);
	if (norm_domain(domain, d, sizeof(d)) < 0)
		return -1;
	if (c->discovery == DMARC_DISCOVERY_PSL) {
		struct psl *psl = checker_psl(c);

		if (psl_org_domain(psl, d, out, outlen) < 0)
			str_copy(out, d, outlen);
		psl_unref(&psl);
	} else {
		struct walkeval we;

		memset(&we, 0, sizeof(we));
		treewalk_memo_init(&we.memo, c->dns, deadline);
		rc = walk_org(&we, d, out, outlen);
		if (rc < 0)
			str_copy(out, "", outlen);
		treewalk_memo_free(&we.memo);
	}
	return rc;
}
