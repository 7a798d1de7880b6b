/*
 * report.c - the aggregation of DMARC evaluations into report rows and
 * the RFC 9990 XML document (report.h).
 *
 * A record is rendered once, when it is added, into the text of its
 * <record> element without the count; that text (with the source IP) is
 * the row's key, so two records fall into one row exactly when the report
 * would show them the same (RFC 9990 3.1.1: one record per IP, result and
 * authentication identifiers). The document is the rows' texts with
 * their counts between a header and a footer.
 *
 * What the element texts follow (RFC 9990 3.1):
 * - policy_published shows the discovered or default values: sp absent
 *   is p, np absent is sp's value (RFC 9989 4.7), adkim/aspf r, testing n;
 * - identifiers: envelope_from is present and empty for the null
 *   reverse-path (3.1.1, RFC 5321 4.5.5);
 * - auth_results: the DKIM results in RFC 9990 3.1.3's order of
 *   preference (a pass whose d= is the From domain; a pass whose d= is
 *   above or below it, which is where relaxed alignment is found; any
 *   other pass; the rest), at most REPORT_DKIM_MAX; one SPF result, of the
 *   MAIL FROM identity only (3.1.1: "the only valid value for the scope
 *   element is mfrom"). For the null reverse-path RFC 7208 2.4 makes the
 *   MAIL FROM identity postmaster@<HELO name>, so a HELO-scope result
 *   stands in for it then, written without a scope element (its domain
 *   came from HELO); otherwise HELO results are not reported.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "dname.h"
#include "report.h"
#include "report_impl.h"

struct report_row {
	char *source_ip;
	enum report_disposition disposition;
	uint64_t count;
	char *text; /* the <record> element after <count> */
	size_t textlen;
	uint32_t hash;
};

struct report_set {
	struct arena *arena;
	char domain[DNAME_BUFSIZE];
	time_t begin, end;
	struct report_row *rows;
	size_t nrows, caprows;
	size_t *slots; /* open addressing: row index + 1, 0 empty */
	size_t nslots;
	uint64_t messages, dropped;
	int have_policy;
	time_t policy_when;
	struct report_policy policy; /* domain NULL: it is the set's */
};

void
report_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *
report_disposition_name(enum report_disposition d)
{
	switch (d) {
	case REPORT_DISP_NONE:
		return "none";
	case REPORT_DISP_PASS:
		return "pass";
	case REPORT_DISP_QUARANTINE:
		return "quarantine";
	case REPORT_DISP_REJECT:
		return "reject";
	}
	return "none";
}

const char *
report_dkim_res_name(enum report_dkim_res r)
{
	static const char *const names[] = {
	    "none", "pass", "fail", "policy", "neutral", "temperror",
	    "permerror",
	};

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r]
							      : "none";
}

const char *
report_spf_res_name(enum report_spf_res r)
{
	static const char *const names[] = {
	    "none", "neutral", "pass", "fail", "softfail", "policy",
	    "temperror", "permerror",
	};

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r]
							      : "none";
}

const char *
report_override_name(enum report_override o)
{
	static const char *const names[] = {"local_policy", "mailing_list",
					    "other", "policy_test_mode",
					    "trusted_forwarder"};

	return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o]
							      : "other";
}

/* utf8_len - the length of the UTF-8 character at s that XML 1.0 can
 * carry (RFC 3629 sequences; not a surrogate, U+FFFE or U+FFFF), else 0 */
static size_t
utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;
		unsigned char hi = c == 0xed ? 0x9f : 0xbf;

		if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xef && s[1] == 0xbf && (s[2] == 0xbe || s[2] == 0xbf))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
		unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;

		if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

void
report_xml_text(struct dynbuf *b, const char *s, int domain)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	/* a domain: lowercase, without its final dot */
	if (domain && n > 1 && p[n - 1] == '.')
		n--;
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		size_t len;

		switch (c) {
		case '&':
			dynbuf_puts(b, "&amp;");
			i++;
			continue;
		case '<':
			dynbuf_puts(b, "&lt;");
			i++;
			continue;
		case '>':
			dynbuf_puts(b, "&gt;");
			i++;
			continue;
		case '"':
			dynbuf_puts(b, "&quot;");
			i++;
			continue;
		case '\'':
			dynbuf_puts(b, "&apos;");
			i++;
			continue;
		default:
			break;
		}
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
			dynbuf_append(b, "?", 1);
			i++;
			continue;
		}
		/* utf8_len() reads no further than the NUL: it fails every
		 * continuation test, and the tests stop at the first failure */
		len = utf8_len(p + i);
		if (len == 0 || i + len > n) {
			dynbuf_append(b, "?", 1);
			i++;
			continue;
		}
		if (domain && len == 1 && c >= 'A' && c <= 'Z') {
			char lc = (char)(c - 'A' + 'a');

			dynbuf_append(b, &lc, 1);
		} else {
			dynbuf_append(b, (const char *)p + i, len);
		}
		i += len;
	}
}

/* element - <name>text</name> on a line of its own at depth */
static void
element(struct dynbuf *b, int depth, const char *name, const char *text,
	int domain)
{
	dynbuf_printf(b, "%*s<%s>", depth * 2, "", name);
	report_xml_text(b, text, domain);
	dynbuf_printf(b, "</%s>\n", name);
}

/* dkim_class - RFC 9990 3.1.3's preference, 0 first (see the top) */
static int
dkim_class(const struct report_dkim *d, const char *from)
{
	if (d->result != REPORT_DKIM_PASS || d->domain == NULL)
		return 3;
	if (dname_equal(d->domain, from))
		return 0;
	if (dname_under(d->domain, from) || dname_under(from, d->domain))
		return 1;
	return 2;
}

struct dkim_order {
	int cls;
	size_t i;
};

static int
dkim_cmp(const void *a, const void *b)
{
	const struct dkim_order *x = a, *y = b;

	if (x->cls != y->cls)
		return x->cls < y->cls ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* spf_pick - the SPF result to report (see the top), or NULL */
static const struct report_spf *
spf_pick(const struct report_record *r)
{
	int null_path = r->envelope_from == NULL || r->envelope_from[0] == '\0';

	for (size_t i = 0; i < r->nspf; i++)
		if (r->spf[i].scope == REPORT_SPF_MFROM && r->spf[i].domain)
			return &r->spf[i];
	for (size_t i = 0; null_path && i < r->nspf; i++)
		if (r->spf[i].scope == REPORT_SPF_HELO && r->spf[i].domain)
			return &r->spf[i];
	return NULL;
}

static void
auth_results(struct dynbuf *b, const struct report_record *r, const char *from)
{
	const struct report_spf *spf = spf_pick(r);
	struct dkim_order *ord = NULL;
	size_t n = 0;

	if (r->ndkim > 0) {
		ord = xcalloc(r->ndkim, sizeof(*ord));
		for (size_t i = 0; i < r->ndkim; i++) {
			if (r->dkim[i].domain == NULL)
				continue;
			ord[n].cls = dkim_class(&r->dkim[i], from);
			ord[n].i = i;
			n++;
		}
		qsort(ord, n, sizeof(*ord), dkim_cmp);
	}
	if (n > REPORT_DKIM_MAX)
		n = REPORT_DKIM_MAX;
	if (n == 0 && spf == NULL) {
		dynbuf_puts(b, "    <auth_results/>\n");
		free(ord);
		return;
	}
	dynbuf_puts(b, "    <auth_results>\n");
	for (size_t k = 0; k < n; k++) {
		const struct report_dkim *d = &r->dkim[ord[k].i];

		dynbuf_puts(b, "      <dkim>\n");
		element(b, 4, "domain", d->domain, 1);
		element(b, 4, "selector", d->selector ? d->selector : "", 0);
		element(b, 4, "result", report_dkim_res_name(d->result), 0);
		if (d->human != NULL && d->human[0] != '\0')
			element(b, 4, "human_result", d->human, 0);
		dynbuf_puts(b, "      </dkim>\n");
	}
	free(ord);
	if (spf != NULL) {
		dynbuf_puts(b, "      <spf>\n");
		element(b, 4, "domain", spf->domain, 1);
		if (spf->scope == REPORT_SPF_MFROM)
			element(b, 4, "scope", "mfrom", 0);
		element(b, 4, "result", report_spf_res_name(spf->result), 0);
		if (spf->human != NULL && spf->human[0] != '\0')
			element(b, 4, "human_result", spf->human, 0);
		dynbuf_puts(b, "      </spf>\n");
	}
	dynbuf_puts(b, "    </auth_results>\n");
}

/* record_text - the <record> element of r after its <count> line */
static void
record_text(struct dynbuf *b, const struct report_record *r, const char *from)
{
	dynbuf_puts(b, "      <policy_evaluated>\n");
	element(b, 4, "disposition", report_disposition_name(r->disposition),
		0);
	element(b, 4, "dkim", r->dkim_aligned ? "pass" : "fail", 0);
	element(b, 4, "spf", r->spf_aligned ? "pass" : "fail", 0);
	for (size_t i = 0; i < r->nreasons; i++) {
		dynbuf_puts(b, "        <reason>\n");
		element(b, 5, "type", report_override_name(r->reasons[i].type),
			0);
		if (r->reasons[i].comment != NULL &&
		    r->reasons[i].comment[0] != '\0')
			element(b, 5, "comment", r->reasons[i].comment, 0);
		dynbuf_puts(b, "        </reason>\n");
	}
	dynbuf_puts(b, "      </policy_evaluated>\n    </row>\n");
	dynbuf_puts(b, "    <identifiers>\n");
	element(b, 3, "header_from", from, 1);
	element(b, 3, "envelope_from",
		r->envelope_from != NULL ? r->envelope_from : "", 1);
	if (r->envelope_to != NULL && r->envelope_to[0] != '\0')
		element(b, 3, "envelope_to", r->envelope_to, 1);
	dynbuf_puts(b, "    </identifiers>\n");
	auth_results(b, r, from);
	dynbuf_puts(b, "  </record>\n");
}

struct report_set *
report_set_new(const char *policy_domain, time_t begin, time_t end)
{
	struct report_set *s = xcalloc(1, sizeof(*s));

	s->arena = arena_new();
	if (dname_norm(policy_domain, s->domain, sizeof(s->domain)) < 0)
		str_copy(s->domain, policy_domain, sizeof(s->domain));
	s->begin = begin;
	s->end = end;
	return s;
}

/* find - the slot of the row keyed (ip, text), or of the empty slot where
 * it goes */
static size_t
find(const struct report_set *s, const char *ip, const char *text, size_t len,
     uint32_t h)
{
	size_t mask = s->nslots - 1, i = h & mask;

	for (; s->slots[i] != 0; i = (i + 1) & mask) {
		const struct report_row *row = &s->rows[s->slots[i] - 1];

		if (row->hash == h && row->textlen == len &&
		    strcmp(row->source_ip, ip) == 0 &&
		    memcmp(row->text, text, len) == 0)
			break;
	}
	return i;
}

static void
rehash(struct report_set *s)
{
	size_t n = s->nslots ? s->nslots * 2 : 64;

	free(s->slots);
	s->slots = xcalloc(n, sizeof(*s->slots));
	s->nslots = n;
	for (size_t r = 0; r < s->nrows; r++) {
		const struct report_row *row = &s->rows[r];

		s->slots[find(s, row->source_ip, row->text, row->textlen,
			      row->hash)] = r + 1;
	}
}

static uint32_t
row_hash(const char *ip, const char *text, size_t len)
{
	return mem_hash(ip, strlen(ip)) * 31u ^ mem_hash(text, len);
}

/* keep_policy - the latest record's policy is the report's */
static void
keep_policy(struct report_set *s, const struct report_record *r)
{
	if (s->have_policy && r->when < s->policy_when)
		return;
	s->policy = r->policy;
	s->policy.domain = NULL;
	s->policy_when = r->when;
	s->have_policy = 1;
}

int
report_set_add(struct report_set *s, const struct report_record *r, char *err,
	       size_t errlen)
{
	return report_set_add_count(s, r, 1, err, errlen);
}

int
report_set_add_count(struct report_set *s, const struct report_record *r,
		     uint64_t count, char *err, size_t errlen)
{
	char ip[64], from[DNAME_BUFSIZE];
	struct dynbuf b;
	uint32_t h;
	size_t slot;

	if (r->policy.domain == NULL ||
	    !dname_equal(r->policy.domain, s->domain)) {
		report_seterr(err, errlen,
			      "the record is for another policy domain");
		goto drop;
	}
	if (r->when < s->begin || r->when > s->end) {
		report_seterr(err, errlen, "the record is outside the period");
		goto drop;
	}
	if (r->source_ip == NULL ||
	    ip_unmap(r->source_ip, ip, sizeof(ip)) < 0) {
		report_seterr(err, errlen, "no usable source IP address");
		goto drop;
	}
	if (r->header_from == NULL ||
	    dname_norm(r->header_from, from, sizeof(from)) < 0 ||
	    from[0] == '\0') {
		report_seterr(err, errlen, "no usable header From domain");
		goto drop;
	}
	dynbuf_init(&b, REPORT_XML_MAX);
	record_text(&b, r, from);
	if (b.overflow) {
		dynbuf_free(&b);
		report_seterr(err, errlen, "the record is too large");
		goto drop;
	}
	if (s->nslots == 0)
		rehash(s);
	h = row_hash(ip, b.s, b.len);
	slot = find(s, ip, b.s, b.len, h);
	if (s->slots[slot] == 0) {
		struct report_row *row;

		if (s->nrows >= REPORT_ROWS_MAX) {
			dynbuf_free(&b);
			report_seterr(err, errlen,
				      "the set has REPORT_ROWS_MAX rows");
			goto drop;
		}
		s->rows = arena_grow(s->arena, s->rows, s->nrows, &s->caprows,
				     sizeof(*s->rows), 16);
		row = &s->rows[s->nrows];
		row->source_ip = arena_strdup(s->arena, ip);
		row->disposition = r->disposition;
		row->count = 0;
		row->text = arena_strndup(s->arena, b.s, b.len);
		row->textlen = b.len;
		row->hash = h;
		s->slots[slot] = ++s->nrows;
		if (s->nrows * 2 > s->nslots)
			rehash(s);
		slot = find(s, ip, b.s, b.len, h);
	}
	dynbuf_free(&b);
	s->rows[s->slots[slot] - 1].count += count;
	s->messages += count;
	keep_policy(s, r);
	return 0;
drop:
	s->dropped += count;
	return -1;
}

const char *
report_set_domain(const struct report_set *s)
{
	return s->domain;
}

time_t
report_set_begin(const struct report_set *s)
{
	return s->begin;
}

time_t
report_set_end(const struct report_set *s)
{
	return s->end;
}

size_t
report_set_rows(const struct report_set *s)
{
	return s->nrows;
}

uint64_t
report_set_messages(const struct report_set *s)
{
	return s->messages;
}

uint64_t
report_set_dropped(const struct report_set *s)
{
	return s->dropped;
}

int
report_set_row(const struct report_set *s, size_t i,
	       struct report_row_info *out)
{
	if (i >= s->nrows)
		return -1;
	out->source_ip = s->rows[i].source_ip;
	out->disposition = s->rows[i].disposition;
	out->count = s->rows[i].count;
	return 0;
}

void
report_set_free(struct report_set **sp)
{
	if (sp == NULL || *sp == NULL)
		return;
	arena_free(&(*sp)->arena);
	free((*sp)->slots);
	free(*sp);
	*sp = NULL;
}

static const char *
policy_word(enum dmarc_policy p)
{
	return p == DMARC_POLICY_QUARANTINE ? "quarantine"
	       : p == DMARC_POLICY_REJECT   ? "reject"
					    : "none";
}

static void
policy_published(struct dynbuf *b, const struct report_set *s)
{
	const struct report_policy *p = &s->policy;
	enum dmarc_policy sp = p->sp != DMARC_POLICY_UNSET ? p->sp : p->p;
	enum dmarc_policy np = p->np != DMARC_POLICY_UNSET ? p->np : sp;

	dynbuf_puts(b, "  <policy_published>\n");
	element(b, 2, "domain", s->domain, 1);
	element(b, 2, "p", policy_word(p->p), 0);
	element(b, 2, "sp", policy_word(sp), 0);
	element(b, 2, "np", policy_word(np), 0);
	element(b, 2, "adkim", p->adkim_strict ? "s" : "r", 0);
	element(b, 2, "aspf", p->aspf_strict ? "s" : "r", 0);
	element(b, 2, "discovery_method", dmarc_discovery_name(p->discovery),
		0);
	element(b, 2, "testing", p->testing ? "y" : "n", 0);
	dynbuf_puts(b, "  </policy_published>\n");
}

int
report_meta_check(const struct report_meta *m, char *err, size_t errlen)
{
	if (m->org_name == NULL || m->org_name[0] == '\0' || m->email == NULL ||
	    m->email[0] == '\0' || m->receiver == NULL ||
	    m->receiver[0] == '\0') {
		report_seterr(err, errlen,
			      "org_name, email and receiver are required");
		return -1;
	}
	if (m->report_id == NULL || m->report_id[0] == '\0' ||
	    strlen(m->report_id) >= REPORT_ID_BUFSIZE) {
		report_seterr(err, errlen,
			      "no report id, or a longer one than "
			      "report_id_new() makes");
		return -1;
	}
	for (const char *p = m->report_id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z'))) {
			report_seterr(err, errlen,
				      "the report id is not letters and "
				      "digits (RFC 9990 3.5.2's unique-id)");
			return -1;
		}
	return 0;
}

int
report_xml(const struct report_set *s, const struct report_meta *m,
	   struct dynbuf *out, char *err, size_t errlen)
{
	if (report_meta_check(m, err, errlen) < 0)
		return -1;
	if (s->nrows == 0) {
		/* RFC 9990 3.1.1.2: at least one record */
		report_seterr(err, errlen, "the set has no rows");
		return -1;
	}
	dynbuf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	dynbuf_puts(out, "<feedback xmlns=\"" REPORT_XMLNS "\">\n");
	dynbuf_puts(out, "  <version>" REPORT_VERSION "</version>\n");
	dynbuf_puts(out, "  <report_metadata>\n");
	element(out, 2, "org_name", m->org_name, 0);
	element(out, 2, "email", m->email, 0);
	if (m->extra_contact != NULL && m->extra_contact[0] != '\0')
		element(out, 2, "extra_contact_info", m->extra_contact, 0);
	element(out, 2, "report_id", m->report_id, 0);
	dynbuf_printf(out,
		      "    <date_range>\n      <begin>%lld</begin>\n"
		      "      <end>%lld</end>\n    </date_range>\n",
		      (long long)s->begin, (long long)s->end);
	if (m->error != NULL && m->error[0] != '\0')
		element(out, 2, "error", m->error, 0);
	if (m->generator != NULL && m->generator[0] != '\0')
		element(out, 2, "generator", m->generator, 0);
	dynbuf_puts(out, "  </report_metadata>\n");
	policy_published(out, s);
	for (size_t i = 0; i < s->nrows; i++) {
		const struct report_row *row = &s->rows[i];

		dynbuf_printf(out,
			      "  <record>\n    <row>\n      <source_ip>%s"
			      "</source_ip>\n      <count>%llu</count>\n",
			      row->source_ip, (unsigned long long)row->count);
		dynbuf_append(out, row->text, row->textlen);
	}
	dynbuf_puts(out, "</feedback>\n");
	if (out->overflow) {
		report_seterr(err, errlen,
			      "the report is larger than its buffer's "
			      "limit");
		return -1;
	}
	return 0;
}
