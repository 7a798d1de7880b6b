/*
 * dest.c - a policy domain's report destinations and their authorization,
 * looked up through our resolver (dest.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "dest.h"
#include "dname.h"
#include "dns.h"
#include "util.h"

/* the longest TXT record read; DMARC records are far shorter */
#define DEST_TXT_MAX 4096

int
dest_is_dmarc1(const char *txt)
{
	const char *p = txt;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p++ != 'v')
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p++ != '=')
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, "DMARC1", 6) != 0)
		return 0;
	p += 6;
	return *p == '\0' || *p == ' ' || *p == '\t' || *p == ';';
}

/* temp_why - the reason of a temporary DNS failure of name */
static void
temp_why(const struct dns_answer *a, const char *name, char *why,
	 size_t whylen)
{
	char shown[DNAME_BUFSIZE];

	snprintf(why, whylen, "DNS failure looking up %s: %s",
		 str_show(name, shown, sizeof(shown)),
		 a->why[0] ? a->why : dns_fail_name(a->fail));
}

enum dest_status
dest_rua(const struct dest_dns *d, const char *domain,
	 struct report_rua_list *out, char *why, size_t whylen)
{
	char name[DNAME_BUFSIZE + 8], txt[DEST_TXT_MAX], err[160];
	struct dmarc_record rec;
	struct dns_answer *a;
	unsigned records = 0;
	int valid = 0;

	memset(out, 0, sizeof(*out));
	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	a = dns_query(d->dns, name, DNS_T_TXT, 0);
	if (a->status == DNS_STATUS_TEMPFAIL) {
		temp_why(a, name, why, whylen);
		dns_answer_free(&a);
		return DEST_TEMP;
	}
	for (size_t i = 0; a->status == DNS_STATUS_OK && i < a->count; i++) {
		if (dns_rr_txt(&a->rr[i], txt, sizeof(txt)) < 0 ||
		    !dest_is_dmarc1(txt))
			continue;
		/* RFC 9989 4.10.1: a name with several records has none */
		if (++records > 1)
			continue;
		/* by the daemon's rules (dmarc.discovery) */
		valid = dmarc_record_parse_as(txt, d->discovery, &rec, err,
					      sizeof(err)) == 0;
	}
	dns_answer_free(&a);
	if (records == 0) {
		snprintf(why, whylen, "no DMARC record at %s", name);
		return DEST_NONE;
	}
	if (records > 1) {
		snprintf(why, whylen, "%u DMARC records at %s, so none applies",
			 records, name);
		return DEST_NONE;
	}
	if (!valid) {
		snprintf(why, whylen, "the DMARC record at %s is not valid: %s",
			 name, err);
		return DEST_NONE;
	}
	if (rec.rua[0] == '\0') {
		snprintf(why, whylen, "the DMARC record at %s has no rua=",
			 name);
		return DEST_NONE;
	}
	if (report_rua_parse(rec.rua, out) == 0) {
		char shown[120];

		snprintf(why, whylen,
			 "no mailto: destination we send to in rua=%s",
			 str_show(rec.rua, shown, sizeof(shown)));
		return DEST_NONE;
	}
	return DEST_OK;
}

enum dest_status
dest_org(const struct dest_dns *d, const char *domain, char *org,
	 size_t orglen, char *why, size_t whylen)
{
	if (dmarc_org_domain(d->dmarc, domain, NULL, org, orglen) < 0) {
		snprintf(why, whylen,
			 "DNS failure finding the organizational domain of %s",
			 domain);
		return DEST_TEMP;
	}
	return DEST_OK;
}

enum dest_status
dest_authorized(const struct dest_dns *d, const char *domain, const char *org,
		const char *rua_domain, char *why, size_t whylen)
{
	char name[2 * DNAME_BUFSIZE + 16], txt[DEST_TXT_MAX];
	struct dns_answer *a;
	enum dest_status st = DEST_NONE;

	if (dname_under(rua_domain, org))
		return DEST_OK;
	/* RFC 9990 3.5.1: <policy domain>._report._dmarc.<destination host> */
	snprintf(name, sizeof(name), "%s._report._dmarc.%s", domain,
		 rua_domain);
	if (!dname_valid(name)) {
		snprintf(why, whylen,
			 "%s._report._dmarc.%s is too long a name to ask",
			 domain, rua_domain);
		return DEST_NONE;
	}
	a = dns_query(d->dns, name, DNS_T_TXT, 0);
	if (a->status == DNS_STATUS_TEMPFAIL) {
		temp_why(a, name, why, whylen);
		dns_answer_free(&a);
		return DEST_TEMP;
	}
	for (size_t i = 0; a->status == DNS_STATUS_OK && i < a->count; i++)
		if (dns_rr_txt(&a->rr[i], txt, sizeof(txt)) == 0 &&
		    dest_is_dmarc1(txt))
			st = DEST_OK;
	if (st != DEST_OK)
		snprintf(why, whylen,
			 "%s is outside %s and has not agreed to receive its "
			 "reports (no v=DMARC1 TXT record at %s: %s)",
			 rua_domain, org, name,
			 a->status == DNS_STATUS_OK ? "other records"
						    : dns_status_name(a->status));
	dns_answer_free(&a);
	return st;
}
