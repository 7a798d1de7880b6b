/*
 * psl.c - the Public Suffix List and organizational domains (see psl.h).
 *
 * The list (publicsuffix.org/list format: one rule a line, read up to the
 * first white space, "//" comment lines, "*." wildcards, "!" exceptions,
 * ICANN and private sections alike) goes into a hash table keyed by the
 * rule's name with a bit for each kind of rule. A rule written in Unicode
 * is stored a second time as A-labels (RFC 3492 Punycode, RFC 5890), since
 * mail carries IDNs as A-labels; names are matched byte for byte after
 * ASCII lowercasing.
 *
 * Matching follows the list's algorithm: an exception rule prevails and
 * its public suffix is the rule less its leftmost label; otherwise the
 * rule matching the most labels wins; with no match the rule "*" applies
 * (the TLD is the public suffix). RFC 7489 3.2 then adds one label.
 *
 * Errors: psl_load* return NULL with a message (unreadable file, a file
 * over PSL_MAX_BYTES, no rule at all); psl_org_domain returns -1.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dname.h"
#include "psl.h"
#include "util.h"

#define PSL_MAX_BYTES (16u * 1024 * 1024)
#define PSL_MAX_LABELS ((DNAME_MAX + 1) / 2) /* "a.b.c...": 127 labels */
#define PSL_MAX_KEYS (4 * PSL_MAX_BYTES)  /* rule text, A-labels added */

enum {
	RULE_NORMAL = 1,    /* "example.com" */
	RULE_WILDCARD = 2,  /* "*.example.com": stored under "example.com" */
	RULE_EXCEPTION = 4, /* "!www.example.com" */
};

struct psl_entry {
	uint32_t hash;
	uint32_t next;      /* index + 1 into entries, 0 ends the chain */
	uint32_t key_off;
	uint32_t key_len;
	unsigned flags;
};

struct psl {
	atomic_uint refs;
	struct psl_entry *entries;
	size_t nentries, capentries;
	uint32_t *buckets;  /* index + 1 into entries, 0 empty */
	size_t nbuckets;    /* a power of two */
	struct dynbuf keys;
	size_t nrules;
};

static struct psl_entry *
find(const struct psl *p, const char *name, size_t len)
{
	uint32_t h = mem_hash(name, len);
	uint32_t i;

	if (p == NULL || p->nbuckets == 0)
		return NULL;
	for (i = p->buckets[h & (p->nbuckets - 1)]; i != 0;
	    i = p->entries[i - 1].next) {
		struct psl_entry *e = &p->entries[i - 1];

		if (e->hash == h && e->key_len == len &&
		    memcmp(p->keys.s + e->key_off, name, len) == 0)
			return e;
	}
	return NULL;
}

static void
rehash(struct psl *p, size_t nbuckets)
{
	free(p->buckets);
	p->nbuckets = nbuckets;
	p->buckets = xcalloc(nbuckets, sizeof(*p->buckets));
	for (size_t i = 0; i < p->nentries; i++) {
		struct psl_entry *e = &p->entries[i];
		uint32_t b = e->hash & (uint32_t)(nbuckets - 1);

		e->next = p->buckets[b];
		p->buckets[b] = (uint32_t)(i + 1);
	}
}

/* add - record a rule of kind flag for name (already lowercased) */
static void
add(struct psl *p, const char *name, size_t len, unsigned flag)
{
	struct psl_entry *e = find(p, name, len);
	size_t off;
	uint32_t b;

	if (e != NULL) {
		e->flags |= flag;
		return;
	}
	if (p->nentries == p->capentries) {
		p->capentries = p->capentries ? p->capentries * 2 : 1024;
		p->entries = xrealloc(p->entries,
		    p->capentries * sizeof(*p->entries));
	}
	if (p->nentries + 1 > p->nbuckets / 2)
		rehash(p, p->nbuckets ? p->nbuckets * 2 : 2048);
	off = p->keys.len;
	/* the keys are bounded (PSL_MAX_KEYS): past it, rules are dropped */
	if (dynbuf_append(&p->keys, name, len) < 0)
		return;
	e = &p->entries[p->nentries];
	e->hash = mem_hash(name, len);
	e->key_off = (uint32_t)off;
	e->key_len = (uint32_t)len;
	e->flags = flag;
	b = e->hash & (uint32_t)(p->nbuckets - 1);
	e->next = p->buckets[b];
	p->buckets[b] = (uint32_t)(p->nentries + 1);
	p->nentries++;
}

/* utf8_next - decode one code point at s (len bytes left); bytes used, or
 * 0 when the sequence is not well-formed UTF-8 */
static size_t
utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n;
	uint32_t c = s[0], min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		n = 2; c &= 0x1f; min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3; c &= 0x0f; min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4; c &= 0x07; min = 0x10000;
	} else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static char
puny_digit(uint32_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

static uint32_t
puny_adapt(uint32_t delta, uint32_t numpoints, int first)
{
	uint32_t k = 0;

	delta = first ? delta / 700 : delta / 2;
	delta += delta / numpoints;
	while (delta > ((36 - 1) * 26) / 2) {
		delta /= 36 - 1;
		k += 36;
	}
	return k + (36 - 1 + 1) * delta / (delta + 38);
}

/* punycode_label - RFC 3492 6.3 encoding of one UTF-8 label as an
 * A-label ("xn--...") into out; -1 when it is not UTF-8 or too long */
static int
punycode_label(const char *label, size_t len, char *out, size_t outlen)
{
	uint32_t cps[64], n = 128, delta = 0, bias = 72, h, b;
	size_t ncp = 0, o = 0, used;

	for (size_t i = 0; i < len; i += used) {
		if (ncp == 64)
			return -1;
		used = utf8_next((const unsigned char *)label + i, len - i,
		    &cps[ncp]);
		if (used == 0)
			return -1;
		ncp++;
	}
	if (outlen < 5)
		return -1;
	memcpy(out, "xn--", 4);
	o = 4;
	for (size_t i = 0; i < ncp; i++) {
		if (cps[i] < 0x80) {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = (char)cps[i];
		}
	}
	h = b = (uint32_t)(o - 4);
	if (b > 0) {
		if (o + 1 >= outlen)
			return -1;
		out[o++] = '-';
	}
	while (h < ncp) {
		uint32_t m = UINT32_MAX;

		for (size_t i = 0; i < ncp; i++)
			if (cps[i] >= n && cps[i] < m)
				m = cps[i];
		/* at most 64 code points below 0x110000: no overflow */
		delta += (m - n) * (h + 1);
		n = m;
		for (size_t i = 0; i < ncp; i++) {
			uint32_t q;

			if (cps[i] < n)
				delta++;
			if (cps[i] != n)
				continue;
			q = delta;
			for (uint32_t k = 36;; k += 36) {
				uint32_t t = k <= bias ? 1 :
				    k >= bias + 26 ? 26 : k - bias;

				if (q < t)
					break;
				if (o + 1 >= outlen)
					return -1;
				out[o++] = puny_digit(t + (q - t) % (36 - t));
				q = (q - t) / (36 - t);
			}
			if (o + 1 >= outlen)
				return -1;
			out[o++] = puny_digit(q);
			bias = puny_adapt(delta, h + 1, h == b);
			delta = 0;
			h++;
		}
		delta++;
		n++;
	}
	if (o > 63)
		return -1;
	out[o] = '\0';
	return 0;
}

/* to_alabels - name with every non-ASCII label as an A-label; 1 when it
 * differed, 0 when it is all ASCII, -1 when it cannot be converted */
static int
to_alabels(const char *name, size_t len, char *out, size_t outlen)
{
	size_t o = 0, i = 0;
	int changed = 0;

	while (i <= len) {
		size_t j = i, ll;
		int ascii = 1;
		char label[64];

		while (j < len && name[j] != '.') {
			if ((unsigned char)name[j] >= 0x80)
				ascii = 0;
			j++;
		}
		if (ascii) {
			ll = j - i;
			if (o + ll + 2 > outlen)
				return -1;
			memcpy(out + o, name + i, ll);
		} else {
			if (punycode_label(name + i, j - i, label,
			    sizeof(label)) < 0)
				return -1;
			ll = strlen(label);
			if (o + ll + 2 > outlen)
				return -1;
			memcpy(out + o, label, ll);
			changed = 1;
		}
		o += ll;
		if (j < len)
			out[o++] = '.';
		i = j + 1;
	}
	out[o] = '\0';
	return changed;
}

/* add_rule - one line's rule text (lowercased here) */
static void
add_rule(struct psl *p, const char *rule, size_t len)
{
	char name[DNAME_MAX + 1], alabels[DNAME_MAX + 1];
	unsigned flag = RULE_NORMAL;

	if (len > 0 && rule[0] == '!') {
		flag = RULE_EXCEPTION;
		rule++;
		len--;
	} else if (len >= 2 && rule[0] == '*' && rule[1] == '.') {
		flag = RULE_WILDCARD;
		rule += 2;
		len -= 2;
	}
	if (len == 0 || len > DNAME_MAX)
		return;
	memcpy(name, rule, len);
	name[len] = '\0';
	str_lower(name);
	add(p, name, len, flag);
	p->nrules++;
	if (to_alabels(name, len, alabels, sizeof(alabels)) == 1)
		add(p, alabels, strlen(alabels), flag);
}

struct psl *
psl_load_string(const char *text, char *err, size_t errlen)
{
	struct psl *p;
	const char *s = text, *end;

	if (text == NULL) {
		snprintf(err, errlen, "no public suffix list text");
		return NULL;
	}
	if (strnlen(text, PSL_MAX_BYTES + 1) > PSL_MAX_BYTES) {
		snprintf(err, errlen, "public suffix list over %u bytes",
		    PSL_MAX_BYTES);
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	atomic_init(&p->refs, 1);
	dynbuf_init(&p->keys, PSL_MAX_KEYS);
	while (*s != '\0') {
		size_t n;

		end = strchr(s, '\n');
		if (end == NULL)
			end = s + strlen(s);
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		/* a rule is read up to the first white space */
		for (n = 0; s + n < end && s[n] != ' ' && s[n] != '\t' &&
		    s[n] != '\r'; n++)
			;
		if (n > 0 && !(n >= 2 && s[0] == '/' && s[1] == '/'))
			add_rule(p, s, n);
		s = *end ? end + 1 : end;
	}
	if (p->nrules == 0) {
		snprintf(err, errlen, "no rules in the public suffix list");
		psl_unref(&p);
		return NULL;
	}
	return p;
}

struct psl *
psl_load(const char *path, char *err, size_t errlen)
{
	FILE *f;
	char *buf;
	size_t n;
	struct psl *p;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = xmalloc(PSL_MAX_BYTES + 1);
	n = fread(buf, 1, PSL_MAX_BYTES + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	if (n > PSL_MAX_BYTES) {
		snprintf(err, errlen, "%s: over %u bytes", path, PSL_MAX_BYTES);
		free(buf);
		return NULL;
	}
	if (memchr(buf, '\0', n) != NULL) {
		snprintf(err, errlen, "%s: holds a NUL byte", path);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	p = psl_load_string(buf, err, errlen);
	free(buf);
	if (p == NULL) {
		char tmp[200];

		str_copy(tmp, err, sizeof(tmp));
		snprintf(err, errlen, "%s: %s", path, tmp);
	}
	return p;
}

struct psl *
psl_ref(struct psl *p)
{
	if (p != NULL)
		atomic_fetch_add(&p->refs, 1);
	return p;
}

void
psl_unref(struct psl **pp)
{
	struct psl *p = *pp;

	*pp = NULL;
	if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	free(p->entries);
	free(p->buckets);
	dynbuf_free(&p->keys);
	free(p);
}

static unsigned
rule_flags(const struct psl *p, const char *name, size_t len)
{
	const struct psl_entry *e = find(p, name, len);

	return e ? e->flags : 0;
}

int
psl_org_domain(const struct psl *p, const char *domain, char *out,
    size_t outlen)
{
	char name[DNAME_BUFSIZE];
	size_t len, start[PSL_MAX_LABELS], nl = 0, suffix = 0, org;
	int found = 0;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	/* a domain name other than the root, lowercased, no final dot */
	if (domain == NULL || out == NULL ||
	    dname_norm(domain, name, sizeof(name)) < 0 || name[0] == '\0')
		return -1;
	len = strlen(name);
	/* labels: start[i] is where label i begins, 0 the leftmost (none is
	 * empty, and there are at most PSL_MAX_LABELS of them) */
	for (size_t i = 0; i < len; i++)
		if (i == 0 || name[i - 1] == '.')
			start[nl++] = i;
	/* an exception rule prevails: its suffix drops the leftmost label */
	for (size_t k = 0; k < nl && !found; k++) {
		if (rule_flags(p, name + start[k], len - start[k]) &
		    RULE_EXCEPTION) {
			suffix = k + 1 < nl ? k + 1 : k;
			found = 1;
		}
	}
	/* else the rule matching the most labels: k = 0 is the longest */
	for (size_t k = 0; k < nl && !found; k++) {
		if ((rule_flags(p, name + start[k], len - start[k]) &
		    RULE_NORMAL) ||
		    (k + 1 < nl && (rule_flags(p, name + start[k + 1],
		    len - start[k + 1]) & RULE_WILDCARD))) {
			suffix = k;
			found = 1;
		}
	}
	if (!found)
		suffix = nl - 1; /* the implicit rule "*" */
	if (suffix == 0)
		return -1;       /* the name is itself a public suffix */
	org = start[suffix - 1];
	if (str_copy(out, name + org, outlen) >= outlen) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}
