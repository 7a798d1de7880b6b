/*
 * method_spf.c - SPF (RFC 7208) in the session: MAIL FROM, and HELO when
 * it must or may be checked, each an spf= result with smtp.mailfrom or
 * smtp.helo (see session_impl.h).
 */
#include "config.h"

#include <string.h>

#include "session_impl.h"
#include "settings.h"
#include "spf.h"
#include "util.h"

/* helo_checkable - whether the HELO name is a domain SPF can evaluate:
 * not empty, not an address literal, at least one dot */
static int
helo_checkable(const char *helo)
{
	return helo[0] != '\0' && helo[0] != '[' && strchr(helo, '.') != NULL &&
	    strchr(helo, ' ') == NULL;
}

/* spf_one - check one identity (sender NULL: HELO) and add its result */
static void
spf_one(struct session *s, struct results *rs, const char *sender,
    const char *property, const char *value)
{
	struct spf_outcome *o = arena_alloc(s->arena, sizeof(*o));
	struct spf_ptr_source ptr;
	struct result *r;

	spf_check_ptr_until(s->env->spf, s->client_ip, sender, s->helo,
	    &s->deadline, session_iprev_ptr_source(s, &ptr), o);
	r = results_add(rs, "spf", spf_result_name(o->result),
	    o->reason[0] ? o->reason : NULL);
	results_prop(rs, r, "smtp", property, value, NULL);
	r->spf = o;
}

static void
spf_eom(struct session *s, void *st, struct results *rs)
{
	const struct settings *cfg = s->cfg;
	int null_sender = s->mail_from == NULL || s->mail_from[0] == '\0';

	(void)st;
	if (!cfg->spf_enable || s->env->spf == NULL || s->client_ip[0] == '\0')
		return;
	if (!null_sender)
		spf_one(s, rs, s->mail_from, "mailfrom", s->mail_from);
	/* RFC 7208 2.3: the HELO identity is checked always when MAIL FROM is
	 * null (the identity is then postmaster@HELO), optionally otherwise.
	 * For the null sender a HELO that is no domain (an address literal, a
	 * single label) is still checked: its result is none (4.3), and the
	 * header says so instead of saying nothing about SPF. */
	if (null_sender || (cfg->spf_helo && helo_checkable(s->helo)))
		spf_one(s, rs, NULL, "helo", s->helo);
}

const struct session_method session_method_spf = {
	.name = "spf",
	.eom = spf_eom,
};
