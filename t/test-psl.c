/*
 * test-psl.c - the Public Suffix List (lib/dmarc/psl.c): rules from text
 * (wildcards, exceptions, comments, Unicode rules matched as A-labels),
 * refcounting, bounds, and the 82 checkPublicSuffix cases of the PSL test
 * list (t/data/dmarc/publicsuffix/org-domain-cases.tsv) against
 * the public_suffix_list.dat beside it (or PSL_PATH).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psl.h"
#include "tap.h"
#include "util.h"

#ifndef PSL_PATH
#define PSL_PATH "/usr/share/publicsuffix/public_suffix_list.dat"
#endif

static const char rules[] =
	"// a comment line\n"
	"// ===BEGIN ICANN DOMAINS===\n"
	"com\n"
	"uk.com\n"
	"  jp   trailing words are ignored\n"
	"kyoto.jp\n"
	"*.kobe.jp\r\n"
	"!city.kobe.jp\n"
	"*.ck\n"
	"!www.ck\n"
	"\xe5\x85\xac\xe5\x8f\xb8.cn\n" /* 公司.cn, xn--55qx5d.cn */
	"cn\n"
	"\n"
	"// ===BEGIN PRIVATE DOMAINS===\n"
	"blogspot.com\n";

static const struct {
	const char *name, *domain, *org; /* org NULL: -1 */
} string_cases[] = {
	{"plain", "www.example.com", "example.com"},
	{"org itself", "example.com", "example.com"},
	{"suffix itself", "com", NULL},
	{"two-label rule", "a.b.example.uk.com", "example.uk.com"},
	{"private section", "x.foo.blogspot.com", "foo.blogspot.com"},
	{"rule after spaces", "a.test.jp", "test.jp"},
	{"longest rule wins", "a.b.kyoto.jp", "b.kyoto.jp"},
	{"wildcard", "a.b.c.kobe.jp", "b.c.kobe.jp"},
	{"wildcard: suffix only", "c.kobe.jp", NULL},
	{"exception", "www.city.kobe.jp", "city.kobe.jp"},
	{"exception itself", "city.kobe.jp", "city.kobe.jp"},
	{"wildcard without base rule", "test.ck", NULL},
	{"wildcard without base rule, below", "a.b.test.ck", "b.test.ck"},
	{"exception under wildcard", "www.ck", "www.ck"},
	{"exception under wildcard, below", "www.www.ck", "www.ck"},
	{"base of wildcard", "ck", NULL},
	{"unlisted TLD: implicit *", "x.y.test", "y.test"},
	{"unlisted TLD, two labels", "y.test", "y.test"},
	{"unlisted TLD itself", "test", NULL},
	{"Unicode rule, UTF-8 name", "x.\xe9\xa3\x9f.\xe5\x85\xac\xe5\x8f\xb8.cn",
	    "\xe9\xa3\x9f.\xe5\x85\xac\xe5\x8f\xb8.cn"},
	{"Unicode rule, A-label name", "www.shishi.xn--55qx5d.cn",
	    "shishi.xn--55qx5d.cn"},
	{"Unicode rule, A-label suffix", "xn--55qx5d.cn", NULL},
	{"uppercase", "WWW.Example.COM", "example.com"},
	{"trailing dot", "www.example.com.", "example.com"},
	{"leading dot", ".example.com", NULL},
	{"empty label", "a..example.com", NULL},
	{"two final dots", "www.example.com..", NULL},
	{"label over 63", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com", NULL},
	{"empty", "", NULL},
	{"root", ".", NULL},
};

static void
test_string(void)
{
	char err[200], out[256];
	struct psl *p = psl_load_string(rules, err, sizeof(err));
	struct psl *q;

	if (!ok(p != NULL, "load_string: %s", p ? "ok" : err))
		return;
	for (size_t i = 0; i < sizeof(string_cases) / sizeof(string_cases[0]);
	    i++) {
		const char *name = string_cases[i].name;
		int r = psl_org_domain(p, string_cases[i].domain, out,
		    sizeof(out));

		if (string_cases[i].org == NULL) {
			is_int(r, -1, "%s: no org domain", name);
			is_str(out, "", "%s: out emptied", name);
		} else {
			is_int(r, 0, "%s: found", name);
			is_str(out, string_cases[i].org, "%s: org domain", name);
		}
	}
	/* out too small */
	is_int(psl_org_domain(p, "www.example.com", out, 5), -1,
	    "small out: -1");
	is_int(psl_org_domain(p, NULL, out, sizeof(out)), -1, "NULL name");
	/* the most labels a name has: 127 of one octet, 253 octets */
	{
		char many[300];

		for (size_t i = 0; i < 127; i++)
			memcpy(many + 2 * i, "b.", 2);
		many[253] = '\0';
		is_int(psl_org_domain(p, many, out, sizeof(out)), 0,
		    "127 labels: found");
		is_str(out, "b.b", "127 labels: org domain");
		memcpy(many + 253, "b", 2); /* 254 octets */
		is_int(psl_org_domain(p, many, out, sizeof(out)), -1,
		    "254 octets: not a name");
	}

	/* refcount: the list outlives one unref while referenced */
	q = psl_ref(p);
	ok(q == p, "ref returns the list");
	psl_unref(&p);
	ok(p == NULL, "unref clears the pointer");
	is_int(psl_org_domain(q, "a.b.example.com", out, sizeof(out)), 0,
	    "still usable after one unref");
	psl_unref(&q);
	psl_unref(&q); /* NULL: no-op */
}

static void
test_no_list(void)
{
	char out[256];

	is_int(psl_org_domain(NULL, "a.b.example.co.uk", out, sizeof(out)), 0,
	    "no list: implicit rule");
	is_str(out, "co.uk", "no list: TLD plus one");
}

static void
test_errors(void)
{
	char err[200];
	struct psl *p;

	err[0] = '\0';
	p = psl_load_string("// only comments\n\n", err, sizeof(err));
	ok(p == NULL && strstr(err, "no rules") != NULL,
	    "no rules is an error: %s", err);
	p = psl_load_string(NULL, err, sizeof(err));
	ok(p == NULL, "NULL text is an error");
	p = psl_load("/nonexistent/psl.dat", err, sizeof(err));
	ok(p == NULL && strstr(err, "/nonexistent/psl.dat") != NULL,
	    "missing file names the path: %s", err);
	/* a rule too long is skipped, not stored past a buffer */
	{
		char *big = malloc(2000);

		memset(big, 'a', 1990);
		memcpy(big + 1990, "\ncom\n", 6);
		p = psl_load_string(big, err, sizeof(err));
		ok(p != NULL, "over-long rule skipped");
		psl_unref(&p);
		free(big);
	}
}

/* unescape - "(null)" is NULL */
static const char *
field(char *s)
{
	return strcmp(s, "(null)") == 0 ? NULL : s;
}

static void
test_psl_cases(void)
{
	char path[1024], datpath[1024], line[1024], err[300], out[256];
	const char *dat;
	struct psl *p;
	FILE *f;
	int n = 0, agree = 0, skipped = 0;

	test_data(datpath, sizeof(datpath),
	    "dmarc/publicsuffix/public_suffix_list.dat");
	dat = datpath;
	p = psl_load(dat, err, sizeof(err));
	if (!ok(p != NULL, "psl cases: the suite's PSL loads: %s", p ? dat : err))
		return;
	test_data(path, sizeof(path), "dmarc/publicsuffix/org-domain-cases.tsv");
	if (!ok((f = fopen(path, "r")) != NULL, "psl cases: open %s", path)) {
		psl_unref(&p);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *cols[4] = {NULL, NULL, NULL, NULL}, *s = line;
		const char *want;
		int r, k = 0, commented;

		if (line[0] == '#' || strncmp(line, "input\t", 6) == 0)
			continue;
		line[strcspn(line, "\r\n")] = '\0';
		while (k < 4 && (cols[k++] = strsep(&s, "\t")) != NULL)
			;
		if (cols[1] == NULL)
			continue;
		n++;
		want = field(cols[1]);
		commented = cols[3] != NULL && strstr(cols[3], "commented-out");
		r = psl_org_domain(p, field(cols[0]), out, sizeof(out));
		if ((want == NULL && r == -1) ||
		    (want != NULL && r == 0 && strcmp(out, want) == 0)) {
			agree++;
			ok(1, "psl case");
		} else if (commented) {
			/* upstream disabled these (".local" is not listed) */
			skipped++;
		} else {
			ok(0, "psl case %s: got %s, want %s", cols[0],
			    r == 0 ? out : "(null)", want ? want : "(null)");
		}
	}
	fclose(f);
	printf("psl org-domain cases (%s): %d/%d agree, %d disabled upstream "
	    "and differing\n", dat, agree, n, skipped);
	is_int(n, 82, "all 82 PSL test cases read");
	psl_unref(&p);
}

int
main(void)
{
	test_string();
	test_no_list();
	test_errors();
	test_psl_cases();
	return test_done("test-psl");
}
