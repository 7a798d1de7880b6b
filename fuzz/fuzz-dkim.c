/*
 * fuzz-dkim.c - a whole message through dkv_msg_*(): header fields split
 * here (a line starting with SP/HTAB continues a field; a line without a
 * colon is skipped), the body fed in two chunks so line ends straddle
 * them. The table resolver holds one Ed25519 key (RFC 8032 7.1 test key,
 * brisbane._domainkey.football.example.com), a revoked key and a
 * temporary failure. Oracle: no crash, and results that make sense.
 * Seeds (fuzz/corpus/dkim) are relaxed/relaxed messages signed with that
 * key (python3-nacl, Ed25519 over the SHA-256 of the signed data, RFC
 * 8463 3) and checked with python3-dkim: pass, bare LF, body modified,
 * expired, and revoked + temperror + over the cap of 4.
 *
 * What lib/dkim/dkim.h promises, checked here: one result per signature (so
 * as many as there are DKIM-Signature fields, up to the header bounds,
 * not up to the cap), or one message-wide permerror; none only when no
 * field is named DKIM-Signature; the first FUZZ_CAP signatures are
 * verified (never "not checked") and every one after them is neutral.
 */
#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_dkim
#endif

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim.h"
#include "dns.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CAP 4

static struct dns_resolver *dns;
static struct dkv_verifier *ver;

static void
setup(void)
{
	struct dkv_opts o = { FUZZ_CAP, 1024, 0 };
	char err[128];

	dns = dns_table_new();
	dns_table_add_text(dns, "brisbane._domainkey.football.example.com",
	    DNS_T_TXT, "v=DKIM1; k=ed25519; "
	    "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	dns_table_add_text(dns, "revoked._domainkey.football.example.com",
	    DNS_T_TXT, "v=DKIM1; p=");
	dns_table_set_status(dns, "temp._domainkey.football.example.com", 0,
	    DNS_STATUS_TEMPFAIL);
	ver = dkv_verifier_new(dns, &o, err, sizeof(err));
	if (ver == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	const struct dkv_result *res;
	struct dkv_msg *m;
	size_t n, half, nfields = 0, nsigs = 0;

	if (ver == NULL)
		setup();
	m = dkv_msg_new(ver, NULL);
	while (p < end) {
		const char *ls = p, *le = p, *colon;
		char *name, *value;

		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
			p += *p == '\r' ? 2 : 1;
			break;
		}
		for (;;) {
			const char *nl = memchr(le, '\n', (size_t)(end - le));

			le = nl != NULL ? nl + 1 : end;
			if (nl == NULL || le >= end || (*le != ' ' && *le != '\t'))
				break;
		}
		p = le;
		colon = memchr(ls, ':', (size_t)(le - ls));
		if (colon == NULL || colon == ls)
			continue;
		while (le > colon + 1 && (le[-1] == '\n' || le[-1] == '\r'))
			le--;
		/* the milter hands over NUL-terminated strings */
		name = xstrndup(ls, (size_t)(colon - ls));
		value = xstrndup(colon + 1, (size_t)(le - colon - 1));
		nfields++;
		if (strcasecmp(name, "DKIM-Signature") == 0)
			nsigs++;
		dkv_msg_header(m, name, value);
		free(name);
		free(value);
	}
	dkv_msg_eoh(m);
	half = (size_t)(end - p) / 2;
	dkv_msg_body(m, (const unsigned char *)p, half);
	dkv_msg_body(m, (const unsigned char *)p + half,
	    (size_t)(end - p) - half);
	dkv_msg_eom(m, &res, &n);
	for (size_t i = 0; i < n; i++) {
		if (res[i].result == DKV_RES_NONE ||
		    res[i].result > DKV_RES_PERMERROR ||
		    memchr(res[i].domain, '\0', sizeof(res[i].domain)) == NULL ||
		    memchr(res[i].reason, '\0', sizeof(res[i].reason)) == NULL ||
		    memchr(res[i].b, '\0', sizeof(res[i].b)) == NULL)
			abort();
		(void)dkv_res_name(res[i].result);
		/* past the cap: neutral; up to it: verified */
		if ((i >= FUZZ_CAP) != (res[i].result == DKV_RES_NEUTRAL))
			abort();
	}
	/* one result per signature field, at least one when there is one */
	if (n > nfields || (nsigs > 0 && n == 0))
		abort();
	dkv_msg_free(&m);
	return 0;
}
