/*
 * arc_seal.c - sealing (RFC 8617 5.1): the ARC-Authentication-Results,
 * ARC-Message-Signature and ARC-Seal of instance N+1, with the cv= of
 * the message's validation. Tags in the order the ValiMail signing suite
 * writes them; each field folded at spaces below 78 columns, b= on a line
 * of its own. What is signed is the relaxed canonical form of the very
 * text handed out, with b= empty.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "arc_impl.h"
#include "dname.h"

#define FOLD_WIDTH 78
#define B64_LINE 72

struct arc_sealer {
	char domain[DNAME_BUFSIZE];
	char selector[64];
	EVP_PKEY *pk;
	enum arc_alg alg;
};

/* no_pass - never ask for a passphrase (a daemon has no terminal) */
static int
no_pass(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

struct arc_sealer *
arc_sealer_new(const char *domain, const char *selector, const char *key_file,
    char *err, size_t errlen)
{
	struct arc_sealer *s;
	EVP_PKEY *pk;
	FILE *f;
	int id;

	if (key_file == NULL || key_file[0] == '\0') {
		snprintf(err, errlen, "arc: no key file");
		return NULL;
	}
	if ((f = fopen(key_file, "r")) == NULL) {
		snprintf(err, errlen, "arc: cannot read key file %s: %s", key_file,
		    strerror(errno));
		return NULL;
	}
	pk = PEM_read_PrivateKey(f, NULL, no_pass, NULL);
	fclose(f);
	if (pk == NULL) {
		snprintf(err, errlen, "arc: key file %s: not a PEM private key "
		    "(or encrypted)", key_file);
		return NULL;
	}
	id = EVP_PKEY_get_base_id(pk);
	if (id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519) {
		snprintf(err, errlen, "arc: key file %s: not an RSA or Ed25519 key",
		    key_file);
		EVP_PKEY_free(pk);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->pk = pk;
	s->alg = id == EVP_PKEY_RSA ? ARC_ALG_RSA_SHA256 : ARC_ALG_ED25519_SHA256;
	if (domain == NULL || !dname_host_valid(domain, 0) ||
	    dname_norm(domain, s->domain, sizeof(s->domain)) < 0) {
		snprintf(err, errlen, "arc: seal domain \"%s\" is not a domain name",
		    domain ? domain : "");
		arc_sealer_free(&s);
		return NULL;
	}
	if (selector == NULL || !dname_host_valid(selector, 0) ||
	    str_copy(s->selector, selector, sizeof(s->selector)) >=
	    sizeof(s->selector)) {
		snprintf(err, errlen, "arc: seal selector \"%s\" is not valid",
		    selector ? selector : "");
		arc_sealer_free(&s);
		return NULL;
	}
	return s;
}

void
arc_sealer_free(struct arc_sealer **sp)
{
	struct arc_sealer *s = *sp;

	if (s == NULL)
		return;
	EVP_PKEY_free(s->pk);
	free(s);
	*sp = NULL;
}

/* fold - "name:" and the words (separated by one space), a word moved to
 * a new line (CRLF TAB) when the line would pass FOLD_WIDTH; a word
 * starting "b=" longer than a line gets a line of its own and is broken
 * every B64_LINE characters */
static void
fold(struct dynbuf *out, const char *name, const char *const *words,
    size_t n)
{
	size_t col = strlen(name) + 1;

	dynbuf_puts(out, name);
	dynbuf_puts(out, ":");
	for (size_t i = 0; i < n; i++) {
		size_t wl = strlen(words[i]);

		if (wl > 2 && strncmp(words[i], "b=", 2) == 0 &&
		    col + 1 + wl > FOLD_WIDTH) {
			dynbuf_puts(out, "\r\n\t");
			for (size_t o = 0; o < wl; o += B64_LINE) {
				if (o > 0)
					dynbuf_puts(out, "\r\n\t");
				dynbuf_append(out, words[i] + o,
				    wl - o < B64_LINE ? wl - o : B64_LINE);
				col = 8 + (wl - o < B64_LINE ? wl - o : B64_LINE);
			}
			continue;
		}
		/* never a fold right before i=: dkimpy (1.1.4) finds an
		 * instance's fields by the bytes " i=N;" */
		size_t need = wl;

		if (i + 1 < n && strncmp(words[i + 1], "i=", 2) == 0)
			need += 1 + strlen(words[i + 1]);
		if (strncmp(words[i], "i=", 2) != 0 &&
		    col + 1 + need > FOLD_WIDTH && col > strlen(name) + 2) {
			dynbuf_puts(out, "\r\n\t");
			col = 8;
		} else {
			dynbuf_puts(out, " ");
			col++;
		}
		dynbuf_append(out, words[i], wl);
		col += wl;
	}
}

/* fold_text - fold a text at its spaces (runs of whitespace become one) */
static void
fold_text(struct dynbuf *out, const char *name, const char *text)
{
	char *copy = xstrdup(text), **words, *p = copy;
	size_t n = 0;

	words = xcalloc(strlen(text) / 2 + 1, sizeof(*words));
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			*p++ = '\0';
		if (*p == '\0')
			break;
		words[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r' &&
		    *p != '\n')
			p++;
	}
	fold(out, name, (const char *const *)words, n);
	free(words);
	free(copy);
}

static void
b64(const unsigned char *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* sign - the signature of digest into sig (base64); 0 or -1 */
static int
sign(const EVP_MD *md, const struct arc_sealer *s, const unsigned char *dg,
    char *out, size_t outlen)
{
	unsigned char sig[1024];
	size_t sl = sizeof(sig);
	int ok = 0;

	if (s->alg == ARC_ALG_ED25519_SHA256) {
		EVP_MD_CTX *c = EVP_MD_CTX_new();

		ok = c != NULL && EVP_DigestSignInit(c, NULL, NULL, NULL, s->pk) == 1 &&
		    EVP_DigestSign(c, sig, &sl, dg, 32) == 1;
		EVP_MD_CTX_free(c);
	} else {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(s->pk, NULL);

		ok = c != NULL && EVP_PKEY_sign_init(c) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(c, md) == 1 &&
		    EVP_PKEY_sign(c, sig, &sl, dg, 32) == 1;
		EVP_PKEY_CTX_free(c);
	}
	if (!ok || 4 * ((sl + 2) / 3) + 1 > outlen)
		return -1;
	b64(sig, sl, out);
	return 0;
}

/* default_h - the default signed fields present in the message */
static char *
default_h(const struct arc_msg *m)
{
	static const char *const names[] = {
		"from", "to", "cc", "subject", "date", "message-id", "reply-to",
		"in-reply-to", "references", "mime-version", "content-type",
		"content-transfer-encoding", "list-id",
	};
	struct dynbuf h;

	dynbuf_init(&h, 64 * 1024);
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
		for (size_t i = 0; i < m->nhdrs && i < 1000; i++)
			if (arc_name_is(m->hdrs[i].name, names[k])) {
				if (h.len > 0)
					dynbuf_puts(&h, ":");
				dynbuf_puts(&h, names[k]);
			}
	return dynbuf_take(&h);
}

/* h_ok - a sig_headers list: field names and colons, no ARC-Seal */
static int
h_ok(const char *h)
{
	for (const char *p = h; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f ||
		    *p == ';')
			return 0;
	for (const char *p = h; *p != '\0';) {
		const char *e = strchr(p, ':');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (str_word_is(p, l, "arc-seal"))
			return 0;
		p += l + (e != NULL);
	}
	return 1;
}

static void
add_canon(struct arc_msg *m, EVP_MD_CTX *c, const char *name,
    const char *value, int crlf)
{
	m->buf.len = 0;
	m->buf.overflow = 0;
	arc_canon_header(&m->buf, ARC_CANON_RELAXED, name, value, strlen(value),
	    1, 0, crlf);
	EVP_DigestUpdate(c, m->buf.s, m->buf.len);
}

#define SEAL_FAIL(...) do { \
		snprintf(err, errlen, __VA_ARGS__); \
		goto fail; \
	} while (0)

int
arc_msg_seal(struct arc_msg *m, const struct arc_sealer *s,
    const char *authserv_id, const char *aar, const char *sig_headers,
    time_t t, char *out[3], char *err, size_t errlen)
{
	static const char *const nm[3] = { "ARC-Seal", "ARC-Message-Signature",
		"ARC-Authentication-Results" };
	const char *alg;
	const char *cv;
	unsigned i;
	char *h = NULL, *aartext = NULL, bhs[64], ts[32], sig[1400], *bw = NULL;
	char *hw = NULL;
	char tag[9][DNAME_BUFSIZE + 16];
	const char *w[9];
	unsigned char bh[DKV_BH_MAXDIGEST], dg[32];
	struct dynbuf ams, as, aarf;
	struct arc_hdr self, newaar;
	EVP_MD_CTX *c = NULL;
	unsigned dl;
	int rc = -1;

	out[0] = out[1] = out[2] = NULL;
	dynbuf_init(&ams, 1 << 20);
	dynbuf_init(&as, 1 << 20);
	dynbuf_init(&aarf, 1 << 20);
	if (s == NULL)
		SEAL_FAIL("arc: no sealer");
	if (!m->eom)
		SEAL_FAIL("arc: arc_msg_seal before arc_msg_eom");
	if (m->seal_bh == NULL)
		SEAL_FAIL("arc: arc_msg_want_seal was not called before the end "
		    "of headers");
	if (authserv_id == NULL || authserv_id[0] == '\0' ||
	    strpbrk(authserv_id, " \t\r\n;") != NULL)
		SEAL_FAIL("arc: authserv-id \"%s\" is not one word",
		    authserv_id ? authserv_id : "");
	if (sig_headers != NULL && !h_ok(sig_headers))
		SEAL_FAIL("arc: signed header list \"%s\" is not valid",
		    sig_headers);
	if (m->newest_cv_fail) {
		snprintf(err, errlen, "not sealed: the newest ARC set says cv=fail");
		goto done;
	}
	if (m->result == ARC_RES_TEMPERROR) {
		snprintf(err, errlen, "not sealed: chain validation temperror (%s)",
		    m->reason);
		goto done;
	}
	i = m->n + 1;
	if (i > ARC_MAX_INSTANCES) {
		snprintf(err, errlen, "not sealed: %d ARC sets already",
		    ARC_MAX_INSTANCES);
		goto done;
	}
	cv = m->result == ARC_RES_PASS ? "pass" : m->result == ARC_RES_NONE &&
	    m->n == 0 ? "none" : "fail";
	alg = s->alg == ARC_ALG_RSA_SHA256 ? "rsa-sha256" : "ed25519-sha256";
	snprintf(ts, sizeof(ts), "%lld", (long long)t);

	/* ARC-Authentication-Results */
	aartext = xasprintf("i=%u; %s; %s", i, authserv_id,
	    aar != NULL && strspn(aar, " \t\r\n") < strlen(aar) ? aar : "none");
	fold_text(&aarf, nm[2], aartext);
	newaar.name = (char *)nm[2];
	newaar.value = aarf.s + strlen(nm[2]) + 1;
	newaar.vlen = strlen(newaar.value);

	/* ARC-Message-Signature, b= empty, then signed */
	h = sig_headers != NULL ? xstrdup(sig_headers) : default_h(m);
	dkv_bh_final(m->seal_bh, bh, NULL);
	b64(bh, 32, bhs);
	snprintf(tag[0], sizeof(tag[0]), "a=%s;", alg);
	snprintf(tag[2], sizeof(tag[2]), "bh=%s;", bhs);
	snprintf(tag[3], sizeof(tag[3]), "c=relaxed/relaxed;");
	snprintf(tag[4], sizeof(tag[4]), "d=%s;", s->domain);
	snprintf(tag[6], sizeof(tag[6]), "i=%u;", i);
	snprintf(tag[7], sizeof(tag[7]), "s=%s;", s->selector);
	snprintf(tag[8], sizeof(tag[8]), "t=%s", ts);
	hw = xasprintf("h=%s;", h);
	w[0] = tag[0];
	w[1] = "b=;";
	w[2] = tag[2];
	w[3] = tag[3];
	w[4] = tag[4];
	w[5] = hw;
	w[6] = tag[6];
	w[7] = tag[7];
	w[8] = tag[8];
	fold(&ams, nm[1], w, 9);
	self.name = (char *)nm[1];
	self.value = ams.s + strlen(nm[1]) + 1;
	self.vlen = strlen(self.value);
	arc_header_digest(m, m->hdrs, m->nhdrs, &newaar, h, ARC_CANON_RELAXED,
	    &self, 1, 0, dg);
	if (sign(m->v->sha256, s, dg, sig, sizeof(sig)) < 0)
		SEAL_FAIL("arc: signing failed");
	bw = xasprintf("b=%s;", sig);
	w[1] = bw;
	ams.len = 0;
	fold(&ams, nm[1], w, 9);
	free(bw);
	bw = NULL;

	/* ARC-Seal over the sets (only its own one when cv=fail, 5.1.2) */
	snprintf(tag[2], sizeof(tag[2]), "cv=%s;", cv);
	w[0] = tag[0];
	w[1] = "b=;";
	w[2] = tag[2];
	w[3] = tag[4];
	w[4] = tag[6];
	w[5] = tag[7];
	w[6] = tag[8];
	fold(&as, nm[0], w, 7);
	if ((c = EVP_MD_CTX_new()) == NULL)
		abort();
	EVP_DigestInit_ex(c, m->v->sha256, NULL);
	if (strcmp(cv, "pass") == 0) {
		for (unsigned k = 1; k < i; k++) {
			const struct arc_set *set = &m->sets[k - 1];

			for (int kind = ARC_AAR; kind >= ARC_AS; kind--) {
				const struct arc_hdr *f = &m->hdrs[set->idx[kind]];

				add_canon(m, c, f->name, f->value, 1);
			}
		}
	}
	add_canon(m, c, nm[2], newaar.value, 1);
	add_canon(m, c, nm[1], ams.s + strlen(nm[1]) + 1, 1);
	add_canon(m, c, nm[0], as.s + strlen(nm[0]) + 1, 0);
	EVP_DigestFinal_ex(c, dg, &dl);
	if (sign(m->v->sha256, s, dg, sig, sizeof(sig)) < 0)
		SEAL_FAIL("arc: signing failed");
	bw = xasprintf("b=%s;", sig);
	w[1] = bw;
	as.len = 0;
	fold(&as, nm[0], w, 7);

	out[0] = dynbuf_take(&as);
	out[1] = dynbuf_take(&ams);
	out[2] = dynbuf_take(&aarf);
	if (errlen > 0)
		err[0] = '\0';
done:
	rc = 0;
fail:
	EVP_MD_CTX_free(c);
	free(h);
	free(hw);
	free(aartext);
	free(bw);
	dynbuf_free(&ams);
	dynbuf_free(&as);
	dynbuf_free(&aarf);
	return rc;
}
