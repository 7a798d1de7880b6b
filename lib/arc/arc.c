/*
 * arc.c - ARC messages: the header fields kept, the ARC sets collected
 * and parsed, the chain's structure checked at end of headers (RFC 8617
 * 5.2 steps 1 to 3), body hashers made only for what will be verified or
 * sealed, and the result handed out at end of message.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arc_impl.h"
#include "dkim_key.h"
#include "dname.h"

static const char *const kind_name[3] = {
	"ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results",
};

const char *
arc_res_name(enum arc_res r)
{
	switch (r) {
	case ARC_RES_NONE:
		return "none";
	case ARC_RES_PASS:
		return "pass";
	case ARC_RES_FAIL:
		return "fail";
	case ARC_RES_TEMPERROR:
		return "temperror";
	case ARC_RES_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

struct arc_verifier *
arc_verifier_new(struct dns_resolver *dns, const struct arc_opts *o,
    char *err, size_t errlen)
{
	struct arc_verifier *v = xcalloc(1, sizeof(*v));

	v->dns = dns;
	v->min_rsa_bits = o != NULL && o->min_rsa_bits > 0 ? o->min_rsa_bits :
	    1024;
	v->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	v->algs = dkv_bh_algs_new();
	dkv_key_cache_enable(); /* RSA keys decoded once per process */
	if (v->sha256 == NULL || v->algs == NULL) {
		snprintf(err, errlen, "arc: OpenSSL has no SHA-256");
		arc_verifier_free(&v);
		return NULL;
	}
	return v;
}

void
arc_verifier_free(struct arc_verifier **vp)
{
	struct arc_verifier *v = *vp;

	if (v == NULL)
		return;
	EVP_MD_free(v->sha256);
	dkv_bh_algs_free(&v->algs);
	free(v);
	*vp = NULL;
}

struct arc_msg *
arc_msg_new(struct arc_verifier *v)
{
	struct arc_msg *m = xcalloc(1, sizeof(*m));

	m->v = v;
	m->arena = arena_new();
	dynbuf_init(&m->buf, SIZE_MAX / 4);
	return m;
}

void
arc_msg_free(struct arc_msg **mp)
{
	struct arc_msg *m = *mp;

	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nhashers; i++)
		dkv_bh_free(&m->hashers[i]);
	for (size_t i = 0; i < m->nkeys; i++)
		EVP_PKEY_free(m->keys[i].pk);
	dynbuf_free(&m->buf);
	arena_free(&m->arena);
	free(m);
	*mp = NULL;
}

void
arc_msg_header(struct arc_msg *m, const char *name, const char *value)
{
	struct arc_hdr *h;
	int kind = -1;

	if (m->eoh || name == NULL)
		return;
	if (value == NULL)
		value = "";
	if ((name[0] == 'A' || name[0] == 'a') && (name[1] == 'R' ||
	    name[1] == 'r')) {
		for (int k = 0; k < 3; k++)
			if (arc_name_is(name, kind_name[k]))
				kind = k;
	}
	m->hdrs = arena_grow(m->arena, m->hdrs, m->nhdrs, &m->caphdrs,
	    sizeof(*m->hdrs), 32);
	h = &m->hdrs[m->nhdrs];
	h->name = arena_strdup(m->arena, name);
	h->vlen = strlen(value);
	h->value = arena_strndup(m->arena, value, h->vlen);
	if (kind >= 0) {
		if (m->narc == ARC_MAX_HEADERS) {
			m->too_many = 1;
		} else {
			m->arc_idx[m->narc] = m->nhdrs;
			m->arc_kind[m->narc++] = (unsigned char)kind;
		}
	}
	m->nhdrs++;
}

void
arc_msg_want_seal(struct arc_msg *m)
{
	if (!m->eoh)
		m->want_seal = 1;
}

static int __attribute__((format(printf, 2, 3)))
chain_fail(struct arc_msg *m, const char *fmt, ...)
{
	va_list ap;

	m->decided = 1;
	m->result = ARC_RES_FAIL;
	va_start(ap, fmt);
	vsnprintf(m->reason, sizeof(m->reason), fmt, ap);
	va_end(ap);
	return -1;
}

static int
val_is(const struct arc_tag *t, const char *s)
{
	return t != NULL && t->vlen == strlen(s) && memcmp(t->val, s, t->vlen) == 0;
}

/* parse_num - a decimal i= value of 1 to 9 digits, or -1 */
static long
parse_num(const char *s, size_t len)
{
	long v = 0;

	if (len == 0 || len > 9)
		return -1;
	for (size_t k = 0; k < len; k++) {
		if (s[k] < '0' || s[k] > '9')
			return -1;
		v = v * 10 + (s[k] - '0');
	}
	return v;
}

static int
fws(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* aar_instance - "i=N;" at the start of an AAR value: N, the rest after
 * the ';' in *rest; -1 when it is not there */
static long
aar_instance(const char *v, const char **rest)
{
	const char *p = v, *ds;
	long n;

	while (fws((unsigned char)*p))
		p++;
	if (*p != 'i' && *p != 'I')
		return -1;
	p++;
	while (fws((unsigned char)*p))
		p++;
	if (*p++ != '=')
		return -1;
	while (fws((unsigned char)*p))
		p++;
	ds = p;
	while (*p >= '0' && *p <= '9')
		p++;
	n = parse_num(ds, (size_t)(p - ds));
	while (fws((unsigned char)*p))
		p++;
	if (n < 0 || *p != ';')
		return -1;
	p++;
	while (fws((unsigned char)*p))
		p++;
	*rest = p;
	return n;
}

/* field_instance - the i= of the ARC field at arc index k: 1..50, or 0
 * with the chain failed */
static unsigned
field_instance(struct arc_msg *m, size_t k, const char **aar)
{
	const struct arc_hdr *h = &m->hdrs[m->arc_idx[k]];
	int kind = m->arc_kind[k];
	long i;

	if (kind == ARC_AAR) {
		i = aar_instance(h->value, aar);
		if (i < 0)
			return chain_fail(m, "%s without a leading i=N;",
			    kind_name[kind]), 0;
	} else {
		struct arc_tag tags[ARC_MAX_TAGS];
		const struct arc_tag *t;
		size_t n;

		if (arc_tags_parse(h->value, h->vlen, tags, &n) < 0)
			return chain_fail(m, "%s: malformed tag list",
			    kind_name[kind]), 0;
		if ((t = arc_tag_find(tags, n, "i")) == NULL)
			return chain_fail(m, "%s without i=", kind_name[kind]), 0;
		if ((i = parse_num(t->val, t->vlen)) < 0)
			return chain_fail(m, "%s i= is not a number",
			    kind_name[kind]), 0;
	}
	if (i < 1 || i > ARC_MAX_INSTANCES)
		return chain_fail(m, "%s i=%ld out of range (1 to %d)",
		    kind_name[kind], i, ARC_MAX_INSTANCES), 0;
	return (unsigned)i;
}

/* find_hasher - a body hasher with these parameters, made when there is
 * room; NULL otherwise */
static struct dkv_bh *
find_hasher(struct arc_msg *m, int canon, long long l)
{
	enum dkv_bh_canon c = canon == ARC_CANON_RELAXED ? DKV_BH_RELAXED :
	    DKV_BH_SIMPLE;

	for (size_t k = 0; k < m->nhashers; k++)
		if (dkv_bh_same(m->hashers[k], c, DKV_BH_SHA256, l))
			return m->hashers[k];
	if (m->nhashers == ARC_MAX_HASHERS)
		return NULL;
	m->hashers[m->nhashers] = dkv_bh_new(m->v->algs, c, DKV_BH_SHA256, l);
	return m->hashers[m->nhashers++];
}

/* structure - RFC 8617 5.2 steps 1 to 3 and the parse of every AS and of
 * the newest AMS; 0, or -1 with the chain failed */
static int
structure(struct arc_msg *m)
{
	unsigned inst[ARC_MAX_HEADERS], n = 0;
	const char *aar[ARC_MAX_HEADERS];

	if (m->too_many)
		return chain_fail(m, "more than %d ARC header fields",
		    ARC_MAX_HEADERS);
	for (size_t k = 0; k < m->narc; k++) {
		aar[k] = NULL;
		if ((inst[k] = field_instance(m, k, &aar[k])) == 0)
			return -1;
		if (inst[k] > n)
			n = inst[k];
	}
	m->n = n;
	m->sets = arena_alloc(m->arena, n * sizeof(*m->sets));
	for (size_t k = 0; k < m->narc; k++) {
		struct arc_set *s = &m->sets[inst[k] - 1];
		int kind = m->arc_kind[k];

		if (s->have[kind]++ == 0) {
			s->idx[kind] = m->arc_idx[k];
			if (kind == ARC_AAR)
				s->aar = aar[k];
		}
	}
	/* step 2: the newest seal says the chain failed already */
	if (m->sets[n - 1].have[ARC_AS] > 0) {
		const struct arc_hdr *h = &m->hdrs[m->sets[n - 1].idx[ARC_AS]];
		struct arc_tag tags[ARC_MAX_TAGS];
		size_t nt;

		if (arc_tags_parse(h->value, h->vlen, tags, &nt) == 0 &&
		    val_is(arc_tag_find(tags, nt, "cv"), "fail")) {
			m->newest_cv_fail = 1;
			return chain_fail(m, "ARC-Seal i=%u cv=fail", n);
		}
	}
	/* step 3: one of each per instance, 1..N */
	for (unsigned i = 1; i <= n; i++) {
		struct arc_set *s = &m->sets[i - 1];

		for (int kind = 0; kind < 3; kind++) {
			if (s->have[kind] > 1)
				return chain_fail(m, "duplicate %s i=%u",
				    kind_name[kind], i);
			if (s->have[kind] == 0)
				return chain_fail(m, "ARC set i=%u lacks %s", i,
				    kind_name[kind]);
		}
	}
	for (unsigned i = 1; i <= n; i++) {
		struct arc_sig *as = &m->sets[i - 1].as;

		arc_parse_sig(m, ARC_AS, i, as);
		if (!as->ok)
			return chain_fail(m, "ARC-Seal i=%u %s", i, as->why);
		if (i == 1 && as->cv != ARC_RES_NONE)
			return chain_fail(m, "ARC-Seal i=1 cv=%s (must be none)",
			    arc_res_name(as->cv));
		if (i > 1 && as->cv != ARC_RES_PASS)
			return chain_fail(m, "ARC-Seal i=%u cv=%s (must be pass)",
			    i, arc_res_name(as->cv));
	}
	for (unsigned i = n; i >= 1; i--) {
		struct arc_sig *ams = &m->sets[i - 1].ams;

		arc_parse_sig(m, ARC_AMS, i, ams);
		if (i == n && !ams->ok)
			return chain_fail(m, "ARC-Message-Signature i=%u %s", i,
			    ams->why);
	}
	return 0;
}

void
arc_msg_eoh(struct arc_msg *m)
{
	if (m->eoh)
		return;
	m->eoh = 1;
	if (m->want_seal)
		m->seal_bh = find_hasher(m, ARC_CANON_RELAXED, -1);
	if (m->narc == 0 && !m->too_many) {
		m->decided = 1;
		m->result = ARC_RES_NONE;
		return;
	}
	if (structure(m) < 0)
		return;
	/* the newest AMS's hasher first: it is always needed; the older
	 * ones' as long as there is room (for oldest-pass only) */
	for (unsigned i = m->n; i >= 1; i--) {
		struct arc_sig *ams = &m->sets[i - 1].ams;

		if (ams->ok)
			ams->bhash = find_hasher(m, ams->bcanon, ams->l);
	}
}

void
arc_msg_body(struct arc_msg *m, const unsigned char *p, size_t n)
{
	if (!m->eoh)
		arc_msg_eoh(m);
	for (size_t k = 0; k < m->nhashers; k++)
		dkv_bh_update(m->hashers[k], p, n);
}

enum arc_res
arc_msg_eom(struct arc_msg *m, const struct timespec *deadline,
    struct arc_result *out)
{
	if (!m->eoh)
		arc_msg_eoh(m);
	if (!m->eom) {
		m->eom = 1;
		if (!m->decided)
			arc_verify_chain(m, deadline);
	}
	if (out == NULL)
		return m->result;
	memset(out, 0, sizeof(*out));
	out->result = m->result;
	out->n = m->n;
	out->oldest_pass = m->oldest_pass;
	str_copy(out->reason, m->reason, sizeof(out->reason));
	for (unsigned i = 1; m->sets != NULL && i <= m->n; i++) {
		const struct arc_set *s = &m->sets[i - 1];
		struct arc_instance *o = &out->inst[i - 1];

		o->i = i;
		o->cv = s->as.cv;
		str_copy(o->seal_domain, s->as.d, sizeof(o->seal_domain));
		str_copy(o->seal_selector, s->as.s, sizeof(o->seal_selector));
		o->ams_valid = s->ams.verified;
		o->aar = s->aar;
	}
	return m->result;
}

/* copy_dname - a d= value: a host name, lowercased; 0 or -1 */
static int
copy_dname(const struct arc_tag *t, char *out, size_t outlen)
{
	char tmp[DNAME_BUFSIZE];

	if (t == NULL || t->vlen == 0 || t->vlen >= sizeof(tmp))
		return -1;
	memcpy(tmp, t->val, t->vlen);
	tmp[t->vlen] = '\0';
	if (!dname_host_valid(tmp, 0) || dname_norm(tmp, out, outlen) < 0)
		return -1;
	return 0;
}

/* digits - a t=/l= value: 1 to 12 digits into *v; 0 or -1 */
static int
digits(const struct arc_tag *t, long long *v)
{
	*v = 0;
	if (t->vlen == 0 || t->vlen > 12)
		return -1;
	for (size_t k = 0; k < t->vlen; k++) {
		if (t->val[k] < '0' || t->val[k] > '9')
			return -1;
		*v = *v * 10 + (t->val[k] - '0');
	}
	return 0;
}

#define SIG_BAD(...) do { \
		snprintf(sig->why, sizeof(sig->why), __VA_ARGS__); \
		return; \
	} while (0)

void
arc_parse_sig(struct arc_msg *m, enum arc_kind kind, unsigned i,
    struct arc_sig *sig)
{
	const struct arc_hdr *h = &m->hdrs[m->sets[i - 1].idx[kind]];
	struct arc_tag tags[ARC_MAX_TAGS];
	const struct arc_tag *t;
	size_t n;
	long long num;
	long bl;

	memset(sig, 0, sizeof(*sig));
	sig->hdr = m->sets[i - 1].idx[kind];
	sig->l = -1;
	sig->cv = ARC_RES_NONE;
	if (arc_tags_parse(h->value, h->vlen, tags, &n) < 0)
		SIG_BAD("malformed tag list");
	t = arc_tag_find(tags, n, "a");
	if (t == NULL)
		SIG_BAD("without a=");
	if (val_is(t, "rsa-sha256"))
		sig->alg = ARC_ALG_RSA_SHA256;
	else if (val_is(t, "ed25519-sha256"))
		sig->alg = ARC_ALG_ED25519_SHA256;
	else
		SIG_BAD("a= is not rsa-sha256 or ed25519-sha256");
	if ((t = arc_tag_find(tags, n, "b")) == NULL)
		SIG_BAD("without b=");
	sig->bstart = t->vstart;
	sig->bend = t->vend;
	sig->b = arena_alloc(m->arena, t->vlen / 4 * 3 + 4);
	bl = arc_b64_decode(t->val, t->vlen, sig->b, t->vlen / 4 * 3 + 4);
	if (bl <= 0)
		SIG_BAD("b= is not a signature in base64");
	sig->blen = (size_t)bl;
	if (copy_dname(arc_tag_find(tags, n, "d"), sig->d, sizeof(sig->d)) < 0)
		SIG_BAD("without a valid d=");
	t = arc_tag_find(tags, n, "s");
	if (t == NULL || t->vlen == 0 || t->vlen >= sizeof(sig->s) ||
	    memchr(t->val, ' ', t->vlen) != NULL)
		SIG_BAD("without a valid s=");
	memcpy(sig->s, t->val, t->vlen);
	sig->s[t->vlen] = '\0';
	if (!dname_host_valid(sig->s, 0))
		SIG_BAD("without a valid s=");
	if ((t = arc_tag_find(tags, n, "t")) != NULL && digits(t, &num) < 0)
		SIG_BAD("t= is not a timestamp");
	if (kind == ARC_AS) {
		if (arc_tag_find(tags, n, "h") != NULL)
			SIG_BAD("has h= (not allowed in an ARC-Seal)");
		t = arc_tag_find(tags, n, "cv");
		if (t == NULL)
			SIG_BAD("without cv=");
		if (t->vlen == 4 && strncasecmp(t->val, "none", 4) == 0)
			sig->cv = ARC_RES_NONE;
		else if (t->vlen == 4 && strncasecmp(t->val, "pass", 4) == 0)
			sig->cv = ARC_RES_PASS;
		else if (t->vlen == 4 && strncasecmp(t->val, "fail", 4) == 0)
			sig->cv = ARC_RES_FAIL;
		else
			SIG_BAD("cv= is not none, pass or fail");
		sig->ok = 1;
		return;
	}
	if ((t = arc_tag_find(tags, n, "bh")) == NULL)
		SIG_BAD("without bh=");
	bl = arc_b64_decode(t->val, t->vlen, sig->bh, sizeof(sig->bh));
	if (bl != 32)
		SIG_BAD("bh= is not a SHA-256 digest in base64");
	sig->bhlen = 32;
	if ((t = arc_tag_find(tags, n, "c")) != NULL) {
		const char *slash = memchr(t->val, '/', t->vlen);
		size_t hl = slash ? (size_t)(slash - t->val) : t->vlen;
		struct arc_tag b = *t;

		b.vlen = hl;
		if (val_is(&b, "relaxed"))
			sig->hcanon = ARC_CANON_RELAXED;
		else if (!val_is(&b, "simple"))
			SIG_BAD("c= is not simple or relaxed");
		if (slash != NULL) {
			b.val = slash + 1;
			b.vlen = t->vlen - hl - 1;
			if (val_is(&b, "relaxed"))
				sig->bcanon = ARC_CANON_RELAXED;
			else if (!val_is(&b, "simple"))
				SIG_BAD("c= is not simple or relaxed");
		}
	}
	if ((t = arc_tag_find(tags, n, "l")) != NULL) {
		if (digits(t, &num) < 0)
			SIG_BAD("l= is not a number");
		sig->l = num;
	}
	if ((t = arc_tag_find(tags, n, "h")) == NULL)
		SIG_BAD("without h=");
	sig->h = arena_strndup(m->arena, t->val, t->vlen);
	{
		size_t count = 0;

		for (const char *p = sig->h; *p != '\0'; p++)
			count += *p == ':';
		if (count > 512)
			SIG_BAD("h= lists too many fields");
		for (const char *p = sig->h; *p != '\0';) {
			const char *e = strchr(p, ':'), *s = p, *x;

			x = e != NULL ? e : p + strlen(p);
			while (s < x && (*s == ' ' || *s == '\t' || *s == '\r' ||
			    *s == '\n'))
				s++;
			while (x > s && (x[-1] == ' ' || x[-1] == '\t' ||
			    x[-1] == '\r' || x[-1] == '\n'))
				x--;
			if (str_word_is(s, (size_t)(x - s), "arc-seal"))
				SIG_BAD("signs ARC-Seal (h=)");
			p = e != NULL ? e + 1 : x + strlen(x);
		}
	}
	sig->ok = 1;
}
