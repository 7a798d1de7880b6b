/*
 * method_iprev.c - iprev (RFC 8601 2.7.3) in the session: the client's
 * PTR lookup starts when the connection's address is known and runs
 * beside the SMTP dialogue; the forward lookups run at the end of the
 * message within its DNS budget. One iprev= result with policy.iprev (see
 * session_impl.h, lib/iprev/iprev.h).
 */
#include "config.h"

#include "iprev.h"
#include "session_impl.h"
#include "settings.h"
#include "util.h"

/* iprev_connect - start the PTR lookup of a client that will be evaluated
 * (not a trusted one; an authenticated client is known only later) */
static void *
iprev_connect(struct session *s)
{
	if (!s->cfg->iprev_enable || s->env == NULL || s->env->dns == NULL ||
	    s->client_ip[0] == '\0' || s->trusted)
		return NULL;
	return iprev_start(s->env->dns, s->client_ip);
}

static void
iprev_disconnect(void *cst)
{
	struct iprev_lookup *l = cst;

	iprev_free(&l);
}

/* iprev_eom - iprev=RESULT (name or why) policy.iprev=IP */
static void
iprev_eom(struct session *s, void *st, struct results *rs)
{
	struct iprev_lookup *l = session_method_conn(s, &session_method_iprev);
	struct iprev_outcome *o;
	struct result *r;

	(void)st;
	if (l == NULL || !s->cfg->iprev_enable)
		return;
	o = arena_alloc(s->arena, sizeof(*o));
	iprev_finish(l, &s->deadline, o);
	r = results_add(rs, "iprev", iprev_result_name(o->result),
	    o->reason[0] ? o->reason : NULL);
	results_prop(rs, r, "policy", "iprev", o->ip, NULL);
}

const struct session_method session_method_iprev = {
	.name = "iprev",
	.connect = iprev_connect,
	.disconnect = iprev_disconnect,
	.eom = iprev_eom,
};
