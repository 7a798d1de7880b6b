/*
 * test-report.c - lib/report: DMARC aggregate reports (RFC 9990).
 *
 * Aggregation (rows, counts, what splits a row, what is refused, the
 * policy of the latest record), the XML (namespace, defaults of
 * policy_published, escaping of & < > and quotes, bytes XML cannot carry,
 * the DKIM order and cap, which SPF result is written), report ids, file
 * names, the gzip round trip, rua= parsing, and the report message (its
 * header fields, the folded Subject, the attachment decoded and inflated
 * back to the document).
 *
 * t/test-report --write-sample DIR writes the sample reports that
 * t/report-schema.sh validates against RFC 9990's schema: for each, NAME.xml,
 * NAME.xml.gz and NAME.eml.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "report.h"
#include "tap.h"
#include "util.h"

#define BEGIN 1778803200 /* 2026-05-15 00:00:00 UTC */
#define END (BEGIN + 86399)

static const struct report_meta meta = {
    .org_name = "Example Receiver",
    .email = "dmarc-reports@mx.example.net",
    .extra_contact = "https://mx.example.net/dmarc",
    .receiver = "mx.example.net",
    .report_id = "0123456789abcdef0123456789abcdef",
    .generator = "authmilter " PACKAGE_VERSION,
};

static const struct report_dkim dkim_pass[] = {
    {"example.com", "s1", REPORT_DKIM_PASS, NULL},
};
static const struct report_spf spf_pass[] = {
    {"example.com", REPORT_SPF_MFROM, REPORT_SPF_PASS, NULL},
};

/* base - a passing record for example.com from 192.0.2.1 */
static struct report_record
base(void)
{
	struct report_record r;

	memset(&r, 0, sizeof(r));
	r.when = BEGIN + 3600;
	r.source_ip = "192.0.2.1";
	r.header_from = "example.com";
	r.envelope_from = "example.com";
	r.envelope_to = "example.org";
	r.policy.domain = "example.com";
	r.policy.discovery = DMARC_DISCOVERY_TREEWALK;
	r.policy.p = DMARC_POLICY_REJECT;
	r.policy.pct = 100;
	r.disposition = REPORT_DISP_PASS;
	r.dkim_aligned = 1;
	r.spf_aligned = 1;
	r.dkim = dkim_pass;
	r.ndkim = 1;
	r.spf = spf_pass;
	r.nspf = 1;
	return r;
}

/* xml_of - the document of s (caller frees) */
static char *
xml_of(const struct report_set *s, const struct report_meta *m)
{
	struct dynbuf b;
	char err[160];

	dynbuf_init(&b, REPORT_XML_MAX);
	if (report_xml(s, m, &b, err, sizeof(err)) < 0) {
		ok(0, "report_xml: %s", err);
		dynbuf_free(&b);
		return xstrdup("");
	}
	return dynbuf_take(&b);
}

static size_t
count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void
test_names(void)
{
	is_str(report_disposition_name(REPORT_DISP_PASS), "pass", "pass");
	is_str(report_disposition_name(REPORT_DISP_QUARANTINE), "quarantine",
	       "quarantine");
	is_str(report_dkim_res_name(REPORT_DKIM_PERMERROR), "permerror",
	       "dkim permerror");
	is_str(report_spf_res_name(REPORT_SPF_SOFTFAIL), "softfail",
	       "spf softfail");
	is_str(report_override_name(REPORT_OVR_POLICY_TEST_MODE),
	       "policy_test_mode", "test mode");
	is_str(report_override_name(REPORT_OVR_TRUSTED_FORWARDER),
	       "trusted_forwarder", "trusted forwarder");
}

static void
test_aggregation(void)
{
	struct report_set *s = report_set_new("Example.COM.", BEGIN, END);
	struct report_record r = base();
	struct report_row_info row;
	static const struct report_dkim dkim_fail[] = {
	    {"example.com", "s1", REPORT_DKIM_FAIL, NULL},
	};
	char err[160];

	is_str(report_set_domain(s), "example.com", "policy domain normalised");
	for (int i = 0; i < 5; i++)
		ok(report_set_add(s, &r, err, sizeof(err)) == 0, "add: %s",
		   err);
	is_int(report_set_rows(s), 1, "five alike: one row");
	ok(report_set_row(s, 0, &row) == 0 && row.count == 5, "count 5");
	r.source_ip = "::ffff:192.0.2.1";
	ok(report_set_add(s, &r, err, sizeof(err)) == 0, "mapped: %s", err);
	is_int(report_set_rows(s), 1, "IPv4-mapped IPv6 is the IPv4 row");
	r.source_ip = "2001:DB8:0:0::25";
	report_set_add(s, &r, err, sizeof(err));
	is_int(report_set_rows(s), 2, "another IP: another row");
	ok(report_set_row(s, 1, &row) == 0 &&
	       strcmp(row.source_ip, "2001:db8::25") == 0,
	   "IPv6 canonical: %s", row.source_ip);
	r = base();
	r.disposition = REPORT_DISP_REJECT;
	r.dkim_aligned = r.spf_aligned = 0;
	report_set_add(s, &r, err, sizeof(err));
	report_set_add(s, &r, err, sizeof(err));
	is_int(report_set_rows(s), 3, "another disposition: another row");
	ok(report_set_row(s, 2, &row) == 0 && row.count == 2 &&
	       row.disposition == REPORT_DISP_REJECT,
	   "reject row counts 2");
	r = base();
	r.dkim = dkim_fail;
	report_set_add(s, &r, err, sizeof(err));
	is_int(report_set_rows(s), 4, "another DKIM result: another row");
	r = base();
	r.header_from = "EXAMPLE.com.";
	report_set_add(s, &r, err, sizeof(err));
	is_int(report_set_rows(s), 4,
	       "From domain case and final dot: same row");
	r.envelope_to = "example.net";
	report_set_add(s, &r, err, sizeof(err));
	is_int(report_set_rows(s), 5, "another envelope_to: another row");
	is_int(report_set_messages(s), 12, "twelve messages");

	r = base();
	r.policy.domain = "example.org";
	ok(report_set_add(s, &r, err, sizeof(err)) < 0 &&
	       strstr(err, "policy domain") != NULL,
	   "other domain refused: %s", err);
	r = base();
	r.when = END + 1;
	ok(report_set_add(s, &r, err, sizeof(err)) < 0, "after the period");
	r.when = BEGIN - 1;
	ok(report_set_add(s, &r, err, sizeof(err)) < 0, "before the period");
	r = base();
	r.source_ip = "192.0.2.300";
	ok(report_set_add(s, &r, err, sizeof(err)) < 0, "bad IP refused");
	r = base();
	r.header_from = "";
	ok(report_set_add(s, &r, err, sizeof(err)) < 0, "no From refused");
	is_int(report_set_dropped(s), 5, "five dropped");
	is_int(report_set_messages(s), 12, "still twelve");
	ok(report_set_row(s, 99, &row) < 0, "no row 99");

	/* the latest record's policy is the report's */
	r = base();
	r.when = BEGIN + 7200;
	r.policy.p = DMARC_POLICY_QUARANTINE;
	r.policy.testing = 1;
	report_set_add(s, &r, err, sizeof(err));
	r.when = BEGIN + 60;
	r.policy.p = DMARC_POLICY_NONE;
	report_set_add(s, &r, err, sizeof(err));
	{
		char *x = xml_of(s, &meta);

		ok(strstr(x, "<p>quarantine</p>") != NULL &&
		       strstr(x, "<testing>y</testing>") != NULL,
		   "policy_published from the latest record");
		ok(strstr(x, "<sp>quarantine</sp>") != NULL &&
		       strstr(x, "<np>quarantine</np>") != NULL,
		   "sp defaults to p, np to sp");
		is_int(count_of(x, "<record>"), (long long)report_set_rows(s),
		       "one record element per row");
		struct report_row_info first;
		char want[64];

		report_set_row(s, 0, &first);
		snprintf(want, sizeof(want),
			 "<source_ip>192.0.2.1</source_ip>\n"
			 "      <count>%llu</count>",
			 (unsigned long long)first.count);
		ok(first.count == 9 && strstr(x, want) != NULL,
		   "row 0 counts 9 (5, the mapped one, the From case, two "
		   "policies)");
		free(x);
	}
	report_set_free(&s);
	ok(s == NULL, "free sets NULL");
	report_set_free(&s);
}

static void
test_xml(void)
{
	struct report_set *s = report_set_new("example.com", BEGIN, END);
	struct report_record r = base();
	struct report_meta m = meta;
	static const struct report_reason why[] = {
	    {REPORT_OVR_LOCAL_POLICY, "allow <list> & \"friends\""},
	};
	static const struct report_spf both[] = {
	    {"helo.example.com", REPORT_SPF_HELO, REPORT_SPF_NONE, NULL},
	    {"example.com", REPORT_SPF_MFROM, REPORT_SPF_SOFTFAIL, "x\x01y"},
	};
	char err[160], *x;
	struct dynbuf b;

	m.org_name = "Tom & Jerry's <Mail> \"Co\"";
	m.error = "bad \xff byte, caf\xc3\xa9 ok";
	r.header_from = "a&b<c>\"d'e.example.com";
	r.reasons = why;
	r.nreasons = 1;
	r.disposition = REPORT_DISP_NONE;
	r.spf = both;
	r.nspf = 2;
	ok(report_set_add(s, &r, err, sizeof(err)) == 0, "add: %s", err);
	x = xml_of(s, &m);
	{
		static const char head[] =
		    "<?xml version=\"1.0\" encoding="
		    "\"UTF-8\"?>\n<feedback xmlns=\"urn:ietf:params:xml:ns:"
		    "dmarc-2.0\">\n  <version>1.0</version>\n";

		ok(strncmp(x, head, sizeof(head) - 1) == 0,
		   "declaration, namespace, version");
	}
	ok(strstr(x, "<org_name>Tom &amp; Jerry&apos;s &lt;Mail&gt; &quot;Co"
		     "&quot;</org_name>") != NULL,
	   "org_name escaped");
	ok(strstr(x, "<header_from>a&amp;b&lt;c&gt;&quot;d&apos;e.example.com"
		     "</header_from>") != NULL,
	   "domain escaped");
	ok(strstr(x, "<comment>allow &lt;list&gt; &amp; &quot;friends&quot;"
		     "</comment>") != NULL,
	   "comment escaped");
	ok(strstr(x, "<error>bad ? byte, caf\xc3\xa9 ok</error>") != NULL,
	   "invalid UTF-8 is '?', valid kept");
	ok(strstr(x, "<human_result>x?y</human_result>") != NULL,
	   "control character is '?'");
	ok(strstr(x, "<type>local_policy</type>") != NULL, "reason type");
	ok(strstr(x,
		  "<domain>example.com</domain>\n        <scope>mfrom</scope>"
		  "\n        <result>softfail</result>") != NULL,
	   "MAIL FROM result with its scope");
	ok(strstr(x, "helo.example.com") == NULL,
	   "HELO result not reported beside MAIL FROM");
	ok(strstr(x, "<extra_contact_info>https://mx.example.net/dmarc"
		     "</extra_contact_info>") != NULL,
	   "extra_contact_info");
	ok(strstr(x, "<generator>authmilter ") != NULL, "generator");
	ok(strstr(x, "<begin>1778803200</begin>") != NULL &&
	       strstr(x, "<end>1778889599</end>") != NULL,
	   "date_range");
	ok(strstr(x, "<discovery_method>treewalk</discovery_method>") != NULL,
	   "discovery_method");
	ok(strstr(x, "<envelope_to>example.org</envelope_to>") != NULL,
	   "envelope_to");
	free(x);

	m.report_id = "not-alnum";
	dynbuf_init(&b, REPORT_XML_MAX);
	ok(report_xml(s, &m, &b, err, sizeof(err)) < 0, "report id refused: %s",
	   err);
	m = meta;
	m.email = NULL;
	ok(report_xml(s, &m, &b, err, sizeof(err)) < 0, "no email refused");
	dynbuf_free(&b);
	dynbuf_init(&b, 200);
	ok(report_xml(s, &meta, &b, err, sizeof(err)) < 0 &&
	       strstr(err, "limit") != NULL,
	   "buffer limit: %s", err);
	dynbuf_free(&b);
	report_set_free(&s);

	s = report_set_new("example.com", BEGIN, END);
	dynbuf_init(&b, REPORT_XML_MAX);
	ok(report_xml(s, &meta, &b, err, sizeof(err)) < 0, "no rows refused");
	dynbuf_free(&b);
	report_set_free(&s);
}

static void
test_auth_results(void)
{
	struct report_set *s = report_set_new("example.com", BEGIN, END);
	struct report_record r = base();
	static const struct report_dkim sigs[] = {
	    {"other.example", "a", REPORT_DKIM_FAIL, NULL},
	    {"esp.example", "b", REPORT_DKIM_PASS, NULL},
	    {"mail.example.com", "c", REPORT_DKIM_PASS, NULL},
	    {"example.com", "d", REPORT_DKIM_PASS, NULL},
	};
	static const struct report_spf helo[] = {
	    {"mx.sender.example", REPORT_SPF_HELO, REPORT_SPF_PASS, NULL},
	};
	static struct report_dkim many[150];
	char err[160], *x, *a, *b, *c, *d;

	r.dkim = sigs;
	r.ndkim = 4;
	report_set_add(s, &r, err, sizeof(err));
	x = xml_of(s, &meta);
	d = strstr(x, "<selector>d<");
	c = strstr(x, "<selector>c<");
	b = strstr(x, "<selector>b<");
	a = strstr(x, "<selector>a<");
	ok(a && b && c && d && d < c && c < b && b < a,
	   "DKIM order: aligned strict, relaxed, other pass, fail");
	free(x);
	report_set_free(&s);

	s = report_set_new("example.com", BEGIN, END);
	r = base();
	r.envelope_from = NULL;
	r.spf = helo;
	r.nspf = 1;
	r.ndkim = 0;
	report_set_add(s, &r, err, sizeof(err));
	x = xml_of(s, &meta);
	ok(strstr(x, "<envelope_from></envelope_from>") != NULL,
	   "null reverse-path: empty envelope_from");
	ok(strstr(x, "<spf>\n        <domain>mx.sender.example</domain>\n"
		     "        <result>pass</result>") != NULL,
	   "null reverse-path: the HELO result, without a scope");
	ok(strstr(x, "<dkim>\n") == NULL, "no DKIM element");
	free(x);
	report_set_free(&s);

	s = report_set_new("example.com", BEGIN, END);
	r = base();
	r.spf = helo;
	report_set_add(s, &r, err, sizeof(err));
	x = xml_of(s, &meta);
	ok(strstr(x, "mx.sender.example") == NULL,
	   "HELO result left out when there is a MAIL FROM");
	free(x);
	report_set_free(&s);

	s = report_set_new("example.com", BEGIN, END);
	for (size_t i = 0; i < 150; i++)
		many[i] = (struct report_dkim){"example.com", "s",
					       REPORT_DKIM_PASS, NULL};
	r = base();
	r.dkim = many;
	r.ndkim = 150;
	r.nspf = 0;
	report_set_add(s, &r, err, sizeof(err));
	x = xml_of(s, &meta);
	is_int(count_of(x, "<dkim>\n"), REPORT_DKIM_MAX,
	       "at most REPORT_DKIM_MAX signatures");
	free(x);
	report_set_free(&s);
}

static void
test_ids_and_names(void)
{
	enum { N = 1000 };
	static char ids[N][REPORT_ID_BUFSIZE];
	struct report_set *s = report_set_new("example.com", BEGIN, END);
	struct report_meta m = meta;
	char name[1024], err[160];
	int dup = 0, shape = 1;

	for (int i = 0; i < N; i++) {
		if (report_id_new(ids[i], sizeof(ids[i])) < 0)
			shape = 0;
		if (strlen(ids[i]) != 32 ||
		    strspn(ids[i], "0123456789abcdef") != 32)
			shape = 0;
		for (int j = 0; j < i; j++)
			if (strcmp(ids[i], ids[j]) == 0)
				dup++;
	}
	ok(shape, "report ids are 32 hex digits");
	is_int(dup, 0, "1000 report ids, no repeat");
	ok(report_id_new(ids[0], 8) < 0, "short buffer refused");

	ok(report_filename(s, &m, 1, name, sizeof(name), err, sizeof(err)) == 0,
	   "file name: %s", err);
	is_str(name,
	       "mx.example.net!example.com!1778803200!1778889599!"
	       "0123456789abcdef0123456789abcdef.xml.gz",
	       "RFC 9990 file name");
	report_filename(s, &m, 0, name, sizeof(name), err, sizeof(err));
	ok(strlen(name) > 4 && strcmp(name + strlen(name) - 4, ".xml") == 0,
	   "plain .xml name");
	m.receiver = "../etc";
	ok(report_filename(s, &m, 1, name, sizeof(name), err, sizeof(err)) < 0,
	   "receiver with '/' refused");
	m.receiver = "a!b.example";
	ok(report_filename(s, &m, 1, name, sizeof(name), err, sizeof(err)) < 0,
	   "receiver with '!' refused");
	m = meta;
	ok(report_filename(s, &m, 1, name, 20, err, sizeof(err)) < 0 &&
	       name[0] == '\0',
	   "does not fit");
	report_set_free(&s);
	s = report_set_new("ex/ample.com", BEGIN, END);
	ok(report_filename(s, &meta, 1, name, sizeof(name), err, sizeof(err)) <
	       0,
	   "policy domain with '/' refused");
	report_set_free(&s);
}

/* inflate_all - a gzip member back into *out; 0 or -1 */
static int
inflate_all(const unsigned char *gz, size_t len, struct dynbuf *out)
{
	z_stream z;
	unsigned char buf[4096];
	int rc;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return -1;
	z.next_in = (Bytef *)(uintptr_t)gz;
	z.avail_in = (uInt)len;
	do {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		rc = inflate(&z, Z_NO_FLUSH);
		if (rc != Z_OK && rc != Z_STREAM_END)
			break;
		dynbuf_append(out, (const char *)buf,
			      sizeof(buf) - z.avail_out);
	} while (rc == Z_OK);
	inflateEnd(&z);
	return rc == Z_STREAM_END && z.avail_in == 0 ? 0 : -1;
}

static void
test_gzip(void)
{
	struct dynbuf in, gz, back;
	char err[160];

	dynbuf_init(&in, 1 << 24);
	for (int i = 0; i < 20000; i++)
		dynbuf_printf(&in, "<row>%d</row>\n", i * 7919 % 1000);
	dynbuf_init(&gz, 1 << 24);
	ok(report_gzip(in.s, in.len, &gz, err, sizeof(err)) == 0, "gzip: %s",
	   err);
	ok(gz.len > 18 && (unsigned char)gz.s[0] == 0x1f &&
	       (unsigned char)gz.s[1] == 0x8b && gz.s[2] == 8,
	   "gzip magic and deflate (RFC 1952)");
	ok(gz.len < in.len / 4, "compressed: %zu of %zu", gz.len, in.len);
	dynbuf_init(&back, 1 << 24);
	ok(inflate_all((unsigned char *)gz.s, gz.len, &back) == 0 &&
	       back.len == in.len && memcmp(back.s, in.s, in.len) == 0,
	   "inflates back to the same bytes");
	dynbuf_free(&gz);
	dynbuf_init(&gz, 16);
	ok(report_gzip(in.s, in.len, &gz, err, sizeof(err)) < 0 &&
	       strstr(err, "limit") != NULL,
	   "output limit: %s", err);
	dynbuf_free(&gz);
	dynbuf_free(&back);
	dynbuf_init(&gz, 1024);
	dynbuf_init(&back, 1024);
	ok(report_gzip("", 0, &gz, err, sizeof(err)) == 0 &&
	       inflate_all((unsigned char *)gz.s, gz.len, &back) == 0 &&
	       back.len == 0,
	   "empty input round trip");
	dynbuf_free(&gz);
	dynbuf_free(&back);
	dynbuf_free(&in);
}

static void
test_rua(void)
{
	struct report_rua_list l;

	is_int(report_rua_parse("mailto:dmarc@example.com", &l), 1, "one");
	is_str(l.uri[0].addr, "dmarc@example.com", "address");
	is_str(l.uri[0].domain, "example.com", "domain");
	is_int(l.uri[0].max_bytes, 0, "no limit");
	is_int(
	    report_rua_parse(" mailto:a@Example.COM!10m , https://r.example/x,"
			     "mailto:b@example.net!20k,mailto:c@example.org!3",
			     &l),
	    3, "three mailto of four");
	is_int(l.skipped, 1, "https skipped");
	is_str(l.uri[0].addr, "a@example.com", "domain lowercased");
	is_int(l.uri[0].max_bytes, 10 * 1024 * 1024, "!10m");
	is_int(l.uri[1].max_bytes, 20 * 1024, "!20k");
	is_int(l.uri[2].max_bytes, 3, "!3 bytes");
	ok(report_rua_fits(&l.uri[0], 10 * 1024 * 1024) &&
	       !report_rua_fits(&l.uri[0], 10 * 1024 * 1024 + 1),
	   "fits 10m");
	is_int(report_rua_parse("mailto:rep%6Frts@example.com?subject=hi", &l),
	       1, "percent-encoded, header fields");
	is_str(l.uri[0].addr, "reports@example.com", "decoded, ? dropped");
	is_int(
	    report_rua_parse("mailto:a@example.com,MAILTO:a@example.com", &l),
	    1, "a repeat kept once");
	is_int(l.skipped, 1, "the repeat counted");
	is_int(
	    report_rua_parse("mailto:x@example.com!99999999999999999999t", &l),
	    1, "huge limit");
	ok(l.uri[0].max_bytes == UINT64_MAX, "saturates");
	is_int(report_rua_parse(
		   "mailto:a@localhost,mailto:@example.com,"
		   "mailto:a..b@example.com,mailto:a%0d%0aBcc:x@example.com,"
		   "mailto:\"a b\"@example.com,mailto:a@exa_mple.com!x,mailto:",
		   &l),
	       0, "bad addresses and URIs refused");
	is_int(l.skipped, 7, "all seven counted");
	is_int(report_rua_parse("", &l), 0, "empty");
	is_int(report_rua_parse(NULL, &l), 0, "NULL");
	is_int(report_rua_parse("mailto:1@example.com,mailto:2@example.com,"
				"mailto:3@example.com,mailto:4@example.com,"
				"mailto:5@example.com,"
				"mailto:6@example.com,mailto:7@example.com,"
				"mailto:8@example.com,"
				"mailto:9@example.com",
				&l),
	       REPORT_RUA_MAX, "at most RUA_MAX");
	is_int(l.skipped, 1, "the ninth skipped");
}

/* field - the value of header field name (unfolded) in msg, into out */
static const char *
field(const char *msg, const char *name, char *out, size_t outlen)
{
	const char *end = strstr(msg, "\r\n\r\n");
	size_t nl = strlen(name), o = 0;

	out[0] = '\0';
	for (const char *p = msg; p != NULL && p < end;) {
		if (strncmp(p, name, nl) == 0 && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ')
				p++;
			while (p < end && o + 1 < outlen) {
				if (p[0] == '\r' && p[1] == '\n') {
					if (p[2] != ' ' && p[2] != '\t')
						break;
					p += 2;
					continue;
				}
				out[o++] = *p++;
			}
			out[o] = '\0';
			return out;
		}
		p = strstr(p, "\r\n");
		p = p ? p + 2 : NULL;
	}
	return out;
}

/* unbase64 - the base64 lines between from and the next "\r\n--" */
static void
unbase64(const char *from, struct dynbuf *out)
{
	const char *end = strstr(from, "\r\n--");
	unsigned v = 0;
	int bits = 0;

	for (const char *p = from; p < end; p++) {
		const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
				  "rstuvwxyz0123456789+/";
		const char *q = *p ? strchr(tab, *p) : NULL;

		if (q == NULL)
			continue;
		v = v << 6 | (unsigned)(q - tab);
		bits += 6;
		if (bits >= 8) {
			char c = (char)(v >> (bits - 8) & 255);

			dynbuf_append(out, &c, 1);
			bits -= 8;
		}
	}
}

static void
test_message(void)
{
	struct report_set *s = report_set_new("example.com", BEGIN, END);
	struct report_record r = base();
	struct report_rua_list to;
	struct dynbuf xml, gz, msg, att, back;
	char err[160], v[512];
	const char *p;

	report_set_add(s, &r, err, sizeof(err));
	report_rua_parse("mailto:dmarc@example.com,mailto:agg@reports.example."
			 "org",
			 &to);
	dynbuf_init(&xml, REPORT_XML_MAX);
	dynbuf_init(&gz, REPORT_XML_MAX);
	dynbuf_init(&msg, REPORT_XML_MAX);
	report_xml(s, &meta, &xml, err, sizeof(err));
	report_gzip(xml.s, xml.len, &gz, err, sizeof(err));
	ok(report_message(s, &meta, &to, gz.s, gz.len, BEGIN + 86400 + 3723,
			  &msg, err, sizeof(err)) == 0,
	   "message: %s", err);
	is_str(field(msg.s, "From", v, sizeof(v)),
	       "dmarc-reports@mx.example.net", "From");
	is_str(field(msg.s, "To", v, sizeof(v)),
	       "dmarc@example.com, agg@reports.example.org", "To");
	is_str(
	    field(msg.s, "Subject", v, sizeof(v)),
	    "Report Domain: example.com Submitter: mx.example.net Report-ID: "
	    "0123456789abcdef0123456789abcdef",
	    "Subject (RFC 9990)");
	is_str(field(msg.s, "Date", v, sizeof(v)),
	       "Sat, 16 May 2026 01:02:03 +0000", "Date");
	is_str(field(msg.s, "Message-ID", v, sizeof(v)),
	       "<0123456789abcdef0123456789abcdef@mx.example.net>",
	       "Message-ID");
	is_str(field(msg.s, "MIME-Version", v, sizeof(v)), "1.0", "MIME");
	is_str(
	    field(msg.s, "Content-Type", v, sizeof(v)),
	    "multipart/mixed; boundary=\"=_authmilter_0123456789abcdef01234567"
	    "89abcdef\"",
	    "multipart");
	ok(strstr(
	       msg.s,
	       "Content-Type: application/gzip\r\n"
	       "Content-Disposition: attachment;\r\n filename=\"mx.example.net!"
	       "example.com!1778803200!1778889599!"
	       "0123456789abcdef0123456789abcdef"
	       ".xml.gz\"\r\nContent-Transfer-Encoding: base64\r\n\r\n") !=
	       NULL,
	   "attachment part");
	ok(strstr(msg.s, "\r\n--=_authmilter_0123456789abcdef0123456789abcdef--"
			 "\r\n") != NULL,
	   "closing boundary");
	p = strstr(msg.s, "base64\r\n\r\n");
	dynbuf_init(&att, REPORT_XML_MAX);
	dynbuf_init(&back, REPORT_XML_MAX);
	if (p != NULL)
		unbase64(p + 10, &att);
	ok(att.len == gz.len && memcmp(att.s, gz.s, gz.len) == 0,
	   "attachment decodes to the gzip file");
	ok(inflate_all((unsigned char *)att.s, att.len, &back) == 0 &&
	       back.len == xml.len && memcmp(back.s, xml.s, xml.len) == 0,
	   "and inflates to the XML");
	{
		int lines_ok = 1;

		for (const char *q = msg.s; *q; q++)
			if (*q == '\n' && (q == msg.s || q[-1] != '\r'))
				lines_ok = 0;
		ok(lines_ok, "CRLF line ends only");
	}
	dynbuf_free(&msg);

	/* a long policy domain folds the Subject */
	{
		struct report_set *l =
		    report_set_new("a-rather-long-subdomain-name.of-a-long-"
				   "organizational-domain."
				   "example",
				   BEGIN, END);

		r = base();
		r.policy.domain = report_set_domain(l);
		r.header_from = report_set_domain(l);
		report_set_add(l, &r, err, sizeof(err));
		dynbuf_init(&msg, REPORT_XML_MAX);
		ok(report_message(l, &meta, &to, gz.s, gz.len, BEGIN, &msg, err,
				  sizeof(err)) == 0,
		   "long: %s", err);
		ok(strstr(msg.s, "example\r\n Submitter: mx.example.net\r\n "
				 "Report-ID: 0123") != NULL,
		   "Subject folded");
		dynbuf_free(&msg);
		report_set_free(&l);
	}
	dynbuf_init(&msg, REPORT_XML_MAX);
	to.n = 0;
	ok(report_message(s, &meta, &to, gz.s, gz.len, BEGIN, &msg, err,
			  sizeof(err)) < 0,
	   "no destination refused");
	report_rua_parse("mailto:a@example.com", &to);
	{
		struct report_meta m = meta;

		m.email = "x@example.net\r\nBcc: y@example.org";
		ok(report_message(s, &m, &to, gz.s, gz.len, BEGIN, &msg, err,
				  sizeof(err)) < 0,
		   "CRLF in reports.email refused");
	}
	dynbuf_free(&msg);
	dynbuf_free(&att);
	dynbuf_free(&back);
	dynbuf_free(&xml);
	dynbuf_free(&gz);
	report_set_free(&s);
}

/* ---- --write-sample ----------------------------------------------------- */

static int
write_file(const char *dir, const char *name, const char *ext, const void *p,
	   size_t n)
{
	char path[4096];
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
	f = fopen(path, "wb");
	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fwrite(p, 1, n, f) != n)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

/* sample - one report of set s: NAME.xml, NAME.xml.gz, NAME.eml */
static int
sample(const char *dir, const char *name, struct report_set *s,
       const struct report_meta *m, const char *rua)
{
	struct dynbuf xml, gz, msg;
	struct report_rua_list to;
	char err[160];
	int rc = -1;

	dynbuf_init(&xml, REPORT_XML_MAX);
	dynbuf_init(&gz, REPORT_XML_MAX);
	dynbuf_init(&msg, REPORT_XML_MAX);
	report_rua_parse(rua, &to);
	if (report_xml(s, m, &xml, err, sizeof(err)) < 0 ||
	    report_gzip(xml.s, xml.len, &gz, err, sizeof(err)) < 0 ||
	    report_message(s, m, &to, gz.s, gz.len, report_set_end(s) + 1, &msg,
			   err, sizeof(err)) < 0)
		fprintf(stderr, "%s: %s\n", name, err);
	else if (write_file(dir, name, "xml", xml.s, xml.len) == 0 &&
		 write_file(dir, name, "xml.gz", gz.s, gz.len) == 0 &&
		 write_file(dir, name, "eml", msg.s, msg.len) == 0)
		rc = 0;
	dynbuf_free(&xml);
	dynbuf_free(&gz);
	dynbuf_free(&msg);
	report_set_free(&s);
	return rc;
}

static int
add(struct report_set *s, const struct report_record *r, int times)
{
	char err[160];

	for (int i = 0; i < times; i++)
		if (report_set_add(s, r, err, sizeof(err)) < 0) {
			fprintf(stderr, "sample record: %s\n", err);
			return -1;
		}
	return 0;
}

static int
write_samples(const char *dir)
{
	static const struct report_dkim three[] = {
	    {"example.com", "2026a", REPORT_DKIM_PASS, NULL},
	    {"esp.example", "k1", REPORT_DKIM_PASS, NULL},
	    {"example.com", "old", REPORT_DKIM_FAIL, "body hash mismatch"},
	};
	static const struct report_dkim fail[] = {
	    {"example.com", "2026a", REPORT_DKIM_FAIL, NULL},
	};
	static const struct report_spf spf_fail[] = {
	    {"bulk.example", REPORT_SPF_MFROM, REPORT_SPF_FAIL, NULL},
	};
	static const struct report_spf helo[] = {
	    {"mta.example.com", REPORT_SPF_HELO, REPORT_SPF_PASS, NULL},
	};
	static const struct report_reason test_mode[] = {
	    {REPORT_OVR_POLICY_TEST_MODE, "t=y"},
	};
	static const struct report_reason sampled[] = {
	    {REPORT_OVR_OTHER, "RFC 7489 pct=50 sampling"},
	};
	static const struct report_reason forwarded[] = {
	    {REPORT_OVR_TRUSTED_FORWARDER, "ARC chain from a trusted sealer"},
	    {REPORT_OVR_LOCAL_POLICY, NULL},
	};
	struct report_meta m = meta;
	struct report_set *s;
	struct report_record r;
	int rc = 0;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return 1;
	}
	/* a pass (several DKIM signatures, IPv6), a reject, the null
	 * reverse-path with the HELO result: tree walk */
	s = report_set_new("example.com", BEGIN, END);
	r = base();
	rc |= add(s, &r, 12);
	r.source_ip = "2001:db8:25::7";
	r.dkim = three;
	r.ndkim = 3;
	rc |= add(s, &r, 3);
	r = base();
	r.source_ip = "198.51.100.9";
	r.envelope_from = "bulk.example";
	r.disposition = REPORT_DISP_REJECT;
	r.dkim_aligned = r.spf_aligned = 0;
	r.dkim = fail;
	r.spf = spf_fail;
	rc |= add(s, &r, 4);
	r = base();
	r.source_ip = "203.0.113.5";
	r.envelope_from = NULL;
	r.spf = helo;
	r.ndkim = 0;
	r.spf_aligned = 1;
	r.dkim_aligned = 0;
	rc |= add(s, &r, 1);
	rc |= sample(dir, "treewalk-pass-reject", s, &m,
		     "mailto:dmarc@example.com");

	/* quarantine by testing mode: p=reject; t=y */
	s = report_set_new("test.example", BEGIN, END);
	r = base();
	r.policy.domain = "test.example";
	r.header_from = "news.test.example";
	r.policy.testing = 1;
	r.policy.sp = DMARC_POLICY_NONE;
	r.policy.adkim_strict = 1;
	r.disposition = REPORT_DISP_QUARANTINE;
	r.dkim_aligned = r.spf_aligned = 0;
	r.dkim = fail;
	r.spf = spf_fail;
	r.reasons = test_mode;
	r.nreasons = 1;
	rc |= add(s, &r, 2);
	rc |= sample(dir, "testing-quarantine", s, &m,
		     "mailto:rua@test.example!10m");

	/* PSL discovery, pct sampling and a trusted forwarder: overrides */
	s = report_set_new("legacy.example", BEGIN, END);
	r = base();
	r.policy.domain = "legacy.example";
	r.header_from = "legacy.example";
	r.policy.discovery = DMARC_DISCOVERY_PSL;
	r.policy.p = DMARC_POLICY_QUARANTINE;
	r.policy.np = DMARC_POLICY_REJECT;
	r.policy.aspf_strict = 1;
	r.policy.pct = 50;
	r.disposition = REPORT_DISP_NONE;
	r.dkim_aligned = r.spf_aligned = 0;
	r.dkim = fail;
	r.spf = spf_fail;
	r.reasons = sampled;
	r.nreasons = 1;
	rc |= add(s, &r, 5);
	r.source_ip = "2001:db8::1";
	r.reasons = forwarded;
	r.nreasons = 2;
	rc |= add(s, &r, 1);
	rc |= sample(dir, "psl-overrides", s, &m,
		     "mailto:a@legacy.example,mailto:b@reports.example.org");

	/* text that needs escaping everywhere */
	s = report_set_new("example.com", BEGIN, END);
	r = base();
	r.header_from = "a&b<c>\"d'e.example.com";
	r.envelope_to = "to&<>.example";
	m.org_name = "Tom & Jerry's <Mail> \"Co\"";
	m.extra_contact =
	    "mailto:postmaster@mx.example.net?subject=\"DMARC\"&x=<y>";
	m.error = "bad \xff byte, caf\xc3\xa9, a\x01 control";
	rc |= add(s, &r, 1);
	rc |= sample(dir, "escaping", s, &m, "mailto:dmarc@example.com");
	return rc == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-sample") == 0)
		return write_samples(argv[2]);
	test_names();
	test_aggregation();
	test_xml();
	test_auth_results();
	test_ids_and_names();
	test_gzip();
	test_rua();
	test_message();
	return test_done("report");
}
