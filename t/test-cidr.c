/*
 * test-cidr.c - cidr_parse, cidr_list_match and ip_unmap, table-driven.
 *
 * Decisions these tables pin down: a prefix is decimal digits with no
 * leading zero ("/08" and "/00" are errors, "/0" is fine); a bare address
 * is a host network; "1.2.3/24" and other short IPv4 forms are errors
 * (inet_pton); IPv4-mapped networks of /96 or longer are stored as IPv4.
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"
#include "tap.h"

struct parse_case {
	const char *name;
	const char *text;
	int rc;
	const char *canon;   /* "net/prefix" back out through inet_ntop */
	const char *err;     /* expected message (exact) when rc < 0 */
};

static const struct parse_case parse_cases[] = {
	{ "v4 /24", "192.0.2.0/24", 0, "192.0.2.0/24", NULL },
	{ "v4 bare", "192.0.2.1", 0, "192.0.2.1/32", NULL },
	{ "v4 /32", "192.0.2.1/32", 0, "192.0.2.1/32", NULL },
	{ "v4 /0", "0.0.0.0/0", 0, "0.0.0.0/0", NULL },
	{ "v4 /8", "127.0.0.0/8", 0, "127.0.0.0/8", NULL },
	{ "v4 /31", "192.0.2.2/31", 0, "192.0.2.2/31", NULL },
	{ "v6 /32", "2001:db8::/32", 0, "2001:db8::/32", NULL },
	{ "v6 bare", "::1", 0, "::1/128", NULL },
	{ "v6 /128", "::1/128", 0, "::1/128", NULL },
	{ "v6 /0", "::/0", 0, "::/0", NULL },
	{ "v6 /127", "2001:db8::2/127", 0, "2001:db8::2/127", NULL },
	{ "v6 upper", "2001:DB8::/48", 0, "2001:db8::/48", NULL },
	{ "v4-mapped /104 is v4 /8", "::ffff:10.0.0.0/104", 0, "10.0.0.0/8",
	    NULL },
	{ "v4-mapped bare is v4 /32", "::ffff:192.0.2.1", 0, "192.0.2.1/32",
	    NULL },
	{ "v4-mapped /96 is v4 /0", "::ffff:0.0.0.0/96", 0, "0.0.0.0/0", NULL },
	{ "v4-mapped /80 stays v6", "::ffff:0:0/80", -1, NULL,
	    "host bits set in ::ffff:0:0/80 (did you mean ::/80?)" },
	{ "host bits v4", "192.0.2.1/24", -1, NULL,
	    "host bits set in 192.0.2.1/24 (did you mean 192.0.2.0/24?)" },
	{ "host bits v4 /0", "10.0.0.1/0", -1, NULL,
	    "host bits set in 10.0.0.1/0 (did you mean 0.0.0.0/0?)" },
	{ "host bits v6", "2001:db8::1/64", -1, NULL,
	    "host bits set in 2001:db8::1/64 (did you mean 2001:db8::/64?)" },
	{ "host bits v4-mapped", "::ffff:10.0.0.1/104", -1, NULL,
	    "host bits set in ::ffff:10.0.0.1/104 "
	    "(did you mean ::ffff:10.0.0.0/104?)" },
	{ "v4 /33", "1.2.3.4/33", -1, NULL,
	    "bad prefix length in \"1.2.3.4/33\" (must be 0..32)" },
	{ "v6 /129", "::1/129", -1, NULL,
	    "bad prefix length in \"::1/129\" (must be 0..128)" },
	{ "short v4", "1.2.3/24", -1, NULL,
	    "not an IP address: \"1.2.3/24\"" },
	{ "empty prefix", "1.2.3.4/", -1, NULL,
	    "missing prefix length in \"1.2.3.4/\"" },
	{ "leading zero prefix", "1.2.3.4/08", -1, NULL,
	    "bad prefix length in \"1.2.3.4/08\" (must be 0..32)" },
	{ "double zero prefix", "0.0.0.0/00", -1, NULL,
	    "bad prefix length in \"0.0.0.0/00\" (must be 0..32)" },
	{ "signed prefix", "1.2.3.0/+24", -1, NULL,
	    "bad prefix length in \"1.2.3.0/+24\" (must be 0..32)" },
	{ "negative prefix", "1.2.3.0/-1", -1, NULL,
	    "bad prefix length in \"1.2.3.0/-1\" (must be 0..32)" },
	{ "space in prefix", "1.2.3.0/ 24", -1, NULL,
	    "bad prefix length in \"1.2.3.0/ 24\" (must be 0..32)" },
	{ "huge prefix", "::/99999999999999999999", -1, NULL,
	    "bad prefix length in \"::/99999999999999999999\" "
	    "(must be 0..128)" },
	{ "two slashes", "1.2.3.0/24/8", -1, NULL,
	    "bad prefix length in \"1.2.3.0/24/8\" (must be 0..32)" },
	{ "leading zero octet", "01.2.3.4", -1, NULL,
	    "not an IP address: \"01.2.3.4\"" },
	{ "octet > 255", "256.0.0.0/8", -1, NULL,
	    "not an IP address: \"256.0.0.0/8\"" },
	{ "hostname", "localhost", -1, NULL,
	    "not an IP address: \"localhost\"" },
	{ "empty", "", -1, NULL, "empty network" },
	{ "slash only", "/24", -1, NULL, "not an IP address: \"/24\"" },
	{ "leading space", " 1.2.3.4", -1, NULL,
	    "not an IP address: \" 1.2.3.4\"" },
	{ "scope id", "fe80::1%eth0", -1, NULL,
	    "not an IP address: \"fe80::1%eth0\"" },
	{ "control char shown as ?", "1.2.3.4\n", -1, NULL,
	    "not an IP address: \"1.2.3.4?\"" },
	{ "too long",
	    "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee",
	    -1, NULL,
	    "not an IP network: \"1111:2222:3333:4444:...\" (too long)" },
};

struct match_case {
	const char *name;
	const char *ip;
	int want;
};

/* against 127.0.0.0/8, 192.0.2.0/24, 198.51.100.7, ::1/128, 2001:db8::/32 */
static const char *const match_nets[] = {
	"127.0.0.0/8", "192.0.2.0/24", "198.51.100.7", "::1/128",
	"2001:db8::/32",
};

static const struct match_case match_cases[] = {
	{ "loopback v4", "127.0.0.1", 1 },
	{ "loopback v4 top", "127.255.255.255", 1 },
	{ "net start", "192.0.2.0", 1 },
	{ "net end", "192.0.2.255", 1 },
	{ "just outside", "192.0.3.0", 0 },
	{ "host net", "198.51.100.7", 1 },
	{ "host net neighbour", "198.51.100.8", 0 },
	{ "v6 loopback", "::1", 1 },
	{ "v6 loopback long form", "0:0:0:0:0:0:0:1", 1 },
	{ "v6 not loopback", "::2", 0 },
	{ "v6 in /32", "2001:db8:ffff::1", 1 },
	{ "v6 outside /32", "2001:db9::1", 0 },
	{ "v4-mapped in v4 net", "::ffff:192.0.2.1", 1 },
	{ "v4-mapped upper", "::FFFF:127.0.0.1", 1 },
	{ "v4-mapped outside", "::ffff:10.0.0.1", 0 },
	{ "v4 does not match v6 ::", "0.0.0.1", 0 },
	{ "v4-compatible is not mapped", "::127.0.0.1", 0 },
	{ "garbage", "not-an-ip", 0 },
	{ "empty", "", 0 },
	{ "bracketed", "[::1]", 0 },
};

struct unmap_case {
	const char *name;
	const char *ip;
	int rc;
	const char *want;
};

static const struct unmap_case unmap_cases[] = {
	{ "v4 stays", "192.0.2.1", 0, "192.0.2.1" },
	{ "mapped becomes v4", "::ffff:192.0.2.1", 0, "192.0.2.1" },
	{ "mapped hex form", "::ffff:c000:201", 0, "192.0.2.1" },
	{ "mapped long form", "0:0:0:0:0:ffff:c000:0201", 0, "192.0.2.1" },
	{ "v6 compressed", "2001:0db8:0000:0000:0000:0000:0000:0001", 0,
	    "2001:db8::1" },
	{ "v6 lowercased", "2001:DB8::A", 0, "2001:db8::a" },
	{ "loopback", "::1", 0, "::1" },
	{ "not an address", "mx.example.org", -1, NULL },
	{ "cidr is not an address", "192.0.2.0/24", -1, NULL },
	{ "empty", "", -1, NULL },
};

static void
test_parse(void)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	    i++) {
		const struct parse_case *tc = &parse_cases[i];
		struct cidr c;
		char err[256] = "", text[INET6_ADDRSTRLEN], canon[80];
		int rc = cidr_parse(tc->text, &c, err, sizeof(err));

		is_int(rc, tc->rc, "parse %s: rc (%s)", tc->name, err);
		if (rc == 0 && tc->rc == 0) {
			ok(inet_ntop(c.family, c.addr, text, sizeof(text)) != NULL,
			    "parse %s: ntop", tc->name);
			snprintf(canon, sizeof(canon), "%s/%u", text, c.prefix);
			is_str(canon, tc->canon, "parse %s: network", tc->name);
		}
		if (rc < 0 && tc->err != NULL)
			is_str(err, tc->err, "parse %s: message", tc->name);
	}
}

static void
test_match(void)
{
	struct cidr_list l = { NULL, 0 }, empty = { NULL, 0 }, all = { NULL, 0 };
	struct cidr c;
	char err[128];

	for (size_t i = 0; i < sizeof(match_nets) / sizeof(match_nets[0]); i++) {
		is_int(cidr_parse(match_nets[i], &c, err, sizeof(err)), 0,
		    "match net %s", match_nets[i]);
		cidr_list_add(&l, &c);
	}
	is_int(l.n, 5, "list holds 5 networks");
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]);
	    i++)
		is_int(cidr_list_match(&l, match_cases[i].ip), match_cases[i].want,
		    "match %s (%s)", match_cases[i].name, match_cases[i].ip);

	is_int(cidr_list_match(&empty, "127.0.0.1"), 0, "empty list matches nothing");
	is_int(cidr_list_match(NULL, "127.0.0.1"), 0, "NULL list matches nothing");
	is_int(cidr_list_match(&l, NULL), 0, "NULL address matches nothing");

	/* /0 networks match every address of their family only */
	cidr_parse("0.0.0.0/0", &c, err, sizeof(err));
	cidr_list_add(&all, &c);
	is_int(cidr_list_match(&all, "203.0.113.9"), 1, "0.0.0.0/0 matches v4");
	is_int(cidr_list_match(&all, "::ffff:203.0.113.9"), 1,
	    "0.0.0.0/0 matches v4-mapped");
	is_int(cidr_list_match(&all, "2001:db8::1"), 0, "0.0.0.0/0 not v6");
	cidr_parse("::/0", &c, err, sizeof(err));
	cidr_list_add(&all, &c);
	is_int(cidr_list_match(&all, "2001:db8::1"), 1, "::/0 matches v6");

	/* growth past the first few allocations keeps every entry */
	for (unsigned i = 0; i < 100; i++) {
		char net[32];

		snprintf(net, sizeof(net), "10.%u.0.0/16", i);
		cidr_parse(net, &c, err, sizeof(err));
		cidr_list_add(&all, &c);
	}
	is_int(all.n, 102, "list grew to 102");
	is_int(cidr_list_match(&all, "10.99.1.1"), 1, "last added network");

	cidr_list_free(&l);
	cidr_list_free(&all);
	cidr_list_free(&empty);
	ok(l.v == NULL && l.n == 0, "free resets the list");
}

static void
test_unmap(void)
{
	char out[INET6_ADDRSTRLEN], tiny[4];

	for (size_t i = 0; i < sizeof(unmap_cases) / sizeof(unmap_cases[0]);
	    i++) {
		const struct unmap_case *tc = &unmap_cases[i];
		int rc = ip_unmap(tc->ip, out, sizeof(out));

		is_int(rc, tc->rc, "unmap %s: rc", tc->name);
		if (rc == 0 && tc->want != NULL)
			is_str(out, tc->want, "unmap %s: text", tc->name);
	}
	is_int(ip_unmap("192.0.2.1", tiny, sizeof(tiny)), -1,
	    "unmap into a short buffer fails");
	is_int(ip_unmap(NULL, out, sizeof(out)), -1, "unmap NULL fails");
}

/* test_parse_unmapped - family and octets, the mapped prefix taken off */
static void
test_parse_unmapped(void)
{
	static const struct {
		const char *ip;
		int rc, family;
		unsigned char addr[16];
	} cases[] = {
		{ "192.0.2.1", 0, AF_INET, { 192, 0, 2, 1 } },
		{ "::ffff:192.0.2.1", 0, AF_INET, { 192, 0, 2, 1 } },
		{ "::FFFF:c000:201", 0, AF_INET, { 192, 0, 2, 1 } },
		{ "2001:db8::1", 0, AF_INET6,
		    { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 } },
		/* IPv4-compatible (deprecated) and the NAT64 prefix stay IPv6 */
		{ "::192.0.2.1", 0, AF_INET6, { [12] = 192, 0, 2, 1 } },
		{ "64:ff9b::192.0.2.1", 0, AF_INET6,
		    { 0, 0x64, 0xff, 0x9b, [12] = 192, 0, 2, 1 } },
		{ "::ffff:0:192.0.2.1", 0, AF_INET6,   /* IPv4-translated */
		    { [8] = 0xff, 0xff, 0, 0, 192, 0, 2, 1 } },
		{ "192.0.2", -1, 0, { 0 } },
		{ "example.org", -1, 0, { 0 } },
		{ "", -1, 0, { 0 } },
	};
	unsigned char addr[16];
	char big[100];
	int family;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		memset(addr, 0xaa, sizeof(addr));
		family = -1;
		rc = ip_parse_unmapped(cases[i].ip, &family, addr);
		is_int(rc, cases[i].rc, "parse_unmapped %s: rc", cases[i].ip);
		if (rc != 0)
			continue;
		is_int(family, cases[i].family, "parse_unmapped %s: family",
		    cases[i].ip);
		ok(memcmp(addr, cases[i].addr, 16) == 0,
		    "parse_unmapped %s: octets (the rest zero)", cases[i].ip);
	}
	is_int(ip_parse_unmapped(NULL, &family, addr), -1,
	    "parse_unmapped NULL fails");
	memset(big, '0', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	is_int(ip_parse_unmapped(big, &family, addr), -1,
	    "parse_unmapped: overlong text fails");
}

/* the PTR owner names, the one builder spf and iprev share */
static void
test_reverse_name(void)
{
	unsigned char addr[16];
	char out[IP_REVERSE_SIZE], small[20];
	int family;

	ip_parse_unmapped("192.0.2.10", &family, addr);
	is_int(ip_reverse_name(addr, 0, out, sizeof(out)), 0, "reverse v4");
	is_str(out, "10.2.0.192.in-addr.arpa", "reverse v4: the name");
	ip_parse_unmapped("::ffff:198.51.100.7", &family, addr);
	ip_reverse_name(addr, family == AF_INET6, out, sizeof(out));
	is_str(out, "7.100.51.198.in-addr.arpa", "reverse of a mapped "
	    "address: the IPv4 name");
	ip_parse_unmapped("2001:db8::567:89ab", &family, addr);
	is_int(ip_reverse_name(addr, 1, out, sizeof(out)), 0, "reverse v6");
	is_str(out, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0."
	    "1.0.0.2.ip6.arpa", "reverse v6: RFC 3596 2.5's nibbles");
	is_int((long long)strlen(out) + 1, IP_REVERSE_SIZE,
	    "reverse v6: IP_REVERSE_SIZE is exactly the longest");
	is_int(ip_reverse_name(addr, 1, small, sizeof(small)), -1,
	    "reverse v6 into 20 bytes: -1");
	is_str(small, "", "reverse v6 into 20 bytes: empty");
	ip_parse_unmapped("255.255.255.255", &family, addr);
	is_int(ip_reverse_name(addr, 0, small, sizeof(small)), -1,
	    "reverse v4 into 20 bytes: -1, not cut");
	is_str(small, "", "reverse v4 cut: empty");
}

int
main(void)
{
	test_reverse_name();
	test_parse();
	test_match();
	test_unmap();
	test_parse_unmapped();
	return test_done("cidr");
}
