/*
 * dkim-speed.c - DKIM verifications per second through lib/dkim/dkim.c, one
 * thread, no DNS: a 2048-bit RSA key (made here by OpenSSL) in the table
 * resolver, messages signed here with c=relaxed/relaxed and
 * c=relaxed/simple, bodies of 2, 20 and 200 KB of 72-byte CRLF lines fed
 * in 64 KB chunks as a milter gets them. Every verification must pass
 * (else exit 1), so a fast wrong answer cannot show up as a speed-up.
 *
 * ARC (lib/arc, RFC 8617) on the same bodies, against relaxed-*:
 * arc-none-*, a message without ARC header fields through arc_msg_* (what
 * every message pays with arc.enable on), and arc3-*, a chain of three
 * instances sealed here by lib/arc with three 2048-bit keys of three
 * sealers (c=relaxed/relaxed): validated as the milter does (the newest
 * AMS with its body hash, the three ARC-Seals, then the older AMSs for
 * header.oldest-pass), which must pass.
 *
 * usage: bench/dkim-speed [SECONDS-PER-CASE] [CASE [COUNT]]
 *   CASE ("relaxed-20k", ...) runs one case; COUNT runs exactly that many
 *   verifications, for instruction counts per message, e.g.
 *   valgrind --tool=callgrind --toggle-collect=verify \
 *       bench/dkim-speed 1 relaxed-20k 50
 *   (Ir / 50; verify is kept out of line for that).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "arc.h"
#include "dkim.h"
#include "dns.h"
#include "util.h"

#define CHUNK 65535 /* the largest milter body chunk */

static const char *const hdr_names[] = { "From", "To", "Subject", "Date",
    "Message-ID" };
static const char *const hdr_values[] = { "Joe <joe@example.org>",
    "Suzie <suzie@example.net>", "a message for the benchmark",
    "Mon, 23 Nov 2026 18:00:00 +0000", "<bench.1@example.org>" };
#define NHDR (sizeof(hdr_names) / sizeof(hdr_names[0]))

static void
b64(const unsigned char *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* make_body - len bytes of 70-character lines with single spaces + CRLF:
 * already canonical under simple and relaxed (RFC 6376 3.4.3, 3.4.4) */
static char *
make_body(size_t len)
{
	static const char words[] = "lorem ipsum dolor sit amet consectetur "
	    "adipiscing elit sed do eiusmod tempor incididunt ut labore ";
	char *b = xmalloc(len + 1);
	size_t o = 0, w = 0;

	while (o + 72 <= len) {
		for (int i = 0; i < 70; i++)
			b[o++] = words[w++ % (sizeof(words) - 1)];
		if (b[o - 1] == ' ')
			b[o - 1] = '.';
		b[o++] = '\r';
		b[o++] = '\n';
	}
	b[o] = '\0';
	return b;
}

/* sign - the DKIM-Signature value (leading space) for the headers and a
 * canonical body */
static char *
sign(EVP_PKEY *pk, const char *bodycanon, const char *body)
{
	unsigned char hash[32], sig[512];
	unsigned hl = 0;
	size_t sl = sizeof(sig);
	char bh[64], bs[1024], val[2048];
	struct dynbuf data;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	EVP_Digest(body, strlen(body), hash, &hl, EVP_sha256(), NULL);
	b64(hash, hl, bh);
	snprintf(val, sizeof(val), " v=1; a=rsa-sha256; c=relaxed/%s; "
	    "d=example.org; s=bench; h=from:to:subject:date:message-id; bh=%s; b=",
	    bodycanon, bh);
	dynbuf_init(&data, 1 << 16);
	for (size_t i = 0; i < NHDR; i++) {
		char lname[32];

		str_copy(lname, hdr_names[i], sizeof(lname));
		dynbuf_printf(&data, "%s:%s\r\n", str_lower(lname), hdr_values[i]);
	}
	dynbuf_printf(&data, "dkim-signature:%s", val + 1);
	EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, pk);
	EVP_DigestSign(c, sig, &sl, (unsigned char *)data.s, data.len);
	EVP_MD_CTX_free(c);
	dynbuf_free(&data);
	b64(sig, sl, bs);
	return xasprintf("%s%s", val, bs);
}

/* verify - one message; 1 when it passes */
static int __attribute__((noinline))
verify(struct dkv_verifier *v, const char *sig, const char *body,
    size_t blen)
{
	struct dkv_msg *m = dkv_msg_new(v, NULL);
	const struct dkv_result *res;
	size_t n;
	int pass;

	dkv_msg_header(m, "DKIM-Signature", sig);
	for (size_t i = 0; i < NHDR; i++) {
		char val[256];

		snprintf(val, sizeof(val), " %s", hdr_values[i]);
		dkv_msg_header(m, hdr_names[i], val);
	}
	dkv_msg_eoh(m);
	for (size_t o = 0; o < blen; o += CHUNK)
		dkv_msg_body(m, (const unsigned char *)body + o,
		    blen - o < CHUNK ? blen - o : CHUNK);
	dkv_msg_eom(m, &res, &n);
	pass = n == 1 && res[0].result == DKV_RES_PASS;
	if (!pass)
		fprintf(stderr, "dkim-speed: not a pass: %s\n",
		    n ? res[0].reason : "no result");
	dkv_msg_free(&m);
	return pass;
}

/* ---- ARC ----------------------------------------------------------------- */

static double now(void);

#define ARC_HOPS 3
#define ARC_MAXF (NHDR + 3 * ARC_HOPS)

/* the message as the milter hands it over: fields (name, value with its
 * leading space and CRLF folds), the body */
struct amsg {
	char *name[ARC_MAXF], *value[ARC_MAXF];
	size_t n;
};

/* arc_feed - one message into lib/arc, chunked as a milter gets it */
static struct arc_msg *
arc_feed(struct arc_verifier *v, const struct amsg *m, int want_seal,
    const char *body, size_t blen)
{
	struct arc_msg *a = arc_msg_new(v);

	for (size_t i = 0; i < m->n; i++)
		arc_msg_header(a, m->name[i], m->value[i]);
	if (want_seal)
		arc_msg_want_seal(a);
	arc_msg_eoh(a);
	for (size_t o = 0; o < blen; o += CHUNK)
		arc_msg_body(a, (const unsigned char *)body + o,
		    blen - o < CHUNK ? blen - o : CHUNK);
	return a;
}

/* arc_chain - the benchmark message sealed by ARC_HOPS sealers, each
 * with its own key published in dns; 0 or -1 */
static int
arc_chain(struct arc_verifier *v, struct dns_resolver *dns,
    struct amsg *m, const char *body, size_t blen)
{
	static unsigned chains;

	chains++;
	for (size_t i = 0; i < NHDR; i++) {
		m->name[m->n] = xstrdup(hdr_names[i]);
		m->value[m->n++] = xasprintf(" %s", hdr_values[i]);
	}
	for (int hop = 1; hop <= ARC_HOPS; hop++) {
		EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		unsigned char der[1024], *p = der;
		char rec[2048], key[1500], err[256], dom[64], name[96];
		char file[] = "/tmp/dkim-speed-arc-XXXXXX", *out[3];
		struct arc_sealer *sl;
		struct arc_msg *a;
		FILE *f;
		int l, fd = mkstemp(file);

		if (pk == NULL || fd < 0 || (f = fdopen(fd, "w")) == NULL ||
		    (l = i2d_PUBKEY(pk, &p)) <= 0)
			return -1;
		PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
		fclose(f);
		EVP_PKEY_free(pk);
		b64(der, (size_t)l, key);
		snprintf(dom, sizeof(dom), "hop%d-%u.example.net", hop, chains);
		snprintf(name, sizeof(name), "bench._domainkey.%s", dom);
		snprintf(rec, sizeof(rec), "v=DKIM1; k=rsa; p=%s", key);
		dns_table_add_text(dns, name, DNS_T_TXT, rec);
		sl = arc_sealer_new(dom, "bench", file, err, sizeof(err));
		unlink(file);
		if (sl == NULL) {
			fprintf(stderr, "dkim-speed: %s\n", err);
			return -1;
		}
		a = arc_feed(v, m, 1, body, blen);
		arc_msg_eom(a, NULL, NULL);
		if (arc_msg_seal(a, sl, dom, "spf=pass smtp.mailfrom=example.org",
		    NULL, 1796400000, out, err, sizeof(err)) != 0 ||
		    out[0] == NULL) {
			fprintf(stderr, "dkim-speed: seal: %s\n", err);
			return -1;
		}
		arc_msg_free(&a);
		arc_sealer_free(&sl);
		memmove(&m->name[3], &m->name[0], m->n * sizeof(m->name[0]));
		memmove(&m->value[3], &m->value[0], m->n * sizeof(m->value[0]));
		for (int k = 0; k < 3; k++) {
			char *c = strchr(out[k], ':');

			m->name[k] = xasprintf("%.*s", (int)(c - out[k]), out[k]);
			m->value[k] = xstrdup(c + 1);
			free(out[k]);
		}
		m->n += 3;
	}
	return 0;
}

/* arc_verify - one validation; 1 when it gives want */
static int __attribute__((noinline))
arc_verify(struct arc_verifier *v, const struct amsg *m, const char *body,
    size_t blen, enum arc_res want)
{
	struct arc_msg *a = arc_feed(v, m, 0, body, blen);
	struct arc_result *res = NULL;
	enum arc_res r = arc_msg_eom(a, NULL, NULL);

	if (r != want) {
		res = xcalloc(1, sizeof(*res));
		arc_msg_eom(a, NULL, res);
		fprintf(stderr, "dkim-speed: arc=%s, want %s: %s\n",
		    arc_res_name(r), arc_res_name(want), res->reason);
		free(res);
	}
	arc_msg_free(&a);
	return r == want;
}

/* run_arc - the ARC cases on one body */
static int
run_arc(struct dns_resolver *dns, size_t size, double secs, const char *only,
    unsigned long fixed)
{
	struct arc_opts o = { .min_rsa_bits = 1024 };
	char err[256], names[2][32], *body = make_body(size);
	size_t blen = strlen(body);
	struct arc_verifier *v = arc_verifier_new(dns, &o, err, sizeof(err));
	struct amsg plain = { .n = 0 }, chain = { .n = 0 };
	int bad = 0;

	snprintf(names[0], sizeof(names[0]), "arc-none-%zuk", size / 1024);
	snprintf(names[1], sizeof(names[1]), "arc3-%zuk", size / 1024);
	if (only != NULL && strcmp(only, names[0]) != 0 &&
	    strcmp(only, names[1]) != 0) {
		arc_verifier_free(&v);
		free(body);
		return 0;
	}
	if (v == NULL || arc_chain(v, dns, &chain, body, blen) != 0) {
		fprintf(stderr, "dkim-speed: arc: %s\n", v ? "no chain" : err);
		return 1;
	}
	for (size_t i = 0; i < NHDR; i++) {
		plain.name[plain.n] = xstrdup(hdr_names[i]);
		plain.value[plain.n++] = xasprintf(" %s", hdr_values[i]);
	}
	for (int c = 0; c < 2 && bad == 0; c++) {
		const struct amsg *m = c == 0 ? &plain : &chain;
		enum arc_res want = c == 0 ? ARC_RES_NONE : ARC_RES_PASS;
		unsigned long count = 0;
		double t0, t;

		if (only != NULL && strcmp(only, names[c]) != 0)
			continue;
		t0 = now();
		do {
			for (int i = 0; i < 16 && (fixed == 0 || count < fixed);
			    i++, count++)
				bad += !arc_verify(v, m, body, blen, want);
			t = now() - t0;
		} while ((fixed > 0 ? count < fixed : t < secs) && bad == 0);
		printf("%-14s %10.0f %12.1f %10.0f\n", names[c], count / t,
		    1e6 * t / count, count * (double)blen / t / 1e6);
	}
	for (size_t i = 0; i < chain.n; i++) {
		free(chain.name[i]);
		free(chain.value[i]);
	}
	for (size_t i = 0; i < plain.n; i++) {
		free(plain.name[i]);
		free(plain.value[i]);
	}
	arc_verifier_free(&v);
	free(body);
	return bad;
}

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	static const size_t sizes[] = { 2048, 20480, 204800 };
	static const char *const canons[] = { "relaxed", "simple" };
	double secs = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	const char *only = argc > 2 ? argv[2] : NULL;
	unsigned long fixed = argc > 3 ? strtoul(argv[3], NULL, 10) : 0;
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	struct dns_resolver *dns = dns_table_new();
	struct dkv_verifier *v;
	unsigned char der[1024], *p = der;
	char rec[2048], key[1500], err[128];
	int l, bad = 0;

	if (pk == NULL || (l = i2d_PUBKEY(pk, &p)) <= 0) {
		fprintf(stderr, "dkim-speed: no RSA key\n");
		return 1;
	}
	b64(der, (size_t)l, key);
	snprintf(rec, sizeof(rec), "v=DKIM1; k=rsa; p=%s", key);
	dns_table_add_text(dns, "bench._domainkey.example.org", DNS_T_TXT, rec);
	v = dkv_verifier_new(dns, NULL, err, sizeof(err));
	if (v == NULL) {
		fprintf(stderr, "dkim-speed: %s\n", err);
		return 1;
	}
	if (secs <= 0)
		secs = 1.0;
	printf("%-14s %10s %12s %10s\n", "case", "verifs/s", "us/verif",
	    "MB/s body");
	for (size_t c = 0; c < 2; c++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			char name[32], *body = make_body(sizes[s]), *sig;
			size_t blen = strlen(body);
			unsigned long count = 0;
			double t0, t;

			snprintf(name, sizeof(name), "%s-%zuk", canons[c],
			    sizes[s] / 1024);
			if (only != NULL && strcmp(only, name) != 0) {
				free(body);
				continue;
			}
			sig = sign(pk, canons[c], body);
			t0 = now();
			do {
				for (int i = 0; i < 16 && (fixed == 0 || count < fixed);
				    i++, count++)
					bad += !verify(v, sig, body, blen);
				t = now() - t0;
			} while ((fixed > 0 ? count < fixed : t < secs) && bad == 0);
			printf("%-14s %10.0f %12.1f %10.0f\n", name, count / t,
			    1e6 * t / count, count * (double)blen / t / 1e6);
			free(sig);
			free(body);
		}
	}
	for (size_t i = 0; bad == 0 && i < sizeof(sizes) / sizeof(sizes[0]);
	    i++)
		if (only == NULL || strncmp(only, "arc", 3) == 0)
			bad += run_arc(dns, sizes[i], secs, only, fixed);
	dkv_verifier_free(&v);
	dns_resolver_free(&dns);
	EVP_PKEY_free(pk);
	return bad == 0 ? 0 : 1;
}
