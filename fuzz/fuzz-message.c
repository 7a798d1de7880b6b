/*
 * fuzz-message.c - a whole message through the session: the first input
 * line is the MAIL FROM argument, the second the HELO name, the rest the
 * message (read by lib/session/message.c), through SPF, DKIM and DMARC over a
 * table resolver. Oracle: no crash, and the header we would write always
 * parses as RFC 8601.
 */
#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_message
#endif

#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "dkim.h"
#include "dmarc.h"
#include "dns.h"
#include "message.h"
#include "psl.h"
#include "session.h"
#include "settings.h"
#include "spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct session_env env;
static struct settings *cfg;

static void
setup(void)
{
	char err[256];

	env.dns = dns_table_new();
	dns_table_add_text(env.dns, "example.org", DNS_T_TXT,
	    "v=spf1 ip4:192.0.2.0/24 include:%{l}.x.example.org -all");
	dns_table_add_text(env.dns, "mail.example.org", DNS_T_TXT, "v=spf1 a -all");
	dns_table_add_text(env.dns, "mail.example.org", DNS_T_A, "192.0.2.10");
	dns_table_add_text(env.dns, "_dmarc.example.org", DNS_T_TXT,
	    "v=DMARC1; p=reject; sp=quarantine; pct=50");
	env.spf = spf_checker_new(env.dns, "mx.test.example", err, sizeof(err));
	{
		struct dkv_opts dk = {.max_signatures = 4, .min_rsa_bits = 1024};
		struct psl *psl = psl_load_string("org\ncom\n*.ck\n!www.ck\n", err,
		    sizeof(err));

		env.dkim = dkv_verifier_new(env.dns, &dk, err, sizeof(err));
		env.dmarc = psl ? dmarc_checker_new(env.dns, psl, err, sizeof(err)) : NULL;
		psl_unref(&psl);
	}
	cfg = settings_load_string("authserv_id = \"mx.test.example\";"
	    "policy = { dns_budget_ms = 1000; };", "fuzz.conf", err, sizeof(err));
	if (env.spf == NULL || env.dkim == NULL || env.dmarc == NULL || cfg == NULL)
		abort();
}

/* take_line - the next line of the input, NUL-terminated (bounded) */
static const uint8_t *
take_line(const uint8_t *p, const uint8_t *end, char *out, size_t outlen)
{
	size_t n = 0;

	while (p < end && *p != '\n') {
		if (n + 1 < outlen && *p != '\0')
			out[n++] = (char)*p;
		p++;
	}
	out[n] = '\0';
	return p < end ? p + 1 : p;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char empty[1];
	char from[512], helo[256], err[256];
	const uint8_t *p = data, *end = data + size;
	const struct session_verdict *v;
	struct session *s;
	FILE *f;

	if (env.dns == NULL)
		setup();
	p = take_line(p, end, from, sizeof(from));
	p = take_line(p, end, helo, sizeof(helo));
	s = session_new(&env, cfg);
	session_connect(s, NULL, "192.0.2.10");
	session_helo(s, helo);
	session_mail_from(s, from);
	/* fmemopen takes no empty buffer: an empty message is one byte of
	 * ours, read away (not a byte past the input: libFuzzer's buffer
	 * ends there, and libc's read past it is not seen by ASan) */
	if (end == p)
		f = fmemopen(empty, 1, "r");
	else
		f = fmemopen((void *)p, (size_t)(end - p), "r");
	if (f != NULL) {
		if (end == p)
			(void)fgetc(f);
		message_feed(s, f, err, sizeof(err));
		fclose(f);
	}
	v = session_eom(s);
	if (v->authres != NULL) {
		char err[128];
		struct authres *ar = authres_parse(v->authres, err, sizeof(err));

		if (ar == NULL) {
			fprintf(stderr, "our header does not parse: %s\n%s\n", err,
			    v->authres);
			abort();
		}
		authres_free(&ar);
	}
	session_free(&s);
	return 0;
}
