/*
 * mailaddr.c - the author domain from a From header value (see mailaddr.h).
 *
 * RFC 5322 3.4 address-list, with the obsolete forms of 4.4 (obs-phrase
 * with dots, obs-local-part, obs-route "<@a,@b:x@y>", empty list elements,
 * folding with a bare LF as well as CRLF) and RFC 6532 (UTF-8 in atoms,
 * quoted strings and comments). The value is cut into tokens (CFWS is
 * dropped: comments nest, quoted-pairs escape), then the tokens are parsed
 * as a list of mailboxes and groups.
 *
 * Errors: every outcome is an enum mailaddr_status; a value longer than
 * MAILADDR_MAX_INPUT, a comment nested deeper than MAILADDR_MAX_NEST or a
 * domain over the bounds of a domain name (dname_valid: 253 octets,
 * labels of 63) is MAILADDR_SYNTAX.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dname.h"
#include "mailaddr.h"
#include "util.h"

#define MAILADDR_MAX_INPUT 65536
#define MAILADDR_MAX_NEST 64

enum tok_type {
	T_ATOM, T_QSTRING, T_DLITERAL, T_DOT, T_AT, T_LT, T_GT, T_COMMA,
	T_COLON, T_SEMI, T_END,
};

struct tok {
	enum tok_type type;
	size_t off, len;   /* bytes of the value (atoms: the atom itself) */
};

struct parse {
	const char *s;
	struct tok *t;
	size_t nt, i;
	int count;         /* addresses seen */
	int have_domain;   /* the first address had a usable domain */
	int all_domains;   /* every address so far had a usable domain */
	char domain[DNAME_BUFSIZE];
	struct mailaddr_authors *authors; /* NULL: only the first is kept */
	int too_many;      /* authors would have needed more room */
};

/* is_atext - RFC 5322 3.2.3 atext, plus UTF8-non-ascii (RFC 6532 3.2) */
static int
is_atext(unsigned char c)
{
	if (c >= 0x80)
		return 1;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* fws_len - length of folding white space at s (RFC 5322 3.2.2; a bare
 * LF folds like CRLF, a line end at the very end is tolerated), or 0 */
static size_t
fws_len(const char *s)
{
	if (*s == ' ' || *s == '\t')
		return 1;
	if (s[0] == '\r' && s[1] == '\n' &&
	    (s[2] == ' ' || s[2] == '\t' || s[2] == '\0'))
		return 2;
	if (s[0] == '\n' && (s[1] == ' ' || s[1] == '\t' || s[1] == '\0'))
		return 1;
	return 0;
}

/* skip_delimited - past a quoted string, comment or domain literal that
 * starts at s[*pos]; -1 when it does not end or holds a bare control */
static int
skip_delimited(const char *s, size_t *pos, char open, char close)
{
	size_t p = *pos + 1, w;
	int depth = 1;

	while (depth > 0) {
		unsigned char c = (unsigned char)s[p];

		if (c == '\0')
			return -1;
		if (c == '\\') {
			/* quoted-pair (3.2.1, obs-qp 4.1) */
			if (s[p + 1] == '\0')
				return -1;
			p += 2;
			continue;
		}
		if ((w = fws_len(s + p)) > 0) {
			p += w;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			return -1;
		if (c == (unsigned char)close)
			depth--;
		else if (open == '(' && c == '(') {
			if (++depth > MAILADDR_MAX_NEST)
				return -1;
		} else if (open == '[' && c == '[')
			return -1;
		p++;
	}
	*pos = p;
	return 0;
}

/* lex - cut value into tokens, dropping CFWS; -1 on a lexical error */
static int
lex(struct parse *ps)
{
	const char *s = ps->s;
	size_t p = 0, w;

	for (;;) {
		unsigned char c = (unsigned char)s[p];
		struct tok *t = &ps->t[ps->nt];

		if (c == '\0') {
			t->type = T_END;
			t->off = p;
			t->len = 0;
			ps->nt++;
			return 0;
		}
		if ((w = fws_len(s + p)) > 0) {
			p += w;
			continue;
		}
		t->off = p;
		switch (c) {
		case '(':
			if (skip_delimited(s, &p, '(', ')') < 0)
				return -1;
			continue;
		case '"':
			if (skip_delimited(s, &p, '"', '"') < 0)
				return -1;
			t->type = T_QSTRING;
			break;
		case '[':
			if (skip_delimited(s, &p, '[', ']') < 0)
				return -1;
			t->type = T_DLITERAL;
			break;
		case '.': t->type = T_DOT; p++; break;
		case '@': t->type = T_AT; p++; break;
		case '<': t->type = T_LT; p++; break;
		case '>': t->type = T_GT; p++; break;
		case ',': t->type = T_COMMA; p++; break;
		case ':': t->type = T_COLON; p++; break;
		case ';': t->type = T_SEMI; p++; break;
		default:
			if (!is_atext(c))
				return -1;
			while (is_atext((unsigned char)s[p]))
				p++;
			t->type = T_ATOM;
			break;
		}
		t->len = p - t->off;
		ps->nt++;
	}
}

static enum tok_type
peek(const struct parse *ps, size_t ahead)
{
	size_t i = ps->i + ahead;

	return i < ps->nt ? ps->t[i].type : T_END;
}

static int
is_word(enum tok_type t)
{
	return t == T_ATOM || t == T_QSTRING;
}

/* parse_domain - domain (3.4.1: dot-atom, obs-domain, domain-literal)
 * whose text is a domain name (dname_valid); the domain, lowercased, goes
 * into dom (DNAME_BUFSIZE bytes; NULL: only checked). 1 for a name, 0 for
 * a literal, -1 on a syntax error. One trailing dot is dropped. */
static int
parse_domain(struct parse *ps, char *dom)
{
	char checked[DNAME_BUFSIZE], *name = dom != NULL ? dom : checked;
	size_t len = 0;

	if (peek(ps, 0) == T_DLITERAL) {
		ps->i++;
		return 0;
	}
	for (;;) {
		const struct tok *t = &ps->t[ps->i];

		if (t->type != T_ATOM || len + t->len + 1 > DNAME_BUFSIZE)
			return -1;
		memcpy(name + len, ps->s + t->off, t->len);
		len += t->len;
		name[len] = '\0';
		ps->i++;
		if (peek(ps, 0) != T_DOT)
			break;
		ps->i++;
		/* a trailing dot: "user@example.com." (root) */
		if (peek(ps, 0) != T_ATOM)
			break;
		name[len++] = '.';
	}
	if (!dname_valid(name))
		return -1;
	str_lower(name);
	return 1;
}

/* parse_local_part - word *("." word) (3.4.1 and obs-local-part) */
static int
parse_local_part(struct parse *ps)
{
	if (!is_word(peek(ps, 0)))
		return -1;
	ps->i++;
	while (peek(ps, 0) == T_DOT) {
		ps->i++;
		if (!is_word(peek(ps, 0)))
			return -1;
		ps->i++;
	}
	return 0;
}

/* got_address - count one address and keep the first one's domain, and
 * every distinct one when the caller wants them all */
static void
got_address(struct parse *ps, int has_domain, const char *dom)
{
	struct mailaddr_authors *a = ps->authors;

	if (ps->count++ == 0 && has_domain) {
		ps->have_domain = 1;
		str_copy(ps->domain, dom, sizeof(ps->domain));
	}
	if (!has_domain)
		ps->all_domains = 0;
	if (a == NULL || !has_domain)
		return;
	a->naddr++;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->domain[i], dom) == 0)
			return;
	if (a->n == MAILADDR_MAX_AUTHORS ||
	    strlen(dom) >= sizeof(a->domain[0])) {
		ps->too_many = 1;
		return;
	}
	str_copy(a->domain[a->n++], dom, sizeof(a->domain[0]));
}

/* parse_addr_spec - local-part ["@" domain]: a missing "@domain" counts
 * as an address without a domain; -1 on a syntax error */
static int
parse_addr_spec(struct parse *ps)
{
	char dom[DNAME_BUFSIZE];
	int r;

	if (parse_local_part(ps) < 0)
		return -1;
	if (peek(ps, 0) != T_AT) {
		got_address(ps, 0, NULL);
		return 0;
	}
	ps->i++;
	if ((r = parse_domain(ps, dom)) < 0)
		return -1;
	got_address(ps, r == 1, dom);
	return 0;
}

/* parse_angle_addr - "<" [obs-route] addr-spec ">" (3.4, 4.4) */
static int
parse_angle_addr(struct parse *ps)
{
	ps->i++; /* "<" */
	if (peek(ps, 0) == T_AT || peek(ps, 0) == T_COMMA) {
		/* obs-domain-list ":" */
		for (;;) {
			while (peek(ps, 0) == T_COMMA)
				ps->i++;
			if (peek(ps, 0) != T_AT)
				break;
			ps->i++;
			if (parse_domain(ps, NULL) < 0)
				return -1;
		}
		if (peek(ps, 0) != T_COLON)
			return -1;
		ps->i++;
	}
	if (parse_addr_spec(ps) < 0)
		return -1;
	if (peek(ps, 0) != T_GT)
		return -1;
	ps->i++;
	return 0;
}

/* parse_mailbox - name-addr / addr-spec (3.4) */
static int
parse_mailbox(struct parse *ps)
{
	size_t j = ps->i;

	if (peek(ps, 0) == T_LT)
		return parse_angle_addr(ps);
	/* a display name is a phrase: a word, then words, dots (obs-phrase) */
	if (!is_word(peek(ps, 0)))
		return -1;
	while (j < ps->nt && (is_word(ps->t[j].type) || ps->t[j].type == T_DOT))
		j++;
	if (j < ps->nt && ps->t[j].type == T_LT) {
		ps->i = j;
		return parse_angle_addr(ps);
	}
	return parse_addr_spec(ps);
}

/* is_group - a phrase followed by ":" starts a group (3.4) */
static int
is_group(const struct parse *ps)
{
	size_t j = ps->i;

	if (j >= ps->nt || !is_word(ps->t[j].type))
		return 0;
	while (j < ps->nt && (is_word(ps->t[j].type) || ps->t[j].type == T_DOT))
		j++;
	return j < ps->nt && ps->t[j].type == T_COLON;
}

/* parse_mailbox_list - mailboxes separated by commas, empty elements
 * allowed (obs-mbox-list), until a token in stop */
static int
parse_mailbox_list(struct parse *ps, enum tok_type stop)
{
	for (;;) {
		enum tok_type t = peek(ps, 0);

		if (t == stop || t == T_END)
			return 0;
		if (t == T_COMMA) {
			ps->i++;
			continue;
		}
		if (parse_mailbox(ps) < 0)
			return -1;
		t = peek(ps, 0);
		if (t == T_COMMA)
			ps->i++;
		else if (t != stop && t != T_END)
			return -1;
	}
}

/* parse_address_list - (mailbox / group) *("," ...), obs-addr-list */
static int
parse_address_list(struct parse *ps)
{
	for (;;) {
		enum tok_type t = peek(ps, 0);

		if (t == T_END)
			return 0;
		if (t == T_COMMA) {
			ps->i++;
			continue;
		}
		if (is_group(ps)) {
			while (peek(ps, 0) != T_COLON)
				ps->i++;
			ps->i++;
			if (parse_mailbox_list(ps, T_SEMI) < 0)
				return -1;
			if (peek(ps, 0) != T_SEMI)
				return -1;
			ps->i++;
		} else if (parse_mailbox(ps) < 0)
			return -1;
		t = peek(ps, 0);
		if (t == T_COMMA)
			ps->i++;
		else if (t != T_END)
			return -1;
	}
}

/* parse_value - lex and parse value into *ps (authors: NULL, or where every
 * distinct domain goes); MAILADDR_OK when it is an address list, else the
 * status to return */
static enum mailaddr_status
parse_value(const char *value, struct parse *ps, struct mailaddr_authors *authors)
{
	size_t len;
	int bad;

	if (value == NULL)
		return MAILADDR_NONE;
	len = strnlen(value, MAILADDR_MAX_INPUT + 1);
	if (len > MAILADDR_MAX_INPUT)
		return MAILADDR_SYNTAX;
	memset(ps, 0, sizeof(*ps));
	ps->s = value;
	ps->authors = authors;
	ps->all_domains = 1;
	/* at most one token a byte, plus T_END */
	ps->t = xcalloc(len + 1, sizeof(*ps->t));
	bad = lex(ps) < 0 || parse_address_list(ps) < 0;
	free(ps->t);
	ps->t = NULL;
	if (bad)
		return MAILADDR_SYNTAX;
	return ps->count == 0 ? MAILADDR_NONE : MAILADDR_OK;
}

enum mailaddr_status
mailaddr_from_domain(const char *value, char *out, size_t outlen)
{
	struct parse ps;
	enum mailaddr_status st = parse_value(value, &ps, NULL);

	if (st != MAILADDR_OK)
		;
	else if (ps.count > 1)
		st = MAILADDR_MULTIPLE;
	else if (!ps.have_domain)
		st = MAILADDR_NO_DOMAIN;
	else if (out == NULL || str_copy(out, ps.domain, outlen) >= outlen)
		st = MAILADDR_SYNTAX;
	if (st != MAILADDR_OK && out != NULL && outlen > 0)
		out[0] = '\0';
	return st;
}

enum mailaddr_status
mailaddr_from_domains(const char *value, struct mailaddr_authors *out)
{
	struct parse ps;
	enum mailaddr_status st;

	memset(out, 0, sizeof(*out));
	st = parse_value(value, &ps, out);
	if (st == MAILADDR_OK && !ps.all_domains)
		st = MAILADDR_NO_DOMAIN;
	else if (st == MAILADDR_OK && ps.too_many)
		st = MAILADDR_TOO_MANY;
	if (st != MAILADDR_OK)
		out->n = 0;
	return st;
}

const char *
mailaddr_status_text(enum mailaddr_status s)
{
	switch (s) {
	case MAILADDR_OK:
		return "one address";
	case MAILADDR_NONE:
		return "no address";
	case MAILADDR_MULTIPLE:
		return "several addresses";
	case MAILADDR_SYNTAX:
		return "not an address list";
	case MAILADDR_NO_DOMAIN:
		return "an address without a domain";
	case MAILADDR_TOO_MANY:
		return "too many author domains";
	}
	return "unknown";
}
