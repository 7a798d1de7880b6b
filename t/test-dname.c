/*
 * test-dname.c - domain names as text (lib/core/dname.c): the one length
 * bound (253 octets without the final dot), labels of 1 to 63 octets, the
 * root, case, the final dot, the label boundary of dname_under, the parent
 * walk and dname_norm's refusals.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "dname.h"
#include "tap.h"

/* build - labels of the given lengths ('a'...), joined by dots, then tail */
static const char *
build(char *buf, size_t len, const size_t *labels, size_t n, const char *tail)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + labels[i] + 1 < len; i++) {
		if (i > 0)
			buf[o++] = '.';
		memset(buf + o, 'a' + (int)(i % 26), labels[i]);
		o += labels[i];
	}
	snprintf(buf + o, len - o, "%s", tail);
	return buf;
}

static void
test_len(void)
{
	is_int(dname_len(""), 0, "len of \"\"");
	is_int(dname_len("."), 0, "len of the root");
	is_int(dname_len("example.org"), 11, "len");
	is_int(dname_len("example.org."), 11, "len without the final dot");
	is_int(dname_len("example.org.."), 12, "len: only one dot is final");
}

static void
test_valid(void)
{
	static const size_t l253[] = { 63, 63, 63, 61 };   /* 253 octets */
	static const size_t l254[] = { 63, 63, 63, 62 };   /* 254 octets */
	static const size_t l63[] = { 63, 3 };
	static const size_t l64[] = { 64, 3 };
	char buf[300];
	static const struct {
		const char *name;
		int valid;
	} cases[] = {
		{ "", 1 },
		{ ".", 1 },
		{ "org", 1 },
		{ "example.org", 1 },
		{ "example.org.", 1 },
		{ "EXAMPLE.Org", 1 },
		{ "_dmarc.example.org", 1 },
		{ "a b.example", 1 },          /* 8-bit clean: any octet but '.' */
		{ "..", 0 },
		{ "a..b", 0 },
		{ ".example.org", 0 },
		{ "example.org..", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(dname_valid(cases[i].name), cases[i].valid,
		    "valid(\"%s\")", cases[i].name);
	build(buf, sizeof(buf), l253, 4, "");
	is_int(strlen(buf), 253, "a name of 253 octets");
	ok(dname_valid(buf), "253 octets: valid");
	build(buf, sizeof(buf), l253, 4, ".");
	ok(dname_valid(buf), "253 octets and the final dot: valid");
	build(buf, sizeof(buf), l254, 4, "");
	ok(!dname_valid(buf), "254 octets: not valid");
	build(buf, sizeof(buf), l254, 4, ".");
	ok(!dname_valid(buf), "254 octets and the final dot: not valid");
	build(buf, sizeof(buf), l63, 2, "");
	ok(dname_valid(buf), "a 63-octet label: valid");
	build(buf, sizeof(buf), l64, 2, "");
	ok(!dname_valid(buf), "a 64-octet label: not valid");
	build(buf, sizeof(buf), l64 + 0, 1, "");
	ok(!dname_valid(buf), "a lone 64-octet label: not valid");
}

static void
test_host_valid(void)
{
	static const size_t l253[] = { 63, 63, 63, 61 };
	char buf[300];

	ok(!dname_host_valid("", 0), "host: \"\" is the root");
	ok(!dname_host_valid(".", 0), "host: the root");
	ok(dname_host_valid("localhost", 0), "host: one label");
	ok(!dname_host_valid("localhost", 1), "host: one label, multi wanted");
	ok(dname_host_valid("mail.example.org", 1), "host: three labels, multi");
	ok(dname_host_valid("example.org.", 1), "host: the final dot");
	ok(!dname_host_valid("org.", 1), "host: one label and the dot, multi");
	ok(!dname_host_valid("a b.example", 0), "host: a space");
	ok(!dname_host_valid("a\tb.example", 0), "host: a control character");
	ok(!dname_host_valid("caf\xc3\xa9.example", 0), "host: 8-bit octets");
	ok(!dname_host_valid("a..b", 0), "host: an empty label");
	ok(dname_host_valid(build(buf, sizeof(buf), l253, 4, ""), 1),
	    "host: 253 octets");
	strcat(buf, "a");
	ok(!dname_host_valid(buf, 1), "host: 254 octets");
}

static void
test_norm(void)
{
	static const size_t l253[] = { 63, 63, 63, 61 };
	char out[DNAME_BUFSIZE], small[8], big[300], want[300];

	is_int(dname_norm("Mail.EXAMPLE.org.", out, sizeof(out)), 0, "norm");
	is_str(out, "mail.example.org", "norm: lowercase, no final dot");
	is_int(dname_norm(".", out, sizeof(out)), 0, "norm: the root");
	is_str(out, "", "norm: the root is \"\"");
	is_int(dname_norm("\xc3\x89.example", out, sizeof(out)), 0,
	    "norm: 8-bit octets");
	is_str(out, "\xc3\x89.example", "norm: only ASCII letters are lowered");
	strcpy(out, "junk");
	is_int(dname_norm("a..b", out, sizeof(out)), -1, "norm: not a name");
	is_str(out, "", "norm: not a name leaves \"\"");
	/* truncation is refused, never done */
	is_int(dname_norm("example", small, sizeof(small)), 0, "norm: 7 in 8");
	is_str(small, "example", "norm: exactly fits");
	is_int(dname_norm("example.", small, sizeof(small)), 0,
	    "norm: the final dot needs no room");
	is_int(dname_norm("examples", small, sizeof(small)), -1, "norm: 8 in 8");
	is_str(small, "", "norm: a name that does not fit leaves \"\"");
	is_int(dname_norm("x", small, 0), -1, "norm: no room at all");
	build(big, sizeof(big), l253, 4, ".");
	is_int(dname_norm(big, out, sizeof(out)), 0,
	    "norm: 253 octets and the dot in DNAME_BUFSIZE");
	build(want, sizeof(want), l253, 4, "");
	is_str(out, want, "norm: 253 octets kept whole");
	strcat(want, "a");
	is_int(dname_norm(want, big, sizeof(big)), -1,
	    "norm: 254 octets refused even with room");
}

static void
test_equal_under(void)
{
	static const struct {
		const char *a, *b;
		int equal, under; /* dname_equal(a, b), dname_under(a, b) */
		const char *what;
	} cases[] = {
		{ "Example.ORG", "example.org.", 1, 1, "case, final dot" },
		{ "", ".", 1, 1, "the root both ways" },
		{ "example.org", "example.com", 0, 0, "another name" },
		{ "a.example.org", "example.org", 0, 1, "a subdomain" },
		{ "Mail.Example.ORG.", "example.org", 0, 1, "a subdomain, case, dot" },
		{ "a.b.example.org", "EXAMPLE.org.", 0, 1, "two down" },
		{ "xexample.org", "example.org", 0, 0, "not across a label boundary" },
		{ "example.org", "a.example.org", 0, 0, "a parent is not under" },
		{ "example.org", "example.orgx", 0, 0, "a longer name" },
		{ "org", "example.org", 0, 0, "shorter" },
		{ "example.org", "", 0, 1, "the root \"\" holds all" },
		{ "example.org", ".", 0, 1, "the root \".\" holds all" },
		{ "", "org", 0, 0, "the root is under nothing else" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		is_int(dname_equal(cases[i].a, cases[i].b), cases[i].equal,
		    "equal(\"%s\", \"%s\"): %s", cases[i].a, cases[i].b,
		    cases[i].what);
		is_int(dname_under(cases[i].a, cases[i].b), cases[i].under,
		    "under(\"%s\", \"%s\"): %s", cases[i].a, cases[i].b,
		    cases[i].what);
	}
}

static void
test_labels_parent(void)
{
	const char *p = "a.b.Example.org.";
	static const char *const walk[] = { "b.Example.org.", "Example.org.",
		"org.", "" };

	is_int(dname_labels(""), 0, "labels: \"\"");
	is_int(dname_labels("."), 0, "labels: the root");
	is_int(dname_labels("org"), 1, "labels: one");
	is_int(dname_labels("example.org."), 2, "labels: the final dot");
	is_int(dname_labels(p), 4, "labels: four");
	for (size_t i = 0; i < sizeof(walk) / sizeof(walk[0]); i++) {
		const char *up = dname_parent(p);

		is_str(up, walk[i], "parent of \"%s\"", p);
		ok(up > p && up <= p + strlen(p), "parent points into the name");
		p = up;
	}
	is_str(dname_parent("org"), "", "parent of a top-level label");
	is_str(dname_parent(""), "", "parent of the root");
}

int
main(void)
{
	test_len();
	test_valid();
	test_host_valid();
	test_norm();
	test_equal_under();
	test_labels_parent();
	return test_done("dname");
}
