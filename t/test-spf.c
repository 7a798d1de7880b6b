/*
 * test-spf.c - spf_check() against a table resolver: each RFC 7208 rule
 * that libspf2 1.2.10 gets wrong, the hostile macro records, odd inputs,
 * the RFC 7208 4.3 domain checks, the per-result counters, and 4 threads
 * sharing one checker.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "dns.h"
#include "spf.h"
#include "stats.h"
#include "tap.h"
#include "util.h"

struct rec {
	const char *name, *txt;
};

static const struct rec zone[] = {
	{ "void2.example", "v=spf1 a:n1.void2.example mx:n2.void2.example -all" },
	{ "void3.example", "v=spf1 a:n1.void3.example a:n2.void3.example "
	    "exists:n3.void3.example -all" },
	{ "mapped.example", "v=spf1 ip4:192.0.2.10 -all" },
	{ "inctemp.example", "v=spf1 include:tempfail.example -all" },
	{ "local.example", "v=spf1 -all" },
	{ "exp.example", "v=spf1 exp=why.exp.example -all" },
	{ "why.exp.example", "%{i} may not send for %{d} (%{l})" },
	{ "helo.example", "v=spf1 ip4:192.0.2.9 -all" },
	{ "two.example", "v=spf1 -all" },
	{ "two.example", "v=spf1 +all" },
	{ "other.example", "not an spf record" },
	{ "mx11.example", "v=spf1 mx -all" },
	{ "v6.example", "v=spf1 ip6:2001:db8::/32 -all" },
	{ "syntax.example", "v=spf1 ip4:192.0.2.300 -all" },
	{ "redir.example", "v=spf1 redirect=nothing.example" },
};

/* hostile_macros - the shape that smashes libspf2's stack (t/spf-crash
 * experiment: 127 "%{d}" then 100+ literal bytes aborts it) */
static char *
hostile_macros(const char *prefix, const char *suffix)
{
	struct dynbuf b;

	dynbuf_init(&b, 8192);
	dynbuf_puts(&b, prefix);
	for (int i = 0; i < 127; i++)
		dynbuf_puts(&b, "%{d}");
	for (int i = 0; i < 300; i++)
		dynbuf_puts(&b, "a");
	dynbuf_puts(&b, suffix);
	return dynbuf_take(&b);
}

static struct dns_resolver *
build_zone(void)
{
	struct dns_resolver *d = dns_table_new();
	char name[64], txt[1024], next[64];
	char *h;

	for (size_t i = 0; i < sizeof(zone) / sizeof(zone[0]); i++)
		dns_table_add_text(d, zone[i].name, DNS_T_TXT, zone[i].txt);
	dns_table_set_status(d, "tempfail.example", DNS_T_TXT,
	    DNS_STATUS_TEMPFAIL);
	dns_table_add_text(d, "nothing.example", DNS_T_A, "192.0.2.1");
	/* flat includes: flat10 has 10 include terms, flat11 has 11 */
	for (int n = 10; n <= 11; n++) {
		size_t o = 0;

		o += (size_t)snprintf(txt + o, sizeof(txt) - o, "v=spf1");
		for (int i = 1; i <= n; i++)
			o += (size_t)snprintf(txt + o, sizeof(txt) - o,
			    " include:x%d.leaf.example", i);
		snprintf(txt + o, sizeof(txt) - o, " -all");
		snprintf(name, sizeof(name), "flat%d.example", n);
		dns_table_add_text(d, name, DNS_T_TXT, txt);
	}
	for (int i = 1; i <= 11; i++) {
		snprintf(name, sizeof(name), "x%d.leaf.example", i);
		dns_table_add_text(d, name, DNS_T_TXT, "v=spf1 -all");
	}
	/* nested includes: nest10 reaches depth 10, nest11 depth 11 */
	for (int n = 10; n <= 11; n++) {
		for (int i = 0; i <= n; i++) {
			if (i == 0)
				snprintf(name, sizeof(name), "nest%d.example", n);
			else
				snprintf(name, sizeof(name), "n%d.nest%d.example",
				    i, n);
			snprintf(next, sizeof(next), "n%d.nest%d.example", i + 1,
			    n);
			if (i < n)
				snprintf(txt, sizeof(txt),
				    "v=spf1 include:%s ip4:192.0.2.77 -all", next);
			else
				snprintf(txt, sizeof(txt), "v=spf1 -all");
			dns_table_add_text(d, name, DNS_T_TXT, txt);
		}
	}
	for (int i = 0; i < 11; i++) {
		snprintf(txt, sizeof(txt), "%d mx%d.mx11.example", i, i);
		dns_table_add_text(d, "mx11.example", DNS_T_MX, txt);
	}
	h = hostile_macros("v=spf1 a:", ".example -all");
	dns_table_add_text(d, "hostile.example", DNS_T_TXT, h);
	free(h);
	dns_table_add_text(d, "hostexp.example", DNS_T_TXT,
	    "v=spf1 exp=e.hostexp.example -all");
	h = hostile_macros("", "");
	dns_table_add_text(d, "e.hostexp.example", DNS_T_TXT, h);
	free(h);
	return d;
}

struct tcase {
	const char *name, *ip, *sender, *helo;
	enum spf_result want;
	const char *reason;      /* substring of out.reason, or NULL */
	const char *explanation; /* exact, or NULL */
};

static const struct tcase cases[] = {
	{ "void lookups: 2 is fine", "192.0.2.9", "a@void2.example", "h.example",
	    SPF_RESULT_FAIL, NULL, NULL },
	{ "void lookups: 3 is permerror", "192.0.2.9", "a@void3.example",
	    "h.example", SPF_RESULT_PERMERROR, "void", NULL },
	{ "10 flat includes", "192.0.2.9", "a@flat10.example", "h.example",
	    SPF_RESULT_FAIL, NULL, NULL },
	{ "11 flat includes", "192.0.2.9", "a@flat11.example", "h.example",
	    SPF_RESULT_PERMERROR, "too many DNS lookups", NULL },
	{ "nested includes 10 deep", "192.0.2.9", "a@nest10.example",
	    "h.example", SPF_RESULT_FAIL, NULL, NULL },
	{ "nested includes 11 deep", "192.0.2.9", "a@nest11.example",
	    "h.example", SPF_RESULT_PERMERROR, "too many DNS lookups", NULL },
	{ "more than 10 MX names", "192.0.2.9", "a@mx11.example", "h.example",
	    SPF_RESULT_PERMERROR, "too many MX", NULL },
	{ "IPv4-mapped IPv6 is IPv4", "::ffff:192.0.2.10", "a@mapped.example",
	    "h.example", SPF_RESULT_PASS, NULL, NULL },
	{ "IPv4-mapped IPv6 other", "::ffff:192.0.2.11", "a@mapped.example",
	    "h.example", SPF_RESULT_FAIL, NULL, NULL },
	{ "TEMPFAIL on the record", "192.0.2.9", "a@tempfail.example",
	    "h.example", SPF_RESULT_TEMPERROR,
	    "DNS timeout looking up tempfail.example TXT", NULL },
	{ "TEMPFAIL inside include", "192.0.2.9", "a@inctemp.example",
	    "h.example", SPF_RESULT_TEMPERROR, "timeout", NULL },
	{ "127.0.0.1 is not always allowed", "127.0.0.1", "a@local.example",
	    "h.example", SPF_RESULT_FAIL, NULL,
	    "127.0.0.1 is not permitted by local.example" },
	{ "hostile macro record", "192.0.2.9", "a@hostile.example",
	    "h.example", SPF_RESULT_PERMERROR, "too many macros", NULL },
	{ "hostile macro exp", "192.0.2.9", "a@hostexp.example",
	    "h.example", SPF_RESULT_FAIL, NULL,
	    "192.0.2.9 is not permitted by hostexp.example" },
	{ "exp text expanded", "192.0.2.9", "joe@exp.example", "h.example",
	    SPF_RESULT_FAIL, "192.0.2.9 is not permitted by exp.example",
	    "192.0.2.9 may not send for exp.example (joe)" },
	{ "default explanation", "192.0.2.8", "a@local.example", "h.example",
	    SPF_RESULT_FAIL, NULL, "192.0.2.8 is not permitted by local.example" },
	{ "HELO identity", "192.0.2.9", NULL, "helo.example", SPF_RESULT_PASS,
	    "permitted by helo.example", NULL },
	{ "HELO identity, empty sender", "192.0.2.8", "", "helo.example",
	    SPF_RESULT_FAIL, NULL, NULL },
	{ "2 SPF records", "192.0.2.9", "a@two.example", "h.example",
	    SPF_RESULT_PERMERROR, "2 SPF records", NULL },
	{ "no SPF record", "192.0.2.9", "a@other.example", "h.example",
	    SPF_RESULT_NONE, "no SPF record", NULL },
	{ "no such domain", "192.0.2.9", "a@absent.example", "h.example",
	    SPF_RESULT_NONE, NULL, NULL },
	{ "syntax error", "192.0.2.9", "a@syntax.example", "h.example",
	    SPF_RESULT_PERMERROR, "syntax error", NULL },
	{ "redirect to no record", "192.0.2.9", "a@redir.example", "h.example",
	    SPF_RESULT_PERMERROR, "no SPF record", NULL },
	{ "IPv6 client", "2001:db8::5", "a@v6.example", "h.example",
	    SPF_RESULT_PASS, NULL, NULL },
	{ "invalid client address", "999.1.2.3", "a@local.example",
	    "h.example", SPF_RESULT_NONE, "no client address", NULL },
	{ "NULL client address", NULL, "a@local.example", "h.example",
	    SPF_RESULT_NONE, "no client address", NULL },
	{ "sender without @", "192.0.2.9", "local.example", "h.example",
	    SPF_RESULT_FAIL, NULL, NULL },
	{ "empty HELO, no sender", "192.0.2.9", NULL, "", SPF_RESULT_NONE,
	    NULL, NULL },
	{ "NULL HELO, no sender", "192.0.2.9", NULL, NULL, SPF_RESULT_NONE,
	    NULL, NULL },
	{ "single-label domain", "192.0.2.9", "a@localhost", "h.example",
	    SPF_RESULT_NONE, NULL, NULL },
	/* RFC 7208 4.3: a malformed domain gives none, a final dot is fine */
	{ "one final dot", "192.0.2.8", "a@local.example.", "h.example",
	    SPF_RESULT_FAIL, "not permitted by local.example.",
	    "192.0.2.8 is not permitted by local.example" },
	{ "two final dots", "192.0.2.8", "a@local.example..", "h.example",
	    SPF_RESULT_NONE, "not a valid domain name: local.example..", NULL },
	{ "empty label", "192.0.2.8", "a@local..example", "h.example",
	    SPF_RESULT_NONE, "not a valid domain name", NULL },
	{ "label of 64 octets", "192.0.2.8", "a@"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    ".example", "h.example", SPF_RESULT_NONE, "not a valid domain name",
	    NULL },
	{ "space in the domain", "192.0.2.8", "a@local example", "h.example",
	    SPF_RESULT_NONE, "not a valid domain name", NULL },
	{ "HELO address literal", "192.0.2.9", NULL, "[192.0.2.9]",
	    SPF_RESULT_NONE, "not a valid domain name: [192.0.2.9]", NULL },
	{ "HELO with a final dot", "192.0.2.9", NULL, "helo.example.",
	    SPF_RESULT_PASS, NULL, NULL },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static struct spf_checker *checker;

static void *
worker(void *arg)
{
	int *bad = arg;

	for (int i = 0; i < 200; i++) {
		const struct tcase *t = &cases[(size_t)i % NCASES];
		struct spf_outcome o;

		if (spf_check(checker, t->ip, t->sender, t->helo, &o) != t->want)
			(*bad)++;
	}
	return NULL;
}

int
main(void)
{
	struct dns_resolver *dns = build_zone();
	const struct stats_metric *counter[SPF_RESULT_PERMERROR + 1];
	uint64_t before[SPF_RESULT_PERMERROR + 1];
	long long want[SPF_RESULT_PERMERROR + 1];
	char err[128], name[64];
	pthread_t th[4];
	int bad[4] = { 0, 0, 0, 0 };

	checker = spf_checker_new(dns, "mx.receiver.example", err, sizeof(err));
	ok(checker != NULL, "checker created");
	for (int r = SPF_RESULT_NONE; r <= SPF_RESULT_PERMERROR; r++) {
		snprintf(name, sizeof(name), "spf_checks_%s_total",
		    spf_result_name((enum spf_result)r));
		counter[r] = stats_find(name);
		ok(counter[r] != NULL, "counter %s registered", name);
		before[r] = counter[r] ? stats_value(counter[r]) : 0;
		want[r] = 0;
	}
	for (size_t i = 0; i < NCASES; i++) {
		const struct tcase *t = &cases[i];
		struct spf_outcome o;

		is_str(spf_result_name(spf_check(checker, t->ip, t->sender,
		    t->helo, &o)), spf_result_name(t->want), "%s: result", t->name);
		is_int(o.result, t->want, "%s: out.result", t->name);
		if (t->reason != NULL)
			ok(strstr(o.reason, t->reason) != NULL,
			    "%s: reason \"%s\" has \"%s\"", t->name, o.reason,
			    t->reason);
		if (t->explanation != NULL)
			is_str(o.explanation, t->explanation, "%s: explanation",
			    t->name);
		want[t->want]++;
	}
	for (int r = SPF_RESULT_NONE; r <= SPF_RESULT_PERMERROR; r++)
		if (counter[r] != NULL)
			is_int((long long)(stats_value(counter[r]) - before[r]),
			    want[r], "counter of %s moved by its checks",
			    spf_result_name((enum spf_result)r));
	{
		struct spf_outcome o;

		spf_check(checker, "192.0.2.9", "a@flat10.example", "h", &o);
		is_int(o.dns_lookups, 10, "flat10: lookups counted");
		is_str(o.domain, "flat10.example", "flat10: domain");
		spf_check(checker, "192.0.2.9", "a@void2.example", "h", &o);
		is_int(o.void_lookups, 2, "void2: void lookups counted");
		is_str(spf_result_name(SPF_RESULT_SOFTFAIL), "softfail",
		    "result name");
	}
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, worker, &bad[i]);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		is_int(bad[i], 0, "thread %d: results consistent", i);
	}
	spf_checker_free(&checker);
	ok(checker == NULL, "checker freed");
	dns_resolver_free(&dns);
	return test_done("spf");
}
