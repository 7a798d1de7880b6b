/*
 * arc_verify.c - RFC 8617 5.2 past the structure: the newest AMS
 * (DKIM-style, 4.1.2), every ARC-Seal from the oldest to the newest over
 * the ARC sets (5.1.1, one running SHA-256 over the sets below the one
 * being checked), and when the chain passes the oldest AMS that still
 * validates (step 5). Keys are DKIM key records (RFC 6376 3.6.1) fetched
 * with dns_query_until(), kept for the message.
 */
/* RSA_verify, EVP_PKEY_get0_RSA: the fast path (see arc_sig_check) */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "arc_impl.h"
#include "dkim_key.h"
#include "dns.h"

enum { KEY_OK = 0, KEY_PERM = 1, KEY_TEMP = 2 };

int
arc_sig_check(const EVP_MD *md, EVP_PKEY *pk, enum arc_alg alg,
    const unsigned char *sig, size_t siglen, const unsigned char *digest,
    size_t dlen)
{
	int ok = 0;

	if (alg == ARC_ALG_ED25519_SHA256) {
		/* RFC 8463 3: Ed25519 over the SHA-256 of the data */
		EVP_MD_CTX *c = EVP_MD_CTX_new();

		if (c != NULL && EVP_DigestVerifyInit(c, NULL, NULL, NULL, pk) == 1)
			ok = EVP_DigestVerify(c, sig, siglen, digest, dlen) == 1;
		EVP_MD_CTX_free(c);
	} else {
		/* RSA_verify on the key's RSA: OpenSSL 3's EVP_PKEY_verify
		 * fetches the signature implementation on every init, which
		 * costs more than the verification (the same legacy path as
		 * libopendkim's and dkim_key.c's) */
		const RSA *rsa = EVP_PKEY_get0_RSA(pk);

		(void)md;
		ok = rsa != NULL && siglen <= UINT32_MAX && dlen == 32 &&
		    RSA_verify(NID_sha256, digest, (unsigned)dlen, sig,
		    (unsigned)siglen, (RSA *)rsa) == 1;
	}
	return ok;
}

static int
key_val_is(const struct arc_tag *t, const char *s)
{
	return t->vlen == strlen(s) && memcmp(t->val, s, t->vlen) == 0;
}

/* list_has - a colon-separated tag value lists word */
static int
list_has(const struct arc_tag *t, const char *word)
{
	size_t wl = strlen(word);

	for (size_t p = 0; p < t->vlen;) {
		size_t e = p, s, x;

		while (e < t->vlen && t->val[e] != ':')
			e++;
		s = p;
		x = e;
		while (s < x && (t->val[s] == ' ' || t->val[s] == '\t'))
			s++;
		while (x > s && (t->val[x - 1] == ' ' || t->val[x - 1] == '\t'))
			x--;
		if (x - s == wl && memcmp(t->val + s, word, wl) == 0)
			return 1;
		p = e + 1;
	}
	return 0;
}

/* key_decode - the key record text into k (status, why, pk, bits) */
static void
key_decode(struct arc_key *k, const char *txt, enum arc_alg alg,
    unsigned min_bits)
{
	struct arc_tag tags[ARC_MAX_TAGS];
	const struct arc_tag *t;
	unsigned char der[4096];
	const unsigned char *dp = der;
	size_t n;
	long dl;
	int ed = 0;

	k->status = KEY_PERM;
	if (arc_tags_parse(txt, strlen(txt), tags, &n) < 0) {
		str_copy(k->why, "key record malformed", sizeof(k->why));
		return;
	}
	if ((t = arc_tag_find(tags, n, "v")) != NULL &&
	    (t != &tags[0] || !key_val_is(t, "DKIM1"))) {
		str_copy(k->why, "key record v= is not DKIM1", sizeof(k->why));
		return;
	}
	if ((t = arc_tag_find(tags, n, "k")) != NULL) {
		if (key_val_is(t, "ed25519"))
			ed = 1;
		else if (!key_val_is(t, "rsa")) {
			str_copy(k->why, "key type unknown", sizeof(k->why));
			return;
		}
	}
	if ((t = arc_tag_find(tags, n, "h")) != NULL && !list_has(t, "sha256")) {
		str_copy(k->why, "key not for sha256 (h=)", sizeof(k->why));
		return;
	}
	if ((t = arc_tag_find(tags, n, "s")) != NULL && !list_has(t, "*") &&
	    !list_has(t, "email")) {
		str_copy(k->why, "key not for email (s=)", sizeof(k->why));
		return;
	}
	if ((t = arc_tag_find(tags, n, "p")) == NULL) {
		str_copy(k->why, "key record without p=", sizeof(k->why));
		return;
	}
	if (t->vlen == 0) {
		str_copy(k->why, "key revoked", sizeof(k->why));
		return;
	}
	dl = arc_b64_decode(t->val, t->vlen, der, sizeof(der));
	if (dl <= 0) {
		str_copy(k->why, "key p= is not base64", sizeof(k->why));
		return;
	}
	if (ed != (alg == ARC_ALG_ED25519_SHA256)) {
		str_copy(k->why, "key type does not match a=", sizeof(k->why));
		return;
	}
	if (ed) {
		if (dl == 32)
			k->pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
			    der, 32);
	} else {
		/* through lib/dkim's kept keys (dkim_key.c): the same DER is
		 * decoded once per process, not through OpenSSL 3's slow
		 * decoder for every message */
		BIO *bio = BIO_new_mem_buf(der, (int)dl);

		k->pk = bio != NULL ? d2i_PUBKEY_bio(bio, NULL) : NULL;
		BIO_free(bio);
		if (k->pk == NULL) {
			dp = der;
			k->pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &dp, dl);
		}
		if (k->pk != NULL && EVP_PKEY_get_base_id(k->pk) != EVP_PKEY_RSA) {
			EVP_PKEY_free(k->pk);
			k->pk = NULL;
		}
	}
	if (k->pk == NULL) {
		str_copy(k->why, "key p= is not a key", sizeof(k->why));
		return;
	}
	k->bits = (unsigned)EVP_PKEY_get_bits(k->pk);
	if (!ed && k->bits < min_bits) {
		snprintf(k->why, sizeof(k->why), "%u-bit key is too small",
		    k->bits);
		EVP_PKEY_free(k->pk);
		k->pk = NULL;
		return;
	}
	k->status = KEY_OK;
}

/* get_key - the key of s._domainkey.d for a signature of alg; kept for
 * the message (the last one is reused when the cache is full) */
static const struct arc_key *
get_key(struct arc_msg *m, const struct arc_sig *sig,
    const struct timespec *deadline)
{
	char name[sizeof(m->keys[0].name)];
	struct arc_key *k;
	struct dns_answer *a;
	char txt[8192];

	snprintf(name, sizeof(name), "%s._domainkey.%s", sig->s, sig->d);
	for (size_t i = 0; i < m->nkeys; i++)
		if (m->keys[i].alg == sig->alg &&
		    strcmp(m->keys[i].name, name) == 0)
			return &m->keys[i];
	if (m->nkeys < ARC_KEY_CACHE) {
		k = &m->keys[m->nkeys++];
	} else {
		k = &m->keys[ARC_KEY_CACHE - 1];
		EVP_PKEY_free(k->pk);
	}
	memset(k, 0, sizeof(*k));
	str_copy(k->name, name, sizeof(k->name));
	k->alg = sig->alg;
	a = dns_query_until(m->v->dns, name, DNS_T_TXT, deadline);
	if (a->status == DNS_STATUS_TEMPFAIL) {
		k->status = KEY_TEMP;
		snprintf(k->why, sizeof(k->why), "key lookup failed: %.100s", a->why);
	} else if (a->status != DNS_STATUS_OK || a->count == 0) {
		k->status = KEY_PERM;
		str_copy(k->why, "key not found", sizeof(k->why));
	} else if (dns_rr_txt(&a->rr[0], txt, sizeof(txt)) < 0) {
		k->status = KEY_PERM;
		str_copy(k->why, "key record too large", sizeof(k->why));
	} else {
		key_decode(k, txt, sig->alg, m->v->min_rsa_bits);
	}
	dns_answer_free(&a);
	return k;
}

/* verify_ams - the AMS of instance i: KEY_OK when it verifies, else
 * KEY_PERM or KEY_TEMP with why */
static int
verify_ams(struct arc_msg *m, unsigned i, const struct timespec *deadline,
    char *why, size_t whylen)
{
	struct arc_sig *sig = &m->sets[i - 1].ams;
	unsigned char bh[DKV_BH_MAXDIGEST], dg[32];
	const struct arc_key *k;

	if (!sig->ok) {
		str_copy(why, sig->why, whylen);
		return KEY_PERM;
	}
	if (sig->bhash == NULL) {
		str_copy(why, "not checked (too many body hashes)", whylen);
		return KEY_PERM;
	}
	if (dkv_bh_final(sig->bhash, bh, NULL) != 32 || memcmp(bh, sig->bh, 32)) {
		str_copy(why, "body hash mismatch", whylen);
		return KEY_PERM;
	}
	k = get_key(m, sig, deadline);
	if (k->status != KEY_OK) {
		str_copy(why, k->why, whylen);
		return k->status;
	}
	arc_header_digest(m, m->hdrs, m->nhdrs, NULL, sig->h, sig->hcanon,
	    &m->hdrs[sig->hdr], sig->bstart, sig->bend, dg);
	if (!arc_sig_check(m->v->sha256, k->pk, sig->alg, sig->b, sig->blen, dg,
	    32)) {
		str_copy(why, "signature mismatch", whylen);
		return KEY_PERM;
	}
	sig->verified = 1;
	return KEY_OK;
}

/* seal_add - the relaxed AAR, AMS and AS of a set to c; the AS with its
 * b= left out and no CRLF when last */
static void
seal_add(struct arc_msg *m, EVP_MD_CTX *c, const struct arc_set *s, int last)
{
	for (int kind = ARC_AAR; kind >= ARC_AS; kind--) {
		const struct arc_hdr *h = &m->hdrs[s->idx[kind]];
		int cut = last && kind == ARC_AS;

		m->buf.len = 0;
		m->buf.overflow = 0;
		arc_canon_header(&m->buf, ARC_CANON_RELAXED, h->name, h->value,
		    h->vlen, cut ? s->as.bstart : 1, cut ? s->as.bend : 0, !cut);
		EVP_DigestUpdate(c, m->buf.s, m->buf.len);
	}
}

static void
set_result(struct arc_msg *m, enum arc_res r, const char *what,
    unsigned i, const char *why)
{
	m->result = r;
	snprintf(m->reason, sizeof(m->reason), "%s i=%u %.120s", what, i, why);
}

void
arc_verify_chain(struct arc_msg *m, const struct timespec *deadline)
{
	unsigned n = m->n;
	char why[128], tempwhy[160] = "";
	EVP_MD_CTX *run = EVP_MD_CTX_new(), *c = EVP_MD_CTX_new();
	int rc;

	if (run == NULL || c == NULL)
		abort();
	/* step 4: the newest AMS */
	rc = verify_ams(m, n, deadline, why, sizeof(why));
	if (rc == KEY_PERM) {
		set_result(m, ARC_RES_FAIL, "ARC-Message-Signature", n, why);
		goto out;
	}
	if (rc == KEY_TEMP)
		snprintf(tempwhy, sizeof(tempwhy),
		    "ARC-Message-Signature i=%u %s", n, why);
	/* step 6: every seal, the oldest first */
	EVP_DigestInit_ex(run, m->v->sha256, NULL);
	for (unsigned i = 1; i <= n; i++) {
		const struct arc_set *s = &m->sets[i - 1];
		const struct arc_key *k = get_key(m, &s->as, deadline);
		unsigned char dg[32];
		unsigned dl = 0;

		if (k->status == KEY_PERM) {
			set_result(m, ARC_RES_FAIL, "ARC-Seal", i, k->why);
			goto out;
		}
		if (k->status == KEY_OK) {
			EVP_MD_CTX_copy_ex(c, run);
			seal_add(m, c, s, 1);
			EVP_DigestFinal_ex(c, dg, &dl);
			if (!arc_sig_check(m->v->sha256, k->pk, s->as.alg,
			    s->as.b, s->as.blen, dg, dl)) {
				set_result(m, ARC_RES_FAIL, "ARC-Seal", i,
				    "signature mismatch");
				goto out;
			}
		} else if (tempwhy[0] == '\0') {
			snprintf(tempwhy, sizeof(tempwhy), "ARC-Seal i=%u %.120s", i,
			    k->why);
		}
		seal_add(m, run, s, 0);
	}
	if (tempwhy[0] != '\0') {
		m->result = ARC_RES_TEMPERROR;
		str_copy(m->reason, tempwhy, sizeof(m->reason));
		goto out;
	}
	m->result = ARC_RES_PASS;
	/* step 5: the oldest AMS that still validates, walking down while
	 * they do */
	m->oldest_pass = 0;
	for (unsigned i = n - 1; i >= 1; i--) {
		if (verify_ams(m, i, deadline, why, sizeof(why)) != KEY_OK) {
			m->oldest_pass = i + 1;
			break;
		}
	}
out:
	EVP_MD_CTX_free(run);
	EVP_MD_CTX_free(c);
}
