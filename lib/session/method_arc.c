/*
 * method_arc.c - ARC (RFC 8617) in the session: every header field and
 * the body streamed to lib/arc, the chain validated at the end of the
 * message within its DNS budget, one arc= result: pass, fail, none,
 * temperror or permerror, with a short comment (the newest instance and
 * its sealer on a pass, lib/arc's reason otherwise), header.oldest-pass
 * when not 0 and smtp.remote-ip (RFC 8617 10.2). The typed fact (the
 * chain, its instances and their ARC-Authentication-Results) is what
 * policy reads for the trusted sealers' override (policy.h).
 *
 * Sealing (arc.seal): a message started while a key was set hashes its
 * body for the AMS as it streams and holds a reference to the key; after
 * the decision, an accepted message gets the three header fields of the
 * next instance, the ARC-Authentication-Results being the payload of the
 * Authentication-Results header we write (see session_impl.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arc.h"
#include "session_impl.h"
#include "settings.h"
#include "util.h"

struct arc_state {
	const struct session_env *env;
	struct arc_msg *m;
	struct session_arc_key *key;   /* held while the message runs */
	const struct arc_sealer *sealer;
};

/* arc_start - a chain to validate, when ARC is on; with arc.seal the
 * body is hashed for our AMS too */
static void *
arc_start(struct session *s)
{
	struct arc_state *st;

	if (!s->cfg->arc_enable || s->env->arc == NULL)
		return NULL;
	st = xcalloc(1, sizeof(*st));
	st->env = s->env;
	st->m = arc_msg_new(s->env->arc);
	st->sealer = session_arc_key_take(s->env, &st->key);
	if (st->sealer != NULL)
		arc_msg_want_seal(st->m);
	return st;
}

static void
arc_header(void *st, const char *name, const char *value)
{
	arc_msg_header(((struct arc_state *)st)->m, name, value);
}

static void
arc_eoh(void *st)
{
	arc_msg_eoh(((struct arc_state *)st)->m);
}

static void
arc_body(void *st, const unsigned char *p, size_t len)
{
	arc_msg_body(((struct arc_state *)st)->m, p, len);
}

/* arc_eom - one arc= result; a message without ARC header fields costs
 * no copy of the chain */
static void
arc_eom(struct session *s, void *vst, struct results *rs)
{
	struct arc_state *st = vst;
	struct arc_result *res;
	const char *reason = NULL;
	enum arc_res r;
	struct result *out;

	if (st == NULL)
		return;
	r = arc_msg_eom(st->m, &s->deadline, NULL);
	if (r == ARC_RES_NONE) {
		out = results_add(rs, "arc", "none", NULL);
	} else {
		res = arena_alloc(s->arena, sizeof(*res));
		arc_msg_eom(st->m, &s->deadline, res);
		if (r == ARC_RES_PASS && res->n > 0)
			reason = arena_printf(s->arena, "i=%u by %s", res->n,
			    res->inst[res->n - 1].seal_domain);
		else if (res->reason[0])
			reason = res->reason;
		out = results_add(rs, "arc", arc_res_name(r), reason);
		out->arc = res;
		if (res->oldest_pass > 0)
			results_prop(rs, out, "header", "oldest-pass",
			    arena_printf(s->arena, "%u", res->oldest_pass),
			    NULL);
	}
	if (s->client_ip[0])
		results_prop(rs, out, "smtp", "remote-ip", s->client_ip, NULL);
}

static void
arc_done(void *vst)
{
	struct arc_state *st = vst;

	arc_msg_free(&st->m);
	session_arc_key_drop(st->env, &st->key);
	free(st);
}

/* aar_payload - our Authentication-Results value without its
 * authserv-id, unfolded: what ARC-Authentication-Results repeats */
static const char *
aar_payload(struct arena *a, const char *authres)
{
	const char *semi = strchr(authres, ';');
	char *p, *o;

	if (semi == NULL)
		return NULL;
	semi++;
	p = arena_strdup(a, semi);
	for (o = p; *semi != '\0'; semi++) {
		if (*semi == '\n' || *semi == '\r')
			continue;
		if ((*semi == '\t' || *semi == ' ') && (o == p || o[-1] == ' '))
			continue;
		*o++ = *semi == '\t' ? ' ' : *semi;
	}
	while (o > p && o[-1] == ' ')
		o--;
	*o = '\0';
	return p;
}

/* lf_folds - "Name: value" with CRLF folds made "\n" folds (libmilter's
 * smfi_insheader takes LF line ends), in the arena */
static const char *
lf_folds(struct arena *a, const char *f)
{
	char *p = arena_strdup(a, f), *o = p;

	for (const char *i = f; *i != '\0'; i++)
		if (!(i[0] == '\r' && i[1] == '\n'))
			*o++ = *i;
	*o = '\0';
	return p;
}

void
session_arc_seal(struct session *s, struct session_verdict *v)
{
	struct arc_state *st = session_method_state(s, &session_method_arc);
	const char *aar;
	char *out[3] = { NULL, NULL, NULL }, err[256];
	int rc;

	if (st == NULL || st->sealer == NULL || v->authres == NULL)
		return;
	if (v->action != SESSION_ACCEPT && v->action != SESSION_QUARANTINE)
		return;
	aar = aar_payload(s->arena, v->authres);
	rc = arc_msg_seal(st->m, st->sealer, s->cfg->authserv_id,
	    aar != NULL && *aar ? aar : "none", NULL, time(NULL), out, err,
	    sizeof(err));
	if (rc == 0 && out[0] != NULL) {
		for (int i = 0; i < 3; i++) {
			v->arc_set[i] = lf_folds(s->arena, out[i]);
			free(out[i]);
		}
		return;
	}
	for (int i = 0; i < 3; i++)
		free(out[i]);
	v->seal_note = arena_strdup(s->arena, err[0] ? err : "not sealed");
}

const struct session_method session_method_arc = {
	.name = "arc",
	.start = arc_start,
	.header = arc_header,
	.eoh = arc_eoh,
	.body = arc_body,
	.eom = arc_eom,
	.done = arc_done,
};
