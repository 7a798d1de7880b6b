/*
 * test-mailaddr.c - the From header parser (lib/dmarc/mailaddr.c): one named
 * case per RFC 5322 form, the obsolete forms, folding, UTF-8, and the
 * bounds.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mailaddr.h"
#include "tap.h"

static const struct {
	const char *name;
	const char *value;
	enum mailaddr_status want;
	const char *domain;
} cases[] = {
	{"addr-spec", "joe@example.com", MAILADDR_OK, "example.com"},
	{"angle-addr", "<joe@example.com>", MAILADDR_OK, "example.com"},
	{"display name", "Joe Johnson <joe@example.com>", MAILADDR_OK,
	    "example.com"},
	{"quoted display name", "\"Joe Johnson\" <joe@example.com>",
	    MAILADDR_OK, "example.com"},
	{"quoted name with comma and brackets",
	    "\"Johnson, Joe <x@evil.example>\" <joe@example.com>", MAILADDR_OK,
	    "example.com"},
	{"quoted-pair in quoted name", "\"Joe \\\"J\\\" J\" <joe@example.com>",
	    MAILADDR_OK, "example.com"},
	{"comment before", "(Joe Johnson) joe@example.com", MAILADDR_OK,
	    "example.com"},
	{"comment after", "joe@example.com (Joe)", MAILADDR_OK, "example.com"},
	{"nested comment", "joe@example.com (a (b (c) \\) d) e)", MAILADDR_OK,
	    "example.com"},
	{"comment with address inside", "(x@evil.example) joe@example.com",
	    MAILADDR_OK, "example.com"},
	{"comment inside domain", "joe@(c)example.com", MAILADDR_OK,
	    "example.com"},
	{"comment with comma", "(,) joe@example.com", MAILADDR_OK,
	    "example.com"},
	{"uppercase domain", "joe@EXAMPLE.Com", MAILADDR_OK, "example.com"},
	{"trailing dot", "joe@example.com.", MAILADDR_OK, "example.com"},
	{"trailing dot in angle", "<joe@example.com.>", MAILADDR_OK,
	    "example.com"},
	{"blank before >", " <user@example.com > ", MAILADDR_OK,
	    "example.com"},
	{"quoted local part", "\"joe smith\"@example.com", MAILADDR_OK,
	    "example.com"},
	{"quoted local part with @", "\"a@b\"@example.com", MAILADDR_OK,
	    "example.com"},
	{"obs-local-part", "joe . smith@example.com", MAILADDR_OK,
	    "example.com"},
	{"obs-local-part quoted words", "\"joe\".\"smith\"@example.com",
	    MAILADDR_OK, "example.com"},
	{"obs-phrase with dots", "Joe Q. Public <joe@example.com>",
	    MAILADDR_OK, "example.com"},
	{"obs-route", "<@a.example,@b.example:joe@example.com>", MAILADDR_OK,
	    "example.com"},
	{"obs-route leading commas", "<,@a.example:joe@example.com>",
	    MAILADDR_OK, "example.com"},
	{"group of one", "Friends: joe@example.com;", MAILADDR_OK,
	    "example.com"},
	{"group of one, CFWS after", "Friends: <joe@example.com> ; (x)",
	    MAILADDR_OK, "example.com"},
	{"folding CRLF", "Joe\r\n Johnson\r\n\t<joe@example.com>", MAILADDR_OK,
	    "example.com"},
	{"folding LF", "Joe\n Johnson <joe@\n example.com>", MAILADDR_OK,
	    "example.com"},
	{"UTF-8 display name", "J\xc3\xb6rg M\xc3\xbcller <j@example.de>",
	    MAILADDR_OK, "example.de"},
	{"UTF-8 quoted display name", "\"\xe5\xbc\xa0\xe4\xb8\x89\" <z@example.cn>",
	    MAILADDR_OK, "example.cn"},
	{"A-label domain kept", "x@xn--85x722f.xn--fiqs8s", MAILADDR_OK,
	    "xn--85x722f.xn--fiqs8s"},
	{"empty list elements", ", joe@example.com ,", MAILADDR_OK,
	    "example.com"},
	{"apostrophe in display name", "Davide D'Marco <user@blah.com>",
	    MAILADDR_OK, "blah.com"},

	{"empty", "", MAILADDR_NONE, NULL},
	{"blank", "  \t ", MAILADDR_NONE, NULL},
	{"comment only", "(nobody)", MAILADDR_NONE, NULL},
	{"empty group", "Undisclosed recipients: ;", MAILADDR_NONE, NULL},
	{"empty group, no space", "Undisclosed:;", MAILADDR_NONE, NULL},

	{"two addresses", "joe@example.com, ace@example.org",
	    MAILADDR_MULTIPLE, NULL},
	{"two name-addrs", "Joe <joe@example.com>,Ace <ace@example.org>",
	    MAILADDR_MULTIPLE, NULL},
	{"group of two", "G: a@example.com, c@example.org;",
	    MAILADDR_MULTIPLE, NULL},
	{"group and address", "G: a@example.com;, b@example.com",
	    MAILADDR_MULTIPLE, NULL},
	{"two in the same domain", "a@example.com, b@example.com",
	    MAILADDR_MULTIPLE, NULL},
	{"one without domain among several",
	    "user1@blackops.org, user2, user3@blackops.org", MAILADDR_MULTIPLE,
	    NULL},

	{"bare local part", "joe", MAILADDR_NO_DOMAIN, NULL},
	{"quoted string only", "\"Test User\"", MAILADDR_NO_DOMAIN, NULL},
	{"angle without domain", "<joe>", MAILADDR_NO_DOMAIN, NULL},
	{"domain literal", "joe@[192.0.2.1]", MAILADDR_NO_DOMAIN, NULL},

	{"phrase only", "Test User", MAILADDR_SYNTAX, NULL},
	{"empty angle", "<>", MAILADDR_SYNTAX, NULL},
	{"nested angles", "<<<><joe@joe.com>>>", MAILADDR_SYNTAX, NULL},
	{"quoted string then addr-spec",
	    "\"Johnson, Joe <joe@joe.com>\" joe@joe.com", MAILADDR_SYNTAX, NULL},
	{"group without ;", "Mail From:<joe@joe.com>", MAILADDR_SYNTAX, NULL},
	{"header name included", "From: Joe <joe@example.com>",
	    MAILADDR_SYNTAX, NULL},
	{"nested group", "A: B: x@y.example;;", MAILADDR_SYNTAX, NULL},
	{"unterminated quote", "\"Joe <joe@example.com>", MAILADDR_SYNTAX,
	    NULL},
	{"unterminated comment", "joe@example.com (x", MAILADDR_SYNTAX, NULL},
	{"unbalanced )", "joe@example.com )", MAILADDR_SYNTAX, NULL},
	{"unterminated angle", "Joe <joe@example.com", MAILADDR_SYNTAX, NULL},
	{"two @", "joe@a@example.com", MAILADDR_SYNTAX, NULL},
	{"empty domain", "joe@", MAILADDR_SYNTAX, NULL},
	{"empty label", "joe@example..com", MAILADDR_SYNTAX, NULL},
	{"leading dot in domain", "joe@.example.com", MAILADDR_SYNTAX, NULL},
	{"empty local part", "@example.com", MAILADDR_SYNTAX, NULL},
	{"bare CR", "joe@example.com\r x", MAILADDR_SYNTAX, NULL},
	{"line end not folded", "joe@example.com\r\nX: y", MAILADDR_SYNTAX,
	    NULL},
	{"control character", "jo\x01@example.com", MAILADDR_SYNTAX, NULL},
	{"backslash outside quotes", "jo\\e@example.com", MAILADDR_SYNTAX,
	    NULL},
	{"route without colon", "<@a.example joe@example.com>",
	    MAILADDR_SYNTAX, NULL},
	{"label over 63", "x@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
	    MAILADDR_SYNTAX, NULL},
};

static void
test_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[256];
		enum mailaddr_status st;

		memset(out, 'X', sizeof(out));
		st = mailaddr_from_domain(cases[i].value, out, sizeof(out));
		is_int(st, cases[i].want, "%s: status (%s)", cases[i].name,
		    mailaddr_status_text(st));
		if (cases[i].domain != NULL)
			is_str(out, cases[i].domain, "%s: domain",
			    cases[i].name);
		else
			is_str(out, "", "%s: no domain on failure",
			    cases[i].name);
	}
}

static void
test_bounds(void)
{
	char small[8], out[256];
	char *big, *deep, *longdom;
	size_t n;

	/* the domain must fit out */
	is_int(mailaddr_from_domain("joe@example.com", small, sizeof(small)),
	    MAILADDR_SYNTAX, "bounds: domain longer than out");
	is_int(mailaddr_from_domain(NULL, out, sizeof(out)), MAILADDR_NONE,
	    "bounds: NULL value");

	/* an over-long value is refused, not read */
	n = 70000;
	big = malloc(n + 1);
	memset(big, 'a', n);
	memcpy(big + n - 12, "@example.com", 12);
	big[n] = '\0';
	is_int(mailaddr_from_domain(big, out, sizeof(out)), MAILADDR_SYNTAX,
	    "bounds: 70000-byte value");
	free(big);

	/* comments nested past the limit */
	n = 200;
	deep = malloc(2 * n + 20);
	memset(deep, '(', n);
	memset(deep + n, ')', n);
	memcpy(deep + 2 * n, " j@example.com", 15);
	is_int(mailaddr_from_domain(deep, out, sizeof(out)), MAILADDR_SYNTAX,
	    "bounds: comments nested 200 deep");
	free(deep);
	is_int(mailaddr_from_domain("((((((((((x)))))))))) j@example.com", out,
	    sizeof(out)), MAILADDR_OK, "bounds: comments nested 10 deep");

	/* a domain of 253 octets is fine, 255 is not */
	longdom = malloc(400);
	n = 0;
	longdom[n++] = 'j';
	longdom[n++] = '@';
	for (int l = 0; l < 4; l++) {
		memset(longdom + n, 'a' + l, 62);
		n += 62;
		longdom[n++] = '.';
	}
	memcpy(longdom + n, "ab", 3); /* 4 * 63 + 2 = 254 octets */
	is_int(mailaddr_from_domain(longdom, out, sizeof(out)), MAILADDR_SYNTAX,
	    "bounds: 254-octet domain");
	longdom[n + 1] = '\0'; /* 253 octets */
	is_int(mailaddr_from_domain(longdom, out, sizeof(out)), MAILADDR_OK,
	    "bounds: 253-octet domain");
	is_int(strlen(out), 253, "bounds: 253-octet domain copied");
	free(longdom);
}

static void
test_texts(void)
{
	is_str(mailaddr_status_text(MAILADDR_NONE), "no address", "text none");
	is_str(mailaddr_status_text(MAILADDR_MULTIPLE), "several addresses",
	    "text multiple");
	ok(strlen(mailaddr_status_text(MAILADDR_SYNTAX)) > 0, "text syntax");
	ok(strlen(mailaddr_status_text(MAILADDR_NO_DOMAIN)) > 0,
	    "text no domain");
}

/* several mailboxes in one From (RFC 7489 6.6.1): the distinct author
 * domains, in order, lowercased; bounded */
static void
test_authors(void)
{
	static const struct {
		const char *in;
		enum mailaddr_status st;
		size_t n;
		const char *d0, *d1;
	} c[] = {
		{ "a@Example.org", MAILADDR_OK, 1, "example.org", NULL },
		{ "a@example.org, B <b@EXAMPLE.org>", MAILADDR_OK, 1, "example.org", NULL },
		{ "a@example.org, b@example.net", MAILADDR_OK, 2, "example.org", "example.net" },
		{ "Team: a@x.example, b@y.example;, c@x.example", MAILADDR_OK, 2, "x.example", "y.example" },
		{ "a@example.org, undisclosed", MAILADDR_NO_DOMAIN, 0, NULL, NULL },
		{ "a@example.org, b@[192.0.2.1]", MAILADDR_NO_DOMAIN, 0, NULL, NULL },
		{ "a@example.org,, ,", MAILADDR_OK, 1, "example.org", NULL },
		{ "a@example.org; b@example.net", MAILADDR_SYNTAX, 0, NULL, NULL },
		{ "", MAILADDR_NONE, 0, NULL, NULL },
		{ "1@a.example, 2@b.example, 3@c.example, 4@d.example, 5@e.example, "
		  "6@f.example, 7@g.example, 8@h.example", MAILADDR_OK, 8, "a.example", "b.example" },
		{ "1@a.example, 2@b.example, 3@c.example, 4@d.example, 5@e.example, "
		  "6@f.example, 7@g.example, 8@h.example, 9@i.example", MAILADDR_TOO_MANY, 0, NULL, NULL },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct mailaddr_authors a;
		enum mailaddr_status st = mailaddr_from_domains(c[i].in, &a);

		is_int(st, c[i].st, "authors \"%s\": status", c[i].in);
		is_int(a.n, c[i].n, "authors \"%s\": count", c[i].in);
		if (c[i].d0 != NULL && a.n > 0)
			is_str(a.domain[0], c[i].d0, "authors \"%s\": first", c[i].in);
		if (c[i].d1 != NULL && a.n > 1)
			is_str(a.domain[1], c[i].d1, "authors \"%s\": second", c[i].in);
	}
}

int
main(void)
{
	test_authors();
	test_table();
	test_bounds();
	test_texts();
	return test_done("test-mailaddr");
}
