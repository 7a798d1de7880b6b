/*
 * report.h - DMARC aggregate reports by RFC 9990 (which obsoletes the
 * reporting of RFC 7489): the facts the session hands over per DMARC
 * evaluation, their aggregation into report rows, the XML document, its
 * gzip file and file name, the report message, and the rua= destinations.
 *
 * No I/O: nothing here reads a database, sends mail or writes a file; the
 * caller does that with what these functions return. Functions returning
 * int give 0, or -1 with a reason in err (errlen bytes, always
 * terminated). Allocation failure does not return (util.h). Strings in
 * the structs handed in are borrowed for the call; a set copies what it
 * keeps.
 */
#ifndef AM_REPORT_H
#define AM_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dmarc.h"
#include "util.h"

/* the XML namespace and version of RFC 9990 reports */
#define REPORT_XMLNS "urn:ietf:params:xml:ns:dmarc-2.0"
#define REPORT_VERSION "1.0"

/* RFC 9990 3.1.3: a report SHOULD hold no more than 100 DKIM signatures
 * for a row; a record keeps the first 100 in its order of preference */
#define REPORT_DKIM_MAX 100
/* rows one set holds; records that would start another are refused */
#define REPORT_ROWS_MAX 100000
/* the largest XML document written (the gzip file and message follow) */
#define REPORT_XML_MAX (64u * 1024 * 1024)
/* a report id: 32 hexadecimal digits and the NUL */
#define REPORT_ID_BUFSIZE 33

/* the disposition applied (RFC 9990 ActionDispositionType) */
enum report_disposition {
	REPORT_DISP_NONE = 0, /* no action: DMARC failed under p=none, or an
			       * override (testing mode, local policy) */
	REPORT_DISP_PASS,     /* no action: DMARC passed */
	REPORT_DISP_QUARANTINE,
	REPORT_DISP_REJECT,
};

/* DKIM results (RFC 8601 2.7.1) */
enum report_dkim_res {
	REPORT_DKIM_NONE = 0,
	REPORT_DKIM_PASS,
	REPORT_DKIM_FAIL,
	REPORT_DKIM_POLICY,
	REPORT_DKIM_NEUTRAL,
	REPORT_DKIM_TEMPERROR,
	REPORT_DKIM_PERMERROR,
};

/* SPF results (RFC 8601 2.7.2) */
enum report_spf_res {
	REPORT_SPF_NONE = 0,
	REPORT_SPF_NEUTRAL,
	REPORT_SPF_PASS,
	REPORT_SPF_FAIL,
	REPORT_SPF_SOFTFAIL,
	REPORT_SPF_POLICY,
	REPORT_SPF_TEMPERROR,
	REPORT_SPF_PERMERROR,
};

/* the identity an SPF result is for (RFC 7208 2.3, 2.4) */
enum report_spf_scope { REPORT_SPF_MFROM = 0, REPORT_SPF_HELO };

/* policy override types (RFC 9990 3.1.6, PolicyOverrideType) */
enum report_override {
	REPORT_OVR_LOCAL_POLICY = 0, /* our local policy exempted the message */
	REPORT_OVR_MAILING_LIST,
	REPORT_OVR_OTHER,	      /* e.g. RFC 7489 pct sampling (no type of
				       * its own in RFC 9990): say so in the
				       * comment */
	REPORT_OVR_POLICY_TEST_MODE,  /* t=y (or legacy pct=0) lowered it */
	REPORT_OVR_TRUSTED_FORWARDER, /* e.g. ARC from a trusted sealer */
};

struct report_dkim {
	const char *domain;   /* d= */
	const char *selector; /* s= */
	enum report_dkim_res result;
	const char *human; /* human_result, or NULL */
};

struct report_spf {
	const char *domain; /* the domain checked */
	enum report_spf_scope scope;
	enum report_spf_res result;
	const char *human; /* human_result, or NULL */
};

struct report_reason {
	enum report_override type;
	const char *comment; /* or NULL */
};

/* the policy record that applied, as evaluated (dmarc.h) */
struct report_policy {
	const char *domain; /* the policy domain: where it was found */
	enum dmarc_discovery discovery;
	enum dmarc_policy p, sp, np; /* sp, np UNSET when absent; p UNSET
				      * reads as none */
	int adkim_strict, aspf_strict;
	int testing;  /* t=y (or the legacy pct=0) */
	unsigned pct; /* legacy pct= (RFC 7489), 100 when absent;
		       * not in RFC 9990's report */
};

/* report_record - what the session hands over after one DMARC evaluation
 * that found a policy. All strings are borrowed for the call. */
struct report_record {
	time_t when;		   /* time of the message */
	const char *source_ip;	   /* IPv4 or IPv6 text; IPv4-mapped IPv6
				    * is reported as IPv4 */
	const char *header_from;   /* RFC5322.From domain */
	const char *envelope_from; /* RFC5321.MailFrom domain; NULL or ""
				    * for the null reverse-path */
	const char *envelope_to;   /* an RFC5321.RcptTo domain, or NULL */
	struct report_policy policy;
	enum report_disposition disposition;
	int dkim_aligned, spf_aligned; /* DMARC's aligned results: pass */
	const struct report_reason *reasons;
	size_t nreasons;
	const struct report_dkim *dkim; /* every signature verified */
	size_t ndkim;
	const struct report_spf *spf; /* MAIL FROM and/or HELO results */
	size_t nspf;
};

/* ---- aggregation ---------------------------------------------------- */

/* A set of records for one policy domain and one period, grouped into
 * rows: records that would write the same <record> element but for its
 * count (source IP, disposition, DMARC results, reasons, identifiers,
 * auth_results) are one row. The policy_published of the report is the
 * policy of the latest record added (RFC 9990 3.1: "the final
 * configuration observed during the period"). Not thread-safe. */
struct report_set;

/* report_set_new - an empty set for policy_domain (lowercased) and the
 * period begin..end (seconds since the epoch, both included) */
struct report_set *report_set_new(const char *policy_domain, time_t begin,
				  time_t end);
/* report_set_add - count one record into its row. -1 when it does not
 * belong (another policy domain, a time outside the period), has no
 * usable source IP or header From domain, or would be row
 * REPORT_ROWS_MAX + 1; such a record is counted as dropped. */
int report_set_add(struct report_set *s, const struct report_record *r,
		   char *err, size_t errlen);
/* report_set_add_count - as report_set_add() for count messages of one
 * record (a row of the store, store.h); count 0 adds an empty row */
int report_set_add_count(struct report_set *s, const struct report_record *r,
			 uint64_t count, char *err, size_t errlen);
const char *report_set_domain(const struct report_set *s);
time_t report_set_begin(const struct report_set *s);
time_t report_set_end(const struct report_set *s);
/* report_set_rows - rows so far; report_set_messages - records counted;
 * report_set_dropped - records refused */
size_t report_set_rows(const struct report_set *s);
uint64_t report_set_messages(const struct report_set *s);
uint64_t report_set_dropped(const struct report_set *s);

/* one row of a set, borrowed until the set is freed */
struct report_row_info {
	const char *source_ip;
	enum report_disposition disposition;
	uint64_t count;
};
/* report_set_row - row i (0 .. rows-1, in the order rows first appeared);
 * -1 past the end */
int report_set_row(const struct report_set *s, size_t i,
		   struct report_row_info *out);
void report_set_free(struct report_set **sp);

/* ---- the report ------------------------------------------------------ */

/* the report_metadata and the sender; strings borrowed */
struct report_meta {
	const char *org_name;	   /* reports.org_name */
	const char *email;	   /* reports.email: contact and From */
	const char *extra_contact; /* extra_contact_info, or NULL */
	const char *receiver;	   /* our domain: the Submitter and the file
				    * name's receiver */
	/* report_id_new(); letters and digits only, so that it is also the
	 * file name's unique-id (RFC 9990 3.1.4) */
	const char *report_id;
	const char *generator;	   /* e.g. "authmilter 0.1.0", or NULL */
	const char *error;	   /* an error element, or NULL */
};

/* report_id_new - a new report id: 128 random bits as 32 lowercase hex
 * digits (RFC 9990 3.5.1: unique among reports to the same domain) into
 * out (at least REPORT_ID_BUFSIZE); -1 when the kernel gave no random
 * bytes */
int report_id_new(char *out, size_t outlen);

/* report_xml - the RFC 9990 document of a set with at least one row, into
 * *out (which the caller has initialised; bounded by REPORT_XML_MAX).
 * Every text is escaped; bytes that are not UTF-8, and control
 * characters XML cannot carry, are written as '?'. */
int report_xml(const struct report_set *s, const struct report_meta *m,
	       struct dynbuf *out, char *err, size_t errlen);

/* report_filename - RFC 9990 3.5.2's name,
 * receiver "!" policy-domain "!" begin "!" end "!" unique-id ".xml.gz"
 * (".xml" when gz is 0), into out. -1 when a domain or the id holds
 * anything but letters, digits, '-', '_' and '.', or it does not fit. */
int report_filename(const struct report_set *s, const struct report_meta *m,
		    int gz, char *out, size_t outlen, char *err, size_t errlen);

/* report_gzip - len bytes as one gzip member (RFC 1952), appended to *out
 * (which must have room under its limit) */
int report_gzip(const void *data, size_t len, struct dynbuf *out, char *err,
		size_t errlen);

/* ---- where reports go: rua= ------------------------------------------ */

#define REPORT_RUA_MAX 8    /* destinations used of one rua= */
#define REPORT_ADDR_MAX 256 /* an address and its NUL */

/* one mailto: destination */
struct report_rua {
	char addr[REPORT_ADDR_MAX]; /* local@domain, %-decoded, domain
				     * lowercase */
	const char *domain;	    /* into addr: after the '@' */
	uint64_t max_bytes;	    /* the "!" size limit in bytes (k, m, g,
				     * t are powers of 1024); 0: none */
};

struct report_rua_list {
	size_t n;
	struct report_rua uri[REPORT_RUA_MAX];
	size_t skipped; /* URIs left out: not mailto:, not a
			 * valid dmarc-uri, an address we do
			 * not send to, a repeat, or past
			 * REPORT_RUA_MAX */
};

/* report_rua_parse - the rua= value (a comma-separated dmarc-uri list, as
 * written or as dmarc_record.rua keeps it) into out, in order: only
 * mailto: URIs (RFC 9990 3.5.2, 3.5.3: the only method defined), their
 * header fields ("?...") ignored; an address must be local@domain with a
 * dot-atom local part and a host name. Returns out->n. */
size_t report_rua_parse(const char *rua, struct report_rua_list *out);
/* report_rua_fits - whether a message of bytes bytes is within u's size
 * limit (RFC 7489 6.2's "!" suffix; RFC 9990 defines none, so the
 * reporter decides whether to honour it) */
int report_rua_fits(const struct report_rua *u, uint64_t bytes);

/* ---- the message ------------------------------------------------------ */

/* report_message - the whole report message (RFC 9990 3.5.2), CRLF line
 * ends, appended to *out: From m->email, To the addresses of to (at
 * least one), Subject "Report Domain: D Submitter: R Report-ID: ID"
 * (folded when long), Date (now), Message-ID <ID@receiver>, MIME
 * multipart/mixed with a short text/plain part and the gzip file
 * (application/gzip, base64) named by report_filename(). gz/gzlen are
 * report_gzip()'s bytes of report_xml()'s document. */
int report_message(const struct report_set *s, const struct report_meta *m,
		   const struct report_rua_list *to, const void *gz,
		   size_t gzlen, time_t now, struct dynbuf *out, char *err,
		   size_t errlen);

/* names as the schema spells them */
const char *report_disposition_name(enum report_disposition d);
const char *report_dkim_res_name(enum report_dkim_res r);
const char *report_spf_res_name(enum report_spf_res r);
const char *report_override_name(enum report_override o);

#endif
