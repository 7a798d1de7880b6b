/*
 * arc_canon.c - the text layer of ARC: DKIM tag lists (RFC 6376 3.2),
 * base64, header canonicalization (simple and relaxed, RFC 6376 3.4.1,
 * 3.4.2) and the AMS's header hash (h= selected bottom-up, 5.4.2).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arc_impl.h"

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* FWS as it reaches us: WSP, and CR/LF of a fold */
static int
is_fws(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

int
arc_tags_parse(const char *s, size_t len, struct arc_tag *tags, size_t *n)
{
	size_t p = 0;

	*n = 0;
	for (;;) {
		struct arc_tag *t;
		size_t e;

		while (p < len && is_fws((unsigned char)s[p]))
			p++;
		if (p == len)
			return 0; /* empty list, or after a final ';' */
		if (!is_alpha((unsigned char)s[p]))
			return -1; /* ";;", "==", ... */
		if (*n == ARC_MAX_TAGS)
			return -1;
		t = &tags[*n];
		t->name = s + p;
		while (p < len && (is_alpha((unsigned char)s[p]) ||
		    is_digit((unsigned char)s[p]) || s[p] == '_'))
			p++;
		t->nlen = (size_t)(s + p - t->name);
		while (p < len && is_fws((unsigned char)s[p]))
			p++;
		if (p == len || s[p] != '=')
			return -1;
		p++;
		t->vstart = p;
		while (p < len && is_fws((unsigned char)s[p]))
			p++;
		t->val = s + p;
		while (p < len && s[p] != ';') {
			unsigned char c = (unsigned char)s[p];

			if (c < 0x20 && !is_fws(c))
				return -1;
			if (c == 0x7f)
				return -1;
			p++;
		}
		t->vend = p;
		e = p;
		while (e > (size_t)(t->val - s) && is_fws((unsigned char)s[e - 1]))
			e--;
		t->vlen = e - (size_t)(t->val - s);
		for (size_t k = 0; k < *n; k++)
			if (tags[k].nlen == t->nlen &&
			    memcmp(tags[k].name, t->name, t->nlen) == 0)
				return -1; /* tags are not de-duplicated */
		(*n)++;
		if (p == len)
			return 0;
		p++; /* the ';' */
	}
}

const struct arc_tag *
arc_tag_find(const struct arc_tag *tags, size_t n, const char *name)
{
	size_t l = strlen(name);

	for (size_t i = 0; i < n; i++)
		if (tags[i].nlen == l && memcmp(tags[i].name, name, l) == 0)
			return &tags[i];
	return NULL;
}

static int
b64_val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
arc_b64_decode(const char *s, size_t len, unsigned char *out, size_t outlen)
{
	uint32_t acc = 0;
	size_t o = 0, nchar = 0, pad = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i], v;

		if (is_fws(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = b64_val(c)) < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		nchar++;
		if (nchar % 4 == 0) {
			if (o + 3 > outlen)
				return -1;
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			acc = 0;
		}
	}
	if (pad > 2 || (nchar + pad) % 4 != 0)
		return -1;
	switch (nchar % 4) {
	case 0:
		if (pad != 0)
			return -1;
		break;
	case 2:
		if (o + 1 > outlen)
			return -1;
		out[o++] = (unsigned char)(acc >> 4);
		break;
	case 3:
		if (o + 2 > outlen)
			return -1;
		out[o++] = (unsigned char)(acc >> 10);
		out[o++] = (unsigned char)(acc >> 2);
		break;
	default:
		return -1;
	}
	return (long)o;
}

/* name_len - the length of a header name without whitespace after it */
static size_t
name_len(const char *name, size_t len)
{
	while (len > 0 && is_wsp((unsigned char)name[len - 1]))
		len--;
	return len;
}

int
arc_name_is(const char *name, const char *word)
{
	size_t l = name_len(name, strlen(name));

	return str_word_is(name, l, word);
}

void
arc_canon_header(struct dynbuf *out, int canon, const char *name,
    const char *value, size_t vlen, size_t bstart, size_t bend, int crlf)
{
	char tmp[512];
	size_t t = 0;

	/* appended through a small buffer: one dynbuf call per 512 bytes */
#define PUT(c) do { \
		if (t == sizeof(tmp)) { \
			dynbuf_append(out, tmp, t); \
			t = 0; \
		} \
		tmp[t++] = (char)(c); \
	} while (0)
	if (canon == ARC_CANON_RELAXED) {
		size_t nl = name_len(name, strlen(name));
		int pending = 0, started = 0;

		for (size_t i = 0; i < nl; i++) {
			char c = name[i];

			PUT(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		}
		PUT(':');
		for (size_t i = 0; i < vlen; i++) {
			unsigned char c = (unsigned char)value[i];

			if (i >= bstart && i < bend)
				continue;
			if (c == '\r' || c == '\n')
				continue;
			if (is_wsp(c)) {
				pending = 1;
				continue;
			}
			if (pending && started)
				PUT(' ');
			pending = 0;
			started = 1;
			PUT(c);
		}
	} else {
		for (const char *p = name; *p != '\0'; p++)
			PUT(*p);
		PUT(':');
		for (size_t i = 0; i < vlen; i++) {
			char c = value[i];

			if (i >= bstart && i < bend)
				continue;
			if (c == '\n' && (i == 0 || value[i - 1] != '\r'))
				PUT('\r');
			PUT(c);
		}
	}
	if (crlf) {
		PUT('\r');
		PUT('\n');
	}
#undef PUT
	dynbuf_append(out, tmp, t);
}

/* field_is - whether a field's name is the n bytes at s (ignoring case) */
static int
field_is(const struct arc_hdr *f, const char *s, size_t n)
{
	return name_len(f->name, strlen(f->name)) == n &&
	    strncasecmp(f->name, s, n) == 0;
}

void
arc_header_digest(struct arc_msg *m, const struct arc_hdr *fields, size_t n,
    const struct arc_hdr *extra, const char *h, int hcanon,
    const struct arc_hdr *self, size_t bstart, size_t bend,
    unsigned char *out)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	const char *p = h;
	unsigned dl = 0;

	if (c == NULL)
		abort();
	EVP_DigestInit_ex(c, m->v->sha256, NULL);
	while (p != NULL && *p != '\0') {
		const char *e = strchr(p, ':'), *ns = p, *ne;
		size_t skip = 0, len;
		const struct arc_hdr *pick = NULL;

		if (e == NULL)
			e = p + strlen(p);
		ne = e;
		while (ns < ne && is_fws((unsigned char)*ns))
			ns++;
		while (ne > ns && is_fws((unsigned char)ne[-1]))
			ne--;
		len = (size_t)(ne - ns);
		if (len > 0) {
			/* the k-th time a name is listed picks its k-th
			 * field from the bottom */
			for (const char *q = h; q < p;) {
				const char *qe = strchr(q, ':'), *qs = q, *qn;

				qn = qe;
				while (qs < qn && is_fws((unsigned char)*qs))
					qs++;
				while (qn > qs && is_fws((unsigned char)qn[-1]))
					qn--;
				if ((size_t)(qn - qs) == len &&
				    strncasecmp(qs, ns, len) == 0)
					skip++;
				q = qe + 1;
			}
			for (size_t i = n; i-- > 0;) {
				if (field_is(&fields[i], ns, len) && skip-- == 0) {
					pick = &fields[i];
					break;
				}
			}
			if (pick == NULL && extra != NULL &&
			    field_is(extra, ns, len) && skip == 0)
				pick = extra;
		}
		if (pick != NULL) {
			m->buf.len = 0;
			m->buf.overflow = 0;
			arc_canon_header(&m->buf, hcanon, pick->name, pick->value,
			    pick->vlen, 1, 0, 1);
			EVP_DigestUpdate(c, m->buf.s, m->buf.len);
		}
		p = *e == ':' ? e + 1 : e;
	}
	m->buf.len = 0;
	m->buf.overflow = 0;
	arc_canon_header(&m->buf, hcanon, self->name, self->value, self->vlen,
	    bstart, bend, 0);
	EVP_DigestUpdate(c, m->buf.s, m->buf.len);
	EVP_DigestFinal_ex(c, out, &dl);
	EVP_MD_CTX_free(c);
}
