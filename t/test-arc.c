/*
 * test-arc.c - lib/arc with the table resolver: chains sealed by our
 * sealer (rsa-sha256 and ed25519-sha256 keys made here by OpenSSL)
 * verified by our verifier, then broken in every way RFC 8617 5.2 names:
 * body, a signed header field, an AAR, a seal, gaps, duplicates, i=0,
 * i=51, cv= out of order, a missing AMS, 1,000 ARC fields, keys that are
 * missing, temporarily unavailable or too small.
 *
 * The cross-check with a second implementation (dkimpy's arc_sign and
 * arc_verify) is t/arc-dkimpy.py's, run by the ARC suite (t/arc-suite.sh).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "arc.h"
#include "dns.h"
#include "tap.h"
#include "util.h"

#define MAXF 1200

struct msg {
	char *name[MAXF];
	char *value[MAXF]; /* leading space kept */
	size_t n;
	char *body;
};

static struct dns_resolver *dns;
static struct arc_verifier *ver;
static char keydir[] = "/tmp/test-arc-XXXXXX";

static void
msg_add(struct msg *m, const char *name, const char *value)
{
	m->name[m->n] = xstrdup(name);
	m->value[m->n++] = xstrdup(value);
}

/* msg_prepend - a "Name: value" field at the top */
static void
msg_prepend(struct msg *m, const char *field)
{
	const char *c = strchr(field, ':');

	memmove(m->name + 1, m->name, m->n * sizeof(char *));
	memmove(m->value + 1, m->value, m->n * sizeof(char *));
	m->name[0] = xstrndup(field, (size_t)(c - field));
	m->value[0] = xstrdup(c + 1);
	m->n++;
}

static void
msg_del(struct msg *m, size_t i)
{
	free(m->name[i]);
	free(m->value[i]);
	memmove(m->name + i, m->name + i + 1, (m->n - i - 1) * sizeof(char *));
	memmove(m->value + i, m->value + i + 1, (m->n - i - 1) * sizeof(char *));
	m->n--;
}

static void
msg_set(struct msg *m, size_t i, const char *value)
{
	free(m->value[i]);
	m->value[i] = xstrdup(value);
}

static void
msg_copy(struct msg *dst, const struct msg *src)
{
	dst->n = 0;
	for (size_t i = 0; i < src->n; i++)
		msg_add(dst, src->name[i], src->value[i]);
	dst->body = xstrdup(src->body);
}

static void
msg_free(struct msg *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->name[i]);
		free(m->value[i]);
	}
	m->n = 0;
	free(m->body);
	m->body = NULL;
}

static void
msg_base(struct msg *m)
{
	m->n = 0;
	msg_add(m, "Received", " from mail.example.com (mail.example.com "
	    "[192.0.2.1])\r\n\tby mx.example.net; Thu, 14 Jan 2015 15:00:01 -0800");
	msg_add(m, "From", " Joe <joe@example.com>");
	msg_add(m, "To", " list@example.org");
	msg_add(m, "Subject", " hello   world");
	msg_add(m, "Date", " Thu, 14 Jan 2015 15:00:01 -0800");
	msg_add(m, "Message-ID", " <1@example.com>");
	m->body = xstrdup("Hello,\r\n\r\nThis is  a test. \r\n\r\n\r\n");
}

/* unfold - s with every CRLF/LF + WSP as one space (a static buffer) */
static const char *
unfold(const char *s)
{
	static char buf[4096];
	size_t o = 0;

	for (; *s != '\0' && o + 1 < sizeof(buf); s++) {
		if (*s == '\r' || *s == '\n') {
			while (s[1] == '\r' || s[1] == '\n' || s[1] == ' ' ||
			    s[1] == '\t')
				s++;
			buf[o++] = ' ';
			continue;
		}
		buf[o++] = *s;
	}
	buf[o] = '\0';
	return buf;
}

/* field - the index of the k-th (0: first) field named name from the top */
static size_t
field(const struct msg *m, const char *name, unsigned k)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcasecmp(m->name[i], name) == 0 && k-- == 0)
			return i;
	return (size_t)-1;
}

/* feed - the message into a new arc_msg, the body in chunks of step */
static struct arc_msg *
feed(const struct msg *m, int want_seal, size_t step)
{
	struct arc_msg *a = arc_msg_new(ver);
	size_t len = strlen(m->body);

	for (size_t i = 0; i < m->n; i++)
		arc_msg_header(a, m->name[i], m->value[i]);
	if (want_seal)
		arc_msg_want_seal(a);
	arc_msg_eoh(a);
	if (step == 0)
		step = len > 0 ? len : 1;
	for (size_t o = 0; o < len; o += step)
		arc_msg_body(a, (const unsigned char *)m->body + o,
		    len - o < step ? len - o : step);
	return a;
}

static enum arc_res
verify(const struct msg *m, struct arc_result *r)
{
	struct arc_msg *a = feed(m, 0, 7);
	enum arc_res res = arc_msg_eom(a, NULL, r);

	arc_msg_free(&a);
	return res;
}

/* seal - verify and seal m, prepending the new set; the verification's
 * result, or -1 when sealing failed, -2 when it declined */
static int
seal_h(struct msg *m, const struct arc_sealer *s, const char *aar,
    const char *h)
{
	struct arc_msg *a = feed(m, 1, 0);
	char *out[3], err[256];
	enum arc_res res = arc_msg_eom(a, NULL, NULL);
	int rc = arc_msg_seal(a, s, "mx.example.org", aar, h, 1700000000,
	    out, err, sizeof(err));

	arc_msg_free(&a);
	if (rc < 0) {
		fprintf(stderr, "seal: %s\n", err);
		return -1;
	}
	if (out[0] == NULL)
		return -2;
	for (int k = 2; k >= 0; k--) {
		msg_prepend(m, out[k]);
		free(out[k]);
	}
	return (int)res;
}

static int
seal(struct msg *m, const struct arc_sealer *s, const char *aar)
{
	return seal_h(m, s, aar, NULL);
}

/* ---- keys ------------------------------------------------------------- */
struct key {
	EVP_PKEY *pk;
	char file[256];
};

static struct key k2048, k1024, k512, ked;

static void
key_make(struct key *k, const char *type, unsigned bits, const char *sel)
{
	unsigned char der[2048], *p = der;
	char b[4096], rec[4200], name[128];
	size_t n = sizeof(der);
	FILE *f;
	int ed = strcmp(type, "ED25519") == 0;

	k->pk = ed ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519") :
	    EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	if (k->pk == NULL)
		abort();
	snprintf(k->file, sizeof(k->file), "%s/%s.pem", keydir, sel);
	if ((f = fopen(k->file, "w")) == NULL)
		abort();
	PEM_write_PrivateKey(f, k->pk, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	if (ed) {
		EVP_PKEY_get_raw_public_key(k->pk, der, &n);
	} else {
		int l = i2d_PUBKEY(k->pk, &p);

		n = l > 0 ? (size_t)l : 0;
	}
	EVP_EncodeBlock((unsigned char *)b, der, (int)n);
	snprintf(rec, sizeof(rec), "v=DKIM1; k=%s; p=%s", ed ? "ed25519" : "rsa",
	    b);
	snprintf(name, sizeof(name), "%s._domainkey.example.org", sel);
	dns_table_add_text(dns, name, DNS_T_TXT, rec);
	snprintf(name, sizeof(name), "%s._domainkey.lists.example.net", sel);
	dns_table_add_text(dns, name, DNS_T_TXT, rec);
}

static struct arc_sealer *
sealer(const char *domain, const char *sel, const struct key *k)
{
	char err[256];
	struct arc_sealer *s = arc_sealer_new(domain, sel, k->file, err,
	    sizeof(err));

	if (s == NULL)
		fprintf(stderr, "sealer: %s\n", err);
	return s;
}

static struct arc_sealer *s_rsa, *s_ed, *s_list, *s_nokey, *s_servfail,
    *s_512;

/* chain - the base message sealed n times (rsa, ed25519, rsa by another
 * domain, ...) */
static void
chain(struct msg *m, unsigned n)
{
	struct arc_sealer *by[3] = { s_rsa, s_ed, s_list };

	msg_base(m);
	for (unsigned i = 0; i < n; i++) {
		int rc = seal(m, by[i % 3], "spf=pass smtp.mailfrom=example.com");

		if (!is_int(rc, i == 0 ? ARC_RES_NONE : ARC_RES_PASS,
		    "chain: seal %u sees the chain so far", i + 1))
			break;
	}
}

static void
expect(const struct msg *m, enum arc_res want, const char *reason,
    const char *what)
{
	struct arc_result r;

	is_str(arc_res_name(verify(m, &r)), arc_res_name(want), "%s: result",
	    what);
	if (reason != NULL)
		is_str(r.reason, reason, "%s: reason", what);
}

/* ---- tests ------------------------------------------------------------ */
static void
test_none(void)
{
	struct msg m;
	struct arc_result r;
	unsigned long q = dns_table_queries(dns);

	msg_base(&m);
	is_int(verify(&m, &r), ARC_RES_NONE, "no ARC fields: none");
	is_int(r.n, 0, "no ARC fields: n");
	is_int(dns_table_queries(dns) - q, 0, "no ARC fields: no lookups");
	msg_free(&m);
}

static void
test_pass(void)
{
	struct msg m;
	struct arc_result r;
	struct arc_sealer *one[2] = { s_rsa, s_ed };
	const char *alg[2] = { "rsa", "ed25519" };
	struct arc_msg *a;

	for (int k = 0; k < 2; k++) {
		msg_base(&m);
		is_int(seal(&m, one[k], "dkim=pass header.d=example.com"),
		    ARC_RES_NONE, "%s: seal of a message without ARC", alg[k]);
		/* r.inst[].aar lives as long as the message: keep it */
		a = feed(&m, 0, 7);
		is_int(arc_msg_eom(a, NULL, &r), ARC_RES_PASS,
		    "%s, 1 instance: pass", alg[k]);
		is_int(r.n, 1, "%s: n", alg[k]);
		is_int(r.inst[0].cv, ARC_RES_NONE, "%s: cv=none", alg[k]);
		is_str(r.inst[0].seal_domain, "example.org", "%s: d=", alg[k]);
		is_str(r.inst[0].seal_selector, k ? "ked" : "k2048", "%s: s=",
		    alg[k]);
		ok(r.inst[0].ams_valid, "%s: AMS valid", alg[k]);
		ok(r.inst[0].aar != NULL && strcmp(unfold(r.inst[0].aar),
		    "mx.example.org; dkim=pass header.d=example.com") == 0,
		    "%s: the AAR after i=1; (%s)", alg[k],
		    r.inst[0].aar ? r.inst[0].aar : "NULL");
		arc_msg_free(&a);
		ok(strncmp(m.value[0], " a=", 3) == 0 &&
		    strcasecmp(m.name[0], "ARC-Seal") == 0, "%s: AS on top", alg[k]);
		msg_free(&m);
	}
	chain(&m, 3);
	is_int(verify(&m, &r), ARC_RES_PASS, "3 instances: pass");
	is_int(r.n, 3, "3 instances: n");
	is_int(r.oldest_pass, 0, "3 instances: every AMS passes");
	is_int(r.inst[1].cv, ARC_RES_PASS, "3 instances: cv=pass at i=2");
	is_str(r.inst[2].seal_domain, "lists.example.net", "i=3 sealed by");
	/* the same message as an MTA may hand it over: bare LF line ends
	 * in the body and in folded fields */
	{
		struct msg lf;
		char *p;

		msg_copy(&lf, &m);
		for (size_t i = 0; i < lf.n; i++)
			while ((p = strstr(lf.value[i], "\r\n")) != NULL)
				memmove(p, p + 1, strlen(p));
		while ((p = strstr(lf.body, "\r\n")) != NULL)
			memmove(p, p + 1, strlen(p));
		is_int(verify(&lf, &r), ARC_RES_PASS, "bare LF: pass (%s)",
		    r.reason);
		msg_free(&lf);
	}
	for (unsigned i = 0; i < 3; i++)
		ok(r.inst[i].ams_valid, "3 instances: AMS i=%u checked", i + 1);
	msg_free(&m);
}

static void
test_broken(void)
{
	struct msg base, m;
	size_t i;

	chain(&base, 3);

	msg_copy(&m, &base);
	free(m.body);
	m.body = xstrdup("Hello,\r\n\r\nThis is  a tost. \r\n");
	expect(&m, ARC_RES_FAIL, "ARC-Message-Signature i=3 body hash mismatch",
	    "body altered");
	msg_free(&m);

	msg_copy(&m, &base);
	msg_set(&m, field(&m, "Subject", 0), " hello world!");
	expect(&m, ARC_RES_FAIL, "ARC-Message-Signature i=3 signature mismatch",
	    "signed header altered");
	msg_free(&m);

	msg_copy(&m, &base);
	msg_set(&m, field(&m, "Subject", 0), "   hello \r\n\t  world  ");
	expect(&m, ARC_RES_PASS, NULL, "signed header refolded (relaxed)");
	msg_free(&m);

	msg_copy(&m, &base);
	i = field(&m, "ARC-Authentication-Results", 2); /* i=1 */
	msg_set(&m, i, " i=1; mx.example.org; spf=pass smtp.mailfrom=evil.example");
	expect(&m, ARC_RES_FAIL, "ARC-Seal i=1 signature mismatch", "AAR altered");
	msg_free(&m);

	msg_copy(&m, &base);
	i = field(&m, "ARC-Seal", 1); /* i=2 */
	{
		char *v = xstrdup(m.value[i]), *t = strstr(v, "t=17");

		t[3] = '8';
		msg_set(&m, i, v);
		free(v);
	}
	expect(&m, ARC_RES_FAIL, "ARC-Seal i=2 signature mismatch", "seal altered");
	msg_free(&m);

	msg_copy(&m, &base);
	i = field(&m, "ARC-Seal", 1);
	{
		char *v = xstrdup(m.value[i]), *b = strstr(v, "b=");

		b[3] = b[3] == 'A' ? 'B' : 'A';
		msg_set(&m, i, v);
		free(v);
	}
	expect(&m, ARC_RES_FAIL, "ARC-Seal i=2 signature mismatch",
	    "seal signature altered");
	msg_free(&m);

	/* a gap: the set of i=2 gone */
	msg_copy(&m, &base);
	msg_del(&m, field(&m, "ARC-Seal", 1));
	msg_del(&m, field(&m, "ARC-Message-Signature", 1));
	msg_del(&m, field(&m, "ARC-Authentication-Results", 1));
	expect(&m, ARC_RES_FAIL, "ARC set i=2 lacks ARC-Seal", "gap at i=2");
	msg_free(&m);

	msg_copy(&m, &base);
	msg_add(&m, "ARC-Message-Signature", m.value[field(&m,
	    "ARC-Message-Signature", 2)]);
	expect(&m, ARC_RES_FAIL, "duplicate ARC-Message-Signature i=1",
	    "duplicate AMS");
	msg_free(&m);

	msg_copy(&m, &base);
	msg_del(&m, field(&m, "ARC-Message-Signature", 2));
	expect(&m, ARC_RES_FAIL, "ARC set i=1 lacks ARC-Message-Signature",
	    "missing AMS");
	msg_free(&m);

	msg_copy(&m, &base);
	msg_add(&m, "ARC-Authentication-Results", " i=0; mx.example.org; none");
	expect(&m, ARC_RES_FAIL,
	    "ARC-Authentication-Results i=0 out of range (1 to 50)", "i=0");
	msg_free(&m);

	msg_copy(&m, &base);
	msg_add(&m, "arc-seal", " a=rsa-sha256; b=AAAA; cv=pass; d=example.org; "
	    "i=51; s=k2048");
	expect(&m, ARC_RES_FAIL, "ARC-Seal i=51 out of range (1 to 50)", "i=51");
	msg_free(&m);

	msg_copy(&m, &base);
	msg_add(&m, "ARC-Authentication-Results", " mx.example.org; i=4; none");
	expect(&m, ARC_RES_FAIL, "ARC-Authentication-Results without a leading "
	    "i=N;", "AAR without i= first");
	msg_free(&m);

	msg_copy(&m, &base);
	msg_add(&m, "ARC-Seal", " a=rsa-sha256; b=AAAA; d=example.org; i=4;; "
	    "s=k2048; cv=pass");
	expect(&m, ARC_RES_FAIL, "ARC-Seal: malformed tag list", "tag list ;;");
	msg_free(&m);

	/* cv=pass on i=1 */
	msg_base(&m);
	msg_add(&m, "ARC-Seal", " a=rsa-sha256; b=AAAA; cv=pass; d=example.org; "
	    "i=1; s=k2048");
	msg_add(&m, "ARC-Message-Signature", " a=rsa-sha256; b=AAAA; bh=AAAA; "
	    "d=example.org; h=from; i=1; s=k2048");
	msg_add(&m, "ARC-Authentication-Results", " i=1; mx.example.org; none");
	expect(&m, ARC_RES_FAIL, "ARC-Seal i=1 cv=pass (must be none)",
	    "cv=pass at i=1");
	msg_free(&m);

	/* cv=none above i=1 */
	msg_copy(&m, &base);
	i = field(&m, "ARC-Seal", 0);
	{
		char *v = xstrdup(m.value[i]), *cv = strstr(v, "cv=pass");

		memcpy(cv, "cv=none", 7);
		msg_set(&m, i, v);
		free(v);
	}
	expect(&m, ARC_RES_FAIL, "ARC-Seal i=3 cv=none (must be pass)",
	    "cv=none at i=3");
	msg_free(&m);

	/* AMS h= with arc-seal */
	msg_copy(&m, &base);
	i = field(&m, "ARC-Message-Signature", 0);
	{
		char *v = xstrdup(m.value[i]), *h = strstr(v, "h=from"), *nv;

		*h = '\0';
		nv = xasprintf("%sh=arc-seal:%s", v, h + 2);
		msg_set(&m, i, nv);
		free(nv);
		free(v);
	}
	expect(&m, ARC_RES_FAIL,
	    "ARC-Message-Signature i=3 signs ARC-Seal (h=)", "h= has arc-seal");
	msg_free(&m);
	msg_free(&base);
}

static void
test_oldest_pass(void)
{
	struct msg m;
	struct arc_result r;

	msg_base(&m);
	seal(&m, s_rsa, "spf=pass smtp.mailfrom=example.com");
	/* the list changes the subject, then seals: its validation fails */
	msg_set(&m, field(&m, "Subject", 0), " [list] hello world");
	is_int(seal(&m, s_list, "arc=fail"), ARC_RES_FAIL,
	    "subject changed: the next sealer's validation fails");
	ok(strstr(m.value[0], "cv=fail") != NULL, "sealed with cv=fail");
	expect(&m, ARC_RES_FAIL, "ARC-Seal i=2 cv=fail", "newest cv=fail");
	is_int(seal(&m, s_rsa, "none"), -2, "no seal over cv=fail");
	msg_free(&m);

	/* i=1 signs the subject, i=2 does not: a later subject change
	 * breaks only the AMS of i=1; the chain passes, oldest-pass 2 */
	msg_base(&m);
	seal_h(&m, s_rsa, "none", "from:to:subject");
	seal_h(&m, s_list, "arc=pass", "from:to");
	is_int(verify(&m, &r), ARC_RES_PASS, "2 instances pass");
	is_int(r.oldest_pass, 0, "every AMS passes: oldest-pass 0");
	msg_set(&m, field(&m, "Subject", 0), " [list] hello world");
	is_int(verify(&m, &r), ARC_RES_PASS, "AMS i=1 broken: still pass");
	is_int(r.oldest_pass, 2, "AMS i=1 broken: oldest-pass 2");
	ok(r.inst[1].ams_valid && !r.inst[0].ams_valid, "ams_valid per set");
	msg_free(&m);
}

static void
test_keys(void)
{
	struct msg m;
	struct arc_result r;

	msg_base(&m);
	seal(&m, s_nokey, "none");
	is_int(verify(&m, &r), ARC_RES_FAIL, "key NXDOMAIN: fail");
	is_str(r.reason, "ARC-Message-Signature i=1 key not found",
	    "key NXDOMAIN: reason");
	msg_free(&m);

	msg_base(&m);
	seal(&m, s_servfail, "none");
	is_int(verify(&m, &r), ARC_RES_TEMPERROR, "key SERVFAIL: temperror");
	is_str(r.reason, "ARC-Message-Signature i=1 key lookup failed: SERVFAIL",
	    "key SERVFAIL: reason");
	msg_free(&m);

	msg_base(&m);
	seal(&m, s_512, "none");
	is_int(verify(&m, &r), ARC_RES_FAIL, "512-bit key: fail");
	is_str(r.reason, "ARC-Message-Signature i=1 512-bit key is too small",
	    "512-bit key: reason");
	msg_free(&m);

	/* a SERVFAIL seal key under a good chain: temperror; a bad seal
	 * elsewhere still fails the chain */
	chain(&m, 1);
	seal(&m, s_servfail, "arc=pass");
	is_int(verify(&m, &r), ARC_RES_TEMPERROR, "servfail at i=2: temperror");
	msg_free(&m);
}

static void
test_bounds(void)
{
	struct msg m;
	struct arc_result r;
	struct timespec t0, t1;
	unsigned long q;
	double ms;
	int rc = 0;

	msg_base(&m);
	for (int i = 0; i < 1000; i++)
		msg_add(&m, "ARC-Seal", " a=rsa-sha256; b=AAAA; cv=none; "
		    "d=example.org; i=1; s=k2048");
	q = dns_table_queries(dns);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int k = 0; k < 10; k++)
		rc = verify(&m, &r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	is_int(rc, ARC_RES_FAIL, "1,000 ARC-Seal fields: fail");
	is_str(r.reason, "more than 150 ARC header fields", "1,000: reason");
	is_int(dns_table_queries(dns) - q, 0, "1,000: no lookups");
	ok(ms < 500, "1,000 ARC fields, 10 times: %.1f ms", ms);
	msg_free(&m);

	/* 50 instances (ed25519 for speed): pass, bounded lookups (the
	 * key of one selector fetched once per message), no 51st */
	msg_base(&m);
	for (int i = 0; i < ARC_MAX_INSTANCES; i++) {
		rc = seal(&m, s_ed, "arc=pass");
		if (rc != (i == 0 ? ARC_RES_NONE : ARC_RES_PASS))
			break;
	}
	is_int(rc, ARC_RES_PASS, "50 instances sealed over passing chains");
	q = dns_table_queries(dns);
	is_int(verify(&m, &r), ARC_RES_PASS, "50 instances: pass");
	is_int(r.n, 50, "50 instances: n");
	is_int(dns_table_queries(dns) - q, 1, "50 instances: one key lookup");
	is_int(seal(&m, s_ed, "arc=pass"), -2, "no 51st instance");
	msg_free(&m);
}

static void
test_sealer_errors(void)
{
	char err[256], path[300];
	FILE *f;

	ok(arc_sealer_new("example.org", "s", "/nonexistent/arc.pem", err,
	    sizeof(err)) == NULL && strstr(err, "/nonexistent/arc.pem") != NULL,
	    "missing key file named: %s", err);
	snprintf(path, sizeof(path), "%s/junk.pem", keydir);
	f = fopen(path, "w");
	fputs("not a key\n", f);
	fclose(f);
	ok(arc_sealer_new("example.org", "s", path, err, sizeof(err)) == NULL &&
	    strstr(err, path) != NULL, "not a key: %s", err);
	unlink(path);
	ok(arc_sealer_new("exa mple.org", "s", k2048.file, err,
	    sizeof(err)) == NULL, "bad domain: %s", err);
}

static void
test_seal_format(void)
{
	struct msg m;
	struct arc_msg *a;
	char *out[3], err[256];

	msg_base(&m);
	a = feed(&m, 0, 0);
	arc_msg_eom(a, NULL, NULL);
	is_int(arc_msg_seal(a, s_rsa, "mx.example.org", "none", NULL, 1, out,
	    err, sizeof(err)), -1, "seal without want_seal: error");
	arc_msg_free(&a);

	a = feed(&m, 1, 3);
	arc_msg_eom(a, NULL, NULL);
	is_int(arc_msg_seal(a, s_rsa, "mx.example.org",
	    "spf=pass smtp.mailfrom=example.com", "from:to:subject", 12345, out,
	    err, sizeof(err)), 0, "seal");
	ok(strncmp(out[0], "ARC-Seal: a=rsa-sha256;\r\n\tb=", 28) == 0,
	    "AS starts a=, b= on its own line");
	ok(strstr(unfold(out[0]), "; cv=none; d=example.org; i=1; s=k2048; "
	    "t=12345") != NULL, "AS tags: %s", out[0]);
	ok(strstr(unfold(out[1]), "c=relaxed/relaxed; d=example.org; "
	    "h=from:to:subject; i=1; s=k2048; t=12345") != NULL,
	    "AMS tags: %s", out[1]);
	is_str(out[2], "ARC-Authentication-Results: i=1; mx.example.org; "
	    "spf=pass\r\n\tsmtp.mailfrom=example.com", "AAR folded");
	for (int k = 0; k < 3; k++) {
		const char *p = out[k];
		size_t col = 0, max = 0;

		for (; *p != '\0'; p++) {
			col = *p == '\n' ? 0 : col + 1;
			max = col > max ? col : max;
		}
		ok(max <= 80, "field %d lines at most 80 columns (%zu)", k, max);
		free(out[k]);
	}
	arc_msg_free(&a);
	msg_free(&m);
}

int
main(void)
{
	char err[128];
	struct arc_opts o = { 0 };

	if (mkdtemp(keydir) == NULL)
		return 1;
	dns = dns_table_new();
	key_make(&k2048, "RSA", 2048, "k2048");
	key_make(&k1024, "RSA", 1024, "k1024");
	key_make(&k512, "RSA", 512, "k512");
	key_make(&ked, "ED25519", 0, "ked");
	dns_table_set_fail(dns, "servfail._domainkey.example.org", DNS_T_TXT,
	    DNS_FAIL_SERVFAIL);
	ver = arc_verifier_new(dns, &o, err, sizeof(err));
	if (ver == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	s_rsa = sealer("example.org", "k2048", &k2048);
	s_ed = sealer("example.org", "ked", &ked);
	s_list = sealer("lists.example.net", "k1024", &k1024);
	s_nokey = sealer("example.org", "nokey", &k2048);
	s_servfail = sealer("example.org", "servfail", &k2048);
	s_512 = sealer("example.org", "k512", &k512);
	if (!s_rsa || !s_ed || !s_list || !s_nokey || !s_servfail || !s_512)
		return 1;

	test_none();
	test_pass();
	test_broken();
	test_oldest_pass();
	test_keys();
	test_bounds();
	test_sealer_errors();
	test_seal_format();

	arc_sealer_free(&s_rsa);
	arc_sealer_free(&s_ed);
	arc_sealer_free(&s_list);
	arc_sealer_free(&s_nokey);
	arc_sealer_free(&s_servfail);
	arc_sealer_free(&s_512);
	arc_verifier_free(&ver);
	dns_resolver_free(&dns);
	unlink(k2048.file);
	unlink(k1024.file);
	unlink(k512.file);
	unlink(ked.file);
	rmdir(keydir);
	return test_done("test-arc");
}
