/*
 * authres.c - RFC 8601 Authentication-Results: the writer and a strict
 * parser.
 *
 * Writer: authres_new/add/add_prop build a header in memory; render turns
 * it into one field value, words as tokens where the grammar allows and as
 * quoted-strings otherwise, folded at the spaces between elements so that
 * "Authentication-Results: " + value stays within 78 columns where it can
 * (RFC 5322 section 2.1.1). Strings the writer cannot express are refused
 * at add time (NULL / -1), so a rendering always parses back.
 *
 * Parser: the RFC 8601 section 2.2 grammar with RFC 5322 CFWS (nested
 * comments, folding), RFC 2045 value (token / quoted-string) and the pvalue
 * addr-spec form. Input over AUTHRES_MAX_INPUT bytes, or with more than
 * AUTHRES_MAX_RESULTS results or AUTHRES_MAX_PROPS properties on one
 * result, is an error; every error returns NULL with a message in err.
 * One deliberate leniency: a ';' with nothing but CFWS after it at the end
 * of the value is accepted (common in real headers; OpenARC accepts it).
 *
 * authres_authserv_id is lenient on purpose: RFC 8601 section 5 wants the
 * MTA to remove forgeries of its own header, so it reads only the leading
 * authserv-id and ignores whatever follows.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "util.h"

#define LINE_MAX_COLS 78        /* RFC 5322 2.1.1 SHOULD */
#define FIELD_NAME_COLS 24      /* "Authentication-Results: " */
#define TAB_COLS 8              /* a fold's TAB, counted generously */
#define CONT_INDENT "    "     /* after the fold TAB inside one resinfo */
#define MAX_DIGITS 9            /* version numbers */
#define RENDER_LIMIT (8u * 1024 * 1024)

/* ---- character classes ---------------------------------------------- */

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

static int
is_letdig(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* RFC 2045 section 5.1 tspecials */
static int
is_tspecial(int c)
{
	return c != '\0' && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* RFC 2045 token character: printable US-ASCII, no tspecials */
static int
is_tokenchar(int c)
{
	return c > 0x20 && c < 0x7f && !is_tspecial(c);
}

/* RFC 5322 section 3.2.3 atext */
static int
is_atext(int c)
{
	return is_letdig(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* RFC 5322 ctext / qtext, with RFC 6532 UTF-8 bytes allowed */
static int
is_ctext(int c)
{
	return (c >= 33 && c <= 39) || (c >= 42 && c <= 91) ||
	    (c >= 93 && c <= 126) || c >= 128;
}

static int
is_qtext(int c)
{
	return c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126) ||
	    c >= 128;
}

/* quoted-pair = "\" (VCHAR / WSP), plus UTF-8 bytes */
static int
is_qpair(int c)
{
	return (c >= 0x21 && c <= 0x7e) || is_wsp(c) || c >= 128;
}

/* RFC 5321 Keyword = Ldh-str: letters, digits, hyphens, not ending in '-' */
static int
is_keyword_n(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!is_letdig((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

static int
is_keyword(const char *s)
{
	return is_keyword_n(s, strlen(s));
}

/* RFC 6376 3.5 domain-name: sub-domain 1*("." sub-domain), where
 * sub-domain = Let-dig [Ldh-str] */
static int
is_domain_name(const char *s, size_t n)
{
	size_t i, start = 0, labels = 0;

	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != '.')
			continue;
		if (i == start || !is_letdig((unsigned char)s[start]) ||
		    !is_keyword_n(s + start, i - start))
			return 0;
		labels++;
		start = i + 1;
	}
	return labels >= 2;
}

/* dot-atom-text of the given class; empty is not one */
static int
is_dot_atom(const char *s, size_t n, int (*cls)(int))
{
	size_t i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return 0;
		} else if (!cls((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

static int
is_token_n(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_tokenchar((unsigned char)s[i]))
			return 0;
	return 1;
}

int
authres_needs_quote(const char *value)
{
	size_t n = strlen(value);
	const char *at;

	if (is_token_n(value, n))
		return 0;
	/* RFC 8601 2.2 pvalue: [ [ local-part ] "@" ] domain-name. We only
	 * write the unquoted form when the local-part is made of token
	 * characters (no '/', '=' or '?', which lenient readers trip on). */
	at = strchr(value, '@');
	if (at == NULL || strchr(at + 1, '@') != NULL)
		return 1;
	if (at > value &&
	    !is_dot_atom(value, (size_t)(at - value), is_tokenchar))
		return 1;
	return !is_domain_name(at + 1, strlen(at + 1));
}

/* ---- writer --------------------------------------------------------- */

static char *
lower_dup(const char *s)
{
	return str_lower(xstrdup(s));
}

/* comments are free text: a long one is cut at AUTHRES_MAX_STRING bytes */
static char *
comment_dup(const char *s)
{
	return s != NULL ? xstrndup(s, AUTHRES_MAX_STRING) : NULL;
}

static int
too_long(const char *s)
{
	return s != NULL && strlen(s) > AUTHRES_MAX_STRING;
}

struct authres *
authres_new(const char *authserv_id)
{
	struct authres *ar = xcalloc(1, sizeof(*ar));

	ar->authserv_id = xstrndup(authserv_id, AUTHRES_MAX_STRING);
	ar->version = 1;
	return ar;
}

struct authres_result *
authres_add(struct authres *ar, const char *method, const char *result,
    const char *comment)
{
	struct authres_result *r;

	if (ar->nresults >= AUTHRES_MAX_RESULTS || !is_keyword(method) ||
	    !is_keyword(result) || too_long(method) || too_long(result))
		return NULL;
	r = &ar->results[ar->nresults++];
	memset(r, 0, sizeof(*r));
	r->method = lower_dup(method);
	r->result = lower_dup(result);
	r->comment = comment_dup(comment);
	return r;
}

int
authres_add_prop_comment(struct authres_result *r, const char *ptype,
    const char *property, const char *value, const char *comment)
{
	struct authres_prop *p;

	if (r->nprops >= AUTHRES_MAX_PROPS || !is_keyword(ptype) ||
	    !is_keyword(property) || too_long(ptype) || too_long(property) ||
	    too_long(value))
		return -1;
	p = &r->props[r->nprops++];
	p->ptype = lower_dup(ptype);
	p->property = lower_dup(property);
	p->value = xstrdup(value);
	p->comment = comment_dup(comment);
	return 0;
}

int
authres_add_prop(struct authres_result *r, const char *ptype,
    const char *property, const char *value)
{
	return authres_add_prop_comment(r, ptype, property, value, NULL);
}

static void
result_clear(struct authres_result *r)
{
	size_t i;

	free(r->method);
	free(r->result);
	free(r->reason);
	free(r->comment);
	for (i = 0; i < r->nprops; i++) {
		free(r->props[i].ptype);
		free(r->props[i].property);
		free(r->props[i].value);
		free(r->props[i].comment);
	}
	memset(r, 0, sizeof(*r));
}

void
authres_free(struct authres **arp)
{
	struct authres *ar;
	size_t i;

	if (arp == NULL || *arp == NULL)
		return;
	ar = *arp;
	for (i = 0; i < ar->nresults; i++)
		result_clear(&ar->results[i]);
	free(ar->authserv_id);
	free(ar);
	*arp = NULL;
}

/* a value as a token (or, for a pvalue, an addr-spec), else a
 * quoted-string (RFC 5322 3.2.4); control characters other than TAB cannot
 * be quoted and become spaces. The authserv-id and reason are RFC 2045
 * values, where only a token may go bare (RFC 8601 2.2). */
static void
put_value(struct dynbuf *b, const char *v, int pvalue)
{
	const unsigned char *s;

	if (pvalue ? !authres_needs_quote(v) : is_token_n(v, strlen(v))) {
		dynbuf_puts(b, v);
		return;
	}
	dynbuf_append(b, "\"", 1);
	for (s = (const unsigned char *)v; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			dynbuf_append(b, "\\", 1);
		if ((*s < 0x20 && *s != '\t') || *s == 0x7f)
			dynbuf_append(b, " ", 1);
		else
			dynbuf_append(b, (const char *)s, 1);
	}
	dynbuf_append(b, "\"", 1);
}

/* a comment with ( ) \ escaped as quoted-pairs (RFC 5322 3.2.2) */
static void
put_comment(struct dynbuf *b, const char *c)
{
	const unsigned char *s;

	dynbuf_append(b, "(", 1);
	for (s = (const unsigned char *)c; *s != '\0'; s++) {
		if (*s == '\\' || *s == '(' || *s == ')')
			dynbuf_append(b, "\\", 1);
		if ((*s < 0x20 && *s != '\t') || *s == 0x7f)
			dynbuf_append(b, " ", 1);
		else
			dynbuf_append(b, (const char *)s, 1);
	}
	dynbuf_append(b, ")", 1);
}

#define MAX_ELEMS (3 + 2 * AUTHRES_MAX_PROPS)

/* the unbreakable pieces of one resinfo: "method=result", "(comment)",
 * "reason=...", then "ptype.property=value" and "(comment)" per property */
static size_t
result_elems(const struct authres_result *r, char **el)
{
	struct dynbuf b;
	size_t n = 0, i;

	dynbuf_init(&b, RENDER_LIMIT);
	dynbuf_printf(&b, "%s=%s", r->method, r->result);
	el[n++] = dynbuf_take(&b);
	if (r->comment != NULL) {
		put_comment(&b, r->comment);
		el[n++] = dynbuf_take(&b);
	}
	if (r->reason != NULL) {
		dynbuf_puts(&b, "reason=");
		put_value(&b, r->reason, 0);
		el[n++] = dynbuf_take(&b);
	}
	for (i = 0; i < r->nprops && i < AUTHRES_MAX_PROPS; i++) {
		dynbuf_printf(&b, "%s.%s=", r->props[i].ptype,
		    r->props[i].property);
		put_value(&b, r->props[i].value, 1);
		el[n++] = dynbuf_take(&b);
		if (r->props[i].comment != NULL) {
			put_comment(&b, r->props[i].comment);
			el[n++] = dynbuf_take(&b);
		}
	}
	dynbuf_free(&b);
	return n;
}

static void
free_elems(char **el, size_t n)
{
	while (n > 0)
		free(el[--n]);
}

static char *
render(const struct authres *ar, const char *fold)
{
	struct dynbuf one, out;
	char *el[MAX_ELEMS];
	size_t i, j, n, col, w, nres = ar->nresults;

	dynbuf_init(&one, RENDER_LIMIT);
	put_value(&one, ar->authserv_id, 0);
	if (ar->version != 1)
		dynbuf_printf(&one, " %d", ar->version);
	dynbuf_append(&one, ";", 1);
	dynbuf_init(&out, RENDER_LIMIT);
	dynbuf_append(&out, one.s, one.len);
	col = FIELD_NAME_COLS + out.len;

	/* the one-line form first: "id; m=r p.q=v; m=r" */
	for (i = 0; i < nres; i++) {
		n = result_elems(&ar->results[i], el);
		for (j = 0; j < n; j++) {
			dynbuf_append(&one, " ", 1);
			dynbuf_puts(&one, el[j]);
		}
		if (i + 1 < nres)
			dynbuf_append(&one, ";", 1);
		free_elems(el, n);
	}
	if (nres == 0)
		dynbuf_puts(&one, " none");
	if (FIELD_NAME_COLS + one.len <= LINE_MAX_COLS) {
		dynbuf_free(&out);
		return dynbuf_take(&one);
	}
	dynbuf_free(&one);

	/* folded: each resinfo starts a line; a long one wraps between its
	 * elements, never inside a quoted-string or a comment. A fold is CRLF
	 * TAB in place of the space (RFC 5322 2.2.3); continuation lines of
	 * one resinfo carry four more spaces so that they read as one. */
	if (nres == 0) {
		dynbuf_puts(&out, fold);
		dynbuf_puts(&out, "none");
	}
	for (i = 0; i < nres; i++) {
		n = result_elems(&ar->results[i], el);
		for (j = 0; j < n; j++) {
			w = strlen(el[j]);
			if (j + 1 == n && i + 1 < nres)
				w++;    /* the ';' that follows */
			if (j == 0) {
				dynbuf_puts(&out, fold);
				col = TAB_COLS;
			} else if (col + 1 + w > LINE_MAX_COLS) {
				/* a continuation: indented a little more,
				 * unless that alone would push the element
				 * past the limit (RFC 5322 counts octets) */
				dynbuf_puts(&out, fold);
				col = TAB_COLS;
				if (col + strlen(CONT_INDENT) + w <= LINE_MAX_COLS) {
					dynbuf_puts(&out, CONT_INDENT);
					col += strlen(CONT_INDENT);
				}
			} else {
				dynbuf_append(&out, " ", 1);
				col++;
			}
			dynbuf_puts(&out, el[j]);
			col += strlen(el[j]);
		}
		if (i + 1 < nres) {
			dynbuf_append(&out, ";", 1);
			col++;
		}
		free_elems(el, n);
	}
	if (out.overflow)
		abort();        /* cannot happen: inputs are bounded */
	return dynbuf_take(&out);
}

char *
authres_render(const struct authres *ar)
{
	return render(ar, "\r\n\t");
}

char *
authres_render_lf(const struct authres *ar)
{
	return render(ar, "\n\t");
}

/* ---- parser --------------------------------------------------------- */

struct cur {
	const char *start;
	const char *p;
	char *err;
	size_t errlen;
	int failed;
};

static int
fail(struct cur *c, const char *what)
{
	if (!c->failed && c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "%s at offset %zu", what,
		    (size_t)(c->p - c->start));
	c->failed = 1;
	return -1;
}

/* a line break that is a fold (followed by WSP) or ends the input:
 * its length, or 0 */
static size_t
fold_len(const char *p)
{
	size_t n = 0;

	if (p[0] == '\r' && p[1] == '\n')
		n = 2;
	else if (p[0] == '\n')
		n = 1;
	if (n > 0 && (is_wsp((unsigned char)p[n]) || p[n] == '\0'))
		return n;
	return 0;
}

/* one comment at c->p == '('; its text (quoted-pairs undone, whitespace
 * collapsed) into *text when text != NULL and *text is still NULL */
static int
parse_comment(struct cur *c, char **text)
{
	struct dynbuf b;
	int depth = 0;
	size_t n = 0;

	dynbuf_init(&b, AUTHRES_MAX_INPUT);
	for (;;) {
		unsigned char ch = (unsigned char)*c->p;

		if (ch == '\0') {
			dynbuf_free(&b);
			return fail(c, "unterminated comment");
		}
		if (ch == '(') {
			if (depth++ > 0)
				dynbuf_append(&b, "(", 1);
			c->p++;
		} else if (ch == ')') {
			c->p++;
			if (--depth == 0)
				break;
			dynbuf_append(&b, ")", 1);
		} else if (ch == '\\') {
			if (!is_qpair((unsigned char)c->p[1])) {
				dynbuf_free(&b);
				return fail(c, "bad quoted-pair in comment");
			}
			dynbuf_append(&b, c->p + 1, 1);
			c->p += 2;
		} else if (is_wsp(ch) || (n = fold_len(c->p)) > 0) {
			if (b.len > 0 && b.s[b.len - 1] != ' ')
				dynbuf_append(&b, " ", 1);
			c->p += is_wsp(ch) ? 1 : n;
		} else if (is_ctext(ch)) {
			dynbuf_append(&b, c->p, 1);
			c->p++;
		} else {
			dynbuf_free(&b);
			return fail(c, "bad character in comment");
		}
	}
	while (b.len > 0 && b.s[b.len - 1] == ' ')
		b.s[--b.len] = '\0';
	if (text != NULL && *text == NULL)
		*text = dynbuf_take(&b);
	dynbuf_free(&b);
	return 0;
}

/* [CFWS]: 1 when something was skipped, 0 when nothing, -1 on error */
static int
skip_cfws(struct cur *c, char **comment)
{
	int any = 0;
	size_t n;

	for (;;) {
		if (is_wsp((unsigned char)*c->p)) {
			c->p++;
		} else if ((n = fold_len(c->p)) > 0) {
			c->p += n;
		} else if (*c->p == '(') {
			if (parse_comment(c, comment) < 0)
				return -1;
		} else {
			return any;
		}
		any = 1;
	}
}

/* after a word: the next thing must be CFWS, ';' or the end */
static int
at_boundary(const struct cur *c)
{
	char ch = *c->p;

	return ch == '\0' || ch == ';' || ch == '(' || is_wsp(ch) ||
	    fold_len(c->p) > 0;
}

/* Keyword, lowercased */
static char *
parse_keyword(struct cur *c, const char *what)
{
	const char *s = c->p;

	while (is_letdig((unsigned char)*c->p) || *c->p == '-')
		c->p++;
	if (!is_keyword_n(s, (size_t)(c->p - s))) {
		c->p = s;
		fail(c, what);
		return NULL;
	}
	return str_lower(xstrndup(s, (size_t)(c->p - s)));
}

/* 1*DIGIT, bounded */
static int
parse_digits(struct cur *c, int *out)
{
	const char *s = c->p;
	int v = 0;

	while (*c->p >= '0' && *c->p <= '9') {
		if (c->p - s >= MAX_DIGITS)
			return fail(c, "version number too long");
		v = v * 10 + (*c->p - '0');
		c->p++;
	}
	if (c->p == s)
		return fail(c, "expected a version number");
	*out = v;
	return 0;
}

/* quoted-string at '"' (RFC 5322 3.2.4), unquoted into a new string */
static char *
parse_quoted(struct cur *c)
{
	struct dynbuf b;
	size_t n;

	dynbuf_init(&b, AUTHRES_MAX_INPUT);
	c->p++;
	for (;;) {
		unsigned char ch = (unsigned char)*c->p;

		if (ch == '"') {
			c->p++;
			break;
		}
		if (ch == '\\' && is_qpair((unsigned char)c->p[1])) {
			dynbuf_append(&b, c->p + 1, 1);
			c->p += 2;
		} else if (is_qtext(ch) || is_wsp(ch)) {
			dynbuf_append(&b, c->p, 1);
			c->p++;
		} else if ((n = fold_len(c->p)) > 0 && c->p[n] != '\0') {
			c->p += n;      /* unfolding drops the line break */
		} else {
			dynbuf_free(&b);
			fail(c, ch == '\0' ? "unterminated quoted-string" :
			    "bad character in quoted-string");
			return NULL;
		}
	}
	return dynbuf_take(&b);
}

/* RFC 2045 value = token / quoted-string */
static char *
parse_value(struct cur *c, const char *what)
{
	const char *s = c->p;

	if (*c->p == '"')
		return parse_quoted(c);
	while (is_tokenchar((unsigned char)*c->p))
		c->p++;
	if (c->p == s) {
		fail(c, what);
		return NULL;
	}
	return xstrndup(s, (size_t)(c->p - s));
}

/* RFC 8601 2.2 pvalue without its CFWS:
 * value / [ [ local-part ] "@" ] domain-name */
static char *
parse_pvalue(struct cur *c)
{
	const char *s = c->p, *at = NULL, *d;
	char *local, *v;

	if (*c->p == '"') {
		if ((local = parse_quoted(c)) == NULL)
			return NULL;
		if (*c->p != '@')
			return local;
		d = ++c->p;
		while (is_letdig((unsigned char)*c->p) || *c->p == '-' ||
		    *c->p == '.')
			c->p++;
		if (!is_domain_name(d, (size_t)(c->p - d))) {
			free(local);
			fail(c, "bad domain-name in property value");
			return NULL;
		}
		v = xasprintf("%s@%.*s", local, (int)(c->p - d), d);
		free(local);
		return v;
	}
	while (is_atext((unsigned char)*c->p) || *c->p == '.' ||
	    *c->p == '@' || is_tokenchar((unsigned char)*c->p)) {
		if (*c->p == '@' && at == NULL)
			at = c->p;
		c->p++;
	}
	if (at == NULL && !is_token_n(s, (size_t)(c->p - s))) {
		c->p = s;
		fail(c, "bad property value");
		return NULL;
	}
	if (at != NULL && ((at > s && !is_dot_atom(s, (size_t)(at - s),
	    is_atext)) || !is_domain_name(at + 1, (size_t)(c->p - at - 1)))) {
		c->p = s;
		fail(c, "bad address in property value");
		return NULL;
	}
	return xstrndup(s, (size_t)(c->p - s));
}

/* a propspec or reasonspec from its first keyword on; CFWS before it has
 * been skipped */
static int
parse_spec(struct cur *c, struct authres_result *r)
{
	struct authres_prop *pr;
	char *kw, *prop, *val;

	if ((kw = parse_keyword(c, "expected a property")) == NULL)
		return -1;
	if (skip_cfws(c, NULL) < 0)
		goto bad;
	if (*c->p == '=' && strcmp(kw, "reason") == 0 && r->reason == NULL &&
	    r->nprops == 0) {
		/* reasonspec = "reason" [CFWS] "=" [CFWS] value */
		free(kw);
		c->p++;
		if (skip_cfws(c, NULL) < 0)
			return -1;
		if ((r->reason = parse_value(c, "expected a reason")) == NULL)
			return -1;
		if (!at_boundary(c))
			return fail(c, "garbage after reason");
		return 0;
	}
	/* propspec = ptype [CFWS] "." [CFWS] property [CFWS] "=" pvalue */
	if (*c->p != '.') {
		fail(c, "expected '.' after ptype");
		goto bad;
	}
	c->p++;
	if (skip_cfws(c, NULL) < 0)
		goto bad;
	if ((prop = parse_keyword(c, "expected a property name")) == NULL)
		goto bad;
	if (skip_cfws(c, NULL) < 0 || *c->p != '=') {
		fail(c, "expected '=' after property");
		free(prop);
		goto bad;
	}
	c->p++;
	if (skip_cfws(c, NULL) < 0 || (val = parse_pvalue(c)) == NULL) {
		free(prop);
		goto bad;
	}
	if (r->nprops >= AUTHRES_MAX_PROPS) {
		free(prop);
		free(val);
		fail(c, "too many properties");
		goto bad;
	}
	pr = &r->props[r->nprops++];
	pr->ptype = kw;
	pr->property = prop;
	pr->value = val;
	if (skip_cfws(c, &pr->comment) < 0)
		return -1;
	return 0;
bad:
	free(kw);
	return -1;
}

/* resinfo after its ';' = methodspec [ CFWS reasonspec ]
 * [ CFWS 1*propspec ] */
static int
parse_resinfo(struct cur *c, struct authres_result *r, char *method)
{
	int ws, version;

	r->method = method;
	if (skip_cfws(c, NULL) < 0)
		return -1;
	if (*c->p == '/') {
		/* method-version = 1*DIGIT [CFWS] */
		c->p++;
		if (skip_cfws(c, NULL) < 0 || parse_digits(c, &version) < 0 ||
		    skip_cfws(c, NULL) < 0)
			return -1;
	}
	if (*c->p != '=')
		return fail(c, "expected '=' after method");
	c->p++;
	if (skip_cfws(c, NULL) < 0)
		return -1;
	if ((r->result = parse_keyword(c, "expected a result")) == NULL)
		return -1;
	if (!at_boundary(c))
		return fail(c, "garbage after result");
	if ((ws = skip_cfws(c, &r->comment)) < 0)
		return -1;
	while (*c->p != ';' && *c->p != '\0') {
		if (!ws && r->reason == NULL && r->nprops == 0)
			return fail(c, "expected white space after result");
		if (parse_spec(c, r) < 0)
			return -1;
		if (r->nprops == 0 && (ws = skip_cfws(c, &r->comment)) < 0)
			return -1;
		if (r->nprops == 0 && !ws && *c->p != ';' && *c->p != '\0')
			return fail(c, "expected white space after reason");
	}
	return 0;
}

static void
parse_into(struct cur *c, struct authres *ar)
{
	char *kw;
	int ws;

	if (skip_cfws(c, NULL) < 0)
		return;
	/* authserv-id = value (RFC 8601 2.2, 2.5) */
	if ((ar->authserv_id = parse_value(c, "expected an authserv-id")) ==
	    NULL)
		return;
	if ((ws = skip_cfws(c, NULL)) < 0)
		return;
	if (*c->p >= '0' && *c->p <= '9') {
		if (!ws) {
			fail(c, "expected white space before version");
			return;
		}
		if (parse_digits(c, &ar->version) < 0 ||
		    skip_cfws(c, NULL) < 0)
			return;
	}
	if (*c->p != ';') {
		fail(c, "expected ';' after authserv-id");
		return;
	}
	for (;;) {
		/* here at a ';' */
		c->p++;
		if (skip_cfws(c, NULL) < 0)
			return;
		if (*c->p == '\0' && ar->nresults > 0)
			return;         /* trailing ';' (the leniency) */
		if ((kw = parse_keyword(c, "expected a method")) == NULL)
			return;
		if (ar->nresults == 0 && strcmp(kw, "none") == 0) {
			/* no-result = [CFWS] ";" [CFWS] "none" */
			const char *save = c->p;

			if (skip_cfws(c, NULL) < 0) {
				free(kw);
				return;
			}
			if (*c->p == '\0') {
				free(kw);
				ar->none = 1;
				return;
			}
			c->p = save;
		}
		if (ar->nresults >= AUTHRES_MAX_RESULTS) {
			free(kw);
			fail(c, "too many results");
			return;
		}
		if (parse_resinfo(c, &ar->results[ar->nresults++], kw) < 0)
			return;
		if (*c->p == '\0')
			return;
	}
}

struct authres *
authres_parse(const char *value, char *err, size_t errlen)
{
	struct authres *ar;
	struct cur c;

	c.start = c.p = value;
	c.err = err;
	c.errlen = errlen;
	c.failed = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (strnlen(value, AUTHRES_MAX_INPUT + 1) > AUTHRES_MAX_INPUT) {
		fail(&c, "header value too long");
		return NULL;
	}
	ar = xcalloc(1, sizeof(*ar));
	ar->version = 1;
	parse_into(&c, ar);
	if (c.failed) {
		authres_free(&ar);
		return NULL;
	}
	return ar;
}

/* ---- lenient authserv-id -------------------------------------------- */

int
authres_authserv_id(const char *value, char *out, size_t outlen)
{
	const char *p = value, *end;
	size_t n = 0;
	int depth = 0;

	if (outlen == 0)
		return -1;
	end = value + strnlen(value, AUTHRES_MAX_INPUT);
	/* skip white space, line breaks and (nested) comments */
	while (p < end) {
		if (*p == '\\' && depth > 0 && p + 1 < end)
			p += 2;
		else if (*p == '(')
			depth++, p++;
		else if (*p == ')' && depth > 0)
			depth--, p++;
		else if (depth > 0 || isspace((unsigned char)*p))
			p++;
		else
			break;
	}
	if (p >= end)
		return -1;
	if (*p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			if (*p == '\r' || *p == '\n')
				continue;
			if (n + 1 >= outlen)
				return -1;
			out[n++] = (char)tolower((unsigned char)*p);
		}
		if (p >= end)
			return -1;
	} else {
		for (; p < end && is_tokenchar((unsigned char)*p); p++) {
			if (n + 1 >= outlen)
				return -1;
			out[n++] = (char)tolower((unsigned char)*p);
		}
	}
	out[n] = '\0';
	return n > 0 ? 0 : -1;
}
