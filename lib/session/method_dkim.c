/*
 * method_dkim.c - DKIM (RFC 6376) in the session: the message streamed to
 * the verifier as it arrives, one dkim= result per signature (header.d,
 * .i, .s, .a, .b) or dkim=none (see session_impl.h).
 */
#include "config.h"

#include <string.h>

#include "dkim.h"
#include "session_impl.h"
#include "settings.h"
#include "util.h"

/* dkim_start - a verification for the message, when DKIM is on */
static void *
dkim_start(struct session *s)
{
	if (!s->cfg->dkim_enable || s->env->dkim == NULL)
		return NULL;
	return dkv_msg_new(s->env->dkim, &s->deadline);
}

static void
dkim_header(void *st, const char *name, const char *value)
{
	dkv_msg_header(st, name, value);
}

static void
dkim_eoh(void *st)
{
	dkv_msg_eoh(st);
}

static void
dkim_body(void *st, const unsigned char *p, size_t len)
{
	dkv_msg_body(st, p, len);
}

/* dkim_eom - one result per signature, or dkim=none */
static void
dkim_eom(struct session *s, void *st, struct results *rs)
{
	const struct dkv_result *res;
	size_t n;

	if (st == NULL)
		return;
	dkv_msg_eom(st, &res, &n);
	if (n == 0)
		results_add(rs, "dkim", "none", NULL);
	for (size_t i = 0; i < n; i++) {
		const struct dkv_result *d = &res[i];
		const char *reason = d->reason[0] ? d->reason : NULL;
		struct result *r;

		if (d->result == DKV_RES_PASS && d->key_bits > 0)
			reason = strcmp(d->algorithm, "ed25519-sha256") == 0 ?
			    "ed25519 key" : arena_printf(s->arena, "%u-bit key",
			    d->key_bits);
		r = results_add(rs, "dkim", dkv_res_name(d->result), reason);
		r->dkim = d;
		if (d->domain[0])
			results_prop(rs, r, "header", "d", d->domain, NULL);
		if (d->identity[0])
			results_prop(rs, r, "header", "i", d->identity, NULL);
		if (d->selector[0])
			results_prop(rs, r, "header", "s", d->selector, NULL);
		if (d->algorithm[0])
			results_prop(rs, r, "header", "a", d->algorithm, NULL);
		if (d->b[0])
			results_prop(rs, r, "header", "b", d->b, NULL);
	}
}

static void
dkim_done(void *st)
{
	struct dkv_msg *m = st;

	dkv_msg_free(&m);
}

const struct session_method session_method_dkim = {
	.name = "dkim",
	.start = dkim_start,
	.header = dkim_header,
	.eoh = dkim_eoh,
	.body = dkim_body,
	.eom = dkim_eom,
	.done = dkim_done,
};
