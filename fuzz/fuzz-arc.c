/*
 * fuzz-arc.c - a whole message through lib/arc: ARC header parsing
 * (tag lists, AAR instances), chain assembly and structure, verification,
 * then sealing and the sealed message verified again. Header fields are
 * split here as in fuzz-dkim.c (a line starting with SP/HTAB continues a
 * field; a line without a colon is skipped); the body goes in two chunks.
 *
 * The table resolver holds the ValiMail suite's RSA key
 * (dummy._domainkey.example.org, so the suite's messages are seeds) and
 * an Ed25519 key made from a fixed seed (fuzz._domainkey.example.org),
 * which is also the sealer's; temp._domainkey.example.org fails
 * temporarily.
 *
 * Oracle: a result in range; none exactly when no field is named like an
 * ARC field, with n == 0; n <= 50; a pass has n >= 1, cv=none at i=1 and
 * pass above; a fail says why. Sealing: a message whose chain passed or
 * had none, sealed by us (cv=pass/none), verifies as pass with one more
 * instance; one whose chain failed gets a cv=fail set and then fails;
 * a declined seal only when the newest set says cv=fail, there are 50
 * sets already, or the validation was a temperror.
 */
#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_arc
#endif

#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "arc.h"
#include "dns.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXFIELDS 2000

static struct dns_resolver *dns;
static struct arc_verifier *ver;
static struct arc_sealer *sealer;

/* RFC 8032 7.1 TEST 1's secret key */
static const unsigned char ed_seed[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4,
	0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19,
	0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};

static void
setup(void)
{
	struct arc_opts o = { 1024 };
	EVP_PKEY *pk;
	unsigned char pub[32];
	char err[256], path[] = "/tmp/fuzz-arc-XXXXXX", b64[64], rec[128];
	size_t pl = sizeof(pub);
	FILE *f;
	int fd;

	dns = dns_table_new();
	dns_table_add_text(dns, "dummy._domainkey.example.org", DNS_T_TXT,
	    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3id"
	    "Y6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lx"
	    "j+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB");
	dns_table_set_status(dns, "temp._domainkey.example.org", 0,
	    DNS_STATUS_TEMPFAIL);
	pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, ed_seed, 32);
	if (pk == NULL || EVP_PKEY_get_raw_public_key(pk, pub, &pl) != 1)
		abort();
	EVP_EncodeBlock((unsigned char *)b64, pub, 32);
	snprintf(rec, sizeof(rec), "v=DKIM1; k=ed25519; p=%s", b64);
	dns_table_add_text(dns, "fuzz._domainkey.example.org", DNS_T_TXT, rec);
	if ((fd = mkstemp(path)) < 0 || (f = fdopen(fd, "w")) == NULL)
		abort();
	PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	EVP_PKEY_free(pk);
	sealer = arc_sealer_new("example.org", "fuzz", path, err, sizeof(err));
	unlink(path);
	ver = arc_verifier_new(dns, &o, err, sizeof(err));
	if (sealer == NULL || ver == NULL)
		abort();
}

struct fields {
	char *name[MAXFIELDS + 3];
	char *value[MAXFIELDS + 3];
	size_t n;
};

static int
arc_named(const char *name)
{
	size_t l = strlen(name);

	while (l > 0 && (name[l - 1] == ' ' || name[l - 1] == '\t'))
		l--;
	return (l == 8 && strncasecmp(name, "ARC-Seal", 8) == 0) ||
	    (l == 21 && strncasecmp(name, "ARC-Message-Signature", 21) == 0) ||
	    (l == 26 && strncasecmp(name, "ARC-Authentication-Results", 26) == 0);
}

/* run - verify (and seal when want is set) fields + body */
static enum arc_res
run(const struct fields *f, const char *body, size_t blen,
    struct arc_result *r, int want, char *out[3], int *seal_rc)
{
	struct arc_msg *m = arc_msg_new(ver);
	size_t half = blen / 2;
	char err[256];
	enum arc_res res;

	for (size_t i = 0; i < f->n; i++)
		arc_msg_header(m, f->name[i], f->value[i]);
	if (want)
		arc_msg_want_seal(m);
	arc_msg_eoh(m);
	arc_msg_body(m, (const unsigned char *)body, half);
	arc_msg_body(m, (const unsigned char *)body + half, blen - half);
	res = arc_msg_eom(m, NULL, r);
	if (want)
		*seal_rc = arc_msg_seal(m, sealer, "fuzz.example", "none", NULL,
		    1700000000, out, err, sizeof(err));
	arc_msg_free(&m);
	return res;
}

static void
check(const struct fields *f, const struct arc_result *r)
{
	int named = 0;

	for (size_t i = 0; i < f->n; i++)
		named |= arc_named(f->name[i]);
	if (r->result > ARC_RES_PERMERROR || r->n > ARC_MAX_INSTANCES ||
	    memchr(r->reason, '\0', sizeof(r->reason)) == NULL)
		abort();
	(void)arc_res_name(r->result);
	if ((r->result == ARC_RES_NONE) != !named)
		abort();
	if (r->result == ARC_RES_NONE && r->n != 0)
		abort();
	if (r->result == ARC_RES_FAIL && r->reason[0] == '\0')
		abort();
	if (r->result == ARC_RES_PASS) {
		if (r->n == 0 || r->oldest_pass > r->n ||
		    r->inst[0].cv != ARC_RES_NONE || !r->inst[r->n - 1].ams_valid)
			abort();
		for (unsigned i = 1; i < r->n; i++)
			if (r->inst[i].cv != ARC_RES_PASS || r->inst[i].i != i + 1)
				abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	static struct fields f;
	static struct arc_result r, r2;
	char *out[3];
	int seal_rc = 0;
	enum arc_res res, res2;

	if (ver == NULL)
		setup();
	f.n = 0;
	while (p < end && f.n < MAXFIELDS) {
		const char *ls = p, *le = p, *colon;

		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
			p += *p == '\r' ? 2 : 1;
			break;
		}
		for (;;) {
			const char *nl = memchr(le, '\n', (size_t)(end - le));

			le = nl != NULL ? nl + 1 : end;
			if (nl == NULL || le >= end || (*le != ' ' && *le != '\t'))
				break;
		}
		p = le;
		colon = memchr(ls, ':', (size_t)(le - ls));
		if (colon == NULL || colon == ls)
			continue;
		while (le > colon + 1 && (le[-1] == '\n' || le[-1] == '\r'))
			le--;
		f.name[f.n + 3] = xstrndup(ls, (size_t)(colon - ls));
		f.value[f.n + 3] = xstrndup(colon + 1, (size_t)(le - colon - 1));
		f.n++;
	}
	/* the fields live at index 3 up; 0..2 take the new set */
	{
		struct fields g;

		g.n = f.n;
		memcpy(g.name, f.name + 3, f.n * sizeof(char *));
		memcpy(g.value, f.value + 3, f.n * sizeof(char *));
		res = run(&g, p, (size_t)(end - p), &r, 1, out, &seal_rc);
		check(&g, &r);
		if (seal_rc < 0)
			abort();
		if (out[0] == NULL) {
			/* declined: only for the reasons RFC 8617 gives */
			if (res != ARC_RES_TEMPERROR && res != ARC_RES_FAIL &&
			    r.n < ARC_MAX_INSTANCES)
				abort();
		} else {
			for (int k = 0; k < 3; k++) {
				char *c = strchr(out[k], ':');

				if (c == NULL)
					abort();
				f.name[k] = xstrndup(out[k], (size_t)(c - out[k]));
				f.value[k] = xstrdup(c + 1);
				free(out[k]);
			}
			g.n = f.n + 3;
			memcpy(g.name, f.name, g.n * sizeof(char *));
			memcpy(g.value, f.value, g.n * sizeof(char *));
			res2 = run(&g, p, (size_t)(end - p), &r2, 0, NULL, NULL);
			check(&g, &r2);
			if (res == ARC_RES_PASS || res == ARC_RES_NONE) {
				if (res2 != ARC_RES_PASS || r2.n != r.n + 1)
					abort();
			} else if (res2 != ARC_RES_FAIL) {
				abort();
			}
			for (int k = 0; k < 3; k++) {
				free(f.name[k]);
				free(f.value[k]);
			}
		}
	}
	for (size_t i = 0; i < f.n; i++) {
		free(f.name[i + 3]);
		free(f.value[i + 3]);
	}
	return 0;
}
