/*
 * render.c - the Authentication-Results header and the log line of a
 * message, from its results list (see session_impl.h).
 *
 * The header is the list as it is: one method=result (reason) and its
 * properties per result, in order. The log line takes from the list
 * spf= and spf_helo= (the results with smtp.mailfrom and smtp.helo),
 * dkim= (result:header.d per signature, or none), dmarc_authors=
 * (result:header.from per author domain), and dmarc=, policy=, dis= and
 * dmarc_discovery= (treewalk or psl) of the result policy acted on (dis=none
 * when a trusted ARC sealer overrode it), arc= (the chain's result),
 * iprev= (when iprev ran), arc_override= and policy_override= (the
 * sealer and RFC 7489's PolicyOverride of the first override);
 * header_from= and acted_on= come
 * from the author domains the session found, skipped=, reason=, arc_seal=
 * (sealed, or why not when arc.seal is set) and action= from the verdict.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "dmarc.h"
#include "log.h"
#include "session_impl.h"
#include "settings.h"
#include "util.h"

const char *
session_render_authres(struct session *s)
{
	struct authres *ar = authres_new(s->cfg->authserv_id);
	const char *out;
	char *text;

	for (size_t i = 0; i < s->results.n; i++) {
		const struct result *r = &s->results.v[i];
		struct authres_result *a;

		a = authres_add(ar, r->method, r->result, r->reason);
		for (size_t j = 0; a != NULL && j < r->nprops; j++)
			authres_add_prop_comment(a, r->props[j].ptype,
			    r->props[j].property, r->props[j].value,
			    r->props[j].comment);
	}
	text = authres_render_lf(ar);
	out = arena_strdup(s->arena, text);
	free(text);
	authres_free(&ar);
	return out;
}

/* value - log_value() (log.h), kept in the arena */
static const char *
value(struct arena *a, const char *v)
{
	char buf[LOG_VALUE_SIZE];

	return arena_strdup(a, log_value(v, buf, sizeof(buf)));
}

/* spf_identity - the SPF result for one identity ("mailfrom", "helo") */
static const char *
spf_identity(const struct results *rs, const char *property)
{
	for (const struct result *r = results_next(rs, NULL, "spf"); r != NULL;
	    r = results_next(rs, r, "spf"))
		if (results_prop_value(r, "smtp", property) != NULL)
			return r->result;
	return NULL;
}

/* prop_or_empty - a property's value, "" when the result has none */
static const char *
prop_or_empty(const struct result *r, const char *ptype, const char *property)
{
	const char *v = results_prop_value(r, ptype, property);

	return v != NULL ? v : "";
}

const char *
session_log_line(struct session *s, double ms)
{
	const struct session_verdict *v = &s->verdict;
	const struct results *rs = &s->results;
	const struct result *acted = s->decision.acted_on, *arc, *iprev;
	const char *spf_mf, *spf_helo, *from_domain;
	struct arena *a = s->arena;
	struct dynbuf b;
	char *line;

	dynbuf_init(&b, sizeof(s->log_line) - 1);
	dynbuf_printf(&b, "qid=%s client=%s helo=%s from=%s",
	    s->queue_id[0] ? s->queue_id : "-",
	    s->client_ip[0] ? s->client_ip : "-", value(a, s->helo),
	    value(a, s->mail_from ? s->mail_from : ""));
	if (v->skipped)
		dynbuf_printf(&b, " skipped=%s", value(a, v->skipped));
	spf_mf = spf_identity(rs, "mailfrom");
	spf_helo = spf_identity(rs, "helo");
	if (spf_mf != NULL || spf_helo != NULL)
		dynbuf_printf(&b, " spf=%s spf_helo=%s", spf_mf ? spf_mf : "-",
		    spf_helo ? spf_helo : "-");
	if (results_next(rs, NULL, "dkim") != NULL) {
		const char *sep = "";

		dynbuf_puts(&b, " dkim=");
		for (const struct result *r = results_next(rs, NULL, "dkim");
		    r != NULL; r = results_next(rs, r, "dkim"), sep = ",") {
			if (r->dkim == NULL)
				dynbuf_printf(&b, "%s%s", sep, r->result);
			else
				dynbuf_printf(&b, "%s%s:%s", sep, r->result,
				    value(a, prop_or_empty(r, "header", "d")));
		}
	}
	/* the author domain the action follows: the one DMARC acted on, or
	 * the first when DMARC did not run */
	from_domain = acted != NULL ? results_prop_value(acted, "header", "from") :
	    s->nauthors > 0 ? s->authors[0] : NULL;
	if (s->nauthors > 1) {
		/* every author domain; dmarc= below is the one acted on */
		dynbuf_puts(&b, " header_from=");
		for (size_t i = 0; i < s->nauthors; i++)
			dynbuf_printf(&b, "%s%s", i ? "," : "",
			    value(a, s->authors[i]));
		if (acted != NULL) {
			const char *sep = "";

			dynbuf_puts(&b, " dmarc_authors=");
			for (const struct result *r = results_next(rs, NULL,
			    "dmarc"); r != NULL; r = results_next(rs, r, "dmarc"))
				if (r->dmarc != NULL) {
					dynbuf_printf(&b, "%s%s:%s", sep,
					    r->result, value(a,
					    prop_or_empty(r, "header", "from")));
					sep = ",";
				}
		}
		dynbuf_printf(&b, " acted_on=%s", value(a, from_domain));
	} else if (from_domain != NULL) {
		dynbuf_printf(&b, " header_from=%s", value(a, from_domain));
	}
	if (acted != NULL)
		dynbuf_printf(&b, " dmarc=%s policy=%s dis=%s dmarc_discovery=%s",
		    acted->result, dmarc_policy_name(acted->dmarc->policy),
		    acted->arc_override_by != NULL ? "none" :
		    dmarc_policy_name(acted->dmarc->disposition),
		    dmarc_discovery_name(acted->dmarc->discovery));
	if ((arc = results_next(rs, NULL, "arc")) != NULL)
		dynbuf_printf(&b, " arc=%s", arc->result);
	if ((iprev = results_next(rs, NULL, "iprev")) != NULL)
		dynbuf_printf(&b, " iprev=%s", iprev->result);
	if (s->decision.noverrides > 0)
		dynbuf_printf(&b, " arc_override=%s policy_override=%s",
		    value(a, s->decision.overrides[0].sealer),
		    s->decision.overrides[0].reason);
	if (v->arc_set[0] != NULL)
		dynbuf_puts(&b, " arc_seal=yes");
	else if (v->seal_note != NULL)
		dynbuf_printf(&b, " arc_seal=%s", value(a, v->seal_note));
	if (v->reason)
		dynbuf_printf(&b, " reason=%s", value(a, v->reason));
	dynbuf_printf(&b, " ar_removed=%zu action=%s ms=%.1f", v->nar_delete,
	    session_action_name(v->action), ms);
	line = dynbuf_take(&b);
	str_copy(s->log_line, line, sizeof(s->log_line));
	free(line);
	return s->log_line;
}
