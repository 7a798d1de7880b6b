/*
 * spf.c - RFC 7208 check_host() over the injected resolver (see spf.h).
 *
 * libspf2 1.2.10 as shipped by Debian departs from RFC 7208 in too many
 * places to be corrected from outside (lookup limit per record and off by
 * one, no void-lookup limit, DNS errors on the record reported as
 * INVALID, 127/8 always passing, IPv4-mapped clients not unmapped, exp=
 * text mangled, macro truncation wrong) and its macro expander has a
 * stack overflow reachable from DNS (upstream fix d14abff is missing).
 * So check_host() is evaluated here, term by term, with every DNS query
 * going through struct dns_resolver and every limit counted per
 * check_host() evaluation as the RFC says; no record text ever reaches
 * libspf2. The evaluator keeps no state outside the per-call context.
 *
 * Errors: every input gives a defined result. A record that breaks the
 * RFC 7208 ABNF or a limit gives permerror, a DNS error gives temperror,
 * a client address that does not parse gives none ("no client address").
 * A record with more than SPF_MAX_MACROS macros is refused with permerror
 * (a deliberate bound far above real records; such records were the
 * libspf2 crash shape), and expansions are bounded by fixed buffers.
 */

#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cidr.h"
#include "dname.h"
#include "dns.h"
#include "spf.h"
#include "stats.h"
#include "util.h"

#define SPF_MAX_LOOKUPS 10   /* RFC 7208 4.6.4: terms causing DNS lookups */
#define SPF_MAX_VOID 2       /* RFC 7208 4.6.4: void lookups */
#define SPF_MAX_MX_NAMES 10  /* RFC 7208 4.6.4: MX names per mx term */
#define SPF_MAX_RECORD 4096  /* joined TXT bytes we accept as one record */
#define SPF_MAX_MACROS 48    /* macros in one record or explanation */
#define SPF_MAX_TERMS 512
#define SPF_MAX_EXPAND 1024  /* bytes of one macro-expanded string */

struct spf_checker {
	struct dns_resolver *dns;
	char *rhost; /* %{r} */
};

enum mech { M_ALL, M_INCLUDE, M_A, M_MX, M_PTR, M_IP4, M_IP6, M_EXISTS };

struct term {
	char qual;           /* '+', '-', '~', '?' */
	enum mech kind;
	const char *spec;    /* domain-spec (not NUL-terminated) or NULL */
	size_t speclen;
	unsigned char addr[16];
	unsigned cidr4, cidr6;
};

struct record {
	struct term *t;
	size_t n;
	const char *redirect, *exp; /* domain-specs, or NULL */
	size_t redirectlen, explen;
};

/* the per-check context: everything check_host() needs for one call */
struct ctx {
	struct spf_checker *c;
	int v6;                  /* client family */
	unsigned char ip[16];    /* 4 bytes used for IPv4 */
	char ipstr[64];          /* %{c} */
	char local[128], sdomain[DNAME_BUFSIZE], helo[DNAME_BUFSIZE];
	unsigned lookups, voids;
	const struct timespec *deadline; /* the message's DNS budget, or NULL */
	const struct spf_ptr_source *ptr; /* validated names from elsewhere */
	char reason[256];
	char explanation[512];
};

/* checks by result, process-wide (registered by spf_checker_new) */
static struct stats_metric checks[] = {
	[SPF_RESULT_NONE] = STATS_COUNTER_LOCAL("spf_checks_none_total",
	    "SPF checks with result none"),
	[SPF_RESULT_NEUTRAL] = STATS_COUNTER_LOCAL("spf_checks_neutral_total",
	    "SPF checks with result neutral"),
	[SPF_RESULT_PASS] = STATS_COUNTER_LOCAL("spf_checks_pass_total",
	    "SPF checks with result pass"),
	[SPF_RESULT_FAIL] = STATS_COUNTER_LOCAL("spf_checks_fail_total",
	    "SPF checks with result fail"),
	[SPF_RESULT_SOFTFAIL] = STATS_COUNTER_LOCAL("spf_checks_softfail_total",
	    "SPF checks with result softfail"),
	[SPF_RESULT_TEMPERROR] = STATS_COUNTER_LOCAL("spf_checks_temperror_total",
	    "SPF checks with result temperror"),
	[SPF_RESULT_PERMERROR] = STATS_COUNTER_LOCAL("spf_checks_permerror_total",
	    "SPF checks with result permerror"),
};

const char *
spf_result_name(enum spf_result r)
{
	switch (r) {
	case SPF_RESULT_NONE:
		return "none";
	case SPF_RESULT_NEUTRAL:
		return "neutral";
	case SPF_RESULT_PASS:
		return "pass";
	case SPF_RESULT_FAIL:
		return "fail";
	case SPF_RESULT_SOFTFAIL:
		return "softfail";
	case SPF_RESULT_TEMPERROR:
		return "temperror";
	case SPF_RESULT_PERMERROR:
		return "permerror";
	}
	return "unknown";
}

struct spf_checker *
spf_checker_new(struct dns_resolver *dns, const char *receiving_host,
    char *err, size_t errlen)
{
	struct spf_checker *c;

	if (dns == NULL) {
		snprintf(err, errlen, "no resolver");
		return NULL;
	}
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		stats_register(&checks[i]);
	c = xcalloc(1, sizeof(*c));
	c->dns = dns;
	c->rhost = xstrdup(receiving_host && *receiving_host ?
	    receiving_host : "unknown");
	return c;
}

void
spf_checker_free(struct spf_checker **cp)
{
	if (cp == NULL || *cp == NULL)
		return;
	free((*cp)->rhost);
	free(*cp);
	*cp = NULL;
}

static const char *
type_name(int type)
{
	switch (type) {
	case DNS_T_A:
		return "A";
	case DNS_T_AAAA:
		return "AAAA";
	case DNS_T_MX:
		return "MX";
	case DNS_T_PTR:
		return "PTR";
	case DNS_T_TXT:
		return "TXT";
	}
	return "?";
}

/* permerror - note why (the first reason wins) and return permerror */
static enum spf_result __attribute__((format(printf, 2, 3)))
permerror(struct ctx *x, const char *fmt, ...)
{
	va_list ap;

	if (x->reason[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(x->reason, sizeof(x->reason), fmt, ap);
		va_end(ap);
	}
	return SPF_RESULT_PERMERROR;
}

static enum spf_result
temperror(struct ctx *x, const struct dns_answer *a, const char *name,
    int type)
{
	if (x->reason[0] == '\0')
		snprintf(x->reason, sizeof(x->reason), "DNS %.40s looking up %.180s %s",
		    a->why[0] ? a->why : "error", name, type_name(type));
	return SPF_RESULT_TEMPERROR;
}

/* ---- names and addresses ------------------------------------------------ */

static int
addr_match(const struct ctx *x, const unsigned char *a, unsigned prefix)
{
	size_t bytes = prefix / 8;
	unsigned bits = prefix % 8;

	if (memcmp(x->ip, a, bytes) != 0)
		return 0;
	if (bits) {
		unsigned char m = (unsigned char)(0xff << (8 - bits));

		return (x->ip[bytes] & m) == (a[bytes] & m);
	}
	return 1;
}

/* answer_has_ip - whether an A/AAAA answer holds the client within prefix */
static int
answer_has_ip(const struct ctx *x, const struct dns_answer *a,
    unsigned prefix)
{
	size_t want = x->v6 ? 16 : 4;

	for (size_t i = 0; i < a->count; i++)
		if (a->rr[i].len == want && addr_match(x, a->rr[i].data, prefix))
			return 1;
	return 0;
}

/* ptr_validated - RFC 7208 5.5: the validated names of the client, at most
 * SPF_MAX_PTR_NAMES PTR records looked at (the rest are ignored, 4.6.4).
 * Calls fn for each validated name until it returns nonzero; returns that
 * value, or 0. *status gets the PTR answer's status. */
static int
ptr_validated(struct ctx *x, enum dns_status *status,
    int (*fn)(const char *name, void *arg), void *arg)
{
	char rev[IP_REVERSE_SIZE];
	struct dns_answer *a;
	int ret = 0;

	if (x->ptr != NULL) {
		/* the same lookups made once (iprev's, at the connection) */
		const char *names[SPF_MAX_PTR_NAMES];
		size_t n = x->ptr->names(x->ptr->arg, x->deadline, status,
		    names, SPF_MAX_PTR_NAMES);

		for (size_t i = 0; i < n && ret == 0; i++)
			ret = fn(names[i], arg);
		return ret;
	}
	ip_reverse_name(x->ip, x->v6, rev, sizeof(rev));
	a = dns_query_until(x->c->dns, rev, DNS_T_PTR, x->deadline);
	*status = a->status;
	for (size_t i = 0; a->status == DNS_STATUS_OK && i < a->count &&
	    i < SPF_MAX_PTR_NAMES && ret == 0; i++) {
		char name[DNAME_BUFSIZE];
		struct dns_answer *aa;

		if (dns_rr_name(&a->rr[i], 0, name, sizeof(name)) != 0 ||
		    name[0] == '\0')
			continue;
		aa = dns_query_until(x->c->dns, name, x->v6 ? DNS_T_AAAA : DNS_T_A, x->deadline);
		/* 5.5: a DNS error on the address lookup skips the name */
		if (aa->status == DNS_STATUS_OK && answer_has_ip(x, aa,
		    x->v6 ? 128 : 32))
			ret = fn(name, arg);
		dns_answer_free(&aa);
	}
	dns_answer_free(&a);
	return ret;
}

struct pname {
	const char *dom;
	char best[DNAME_BUFSIZE];
	int found;
};

static int
pname_fn(const char *name, void *arg)
{
	struct pname *p = arg;

	if (dname_under(name, p->dom)) {
		str_copy(p->best, name, sizeof(p->best));
		return 1;
	}
	if (!p->found) {
		str_copy(p->best, name, sizeof(p->best));
		p->found = 1;
	}
	return 0;
}

/* ---- macros (RFC 7208 section 7) ---------------------------------------- */

static int
is_delim(int ch)
{
	return ch == '.' || ch == '-' || ch == '+' || ch == ',' || ch == '/' ||
	    ch == '_' || ch == '=';
}

/* macro_scan - check macro-string syntax (7.1) over s[0..n); exp allows the
 * c, r, t letters. Returns the number of macros, or -1. *ends_expand says
 * whether the string ends with a macro-expand. */
static int
macro_scan(const char *s, size_t n, int exp, int *ends_expand)
{
	int count = 0, last = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		last = 0;
		if (ch != '%') {
			/* explain-string = *( macro-string / SP ) (6.2) */
			if ((ch < 0x21 && !(exp && ch == ' ')) || ch > 0x7e)
				return -1;
			continue;
		}
		if (++i >= n)
			return -1;
		last = 1;
		count++;
		if (s[i] == '%' || s[i] == '_' || s[i] == '-')
			continue;
		if (s[i] != '{' || ++i >= n)
			return -1;
		switch (tolower((unsigned char)s[i])) {
		case 's': case 'l': case 'o': case 'd': case 'i': case 'p':
		case 'h': case 'v':
			break;
		case 'c': case 'r': case 't':
			if (!exp)
				return -1;
			break;
		default:
			return -1;
		}
		i++;
		if (i < n && isdigit((unsigned char)s[i])) {
			if (s[i] == '0') /* 7.3: the DIGIT must be nonzero */
				return -1;
			while (i < n && isdigit((unsigned char)s[i]))
				i++;
		}
		if (i < n && (s[i] == 'r' || s[i] == 'R'))
			i++;
		while (i < n && is_delim((unsigned char)s[i]))
			i++;
		if (i >= n || s[i] != '}')
			return -1;
	}
	if (ends_expand)
		*ends_expand = last;
	return count;
}

/* macro_value - the raw value of a macro letter */
static void
macro_value(struct ctx *x, const char *dom, int letter, char *out,
    size_t outlen)
{
	/* %{i} nibbles in upper case, as the RFC 7208 suite expects */
	static const char hex[] = "0123456789ABCDEF";

	switch (letter) {
	case 's':
		snprintf(out, outlen, "%s@%s", x->local, x->sdomain);
		break;
	case 'l':
		str_copy(out, x->local, outlen);
		break;
	case 'o':
		str_copy(out, x->sdomain, outlen);
		break;
	case 'd':
		str_copy(out, dom, outlen);
		break;
	case 'h':
		str_copy(out, x->helo, outlen);
		break;
	case 'v':
		str_copy(out, x->v6 ? "ip6" : "in-addr", outlen);
		break;
	case 'c':
		str_copy(out, x->ipstr, outlen);
		break;
	case 'r':
		str_copy(out, x->c->rhost, outlen);
		break;
	case 't':
		snprintf(out, outlen, "%lld", (long long)time(NULL));
		break;
	case 'i':
		if (!x->v6) {
			snprintf(out, outlen, "%u.%u.%u.%u", x->ip[0], x->ip[1],
			    x->ip[2], x->ip[3]);
		} else {
			char buf[64];
			size_t o = 0;

			for (int k = 0; k < 16; k++) {
				buf[o++] = hex[x->ip[k] >> 4];
				buf[o++] = '.';
				buf[o++] = hex[x->ip[k] & 15];
				buf[o++] = '.';
			}
			buf[o - 1] = '\0';
			str_copy(out, buf, outlen);
		}
		break;
	case 'p': {
		struct pname p = { dom, "", 0 };
		enum dns_status st;

		if (ptr_validated(x, &st, pname_fn, &p) || p.found)
			str_copy(out, p.best, outlen);
		else
			str_copy(out, "unknown", outlen);
		break;
	}
	default:
		out[0] = '\0';
	}
}

static int
url_safe(int ch)
{
	return isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* expand_one - apply transformers (7.3) to value and append to b */
static void
expand_one(struct dynbuf *b, const char *value, unsigned digits, int rev,
    const char *delims, size_t ndelims, int upper)
{
	size_t len = strlen(value), nparts = 1, first;
	const char **part;
	size_t *plen;
	struct dynbuf t;

	for (size_t i = 0; i < len; i++)
		if (ndelims ? memchr(delims, value[i], ndelims) != NULL :
		    value[i] == '.')
			nparts++;
	part = xmalloc(nparts * sizeof(*part));
	plen = xmalloc(nparts * sizeof(*plen));
	nparts = 0;
	part[0] = value;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || (ndelims ? memchr(delims, value[i], ndelims) !=
		    NULL : value[i] == '.')) {
			plen[nparts] = (size_t)(value + i - part[nparts]);
			nparts++;
			if (i < len)
				part[nparts] = value + i + 1;
		}
	}
	if (rev) {
		for (size_t i = 0; i < nparts / 2; i++) {
			const char *tp = part[i];
			size_t tl = plen[i];

			part[i] = part[nparts - 1 - i];
			plen[i] = plen[nparts - 1 - i];
			part[nparts - 1 - i] = tp;
			plen[nparts - 1 - i] = tl;
		}
	}
	first = digits && digits < nparts ? nparts - digits : 0;
	dynbuf_init(&t, SPF_MAX_EXPAND);
	for (size_t i = first; i < nparts; i++) {
		if (i > first)
			dynbuf_append(&t, ".", 1);
		dynbuf_append(&t, part[i], plen[i]);
	}
	for (size_t i = 0; i < t.len; i++) {
		unsigned char ch = (unsigned char)t.s[i];

		if (upper && !url_safe(ch))
			dynbuf_printf(b, "%%%02X", ch);
		else
			dynbuf_append(b, (const char *)&ch, 1);
	}
	dynbuf_free(&t);
	free(part);
	free(plen);
}

/* expand - expand the macro-string s[0..n) (syntax already checked) for
 * domain dom into a new string (caller frees); NULL if it grew past
 * SPF_MAX_EXPAND */
static char *
expand(struct ctx *x, const char *dom, const char *s, size_t n)
{
	struct dynbuf b;

	dynbuf_init(&b, SPF_MAX_EXPAND);
	dynbuf_puts(&b, "");
	for (size_t i = 0; i < n && !b.overflow; i++) {
		char value[SPF_MAX_EXPAND];
		unsigned long digits = 0;
		int letter, rev = 0;
		size_t d0;

		if (s[i] != '%') {
			dynbuf_append(&b, s + i, 1);
			continue;
		}
		i++;
		if (s[i] == '%' || s[i] == '_' || s[i] == '-') {
			dynbuf_puts(&b, s[i] == '%' ? "%" : s[i] == '_' ?
			    " " : "%20");
			continue;
		}
		i++; /* '{' */
		letter = (unsigned char)s[i++];
		while (isdigit((unsigned char)s[i])) {
			if (digits < 1000)
				digits = digits * 10 + (unsigned long)(s[i] - '0');
			i++;
		}
		if (s[i] == 'r' || s[i] == 'R') {
			rev = 1;
			i++;
		}
		d0 = i;
		while (s[i] != '}')
			i++;
		macro_value(x, dom, tolower(letter), value, sizeof(value));
		expand_one(&b, value, (unsigned)digits, rev, s + d0, i - d0,
		    isupper(letter));
	}
	if (b.overflow) {
		dynbuf_free(&b);
		return NULL;
	}
	return dynbuf_take(&b);
}

/* expand_domain - expand a domain-spec and bound it as a name to look up,
 * without one final dot: 7.3, more than DNAME_MAX (253) characters are
 * truncated from the left by labels. 0, or -1 when nothing usable is
 * left. */
static int
expand_domain(struct ctx *x, const char *dom, const char *spec, size_t n,
    char *out, size_t outlen)
{
	char *e = expand(x, dom, spec, n), *p;
	size_t len;

	if (e == NULL)
		return -1;
	len = dname_len(e);
	e[len] = '\0';
	p = e;
	while (len > DNAME_MAX) {
		char *dot = strchr(p, '.');

		if (dot == NULL)
			break;
		len -= (size_t)(dot + 1 - p);
		p = dot + 1;
	}
	if (len == 0 || len > DNAME_MAX || len >= outlen) {
		free(e);
		return -1;
	}
	str_copy(out, p, outlen);
	free(e);
	return 0;
}

/* ---- record parsing (RFC 7208 4.5, 4.6, 5, 6, 12) ----------------------- */

/* parse_cidr - "0" or a number without a leading zero, at most max */
static int
parse_cidr(const char *s, size_t n, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* all_digits - s is nonempty and all decimal digits */
static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* toplabel_ok - 4.6.1: the last label of a literal domain-end */
static int
toplabel_ok(const char *s, size_t n)
{
	int alpha = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (isalpha(ch))
			alpha = 1;
		else if (!isdigit(ch) && ch != '-')
			return 0;
	}
	if (s[0] == '-' || s[n - 1] == '-')
		return 0;
	/* all alphanumeric with a letter, or containing a dash */
	return alpha || memchr(s, '-', n) != NULL;
}

/* domain_spec_ok - 4.6.1 domain-spec = macro-string domain-end */
static int
domain_spec_ok(const char *s, size_t n, int *macros)
{
	int ends_expand = 0, m;
	const char *dot;
	size_t len = n;

	if (n == 0 || (m = macro_scan(s, n, 0, &ends_expand)) < 0)
		return 0;
	*macros += m;
	if (ends_expand)
		return 1;
	if (s[len - 1] == '.')
		len--;
	dot = NULL;
	for (size_t i = len; i > 0; i--)
		if (s[i - 1] == '.') {
			dot = s + i - 1;
			break;
		}
	if (dot == NULL)
		return 0;
	return toplabel_ok(dot + 1, (size_t)(s + len - dot - 1));
}

/* opt_domain_spec - the optional ":domain-spec" of a, mx and ptr
 * (RFC 7208 5.3, 5.4, 5.5); 0, or -1 when present and malformed */
static int
opt_domain_spec(struct term *t, char *rest, size_t restlen, int *macros)
{
	if (restlen == 0)
		return 0;
	if (rest[0] != ':' || !domain_spec_ok(rest + 1, restlen - 1, macros))
		return -1;
	t->spec = rest + 1;
	t->speclen = restlen - 1;
	return 0;
}

/* parse_term - one term into *t, or a modifier into r; 0 or -1 */
static int
parse_term(char *s, struct record *r, struct term *t, int *is_mod,
    int *macros)
{
	size_t n = strlen(s), nl = 0;
	char *rest;
	size_t restlen;

	*is_mod = 0;
	/* modifier: name "=" macro-string (4.6.1) */
	if (isalpha((unsigned char)s[0])) {
		nl = 1;
		while (nl < n && (isalnum((unsigned char)s[nl]) || s[nl] == '-' ||
		    s[nl] == '_' || s[nl] == '.'))
			nl++;
		if (nl < n && s[nl] == '=') {
			const char *v = s + nl + 1;
			size_t vl = n - nl - 1;

			*is_mod = 1;
			if (str_word_is(s, nl, "redirect")) {
				if (r->redirect != NULL || !domain_spec_ok(v, vl,
				    macros))
					return -1;
				r->redirect = v;
				r->redirectlen = vl;
			} else if (str_word_is(s, nl, "exp")) {
				if (r->exp != NULL || !domain_spec_ok(v, vl,
				    macros))
					return -1;
				r->exp = v;
				r->explen = vl;
			} else {
				int m = macro_scan(v, vl, 1, NULL);

				if (m < 0)
					return -1;
				*macros += m;
			}
			return 0;
		}
	}
	t->qual = '+';
	if (s[0] == '+' || s[0] == '-' || s[0] == '~' || s[0] == '?') {
		t->qual = s[0];
		s++;
		n--;
	}
	for (nl = 0; nl < n && isalnum((unsigned char)s[nl]); nl++)
		;
	rest = s + nl;
	restlen = n - nl;
	t->spec = NULL;
	t->speclen = 0;
	t->cidr4 = 32;
	t->cidr6 = 128;
	if (str_word_is(s, nl, "all")) {
		t->kind = M_ALL;
		return restlen == 0 ? 0 : -1;
	}
	if (str_word_is(s, nl, "include") || str_word_is(s, nl, "exists")) {
		t->kind = str_word_is(s, nl, "include") ? M_INCLUDE : M_EXISTS;
		if (restlen < 2 || rest[0] != ':' ||
		    !domain_spec_ok(rest + 1, restlen - 1, macros))
			return -1;
		t->spec = rest + 1;
		t->speclen = restlen - 1;
		return 0;
	}
	if (str_word_is(s, nl, "ptr")) {
		t->kind = M_PTR;
		return opt_domain_spec(t, rest, restlen, macros);
	}
	if (str_word_is(s, nl, "a") || str_word_is(s, nl, "mx")) {
		char *sl;

		t->kind = str_word_is(s, nl, "a") ? M_A : M_MX;
		/* dual-cidr-length at the end (5.6): [/n4][//n6] */
		rest[restlen] = '\0';
		sl = strrchr(rest, '/');
		if (sl != NULL && sl > rest && sl[-1] == '/' &&
		    all_digits(sl + 1)) {
			if (parse_cidr(sl + 1, strlen(sl + 1), 128, &t->cidr6))
				return -1;
			sl[-1] = '\0';
			restlen = (size_t)(sl - 1 - rest);
		}
		sl = strrchr(rest, '/');
		if (sl != NULL && all_digits(sl + 1)) {
			if (parse_cidr(sl + 1, strlen(sl + 1), 32, &t->cidr4))
				return -1;
			*sl = '\0';
			restlen = (size_t)(sl - rest);
		}
		return opt_domain_spec(t, rest, restlen, macros);
	}
	if (str_word_is(s, nl, "ip4") || str_word_is(s, nl, "ip6")) {
		int v6 = str_word_is(s, nl, "ip6");
		char *sl;

		t->kind = v6 ? M_IP6 : M_IP4;
		if (restlen < 2 || rest[0] != ':')
			return -1;
		rest++;
		sl = strchr(rest, '/');
		if (sl != NULL) {
			if (parse_cidr(sl + 1, strlen(sl + 1), v6 ? 128 : 32,
			    v6 ? &t->cidr6 : &t->cidr4))
				return -1;
			*sl = '\0';
		}
		if (inet_pton(v6 ? AF_INET6 : AF_INET, rest, t->addr) != 1)
			return -1;
		return 0;
	}
	return -1;
}

/* parse_record - split and check a whole record (4.6: any syntax error
 * anywhere is a permerror before anything is evaluated). text is
 * modified in place and must outlive r. 0, or -1 with reason set. */
static int
parse_record(struct ctx *x, char *text, struct record *r)
{
	char *p = text + 6; /* after "v=spf1" */
	int macros = 0;

	memset(r, 0, sizeof(*r));
	r->t = xcalloc(SPF_MAX_TERMS, sizeof(*r->t));
	while (*p != '\0') {
		char *end;
		int is_mod;

		if (*p == ' ') {
			p++;
			continue;
		}
		end = strchr(p, ' ');
		if (end != NULL)
			*end = '\0';
		if (r->n >= SPF_MAX_TERMS) {
			permerror(x, "SPF record has too many terms");
			return -1;
		}
		if (parse_term(p, r, &r->t[r->n], &is_mod, &macros) != 0) {
			char term[64];

			str_copy(term, p, sizeof(term));
			permerror(x, "syntax error in SPF record near \"%s\"",
			    term);
			return -1;
		}
		if (!is_mod)
			r->n++;
		if (end == NULL)
			break;
		p = end + 1;
	}
	if (macros > SPF_MAX_MACROS) {
		permerror(x, "SPF record has too many macros");
		return -1;
	}
	return 0;
}

/* ---- evaluation (RFC 7208 4.6, 5, 6) ------------------------------------ */

/* is_spf1 - 4.5: "v=spf1" alone or followed by a space */
static int
is_spf1(const char *s)
{
	return strncasecmp(s, "v=spf1", 6) == 0 && (s[6] == '\0' || s[6] == ' ');
}

/* txt_len - the length of a TXT RR's joined character-strings */
static size_t
txt_len(const struct dns_rr *rr)
{
	size_t i = 0, n = 0;

	while (i < rr->len) {
		n += rr->data[i];
		i += 1 + (size_t)rr->data[i];
	}
	return n;
}

/* fetch_record - 4.4 and 4.5: the one SPF record of dom into *textp */
static enum spf_result
fetch_record(struct ctx *x, const char *dom, char **textp)
{
	struct dns_answer *a = dns_query_until(x->c->dns, dom, DNS_T_TXT, x->deadline);
	enum spf_result res = SPF_RESULT_NONE;
	size_t found = 0;

	*textp = NULL;
	if (a->status == DNS_STATUS_TEMPFAIL) {
		res = temperror(x, a, dom, DNS_T_TXT);
		dns_answer_free(&a);
		return res;
	}
	for (size_t i = 0; a->status == DNS_STATUS_OK && i < a->count; i++) {
		char *buf = xmalloc(a->rr[i].len + 1);

		if (dns_rr_txt(&a->rr[i], buf, a->rr[i].len + 1) != 0 ||
		    !is_spf1(buf)) {
			free(buf);
			continue;
		}
		/* a NUL byte inside the record is not in the ABNF (7.1):
		 * make the record fail to parse */
		if (strlen(buf) != txt_len(&a->rr[i]))
			str_copy(buf, "v=spf1 \x01", a->rr[i].len + 1);
		found++;
		if (found == 1)
			*textp = buf;
		else
			free(buf);
	}
	dns_answer_free(&a);
	if (found > 1) {
		char msg[32];

		free(*textp);
		*textp = NULL;
		snprintf(msg, sizeof(msg), "%zu", found);
		/* 4.5: more than one record is a permerror */
		return permerror(x, "%s SPF records", msg);
	}
	if (found == 0) {
		if (x->reason[0] == '\0')
			snprintf(x->reason, sizeof(x->reason),
			    "no SPF record for %.200s", dom);
		return SPF_RESULT_NONE;
	}
	if (strlen(*textp) > SPF_MAX_RECORD) {
		free(*textp);
		*textp = NULL;
		return permerror(x, "SPF record too long");
	}
	return SPF_RESULT_PASS; /* found */
}

/* count_lookup - 4.6.4: at most 10 terms that cause DNS lookups */
static int
count_lookup(struct ctx *x)
{
	if (++x->lookups > SPF_MAX_LOOKUPS) {
		permerror(x, "too many DNS lookups");
		return -1;
	}
	return 0;
}

/* count_void - 4.6.4: at most 2 lookups that find nothing */
static int
count_void(struct ctx *x, const struct dns_answer *a)
{
	if (a->status != DNS_STATUS_NXDOMAIN && a->status != DNS_STATUS_NODATA)
		return 0;
	if (++x->voids > SPF_MAX_VOID) {
		permerror(x, "too many void DNS lookups");
		return -1;
	}
	return 0;
}

static enum spf_result check_host(struct ctx *x, const char *domain,
    int want_exp);

struct ptr_arg {
	const char *target;
};

static int
ptr_fn(const char *name, void *arg)
{
	return dname_under(name, ((struct ptr_arg *)arg)->target);
}

/* eval_term - 1 match, 0 no match, or a negative spf_result to return */
static int
eval_term(struct ctx *x, const char *dom, const struct term *t)
{
	char target[DNAME_BUFSIZE];
	struct dns_answer *a;
	int ret = 0, type;

	if (t->kind == M_ALL)
		return 1;
	if (t->kind == M_IP4)
		return !x->v6 && addr_match(x, t->addr, t->cidr4);
	if (t->kind == M_IP6)
		return x->v6 && addr_match(x, t->addr, t->cidr6);
	if (count_lookup(x) != 0)
		return -SPF_RESULT_PERMERROR;
	if (t->spec == NULL)
		str_copy(target, dom, sizeof(target));
	else if (expand_domain(x, dom, t->spec, t->speclen, target,
	    sizeof(target)) != 0)
		return -permerror(x, "bad domain name in SPF record");
	switch (t->kind) {
	case M_INCLUDE: {
		/* 5.2: pass matches; temperror and permerror propagate;
		 * none is a permerror */
		enum spf_result r = check_host(x, target, 0);

		switch (r) {
		case SPF_RESULT_PASS:
			return 1;
		case SPF_RESULT_FAIL:
		case SPF_RESULT_SOFTFAIL:
		case SPF_RESULT_NEUTRAL:
			return 0;
		case SPF_RESULT_TEMPERROR:
			return -SPF_RESULT_TEMPERROR;
		case SPF_RESULT_NONE:
			x->reason[0] = '\0';
			return -permerror(x, "included domain %.200s has no SPF record",
			    target);
		default:
			return -SPF_RESULT_PERMERROR;
		}
	}
	case M_A:
	case M_EXISTS:
		/* 5.7: exists always asks for A, whatever the client */
		type = t->kind == M_A && x->v6 ? DNS_T_AAAA : DNS_T_A;
		a = dns_query_until(x->c->dns, target, type, x->deadline);
		if (a->status == DNS_STATUS_TEMPFAIL)
			ret = -temperror(x, a, target, type);
		else if (count_void(x, a) != 0)
			ret = -SPF_RESULT_PERMERROR;
		else if (a->status == DNS_STATUS_OK)
			ret = t->kind == M_EXISTS ? 1 :
			    answer_has_ip(x, a, x->v6 ? t->cidr6 : t->cidr4);
		dns_answer_free(&a);
		return ret;
	case M_MX:
		a = dns_query_until(x->c->dns, target, DNS_T_MX, x->deadline);
		if (a->status == DNS_STATUS_TEMPFAIL)
			ret = -temperror(x, a, target, DNS_T_MX);
		else if (count_void(x, a) != 0)
			ret = -SPF_RESULT_PERMERROR;
		else if (a->count > SPF_MAX_MX_NAMES)
			ret = -permerror(x, "too many MX records for %.200s", target);
		type = x->v6 ? DNS_T_AAAA : DNS_T_A;
		for (size_t i = 0; ret == 0 && a->status == DNS_STATUS_OK &&
		    i < a->count; i++) {
			char mx[DNAME_BUFSIZE];
			unsigned pref;
			struct dns_answer *aa;

			/* a null MX (RFC 7505) names the root: skip it */
			if (dns_rr_mx(&a->rr[i], &pref, mx, sizeof(mx)) != 0 ||
			    mx[0] == '\0')
				continue;
			aa = dns_query_until(x->c->dns, mx, type, x->deadline);
			if (aa->status == DNS_STATUS_TEMPFAIL)
				ret = -temperror(x, aa, mx, type);
			else if (aa->status == DNS_STATUS_OK)
				ret = answer_has_ip(x, aa,
				    x->v6 ? t->cidr6 : t->cidr4);
			dns_answer_free(&aa);
		}
		dns_answer_free(&a);
		return ret;
	case M_PTR: {
		struct ptr_arg pa = { target };
		enum dns_status st;

		/* 5.5: a DNS error on the PTR lookup fails to match */
		ret = ptr_validated(x, &st, ptr_fn, &pa);
		if (st == DNS_STATUS_NXDOMAIN || st == DNS_STATUS_NODATA) {
			struct dns_answer na = { .status = st };

			if (count_void(x, &na) != 0)
				return -SPF_RESULT_PERMERROR;
		}
		return ret;
	}
	default:
		return 0;
	}
}

static int
ascii_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* explain - 6.2: the exp= text for a fail, or our default explanation */
static void
explain(struct ctx *x, const char *dom, const struct record *r)
{
	char target[DNAME_BUFSIZE];
	struct dns_answer *a;
	char *text = NULL, *e = NULL;

	if (r->exp != NULL && expand_domain(x, dom, r->exp, r->explen, target,
	    sizeof(target)) == 0) {
		a = dns_query_until(x->c->dns, target, DNS_T_TXT, x->deadline);
		/* 6.2: anything but exactly one TXT record: no exp text */
		if (a->status == DNS_STATUS_OK && a->count == 1) {
			text = xmalloc(a->rr[0].len + 1);
			if (dns_rr_txt(&a->rr[0], text, a->rr[0].len + 1) != 0) {
				free(text);
				text = NULL;
			}
		}
		dns_answer_free(&a);
	}
	if (text != NULL) {
		int m = macro_scan(text, strlen(text), 1, NULL);

		/* a syntax error, or text we refuse (the libspf2 crash
		 * shape): proceed as if there were no exp= (6.2) */
		if (strlen(text) > SPF_MAX_RECORD || m < 0 || m > SPF_MAX_MACROS)
			;
		else if ((e = expand(x, dom, text, strlen(text))) != NULL &&
		    !ascii_ok(e)) {
			free(e);
			e = NULL;
		}
		free(text);
	}
	if (e == NULL) {
		static const char def[] = "%{c} is not permitted by %{d}";

		e = expand(x, dom, def, sizeof(def) - 1);
	}
	str_copy(x->explanation, e ? e : "", sizeof(x->explanation));
	free(e);
}

static enum spf_result
qual_result(char q)
{
	switch (q) {
	case '-':
		return SPF_RESULT_FAIL;
	case '~':
		return SPF_RESULT_SOFTFAIL;
	case '?':
		return SPF_RESULT_NEUTRAL;
	default:
		return SPF_RESULT_PASS;
	}
}

/* check_host - RFC 7208 section 4 for domain. Recursion (include,
 * redirect) is bounded by the lookup limit, which every include and
 * redirect counts against. want_exp: compute the explanation on fail
 * (not inside include, 6.2). */
static enum spf_result
check_host(struct ctx *x, const char *domain, int want_exp)
{
	char dom[DNAME_BUFSIZE], *text = NULL;
	struct record r;
	enum spf_result res;

	/* 4.3: a malformed or single-label domain gives none; so does an
	 * address literal (a HELO's "[192.0.2.1]") */
	if (domain[0] == '[' || !dname_host_valid(domain, 1)) {
		if (x->reason[0] == '\0')
			snprintf(x->reason, sizeof(x->reason), domain[0] == '\0' ?
			    "no domain name given" :
			    "not a valid domain name: %.200s", domain);
		return SPF_RESULT_NONE;
	}
	/* the name without its final dot (it fits: it is valid) */
	str_copy(dom, domain, dname_len(domain) + 1);
	res = fetch_record(x, dom, &text);
	if (text == NULL)
		return res;
	if (parse_record(x, text, &r) != 0) {
		free(r.t);
		free(text);
		return SPF_RESULT_PERMERROR;
	}
	res = SPF_RESULT_NEUTRAL; /* 4.7: no match, no redirect */
	for (size_t i = 0; i < r.n; i++) {
		int m = eval_term(x, dom, &r.t[i]);

		if (m < 0) {
			res = (enum spf_result)-m;
			goto done;
		}
		if (m > 0) {
			res = qual_result(r.t[i].qual);
			if (res == SPF_RESULT_FAIL && want_exp)
				explain(x, dom, &r);
			goto done;
		}
	}
	if (r.redirect != NULL) {
		char target[DNAME_BUFSIZE];

		/* 6.1: redirect counts as a lookup; none there is permerror */
		if (count_lookup(x) != 0) {
			res = SPF_RESULT_PERMERROR;
		} else if (expand_domain(x, dom, r.redirect, r.redirectlen,
		    target, sizeof(target)) != 0) {
			res = permerror(x, "bad redirect domain");
		} else {
			res = check_host(x, target, want_exp);
			if (res == SPF_RESULT_NONE) {
				x->reason[0] = '\0';
				res = permerror(x,
				    "redirect domain %.200s has no SPF record", target);
			}
		}
	}
done:
	free(r.t);
	free(text);
	return res;
}

/* parse_ip - the client address; IPv4-mapped IPv6 is IPv4 (RFC 7208 5) */
static int
parse_ip(struct ctx *x, const char *ip)
{
	if (ip_unmap(ip, x->ipstr, sizeof(x->ipstr)) != 0)
		return -1;
	x->v6 = inet_pton(AF_INET, x->ipstr, x->ip) != 1;
	return x->v6 && inet_pton(AF_INET6, x->ipstr, x->ip) != 1 ? -1 : 0;
}

enum spf_result
spf_check(struct spf_checker *c, const char *ip, const char *sender,
    const char *helo, struct spf_outcome *out)
{
	return spf_check_until(c, ip, sender, helo, NULL, out);
}

enum spf_result
spf_check_until(struct spf_checker *c, const char *ip, const char *sender,
    const char *helo, const struct timespec *deadline, struct spf_outcome *out)
{
	return spf_check_ptr_until(c, ip, sender, helo, deadline, NULL, out);
}

enum spf_result
spf_check_ptr_until(struct spf_checker *c, const char *ip, const char *sender,
    const char *helo, const struct timespec *deadline,
    const struct spf_ptr_source *ptr, struct spf_outcome *out)
{
	struct ctx *x;
	const char *at, *domain;
	enum spf_result res;

	memset(out, 0, sizeof(*out));
	x = xcalloc(1, sizeof(*x));
	x->c = c;
	x->deadline = deadline;
	x->ptr = ptr != NULL && ptr->names != NULL ? ptr : NULL;
	if (helo == NULL)
		helo = "";
	str_copy(x->helo, helo, sizeof(x->helo));
	/* 4.3: MAIL FROM with no local-part uses postmaster; an empty
	 * MAIL FROM checks the HELO identity as postmaster@helo */
	if (sender == NULL || *sender == '\0' ||
	    ((at = strrchr(sender, '@')) != NULL && at[1] == '\0')) {
		str_copy(x->local, "postmaster", sizeof(x->local));
		domain = helo;
	} else if (at == NULL) {
		str_copy(x->local, "postmaster", sizeof(x->local));
		domain = sender;
	} else {
		size_t ll = (size_t)(at - sender);

		if (ll == 0 || ll >= sizeof(x->local))
			str_copy(x->local, "postmaster", sizeof(x->local));
		else
			str_copy(x->local, sender, ll + 1);
		domain = at + 1;
	}
	/* a domain too long for sdomain is not a name: check_host() sees
	 * it whole and gives none before %{o} could show the cut copy */
	str_copy(x->sdomain, domain, sizeof(x->sdomain));
	str_copy(out->domain, x->sdomain, sizeof(out->domain));
	if (c == NULL || parse_ip(x, ip) != 0) {
		res = SPF_RESULT_NONE;
		str_copy(x->reason, "no client address", sizeof(x->reason));
	} else {
		res = check_host(x, domain, 1);
	}
	switch (res) {
	case SPF_RESULT_PASS:
		snprintf(out->reason, sizeof(out->reason),
		    "%.46s is permitted by %.180s", x->ipstr, out->domain);
		break;
	case SPF_RESULT_FAIL:
	case SPF_RESULT_SOFTFAIL:
		snprintf(out->reason, sizeof(out->reason),
		    "%.46s is not permitted by %.180s", x->ipstr, out->domain);
		if (res == SPF_RESULT_FAIL)
			str_copy(out->explanation, x->explanation,
			    sizeof(out->explanation));
		break;
	case SPF_RESULT_NEUTRAL:
		snprintf(out->reason, sizeof(out->reason),
		    "%.46s is neither permitted nor denied by %.160s", x->ipstr,
		    out->domain);
		break;
	default:
		str_copy(out->reason, x->reason, sizeof(out->reason));
	}
	out->result = res;
	out->dns_lookups = x->lookups;
	out->void_lookups = x->voids;
	free(x);
	stats_inc(&checks[res]);
	return res;
}
