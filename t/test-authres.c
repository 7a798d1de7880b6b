/*
 * test-authres.c - lib/authres: rendering, folding, round trips, the strict
 * parser's rejections and the lenient authserv-id reader.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "tap.h"
#include "util.h"

#define NAME_COLS 24    /* "Authentication-Results: " */

struct pspec {
	const char *ptype, *property, *value, *comment;
};

struct rspec {
	const char *method, *result, *comment, *reason;
	struct pspec props[4];
};

struct render_case {
	const char *name;
	const char *id;
	struct rspec res[8];
	const char *want;       /* exact CRLF rendering, or NULL: only check
	                         * the line lengths and the round trip */
};

static const struct render_case render_cases[] = {
	{ "spf pass, one line", "mx.example",
	    { { "spf", "pass", NULL, NULL,
		{ { "smtp", "mailfrom", "user@example.org", NULL } } } },
	    "mx.example; spf=pass smtp.mailfrom=user@example.org" },
	{ "spf pass, 79 columns folds", "mx.example.net",
	    { { "spf", "pass", NULL, NULL,
		{ { "smtp", "mailfrom", "user@example.org", NULL } } } },
	    "mx.example.net;\r\n\tspf=pass smtp.mailfrom=user@example.org" },
	{ "spf fail with comment", "mx.example.net",
	    { { "spf", "fail", "192.0.2.9 is not permitted by example.org",
		NULL,
		{ { "smtp", "mailfrom", "user@example.org", NULL } } } },
	    "mx.example.net;\r\n"
	    "\tspf=fail (192.0.2.9 is not permitted by example.org)\r\n"
	    "\t    smtp.mailfrom=user@example.org" },
	{ "spf helo", "mx.example.net",
	    { { "spf", "none", NULL, NULL,
		{ { "smtp", "helo", "mail.example.org", NULL } } } },
	    "mx.example.net; spf=none smtp.helo=mail.example.org" },
	{ "none", "mx.example.net", { { NULL } }, "mx.example.net; none" },
	{ "local-part with spaces is quoted", "mx",
	    { { "spf", "pass", NULL, NULL,
		{ { "smtp", "mailfrom", "john smith@example.org", NULL } } } },
	    "mx; spf=pass smtp.mailfrom=\"john smith@example.org\"" },
	{ "value with ';' is quoted", "mx",
	    { { "spf", "pass", NULL, NULL,
		{ { "smtp", "helo", "a;b", NULL } } } },
	    "mx; spf=pass smtp.helo=\"a;b\"" },
	{ "quote and backslash escaped", "mx",
	    { { "auth", "pass", NULL, NULL,
		{ { "smtp", "auth", "a\"b\\c", NULL } } } },
	    "mx; auth=pass smtp.auth=\"a\\\"b\\\\c\"" },
	{ "comment parens escaped", "mx",
	    { { "spf", "fail", "a (b) \\c", NULL, { { NULL } } } },
	    "mx; spf=fail (a \\(b\\) \\\\c)" },
	{ "reason quoted, token reason bare", "mx",
	    { { "spf", "none", NULL, "no record", { { NULL } } },
		{ "dkim", "fail", NULL, "bad", { { NULL } } } },
	    "mx; spf=none reason=\"no record\"; dkim=fail reason=bad" },
	{ "empty value and ipv6", "mx",
	    { { "iprev", "pass", NULL, NULL,
		{ { "policy", "iprev", "2001:db8::1", "host.example" },
		    { "smtp", "auth", "", NULL } } } },
	    "mx;\r\n\tiprev=pass policy.iprev=\"2001:db8::1\" (host.example) "
	    "smtp.auth=\"\"" },
	{ "control characters become spaces", "mx",
	    { { "spf", "fail", "a\r\nb", NULL,
		{ { "smtp", "helo", "x\ty\x7f", NULL } } } },
	    "mx; spf=fail (a  b) smtp.helo=\"x\ty \"" },
	{ "quoted authserv-id", "mx example", { { NULL } },
	    "\"mx example\"; none" },
	{ "addresses are bare only in a pvalue", "a@example.net",
	    { { "spf", "fail", NULL, "x@example.org",
		{ { "smtp", "mailfrom", "x@example.org", NULL } } } },
	    "\"a@example.net\";\r\n\tspf=fail reason=\"x@example.org\" "
	    "smtp.mailfrom=x@example.org" },
	{ "long header", "mail-gateway.inbound.example.net",
	    { { "spf", "pass",
		"example.org designates 2001:db8::25 as permitted sender",
		NULL,
		{ { "smtp", "mailfrom", "bounces+abc123@example.org", NULL },
		    { "smtp", "helo", "out-25.mta.example.org", NULL } } },
		{ "dkim", "pass", "2048-bit rsa key sha256", NULL,
		    { { "header", "d", "example.org", NULL },
			{ "header", "i", "@example.org", NULL },
			{ "header", "s", "selector2024", NULL },
			{ "header", "b", "AbCdEf12", NULL } } },
		{ "dkim", "fail", NULL, "signature verification failed",
		    { { "header", "d", "list.example.com", NULL },
			{ "header", "s", "s1", NULL } } },
		{ "dmarc", "pass", "p=reject sp=reject dis=none", NULL,
		    { { "header", "from", "example.org", NULL } } },
		{ "iprev", "pass", NULL, NULL,
		    { { "policy", "iprev", "2001:db8:1234:5678::25",
			"out-25.mta.example.org" } } } },
	    NULL },
	{ "unbreakable long comment (no extra indent: it cannot fit anyway)", "mx.example.net",
	    { { "spf", "fail", "mx.example.net: domain of bounces@example.org "
		"does not designate 2001:db8::25 as permitted sender", NULL,
		{ { "smtp", "mailfrom", "bounces@example.org", NULL } } } },
	    "mx.example.net;\r\n\tspf=fail\r\n\t(mx.example.net: domain of "
	    "bounces@example.org does not designate 2001:db8::25 as permitted "
	    "sender)\r\n\t    smtp.mailfrom=bounces@example.org" },
	{ "very long authserv-id", "a-very-long-authserv-id.with-many-labels."
	    "in-its-domain-name.example.net",
	    { { "spf", "pass", NULL, NULL, { { NULL } } } },
	    "a-very-long-authserv-id.with-many-labels.in-its-domain-name."
	    "example.net;\r\n\tspf=pass" },
};

static struct authres *
build(const struct render_case *c)
{
	struct authres *ar = authres_new(c->id);
	struct authres_result *r;
	size_t i, j;

	for (i = 0; i < 8 && c->res[i].method != NULL; i++) {
		r = authres_add(ar, c->res[i].method, c->res[i].result,
		    c->res[i].comment);
		if (!ok(r != NULL, "%s: add %s", c->name, c->res[i].method))
			break;
		if (c->res[i].reason != NULL)
			r->reason = xstrdup(c->res[i].reason);
		for (j = 0; j < 4 && c->res[i].props[j].ptype != NULL; j++) {
			const struct pspec *p = &c->res[i].props[j];

			ok(authres_add_prop_comment(r, p->ptype, p->property,
			    p->value, p->comment) == 0, "%s: add prop %s.%s",
			    c->name, p->ptype, p->property);
		}
	}
	return ar;
}

/* lines of "Authentication-Results: " + value, a TAB counted as 8 columns */
static int
max_line_cols(const char *v)
{
	int col = NAME_COLS, max = 0;

	for (; *v != '\0'; v++) {
		if (*v == '\r')
			continue;
		if (*v == '\n') {
			if (col > max)
				max = col;
			col = 0;
			if (v[1] != ' ' && v[1] != '\t')
				return 1000;    /* not a fold */
			continue;
		}
		col += *v == '\t' ? 8 : 1;
	}
	return col > max ? col : max;
}

static const char *
s_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

/* the parse of a rendering holds what was built, control characters aside */
static void
same_header(const char *name, const struct authres *a, const struct authres *b)
{
	size_t i, j;

	is_str(b->authserv_id, a->authserv_id, "%s: authserv-id", name);
	is_int(b->nresults, a->nresults, "%s: result count", name);
	is_int(b->none, a->nresults == 0, "%s: none", name);
	for (i = 0; i < a->nresults && i < b->nresults; i++) {
		const struct authres_result *x = &a->results[i];
		const struct authres_result *y = &b->results[i];

		is_str(y->method, x->method, "%s: method %zu", name, i);
		is_str(y->result, x->result, "%s: result %zu", name, i);
		is_str(s_or_empty(y->reason), s_or_empty(x->reason),
		    "%s: reason %zu", name, i);
		is_int(y->nprops, x->nprops, "%s: props %zu", name, i);
		for (j = 0; j < x->nprops && j < y->nprops; j++) {
			const struct authres_prop *p = &x->props[j];
			const struct authres_prop *q = &y->props[j];

			is_str(q->ptype, p->ptype, "%s: ptype", name);
			is_str(q->property, p->property, "%s: property", name);
			is_str(q->value, p->value, "%s: value", name);
		}
	}
}

static void
test_render(void)
{
	size_t i;

	for (i = 0; i < sizeof(render_cases) / sizeof(render_cases[0]); i++) {
		const struct render_case *c = &render_cases[i];
		struct authres *ar = build(c), *back;
		char *v = authres_render(ar), *lf = authres_render_lf(ar);
		char err[128], *p, *q;
		int lossy;

		if (c->want != NULL)
			is_str(v, c->want, "%s: rendering", c->name);
		if (strcmp(c->name, "very long authserv-id") != 0 &&
		    strcmp(c->name, "unbreakable long comment (no extra indent: it cannot fit anyway)") != 0)
			ok(max_line_cols(v) <= 78, "%s: lines <= 78 columns "
			    "(longest %d)", c->name, max_line_cols(v));
		/* render_lf is render without the CRs */
		for (p = q = v; *p != '\0'; p++)
			if (*p != '\r')
				*q++ = *p;
		*q = '\0';
		is_str(lf, v, "%s: lf rendering", c->name);
		back = authres_parse(v, err, sizeof(err));
		lossy = strcmp(c->name, "control characters become spaces") == 0;
		if (ok(back != NULL, "%s: parses back (%s)", c->name, err) &&
		    !lossy)
			same_header(c->name, ar, back);
		if (back != NULL && ar->nresults > 0 && !lossy &&
		    ar->results[0].comment != NULL)
			is_str(back->results[0].comment, ar->results[0].comment,
			    "%s: comment back", c->name);
		authres_free(&back);
		free(v);
		free(lf);
		authres_free(&ar);
		ok(ar == NULL, "%s: free clears the pointer", c->name);
	}
}

static void
test_writer_refusals(void)
{
	struct authres *ar = authres_new("mx.example"), *other;
	struct authres_result *r, *r2;
	char *big = xmalloc(AUTHRES_MAX_STRING + 2);
	char name[16];
	int i, n;

	ok(authres_add(ar, "sp f", "pass", NULL) == NULL, "method with space");
	ok(authres_add(ar, "spf", "", NULL) == NULL, "empty result");
	ok(authres_add(ar, "spf", "pass-", NULL) == NULL, "result ends in '-'");
	ok(authres_add(ar, "spf=", "pass", NULL) == NULL, "method with '='");
	r = authres_add(ar, "SPF", "Pass", NULL);
	ok(r != NULL, "a good result");
	is_str(r->method, "spf", "method lowercased");
	is_str(r->result, "pass", "result lowercased");
	is_int(authres_add_prop(r, "smtp.", "mailfrom", "x"), -1, "bad ptype");
	is_int(authres_add_prop(r, "smtp", "mail from", "x"), -1,
	    "bad property");
	memset(big, 'a', AUTHRES_MAX_STRING + 1);
	big[AUTHRES_MAX_STRING + 1] = '\0';
	is_int(authres_add_prop(r, "smtp", "helo", big), -1, "value too long");
	other = authres_new("mx");
	r2 = authres_add(other, "spf", "pass", big);
	ok(r2 != NULL && strlen(r2->comment) == AUTHRES_MAX_STRING,
	    "a long comment is cut");
	authres_free(&other);
	for (n = 0; n < AUTHRES_MAX_PROPS; n++)
		if (authres_add_prop(r, "header", "d", "example.org") < 0)
			break;
	is_int(n, AUTHRES_MAX_PROPS, "props up to the bound");
	is_int(authres_add_prop(r, "header", "d", "x"), -1,
	    "props over the bound");
	for (i = 1; i < AUTHRES_MAX_RESULTS; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		if (authres_add(ar, name, "pass", NULL) == NULL)
			break;
	}
	is_int(i, AUTHRES_MAX_RESULTS, "results up to the bound");
	ok(authres_add(ar, "dkim", "pass", NULL) == NULL,
	    "results over the bound");
	free(big);
	authres_free(&ar);
	authres_free(&ar);      /* NULL is fine */
}

static const struct {
	const char *value;
	int want;
} quote_cases[] = {
	{ "example.org", 0 }, { "user@example.org", 0 }, { "@example.org", 0 },
	{ "first.last@example.org", 0 }, { "oINEO8hg", 0 }, { "1362471462", 0 },
	{ "a+b_c@mail.example.org", 0 },
	{ "a b", 1 }, { "", 1 }, { "a;b", 1 }, { "user@localhost", 1 },
	{ "a=b@example.org", 1 }, { "2001:db8::1", 1 }, { ".x@example.org", 1 },
	{ "x..y@example.org", 1 }, { "x@example..org", 1 }, { "ab/cd", 1 },
	{ "a@b@example.org", 1 }, { "x@-example.org", 1 }, { "(x)", 1 },
};

static void
test_needs_quote(void)
{
	size_t i;

	for (i = 0; i < sizeof(quote_cases) / sizeof(quote_cases[0]); i++)
		is_int(authres_needs_quote(quote_cases[i].value),
		    quote_cases[i].want, "needs_quote \"%s\"",
		    quote_cases[i].value);
}

static void
test_parse_accepts(void)
{
	char err[128];
	struct authres *ar;
	const struct authres_result *r;

	/* RFC 8601 Appendix B.6, comment-heavy */
	ar = authres_parse("foo.example.net (foobar) 1 (baz);\r\n"
	    "    dkim (Because I like it) / 1 (One yay) = (wait for it) "
	    "fail\r\n"
	    "      policy (A dot can go here) . (like that) expired\r\n"
	    "      (this surprised me) = (as I wasn't expecting it) 1362471462",
	    err, sizeof(err));
	if (ok(ar != NULL, "RFC 8601 B.6 parses (%s)", err)) {
		is_str(ar->authserv_id, "foo.example.net", "B.6 authserv-id");
		is_int(ar->version, 1, "B.6 version");
		is_int(ar->nresults, 1, "B.6 one result");
		r = &ar->results[0];
		is_str(r->method, "dkim", "B.6 method");
		is_str(r->result, "fail", "B.6 result");
		is_int(r->nprops, 1, "B.6 one property");
		is_str(r->props[0].ptype, "policy", "B.6 ptype");
		is_str(r->props[0].property, "expired", "B.6 property");
		is_str(r->props[0].value, "1362471462", "B.6 value");
	}
	authres_free(&ar);

	/* keywords lowercased, values as written, nested comments, LF folds */
	ar = authres_parse("(x (y) z) MX.Example.Net 1 ;\n\tSPF=Pass ((nested) "
	    "\\) c) Smtp.MailFrom=User@Example.ORG ; Dkim/1=FAIL reason=bad "
	    "header.i=\"john doe\"@example.org (c2);", err, sizeof(err));
	if (ok(ar != NULL, "messy header parses (%s)", err)) {
		is_str(ar->authserv_id, "MX.Example.Net", "id as written");
		is_int(ar->nresults, 2, "two results");
		r = &ar->results[0];
		is_str(r->method, "spf", "spf lowercased");
		is_str(r->result, "pass", "pass lowercased");
		is_str(r->comment, "(nested) ) c", "nested comment text");
		is_str(r->props[0].ptype, "smtp", "ptype lowercased");
		is_str(r->props[0].property, "mailfrom", "property lowercased");
		is_str(r->props[0].value, "User@Example.ORG",
		    "value as written");
		r = &ar->results[1];
		is_str(r->method, "dkim", "method with version");
		is_str(r->reason, "bad", "token reason");
		is_str(r->props[0].value, "john doe@example.org",
		    "quoted local-part");
		is_str(r->props[0].comment, "c2", "property comment");
	}
	authres_free(&ar);

	ar = authres_parse("example.com; auth=pass smtp.auth=\"\xe8\x8a\xb1 "
	    "\\\"x\\\\ []\"", err, sizeof(err));
	if (ok(ar != NULL, "UTF-8 quoted-string (%s)", err))
		is_str(ar->results[0].props[0].value, "\xe8\x8a\xb1 \"x\\ []",
		    "UTF-8 value unquoted");
	authres_free(&ar);

	ar = authres_parse("example.com; none", err, sizeof(err));
	ok(ar != NULL && ar->none && ar->nresults == 0, "none");
	authres_free(&ar);
	ar = authres_parse("example.com; none=pass", err, sizeof(err));
	ok(ar != NULL && !ar->none && ar->nresults == 1, "a method named none");
	authres_free(&ar);
	ar = authres_parse("\"quoted id\" 1; spf=pass\r\n", err, sizeof(err));
	ok(ar != NULL && strcmp(ar->authserv_id, "quoted id") == 0,
	    "quoted authserv-id, trailing CRLF");
	authres_free(&ar);
}

static char *
repeat(const char *head, const char *unit, int n)
{
	struct dynbuf b;

	dynbuf_init(&b, 1 << 20);
	dynbuf_puts(&b, head);
	while (n-- > 0)
		dynbuf_puts(&b, unit);
	return dynbuf_take(&b);
}

static const char *const reject_cases[] = {
	"", "   ", "example.com", "example.com;", "; none", ";none",
	"example.com; spf", "example.com; spf=", "example.com; spf pass",
	"example.com; spf=pass smtp", "example.com; spf=pass smtp.",
	"example.com; spf=pass smtp.mailfrom",
	"example.com; spf=pass smtp.mailfrom=",
	"example.com; spf=pass (unterminated",
	"example.com; spf=pass (a (b)",
	"example.com; spf=pass smtp.mailfrom=\"unterminated",
	"example.com; spf=pass reason", "example.com; spf=pass reason \"x\"",
	"example.com; spf=pass smtp.mailfrom=a reason=x",
	"example.com; spf=pass reason=a reason=b",
	"example.com; spf=pass x-bits=1024",
	"example.com; spf=pass; none", "example.com; none; spf=pass",
	"example.com; none;", "example.com 1 1; spf=pass",
	"example.com a; spf=pass", "example.com 12.0; spf=pass",
	"example.com; spf=pass policy.iprev=2001:db8::1",
	"example.com; dkim=pass header.b=ab/cd",
	"example.com; spf=pass smtp.mailfrom=a@localhost",
	"example.com; spf=pass smtp.mailfrom=a..b@example.org",
	"example.com; spf=pass- smtp.helo=x", "example.com; spf=pass.x",
	"example.com; spf=pass\r\nsmtp.mailfrom=x@example.org",
	"example.com; spf=pass\nsmtp.mailfrom=x@example.org",
	"example.com; spf=\x01pass", "example.com;; spf=pass",
	"example.com; spf=pass;;", "example.com; \"spf\"=pass",
	"example.com; spf=pass \"smtp\".mailfrom=x",
	"example.com; spf=pass smtp.mailfrom=x=y",
	"example.com; dkim/=pass", "example.com; dkim/1234567890=pass",
	"example.com; spf=pass (bad \x01 char)",
	"example.com; spf=pass smtp.helo=\"a\rb\"",
	"example.com; spf=pass smtp_x.helo=x",
	"example.com, spf=pass",
};

static void
test_parse_rejects(void)
{
	char err[128], *big;
	struct authres *ar;
	size_t i;

	for (i = 0; i < sizeof(reject_cases) / sizeof(reject_cases[0]); i++) {
		err[0] = '\0';
		ar = authres_parse(reject_cases[i], err, sizeof(err));
		ok(ar == NULL && err[0] != '\0', "rejects \"%s\"",
		    reject_cases[i]);
		authres_free(&ar);
	}

	big = repeat("example.com", "; spf=pass", AUTHRES_MAX_RESULTS);
	ar = authres_parse(big, err, sizeof(err));
	ok(ar != NULL, "%d results is the bound (%s)", AUTHRES_MAX_RESULTS,
	    err);
	authres_free(&ar);
	free(big);
	big = repeat("example.com", "; spf=pass", AUTHRES_MAX_RESULTS + 1);
	ar = authres_parse(big, err, sizeof(err));
	ok(ar == NULL && strstr(err, "too many results"),
	    "results over the bound");
	free(big);
	big = repeat("example.com; dkim=pass", " header.d=x",
	    AUTHRES_MAX_PROPS);
	ar = authres_parse(big, err, sizeof(err));
	ok(ar != NULL, "%d properties is the bound", AUTHRES_MAX_PROPS);
	authres_free(&ar);
	free(big);
	big = repeat("example.com; dkim=pass", " header.d=x",
	    AUTHRES_MAX_PROPS + 1);
	ar = authres_parse(big, err, sizeof(err));
	ok(ar == NULL && strstr(err, "too many properties"),
	    "props over the bound");
	free(big);
	big = repeat("example.com; spf=pass ", "(comment)",
	    AUTHRES_MAX_INPUT / 9 + 1);
	ar = authres_parse(big, err, sizeof(err));
	ok(ar == NULL && strstr(err, "too long"), "input over the bound");
	free(big);
	big = repeat("example.com; spf=pass ", "(", 20000);
	ar = authres_parse(big, err, sizeof(err));
	ok(ar == NULL, "deep unterminated comment");
	free(big);
	ar = authres_parse("example.com; spf=pass", NULL, 0);
	ok(ar != NULL, "err may be NULL");
	authres_free(&ar);
	ok(authres_parse("example.com", NULL, 0) == NULL, "err NULL on error");
}

static const struct {
	const char *name, *value, *want;        /* want NULL: -1 */
} id_cases[] = {
	{ "plain", "mx.example.net; spf=pass", "mx.example.net" },
	{ "uppercase", "MX.Example.NET; spf=pass", "mx.example.net" },
	{ "comment first", "(comment) mx.example.net; none", "mx.example.net" },
	{ "nested comments", " (a (b \\) c)) \r\n\tmx.example.net (x) 1; none",
	    "mx.example.net" },
	{ "quoted", "\"MX.example.net\"; spf=pass", "mx.example.net" },
	{ "quoted with escapes", "\"a\\\"b\"; none", "a\"b" },
	{ "garbage after", "mx.example.net garbage ;;; === (((",
	    "mx.example.net" },
	{ "no semicolon", "mx.example.net", "mx.example.net" },
	{ "id then comment", "mx.example.net(x); none", "mx.example.net" },
	{ "empty", "", NULL },
	{ "only spaces", " \t ", NULL },
	{ "unterminated comment", "(mx.example.net; none", NULL },
	{ "no id", "; spf=pass", NULL },
	{ "unterminated quote", "\"mx.example.net; none", NULL },
	{ "stray paren", ") mx.example.net", NULL },
};

static void
test_authserv_id(void)
{
	char out[64], small[8];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(id_cases) / sizeof(id_cases[0]); i++) {
		str_copy(out, "unchanged", sizeof(out));
		rc = authres_authserv_id(id_cases[i].value, out, sizeof(out));
		if (id_cases[i].want == NULL)
			is_int(rc, -1, "id %s", id_cases[i].name);
		else if (is_int(rc, 0, "id %s", id_cases[i].name))
			is_str(out, id_cases[i].want, "id %s",
			    id_cases[i].name);
	}
	is_int(authres_authserv_id("mx.example.net", small, sizeof(small)), -1,
	    "id longer than the buffer is not truncated into a match");
	is_int(authres_authserv_id("mx", small, 0), -1, "zero-size buffer");
}

int
main(void)
{
	test_render();
	test_writer_refusals();
	test_needs_quote();
	test_parse_accepts();
	test_parse_rejects();
	test_authserv_id();
	return test_done("authres");
}
