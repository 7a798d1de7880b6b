/*
 * test-report-store.c - lib/report's store (store.h): the record codec
 * and the SQLite store; with --pg URI the same store checks against a
 * PostgreSQL server (t/report-pg.sh starts one).
 *
 * Codec: hostile strings (UTF-8, control bytes, the separators, "-",
 * empty, NULL) round-trip byte for byte and the line holds only
 * printable ASCII; the same record gives the same bytes; refused ranges
 * and lengths; more than REPORT_DKIM_MAX DKIM results keep the ones the
 * report shows; every cut of a line either fails or is the line of
 * another record, and garbage fails.
 * Store: schema and WAL at open, rows added up per day, domain and
 * record, loading into a report set (rows, counts, messages, the policy
 * seen last), the domain list and its filter, sent marks, pruning, a put
 * rolled back (a record too long to encode; a row the database refuses,
 * through a trigger planted for the test), a newer schema refused, a
 * second open that changes nothing, a file in a missing directory, other
 * URIs, and two processes putting into the same rows at once.
 *
 * usage: test-report-store                      codec and SQLite checks
 *        test-report-store --pg URI             store checks on PostgreSQL
 *        test-report-store --pg URI --hammer N  N puts of the hammer rows
 *        test-report-store --pg URI --hammer-count WANT
 *                                  the hammer rows sum to WANT messages
 */
#include "config.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"
#include "store.h"
#include "tap.h"
#include "util.h"

#define DAY0 20580 /* 2026-05-06 */
#define T0 ((time_t)DAY0 * 86400)

static const struct report_dkim dkim1[] = {
    {"example.com", "s1", REPORT_DKIM_PASS, NULL},
    {"other.example", "", REPORT_DKIM_FAIL, "bad signature"},
};
static const struct report_spf spf1[] = {
    {"example.com", REPORT_SPF_MFROM, REPORT_SPF_PASS, NULL},
};

/* base - a passing record of policy domain example.com */
static struct report_record
base(void)
{
	struct report_record r;

	memset(&r, 0, sizeof(r));
	r.when = T0 + 3600;
	r.source_ip = "192.0.2.1";
	r.header_from = "example.com";
	r.envelope_from = "example.com";
	r.envelope_to = "example.org";
	r.policy.domain = "example.com";
	r.policy.discovery = DMARC_DISCOVERY_TREEWALK;
	r.policy.p = DMARC_POLICY_REJECT;
	r.policy.pct = 100;
	r.disposition = REPORT_DISP_PASS;
	r.dkim_aligned = 1;
	r.spf_aligned = 1;
	r.dkim = dkim1;
	r.ndkim = 2;
	r.spf = spf1;
	r.nspf = 1;
	return r;
}

/* enc - the encoding of r (caller frees), or NULL */
static char *
enc(const struct report_record *r)
{
	struct dynbuf b;
	char err[200];

	dynbuf_init(&b, 1 << 20);
	if (report_record_encode(r, &b, err, sizeof(err)) < 0) {
		dynbuf_free(&b);
		return NULL;
	}
	return dynbuf_take(&b);
}

/* encodes - whether r encodes */
static int
encodes(const struct report_record *r)
{
	char *e = enc(r);

	free(e);
	return e != NULL;
}

static int
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* same - every field but when equal, NULL and "" told apart */
static int
same(const struct report_record *a, const struct report_record *b)
{
	const struct report_policy *p = &a->policy, *q = &b->policy;

	if (!same_str(a->source_ip, b->source_ip) ||
	    !same_str(a->header_from, b->header_from) ||
	    !same_str(a->envelope_from, b->envelope_from) ||
	    !same_str(a->envelope_to, b->envelope_to) ||
	    !same_str(p->domain, q->domain) || p->discovery != q->discovery ||
	    p->p != q->p || p->sp != q->sp || p->np != q->np ||
	    !p->adkim_strict != !q->adkim_strict ||
	    !p->aspf_strict != !q->aspf_strict || !p->testing != !q->testing ||
	    p->pct != q->pct || a->disposition != b->disposition ||
	    !a->dkim_aligned != !b->dkim_aligned ||
	    !a->spf_aligned != !b->spf_aligned || a->nreasons != b->nreasons ||
	    a->ndkim != b->ndkim || a->nspf != b->nspf)
		return 0;
	for (size_t i = 0; i < a->nreasons; i++)
		if (a->reasons[i].type != b->reasons[i].type ||
		    !same_str(a->reasons[i].comment, b->reasons[i].comment))
			return 0;
	for (size_t i = 0; i < a->ndkim; i++)
		if (!same_str(a->dkim[i].domain, b->dkim[i].domain) ||
		    !same_str(a->dkim[i].selector, b->dkim[i].selector) ||
		    a->dkim[i].result != b->dkim[i].result ||
		    !same_str(a->dkim[i].human, b->dkim[i].human))
			return 0;
	for (size_t i = 0; i < a->nspf; i++)
		if (!same_str(a->spf[i].domain, b->spf[i].domain) ||
		    a->spf[i].scope != b->spf[i].scope ||
		    a->spf[i].result != b->spf[i].result ||
		    !same_str(a->spf[i].human, b->spf[i].human))
			return 0;
	return 1;
}

/* dec - whether text decodes; when it does and again is set, that it
 * encodes back to exactly text */
static int
dec(const char *text, size_t len, struct report_record *out, struct arena *a)
{
	char err[200];

	return report_record_decode(text, len, a, out, err, sizeof(err)) == 0;
}

static int
printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

static void
test_codec_roundtrip(void)
{
	static const struct report_reason reasons[] = {
	    {REPORT_OVR_LOCAL_POLICY, "list, = 100% \"sure\""},
	    {REPORT_OVR_OTHER, NULL},
	    {REPORT_OVR_TRUSTED_FORWARDER, ""},
	};
	static const struct report_dkim dk[] = {
	    {"b\xc3\xbc"
	     "cher.example",
	     "s\r\nX-Evil: 1", REPORT_DKIM_PASS, "\x01\x02\x7f\xff"},
	    {NULL, NULL, REPORT_DKIM_PERMERROR, NULL},
	    {"-", "-", REPORT_DKIM_TEMPERROR, "-x"},
	    {"", "%2D", REPORT_DKIM_NONE, "a b\tc"},
	};
	static const struct report_spf sp[] = {
	    {"helo.example", REPORT_SPF_HELO, REPORT_SPF_SOFTFAIL, "1 2"},
	    {NULL, REPORT_SPF_MFROM, REPORT_SPF_PERMERROR, ""},
	};
	struct report_record r = base(), back;
	struct arena *a = arena_new();
	char *e1, *e2, *e3;

	r.source_ip = "2001:db8::1";
	r.header_from = "Ex ample,=%.COM";
	r.envelope_from = "";
	r.envelope_to = NULL;
	r.policy.domain = "\xe4\xbe\x8b.jp";
	r.policy.discovery = DMARC_DISCOVERY_PSL;
	r.policy.p = DMARC_POLICY_QUARANTINE;
	r.policy.sp = DMARC_POLICY_NONE;
	r.policy.np = DMARC_POLICY_REJECT;
	r.policy.adkim_strict = 1;
	r.policy.testing = 1;
	r.policy.pct = 0;
	r.disposition = REPORT_DISP_QUARANTINE;
	r.dkim_aligned = 0;
	r.reasons = reasons;
	r.nreasons = 3;
	r.dkim = dk;
	r.ndkim = 4;
	r.spf = sp;
	r.nspf = 2;
	e1 = enc(&r);
	ok(e1 != NULL, "hostile record encodes");
	if (e1 == NULL)
		return;
	{
		static const char want[] =
		    "1 ip=2001:db8::1 from=Ex%20ample%2C%3D%25.COM mfrom= "
		    "rcpt=- policy=%E4%BE%8B.jp,psl,quarantine,none,reject,"
		    "s,r,y,0 disp=quarantine aligned=fail,pass reason="
		    "local_policy,list%2C%20%3D%20100%25%20\"sure\" "
		    "reason=other,- reason=trusted_forwarder, "
		    "dkim=b%C3%BCcher.example,s%0D%0AX-Evil:%201,pass,"
		    "%01%02%7F%FF dkim=-,-,permerror,- "
		    "dkim=%2D,%2D,temperror,-x dkim=,%252D,none,a%20b%09c "
		    "spf=helo.example,helo,softfail,1%202 "
		    "spf=-,mfrom,permerror,";

		is_str(e1, want, "the hostile record's line");
	}
	ok(printable(e1), "only printable ASCII in the line");
	ok(strchr(e1, '\r') == NULL && strchr(e1, '\n') == NULL, "no CR/LF");
	ok(strstr(e1, "  ") == NULL && e1[strlen(e1) - 1] != ' ',
	   "single spaces");
	e2 = enc(&r);
	ok(e2 != NULL && strcmp(e1, e2) == 0, "same record, same bytes");
	ok(dec(e1, strlen(e1), &back, a), "hostile record decodes");
	ok(back.when == 0, "when is 0 after decoding");
	ok(same(&r, &back), "every field comes back, NULL and \"\" apart");
	ok(back.envelope_from != NULL && back.envelope_from[0] == '\0',
	   "empty envelope from stays empty");
	ok(back.envelope_to == NULL, "NULL envelope to stays NULL");
	e3 = enc(&back);
	ok(e3 != NULL && strcmp(e1, e3) == 0, "decoded record re-encodes");
	free(e1);
	free(e2);
	free(e3);

	/* the plain record: readable, and its exact text */
	r = base();
	e1 = enc(&r);
	is_str(e1,
	       "1 ip=192.0.2.1 from=example.com mfrom=example.com "
	       "rcpt=example.org policy=example.com,treewalk,reject,unset,"
	       "unset,r,r,n,100 disp=pass aligned=pass,pass "
	       "dkim=example.com,s1,pass,- dkim=other.example,,fail,"
	       "bad%20signature spf=example.com,mfrom,pass,-",
	       "plain record's line");
	free(e1);
	/* booleans other than 0/1 are written as 1 */
	r.dkim_aligned = 7;
	e1 = enc(&r);
	ok(e1 && strstr(e1, "aligned=pass,pass"), "boolean 7 is pass");
	free(e1);
	arena_free(&a);
}

static void
test_codec_refused(void)
{
	struct report_record r = base();
	struct report_spf many_spf[9];
	struct report_reason many_rs[9];
	struct dynbuf b;
	char err[200], *longs;

	r.policy.pct = 101;
	ok(!encodes(&r), "pct 101 refused");
	r = base();
	r.disposition = (enum report_disposition)4;
	ok(!encodes(&r), "disposition out of range refused");
	r = base();
	r.policy.np = (enum dmarc_policy)9;
	ok(!encodes(&r), "np out of range refused");
	r = base();
	for (int i = 0; i < 9; i++)
		many_spf[i] = spf1[0];
	r.spf = many_spf;
	r.nspf = 9;
	ok(!encodes(&r), "9 SPF results refused");
	r.nspf = 8;
	ok(encodes(&r), "8 SPF results kept");
	r = base();
	for (int i = 0; i < 9; i++)
		many_rs[i] = (struct report_reason){REPORT_OVR_OTHER, "x"};
	r.reasons = many_rs;
	r.nreasons = 9;
	ok(!encodes(&r), "9 reasons refused");
	r.nreasons = 8;
	ok(encodes(&r), "8 reasons kept");
	/* too long: the buffer is left as it was */
	r = base();
	longs = xmalloc(REPORT_REC_MAX);
	memset(longs, 'a', REPORT_REC_MAX - 1);
	longs[REPORT_REC_MAX - 1] = '\0';
	r.envelope_to = longs;
	dynbuf_init(&b, 1 << 20);
	dynbuf_puts(&b, "keep");
	ok(report_record_encode(&r, &b, err, sizeof(err)) < 0 &&
	       strstr(err, "REPORT_REC_MAX") != NULL,
	   "too long refused: %s", err);
	is_str(b.s, "keep", "the buffer unchanged");
	dynbuf_free(&b);
	free(longs);
	/* the output buffer's own limit */
	r = base();
	dynbuf_init(&b, 10);
	ok(report_record_encode(&r, &b, err, sizeof(err)) < 0,
	   "a buffer too small refused");
	dynbuf_free(&b);
}

static void
test_codec_dkim_cap(void)
{
	struct report_dkim *d = xcalloc(150, sizeof(*d));
	struct report_record r = base(), back;
	struct arena *a = arena_new();
	char *e;

	for (int i = 0; i < 150; i++) {
		d[i].domain = "other.example";
		d[i].selector = "s";
		d[i].result = REPORT_DKIM_NEUTRAL;
	}
	d[120].result = REPORT_DKIM_PASS; /* the From domain: first choice */
	d[120].domain = "EXAMPLE.com";
	d[130].result = REPORT_DKIM_PASS; /* unaligned pass */
	d[140].domain = NULL;
	r.dkim = d;
	r.ndkim = 150;
	e = enc(&r);
	ok(e != NULL && dec(e, strlen(e), &back, a), "150 DKIM results encode");
	is_int(back.ndkim, REPORT_DKIM_MAX, "capped at REPORT_DKIM_MAX");
	ok(back.ndkim == REPORT_DKIM_MAX &&
	       back.dkim[98].result == REPORT_DKIM_PASS &&
	       strcmp(back.dkim[98].domain, "EXAMPLE.com") == 0 &&
	       back.dkim[99].result == REPORT_DKIM_PASS,
	   "the passes kept, in their order, at the end");
	free(e);
	r.ndkim = REPORT_DKIM_MAX;
	e = enc(&r);
	ok(e != NULL && dec(e, strlen(e), &back, a) &&
	       back.ndkim == REPORT_DKIM_MAX && back.dkim[99].domain != NULL,
	   "100 DKIM results are kept as they are");
	free(e);
	free(d);
	arena_free(&a);
}

/* the lines decode must refuse */
static const char *const garbage[] = {
    "",
    "1",
    "1 ",
    "2 ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,100 "
    "disp=none aligned=pass,pass",
    "1  ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,100 "
    "disp=none aligned=pass,pass",
    "1 ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,100 "
    "disp=none aligned=pass,pass ",
    "1 ip=x from=x rcpt=x mfrom=x policy=x,psl,none,none,none,r,r,n,100 "
    "disp=none aligned=pass,pass",
    "1 ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,101 "
    "disp=none aligned=pass,pass",
    "1 ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,050 "
    "disp=none aligned=pass,pass",
    "1 ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1000 "
    "disp=none aligned=pass,pass",
    "1 ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n "
    "disp=none aligned=pass,pass",
    "1 ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1,2 "
    "disp=none aligned=pass,pass",
    "1 ip=x from=x mfrom=x rcpt=x policy=x,bogus,none,none,none,r,r,n,1 "
    "disp=none aligned=pass,pass",
    "1 ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1 "
    "disp=discard aligned=pass,pass",
    "1 ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1 "
    "disp=none aligned=pass",
    "1 ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1 "
    "disp=none aligned=pass,pass spf=a,mfrom,pass,- dkim=a,s,pass,-",
    "1 ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1 "
    "disp=none aligned=pass,pass dkim=a,s,pass,- reason=other,-",
    "1 ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1 "
    "disp=none aligned=pass,pass spf=a,ehlo,pass,-",
    "1 ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1 "
    "disp=none aligned=pass,pass dkim=a,s,pass",
    "1 ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1 "
    "disp=none aligned=pass,pass bogus=1",
    /* escapes: lowercase, needless, NUL, cut, "-" in a longer string */
    "1 ip=%2c from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1 "
    "disp=none aligned=pass,pass",
    "1 ip=%41 from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1 "
    "disp=none aligned=pass,pass",
    "1 ip=%00 from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1 "
    "disp=none aligned=pass,pass",
    "1 ip=%2 from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1 "
    "disp=none aligned=pass,pass",
    "1 ip=%2Dx from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1 "
    "disp=none aligned=pass,pass",
    "1 ip=a\tb from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1 "
    "disp=none aligned=pass,pass",
    "1 ip=a=b from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1 "
    "disp=none aligned=pass,pass",
    "1 ip=\xc3\xbc from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,"
    "n,1 disp=none aligned=pass,pass",
};

static void
test_codec_garbage(void)
{
	static const char good[] =
	    "1 ip=x from=x mfrom=x rcpt=x policy=x,psl,none,none,none,r,r,n,1 "
	    "disp=none aligned=pass,pass";
	struct arena *a = arena_new();
	struct report_record r = base(), back;
	char *e, *line;
	size_t len, canon = 0, bad = 0;
	int all_ok = 1;

	ok(dec(good, strlen(good), &back, a),
	   "the garbage lines' base decodes");
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		ok(!dec(garbage[i], strlen(garbage[i]), &back, a),
		   "garbage %zu refused: %s", i, garbage[i]);
	/* a NUL inside */
	line = xstrdup(good);
	line[8] = '\0';
	ok(!dec(line, strlen(good), &back, a), "a NUL byte refused");
	free(line);
	/* too long */
	line = xmalloc(REPORT_REC_MAX + 2);
	memset(line, 'a', REPORT_REC_MAX + 1);
	line[REPORT_REC_MAX + 1] = '\0';
	ok(!dec(line, REPORT_REC_MAX + 1, &back, a), "over REPORT_REC_MAX");
	free(line);
	/* 101 DKIM results */
	{
		struct dynbuf b;

		dynbuf_init(&b, 1 << 20);
		dynbuf_puts(&b, good);
		for (int i = 0; i < 101; i++)
			dynbuf_puts(&b, " dkim=a,s,pass,-");
		ok(!dec(b.s, b.len, &back, a), "101 DKIM results refused");
		b.len -= strlen(" dkim=a,s,pass,-");
		ok(dec(b.s, b.len, &back, a) && back.ndkim == 100,
		   "100 DKIM results decode");
		dynbuf_free(&b);
	}
	/* every cut of a full line: refused, or the canonical line of
	 * another record */
	static const struct report_reason rs[] = {
	    {REPORT_OVR_MAILING_LIST, "list%x"}};
	r.reasons = rs;
	r.nreasons = 1;
	r.envelope_to = "\x01t,o";
	e = enc(&r);
	len = strlen(e);
	for (size_t n = 0; n < len; n++) {
		if (dec(e, n, &back, a)) {
			char *again = enc(&back);

			canon++;
			if (again == NULL || strlen(again) != n ||
			    memcmp(again, e, n) != 0)
				all_ok = 0;
			free(again);
		} else {
			bad++;
		}
	}
	ok(all_ok, "a cut that decodes is canonical");
	ok(bad > len * 3 / 4, "most cuts refused (%zu of %zu)", bad, len);
	ok(canon > 0, "cuts at a token's end decode (%zu)", canon);
	free(e);
	arena_free(&a);
}

/* ---- the store ------------------------------------------------------------
 */

static struct report_store *
open_ok(const char *uri)
{
	char err[512];
	struct report_store *st = report_store_open(uri, err, sizeof(err));

	ok(st != NULL, "open %s: %s", uri, st ? "ok" : err);
	return st;
}

static int
put1(struct report_store *st, const struct report_record *r, uint64_t n)
{
	struct report_store_item it = {r, n};
	char err[512];
	int rc = report_store_put(st, &it, 1, err, sizeof(err));

	if (rc < 0)
		fprintf(stderr, "put: %s\n", err);
	return rc;
}

/* load - the set of domain on days d0..d1 */
static struct report_set *
load(struct report_store *st, const char *domain, int64_t d0, int64_t d1,
     uint64_t *bad)
{
	struct report_set *s = report_set_new(domain, (time_t)d0 * 86400,
					      (time_t)d1 * 86400 + 86399);
	char err[512];

	if (report_store_load(st, domain, (time_t)d0 * 86400,
			      (time_t)d1 * 86400 + 86399, s, bad, err,
			      sizeof(err)) < 0)
		fprintf(stderr, "load: %s\n", err);
	return s;
}

struct names {
	char list[512];
};

static int
collect(const char *domain, void *ctx)
{
	struct names *n = ctx;
	size_t l = strlen(n->list);

	snprintf(n->list + l, sizeof(n->list) - l, "%s%s", l ? " " : "",
		 domain);
	return 0;
}

static const char *
domains(struct report_store *st, int64_t d0, int64_t d1, const char *filter,
	struct names *n)
{
	char err[512];

	n->list[0] = '\0';
	if (report_store_domains(st, (time_t)d0 * 86400,
				 (time_t)d1 * 86400 + 86399, filter, collect, n,
				 err, sizeof(err)) < 0)
		return err[0] ? "ERROR" : "ERROR";
	return n->list;
}

static uint64_t
row_count(const struct report_set *s, const char *ip)
{
	struct report_row_info ri;
	uint64_t sum = 0;

	for (size_t i = 0; report_set_row(s, i, &ri) == 0; i++)
		if (strcmp(ri.source_ip, ip) == 0)
			sum += ri.count;
	return sum;
}

/* policy_p - the <p> of the report of s */
static int
has_p(const struct report_set *s, const char *want)
{
	static const struct report_meta m = {
	    .org_name = "o",
	    .email = "r@mx.example",
	    .receiver = "mx.example",
	    .report_id = "0123456789abcdef0123456789abcdef"};
	struct dynbuf b;
	char err[200], tag[64];
	int found;

	dynbuf_init(&b, 1 << 20);
	if (report_xml(s, &m, &b, err, sizeof(err)) < 0) {
		dynbuf_free(&b);
		return 0;
	}
	snprintf(tag, sizeof(tag), "<p>%s</p>", want);
	found = strstr(b.s, tag) != NULL;
	dynbuf_free(&b);
	return found;
}

/* the test's handle on the database itself: to plant a failure and set
 * the schema version */
struct raw {
	sqlite3 *db;
	PGconn *pg;
};

static int
raw_exec(struct raw *w, const char *sql)
{
	if (w->db != NULL)
		return sqlite3_exec(w->db, sql, NULL, NULL, NULL) == SQLITE_OK
			   ? 0
			   : -1;
	{
		PGresult *r = PQexec(w->pg, sql);
		int s = PQresultStatus(r);

		PQclear(r);
		return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? 0 : -1;
	}
}

static void
store_checks(const char *uri, struct raw *w)
{
	struct report_store *st = open_ok(uri), *st2;
	struct report_record a = base(), b = base(), c = base(), x = base();
	struct report_store_item items[3];
	struct report_set *s;
	struct names n;
	char err[512], id[REPORT_ID_BUFSIZE], *longs;
	uint64_t bad = 99, deleted = 0;

	if (st == NULL)
		return;
	/* a from 192.0.2.1 (p=reject), b from 192.0.2.2 later with
	 * p=quarantine, c of another domain */
	b.source_ip = "192.0.2.2";
	b.when = T0 + 7200;
	b.policy.p = DMARC_POLICY_QUARANTINE;
	c.policy.domain = "B.Example.";
	c.header_from = "b.example";
	ok(put1(st, &a, 3) == 0, "put a x3");
	ok(put1(st, &a, 2) == 0, "put a x2");
	items[0] = (struct report_store_item){&b, 1};
	items[1] = (struct report_store_item){&c, 5};
	ok(report_store_put(st, items, 2, err, sizeof(err)) == 0,
	   "put b and c in one call: %s", err);
	a.when += 86400; /* the next day */
	ok(put1(st, &a, 4) == 0, "put a x4 on the next day");
	a.when -= 86400;
	ok(report_store_put(st, items, 0, err, sizeof(err)) == 0,
	   "put of nothing");

	s = load(st, "example.com", DAY0, DAY0, &bad);
	is_int(report_set_rows(s), 2, "day 0: rows");
	is_int(report_set_messages(s), 6, "day 0: messages");
	is_int(row_count(s, "192.0.2.1"), 5, "day 0: a's count added up");
	is_int(row_count(s, "192.0.2.2"), 1, "day 0: b's count");
	is_int(report_set_dropped(s), 0, "day 0: nothing dropped");
	is_int(bad, 0, "day 0: no bad rows");
	ok(has_p(s, "quarantine"), "the policy seen last is published");
	report_set_free(&s);
	s = load(st, "example.com", DAY0 + 1, DAY0 + 1, NULL);
	is_int(report_set_rows(s), 1, "day 1: one row (same record, own row)");
	is_int(report_set_messages(s), 4, "day 1: messages");
	report_set_free(&s);
	s = load(st, "EXAMPLE.com.", DAY0, DAY0 + 1, NULL);
	is_int(report_set_rows(s), 2, "two days: the set adds the days up");
	is_int(row_count(s, "192.0.2.1"), 9, "two days: a's count");
	is_int(report_set_messages(s), 10, "two days: messages");
	report_set_free(&s);
	s = load(st, "b.example", DAY0, DAY0, NULL);
	is_int(report_set_messages(s), 5, "other domain: messages");
	report_set_free(&s);
	s = load(st, "example.com", DAY0 + 2, DAY0 + 5, NULL);
	is_int(report_set_rows(s), 0, "days without rows: none");
	report_set_free(&s);

	is_str(domains(st, DAY0, DAY0, NULL, &n), "b.example example.com",
	       "domains of day 0, byte order, lowercase");
	is_str(domains(st, DAY0 + 1, DAY0 + 1, NULL, &n), "example.com",
	       "domains of day 1");
	is_str(domains(st, DAY0, DAY0 + 1, "B.EXAMPLE", &n), "b.example",
	       "the domain filter");
	is_str(domains(st, DAY0, DAY0 + 1, "c.example", &n), "",
	       "the filter on a domain without rows");
	is_str(domains(st, DAY0 - 3, DAY0 - 1, NULL, &n), "",
	       "days before: none");

	/* sent marks */
	is_int(report_store_sent(st, "example.com", T0, T0 + 86399, id, err,
				 sizeof(err)),
	       0, "not sent yet");
	ok(report_store_mark_sent(st, "example.com", T0, T0 + 86399,
				  "0123456789abcdef0123456789abcdef",
				  T0 + 90000, err, sizeof(err)) == 0,
	   "mark sent: %s", err);
	is_int(report_store_sent(st, "Example.COM", T0, T0 + 86399, id, err,
				 sizeof(err)),
	       1, "sent");
	is_str(id, "0123456789abcdef0123456789abcdef", "its report id");
	is_int(report_store_sent(st, "example.com", T0, T0 + 86400, NULL, err,
				 sizeof(err)),
	       0, "another period is not sent");
	ok(report_store_mark_sent(st, "example.com", T0, T0 + 86399, "ffff",
				  T0 + 90001, err, sizeof(err)) == 0,
	   "marked again");
	ok(report_store_sent(st, "example.com", T0, T0 + 86399, id, err,
			     sizeof(err)) == 1 &&
	       strcmp(id, "ffff") == 0,
	   "the later mark counts");
	ok(report_store_mark_sent(st, "example.com", T0 + 86400,
				  T0 + 2 * 86400 - 1, "abcd", T0 + 2 * 86400,
				  err, sizeof(err)) == 0,
	   "mark day 1 sent");

	/* all or nothing: a record too long to encode */
	x.source_ip = "198.51.100.7";
	longs = xmalloc(REPORT_REC_MAX);
	memset(longs, 'h', REPORT_REC_MAX - 1);
	longs[REPORT_REC_MAX - 1] = '\0';
	c = base();
	c.envelope_to = longs;
	items[0] = (struct report_store_item){&x, 1};
	items[1] = (struct report_store_item){&a, 1};
	items[2] = (struct report_store_item){&c, 1};
	ok(report_store_put(st, items, 3, err, sizeof(err)) < 0 &&
	       strstr(err, "REPORT_REC_MAX") != NULL,
	   "a record too long fails the put: %s", err);
	free(longs);
	/* all or nothing: a row the database refuses, after others went in */
	if (w->db != NULL)
		ok(raw_exec(w,
			    "CREATE TRIGGER fail BEFORE INSERT ON report_rows "
			    "WHEN NEW.policy_domain = 'fail.example' BEGIN "
			    "SELECT RAISE(ABORT, 'planted failure'); END") == 0,
		   "trigger planted");
	else
		ok(raw_exec(w,
			    "CREATE FUNCTION fail() RETURNS trigger "
			    "LANGUAGE plpgsql AS $$ BEGIN IF "
			    "NEW.policy_domain = 'fail.example' THEN RAISE "
			    "EXCEPTION 'planted failure'; END IF; RETURN NEW; "
			    "END $$") == 0 &&
		       raw_exec(w, "CREATE TRIGGER fail BEFORE INSERT ON "
				   "report_rows FOR EACH ROW EXECUTE FUNCTION "
				   "fail()") == 0,
		   "trigger planted");
	c = base();
	c.policy.domain = "fail.example";
	items[2] = (struct report_store_item){&c, 1};
	ok(report_store_put(st, items, 3, err, sizeof(err)) < 0 &&
	       strstr(err, "planted failure") != NULL,
	   "a refused row fails the put: %s", err);
	s = load(st, "example.com", DAY0, DAY0, NULL);
	is_int(report_set_messages(s), 6, "the failed puts left no trace");
	is_int(row_count(s, "198.51.100.7"), 0, "x is not there");
	report_set_free(&s);
	if (w->db != NULL)
		raw_exec(w, "DROP TRIGGER fail");
	else
		raw_exec(w, "DROP TRIGGER fail ON report_rows; DROP FUNCTION "
			    "fail()");
	ok(report_store_put(st, items, 2, err, sizeof(err)) == 0,
	   "the store works after a failed put: %s", err);
	s = load(st, "example.com", DAY0, DAY0, NULL);
	is_int(report_set_messages(s), 8, "and counts again");
	report_set_free(&s);

	/* a second open changes nothing */
	st2 = open_ok(uri);
	if (st2 != NULL) {
		s = load(st2, "example.com", DAY0, DAY0 + 1, NULL);
		is_int(report_set_messages(s), 12, "reopened: the same rows");
		report_set_free(&s);
		report_store_close(&st2);
		ok(st2 == NULL, "close sets NULL");
	}

	/* prune: rows of days before day 1, marks of periods ended before */
	ok(report_store_prune(st, T0 + 86400 + 5, &deleted, err, sizeof(err)) ==
	       0,
	   "prune: %s", err);
	is_int(deleted, 4, "prune: day 0's rows (a, b, c, x)");
	is_str(domains(st, DAY0, DAY0 + 1, NULL, &n), "example.com",
	       "after pruning: day 1's domain");
	s = load(st, "example.com", DAY0, DAY0 + 1, NULL);
	is_int(report_set_messages(s), 4, "after pruning: day 1's row");
	report_set_free(&s);
	is_int(report_store_sent(st, "example.com", T0, T0 + 86399, NULL, err,
				 sizeof(err)),
	       0, "after pruning: day 0's mark gone");
	is_int(report_store_sent(st, "example.com", T0 + 86400,
				 T0 + 2 * 86400 - 1, NULL, err, sizeof(err)),
	       1, "after pruning: day 1's mark kept");

	/* a row that does not decode is counted and skipped */
	ok(raw_exec(w, "INSERT INTO report_rows (day, policy_domain, rec, "
		       "count, last_seen) VALUES (20581, 'example.com', "
		       "'garbage', 7, 1)") == 0,
	   "a bad row planted");
	s = load(st, "example.com", DAY0 + 1, DAY0 + 1, &bad);
	is_int(bad, 1, "the bad row counted");
	is_int(report_set_messages(s), 4, "and skipped");
	report_set_free(&s);

	/* a newer schema */
	ok(raw_exec(w, "UPDATE report_meta SET schema_version = 2") == 0,
	   "schema version set to 2");
	st2 = report_store_open(uri, err, sizeof(err));
	ok(st2 == NULL && strstr(err, "schema version 2 is newer") != NULL,
	   "a newer schema refused: %s", st2 ? "opened" : err);
	report_store_close(&st2);
	raw_exec(w, "UPDATE report_meta SET schema_version = 1");
	report_store_close(&st);
	is_str(report_store_kind(st = open_ok(uri)),
	       w->db != NULL ? "sqlite" : "postgresql", "kind");
	report_store_close(&st);
}

/* hammer - n puts of the hammer rows (3 records, one each) */
static int
hammer(const char *uri, int n)
{
	struct report_record r[3];
	struct report_store_item it[3];
	struct report_store *st;
	char err[512];

	if ((st = report_store_open(uri, err, sizeof(err))) == NULL) {
		fprintf(stderr, "hammer: %s\n", err);
		return 1;
	}
	for (int i = 0; i < 3; i++) {
		r[i] = base();
		r[i].policy.domain = "hammer.example";
		r[i].header_from = "hammer.example";
		r[i].disposition = (enum report_disposition)i;
		it[2 - i] = (struct report_store_item){&r[i], 1};
	}
	for (int k = 0; k < n; k++) {
		r[k % 3].when = T0 + k % 1000;
		if (report_store_put(st, it, 3, err, sizeof(err)) < 0) {
			fprintf(stderr, "hammer: put %d: %s\n", k, err);
			report_store_close(&st);
			return 1;
		}
	}
	report_store_close(&st);
	return 0;
}

/* hammer_count - the hammer rows hold want messages in 3 rows */
static void
hammer_count(const char *uri, long want)
{
	struct report_store *st = open_ok(uri);
	struct report_set *s;

	if (st == NULL)
		return;
	s = load(st, "hammer.example", DAY0, DAY0, NULL);
	is_int(report_set_rows(s), 3, "hammer: 3 rows");
	is_int(report_set_messages(s), want, "hammer: every put counted");
	report_set_free(&s);
	report_store_close(&st);
}

static void
test_sqlite(void)
{
	char dir[] = "/tmp/test-report-store.XXXXXX", uri[512], path[256];
	struct raw w = {NULL, NULL};
	struct report_store *st;
	sqlite3_stmt *q;
	char err[512];
	pid_t kids[2];
	int status, hammered = 1;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/reports.db", dir);
	snprintf(uri, sizeof(uri), "sqlite:%s", path);
	st = open_ok(uri);
	if (st == NULL)
		return;
	is_str(report_store_kind(st), "sqlite", "kind");
	ok(sqlite3_open_v2(path, &w.db, SQLITE_OPEN_READWRITE, NULL) ==
	       SQLITE_OK,
	   "the file exists");
	sqlite3_busy_timeout(w.db, 5000);
	ok(sqlite3_prepare_v2(w.db, "PRAGMA journal_mode", -1, &q, NULL) ==
		   SQLITE_OK &&
	       sqlite3_step(q) == SQLITE_ROW &&
	       strcmp((const char *)sqlite3_column_text(q, 0), "wal") == 0,
	   "journal_mode is wal");
	sqlite3_finalize(q);
	ok(sqlite3_prepare_v2(w.db, "SELECT schema_version FROM report_meta",
			      -1, &q, NULL) == SQLITE_OK &&
	       sqlite3_step(q) == SQLITE_ROW &&
	       sqlite3_column_int(q, 0) == REPORT_STORE_SCHEMA &&
	       sqlite3_step(q) == SQLITE_DONE,
	   "report_meta: one row, version %d", REPORT_STORE_SCHEMA);
	sqlite3_finalize(q);
	report_store_close(&st);
	store_checks(uri, &w);
	ok(sqlite3_prepare_v2(w.db, "SELECT count(*) FROM report_meta", -1, &q,
			      NULL) == SQLITE_OK &&
	       sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 1,
	   "still one report_meta row");
	sqlite3_finalize(q);

	/* two processes at once into the same rows */
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		if (kids[i] == 0)
			_exit(hammer(uri, 300));
	}
	for (int i = 0; i < 2; i++)
		if (kids[i] < 0 || waitpid(kids[i], &status, 0) < 0 ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			hammered = 0;
	ok(hammered, "two writers at once: both finished without error");
	hammer_count(uri, 2 * 300 * 3);
	sqlite3_close(w.db);

	/* the files: the database, its -wal and -shm */
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		ok(system(cmd) == 0, "cleanup");
	}

	snprintf(uri, sizeof(uri), "sqlite:%s/no/such/dir/r.db", dir);
	st = report_store_open(uri, err, sizeof(err));
	ok(st == NULL && strstr(err, "/no/such/dir") != NULL &&
	       strstr(err, "No such file or directory") != NULL,
	   "a missing directory: %s", err);
	report_store_close(&st);
	st = report_store_open("sqlite:", err, sizeof(err));
	ok(st == NULL && strstr(err, "sqlite:/path") != NULL,
	   "sqlite: without a path: %s", err);
	st = report_store_open("mysql://u:secret@db/x", err, sizeof(err));
	ok(st == NULL && strstr(err, "neither") != NULL &&
	       strstr(err, "secret") == NULL,
	   "another kind of URI, not echoed: %s", err);
	st = report_store_open("/var/lib/authmilter/reports.db", err,
			       sizeof(err));
	ok(st == NULL, "a bare path is not a URI");
	st = report_store_open("postgresql:///x?host=/nonexistent/dir", err,
			       sizeof(err));
	ok(st == NULL &&
	       strncmp(err, "postgresql: cannot connect: ", 28) == 0 &&
	       strchr(err, '\n') == NULL,
	   "a server that is not there: %s", err);
}

/* test_pg - the store checks on uri, then a lost connection */
static void
test_pg(const char *uri)
{
	struct raw w = {NULL, PQconnectdb(uri)};
	struct report_store *st;
	struct report_record a = base();
	int rc;

	if (!ok(PQstatus(w.pg) == CONNECTION_OK, "test connection: %s",
		PQerrorMessage(w.pg)))
		return;
	raw_exec(&w, "SET client_min_messages = warning");
	raw_exec(&w, "DROP TABLE IF EXISTS report_meta, report_rows, "
		     "report_sent");
	store_checks(uri, &w);
	st = open_ok(uri);
	if (st != NULL) {
		ok(raw_exec(&w,
			    "SELECT pg_terminate_backend(pid) FROM "
			    "pg_stat_activity WHERE application_name = "
			    "'authmilter' AND pid <> pg_backend_pid()") == 0,
		   "the store's connection killed");
		usleep(200000);
		rc = put1(st, &a, 1);
		if (rc < 0)
			rc = put1(st, &a, 1);
		ok(rc == 0, "a put after a lost connection works (at most "
			    "one failed call)");
		report_store_close(&st);
	}
	PQfinish(w.pg);
}

int
main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--pg") == 0) {
		if (argc == 5 && strcmp(argv[3], "--hammer") == 0)
			return hammer(argv[2], (int)strtol(argv[4], NULL, 10));
		if (argc == 5 && strcmp(argv[3], "--hammer-count") == 0) {
			hammer_count(argv[2], strtol(argv[4], NULL, 10));
			return test_done("test-report-store hammer");
		}
		test_pg(argv[2]);
		return test_done("test-report-store --pg");
	}
	test_codec_roundtrip();
	test_codec_refused();
	test_codec_dkim_cap();
	test_codec_garbage();
	test_sqlite();
	return test_done("test-report-store");
}
