/*
 * report_mail.c - what carries a report (report.h): its id, its file name,
 * the gzip file and the message of RFC 9990 3.5.
 *
 * RFC 9990 3.1.4 wants the Report-ID and the file name's unique-id
 * identical where both are used, and unique-id is letters and digits
 * only (3.5.2); so a report id is 32 hex digits, used as it is in the XML,
 * the file name, the Subject's Report-ID and the Message-ID's left part
 * (3.5.2: "MAY choose to use the same ridtxt as a part or whole of the
 * RFC5322.Message-Id"). The message has CRLF line ends; the attachment is
 * application/gzip (RFC 6713) in base64 lines of 76 characters (RFC 2045
 * 6.8).
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <zlib.h>

#include "dname.h"
#include "report.h"
#include "report_impl.h"

int
report_id_new(char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[16];
	size_t got = 0;

	if (outlen < REPORT_ID_BUFSIZE)
		return -1;
	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(r); i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[2 * sizeof(r)] = '\0';
	return 0;
}

/* name_ok - letters, digits, '-', '_' and '.', not empty, not only dots:
 * safe in a file name and in the Subject as it is */
static int
name_ok(const char *s)
{
	int other = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (; *s; s++) {
		if (*s == '.')
			continue;
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return 0;
		other = 1;
	}
	return other;
}

int
report_filename(const struct report_set *s, const struct report_meta *m, int gz,
		char *out, size_t outlen, char *err, size_t errlen)
{
	int n;

	if (report_meta_check(m, err, errlen) < 0)
		return -1;
	if (!name_ok(m->receiver) || !name_ok(report_set_domain(s))) {
		report_seterr(err, errlen,
			      "the receiver or the policy domain is not "
			      "a plain domain name");
		return -1;
	}
	n = snprintf(out, outlen, "%s!%s!%lld!%lld!%s.%s", m->receiver,
		     report_set_domain(s), (long long)report_set_begin(s),
		     (long long)report_set_end(s), m->report_id,
		     gz ? "xml.gz" : "xml");
	if (n < 0 || (size_t)n >= outlen) {
		report_seterr(err, errlen, "the file name does not fit");
		if (outlen > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

int
report_gzip(const void *data, size_t len, struct dynbuf *out, char *err,
	    size_t errlen)
{
	enum { CHUNK = 64 * 1024 };
	unsigned char *buf;
	z_stream z;
	int rc;

	if (len > UINT_MAX) {
		report_seterr(err, errlen,
			      "too large to compress in one piece");
		return -1;
	}
	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: a gzip header and trailer (RFC 1952) */
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		report_seterr(err, errlen, "zlib: deflateInit2 failed");
		return -1;
	}
	buf = xmalloc(CHUNK);
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	do {
		z.next_out = buf;
		z.avail_out = CHUNK;
		rc = deflate(&z, Z_FINISH);
		if (rc == Z_STREAM_ERROR)
			break;
		if (dynbuf_append(out, (const char *)buf, CHUNK - z.avail_out) <
		    0) {
			rc = Z_BUF_ERROR;
			break;
		}
	} while (rc == Z_OK);
	deflateEnd(&z);
	free(buf);
	if (rc != Z_STREAM_END) {
		report_seterr(err, errlen,
			      out->overflow ? "the gzip file is larger "
					      "than its buffer's limit"
					    : "zlib: deflate failed");
		return -1;
	}
	return 0;
}

/* base64 - len bytes as base64 lines of at most 76 characters, CRLF */
static void
base64(struct dynbuf *b, const unsigned char *p, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char line[80];
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		size_t left = len - i;

		if (left > 1)
			v |= (unsigned)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		line[o++] = tab[v >> 18 & 63];
		line[o++] = tab[v >> 12 & 63];
		line[o++] = left > 1 ? tab[v >> 6 & 63] : '=';
		line[o++] = left > 2 ? tab[v & 63] : '=';
		if (o == 76) {
			dynbuf_append(b, line, o);
			dynbuf_puts(b, "\r\n");
			o = 0;
		}
	}
	if (o > 0) {
		dynbuf_append(b, line, o);
		dynbuf_puts(b, "\r\n");
	}
}

/* rfc5322_date - t as an RFC 5322 3.3 date in UTC, whatever the locale */
static void
rfc5322_date(struct dynbuf *b, time_t t)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
					"Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
					   "May", "Jun", "Jul", "Aug",
					   "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	dynbuf_printf(b, "%s, %02d %s %04d %02d:%02d:%02d +0000",
		      days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
		      tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* utc - t as "YYYY-MM-DD HH:MM:SS" for the text part */
static void
utc(struct dynbuf *b, time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	dynbuf_printf(b, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
		      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		      tm.tm_sec);
}

/* headers - From, To, Subject, Date, Message-ID and the MIME fields */
static void
headers(struct dynbuf *b, const struct report_set *s,
	const struct report_meta *m, const struct report_rua_list *to,
	time_t now, const char *boundary)
{
	size_t col;
	int one_line;

	dynbuf_printf(b, "From: %s\r\n", m->email);
	dynbuf_printf(b, "To: %s", to->uri[0].addr);
	col = 4 + strlen(to->uri[0].addr);
	for (size_t i = 1; i < to->n; i++) {
		size_t w = strlen(to->uri[i].addr);

		if (col + 2 + w > 78) {
			dynbuf_printf(b, ",\r\n %s", to->uri[i].addr);
			col = 1 + w;
		} else {
			dynbuf_printf(b, ", %s", to->uri[i].addr);
			col += 2 + w;
		}
	}
	dynbuf_puts(b, "\r\n");
	/* RFC 9990 3.5.2's dmarc-subject; folded (FWS) when long */
	one_line = strlen("Subject: Report Domain:  Submitter:  Report-ID: ") +
		       strlen(report_set_domain(s)) + strlen(m->receiver) +
		       strlen(m->report_id) <=
		   78;
	dynbuf_printf(b,
		      "Subject: Report Domain: %s%sSubmitter: %s%s"
		      "Report-ID: %s\r\n",
		      report_set_domain(s), one_line ? " " : "\r\n ",
		      m->receiver, one_line ? " " : "\r\n ", m->report_id);
	dynbuf_puts(b, "Date: ");
	rfc5322_date(b, now);
	dynbuf_puts(b, "\r\n");
	dynbuf_printf(b, "Message-ID: <%s@%s>\r\n", m->report_id, m->receiver);
	/* RFC 3834: no automatic replies to a report */
	dynbuf_puts(b, "Auto-Submitted: auto-generated\r\n");
	dynbuf_puts(b, "MIME-Version: 1.0\r\n");
	dynbuf_printf(b,
		      "Content-Type: multipart/mixed;\r\n"
		      " boundary=\"%s\"\r\n\r\n",
		      boundary);
}

int
report_message(const struct report_set *s, const struct report_meta *m,
	       const struct report_rua_list *to, const void *gz, size_t gzlen,
	       time_t now, struct dynbuf *out, char *err, size_t errlen)
{
	char name[4 * DNAME_BUFSIZE], boundary[64];

	if (report_filename(s, m, 1, name, sizeof(name), err, errlen) < 0)
		return -1;
	if (!report_addr_ok(m->email)) {
		report_seterr(err, errlen,
			      "reports.email is not an address we can "
			      "write into From: as it is");
		return -1;
	}
	if (to == NULL || to->n == 0) {
		report_seterr(err, errlen, "no mailto: destination");
		return -1;
	}
	for (size_t i = 0; i < to->n; i++)
		if (!report_addr_ok(to->uri[i].addr)) {
			report_seterr(err, errlen,
				      "a destination is not an address "
				      "we can write into To: as it is");
			return -1;
		}
	/* "=_" cannot occur in base64 or in our text part */
	snprintf(boundary, sizeof(boundary), "=_authmilter_%s", m->report_id);
	headers(out, s, m, to, now, boundary);
	dynbuf_puts(out, "This is a MIME message: a DMARC aggregate report "
			 "(RFC 9990).\r\n\r\n");
	dynbuf_printf(
	    out,
	    "--%s\r\nContent-Type: text/plain; "
	    "charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
	    boundary);
	dynbuf_printf(out,
		      "A DMARC aggregate report from %s for %s:\r\n"
		      "%llu messages, %zu records, from ",
		      m->receiver, report_set_domain(s),
		      (unsigned long long)report_set_messages(s),
		      report_set_rows(s));
	utc(out, report_set_begin(s));
	dynbuf_puts(out, " to ");
	utc(out, report_set_end(s));
	dynbuf_printf(out,
		      " UTC.\r\nThe report is the attached file.\r\n"
		      "\r\n--%s\r\nContent-Type: application/gzip\r\n"
		      "Content-Disposition: attachment;\r\n filename=\"%s\"\r\n"
		      "Content-Transfer-Encoding: base64\r\n\r\n",
		      boundary, name);
	base64(out, gz, gzlen);
	dynbuf_printf(out, "\r\n--%s--\r\n", boundary);
	if (out->overflow) {
		report_seterr(err, errlen,
			      "the message is larger than its buffer's "
			      "limit");
		return -1;
	}
	return 0;
}
