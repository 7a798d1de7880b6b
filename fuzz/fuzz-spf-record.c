#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_spf_record
#endif
/*
 * fuzz-spf-record.c - the input is served as the TXT record of
 * fuzz.example (and of exp.fuzz.example, so exp= text is fuzzed too) by a
 * table resolver, and spf_check() runs on it for an IPv4 and an IPv6
 * client. Surviving is the oracle. The surrounding zone is small and
 * fixed; a fresh table is built per input so runs do not depend on each
 * other.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "spf.h"

#define FUZZ_MAX_RECORD 4096

static const struct {
	const char *name;
	int type;
	const char *text;
} fuzz_zone[] = {
	{ "fuzz.example", DNS_T_A, "192.0.2.1" },
	{ "fuzz.example", DNS_T_AAAA, "2001:db8::1" },
	{ "fuzz.example", DNS_T_MX, "10 mx.fuzz.example" },
	{ "mx.fuzz.example", DNS_T_A, "192.0.2.2" },
	{ "9.2.0.192.in-addr.arpa", DNS_T_PTR, "host.fuzz.example" },
	{ "host.fuzz.example", DNS_T_A, "192.0.2.9" },
	{ "inc.fuzz.example", DNS_T_TXT, "v=spf1 ip4:192.0.2.0/24 -all" },
	{ "loop.fuzz.example", DNS_T_TXT, "v=spf1 include:fuzz.example -all" },
};

/* add_input - the input as one TXT RR split into 255-byte strings */
static void
add_input(struct dns_resolver *dns, const char *name, const uint8_t *data,
    size_t size)
{
	uint8_t *rdata = malloc(size + size / 255 + 1);
	size_t o = 0, i = 0;

	if (rdata == NULL)
		return;
	do {
		size_t n = size - i > 255 ? 255 : size - i;

		rdata[o++] = (uint8_t)n;
		memcpy(rdata + o, data + i, n);
		o += n;
		i += n;
	} while (i < size);
	dns_table_add(dns, name, DNS_T_TXT, rdata, o);
	free(rdata);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_resolver *dns;
	struct spf_checker *c;
	struct spf_outcome o;
	char err[64];

	if (size > FUZZ_MAX_RECORD)
		return 0;
	dns = dns_table_new();
	for (size_t i = 0; i < sizeof(fuzz_zone) / sizeof(fuzz_zone[0]); i++)
		dns_table_add_text(dns, fuzz_zone[i].name, fuzz_zone[i].type,
		    fuzz_zone[i].text);
	add_input(dns, "fuzz.example", data, size);
	add_input(dns, "exp.fuzz.example", data, size);
	c = spf_checker_new(dns, "mx.receiver.example", err, sizeof(err));
	if (c != NULL) {
		spf_check(c, "192.0.2.9", "user@fuzz.example", "helo.fuzz.example",
		    &o);
		spf_check(c, "2001:db8::9", NULL, "fuzz.example", &o);
		spf_checker_free(&c);
	}
	dns_resolver_free(&dns);
	return 0;
}
