/*
 * test-dns.c - the rdata decoders (dns.c), every kind of failure an answer
 * carries (answer->fail) and the one name check (dns_query_start) on the
 * table back end, and the libunbound back end (dns_unbound.c) against a
 * tiny authoritative server on 127.0.0.1.
 *
 * The server is a dnslib script run by python3 (Debian's python3-dnslib);
 * it binds port 0, prints the port, and dies with us (PR_SET_PDEATHSIG).
 * Without python3 or dnslib the back-end part is skipped (exit 77) after
 * the decoder checks have run. Nothing here depends on timing: the one
 * throughput number is printed, never asserted.
 */
#include "config.h"

#include "deadline.h"
#include "dname.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "stats.h"
#include "stats-snap.h"
#include "tap.h"
#include "util.h"

#define RD(s) (const unsigned char *)(s), sizeof(s) - 1

/* ---- rdata decoders ---------------------------------------------------------- */

static const struct {
	const char *name;
	const unsigned char *rdata;
	size_t len;
	size_t outlen;
	int rc;
	const char *want;
} txt_cases[] = {
	{ "one string", RD("\x05hello"), 64, 0, "hello" },
	{ "two strings joined", RD("\x07v=spf1 \x04-all"), 64, 0, "v=spf1 -all" },
	{ "three strings, one empty", RD("\x02" "ab\x00\x02" "cd"), 64, 0, "abcd" },
	{ "empty string", RD("\x00"), 64, 0, "" },
	{ "empty rdata", RD(""), 64, 0, "" },
	{ "length past end", RD("\x09" "abc"), 64, -1, "" },
	{ "second length past end", RD("\x02" "ab\x05x"), 64, -1, "" },
	{ "exact fit", RD("\x05hello"), 6, 0, "hello" },
	{ "one byte short", RD("\x05hello"), 5, -1, "" },
	{ "joined too long", RD("\x03" "abc\x03" "def"), 6, -1, "" },
};

static const struct {
	const char *name;
	const unsigned char *rdata;
	size_t len;
	size_t off;
	size_t outlen;
	int rc;
	const char *want;
} name_cases[] = {
	{ "two labels", RD("\x07" "example\x03org\x00"), 0, 256, 0, "example.org" },
	{ "root", RD("\x00"), 0, 256, 0, "" },
	{ "at offset", RD("\x00\x0a\x02mx\x04test\x00"), 2, 256, 0, "mx.test" },
	{ "exact fit", RD("\x07" "example\x03org\x00"), 0, 12, 0, "example.org" },
	{ "one byte short", RD("\x07" "example\x03org\x00"), 0, 11, -1, "" },
	{ "label past end", RD("\x07" "exa"), 0, 256, -1, "" },
	{ "no terminator", RD("\x03org"), 0, 256, -1, "" },
	{ "compression pointer", RD("\xc0\x0c"), 0, 256, -1, "" },
	{ "offset past end", RD("\x00"), 5, 256, -1, "" },
	{ "empty rdata", RD(""), 0, 256, -1, "" },
};

static const struct {
	const char *name;
	const unsigned char *rdata;
	size_t len;
	int rc;
	unsigned pref;
	const char *want;
} mx_cases[] = {
	{ "pref 10", RD("\x00\x0a\x02mx\x07" "example\x03org\x00"), 0, 10, "mx.example.org" },
	{ "pref 65535, null MX", RD("\xff\xff\x00"), 0, 65535, "" },
	{ "too short", RD("\x00\x0a"), -1, 0, "" },
	{ "bad name", RD("\x00\x0a\x05mx"), -1, 0, "" },
};

/* test_name_to_wire - text to wire and back through dns_rr_name */
static void
test_name_to_wire(void)
{
	static const struct {
		const char *name;
		int rc;
		size_t len;
		const char *back;
	} cases[] = {
		{"example.org", 0, 13, "example.org"},
		{"example.org.", 0, 13, "example.org"},
		{".", 0, 1, ""},
		{"", 0, 1, ""},
		{"a..b", -1, 0, NULL},
		{".a", -1, 0, NULL},
		{"0123456789012345678901234567890123456789012345678901234567890123.x",
		    -1, 0, NULL},
	};
	unsigned char buf[300];
	char back[300], big[400];
	size_t len;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = dns_name_to_wire(cases[i].name, buf, sizeof(buf), &len);

		is_int(rc, cases[i].rc, "name_to_wire(\"%s\")", cases[i].name);
		if (rc == 0) {
			struct dns_rr rr = {buf, len};

			is_int(len, cases[i].len, "name_to_wire(\"%s\") length",
			    cases[i].name);
			is_int(dns_rr_name(&rr, 0, back, sizeof(back)), 0,
			    "name_to_wire(\"%s\") decodes", cases[i].name);
			is_str(back, cases[i].back, "name_to_wire(\"%s\") round trip",
			    cases[i].name);
		}
	}
	is_int(dns_name_to_wire("example.org", buf, 12, &len), -1,
	    "name_to_wire: one octet short");
	is_int(dns_name_to_wire("example.org", buf, 13, &len), 0,
	    "name_to_wire: exactly enough");
	/* 128 one-octet labels take 257 octets in wire format: over 255 */
	for (size_t i = 0; i < 128; i++)
		memcpy(big + 2 * i, "a.", 2);
	big[255] = '\0';
	is_int(dns_name_to_wire(big, buf, sizeof(buf), &len), -1,
	    "name_to_wire: over 255 octets");
}

static void
test_decoders(void)
{
	char out[256];

	for (size_t i = 0; i < sizeof(txt_cases) / sizeof(txt_cases[0]); i++) {
		struct dns_rr rr = { txt_cases[i].rdata, txt_cases[i].len };
		int rc = dns_rr_txt(&rr, out, txt_cases[i].outlen);

		is_int(rc, txt_cases[i].rc, "txt %s: rc", txt_cases[i].name);
		if (rc == 0)
			is_str(out, txt_cases[i].want, "txt %s", txt_cases[i].name);
	}
	{
		struct dns_rr rr = { RD("\x01x") };

		is_int(dns_rr_txt(&rr, out, 0), -1, "txt outlen 0");
	}
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		struct dns_rr rr = { name_cases[i].rdata, name_cases[i].len };
		int rc = dns_rr_name(&rr, name_cases[i].off, out,
		    name_cases[i].outlen);

		is_int(rc, name_cases[i].rc, "name %s: rc", name_cases[i].name);
		if (rc == 0)
			is_str(out, name_cases[i].want, "name %s", name_cases[i].name);
	}
	{
		/* a 64-byte label is not a label (RFC 1035 2.3.4) */
		unsigned char buf[70] = { 64 };
		struct dns_rr rr = { buf, sizeof(buf) };

		memset(buf + 1, 'a', 64);
		buf[65] = 0;
		is_int(dns_rr_name(&rr, 0, out, sizeof(out)), -1, "name label 64");
		buf[0] = 63;
		buf[64] = 0;
		is_int(dns_rr_name(&rr, 0, out, sizeof(out)), 0, "name label 63");
		is_int(strlen(out), 63, "name label 63 length");
	}
	for (size_t i = 0; i < sizeof(mx_cases) / sizeof(mx_cases[0]); i++) {
		struct dns_rr rr = { mx_cases[i].rdata, mx_cases[i].len };
		unsigned pref = 12345;
		int rc = dns_rr_mx(&rr, &pref, out, sizeof(out));

		is_int(rc, mx_cases[i].rc, "mx %s: rc", mx_cases[i].name);
		if (rc == 0) {
			is_int(pref, mx_cases[i].pref, "mx %s: pref", mx_cases[i].name);
			is_str(out, mx_cases[i].want, "mx %s", mx_cases[i].name);
		}
	}
	is_str(dns_status_name(DNS_STATUS_OK), "ok", "status name ok");
	is_str(dns_status_name(DNS_STATUS_TEMPFAIL), "tempfail",
	    "status name tempfail");
}

/* test_budget - a spent DNS time budget answers TEMPFAIL
 * DNS_FAIL_BUDGET, whether it runs out before the start or during the
 * wait; a budget with time left answers as usual */
static void
test_budget(struct dns_resolver *r, const char *label)
{
	struct timespec spent, later;
	struct dns_query *q;
	struct dns_answer *a;
	const struct stats_metric *budget =
	    stats_find("dns_failures_budget_total");
	const struct stats_metric *queries = stats_find("dns_queries_total");
	uint64_t t0, q0;

	if (!ok(budget != NULL && queries != NULL, "%s: DNS counters "
	    "registered by the resolver's constructor", label))
		return;
	t0 = stats_value(budget);
	q0 = stats_value(queries);
	deadline_in(&spent, 0);
	a = dns_query_until(r, "example.test", DNS_T_TXT, &spent);
	is_str(dns_status_name(a->status), "tempfail", "%s: budget: tempfail",
	    label);
	is_str(dns_fail_name(a->fail), "budget", "%s: budget: fail", label);
	is_str(a->why, "DNS time budget spent", "%s: budget: why", label);
	dns_answer_free(&a);
	q = dns_query_start(r, "example.test", DNS_T_TXT);
	a = dns_query_wait_until(&q, &spent);
	ok(q == NULL, "%s: budget: wait consumes the query", label);
	is_str(dns_fail_name(a->fail), "budget", "%s: budget at wait: fail",
	    label);
	dns_answer_free(&a);
	a = dns_query_until(r, "example.test", DNS_T_TXT,
	    deadline_in(&later, 5000));
	is_str(dns_fail_name(a->fail), "none", "%s: budget left: fail", label);
	is_str(dns_status_name(a->status), "ok", "%s: budget left: ok", label);
	dns_answer_free(&a);
	is_int(stats_value(budget) - t0, 2, "%s: two spent budgets counted "
	    "as budget failures", label);
	is_int(stats_value(queries) - q0, 3, "%s: three answers counted", label);
}

/* expect - ask r for name/type: the answer's status and fail, and its
 * why unless why is NULL */
static void
expect(struct dns_resolver *r, const char *name, int type,
    const char *status, const char *fail, const char *why, const char *what)
{
	struct dns_answer *a = dns_query(r, name, type, 0);

	is_str(dns_status_name(a->status), status, "%s: status", what);
	is_str(dns_fail_name(a->fail), fail, "%s: fail", what);
	if (why != NULL)
		is_str(a->why, why, "%s: why", what);
	dns_answer_free(&a);
}

/* test_table_fails - every kind of failure the table back end simulates,
 * and the answers that are no failure */
/* test_query_metrics - dns_queries_total{type,outcome}: one of each kind
 * through the table resolver moves its own series by one; every lookup is
 * in dns_lookup_duration_seconds */
static void
test_query_metrics(void)
{
	static const struct {
		const char *name;
		int type;
		const char *labels;
	} q[] = {
		{ "a.metrics.test", DNS_T_A, "type=\"A\",outcome=\"answer\"" },
		{ "nx.metrics.test", DNS_T_TXT, "type=\"TXT\",outcome=\"nxdomain\"" },
		{ "a.metrics.test", DNS_T_MX, "type=\"MX\",outcome=\"nodata\"" },
		{ "sf.metrics.test", DNS_T_PTR, "type=\"PTR\",outcome=\"servfail\"" },
		{ "to.metrics.test", DNS_T_AAAA, "type=\"AAAA\",outcome=\"timeout\"" },
		{ "a..metrics.test", DNS_T_NS, "type=\"other\",outcome=\"badname\"" },
	};
	struct dns_resolver *t = dns_table_new();
	const struct stats_metric *lat;
	long long before[7];
	uint64_t nlat;
	struct timespec spent;
	struct dns_answer *a;

	dns_table_add_text(t, "a.metrics.test", DNS_T_A, "192.0.2.1");
	dns_table_set_status(t, "nx.metrics.test", 0, DNS_STATUS_NXDOMAIN);
	dns_table_set_fail(t, "sf.metrics.test", DNS_T_PTR, DNS_FAIL_SERVFAIL);
	dns_table_set_fail(t, "to.metrics.test", DNS_T_AAAA, DNS_FAIL_TIMEOUT);
	lat = stats_find("dns_lookup_microseconds");
	ok(lat != NULL, "dns_lookup_microseconds registered");
	nlat = lat ? stats_value(lat) : 0;
	for (size_t i = 0; i < 6; i++)
		before[i] = snap_value("dns_queries_total", q[i].labels);
	before[6] = snap_value("dns_queries_total",
	    "type=\"TXT\",outcome=\"budget\"");
	for (size_t i = 0; i < 6; i++) {
		a = dns_query(t, q[i].name, q[i].type, 0);
		dns_answer_free(&a);
	}
	deadline_in(&spent, 0);
	a = dns_query_until(t, "a.metrics.test", DNS_T_TXT, &spent);
	dns_answer_free(&a);
	for (size_t i = 0; i < 6; i++)
		is_int(snap_value("dns_queries_total", q[i].labels) - before[i], 1,
		    "dns_queries_total{%s} counted", q[i].labels);
	is_int(snap_value("dns_queries_total", "type=\"TXT\",outcome=\"budget\"") -
	    before[6], 1, "a spent budget counted as outcome budget");
	is_int(lat ? (long long)(stats_value(lat) - nlat) : -1, 7,
	    "every lookup's time observed");
	ok(snap_value("dns_queries_total", "type=\"A\",outcome=\"nope\"") == -1,
	    "no series outside the fixed words");
	dns_resolver_free(&t);
}

static void
test_table_fails(void)
{
	static const struct {
		enum dns_fail fail;
		const char *name;
		int rcode;
		const char *why;
	} kinds[] = {
		{ DNS_FAIL_SERVFAIL, "servfail", 2, "SERVFAIL" },
		{ DNS_FAIL_REFUSED, "refused", 5, "REFUSED" },
		{ DNS_FAIL_TIMEOUT, "timeout", 2, "timeout" },
		{ DNS_FAIL_BUDGET, "budget", 2, "DNS time budget spent" },
		{ DNS_FAIL_BOGUS, "bogus", 0, "DNSSEC bogus: simulated" },
		{ DNS_FAIL_MALFORMED, "malformed", 2, "malformed answer" },
		{ DNS_FAIL_RESOLVER, "resolver", 2, "resolver failure" },
	};
	struct dns_resolver *t = dns_table_new();
	struct dns_answer *a;
	char name[64];

	is_str(dns_fail_name(DNS_FAIL_NONE), "none", "fail name none");
	is_str(dns_fail_name(DNS_FAIL_BADNAME), "badname", "fail name badname");
	is_str(dns_fail_name((enum dns_fail)99), "?", "fail name out of range");
	dns_table_add_text(t, "example.test", DNS_T_TXT, "v=spf1 -all");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		snprintf(name, sizeof(name), "%s.example.test", kinds[i].name);
		dns_table_set_fail(t, name, DNS_T_TXT, kinds[i].fail);
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *k = kinds[i].name;

		is_str(dns_fail_name(kinds[i].fail), k, "fail name %s", k);
		snprintf(name, sizeof(name), "%s.example.test", k);
		a = dns_query(t, name, DNS_T_TXT, 0);
		is_str(dns_status_name(a->status), "tempfail", "table %s: status",
		    k);
		is_str(dns_fail_name(a->fail), k, "table %s: fail", k);
		is_int(a->rcode, kinds[i].rcode, "table %s: rcode", k);
		is_str(a->why, kinds[i].why, "table %s: why", k);
		is_int(a->bogus, kinds[i].fail == DNS_FAIL_BOGUS,
		    "table %s: bogus flag", k);
		is_int(a->count, 0, "table %s: no data", k);
		is_int(a->ttl, 0, "table %s: TTL 0", k);
		dns_answer_free(&a);
		/* only the type that was set fails */
		a = dns_query(t, name, DNS_T_A, 0);
		is_str(dns_fail_name(a->fail), "none", "table %s: other type", k);
		dns_answer_free(&a);
	}

	/* dns_table_set_status: TEMPFAIL is a timeout */
	dns_table_set_status(t, "tempfail.example.test", 0, DNS_STATUS_TEMPFAIL);
	expect(t, "tempfail.example.test", DNS_T_MX, "tempfail", "timeout",
	    "timeout", "set_status tempfail");
	dns_table_set_status(t, "nx.example.test", DNS_T_TXT,
	    DNS_STATUS_NXDOMAIN);
	expect(t, "nx.example.test", DNS_T_TXT, "nxdomain", "none", "",
	    "set_status nxdomain");
	dns_table_set_fail(t, "none.example.test", DNS_T_TXT, DNS_FAIL_NONE);
	expect(t, "none.example.test", DNS_T_TXT, "nxdomain", "none", "",
	    "set_fail NONE is ignored");
	dns_table_set_fail(t, "badname.example.test", DNS_T_TXT,
	    DNS_FAIL_BADNAME);
	expect(t, "badname.example.test", DNS_T_TXT, "nxdomain", "badname",
	    "not a domain name", "set_fail badname");
	a = dns_query(t, "badname.example.test", DNS_T_TXT, 0);
	is_int(a->ttl, 0, "set_fail badname: TTL 0");
	dns_answer_free(&a);

	/* CNAME trouble */
	dns_table_add_text(t, "loop1.example.test", DNS_T_CNAME,
	    "loop2.example.test");
	dns_table_add_text(t, "loop2.example.test", DNS_T_CNAME,
	    "loop1.example.test");
	expect(t, "loop1.example.test", DNS_T_TXT, "tempfail", "servfail",
	    "CNAME loop", "CNAME loop");
	dns_table_add(t, "badcname.example.test", DNS_T_CNAME, "\x05" "ab", 3);
	expect(t, "badcname.example.test", DNS_T_TXT, "tempfail", "malformed",
	    "bad CNAME", "bad CNAME");

	/* answers that are no failure */
	expect(t, "example.test", DNS_T_TXT, "ok", "none", "", "table ok");
	expect(t, "example.test", DNS_T_A, "nodata", "none", "", "table nodata");
	expect(t, "absent.example.test", DNS_T_A, "nxdomain", "none", "",
	    "table nxdomain");

	test_budget(t, "table");
	a = dns_query_wait(&(struct dns_query *){ NULL }, 0);
	is_str(dns_fail_name(a->fail), "resolver", "wait on NULL: fail");
	dns_answer_free(&a);
	dns_resolver_free(&t);
}

/* ---- the test server ----------------------------------------------------------- */

/* Zone example.test. count.example.test TXT answers how many TXT queries
 * for example.test itself the server has seen (TTL 0), to observe caching. */
static const char server_py[] =
    "import socket, sys\n"
    "try:\n"
    "    from dnslib import DNSRecord, RR, QTYPE, RCODE, TXT, A, AAAA, MX, SOA, PTR\n"
    "except ImportError:\n"
    "    print('NODNSLIB', flush=True)\n"
    "    sys.exit(0)\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.bind(('127.0.0.1', 0))\n"
    "print(s.getsockname()[1], flush=True)\n"
    "Z = 'example.test'\n"
    "soa = SOA('ns.' + Z, 'hostmaster.' + Z, (1, 3600, 600, 86400, 300))\n"
    "recs = {\n"
    "    (Z, QTYPE.TXT): [TXT(['v=spf1 ip4:192.0.2.0/24', ' -all'])],\n"
    "    (Z, QTYPE.A): [A('192.0.2.1'), A('192.0.2.2')],\n"
    "    (Z, QTYPE.AAAA): [AAAA('2001:db8::1')],\n"
    "    (Z, QTYPE.MX): [MX('mx.' + Z, 10)],\n"
    "}\n"
    "names = {Z, 'nodata.' + Z, 'count.' + Z}\n"
    "seen = 0\n"
    "while True:\n"
    "    data, peer = s.recvfrom(65535)\n"
    "    try:\n"
    "        q = DNSRecord.parse(data)\n"
    "    except Exception:\n"
    "        continue\n"
    "    name = str(q.q.qname).rstrip('.').lower()\n"
    "    qt = q.q.qtype\n"
    "    if name == Z and qt == QTYPE.TXT:\n"
    "        seen += 1\n"
    "    if name.startswith('slow'):\n"
    "        continue\n"
    "    r = q.reply()\n"
    "    if qt == QTYPE.PTR and name.endswith('.arpa'):\n"
    "        r.add_answer(RR(q.q.qname, qt, ttl=300, rdata=PTR('ptr.' + Z)))\n"
    "    elif qt == QTYPE.A and name.split('.')[-1] in ('localhost', 'invalid', 'onion'):\n"
    "        r.add_answer(RR(q.q.qname, qt, ttl=300, rdata=A('192.0.2.53')))\n"
    "    elif name == 'fail.' + Z:\n"
    "        r.header.rcode = RCODE.SERVFAIL\n"
    "    elif name == 'refused.' + Z:\n"
    "        r.header.rcode = RCODE.REFUSED\n"
    "    elif name == 'count.' + Z and qt == QTYPE.TXT:\n"
    "        r.add_answer(RR(q.q.qname, qt, ttl=0, rdata=TXT(str(seen))))\n"
    "    elif (name, qt) in recs:\n"
    "        for rd in recs[(name, qt)]:\n"
    "            r.add_answer(RR(q.q.qname, qt, ttl=300, rdata=rd))\n"
    "    elif name in names:\n"
    "        r.add_auth(RR(Z, QTYPE.SOA, ttl=300, rdata=soa))\n"
    "    else:\n"
    "        r.header.rcode = RCODE.NXDOMAIN\n"
    "        r.add_auth(RR(Z, QTYPE.SOA, ttl=300, rdata=soa))\n"
    "    s.sendto(r.pack(), peer)\n";

static pid_t server_pid = -1;

/* server_start - 1 running (port set), 0 this python has no dnslib or does
 * not exist, -1 something else went wrong */
static int
server_start(const char *python, unsigned *port)
{
	pid_t parent = getpid();
	char line[64];
	size_t n = 0;
	unsigned long v;
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		/* die with the test, even when it crashes */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		dup2(p[1], 1);
		execlp(python, python, "-c", server_py, (char *)NULL);
		if (write(1, "NOEXEC\n", 7) < 0)
			_exit(127);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pfd = { p[0], POLLIN, 0 };
		ssize_t got;

		if (poll(&pfd, 1, 20000) <= 0)
			break;
		got = read(p[0], line + n, sizeof(line) - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
		if (memchr(line, '\n', n) != NULL || n == sizeof(line) - 1)
			break;
	}
	close(p[0]);
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (str_parse_uint(line, 65535, &v) == 0 && v > 0) {
		server_pid = pid;
		*port = (unsigned)v;
		return 1;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (strcmp(line, "NODNSLIB") == 0 || strcmp(line, "NOEXEC") == 0)
		return 0;
	fprintf(stderr, "test server said \"%s\"\n", line);
	return -1;
}

static void
server_stop(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
		server_pid = -1;
	}
}

/* ---- back end ------------------------------------------------------------------- */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* txt_of - the first TXT RR as text, or "" */
static const char *
txt_of(const struct dns_answer *a, char *buf, size_t len)
{
	buf[0] = '\0';
	if (a->status == DNS_STATUS_OK && a->count > 0 &&
	    dns_rr_txt(&a->rr[0], buf, len) != 0)
		buf[0] = '\0';
	return buf;
}

static long
server_count(struct dns_resolver *r)
{
	struct dns_answer *a = dns_query(r, "count.example.test", DNS_T_TXT, 0);
	char buf[32];
	unsigned long v;
	long n = -1;

	if (str_parse_uint(txt_of(a, buf, sizeof(buf)), 1000000, &v) == 0)
		n = (long)v;
	dns_answer_free(&a);
	return n;
}

static const struct {
	const char *name;
	const char *qname;
	int type;
	enum dns_status status;
	enum dns_fail fail;
	int rcode;
	size_t count;
	const char *why;
} status_cases[] = {
	{ "TXT", "example.test", DNS_T_TXT, DNS_STATUS_OK, DNS_FAIL_NONE, 0, 1, "" },
	{ "TXT, trailing dot", "example.test.", DNS_T_TXT, DNS_STATUS_OK,
	    DNS_FAIL_NONE, 0, 1, "" },
	{ "TXT, upper case", "EXAMPLE.Test", DNS_T_TXT, DNS_STATUS_OK,
	    DNS_FAIL_NONE, 0, 1, "" },
	{ "A", "example.test", DNS_T_A, DNS_STATUS_OK, DNS_FAIL_NONE, 0, 2, "" },
	{ "AAAA", "example.test", DNS_T_AAAA, DNS_STATUS_OK, DNS_FAIL_NONE, 0, 1, "" },
	{ "MX", "example.test", DNS_T_MX, DNS_STATUS_OK, DNS_FAIL_NONE, 0, 1, "" },
	{ "SPF type: nodata", "example.test", DNS_T_SPF, DNS_STATUS_NODATA,
	    DNS_FAIL_NONE, 0, 0, "" },
	{ "nxdomain", "nx.example.test", DNS_T_TXT, DNS_STATUS_NXDOMAIN,
	    DNS_FAIL_NONE, 3, 0, "" },
	{ "nxdomain A", "nx.example.test", DNS_T_A, DNS_STATUS_NXDOMAIN,
	    DNS_FAIL_NONE, 3, 0, "" },
	{ "nodata", "nodata.example.test", DNS_T_TXT, DNS_STATUS_NODATA,
	    DNS_FAIL_NONE, 0, 0, "" },
	{ "servfail", "fail.example.test", DNS_T_TXT, DNS_STATUS_TEMPFAIL,
	    DNS_FAIL_SERVFAIL, 2, 0, "SERVFAIL" },
	/* libunbound answers SERVFAIL when its forwarder refuses: REFUSED
	 * (DNS_FAIL_REFUSED) reaches us only from libunbound itself */
	{ "forwarder refused", "refused.example.test", DNS_T_TXT,
	    DNS_STATUS_TEMPFAIL, DNS_FAIL_SERVFAIL, 2, 0, "SERVFAIL" },
	{ "bad name", "a..b.example.test", DNS_T_TXT, DNS_STATUS_NXDOMAIN,
	    DNS_FAIL_BADNAME, 3, 0, "not a domain name" },
};

static void
test_statuses(struct dns_resolver *r)
{
	for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
		struct dns_answer *a = dns_query(r, status_cases[i].qname,
		    status_cases[i].type, 0);
		const char *n = status_cases[i].name;

		is_str(dns_status_name(a->status),
		    dns_status_name(status_cases[i].status), "%s: status (%s)",
		    n, a->why);
		is_str(dns_fail_name(a->fail),
		    dns_fail_name(status_cases[i].fail), "%s: fail", n);
		is_int(a->rcode, status_cases[i].rcode, "%s: rcode", n);
		is_int(a->count, status_cases[i].count, "%s: count", n);
		is_str(a->why, status_cases[i].why, "%s: why", n);
		is_int(a->secure, 0, "%s: not secure", n);
		is_int(a->bogus, 0, "%s: not bogus", n);
		if (strcmp(status_cases[i].why, "not a domain name") != 0) {
			ok(a->packet != NULL && a->packet_len >= 12,
			    "%s: packet kept", n);
			if (a->packet != NULL && a->packet_len >= 12)
				is_int(a->packet[3] & 0x0f, status_cases[i].rcode,
				    "%s: packet rcode", n);
		}
		dns_answer_free(&a);
		ok(a == NULL, "%s: answer freed", n);
	}
}

static void
test_rdata(struct dns_resolver *r)
{
	struct dns_answer *a;
	char buf[256];
	unsigned pref;
	int seen1 = 0, seen2 = 0;

	a = dns_query(r, "example.test", DNS_T_TXT, 0);
	is_str(txt_of(a, buf, sizeof(buf)), "v=spf1 ip4:192.0.2.0/24 -all",
	    "TXT strings joined");
	dns_answer_free(&a);

	a = dns_query(r, "example.test", DNS_T_A, 0);
	for (size_t i = 0; i < a->count; i++) {
		is_int(a->rr[i].len, 4, "A rdata length");
		if (a->rr[i].len == 4 && memcmp(a->rr[i].data, "\xc0\x00\x02\x01", 4) == 0)
			seen1 = 1;
		if (a->rr[i].len == 4 && memcmp(a->rr[i].data, "\xc0\x00\x02\x02", 4) == 0)
			seen2 = 1;
	}
	ok(seen1 && seen2, "A 192.0.2.1 and 192.0.2.2");
	dns_answer_free(&a);

	a = dns_query(r, "example.test", DNS_T_AAAA, 0);
	ok(a->count == 1 && a->rr[0].len == 16 && memcmp(a->rr[0].data,
	    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16) == 0,
	    "AAAA 2001:db8::1");
	dns_answer_free(&a);

	a = dns_query(r, "example.test", DNS_T_MX, 0);
	ok(a->count == 1, "MX count");
	if (a->count == 1) {
		is_int(dns_rr_mx(&a->rr[0], &pref, buf, sizeof(buf)), 0, "MX decodes");
		is_int(pref, 10, "MX pref");
		is_str(buf, "mx.example.test", "MX exchange (uncompressed)");
	}
	dns_answer_free(&a);
}

static void
test_cache(struct dns_resolver *r)
{
	struct dns_answer *a;
	long before, after;

	before = server_count(r);
	ok(before >= 1, "server saw the first TXT query (%ld)", before);
	a = dns_query(r, "example.test", DNS_T_TXT, 0);
	is_str(dns_status_name(a->status), "ok", "repeat TXT query");
	dns_answer_free(&a);
	after = server_count(r);
	is_int(after, before, "repeat TXT query answered from cache");
}

/* test_ttl - libunbound's TTLs reach the answer (the answer cache keeps
 * answers that long): 300 s records and SOA, and a TTL 0 record */
static void
test_ttl(struct dns_resolver *r)
{
	struct dns_answer *a;

	a = dns_query(r, "example.test", DNS_T_A, 0);
	ok(a->ttl > 0 && a->ttl <= 300, "A answer TTL %u in 1..300", a->ttl);
	dns_answer_free(&a);
	a = dns_query(r, "nx.example.test", DNS_T_A, 0);
	is_str(dns_status_name(a->status), "nxdomain", "NXDOMAIN for the TTL");
	ok(a->ttl > 0 && a->ttl <= 300, "NXDOMAIN TTL %u in 1..300 (SOA)", a->ttl);
	dns_answer_free(&a);
	a = dns_query(r, "nodata.example.test", DNS_T_A, 0);
	ok(a->ttl > 0 && a->ttl <= 300, "NODATA TTL %u in 1..300 (SOA)", a->ttl);
	dns_answer_free(&a);
	a = dns_query(r, "count.example.test", DNS_T_TXT, 0);
	is_int(a->ttl, 0, "TTL 0 record: TTL 0");
	dns_answer_free(&a);
	a = dns_query(r, "fail.example.test", DNS_T_A, 0);
	is_int(a->ttl, 0, "SERVFAIL: TTL 0");
	dns_answer_free(&a);
}

static void
test_timeout(struct dns_resolver *r)
{
	struct dns_answer *a;
	struct dns_query *q;

	a = dns_query(r, "slow.example.test", DNS_T_TXT, 300);
	is_str(dns_status_name(a->status), "tempfail", "no answer: tempfail");
	is_str(a->why, "timeout", "no answer: why");
	is_str(dns_fail_name(a->fail), "timeout", "no answer: fail");
	is_int(a->count, 0, "no answer: no RRs");
	dns_answer_free(&a);

	q = dns_query_start(r, "slow.example.test", DNS_T_A);
	ok(q != NULL, "start slow A");
	a = dns_query_wait(&q, 200);
	ok(q == NULL, "wait consumes the query");
	is_str(a->why, "timeout", "start/wait: timeout");
	is_str(dns_fail_name(a->fail), "timeout", "start/wait: fail");
	dns_answer_free(&a);

	/* cancel while libunbound still works on it */
	q = dns_query_start(r, "slow.example.test", DNS_T_MX);
	dns_query_cancel(&q);
	ok(q == NULL, "cancel consumes the query");
	dns_query_cancel(&q); /* NULL is fine */
	a = dns_query_wait(&q, 0);
	is_str(a->why, "resolver shut down", "wait on NULL query");
	is_str(dns_fail_name(a->fail), "resolver", "wait on NULL query: fail");
	dns_answer_free(&a);
}

/* one slow domain costs its own lookups a temperror and nothing else
 * (issue: libunbound marked the only forwarder down after a few slow
 * answers, and every lookup failed at once for 15 minutes; its own
 * settings only shortened that, unreliably): a burst of 24 lookups that
 * never get an answer (one hostile message's worth), then rounds of ten
 * ordinary lookups beside one more slow lookup each, for about three
 * seconds: every ordinary lookup gets its real answer (NXDOMAIN), because
 * the context is renewed after a temporary failure (dns_unbound.c) */
static void
test_slow_domain_isolated(const char *fwd)
{
	const char *fwds[] = { fwd };
	struct dns_unbound_opts o = { .forwarders = fwds, .nforwarders = 1,
	    .timeout_ms = 300 };
	struct dns_query *q[24];
	struct dns_resolver *r;
	char err[256] = "", name[64], first[128] = "";
	int n = 0, good = 0, total = 0;
	const struct stats_metric *renewals;
	uint64_t renewed;

	r = dns_unbound_new(&o, err, sizeof(err));
	if (!ok(r != NULL, "slow-domain resolver: %s", err))
		return;
	renewals = stats_find("dns_resolver_renewals_total");
	if (!ok(renewals != NULL, "renewals counter registered by "
	    "dns_unbound_new"))
		return;
	renewed = stats_value(renewals);
	for (int i = 0; i < 24; i++) {
		snprintf(name, sizeof(name), "slow%d.example.test", i);
		q[i] = dns_query_start(r, name, DNS_T_TXT);
	}
	for (int i = 0; i < 24; i++) {
		struct dns_answer *a = dns_query_wait(&q[i], 300);

		n += a->status == DNS_STATUS_TEMPFAIL;
		dns_answer_free(&a);
	}
	is_int(n, 24, "slow domain: 24 lookups time out");
	for (int round = 0; round < 8; round++) {
		struct timespec pause = { 0, 100 * 1000 * 1000 };
		struct dns_query *slow;
		struct dns_answer *sa;

		snprintf(name, sizeof(name), "slowr%d.example.test", round);
		slow = dns_query_start(r, name, DNS_T_TXT);
		for (int i = 0; i < 10; i++) {
			struct dns_answer *a;

			snprintf(name, sizeof(name), "n%d-%d.example.test", round, i);
			a = dns_query(r, name, DNS_T_TXT, 1000);
			total++;
			good += a->status == DNS_STATUS_NXDOMAIN;
			if (a->status != DNS_STATUS_NXDOMAIN && first[0] == '\0')
				snprintf(first, sizeof(first), "%.60s: %.60s",
				    name, a->why);
			dns_answer_free(&a);
		}
		sa = dns_query_wait(&slow, 300);
		dns_answer_free(&sa);
		nanosleep(&pause, NULL);
	}
	is_int(good, total, "slow domain: every ordinary lookup answered during "
	    "and after the slow ones (first failure: %s)",
	    first[0] ? first : "none");
	ok(stats_value(renewals) > renewed, "slow domain: the context was "
	    "renewed (%llu times)",
	    (unsigned long long)(stats_value(renewals) - renewed));
	dns_resolver_free(&r);
}

/* the callback and ub_cancel race here: must not leak or double free */
static void
test_cancel_race(struct dns_resolver *r)
{
	unsigned okn = 0;

	for (int i = 0; i < 2000; i++) {
		struct dns_query *q = dns_query_start(r, "example.test",
		    i % 2 ? DNS_T_TXT : DNS_T_A);

		if (i % 3 == 0) {
			struct dns_answer *a = dns_query_wait(&q, 5000);

			okn += a->status == DNS_STATUS_OK;
			dns_answer_free(&a);
		} else {
			if (i % 3 == 2)
				sched_yield();
			dns_query_cancel(&q);
		}
	}
	is_int(okn, 667, "waited queries among cancelled ones all OK");
}

struct worker {
	struct dns_resolver *r;
	int id;
	int n;
	int bad;
};

static void *
worker_run(void *arg)
{
	static const int types[] = { DNS_T_TXT, DNS_T_A, DNS_T_AAAA, DNS_T_MX };
	struct worker *w = arg;

	for (int i = 0; i < w->n; i++) {
		struct dns_answer *a = dns_query(w->r, "example.test",
		    types[(i + w->id) % 4], 0);

		if (a->status != DNS_STATUS_OK || a->count == 0)
			w->bad++;
		dns_answer_free(&a);
	}
	return NULL;
}

static void
run_threads(struct dns_resolver *r, int nthreads, int per, const char *label)
{
	pthread_t t[8];
	struct worker w[8];
	int bad = 0, started = 0;
	double t0, dt;

	t0 = now_s();
	for (int i = 0; i < nthreads && i < 8; i++) {
		w[i] = (struct worker){ r, i, per, 0 };
		if (pthread_create(&t[i], NULL, worker_run, &w[i]) == 0)
			started++;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		bad += w[i].bad;
	}
	dt = now_s() - t0;
	is_int(started, nthreads, "%s: threads started", label);
	is_int(bad, 0, "%s: every query OK", label);
	printf("# %s: %d threads x %d cached queries in %.3f s: %.0f queries/s\n",
	    label, started, per, dt, dt > 0 ? started * per / dt : 0.0);
}

struct waiter {
	struct dns_query *q;
	struct dns_answer *a;
};

static void *
waiter_run(void *arg)
{
	struct waiter *w = arg;

	w->a = dns_query_wait(&w->q, 20000);
	return NULL;
}

/* destroy with queries pending: the waiter gets TEMPFAIL "resolver shut
 * down" instead of its 20 s timeout, whether it was already waiting or not;
 * a query started but not yet waited for stays valid until it is */
static void
test_destroy_pending(void)
{
	struct waiter w = { NULL, NULL };
	struct dns_query *orphan;
	struct dns_answer *a;
	struct dns_resolver *r;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	char fwd[64], err[256] = "";
	const char *fwds[] = { fwd };
	struct dns_unbound_opts o = { .forwarders = fwds, .nforwarders = 1 };
	pthread_t t;
	int started, hole;

	/* a forwarder that never reads: no answer, no ICMP error, so the
	 * queries stay pending (unbound itself gives up only after seconds) */
	hole = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (hole < 0 || bind(hole, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(hole, (struct sockaddr *)&sin, &slen) != 0) {
		ok(0, "black-hole socket: %s", strerror(errno));
		if (hole >= 0)
			close(hole);
		return;
	}
	snprintf(fwd, sizeof(fwd), "127.0.0.1@%u", ntohs(sin.sin_port));
	r = dns_unbound_new(&o, err, sizeof(err));
	ok(r != NULL, "second resolver: %s", err);
	if (r == NULL) {
		close(hole);
		return;
	}

	w.q = dns_query_start(r, "slow.example.test", DNS_T_TXT);
	ok(w.q != NULL, "start before destroy");
	orphan = dns_query_start(r, "slow.example.test", DNS_T_AAAA);
	ok(orphan != NULL, "second start before destroy");
	started = pthread_create(&t, NULL, waiter_run, &w) == 0;
	ok(started, "waiter thread");
	dns_resolver_free(&r);
	ok(r == NULL, "resolver pointer cleared");
	if (started)
		pthread_join(t, NULL);
	else
		w.a = dns_query_wait(&w.q, 20000);
	is_str(dns_status_name(w.a->status), "tempfail", "waiter: tempfail");
	is_str(w.a->why, "resolver shut down", "waiter: why");
	is_str(dns_fail_name(w.a->fail), "resolver", "waiter: fail");
	dns_answer_free(&w.a);
	a = dns_query_wait(&orphan, 20000);
	is_str(a->why, "resolver shut down", "wait after destroy: why");
	is_str(dns_fail_name(a->fail), "resolver", "wait after destroy: fail");
	dns_answer_free(&a);
	close(hole);
}

/* with forwarders, libunbound's built-in local zones (private and
 * documentation reverse zones, test., localhost., invalid., onion.) are
 * asked of the forwarder, which serves data for all of them here: no
 * NXDOMAIN made up locally (LIBRARY-TRAPS.md, libunbound) */
static void
test_local_zones(struct dns_resolver *r)
{
	static const struct {
		const char *name;
		int type;
	} q[] = {
		{ "10.2.0.192.in-addr.arpa", DNS_T_PTR },     /* TEST-NET-1 */
		{ "10.100.51.198.in-addr.arpa", DNS_T_PTR },  /* TEST-NET-2 */
		{ "10.113.0.203.in-addr.arpa", DNS_T_PTR },   /* TEST-NET-3 */
		{ "1.0.0.10.in-addr.arpa", DNS_T_PTR },       /* RFC 1918 */
		{ "1.0.16.172.in-addr.arpa", DNS_T_PTR },
		{ "1.0.31.172.in-addr.arpa", DNS_T_PTR },
		{ "1.0.168.192.in-addr.arpa", DNS_T_PTR },
		{ "1.0.64.100.in-addr.arpa", DNS_T_PTR },     /* RFC 6598 */
		{ "1.0.254.169.in-addr.arpa", DNS_T_PTR },    /* link local */
		{ "1.0.0.127.in-addr.arpa", DNS_T_PTR },
		{ "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0."
		    "0.2.ip6.arpa", DNS_T_PTR },               /* 2001:db8::1 */
		{ "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
		    "d.f.ip6.arpa", DNS_T_PTR },               /* ULA */
		{ "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8."
		    "e.f.ip6.arpa", DNS_T_PTR },               /* fe80:: */
		{ "example.test", DNS_T_TXT },
		{ "host.localhost", DNS_T_A },
		{ "host.invalid", DNS_T_A },
		{ "host.onion", DNS_T_A },
	};

	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		struct dns_answer *a = dns_query(r, q[i].name, q[i].type, 0);

		is_str(dns_status_name(a->status), "ok",
		    "built-in zone %s asked of the forwarder", q[i].name);
		dns_answer_free(&a);
	}
}

/* names that cannot exist: NXDOMAIN DNS_FAIL_BADNAME "not a domain name"
 * from dns_query_start() whatever the back end, without asking it
 * (libunbound alone would fail them like a SERVFAIL); through every way
 * of asking */
static void
test_bad_names(struct dns_resolver *r, const char *label)
{
	struct timespec later;
	struct dns_query *q;
	struct dns_answer *a;

	char longlabel[80], longname[300];
	const char *names[] = { "a..example.test", ".example.test",
		longlabel, longname, "example.test.." };

	memset(longlabel, 'a', 64);
	strcpy(longlabel + 64, ".example.test");
	longname[0] = '\0';
	while (strlen(longname) < 250)
		strcat(longname, "abcdefghi.");
	strcat(longname, "example.test");
	ok(!dname_valid(longlabel) && !dname_valid(longname) &&
	    dname_valid("example.test.") && dname_valid("."),
	    "dname_valid");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct dns_answer *a = dns_query(r, names[i], DNS_T_TXT, 0);

		is_str(dns_status_name(a->status), "nxdomain",
		    "%s: bad name %.20s...: nxdomain", label, names[i]);
		is_str(a->why, "not a domain name", "%s: bad name: why", label);
		is_str(dns_fail_name(a->fail), "badname", "%s: bad name: fail",
		    label);
		dns_answer_free(&a);
	}
	a = dns_query(r, NULL, DNS_T_TXT, 0);
	is_str(dns_fail_name(a->fail), "badname", "%s: NULL name: fail", label);
	dns_answer_free(&a);
	a = dns_query_until(r, "a..b", DNS_T_TXT, deadline_in(&later, 5000));
	is_str(dns_fail_name(a->fail), "badname", "%s: bad name until: fail",
	    label);
	dns_answer_free(&a);
	q = dns_query_start(r, "a..b", DNS_T_A);
	ok(q != NULL, "%s: bad name: a query to wait for", label);
	a = dns_query_wait_until(&q, &later);
	is_str(dns_fail_name(a->fail), "badname", "%s: bad name wait_until: fail",
	    label);
	dns_answer_free(&a);
	q = dns_query_start(r, "a..b", DNS_T_A);
	dns_query_cancel(&q);
	ok(q == NULL, "%s: bad name: cancel", label);
}

/* test_table_bad_names - the table back end never sees a bad name */
static void
test_table_bad_names(void)
{
	struct dns_resolver *t = dns_table_new();
	struct dns_answer *a;

	is_int(dns_table_add_text(t, "a..b", DNS_T_TXT, "x"), -1,
	    "table: a bad name is not added");
	is_int(dns_table_add_text(t, "Example.Test.", DNS_T_TXT, "x"), 0,
	    "table: a name with capitals and the final dot is added");
	test_bad_names(t, "table");
	is_int(dns_table_queries(t), 0, "table: no bad name reached it");
	a = dns_query(t, "example.TEST", DNS_T_TXT, 0);
	is_str(dns_status_name(a->status), "ok",
	    "table: names compare as dname_norm() makes them");
	dns_answer_free(&a);
	a = dns_query(t, ".", DNS_T_NS, 0);
	is_str(dns_status_name(a->status), "nxdomain", "table: the root is asked");
	is_str(dns_fail_name(a->fail), "none", "table: the root is a name");
	dns_answer_free(&a);
	is_int(dns_table_queries(t), 2, "table: the root reached it");
	dns_resolver_free(&t);
}

static void
test_bad_options(void)
{
	const char *bad[] = { "not an address" };
	struct dns_unbound_opts o = { .forwarders = bad, .nforwarders = 1 };
	const char *fwd[] = { "127.0.0.1@9" };
	const char *zones[] = { "" }, *root[] = { "." };
	struct dns_unbound_opts oz = { .forwarders = fwd, .nforwarders = 1,
	    .transparent_zones = zones, .ntransparent = 1 };
	char err[256] = "";
	struct dns_resolver *r;

	r = dns_unbound_new(&o, err, sizeof(err));
	ok(r == NULL, "bad forwarder refused");
	ok(strstr(err, "not an address") != NULL, "bad forwarder named: %s", err);
	dns_resolver_free(&r);
	err[0] = '\0';
	r = dns_unbound_new(&oz, err, sizeof(err));
	ok(r == NULL, "empty transparent zone refused");
	ok(err[0] != '\0', "empty zone: error text");
	dns_resolver_free(&r);
	oz.transparent_zones = root;
	err[0] = '\0';
	r = dns_unbound_new(&oz, err, sizeof(err));
	ok(r == NULL, "the root as a transparent zone refused");
	is_str(err, "bad transparent zone \".\"", "root zone: error text");
	dns_resolver_free(&r);
}

/* a trust anchor the test server cannot back (it serves no DNSKEY for the
 * root): every answer is bogus, which must be TEMPFAIL even though the
 * answer carries rcode 0 and data; a missing anchor file fails at start */
static void
test_dnssec(const char *fwd)
{
	char path[] = "/tmp/test-dns-ta.XXXXXX", err[256] = "";
	static const char ta[] = ". IN DS 20326 8 2 "
	    "0000000000000000000000000000000000000000000000000000000000000000\n";
	const char *fwds[] = { fwd };
	struct dns_unbound_opts o = { .forwarders = fwds, .nforwarders = 1,
	    .trust_anchor_file = "/nonexistent/test-dns.key" };
	struct dns_resolver *r;
	struct dns_answer *a;
	int fd;

	fprintf(stderr, "# libunbound will complain about "
	    "/nonexistent/test-dns.key: expected\n");
	r = dns_unbound_new(&o, err, sizeof(err));
	ok(r == NULL, "missing trust anchor file fails at start");
	ok(err[0] != '\0', "missing trust anchor: error text");
	dns_resolver_free(&r);

	fd = mkstemp(path);
	if (fd < 0 || write(fd, ta, sizeof(ta) - 1) != (ssize_t)(sizeof(ta) - 1)) {
		ok(0, "trust anchor file: %s", strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return;
	}
	close(fd);
	o.trust_anchor_file = path;
	err[0] = '\0';
	r = dns_unbound_new(&o, err, sizeof(err));
	ok(r != NULL, "resolver with trust anchor: %s", err);
	if (r != NULL) {
		a = dns_query(r, "example.test", DNS_T_TXT, 0);
		is_str(dns_status_name(a->status), "tempfail", "bogus: tempfail");
		is_int(a->bogus, 1, "bogus: flag");
		is_str(dns_fail_name(a->fail), "bogus", "bogus: fail");
		is_int(a->secure, 0, "bogus: not secure");
		is_int(a->count, 0, "bogus: data not handed out");
		ok(strncmp(a->why, "DNSSEC bogus: ", 14) == 0 && a->why[14] != '\0',
		    "bogus: why \"%s\"", a->why);
		dns_answer_free(&a);
		dns_resolver_free(&r);
	}
	unlink(path);
}

static const char *const pythons[] = { "/usr/bin/python3", "python3" };

int
main(void)
{
	char fwd[64], err[256] = "";
	const char *fwds[] = { fwd };
	/* no transparent_zones: with forwarders every built-in local zone of
	 * libunbound goes to them (test., the documentation reverse zones) */
	struct dns_unbound_opts o = {
		.forwarders = fwds, .nforwarders = 1, .timeout_ms = 5000,
	};
	struct dns_resolver *r;
	struct dns_answer *a;
	char buf[256];
	unsigned port = 0;
	int rc = 0;

	test_decoders();
	test_name_to_wire();
	test_bad_options();
	test_table_fails();
	test_table_bad_names();
	test_query_metrics();

	for (size_t i = 0; i < sizeof(pythons) / sizeof(pythons[0]); i++)
		if ((rc = server_start(pythons[i], &port)) != 0)
			break;
	if (rc == 0) {
		ok(0, "the test server needs python3 with dnslib "
		    "(contrib/deps.sh installs python3-dnslib)");
		return test_done("dns");
	}
	ok(rc == 1, "test server started");
	if (rc != 1)
		return test_done("dns");
	snprintf(fwd, sizeof(fwd), "127.0.0.1@%u", port);

	r = dns_unbound_new(&o, err, sizeof(err));
	ok(r != NULL, "dns_unbound_new: %s", err);
	if (r == NULL) {
		server_stop();
		return test_done("dns");
	}

	test_statuses(r);
	test_local_zones(r);
	test_bad_names(r, "unbound");
	test_budget(r, "unbound");
	test_rdata(r);
	test_cache(r);
	test_ttl(r);
	test_timeout(r);
	test_slow_domain_isolated(fwd);
	test_cancel_race(r);
	run_threads(r, 8, 200, "concurrency");
	run_threads(r, 8, 5000, "throughput");
	test_destroy_pending();
	test_dnssec(fwd);

	/* the cache outlives the server (of the current context: a context
	 * that had temporary failures is renewed, its cache with it) */
	a = dns_query(r, "example.test", DNS_T_TXT, 0);
	dns_answer_free(&a);
	a = dns_query(r, "nx.example.test", DNS_T_TXT, 0);
	dns_answer_free(&a);
	server_stop();
	a = dns_query(r, "example.test", DNS_T_TXT, 0);
	is_str(txt_of(a, buf, sizeof(buf)), "v=spf1 ip4:192.0.2.0/24 -all",
	    "cached TXT after the server is gone");
	dns_answer_free(&a);
	a = dns_query(r, "nx.example.test", DNS_T_TXT, 0);
	is_str(dns_status_name(a->status), "nxdomain",
	    "cached NXDOMAIN after the server is gone");
	dns_answer_free(&a);

	dns_resolver_free(&r);
	ok(r == NULL, "resolver freed");
	return test_done("dns");
}
