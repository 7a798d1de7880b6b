/*
 * record.c - one report_record as one line of text (store.h): the key of
 * a stored row, so equal records must give equal bytes, and a row must
 * come back as the record it was.
 *
 * The line is version 1 of the encoding, tokens separated by one space:
 *
 *   1 ip=S from=S mfrom=S rcpt=S policy=S,DISC,P,SP,NP,ADKIM,ASPF,T,PCT
 *     disp=D aligned=DKIM,SPF [reason=TYPE,S]... [dkim=S,S,RES,S]...
 *     [spf=S,SCOPE,RES,S]...
 *
 * (one line; wrapped here). ip, from, mfrom and rcpt are the source IP,
 * header From, envelope from and envelope to; policy is the policy
 * domain, then discovery (treewalk, psl), p, sp and np (unset, none,
 * quarantine, reject), adkim and aspf (r, s), testing (n, y) and pct
 * (0..100, decimal, no leading zero); disp a disposition name, aligned
 * pass or fail twice; reason the override type and comment; dkim the
 * domain, selector, result and human result; spf the domain, scope (mfrom,
 * helo), result and human result. Names are report.h's and dmarc.h's
 * words, not enum numbers, so a row outlives a reordered enum.
 *
 * A string S is "-" for NULL, otherwise its bytes, each byte outside
 * 0x21..0x7e and each '%', ',' and '=' written %XX (two uppercase hex
 * digits), and the one-byte string "-" written %2D: NULL and "" are told
 * apart everywhere (an empty envelope from reads back as "", a missing
 * one as NULL). Nothing else is escaped, so the line holds no space, CR,
 * LF or NUL but as separators, and has exactly one spelling per record;
 * the decoder accepts only that spelling (and a string holding NUL,
 * which a C string cannot, never).
 *
 * Limits: REPORT_REC_REASONS_MAX reasons and REPORT_REC_SPF_MAX SPF
 * results (more are refused); of more than REPORT_DKIM_MAX DKIM results,
 * the REPORT_DKIM_MAX the report would show (RFC 9990 3.1.3's preference,
 * as report.c orders them, results without a domain left out) are kept,
 * in their own order; the whole line at most REPORT_REC_MAX bytes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dname.h"
#include "report_impl.h"
#include "store.h"
#include "store_impl.h"

/* the bytes written %XX */
static int
must_escape(unsigned char c)
{
	return c < 0x21 || c > 0x7e || c == '%' || c == ',' || c == '=';
}

static void
put_str(struct dynbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	if (s == NULL) {
		dynbuf_append(b, "-", 1);
		return;
	}
	if (strcmp(s, "-") == 0) {
		dynbuf_append(b, "%2D", 3);
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char e[3];

		if (!must_escape(*p)) {
			dynbuf_append(b, (const char *)p, 1);
			continue;
		}
		e[0] = '%';
		e[1] = hex[*p >> 4];
		e[2] = hex[*p & 15];
		dynbuf_append(b, e, 3);
	}
}

/* dkim_rank - report.c's order of preference of a DKIM result (0 first)
 * for header From domain from (NULL: no From domain) */
static int
dkim_rank(const struct report_dkim *d, const char *from)
{
	if (d->result != REPORT_DKIM_PASS || from == NULL)
		return d->result == REPORT_DKIM_PASS ? 2 : 3;
	if (dname_equal(d->domain, from))
		return 0;
	if (dname_under(d->domain, from) || dname_under(from, d->domain))
		return 1;
	return 2;
}

struct pick {
	int rank;
	size_t i;
};

static int
pick_by_rank(const void *a, const void *b)
{
	const struct pick *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int
pick_by_index(const void *a, const void *b)
{
	const struct pick *x = a, *y = b;

	return x->i < y->i ? -1 : x->i > y->i;
}

static void
put_dkim(struct dynbuf *b, const struct report_dkim *d)
{
	dynbuf_puts(b, " dkim=");
	put_str(b, d->domain);
	dynbuf_append(b, ",", 1);
	put_str(b, d->selector);
	dynbuf_printf(b, ",%s,", report_dkim_res_name(d->result));
	put_str(b, d->human);
}

/* dkim_all - the DKIM results: all of them, or the REPORT_DKIM_MAX the
 * report shows */
static void
dkim_all(struct dynbuf *b, const struct report_record *r)
{
	struct pick *p;
	size_t n = 0;

	if (r->ndkim <= REPORT_DKIM_MAX) {
		for (size_t i = 0; i < r->ndkim; i++)
			put_dkim(b, &r->dkim[i]);
		return;
	}
	p = xcalloc(r->ndkim, sizeof(*p));
	for (size_t i = 0; i < r->ndkim; i++) {
		if (r->dkim[i].domain == NULL)
			continue;
		p[n].rank = dkim_rank(&r->dkim[i], r->header_from);
		p[n].i = i;
		n++;
	}
	qsort(p, n, sizeof(*p), pick_by_rank);
	if (n > REPORT_DKIM_MAX)
		n = REPORT_DKIM_MAX;
	qsort(p, n, sizeof(*p), pick_by_index);
	for (size_t k = 0; k < n; k++)
		put_dkim(b, &r->dkim[p[k].i]);
	free(p);
}

/* check - the ranges encode refuses outside of */
static int
check(const struct report_record *r, char *err, size_t errlen)
{
	const struct report_policy *p = &r->policy;

	if ((unsigned)p->discovery > DMARC_DISCOVERY_PSL ||
	    (unsigned)p->p > DMARC_POLICY_REJECT ||
	    (unsigned)p->sp > DMARC_POLICY_REJECT ||
	    (unsigned)p->np > DMARC_POLICY_REJECT || p->pct > 100 ||
	    (unsigned)r->disposition > REPORT_DISP_REJECT) {
		report_seterr(err, errlen,
			      "the record's policy or disposition is out of "
			      "range");
		return -1;
	}
	if (r->nreasons > REPORT_REC_REASONS_MAX ||
	    r->nspf > REPORT_REC_SPF_MAX ||
	    (r->nreasons > 0 && r->reasons == NULL) ||
	    (r->nspf > 0 && r->spf == NULL) ||
	    (r->ndkim > 0 && r->dkim == NULL)) {
		report_seterr(err, errlen,
			      "the record has more reasons or SPF results "
			      "than an encoded record holds");
		return -1;
	}
	for (size_t i = 0; i < r->nreasons; i++)
		if ((unsigned)r->reasons[i].type > REPORT_OVR_TRUSTED_FORWARDER)
			goto range;
	for (size_t i = 0; i < r->ndkim; i++)
		if ((unsigned)r->dkim[i].result > REPORT_DKIM_PERMERROR)
			goto range;
	for (size_t i = 0; i < r->nspf; i++)
		if ((unsigned)r->spf[i].result > REPORT_SPF_PERMERROR ||
		    (unsigned)r->spf[i].scope > REPORT_SPF_HELO)
			goto range;
	return 0;
range:
	report_seterr(err, errlen,
		      "a result or reason type of the record is out of range");
	return -1;
}

int
report_record_encode(const struct report_record *r, struct dynbuf *out,
		     char *err, size_t errlen)
{
	const struct report_policy *p = &r->policy;
	struct dynbuf b;

	if (check(r, err, errlen) < 0)
		return -1;
	dynbuf_init(&b, REPORT_REC_MAX);
	dynbuf_puts(&b, "1 ip=");
	put_str(&b, r->source_ip);
	dynbuf_puts(&b, " from=");
	put_str(&b, r->header_from);
	dynbuf_puts(&b, " mfrom=");
	put_str(&b, r->envelope_from);
	dynbuf_puts(&b, " rcpt=");
	put_str(&b, r->envelope_to);
	dynbuf_puts(&b, " policy=");
	put_str(&b, p->domain);
	dynbuf_printf(
	    &b, ",%s,%s,%s,%s,%s,%s,%s,%u", dmarc_discovery_name(p->discovery),
	    dmarc_policy_name(p->p), dmarc_policy_name(p->sp),
	    dmarc_policy_name(p->np), p->adkim_strict ? "s" : "r",
	    p->aspf_strict ? "s" : "r", p->testing ? "y" : "n", p->pct);
	dynbuf_printf(&b, " disp=%s aligned=%s,%s",
		      report_disposition_name(r->disposition),
		      r->dkim_aligned ? "pass" : "fail",
		      r->spf_aligned ? "pass" : "fail");
	for (size_t i = 0; i < r->nreasons; i++) {
		dynbuf_printf(&b, " reason=%s,",
			      report_override_name(r->reasons[i].type));
		put_str(&b, r->reasons[i].comment);
	}
	dkim_all(&b, r);
	for (size_t i = 0; i < r->nspf; i++) {
		const struct report_spf *s = &r->spf[i];

		dynbuf_puts(&b, " spf=");
		put_str(&b, s->domain);
		dynbuf_printf(&b, ",%s,%s,",
			      s->scope == REPORT_SPF_HELO ? "helo" : "mfrom",
			      report_spf_res_name(s->result));
		put_str(&b, s->human);
	}
	if (b.overflow) {
		dynbuf_free(&b);
		report_seterr(err, errlen,
			      "the encoded record would be longer than "
			      "REPORT_REC_MAX");
		return -1;
	}
	if (dynbuf_append(out, b.s, b.len) < 0) {
		dynbuf_free(&b);
		report_seterr(err, errlen,
			      "the encoded record does not fit the buffer");
		return -1;
	}
	dynbuf_free(&b);
	return 0;
}

/* ---- decoding --------------------------------------------------------------
 */

/* a span of the line */
struct span {
	const char *p;
	size_t n;
};

static int
hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1; /* lowercase is not what encode writes */
}

/* get_str - the string written as s, in arena a, into *out; -1 when
 * put_str() would not have written s */
static int
get_str(struct span s, struct arena *a, const char **out)
{
	char *d;
	size_t k = 0;

	if (s.n == 1 && s.p[0] == '-') {
		*out = NULL;
		return 0;
	}
	d = arena_alloc(a, s.n + 1);
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		int hi, lo;

		if (c != '%') {
			if (must_escape(c))
				return -1;
			d[k++] = (char)c;
			continue;
		}
		if (s.n - i < 3 || (hi = hexdigit(s.p[i + 1])) < 0 ||
		    (lo = hexdigit(s.p[i + 2])) < 0)
			return -1;
		c = (unsigned char)(hi << 4 | lo);
		/* only what must be escaped, and "-" alone */
		if (c == '\0' || (!must_escape(c) && !(c == '-' && s.n == 3)))
			return -1;
		d[k++] = (char)c;
		i += 2;
	}
	d[k] = '\0';
	*out = d;
	return 0;
}

/* split - the fields of v separated by ',' into f (exactly n of them) */
static int
split(struct span v, struct span *f, size_t n)
{
	size_t k = 0;
	const char *start = v.p, *end = v.p + v.n;

	for (const char *q = v.p;; q++) {
		if (q == end || *q == ',') {
			if (k == n)
				return -1;
			f[k].p = start;
			f[k].n = (size_t)(q - start);
			k++;
			if (q == end)
				break;
			start = q + 1;
		}
	}
	return k == n ? 0 : -1;
}

static int
is_word(struct span s, const char *w)
{
	return strlen(w) == s.n && memcmp(s.p, w, s.n) == 0;
}

/* word - the value (0..max) whose name(value) is s, or -1 */
static int
word(struct span s, const char *(*name)(int), int max)
{
	for (int v = 0; v <= max; v++)
		if (is_word(s, name(v)))
			return v;
	return -1;
}

static const char *
n_discovery(int v)
{
	return dmarc_discovery_name((enum dmarc_discovery)v);
}

static const char *
n_policy(int v)
{
	return dmarc_policy_name((enum dmarc_policy)v);
}

static const char *
n_disp(int v)
{
	return report_disposition_name((enum report_disposition)v);
}

static const char *
n_dkim(int v)
{
	return report_dkim_res_name((enum report_dkim_res)v);
}

static const char *
n_spf(int v)
{
	return report_spf_res_name((enum report_spf_res)v);
}

static const char *
n_ovr(int v)
{
	return report_override_name((enum report_override)v);
}

static const char *
n_scope(int v)
{
	return v == REPORT_SPF_HELO ? "helo" : "mfrom";
}

static const char *
n_rs(int v)
{
	return v ? "s" : "r";
}

static const char *
n_ny(int v)
{
	return v ? "y" : "n";
}

static const char *
n_fp(int v)
{
	return v ? "pass" : "fail";
}

/* pct - 0..100 in decimal without a leading zero */
static int
pct(struct span s)
{
	int v = 0;

	if (s.n == 0 || s.n > 3 || (s.p[0] == '0' && s.n > 1))
		return -1;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (s.p[i] - '0');
	}
	return v <= 100 ? v : -1;
}

/* the decoder's position */
struct cursor {
	const char *p, *end;
};

/* token - the next token when it is key=VALUE, into *v; 0, or -1 (the
 * cursor unmoved) when there is none or it has another key */
static int
token(struct cursor *c, const char *key, struct span *v)
{
	size_t kl = strlen(key);
	const char *t, *e;

	if (c->p == c->end)
		return -1;
	/* tokens after the first start with the one space between them */
	t = c->p + 1;
	if (c->p[0] != ' ' || (size_t)(c->end - t) <= kl ||
	    memcmp(t, key, kl) != 0 || t[kl] != '=')
		return -1;
	v->p = t + kl + 1;
	e = memchr(v->p, ' ', (size_t)(c->end - v->p));
	if (e == NULL)
		e = c->end;
	v->n = (size_t)(e - v->p);
	c->p = e;
	return 0;
}

static int
decode(struct cursor *c, struct arena *a, struct report_record *r)
{
	struct report_policy *p = &r->policy;
	struct report_reason *rs = NULL;
	struct report_dkim *d = NULL;
	struct report_spf *s = NULL;
	struct span v, f[9];
	int x[9];
	size_t cap;

	if (c->end - c->p < 1 || c->p[0] != '1')
		return -1;
	c->p++;
	if (token(c, "ip", &v) < 0 || get_str(v, a, &r->source_ip) < 0 ||
	    token(c, "from", &v) < 0 || get_str(v, a, &r->header_from) < 0 ||
	    token(c, "mfrom", &v) < 0 || get_str(v, a, &r->envelope_from) < 0 ||
	    token(c, "rcpt", &v) < 0 || get_str(v, a, &r->envelope_to) < 0)
		return -1;
	if (token(c, "policy", &v) < 0 || split(v, f, 9) < 0 ||
	    get_str(f[0], a, &p->domain) < 0 ||
	    (x[1] = word(f[1], n_discovery, DMARC_DISCOVERY_PSL)) < 0 ||
	    (x[2] = word(f[2], n_policy, DMARC_POLICY_REJECT)) < 0 ||
	    (x[3] = word(f[3], n_policy, DMARC_POLICY_REJECT)) < 0 ||
	    (x[4] = word(f[4], n_policy, DMARC_POLICY_REJECT)) < 0 ||
	    (x[5] = word(f[5], n_rs, 1)) < 0 ||
	    (x[6] = word(f[6], n_rs, 1)) < 0 ||
	    (x[7] = word(f[7], n_ny, 1)) < 0 || (x[8] = pct(f[8])) < 0)
		return -1;
	p->discovery = (enum dmarc_discovery)x[1];
	p->p = (enum dmarc_policy)x[2];
	p->sp = (enum dmarc_policy)x[3];
	p->np = (enum dmarc_policy)x[4];
	p->adkim_strict = x[5];
	p->aspf_strict = x[6];
	p->testing = x[7];
	p->pct = (unsigned)x[8];
	if (token(c, "disp", &v) < 0 ||
	    (x[0] = word(v, n_disp, REPORT_DISP_REJECT)) < 0 ||
	    token(c, "aligned", &v) < 0 || split(v, f, 2) < 0 ||
	    (x[1] = word(f[0], n_fp, 1)) < 0 ||
	    (x[2] = word(f[1], n_fp, 1)) < 0)
		return -1;
	r->disposition = (enum report_disposition)x[0];
	r->dkim_aligned = x[1];
	r->spf_aligned = x[2];

	cap = 0;
	while (token(c, "reason", &v) == 0) {
		if (r->nreasons == REPORT_REC_REASONS_MAX ||
		    split(v, f, 2) < 0 ||
		    (x[0] = word(f[0], n_ovr, REPORT_OVR_TRUSTED_FORWARDER)) <
			0)
			return -1;
		rs = arena_grow(a, rs, r->nreasons, &cap, sizeof(*rs), 2);
		rs[r->nreasons].type = (enum report_override)x[0];
		if (get_str(f[1], a, &rs[r->nreasons].comment) < 0)
			return -1;
		r->reasons = rs;
		r->nreasons++;
	}
	cap = 0;
	while (token(c, "dkim", &v) == 0) {
		if (r->ndkim == REPORT_DKIM_MAX || split(v, f, 4) < 0 ||
		    (x[0] = word(f[2], n_dkim, REPORT_DKIM_PERMERROR)) < 0)
			return -1;
		d = arena_grow(a, d, r->ndkim, &cap, sizeof(*d), 4);
		d[r->ndkim].result = (enum report_dkim_res)x[0];
		if (get_str(f[0], a, &d[r->ndkim].domain) < 0 ||
		    get_str(f[1], a, &d[r->ndkim].selector) < 0 ||
		    get_str(f[3], a, &d[r->ndkim].human) < 0)
			return -1;
		r->dkim = d;
		r->ndkim++;
	}
	cap = 0;
	while (token(c, "spf", &v) == 0) {
		if (r->nspf == REPORT_REC_SPF_MAX || split(v, f, 4) < 0 ||
		    (x[0] = word(f[1], n_scope, REPORT_SPF_HELO)) < 0 ||
		    (x[1] = word(f[2], n_spf, REPORT_SPF_PERMERROR)) < 0)
			return -1;
		s = arena_grow(a, s, r->nspf, &cap, sizeof(*s), 2);
		s[r->nspf].scope = (enum report_spf_scope)x[0];
		s[r->nspf].result = (enum report_spf_res)x[1];
		if (get_str(f[0], a, &s[r->nspf].domain) < 0 ||
		    get_str(f[3], a, &s[r->nspf].human) < 0)
			return -1;
		r->spf = s;
		r->nspf++;
	}
	return c->p == c->end ? 0 : -1;
}

int
report_record_decode(const char *text, size_t len, struct arena *a,
		     struct report_record *r, char *err, size_t errlen)
{
	struct cursor c = {text, text + len};

	memset(r, 0, sizeof(*r));
	if (len > REPORT_REC_MAX || decode(&c, a, r) < 0) {
		memset(r, 0, sizeof(*r));
		report_seterr(err, errlen,
			      "not a record report_record_encode() writes");
		return -1;
	}
	return 0;
}
