/*
 * method_iprev.c - iprev (RFC 8601 2.7.3) in the session: the client's
 * PTR lookup starts when the connection's address is known and runs
 * beside the SMTP dialogue; the forward lookups run at the end of the
 * message within its DNS budget. One iprev= result with policy.iprev (see
 * session_impl.h, lib/iprev/iprev.h). SPF's ptr mechanism and %{p} take
 * their validated names from the same lookups (session_iprev_ptr_source):
 * the PTR and address lookups are made once per connection for both.
 */
#include "config.h"

#include "iprev.h"
#include "spf.h"
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

/* validated - spf_ptr_source's names() over the connection's lookup */
static size_t
validated(void *arg, const struct timespec *deadline, enum dns_status *status,
    const char **names, size_t max)
{
	return iprev_validated(arg, deadline, status, names, max);
}

_Static_assert(IPREV_MAX_NAMES == SPF_MAX_PTR_NAMES,
    "iprev and SPF's ptr look at the same PTR names");

const struct spf_ptr_source *
session_iprev_ptr_source(struct session *s, struct spf_ptr_source *src)
{
	struct iprev_lookup *l = session_method_conn(s, &session_method_iprev);

	if (l == NULL || !s->cfg->iprev_enable)
		return NULL;
	src->names = validated;
	src->arg = l;
	return src;
}

const struct session_method session_method_iprev = {
	.name = "iprev",
	.connect = iprev_connect,
	.disconnect = iprev_disconnect,
	.eom = iprev_eom,
};
