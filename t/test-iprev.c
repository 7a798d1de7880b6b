/*
 * test-iprev.c - forward-confirmed reverse DNS (lib/iprev) on a table
 * resolver: pass, no PTR, a PTR name that does not confirm, IPv6, a PTR
 * set of 20 names (10 looked at), SERVFAIL, an IPv4-mapped client, the
 * outcome kept for the connection's next message, the budget; the
 * validated names SPF's ptr and %{p} take from the same lookups.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "deadline.h"
#include "dns.h"
#include "iprev.h"
#include "tap.h"
#include "util.h"

static struct dns_resolver *dns;

static void
zone(void)
{
	char name[64];

	dns = dns_table_new();
	/* pass */
	dns_table_add_text(dns, "10.2.0.192.in-addr.arpa", DNS_T_PTR,
	    "mail.example.org");
	dns_table_add_text(dns, "mail.example.org", DNS_T_A, "192.0.2.10");
	/* no PTR: 192.0.2.11 has nothing; 192.0.2.19 has a TXT only */
	dns_table_add_text(dns, "19.2.0.192.in-addr.arpa", DNS_T_TXT, "x");
	/* a PTR name that does not confirm */
	dns_table_add_text(dns, "12.2.0.192.in-addr.arpa", DNS_T_PTR,
	    "spoof.example.org");
	dns_table_add_text(dns, "spoof.example.org", DNS_T_A, "192.0.2.99");
	/* a PTR name that does not exist */
	dns_table_add_text(dns, "14.2.0.192.in-addr.arpa", DNS_T_PTR,
	    "gone.example.org");
	/* IPv6: confirmed by AAAA; 2001:db8::11's name has an A only */
	dns_table_add_text(dns, "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.8.b.d.0.1.0.0.2.ip6.arpa", DNS_T_PTR, "v6.example.org");
	dns_table_add_text(dns, "v6.example.org", DNS_T_AAAA, "2001:db8::10");
	dns_table_add_text(dns, "1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.8.b.d.0.1.0.0.2.ip6.arpa", DNS_T_PTR, "v4only.example.org");
	dns_table_add_text(dns, "v4only.example.org", DNS_T_A, "192.0.2.10");
	dns_table_add_text(dns, "v4only.example.org", DNS_T_AAAA,
	    "2001:db8::99");
	/* 20 PTR names: the 15th confirms 192.0.2.13 (past the 10 looked
	 * at), the 5th confirms 192.0.2.15 */
	for (int i = 1; i <= 20; i++) {
		snprintf(name, sizeof(name), "n%d.example.org", i);
		dns_table_add_text(dns, "13.2.0.192.in-addr.arpa", DNS_T_PTR,
		    name);
		dns_table_add_text(dns, name, DNS_T_A, i == 15 ? "192.0.2.13" :
		    i == 5 ? "192.0.2.15" : "192.0.2.200");
		dns_table_add_text(dns, "15.2.0.192.in-addr.arpa", DNS_T_PTR,
		    name);
	}
	/* SERVFAIL on the PTR lookup; on a forward lookup alone; on one of
	 * two names where the other confirms */
	dns_table_set_fail(dns, "16.2.0.192.in-addr.arpa", DNS_T_PTR,
	    DNS_FAIL_SERVFAIL);
	dns_table_add_text(dns, "17.2.0.192.in-addr.arpa", DNS_T_PTR,
	    "broken.example.org");
	dns_table_set_fail(dns, "broken.example.org", DNS_T_A,
	    DNS_FAIL_SERVFAIL);
	dns_table_add_text(dns, "18.2.0.192.in-addr.arpa", DNS_T_PTR,
	    "broken.example.org");
	dns_table_add_text(dns, "18.2.0.192.in-addr.arpa", DNS_T_PTR,
	    "good18.example.org");
	dns_table_add_text(dns, "good18.example.org", DNS_T_A, "192.0.2.18");
}

static int
check(const char *ip, struct iprev_outcome *o)
{
	memset(o, 0, sizeof(*o));
	return iprev_check_until(dns, ip, NULL, o);
}

static void
test_shapes(void)
{
	struct iprev_outcome o;
	unsigned long q0;

	is_int(check("192.0.2.10", &o), 0, "pass: checked");
	is_str(iprev_result_name(o.result), "pass", "pass");
	is_str(o.name, "mail.example.org", "pass: the confirming name");
	is_str(o.reason, "mail.example.org", "pass: the reason is the name");
	is_str(o.ip, "192.0.2.10", "pass: policy.iprev");
	is_int(o.nnames, 1, "pass: one PTR name");

	check("192.0.2.11", &o);
	is_str(iprev_result_name(o.result), "permerror", "no PTR (NXDOMAIN): "
	    "permerror (RFC 8601 2.7.3)");
	is_str(o.reason, "no PTR record for 192.0.2.11", "no PTR: reason");
	check("192.0.2.19", &o);
	is_str(iprev_result_name(o.result), "permerror", "PTR NODATA: permerror");

	check("192.0.2.12", &o);
	is_str(iprev_result_name(o.result), "fail", "PTR not confirming: fail");
	is_str(o.reason, "spoof.example.org does not resolve to 192.0.2.12",
	    "not confirming: reason");
	is_str(o.name, "", "fail: no name");
	check("192.0.2.14", &o);
	is_str(iprev_result_name(o.result), "fail",
	    "PTR name NXDOMAIN: fail (the forward lookup completed)");

	check("2001:db8::10", &o);
	is_str(iprev_result_name(o.result), "pass", "IPv6: pass by AAAA");
	is_str(o.name, "v6.example.org", "IPv6: the name");
	is_str(o.ip, "2001:db8::10", "IPv6: policy.iprev");
	check("2001:DB8:0::10", &o);
	is_str(o.ip, "2001:db8::10", "IPv6: the address in canonical text");
	check("2001:db8::11", &o);
	is_str(iprev_result_name(o.result), "fail",
	    "IPv6: an A record of the client's IPv4 does not count (AAAA asked)");
	is_str(o.reason, "v4only.example.org does not resolve to 2001:db8::11",
	    "IPv6 fail: reason");

	q0 = dns_table_queries(dns);
	check("192.0.2.13", &o);
	is_str(iprev_result_name(o.result), "fail",
	    "20 PTR names, the 15th confirming: fail (10 looked at)");
	is_int(o.nnames, 20, "20 names in the answer");
	is_int(o.nlooked, 10, "10 looked at");
	is_int(dns_table_queries(dns) - q0, 11, "1 PTR and 10 A lookups");
	is_str(o.reason, "none of 10 PTR names resolves to 192.0.2.13",
	    "20 names: reason");
	check("192.0.2.15", &o);
	is_str(iprev_result_name(o.result), "pass",
	    "20 PTR names, the 5th confirming: pass");
	is_str(o.name, "n5.example.org", "20 names: the 5th");

	check("192.0.2.16", &o);
	is_str(iprev_result_name(o.result), "temperror", "PTR SERVFAIL: temperror");
	is_str(o.reason, "PTR lookup: SERVFAIL", "PTR SERVFAIL: reason");
	check("192.0.2.17", &o);
	is_str(iprev_result_name(o.result), "temperror",
	    "forward SERVFAIL, nothing confirms: temperror");
	is_str(o.reason, "A lookup of broken.example.org: SERVFAIL",
	    "forward SERVFAIL: reason");
	check("192.0.2.18", &o);
	is_str(iprev_result_name(o.result), "pass",
	    "one name SERVFAIL, the other confirms: pass");
	is_str(o.name, "good18.example.org", "the confirming name");

	is_int(check("::ffff:192.0.2.10", &o), 0, "IPv4-mapped: checked");
	is_str(iprev_result_name(o.result), "pass", "IPv4-mapped: pass (A asked)");
	is_str(o.ip, "192.0.2.10", "IPv4-mapped: policy.iprev unmapped");
	is_int(check("not-an-ip", &o), -1, "not an address: -1");
	is_int(check("", &o), -1, "empty: -1");
}

/* the connection's lookup: started early, kept for its next message */
static void
test_connection(void)
{
	struct iprev_lookup *l = iprev_start(dns, "192.0.2.10");
	struct iprev_outcome o;
	struct timespec past;
	unsigned long q0;

	ok(l != NULL, "started");
	iprev_finish(l, NULL, &o);
	is_str(iprev_result_name(o.result), "pass", "first message: pass");
	q0 = dns_table_queries(dns);
	memset(&o, 0, sizeof(o));
	iprev_finish(l, NULL, &o);
	is_str(iprev_result_name(o.result), "pass", "second message: pass");
	is_str(o.name, "mail.example.org", "second message: the name");
	is_int(dns_table_queries(dns) - q0, 0, "second message: no DNS");
	iprev_free(&l);
	ok(l == NULL, "freed");

	/* a message whose budget is spent: temperror, asked again next */
	l = iprev_start(dns, "192.0.2.12");
	deadline_in(&past, 0);
	iprev_finish(l, &past, &o);
	is_str(iprev_result_name(o.result), "temperror", "budget spent: temperror");
	ok(strstr(o.reason, "budget") != NULL, "budget: reason %s", o.reason);
	iprev_finish(l, NULL, &o);
	is_str(iprev_result_name(o.result), "fail",
	    "the next message asks again: fail");
	iprev_free(&l);

	/* freed while the PTR lookup runs */
	l = iprev_start(dns, "192.0.2.11");
	iprev_free(&l);
	ok(l == NULL, "freed unfinished");
	iprev_free(&l);
	iprev_free(NULL);
	ok(iprev_start(dns, "300.1.2.3") == NULL, "no lookup for a bad address");
}

/* test_validated - iprev_validated: every confirming name in PTR order,
 * the lookups shared with iprev_finish (each made once) */
static void
test_validated(void)
{
	struct iprev_lookup *l;
	struct iprev_outcome o;
	enum dns_status st;
	const char *names[10];
	unsigned long q0;
	size_t n;

	/* 20 names, 10 looked at: only the 5th confirms 192.0.2.15 */
	q0 = dns_table_queries(dns);
	l = iprev_start(dns, "192.0.2.15");
	n = iprev_validated(l, NULL, &st, names, 10);
	is_int(n, 1, "validated: one of the 10 names looked at");
	ok(n == 1 && strcmp(names[0], "n5.example.org") == 0, "validated: n5");
	is_str(dns_status_name(st), "ok", "validated: PTR status");
	is_int(dns_table_queries(dns) - q0, 11, "validated: 1 PTR and 10 A");
	q0 = dns_table_queries(dns);
	iprev_finish(l, NULL, &o);
	is_str(iprev_result_name(o.result), "pass", "then iprev: pass");
	is_str(o.name, "n5.example.org", "then iprev: the name");
	n = iprev_validated(l, NULL, &st, names, 10);
	is_int(dns_table_queries(dns) - q0, 0,
	    "iprev and SPF again after it: no more DNS");
	iprev_free(&l);

	/* iprev first stops at the confirming name; SPF after it asks only
	 * for the names iprev left */
	l = iprev_start(dns, "192.0.2.18");
	iprev_finish(l, NULL, &o);
	is_str(iprev_result_name(o.result), "pass", "18: pass despite a SERVFAIL");
	q0 = dns_table_queries(dns);
	n = iprev_validated(l, NULL, &st, names, 10);
	ok(n == 1 && strcmp(names[0], "good18.example.org") == 0,
	    "18: the name whose lookup failed is not validated");
	is_int(dns_table_queries(dns) - q0, 0,
	    "18: SPF after iprev, every name known: no DNS");
	iprev_free(&l);

	/* 20 names where the 5th confirms: iprev stops there (the 10 A
	 * lookups were started at once, the rest cancelled); SPF after it
	 * asks again for the names still unknown, never for a known one */
	l = iprev_start(dns, "192.0.2.15");
	iprev_finish(l, NULL, &o);
	is_str(o.name, "n5.example.org", "15, iprev first: n5");
	q0 = dns_table_queries(dns);
	n = iprev_validated(l, NULL, &st, names, 10);
	ok(n == 1 && strcmp(names[0], "n5.example.org") == 0,
	    "15, SPF after iprev: n5 alone");
	ok(dns_table_queries(dns) - q0 <= 5,
	    "15, SPF after iprev: only the names iprev left unknown (%lu)",
	    dns_table_queries(dns) - q0);
	iprev_free(&l);

	/* no PTR data: no names, the status says why */
	l = iprev_start(dns, "192.0.2.11");
	n = iprev_validated(l, NULL, &st, names, 10);
	ok(n == 0 && st == DNS_STATUS_NXDOMAIN, "no PTR: no names, NXDOMAIN");
	iprev_finish(l, NULL, &o);
	is_str(iprev_result_name(o.result), "permerror", "no PTR: permerror");
	iprev_free(&l);
	/* max bounds what is written */
	l = iprev_start(dns, "192.0.2.10");
	n = iprev_validated(l, NULL, &st, names, 0);
	is_int(n, 0, "max 0: nothing written");
	iprev_free(&l);
}

int
main(void)
{
	zone();
	test_shapes();
	test_connection();
	test_validated();
	is_str(iprev_result_name(IPREV_PERMERROR), "permerror", "name: permerror");
	dns_resolver_free(&dns);
	return test_done("iprev");
}
