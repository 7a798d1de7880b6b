/*
 * test-config.c - the config loader: valid files, defaults, every kind of
 * error with its exact "FILE:LINE: setting: ..." text, @include, the
 * shipped conf/authmilter.conf, socket specs, refcounts and the current
 * snapshot. Run it under valgrind or ASan: failed loads must not leak.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "deadline.h"
#include "settings.h"
#include "tap.h"
#include "util.h"

struct load_case {
	const char *name;
	const char *text;
	const char *err;    /* NULL: loads; else the exact message */
};

static const struct load_case load_cases[] = {
	/* loads */
	{ "empty", "", NULL },
	{ "comments only", "# a\n// b\n/* c\n d */\n", NULL },
	{ "missing ';' is tolerated (libconfig)",
	    "milter_timeout = 30\nlog_level = \"debug\"\n", NULL },
	{ "int64 literal", "milter_timeout = 120L;", NULL },
	{ "hex literal", "milter_timeout = 0x12C;", NULL },
	{ "whole float auto-converts", "milter_timeout = 60.0;", NULL },
	{ "exponent float auto-converts", "milter_timeout = 1e2;", NULL },
	{ "list in ( )", "trusted_networks = ( \"10.0.0.0/8\" );", NULL },
	{ "empty trusted_networks", "trusted_networks = [ ];", NULL },
	{ "empty groups", "dns = { };\nspf = { };", NULL },
	{ "unix socket", "socket = \"unix:/run/authmilter/a.sock\";", NULL },
	{ "local socket", "socket = \"local:/run/a.sock\";", NULL },
	{ "inet6 bracketed", "socket = \"inet6:8891@[::1]\";", NULL },
	{ "inet6 bare", "socket = \"inet6:8891@::1\";", NULL },
	{ "most negative int passes the literal scan", "x = -2147483648;\n",
	    "t.conf:1: x: unknown setting" },

	/* dkim, dmarc, policy */
	{ "policy words", "policy = { mode = \"report-only\"; quarantine = "
	    "\"header\";\n on_temperror = \"tempfail\"; on_from_error = "
	    "\"accept\"; never_reject = [ \"Partner.Example\" ]; };", NULL },
	{ "policy.mode unknown word", "policy = {\n\tmode = \"enforcing\";\n};",
	    "t.conf:2: policy.mode: \"enforcing\" is not one of \"enforce\" or "
	    "\"report-only\"" },
	{ "policy.never_reject not a domain",
	    "policy = { never_reject = [ \"ex ample.com\" ]; };",
	    "t.conf:1: policy.never_reject: \"ex ample.com\" is not a domain name" },
	{ "policy.dns_budget_ms out of range", "policy = { dns_budget_ms = 5; };",
	    "t.conf:1: policy.dns_budget_ms: 5 is out of range (100..120000)" },
	{ "dkim.max_signatures out of range", "dkim = { max_signatures = 0; };",
	    "t.conf:1: dkim.max_signatures: 0 is out of range (1..64)" },
	{ "dmarc.psl_file relative", "dmarc = { psl_file = \"psl.dat\"; };",
	    "t.conf:1: dmarc.psl_file: \"psl.dat\" is not an absolute path" },
	{ "dmarc.discovery words", "dmarc = { discovery = \"treewalk\"; };",
	    NULL },
	{ "dmarc.discovery unknown word", "dmarc = { discovery = \"PSL\"; };",
	    "t.conf:1: dmarc.discovery: \"PSL\" is not one of \"treewalk\" or "
	    "\"psl\"" },
	{ "dmarc.discovery not a string", "dmarc = { discovery = 1; };",
	    "t.conf:1: dmarc.discovery: expected a string, got an integer" },
	{ "unknown key in policy", "policy = { reject = true; };",
	    "t.conf:1: policy.reject: unknown setting" },

	/* reports */
	{ "reports: all set", "reports = { enable = true; store = "
	    "\"postgresql://authmilter@db.example.net/reports\";\n"
	    "keep_days = 0; queue_max = 16; org_name = \"Example Mail\";\n"
	    "email = \"dmarc-reports@example.net\"; submitter = \"example.net\";"
	    "\nrelay = \"[::1]:587\"; sendmail = \"/usr/lib/sendmail\"; };",
	    NULL },
	{ "reports.store postgres://", "reports = { store = \"postgres://\"; };",
	    NULL },
	{ "reports.relay host", "reports = { relay = \"smtp.example.net\"; };",
	    NULL },
	{ "reports.relay empty", "reports = { relay = \"\"; };", NULL },
	{ "reports.store other scheme",
	    "reports = {\n  store = \"mysql://db/reports\";\n};",
	    "t.conf:2: reports.store: \"mysql://db/reports\" is not "
	    "\"sqlite:/absolute/path\", \"postgresql://...\" or "
	    "\"postgres://...\"" },
	{ "reports.store sqlite relative",
	    "reports = { store = \"sqlite:reports.db\"; };",
	    "t.conf:1: reports.store: \"sqlite:reports.db\": sqlite: wants the "
	    "absolute path of a file, as "
	    "\"sqlite:/var/lib/authmilter/reports.db\"" },
	{ "reports.store sqlite directory",
	    "reports = { store = \"sqlite:/var/lib/\"; };",
	    "t.conf:1: reports.store: \"sqlite:/var/lib/\": sqlite: wants the "
	    "absolute path of a file, as "
	    "\"sqlite:/var/lib/authmilter/reports.db\"" },
	{ "reports.store empty", "reports = { store = \"\"; };",
	    "t.conf:1: reports.store: must not be empty" },
	{ "reports.keep_days out of range", "reports = { keep_days = 3651; };",
	    "t.conf:1: reports.keep_days: 3651 is out of range (0..3650)" },
	{ "reports.keep_days negative", "reports = { keep_days = -1; };",
	    "t.conf:1: reports.keep_days: -1 is out of range (0..3650)" },
	{ "reports.queue_max too small", "reports = { queue_max = 15; };",
	    "t.conf:1: reports.queue_max: 15 is out of range (16..16777216)" },
	{ "reports.queue_max too large", "reports = { queue_max = 16777217; };",
	    "t.conf:1: reports.queue_max: 16777217 is out of range "
	    "(16..16777216)" },
	{ "reports.email no domain", "reports = { email = \"postmaster\"; };",
	    "t.conf:1: reports.email: \"postmaster\" is not a mail address "
	    "local@domain" },
	{ "reports.email double dot",
	    "reports = { email = \"a..b@example.net\"; };",
	    "t.conf:1: reports.email: \"a..b@example.net\" is not a mail "
	    "address local@domain" },
	{ "reports.email bad domain",
	    "reports = { email = \"a@exa mple.net\"; };",
	    "t.conf:1: reports.email: \"a@exa mple.net\" is not a mail "
	    "address local@domain" },
	{ "reports.relay bad port",
	    "reports = { relay = \"smtp.example.net:0\"; };",
	    "t.conf:1: reports.relay: \"smtp.example.net:0\" is not \"host\", "
	    "\"host:port\" or \"[IPv6]:port\"" },
	{ "reports.relay bare IPv6", "reports = { relay = \"::1\"; };",
	    "t.conf:1: reports.relay: \"::1\" is not \"host\", "
	    "\"host:port\" or \"[IPv6]:port\"" },
	{ "reports.sendmail relative", "reports = { sendmail = \"sendmail\"; };",
	    "t.conf:1: reports.sendmail: \"sendmail\" is not an absolute path" },
	{ "reports.submitter not a domain",
	    "reports = { submitter = \"a b\"; };",
	    "t.conf:1: reports.submitter: \"a b\" is not a domain name" },
	{ "reports.org_name control character",
	    "reports = { org_name = \"a\\tb\"; };",
	    "t.conf:1: reports.org_name: \"a?b\" holds a control character" },
	{ "reports.enable not a boolean", "reports = { enable = 1; };",
	    "t.conf:1: reports.enable: expected true or false, got an integer" },
	{ "unknown key in reports", "reports = { rua = \"x\"; };",
	    "t.conf:1: reports.rua: unknown setting" },

	/* unknown keys */
	{ "unknown top-level key",
	    "socket = \"inet:8891@localhost\";\n\nbogus = 1;\n",
	    "t.conf:3: bogus: unknown setting" },
	{ "unknown key in dns",
	    "dns = {\n\ttimeout_ms = 100;\n\tretries = 3;\n};\n",
	    "t.conf:3: dns.retries: unknown setting" },
	{ "unknown key in spf", "spf = { dkim = true; };",
	    "t.conf:1: spf.dkim: unknown setting" },
	{ "first error in file order",
	    "bogus = 1;\nmilter_timeout = 0;\n",
	    "t.conf:1: bogus: unknown setting" },

	/* wrong types */
	{ "string for int", "milter_timeout = \"300\";",
	    "t.conf:1: milter_timeout: expected an integer, got a string" },
	{ "int for string", "socket = 8891;",
	    "t.conf:1: socket: expected a string, got an integer" },
	{ "int for bool", "skip_authenticated = 1;",
	    "t.conf:1: skip_authenticated: expected true or false, "
	    "got an integer" },
	{ "int for bool in group", "spf = {\n\tenable = 1;\n};",
	    "t.conf:2: spf.enable: expected true or false, got an integer" },
	{ "string for group", "dns = \"127.0.0.1\";",
	    "t.conf:1: dns: expected a group { ... }, got a string" },
	{ "string for list", "trusted_networks = \"127.0.0.0/8\";",
	    "t.conf:1: trusted_networks: expected a list of strings "
	    "[ \"...\", ... ], got a string" },
	{ "int element in list",
	    "trusted_networks = (\n\t\"10.0.0.0/8\",\n\t42\n);\n",
	    "t.conf:3: trusted_networks: expected a list of strings, "
	    "element 2 is an integer" },
	{ "int socket_mode", "socket_mode = 0660;",
	    "t.conf:1: socket_mode: expected a string, got an integer" },
	{ "fraction for int", "milter_timeout = 2.5;",
	    "t.conf:1: milter_timeout: expected an integer, "
	    "got a number with a fraction" },

	/* bad values */
	{ "host bits set",
	    "# trusted\n\nsocket = \"inet:8891@localhost\";\n\n"
	    "trusted_networks = [\n\t\"127.0.0.0/8\",\n\t\"10.0.0.1/8\"\n];\n",
	    "t.conf:7: trusted_networks: host bits set in 10.0.0.1/8 "
	    "(did you mean 10.0.0.0/8?)" },
	{ "short IPv4 network", "trusted_networks = [ \"1.2.3/24\" ];",
	    "t.conf:1: trusted_networks: not an IP address: \"1.2.3/24\"" },
	{ "prefix too long", "trusted_networks = [ \"::1/129\" ];",
	    "t.conf:1: trusted_networks: bad prefix length in \"::1/129\" "
	    "(must be 0..128)" },
	{ "unknown socket type", "socket = \"tcp:8891@localhost\";",
	    "t.conf:1: socket: \"tcp:8891@localhost\" is not a socket spec "
	    "(inet:PORT@HOST, inet6:PORT@HOST, unix:/path or local:/path)" },
	{ "relative unix socket", "socket = \"unix:run/a.sock\";",
	    "t.conf:1: socket: \"unix:run/a.sock\": the socket path must be "
	    "absolute" },
	{ "socket port 0", "socket = \"inet:0@localhost\";",
	    "t.conf:1: socket: \"inet:0@localhost\": bad port "
	    "(must be 1..65535)" },
	{ "socket without host", "socket = \"inet:8891\";",
	    "t.conf:1: socket: \"inet:8891\": missing @HOST "
	    "(inet:PORT@HOST, inet6:PORT@HOST, unix:/path or local:/path)" },
	{ "milter_timeout 0", "milter_timeout = 0;",
	    "t.conf:1: milter_timeout: 0 is out of range (1..3600)" },
	{ "milter_timeout 3601", "milter_timeout = 3601;",
	    "t.conf:1: milter_timeout: 3601 is out of range (1..3600)" },
	{ "milter_timeout int64 too big", "milter_timeout = 4294967596L;",
	    "t.conf:1: milter_timeout: 4294967596 is out of range (1..3600)" },
	{ "32-bit truncation trap", "\nmilter_timeout = 4294967596;",
	    "t.conf:2: integer 4294967596 is out of range "
	    "(add L for a 64-bit integer)" },
	{ "hex truncation trap", "milter_timeout = 0x1FFFFFFFF;",
	    "t.conf:1: integer 0x1FFFFFFFF is out of range "
	    "(add L for a 64-bit integer)" },
	{ "number in a string is not scanned",
	    "authserv_id = \"99999999999\";", NULL },
	{ "timeout_ms 60001", "dns = {\n\ttimeout_ms = 60001;\n};",
	    "t.conf:2: dns.timeout_ms: 60001 is out of range (1..60000)" },
	{ "timeout_ms negative", "dns = { timeout_ms = -5; };",
	    "t.conf:1: dns.timeout_ms: -5 is out of range (1..60000)" },
	{ "cache_entries too big", "dns = { cache_entries = 1000001; };",
	    "t.conf:1: dns.cache_entries: 1000001 is out of range (0..1000000)" },
	{ "nameserver by name",
	    "dns = { nameservers = [ \"ns1.example.net\" ]; };",
	    "t.conf:1: dns.nameservers: \"ns1.example.net\" is not an IP "
	    "address or IP@port" },
	{ "nameserver port 65536",
	    "dns = { nameservers = [ \"127.0.0.1@65536\" ]; };",
	    "t.conf:1: dns.nameservers: \"127.0.0.1@65536\" is not an IP "
	    "address or IP@port" },
	{ "nameserver empty port", "dns = { nameservers = [ \"::1@\" ]; };",
	    "t.conf:1: dns.nameservers: \"::1@\" is not an IP address or "
	    "IP@port" },
	{ "bad transparent zone", "dns = { transparent_zones = [ \"a b\" ]; };",
	    "t.conf:1: dns.transparent_zones: \"a b\" is not a domain name" },
	{ "relative trust anchor",
	    "dns = { trust_anchor_file = \"root.key\"; };",
	    "t.conf:1: dns.trust_anchor_file: \"root.key\" is not an "
	    "absolute path" },
	{ "bad facility", "syslog_facility = \"mial\";",
	    "t.conf:1: syslog_facility: unknown facility \"mial\" (mail, "
	    "daemon, user, local0..local7)" },
	{ "bad level", "log_level = \"loud\";",
	    "t.conf:1: log_level: unknown level \"loud\" (debug, info, notice, "
	    "warning, err)" },
	{ "thread_stack_kb too small", "thread_stack_kb = 64;",
	    "t.conf:1: thread_stack_kb: 64 is out of range (128..65536)" },
	{ "metrics.listen no port", "metrics = { listen = \"127.0.0.1\"; };",
	    "t.conf:1: metrics.listen: \"127.0.0.1\" is not an address to "
	    "listen on: an IP address and a port, like \"127.0.0.1:9891\" or "
	    "\"[::1]:9891\"" },
	{ "metrics.listen a name", "metrics = { listen = \"localhost:9891\"; };",
	    "t.conf:1: metrics.listen: \"localhost:9891\" is not an address to "
	    "listen on: an IP address and a port, like \"127.0.0.1:9891\" or "
	    "\"[::1]:9891\"" },
	{ "metrics.listen v6 unbracketed", "metrics = { listen = \"::1:9891\"; };",
	    "t.conf:1: metrics.listen: \"::1:9891\" is not an address to "
	    "listen on: an IP address and a port, like \"127.0.0.1:9891\" or "
	    "\"[::1]:9891\"" },
	{ "metrics.listen port 0", "metrics = { listen = \"[::1]:0\"; };",
	    "t.conf:1: metrics.listen: \"[::1]:0\" is not an address to "
	    "listen on: an IP address and a port, like \"127.0.0.1:9891\" or "
	    "\"[::1]:9891\"" },
	{ "metrics.listen port too big", "metrics = { listen = \"127.0.0.1:65536\"; };",
	    "t.conf:1: metrics.listen: \"127.0.0.1:65536\" is not an address to "
	    "listen on: an IP address and a port, like \"127.0.0.1:9891\" or "
	    "\"[::1]:9891\"" },
	{ "metrics.listen a number", "metrics = { listen = 9891; };",
	    "t.conf:1: metrics.listen: expected a string, got an integer" },
	{ "socket_mode not octal", "socket_mode = \"0968\";",
	    "t.conf:1: socket_mode: \"0968\" is not an octal file mode like "
	    "\"0660\" (at most 0777)" },
	{ "socket_mode too big", "socket_mode = \"1777\";",
	    "t.conf:1: socket_mode: \"1777\" is not an octal file mode like "
	    "\"0660\" (at most 0777)" },
	{ "user with space", "user = \"mail user\";",
	    "t.conf:1: user: \"mail user\" is not \"user\" or \"user:group\"" },
	{ "user empty group", "user = \"authmilter:\";",
	    "t.conf:1: user: \"authmilter:\" is not \"user\" or "
	    "\"user:group\"" },
	{ "relative pidfile", "pidfile = \"authmilter.pid\";",
	    "t.conf:1: pidfile: \"authmilter.pid\" is not an absolute path" },
	{ "authserv_id with ';'", "authserv_id = \"mx;evil\";",
	    "t.conf:1: authserv_id: \"mx;evil\" is not a domain name "
	    "(letters, digits, '-', '_' and '.')" },
	{ "authserv_id with '('", "authserv_id = \"mx (x)\";",
	    "t.conf:1: authserv_id: \"mx (x)\" is not a domain name "
	    "(letters, digits, '-', '_' and '.')" },
	{ "authserv_id empty", "authserv_id = \"\";",
	    "t.conf:1: authserv_id: \"\" is not a domain name "
	    "(letters, digits, '-', '_' and '.')" },
	{ "authserv_id with an empty label", "authserv_id = \"mx..example\";",
	    "t.conf:1: authserv_id: \"mx..example\" is not a domain name "
	    "(letters, digits, '-', '_' and '.')" },
	{ "transparent zone the root", "dns = { transparent_zones = [ \".\" ]; };",
	    "t.conf:1: dns.transparent_zones: \".\" is not a domain name" },
	{ "control characters shown as ?", "log_level = \"a\\nb\";",
	    "t.conf:1: log_level: unknown level \"a?b\" (debug, info, "
	    "notice, warning, err)" },

	/* libconfig 1.5 puts a value without ';' or ',' after it on the line of
	 * the next token; the loader walks back to the value's own line */
	{ "line of a key without ';'",
	    "milter_timeout = 0\n\n# comment\nlog_level = \"info\";\n",
	    "t.conf:1: milter_timeout: 0 is out of range (1..3600)" },
	{ "line of the last list element",
	    "trusted_networks = [\n\t\"10.0.0.0/8\",\n\t\"192.0.2.1/24\"\n\n"
	    "\t# end\n];\n",
	    "t.conf:3: trusted_networks: host bits set in 192.0.2.1/24 "
	    "(did you mean 192.0.2.0/24?)" },
	{ "line of a group member without ';'",
	    "spf = {\n\thelo = true;\n\tenable = 1\n};\n",
	    "t.conf:3: spf.enable: expected true or false, got an integer" },
	{ "line of an unknown key without ';'",
	    "dns = {\n\tbogus = 1\n\n};\n",
	    "t.conf:2: dns.bogus: unknown setting" },

	/* libconfig syntax errors */
	/* arc */
	{ "arc settings", "arc = { enable = true;\n trusted_sealers = [ "
	    "\"lists.example.org\" ];\n seal = { domain = \"example.net\"; "
	    "selector = \"arc1\";\n key_file = \"/etc/k.pem\"; }; };", NULL },
	{ "arc.seal without key_file",
	    "arc = {\n  seal = {\n    domain = \"example.net\";\n"
	    "    selector = \"arc1\";\n  };\n};\n",
	    "t.conf:2: arc.seal: domain, selector and key_file go together (all "
	    "three, or no arc.seal)" },
	{ "arc.seal.key_file relative",
	    "arc = { seal = { key_file = \"k.pem\"; }; };",
	    "t.conf:1: arc.seal.key_file: \"k.pem\" is not an absolute path" },
	{ "arc.seal.domain not a name",
	    "arc = { seal = { domain = \"a b\"; }; };",
	    "t.conf:1: arc.seal.domain: \"a b\" is not a domain name" },
	{ "arc.trusted_sealers not a domain",
	    "arc = { trusted_sealers = [ \"lists;example.org\" ]; };",
	    "t.conf:1: arc.trusted_sealers: \"lists;example.org\" is not a "
	    "domain name" },
	{ "arc.seal unknown key", "arc = { seal = { key = \"/k\"; }; };",
	    "t.conf:1: arc.seal.key: unknown setting" },
	{ "syntax error", "socket = ;",
	    "t.conf:1: syntax error" },
	{ "unterminated string (reported at the end)",
	    "socket = \"inet:8891@localhost;\nmilter_timeout = 30;\n",
	    "t.conf:3: syntax error" },
	{ "duplicate key", "milter_timeout = 30;\nmilter_timeout = 31;",
	    "t.conf:2: duplicate setting name" },
	{ "mixed array", "trusted_networks = [ \"10.0.0.0/8\", 1 ];",
	    "t.conf:1: mismatched element type in array" },
	{ "@include refused in a string", "\n  @include \"/etc/passwd\"\n",
	    "t.conf:2: @include is not allowed here" },
};

static void
test_load_cases(void)
{
	for (size_t i = 0; i < sizeof(load_cases) / sizeof(load_cases[0]);
	    i++) {
		const struct load_case *tc = &load_cases[i];
		char err[512] = "";
		struct settings *c = settings_load_string(tc->text, "t.conf", err,
		    sizeof(err));

		if (tc->err == NULL) {
			ok(c != NULL, "%s: loads (%s)", tc->name, err);
		} else {
			ok(c == NULL, "%s: fails", tc->name);
			is_str(err, tc->err, "%s: message", tc->name);
		}
		settings_unref(&c);
	}
}

static const char full_text[] =
    "socket = \"unix:/run/authmilter/authmilter.sock\";\n"
    "socket_mode = \"0600\";\n"
    "user = \"authmilter:mail\";\n"
    "pidfile = \"/run/authmilter/authmilter.pid\";\n"
    "syslog_facility = \"local3\";\n"
    "log_level = \"debug\";\n"
    "milter_timeout = 120;\n"
    "authserv_id = \"mx.example.net\";\n"
    "metrics = { listen = \"[::1]:9100\"; };\n"
    "dns = {\n"
    "\tnameservers = [ \"127.0.0.1@5353\", \"::1\" ];\n"
    "\ttimeout_ms = 250;\n"
    "\ttransparent_zones = [ \"test\", \"10.in-addr.arpa.\" ];\n"
    "\ttrust_anchor_file = \"/usr/share/dns/root.key\";\n"
    "\tcache_entries = 0;\n"
    "};\n"
    "trusted_networks = [ \"192.0.2.0/24\", \"2001:db8::/32\", "
    "\"198.51.100.7\" ];\n"
    "skip_authenticated = false;\n"
    "spf = { enable = false; helo = false; };\n";

/* test_domain_bounds - the settings' domain names have dname's bounds:
 * at most 253 octets without the final dot, labels of 1 to 63 */
static void
test_domain_bounds(void)
{
	static const struct {
		const char *what;
		size_t label, labels; /* labels of label octets ... */
		size_t last;          /* ... and a last one of last octets */
		const char *tail;
		int loads;
	} cases[] = {
		{ "253 octets", 63, 3, 61, "", 1 },
		{ "253 octets and the final dot", 63, 3, 61, ".", 1 },
		{ "254 octets", 63, 3, 62, "", 0 },
		{ "a 63-octet label", 63, 1, 7, "", 1 },
		{ "a 64-octet label", 64, 1, 7, "", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[300] = "", text[800], err[512] = "";
		struct settings *c;
		size_t o = 0;

		for (size_t l = 0; l < cases[i].labels; l++) {
			memset(name + o, 'a', cases[i].label);
			o += cases[i].label;
			name[o++] = '.';
		}
		memset(name + o, 'b', cases[i].last);
		o += cases[i].last;
		snprintf(name + o, sizeof(name) - o, "%s", cases[i].tail);
		snprintf(text, sizeof(text), "authserv_id = \"%s\";\n"
		    "policy = { never_reject = [ \"%s\" ]; };\n", name, name);
		c = settings_load_string(text, "t.conf", err, sizeof(err));
		if (cases[i].loads) {
			ok(c != NULL, "domain of %s loads: %s", cases[i].what, err);
		} else {
			ok(c == NULL, "domain of %s refused", cases[i].what);
			ok(strstr(err, "t.conf:1: authserv_id: ") == err &&
			    strstr(err, "is not a domain name") != NULL,
			    "domain of %s: the message (%s)", cases[i].what, err);
		}
		if (c != NULL && cases[i].tail[0] == '.')
			is_int(strlen(c->policy_never_reject[0]), 253,
			    "domain of %s: stored without the dot", cases[i].what);
		if (c != NULL)
			settings_unref(&c);
	}
}

/* test_policy - the new groups' values land where the session reads them */
static void
test_policy(void)
{
	char err[256];
	struct settings *c = settings_load_string(
	    "dkim = { enable = false; max_signatures = 3; min_key_bits = 2048; };\n"
	    "dmarc = { psl_file = \"/tmp/psl.dat\"; discovery = \"psl\"; };\n"
	    "policy = { mode = \"report-only\"; quarantine = \"header\";\n"
	    "  never_reject = [ \"Partner.Example\", \"B.example.\" ];\n"
	    "  on_temperror = \"tempfail\"; on_from_error = \"accept\";\n"
	    "  on_oversize = \"reject\"; dns_budget_ms = 2500; };\n", "p.conf",
	    err, sizeof(err));
	struct settings *d = settings_load_string("", "d.conf", err, sizeof(err));

	if (!ok(c != NULL && d != NULL, "policy config loads: %s", err))
		return;
	is_int(c->dkim_enable, 0, "dkim.enable");
	is_int(c->dkim_max_signatures, 3, "dkim.max_signatures");
	is_int(c->dkim_min_key_bits, 2048, "dkim.min_key_bits");
	is_str(c->dmarc_psl_file, "/tmp/psl.dat", "dmarc.psl_file");
	is_int(c->dmarc_discovery, DISCOVERY_PSL, "dmarc.discovery psl");
	is_int(c->policy_mode, POLICY_REPORT_ONLY, "policy.mode");
	is_int(c->policy_quarantine, QUARANTINE_HEADER, "policy.quarantine");
	is_int(c->policy_nnever_reject, 2, "policy.never_reject count");
	is_str(c->policy_never_reject[0], "partner.example", "never_reject lowercased");
	is_str(c->policy_never_reject[1], "b.example",
	    "never_reject without the final dot");
	is_int(c->policy_on_temperror, TEMPERROR_TEMPFAIL, "policy.on_temperror");
	is_int(c->policy_on_from_error, FROM_ERROR_ACCEPT, "policy.on_from_error");
	is_int(c->policy_on_oversize, OVERSIZE_REJECT, "policy.on_oversize");
	is_int(c->policy_dns_budget_ms, 2500, "policy.dns_budget_ms");
	/* defaults */
	is_int(d->dkim_enable, 1, "default dkim.enable");
	is_int(d->dkim_max_signatures, 8, "default dkim.max_signatures");
	is_int(d->dkim_min_key_bits, 1024, "default dkim.min_key_bits");
	is_int(d->dmarc_enable, 1, "default dmarc.enable");
	is_str(d->dmarc_psl_file, PSL_PATH, "default dmarc.psl_file");
	is_int(d->dmarc_discovery, DISCOVERY_TREEWALK,
	    "default dmarc.discovery: treewalk");
	is_int(d->policy_mode, POLICY_ENFORCE, "default policy.mode");
	is_int(d->policy_quarantine, QUARANTINE_HOLD, "default policy.quarantine");
	is_int(d->policy_nnever_reject, 0, "default policy.never_reject");
	is_int(d->policy_on_temperror, TEMPERROR_ACCEPT, "default policy.on_temperror");
	is_int(d->policy_on_from_error, FROM_ERROR_REJECT, "default policy.on_from_error");
	is_int(d->policy_on_oversize, OVERSIZE_TEMPFAIL, "default policy.on_oversize");
	is_int(d->policy_dns_budget_ms, 10000, "default policy.dns_budget_ms");
	settings_unref(&c);
	settings_unref(&d);
}

static void
test_full(void)
{
	char err[512] = "";
	struct settings *c = settings_load_string(full_text, "full.conf", err,
	    sizeof(err));

	if (!ok(c != NULL, "full: loads (%s)", err))
		return;
	is_str(c->socket, "unix:/run/authmilter/authmilter.sock", "full: socket");
	is_int(c->socket_mode, 0600, "full: socket_mode");
	is_str(c->user, "authmilter:mail", "full: user");
	is_str(c->pidfile, "/run/authmilter/authmilter.pid", "full: pidfile");
	is_str(c->metrics_listen, "[::1]:9100", "full: metrics.listen");
	is_int(c->log_facility, LOG_LOCAL3, "full: facility");
	is_int(c->log_level, LOG_DEBUG, "full: level");
	is_int(c->milter_timeout_s, 120, "full: milter_timeout");
	is_str(c->authserv_id, "mx.example.net", "full: authserv_id");
	is_int(c->dns_nnameservers, 2, "full: 2 nameservers");
	if (c->dns_nnameservers == 2) {
		is_str(c->dns_nameservers[0], "127.0.0.1@5353", "full: ns 1");
		is_str(c->dns_nameservers[1], "::1", "full: ns 2");
	}
	is_int(c->dns_timeout_ms, 250, "full: timeout_ms");
	is_int(c->dns_cache_entries, 0, "full: cache_entries 0 (off)");
	is_int(c->dns_ntransparent, 2, "full: 2 transparent zones");
	if (c->dns_ntransparent == 2) {
		is_str(c->dns_transparent_zones[0], "test", "full: zone 1");
		is_str(c->dns_transparent_zones[1], "10.in-addr.arpa.",
		    "full: zone 2");
	}
	is_str(c->dns_trust_anchor, "/usr/share/dns/root.key",
	    "full: trust anchor");
	is_int(c->trusted_networks.n, 3, "full: 3 trusted networks");
	is_int(cidr_list_match(&c->trusted_networks, "192.0.2.9"), 1,
	    "full: 192.0.2.9 trusted");
	is_int(cidr_list_match(&c->trusted_networks, "::ffff:198.51.100.7"), 1,
	    "full: mapped 198.51.100.7 trusted");
	is_int(cidr_list_match(&c->trusted_networks, "127.0.0.1"), 0,
	    "full: loopback no longer trusted (list replaced, not added to)");
	is_int(c->skip_authenticated, 0, "full: skip_authenticated");
	is_int(c->spf_enable, 0, "full: spf.enable");
	is_int(c->spf_helo, 0, "full: spf.helo");
	is_str(c->path, "full.conf", "full: path");
	is_int(c->refcount, 1, "full: refcount 1");
	settings_unref(&c);
	ok(c == NULL, "unref clears the pointer");
}

/* check_defaults - what an empty file and settings_defaults() both give */
static void
check_defaults(const struct settings *c, const char *what)
{
	is_str(c->socket, "inet:8891@localhost", "%s: socket", what);
	is_int(c->socket_mode, 0660, "%s: socket_mode", what);
	is_str(c->user, NULL, "%s: user unset", what);
	is_str(c->pidfile, NULL, "%s: pidfile unset", what);
	is_str(c->metrics_listen, NULL, "%s: metrics.listen unset (off)", what);
	is_int(c->thread_stack_kb, 512, "%s: thread_stack_kb", what);
	is_int(c->log_facility, LOG_MAIL, "%s: facility", what);
	is_int(c->log_level, LOG_INFO, "%s: level", what);
	is_int(c->milter_timeout_s, 300, "%s: milter_timeout", what);
	ok(c->authserv_id != NULL && c->authserv_id[0] != '\0' &&
	    strpbrk(c->authserv_id, " ;()") == NULL,
	    "%s: authserv_id from the host name (%s)", what,
	    c->authserv_id ? c->authserv_id : "NULL");
	is_int(c->trusted_networks.n, 2, "%s: 2 trusted networks", what);
	is_int(cidr_list_match(&c->trusted_networks, "127.0.0.1"), 1,
	    "%s: 127.0.0.1 trusted", what);
	is_int(cidr_list_match(&c->trusted_networks, "::1"), 1,
	    "%s: ::1 trusted", what);
	is_int(cidr_list_match(&c->trusted_networks, "192.0.2.1"), 0,
	    "%s: 192.0.2.1 not trusted", what);
	is_int(c->skip_authenticated, 1, "%s: skip_authenticated", what);
	ok(c->dns_nameservers == NULL && c->dns_nnameservers == 0,
	    "%s: no nameservers (resolv.conf)", what);
	/* the documented default, and the one every resolver uses */
	is_int(c->dns_timeout_ms, 5000, "%s: timeout_ms", what);
	is_int(c->dns_timeout_ms, DNS_TIMEOUT_DEFAULT_MS,
	    "%s: timeout_ms is DNS_TIMEOUT_DEFAULT_MS", what);
	is_int(c->dns_cache_entries, 10000, "%s: cache_entries", what);
	ok(c->dns_transparent_zones == NULL && c->dns_ntransparent == 0,
	    "%s: no transparent zones", what);
	is_str(c->dns_trust_anchor, NULL, "%s: no trust anchor", what);
	is_int(c->spf_enable, 1, "%s: spf.enable", what);
	is_int(c->spf_helo, 1, "%s: spf.helo", what);
	is_int(c->refcount, 1, "%s: refcount", what);
}

static void
test_defaults(void)
{
	char err[256] = "";
	struct settings *c = settings_load_string("", "empty.conf", err,
	    sizeof(err));

	if (ok(c != NULL, "empty: loads (%s)", err))
		check_defaults(c, "empty");
	settings_unref(&c);
	c = settings_defaults();
	check_defaults(c, "settings_defaults");
	is_str(c->path, NULL, "settings_defaults: no path");
	settings_unref(&c);

	/* a group present but partial: the rest of it keeps its defaults */
	c = settings_load_string("dns = { timeout_ms = 7; };\n"
	    "authserv_id = \"mx.example.net\";", "partial.conf", err,
	    sizeof(err));
	if (ok(c != NULL, "partial dns: loads (%s)", err)) {
		is_int(c->dns_timeout_ms, 7, "partial dns: timeout_ms");
		ok(c->dns_nameservers == NULL, "partial dns: no nameservers");
		is_int(c->spf_enable, 1, "partial dns: spf.enable default");
	}
	settings_unref(&c);

	/* the missing ';' case gives what it says */
	c = settings_load_string("milter_timeout = 30\nlog_level = \"debug\"\n",
	    "t.conf", err, sizeof(err));
	if (ok(c != NULL, "missing ';': loads")) {
		is_int(c->milter_timeout_s, 30, "missing ';': milter_timeout");
		is_int(c->log_level, LOG_DEBUG, "missing ';': log_level");
	}
	settings_unref(&c);
}

/* ---- files ------------------------------------------------------------- */

static char tmpdir[256];

static const char *
tmp_path(const char *name, char *buf, size_t buflen)
{
	snprintf(buf, buflen, "%s/%s", tmpdir, name);
	return buf;
}

static void
write_file(const char *name, const char *text, size_t len)
{
	char path[512];
	FILE *fp = fopen(tmp_path(name, path, sizeof(path)), "w");

	if (fp == NULL) {
		ok(0, "write %s: %s", path, strerror(errno));
		return;
	}
	fwrite(text, 1, len, fp);
	fclose(fp);
}

static void
write_str(const char *name, const char *text)
{
	write_file(name, text, strlen(text));
}

/* expect_file - load name from tmpdir; want NULL: success, else the
 * message with "@" standing for the directory */
static void
expect_file(const char *case_name, const char *name, const char *want)
{
	char path[512], err[1024] = "", expect[1024];
	struct settings *c = settings_load(tmp_path(name, path, sizeof(path)),
	    err, sizeof(err));
	const char *at;

	if (want == NULL) {
		ok(c != NULL, "%s: loads (%s)", case_name, err);
		if (c != NULL)
			is_str(c->path, path, "%s: path recorded", case_name);
	} else {
		ok(c == NULL, "%s: fails", case_name);
		at = strchr(want, '@');
		if (at != NULL)
			snprintf(expect, sizeof(expect), "%.*s%s%s",
			    (int)(at - want), want, tmpdir, at + 1);
		else
			snprintf(expect, sizeof(expect), "%s", want);
		is_str(err, expect, "%s: message", case_name);
	}
	settings_unref(&c);
}

static void
test_files(void)
{
	static const char nul_text[] = "milter_timeout = 3\0000;\n";
	char main_text[1024], path[512];
	char *big;

	snprintf(tmpdir, sizeof(tmpdir), "%s/test-config.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!ok(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno)))
		return;

	/* an error inside an included file names that file and its line */
	snprintf(main_text, sizeof(main_text),
	    "milter_timeout = 30;\n@include \"%s/sub.conf\"\n"
	    "log_level = \"debug\";\n", tmpdir);
	write_str("main.conf", main_text);
	write_str("sub.conf", "# included\n\nspf = {\n\tenable = 1\n};\n");
	expect_file("include: error in the included file", "main.conf",
	    "@/sub.conf:4: spf.enable: expected true or false, got an integer");

	/* after the include, lines of the main file are counted right */
	write_str("sub.conf", "# included\n\nspf = {\n\tenable = false;\n};\n");
	snprintf(main_text, sizeof(main_text),
	    "milter_timeout = 30;\n@include \"%s/sub.conf\"\n"
	    "\nlog_level = \"loud\";\n", tmpdir);
	write_str("main.conf", main_text);
	expect_file("include: error after the include", "main.conf",
	    "@/main.conf:4: log_level: unknown level \"loud\" (debug, info, "
	    "notice, warning, err)");

	/* the included settings are used */
	snprintf(main_text, sizeof(main_text),
	    "milter_timeout = 30;\n@include \"%s/sub.conf\"\n", tmpdir);
	write_str("main.conf", main_text);
	expect_file("include: valid", "main.conf", NULL);
	{
		char err[512];
		struct settings *c = settings_load(tmp_path("main.conf", path,
		    sizeof(path)), err, sizeof(err));

		if (ok(c != NULL, "include: reload (%s)", c ? "" : err)) {
			is_int(c->spf_enable, 0, "include: spf.enable from sub");
			is_int(c->milter_timeout_s, 30, "include: main value");
		}
		settings_unref(&c);
	}

	/* a syntax error in the included file */
	write_str("sub.conf", "spf = {\n\tenable = ;\n};\n");
	snprintf(main_text, sizeof(main_text),
	    "milter_timeout = 30;\n@include \"%s/sub.conf\"\n", tmpdir);
	write_str("main.conf", main_text);
	expect_file("include: syntax error in the included file", "main.conf",
	    "@/sub.conf:2: syntax error");

	snprintf(main_text, sizeof(main_text),
	    "\n@include \"%s/nope.conf\"\n", tmpdir);
	write_str("main.conf", main_text);
	expect_file("include: missing file", "main.conf",
	    "@/main.conf:2: cannot open include file");

	expect_file("missing file", "does-not-exist.conf",
	    "@/does-not-exist.conf: No such file or directory");
	write_file("nul.conf", nul_text, sizeof(nul_text) - 1);
	expect_file("NUL byte", "nul.conf", "@/nul.conf: contains a NUL byte");
	mkdir(tmp_path("dir.conf", path, sizeof(path)), 0700);
	expect_file("a directory", "dir.conf",
	    "@/dir.conf: not a regular file");
	big = malloc(1024 * 1024 + 2);
	memset(big, '#', 1024 * 1024 + 1);
	big[1024 * 1024 + 1] = '\0';
	write_str("big.conf", big);
	expect_file("too large", "big.conf",
	    "@/big.conf: larger than 1048576 bytes");
	ok(settings_load_string(big, "big", path, sizeof(path)) == NULL,
	    "too large string: fails");
	is_str(path, "big: larger than 1048576 bytes", "too large string: message");
	free(big);
	write_str("error.conf", "\n\n\nuser = \"\";\n");
	expect_file("error names the file", "error.conf",
	    "@/error.conf:4: user: \"\" is not \"user\" or \"user:group\"");

	/* clean up */
	static const char *const files[] = { "main.conf", "sub.conf",
	    "nul.conf", "big.conf", "error.conf" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(tmp_path(files[i], path, sizeof(path)));
	rmdir(tmp_path("dir.conf", path, sizeof(path)));
	rmdir(tmpdir);
}

static void
test_shipped(void)
{
	const char *top = getenv("top_srcdir");
	char path[1024], err[512] = "";
	struct settings *c;

	if (top == NULL) {
		printf("# shipped conf/authmilter.conf: skipped, top_srcdir "
		    "unset\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/conf/authmilter.conf", top);
	c = settings_load(path, err, sizeof(err));
	if (!ok(c != NULL, "shipped config loads: %s", err))
		return;
	is_str(c->socket, "inet:8891@localhost", "shipped: socket");
	is_str(c->user, NULL, "shipped: no user");
	ok(c->dns_nameservers == NULL, "shipped: resolv.conf nameservers");
	is_int(c->milter_timeout_s, 300, "shipped: milter_timeout");
	is_int(c->trusted_networks.n, 2, "shipped: trusted_networks");
	is_int(c->spf_enable, 1, "shipped: spf.enable");
	is_int(c->spf_helo, 1, "shipped: spf.helo");
	settings_unref(&c);
}

/* ---- socket specs ------------------------------------------------------ */

struct socket_case {
	const char *spec;
	int rc;
};

static const struct socket_case socket_cases[] = {
	{ "inet:8891@localhost", 0 },
	{ "inet:8891@127.0.0.1", 0 },
	{ "inet:8891@0.0.0.0", 0 },
	{ "inet:1@a", 0 },
	{ "inet:65535@mx.example.net", 0 },
	{ "inet6:8891@[::1]", 0 },
	{ "inet6:8891@::1", 0 },
	{ "inet6:8891@ip6-localhost", 0 },
	{ "unix:/run/authmilter/authmilter.sock", 0 },
	{ "local:/var/spool/postfix/authmilter/sock", 0 },
	{ "inet:0@localhost", -1 },
	{ "inet:65536@localhost", -1 },
	{ "inet:-1@localhost", -1 },
	{ "inet:+25@localhost", -1 },
	{ "inet:@localhost", -1 },
	{ "inet:8891@", -1 },
	{ "inet:8891", -1 },
	{ "inet:port@localhost", -1 },
	{ "inet:8891@local host", -1 },
	{ "inet:8891@::1", -1 },
	{ "inet6:8891@[::1", -1 },
	{ "inet6:8891@[]", -1 },
	{ "inet6:8891@[localhost]", -1 },
	{ "inet6:8891@:::1", -1 },
	{ "unix:", -1 },
	{ "unix:relative/sock", -1 },
	{ "local:sock", -1 },
	{ "unix:/a/very/long/path/that/goes/on/and/on/and/on/and/on/and/on/"
	  "and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/sock", -1 },
	{ "/run/authmilter.sock", -1 },
	{ "tcp:8891@localhost", -1 },
	{ "", -1 },
	{ "INET:8891@localhost", -1 },
};

static void
test_sockets(void)
{
	char err[256];

	for (size_t i = 0; i < sizeof(socket_cases) / sizeof(socket_cases[0]);
	    i++) {
		err[0] = '\0';
		is_int(settings_socket_valid(socket_cases[i].spec, err,
		    sizeof(err)), socket_cases[i].rc, "socket \"%s\" (%s)",
		    socket_cases[i].spec, err);
		if (socket_cases[i].rc < 0)
			ok(err[0] != '\0', "socket \"%s\": has a message",
			    socket_cases[i].spec);
	}
}

/* ---- refcounts and the current snapshot -------------------------------- */

static struct settings *
small_config(unsigned timeout)
{
	char text[128], err[256];

	snprintf(text, sizeof(text), "authserv_id = \"mx.example.net\";\n"
	    "milter_timeout = %u;\n", timeout);
	return settings_load_string(text, "small.conf", err, sizeof(err));
}

static void
test_refs(void)
{
	struct settings *a = small_config(1), *b = small_config(2), *cur, *r;

	ok(a != NULL && b != NULL, "refs: two snapshots");
	if (a == NULL || b == NULL)
		return;
	r = settings_ref(a);
	ok(r == a, "ref returns its argument");
	is_int(a->refcount, 2, "ref: 2");
	settings_unref(&r);
	is_int(a->refcount, 1, "unref: 1");
	ok(settings_ref(NULL) == NULL, "ref(NULL) is NULL");
	r = NULL;
	settings_unref(&r);
	ok(r == NULL, "unref of NULL is harmless");

	cur = settings_get_current();
	ok(cur == NULL, "no current snapshot at first");
	settings_set_current(a);          /* takes over our reference */
	cur = settings_get_current();
	ok(cur == a, "current is a");
	is_int(a->refcount, 2, "current + our get");
	settings_set_current(b);          /* drops the current's ref on a */
	is_int(a->refcount, 1, "a survives for its holder");
	is_int(cur->milter_timeout_s, 1, "old snapshot still readable");
	settings_unref(&cur);             /* frees a */
	cur = settings_get_current();
	ok(cur == b, "current is b");
	is_int(cur->milter_timeout_s, 2, "b's value");
	settings_unref(&cur);
	settings_set_current(NULL);       /* frees b */
	ok(settings_get_current() == NULL, "current cleared");
}

#define READERS 4
#define ROUNDS 2000

static void *
reader(void *arg)
{
	long bad = 0;

	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		struct settings *c = settings_get_current();

		if (c == NULL || c->milter_timeout_s < 1 ||
		    c->milter_timeout_s > 100)
			bad++;
		settings_unref(&c);
	}
	return (void *)bad;
}

static void
test_threads(void)
{
	pthread_t t[READERS];
	long bad_total = 0;
	int started = 0;

	settings_set_current(small_config(1));
	for (int i = 0; i < READERS; i++)
		if (pthread_create(&t[i], NULL, reader, NULL) == 0)
			started++;
	is_int(started, READERS, "threads: readers started");
	for (unsigned i = 0; i < 200; i++)
		settings_set_current(small_config(1 + i % 100));
	for (int i = 0; i < started; i++) {
		void *bad;

		pthread_join(t[i], &bad);
		bad_total += (long)bad;
	}
	is_int(bad_total, 0, "threads: every reader saw a whole snapshot");
	settings_set_current(NULL);
}

/* the scope column: what a reload applies, and the README's table says
 * the same for every setting */
struct readme {
	char *text;
	int missing;
};

static void
check_readme_row(const char *name, int scope, void *arg)
{
	struct readme *r = arg;
	char row[160], *p;

	snprintf(row, sizeof(row), "| `%s` | ", name);
	p = strstr(r->text, row);
	if (!ok(p != NULL, "README settings table has %s", name)) {
		r->missing++;
		return;
	}
	p = strstr(p + strlen(row), " | ");
	ok(p != NULL && strncmp(p + 3, scope == SETTINGS_SCOPE_START ? "start |" :
	    "reload |", scope == SETTINGS_SCOPE_START ? 7 : 8) == 0,
	    "README: %s applies at %s", name,
	    scope == SETTINGS_SCOPE_START ? "start" : "reload");
}

static void
test_scope(void)
{
	const char *top = getenv("top_srcdir");
	char err[256], changed[256], path[1024];
	struct settings *a, *b;
	struct readme r = { NULL, 0 };
	FILE *f;

	is_int(settings_setting_scope("socket"), SETTINGS_SCOPE_START, "socket: start");
	is_int(settings_setting_scope("dns.nameservers"), SETTINGS_SCOPE_START,
	    "dns.nameservers: start");
	is_int(settings_setting_scope("log_level"), SETTINGS_SCOPE_RELOAD,
	    "log_level: reload");
	is_int(settings_setting_scope("policy.mode"), SETTINGS_SCOPE_RELOAD,
	    "policy.mode: reload");
	is_int(settings_setting_scope("dmarc.discovery"), SETTINGS_SCOPE_START,
	    "dmarc.discovery: start");
	is_int(settings_setting_scope("dns"), -1, "a group is no setting");
	is_int(settings_setting_scope("nope.x"), -1, "unknown setting");
	a = settings_load_string("socket = \"inet:1@localhost\";\n"
	    "dns = { nameservers = [ \"127.0.0.1\" ]; };\nlog_level = \"info\";\n",
	    "a.conf", err, sizeof(err));
	b = settings_load_string("socket = \"inet:2@localhost\";\n"
	    "dns = { nameservers = [ \"127.0.0.1\", \"::1\" ]; };\n"
	    "dkim = { max_signatures = 9; };\nlog_level = \"debug\";\n"
	    "dmarc = { discovery = \"psl\"; };\n",
	    "b.conf", err, sizeof(err));
	if (ok(a != NULL && b != NULL, "scope configs: %s", err)) {
		is_int(settings_start_only_changes(a, b, changed, sizeof(changed)),
		    4, "start-only changes counted");
		is_str(changed, "socket, dns.nameservers, dkim.max_signatures, "
		    "dmarc.discovery",
		    "start-only changes named (log_level is not one)");
		is_int(settings_start_only_changes(a, a, changed, sizeof(changed)),
		    0, "no change");
	}
	settings_unref(&a);
	settings_unref(&b);
	if (top == NULL) {
		printf("# README settings table: not checked, top_srcdir unset\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/README.md", top);
	if (!ok((f = fopen(path, "r")) != NULL, "open %s", path))
		return;
	r.text = xcalloc(1, 1 << 20);
	if (fread(r.text, 1, (1 << 20) - 1, f) == 0)
		r.text[0] = '\0';
	fclose(f);
	settings_each_setting(check_readme_row, &r);
	is_int(r.missing, 0, "every setting is in the README table");
	free(r.text);
}

/* test_iprev - iprev.enable: default on, off, applies on reload */
static void
test_iprev(void)
{
	char err[256] = "";
	struct settings *c = settings_defaults();

	is_int(c->iprev_enable, 1, "iprev: enabled by default");
	settings_unref(&c);
	c = settings_load_string("iprev = { enable = false; };", "t.conf", err,
	    sizeof(err));
	if (ok(c != NULL, "iprev: loads (%s)", err))
		is_int(c->iprev_enable, 0, "iprev.enable false");
	settings_unref(&c);
	c = settings_load_string("iprev = { enable = 1; };", "t.conf", err,
	    sizeof(err));
	ok(c == NULL && strstr(err, "iprev.enable") != NULL,
	    "iprev.enable must be a boolean: %s", err);
	settings_unref(&c);
	c = settings_load_string("iprev = { enabled = false; };", "t.conf", err,
	    sizeof(err));
	ok(c == NULL && strstr(err, "iprev.enabled") != NULL,
	    "iprev: an unknown setting is an error: %s", err);
	settings_unref(&c);
	is_int(settings_setting_scope("iprev.enable"), SETTINGS_SCOPE_RELOAD,
	    "iprev.enable: reload (new connections)");
}

/* test_arc - arc.*: defaults, normalised names, the scope of each */
static void
test_arc(void)
{
	char err[512] = "";
	struct settings *c = settings_defaults();

	is_int(c->arc_enable, 1, "arc: enabled by default");
	is_int(c->arc_ntrusted_sealers, 0, "arc: no trusted sealers by default");
	ok(c->arc_seal_domain == NULL && c->arc_seal_selector == NULL &&
	    c->arc_seal_key_file == NULL, "arc: no sealing by default");
	settings_unref(&c);
	c = settings_load_string("arc = { enable = false; trusted_sealers = "
	    "[ \"Lists.Example.ORG.\", \"fwd.example.net\" ];\n"
	    "seal = { domain = \"MX.Example.NET.\"; selector = \"ARC1\"; "
	    "key_file = \"/etc/authmilter/arc.pem\"; }; };", "t.conf", err,
	    sizeof(err));
	if (!ok(c != NULL, "arc: loads (%s)", err))
		return;
	is_int(c->arc_enable, 0, "arc.enable false");
	is_int(c->arc_ntrusted_sealers, 2, "arc.trusted_sealers count");
	is_str(c->arc_trusted_sealers[0], "lists.example.org",
	    "arc.trusted_sealers dname-normalised");
	is_str(c->arc_seal_domain, "mx.example.net", "arc.seal.domain normalised");
	is_str(c->arc_seal_selector, "arc1", "arc.seal.selector lowercased");
	is_str(c->arc_seal_key_file, "/etc/authmilter/arc.pem",
	    "arc.seal.key_file");
	settings_unref(&c);
	is_int(settings_setting_scope("arc.enable"), SETTINGS_SCOPE_START,
	    "arc.enable: start (the verifier is made once, as DKIM's)");
	is_int(settings_setting_scope("arc.trusted_sealers"),
	    SETTINGS_SCOPE_RELOAD, "arc.trusted_sealers: reload");
	is_int(settings_setting_scope("arc.seal.key_file"),
	    SETTINGS_SCOPE_RELOAD, "arc.seal.key_file: reload (the key is "
	    "read again)");
	is_int(settings_setting_scope("arc.seal"), -1, "arc.seal is a group");
}

/* test_reports - reports.*: defaults, the defaults that follow other
 * settings, the values read, the scope of each */
static void
test_reports(void)
{
	char err[512] = "";
	struct settings *c = settings_defaults();

	is_int(c->reports_enable, 0, "reports: off by default");
	is_str(c->reports_store, "sqlite:/var/lib/authmilter/reports.db",
	    "reports.store default");
	is_int(c->reports_keep_days, 31, "reports.keep_days default");
	is_int(c->reports_queue_max, 65536, "reports.queue_max default");
	is_str(c->reports_org_name, c->authserv_id,
	    "reports.org_name defaults to the authserv_id");
	is_str(c->reports_email, NULL, "reports.email unset");
	is_str(c->reports_submitter, NULL, "reports.submitter unset");
	is_str(c->reports_relay, NULL, "reports.relay unset");
	is_str(c->reports_sendmail, "/usr/sbin/sendmail",
	    "reports.sendmail default");
	settings_unref(&c);

	c = settings_load_string("authserv_id = \"mx.example.net\";\n"
	    "reports = { enable = true; email = \"DMARC@Example.NET\"; };",
	    "t.conf", err, sizeof(err));
	if (ok(c != NULL, "reports: loads (%s)", err)) {
		is_int(c->reports_enable, 1, "reports.enable true");
		is_str(c->reports_org_name, "mx.example.net",
		    "reports.org_name follows authserv_id");
		is_str(c->reports_email, "DMARC@Example.NET",
		    "reports.email as written");
		is_str(c->reports_submitter, "example.net",
		    "reports.submitter: the email's domain, lowercased");
		is_str(c->reports_store,
		    "sqlite:/var/lib/authmilter/reports.db",
		    "reports.store default in a loaded file");
	}
	settings_unref(&c);

	c = settings_load_string("reports = { store = "
	    "\"sqlite:/tmp/r.db\"; keep_days = 0; queue_max = 16777216;\n"
	    "org_name = \"Example Org\"; email = \"r@example.org\";\n"
	    "submitter = \"Mail.Example.ORG.\"; relay = \"127.0.0.1:2525\";\n"
	    "sendmail = \"/usr/lib/sendmail\"; };", "t.conf", err, sizeof(err));
	if (ok(c != NULL, "reports full: loads (%s)", err)) {
		is_str(c->reports_store, "sqlite:/tmp/r.db", "reports.store");
		is_int(c->reports_keep_days, 0, "reports.keep_days 0 (forever)");
		is_int(c->reports_queue_max, 16777216, "reports.queue_max max");
		is_str(c->reports_org_name, "Example Org", "reports.org_name");
		is_str(c->reports_submitter, "mail.example.org",
		    "reports.submitter normalised, not the email's domain");
		is_str(c->reports_relay, "127.0.0.1:2525", "reports.relay");
		is_str(c->reports_sendmail, "/usr/lib/sendmail",
		    "reports.sendmail");
	}
	settings_unref(&c);

	/* "" leaves the optional ones unset (their defaults) */
	c = settings_load_string("authserv_id = \"mx.example.net\";\n"
	    "reports = { org_name = \"\"; email = \"\"; relay = \"\"; };",
	    "t.conf", err, sizeof(err));
	if (ok(c != NULL, "reports empty strings: loads (%s)", err)) {
		is_str(c->reports_org_name, "mx.example.net",
		    "reports.org_name \"\": the default");
		ok(c->reports_email == NULL && c->reports_submitter == NULL &&
		    c->reports_relay == NULL, "reports: \"\" unsets email, "
		    "relay; no submitter");
	}
	settings_unref(&c);

	is_int(settings_setting_scope("reports.enable"), SETTINGS_SCOPE_START,
	    "reports.enable: start");
	is_int(settings_setting_scope("reports.store"), SETTINGS_SCOPE_START,
	    "reports.store: start");
	is_int(settings_setting_scope("reports.keep_days"), SETTINGS_SCOPE_START,
	    "reports.keep_days: start");
	is_int(settings_setting_scope("reports.queue_max"), SETTINGS_SCOPE_START,
	    "reports.queue_max: start");
	is_int(settings_setting_scope("reports.email"), SETTINGS_SCOPE_RELOAD,
	    "reports.email: the reporter reads it each run");
	is_int(settings_setting_scope("reports.relay"), SETTINGS_SCOPE_RELOAD,
	    "reports.relay: the reporter's");
}

int
main(void)
{
	test_reports();
	test_arc();
	test_iprev();
	test_scope();
	test_load_cases();
	test_full();
	test_policy();
	test_domain_bounds();
	test_defaults();
	test_files();
	test_shipped();
	test_sockets();
	test_refs();
	test_threads();
	return test_done("config");
}
