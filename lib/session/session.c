/*
 * session.c - one connection and its messages (see session.h): the facts
 * as they arrive, and the end of the message.
 *
 * Facts arrive in SMTP order and are handed to the methods that stream
 * (method_*.c); session_eom() runs each method's end of message, which
 * adds its results to the list, asks policy for the decision and has
 * render.c write the header. Everything per message lives in s->arena,
 * released by session_reset(). Connection facts (client, HELO,
 * authentication) are kept in fixed buffers so they survive the reset.
 * env.c makes the session_env the sessions share.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authres.h"
#include "cidr.h"
#include "dmarc.h"
#include "deadline.h"
#include "dname.h"
#include "mailaddr.h"
#include "session_impl.h"
#include "settings.h"
#include "stats.h"
#include "util.h"

#define AR_NAME "Authentication-Results"

/* the messages, counted at their end (session_eom) */
/* the methods, in the order their results go into the header: DMARC
 * reads what SPF and DKIM found; ARC's chain is for policy (the trusted
 * sealers' override). iprev, the client's reverse DNS, comes after
 * them: its PTR lookup started at the connection, and a slow reverse zone
 * spends only what the others left of the message's DNS budget. A new
 * method is a module of its own, a struct session_method
 * (session_impl.h) and one line here. */
static const struct session_method *const methods[] = {
	&session_method_spf,
	&session_method_dkim,
	&session_method_dmarc,
	&session_method_arc,
	&session_method_iprev,
};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))
_Static_assert(NMETHODS <= SESSION_MAX_METHODS, "SESSION_MAX_METHODS");

/* elapsed_us - microseconds from t0 to t1 on CLOCK_MONOTONIC */
static uint64_t
elapsed_us(const struct timespec *t0, const struct timespec *t1)
{
	int64_t us = (int64_t)(t1->tv_sec - t0->tv_sec) * 1000000 +
	    (t1->tv_nsec - t0->tv_nsec) / 1000;

	return us > 0 ? (uint64_t)us : 0;
}

/* method_index - m's place in the table (NMETHODS: not there) */
static size_t
method_index(const struct session_method *m)
{
	size_t i = 0;

	while (i < NMETHODS && methods[i] != m)
		i++;
	return i;
}

void *
session_method_state(struct session *s, const struct session_method *m)
{
	size_t i = method_index(m);

	return i < NMETHODS ? s->state[i] : NULL;
}

void *
session_method_conn(struct session *s, const struct session_method *m)
{
	size_t i = method_index(m);

	return i < NMETHODS ? s->conn[i] : NULL;
}

/* methods_disconnect - free what the methods hold for the connection */
static void
methods_disconnect(struct session *s)
{
	for (size_t i = 0; i < NMETHODS; i++) {
		if (s->conn[i] != NULL && methods[i]->disconnect != NULL)
			methods[i]->disconnect(s->conn[i]);
		s->conn[i] = NULL;
	}
}

/* note_overrides - the DMARC failures a trusted ARC sealer overrode, as
 * the header and aggregate reports show them: "p=reject dis=none; arc
 * override by lists.example.org" and the PolicyOverride reason kept on
 * the result */
static void
note_overrides(struct session *s, const struct policy_decision *d)
{
	for (size_t i = 0; i < d->noverrides; i++) {
		const struct policy_override *o = &d->overrides[i];
		struct result *r = &s->results.v[o->dmarc - s->results.v];

		r->arc_override_by = o->sealer;
		r->policy_override = o->reason;
		r->reason = arena_printf(s->arena, "p=%s%s dis=none; arc "
		    "override by %s", dmarc_policy_name(r->dmarc->policy),
		    r->dmarc->testing ? " t=y" : "", o->sealer);
	}
}

/* methods_done - free what the methods hold for the message */
static void
methods_done(struct session *s)
{
	for (size_t i = 0; i < NMETHODS; i++) {
		if (s->state[i] != NULL && methods[i]->done != NULL)
			methods[i]->done(s->state[i]);
		s->state[i] = NULL;
	}
}

struct session *
session_new(const struct session_env *env, struct settings *cfg)
{
	struct session *s = xcalloc(1, sizeof(*s));

	session_stats_register();
	s->env = env;
	s->cfg = settings_ref(cfg);
	s->arena = arena_new();
	return s;
}

void
session_free(struct session **sp)
{
	struct session *s;

	if (sp == NULL || (s = *sp) == NULL)
		return;
	methods_done(s);
	methods_disconnect(s);
	arena_free(&s->arena);
	settings_unref(&s->cfg);
	free(s);
	*sp = NULL;
}

void
session_connect(struct session *s, const char *hostname, const char *ip)
{
	str_copy(s->client_name, hostname ? hostname : "", sizeof(s->client_name));
	s->client_ip[0] = '\0';
	if (ip != NULL && *ip != '\0' &&
	    ip_unmap(ip, s->client_ip, sizeof(s->client_ip)) != 0)
		s->client_ip[0] = '\0';
	s->trusted = s->client_ip[0] != '\0' &&
	    cidr_list_match(&s->cfg->trusted_networks, s->client_ip);
	/* the methods that look the client up start now, beside the rest
	 * of the SMTP dialogue */
	methods_disconnect(s);
	for (size_t i = 0; i < NMETHODS; i++)
		if (methods[i]->connect != NULL)
			s->conn[i] = methods[i]->connect(s);
}

void
session_helo(struct session *s, const char *helo)
{
	str_copy(s->helo, helo ? helo : "", sizeof(s->helo));
}

void
session_macro(struct session *s, const char *name, const char *value)
{
	if (value == NULL)
		return;
	if (strcmp(name, "{auth_authen}") == 0)
		str_copy(s->auth_user, value, sizeof(s->auth_user));
	else if (strcmp(name, "i") == 0)
		str_copy(s->queue_id, value, sizeof(s->queue_id));
	else if (strcmp(name, "{daemon_name}") == 0)
		str_copy(s->daemon_name, value, sizeof(s->daemon_name));
	else if (strcmp(name, "{client_addr}") == 0 && s->client_ip[0] == '\0')
		session_connect(s, s->client_name, value);
}

/* envelope_addr - the address inside a MAIL FROM/RCPT TO argument: strip
 * <>, an RFC 5321 4.1.2 source route ("@a,@b:user@dom") and any trailing
 * ESMTP parameters */
static char *
envelope_addr(struct arena *a, const char *arg)
{
	const char *p = arg, *end;
	int quoted = 0;

	while (*p == ' ')
		p++;
	if (*p == '<') {
		p++;
		if (*p == '@') {
			const char *colon = strchr(p, ':');

			if (colon != NULL)
				p = colon + 1;
		}
		for (end = p; *end != '\0'; end++) {
			if (*end == '"')
				quoted = !quoted;
			else if (*end == '\\' && quoted && end[1] != '\0')
				end++;
			else if (*end == '>' && !quoted)
				break;
		}
	} else {
		end = p + strcspn(p, " ");
	}
	return arena_strndup(a, p, (size_t)(end - p));
}

void
session_mail_from(struct session *s, const char *arg)
{
	session_reset(s);
	s->mail_from = envelope_addr(s->arena, arg ? arg : "");
}

void
session_rcpt(struct session *s, const char *arg)
{
	char norm[DNAME_BUFSIZE];
	const char *addr, *at;

	/* the first recipient's domain, for aggregate reports */
	if (s->nrcpt++ == 0 && arg != NULL) {
		addr = envelope_addr(s->arena, arg);
		at = strrchr(addr, '@');
		if (at != NULL && dname_norm(at + 1, norm, sizeof(norm)) == 0)
			s->rcpt_domain = arena_strdup(s->arena, norm);
	}
}

/* message_start - decide at the first header whether this message is
 * evaluated, and start the streaming methods */
static void
message_start(struct session *s)
{
	if (s->started)
		return;
	s->started = 1;
	s->skip = s->trusted ||
	    (s->auth_user[0] != '\0' && s->cfg->skip_authenticated);
	/* libopendkim fetches keys as soon as the headers are complete, and
	 * waits for them there: those lookups get the budget from here; the
	 * end of the message gets what they left of it */
	deadline_in(&s->deadline, s->cfg->policy_dns_budget_ms);
	if (s->skip)
		return;
	for (size_t i = 0; i < NMETHODS; i++)
		if (methods[i]->start != NULL)
			s->state[i] = methods[i]->start(s);
}

/* ar_forged - remember the index of a forged Authentication-Results to
 * delete; no table size limits how many */
static void
ar_forged(struct session *s, unsigned index)
{
	s->ar_delete = arena_grow(s->arena, s->ar_delete, s->nar_delete,
	    &s->cap_ar_delete, sizeof(*s->ar_delete), 16);
	s->ar_delete[s->nar_delete++] = index;
}

/* inspect_header - what every header field gets, within the limits or past
 * them, at constant memory but for the deletions: From fields counted (the
 * first one's value kept: kept, the session's copy; NULL past the limits),
 * forged Authentication-Results of ours noted */
static void
inspect_header(struct session *s, const char *fname, const char *value,
    const char *kept)
{
	if (strcasecmp(fname, "From") == 0 && s->nfrom++ == 0)
		s->from_value = kept != NULL ? kept :
		    arena_strdup(s->arena, value);
	if (strcasecmp(fname, AR_NAME) == 0) {
		char id[256];

		s->nar++;
		/* RFC 8601 section 5: a header claiming to be ours that we did
		 * not write is a forgery; it is removed before ours is added */
		if (authres_authserv_id(value, id, sizeof(id)) == 0 &&
		    strcasecmp(id, s->cfg->authserv_id) == 0)
			ar_forged(s, s->nar);
	}
}

int
session_header(struct session *s, const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value), namelen = strlen(name);
	char fname[128];
	int over;

	/* RFC 5322 4.5.3: "From :" is a From field, whatever white space
	 * the MTA leaves at the end of the name (Postfix strips it) */
	while (namelen > 0 && (name[namelen - 1] == ' ' ||
	    name[namelen - 1] == '\t'))
		namelen--;
	if (namelen >= sizeof(fname))
		namelen = sizeof(fname) - 1; /* no name we look for is as long */
	memcpy(fname, name, namelen);
	fname[namelen] = '\0';
	message_start(s); /* at the first header the client is known */
	over = s->hdr_overflow || s->nhdrs >= SESSION_MAX_HEADERS ||
	    n > SESSION_MAX_HEADER_BYTES - s->hdr_bytes;
	if (over) {
		/* past the limits nothing more is kept or verified, but
		 * every field is still looked at; the message gets the
		 * policy.on_oversize action at its end */
		s->hdr_overflow = 1;
		inspect_header(s, fname, value, NULL);
		return -1;
	}
	s->hdrs = arena_grow(s->arena, s->hdrs, s->nhdrs, &s->cap_hdrs,
	    sizeof(*s->hdrs), 32);
	s->hdrs[s->nhdrs].name = arena_strdup(s->arena, fname);
	s->hdrs[s->nhdrs].value = arena_strdup(s->arena, value);
	s->nhdrs++;
	s->hdr_bytes += n;

	for (size_t i = 0; i < NMETHODS; i++)
		if (s->state[i] != NULL && methods[i]->header != NULL)
			methods[i]->header(s->state[i], name, value);
	inspect_header(s, fname, value, s->hdrs[s->nhdrs - 1].value);
	return 0;
}

void
session_eoh(struct session *s)
{
	struct timespec t0, t1;

	message_start(s);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < NMETHODS; i++)
		if (s->state[i] != NULL && methods[i]->eoh != NULL)
			methods[i]->eoh(s->state[i]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s->eoh_us = elapsed_us(&t0, &t1);
}

void
session_body(struct session *s, const unsigned char *p, size_t len)
{
	s->body_bytes += len;
	for (size_t i = 0; i < NMETHODS; i++)
		if (s->state[i] != NULL && methods[i]->body != NULL)
			methods[i]->body(s->state[i], p, len);
}

/* find_authors - the author domains from the From fields (all of them
 * are counted, past the header limits too); no DNS */
static void
find_authors(struct session *s)
{
	struct mailaddr_authors *au;
	const char **doms;

	s->nauthors = 0;
	s->authors = NULL;
	s->from_error = NULL;
	if (s->nfrom == 0) {
		s->from_status = MAILADDR_NONE;
	} else if (s->nfrom > 1) {
		/* RFC 5322 3.6: one From field; several stay an error */
		s->from_status = MAILADDR_MULTIPLE;
	} else {
		au = arena_alloc(s->arena, sizeof(*au));
		s->from_status = mailaddr_from_domains(s->from_value, au);
		if (s->from_status == MAILADDR_OK) {
			doms = arena_alloc(s->arena, au->n * sizeof(*doms));
			for (size_t i = 0; i < au->n; i++)
				doms[i] = arena_strdup(s->arena, au->domain[i]);
			s->authors = doms;
			s->nauthors = au->n;
			return;
		}
	}
	switch (s->from_status) {
	case MAILADDR_NONE:
		s->from_error = s->nfrom == 0 ? "the message has no From header" :
		    "the From header has no address";
		break;
	case MAILADDR_MULTIPLE:
		s->from_error = s->nfrom > 1 ?
		    "the message has several From headers" :
		    "the From header has several addresses";
		break;
	case MAILADDR_NO_DOMAIN:
		s->from_error = "the From address has no domain";
		break;
	case MAILADDR_TOO_MANY:
		s->from_error = arena_printf(s->arena, "the From header names "
		    "more than %d author domains", MAILADDR_MAX_AUTHORS);
		break;
	default:
		s->from_error = "the From header cannot be parsed";
		break;
	}
}

const struct session_verdict *
session_eom(struct session *s)
{
	struct session_verdict *v = &s->verdict;
	struct policy_decision *d = &s->decision;
	struct policy_input in;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(v, 0, sizeof(*v));
	memset(&in, 0, sizeof(in));
	message_start(s);
	results_init(&s->results, s->arena);
	in.results = &s->results;
	s->nauthors = 0;
	if (s->trusted) {
		/* trusted hosts (a content filter re-injecting, local
		 * submission) keep their headers: they may carry ours */
		in.skipped = "trusted network";
	} else {
		v->ar_delete = s->ar_delete;
		v->nar_delete = s->nar_delete;
		if (s->skip)
			in.skipped = "authenticated";
	}
	if (in.skipped == NULL) {
		find_authors(s);
		if (s->hdr_overflow) {
			/* every field was looked at for From and forgeries,
			 * but DKIM would rest on fields it never saw: a From
			 * that is wrong whatever the rest says (none, several,
			 * unparseable: every field was counted) is all that
			 * is evaluated; no author to report either */
			if (s->cfg->dmarc_enable && s->from_status != MAILADDR_OK)
				session_dmarc_from_error(s, &s->results);
			s->nauthors = 0;
			in.oversize = arena_printf(s->arena, "more than %d "
			    "header fields or %d bytes of them",
			    SESSION_MAX_HEADERS, SESSION_MAX_HEADER_BYTES);
		} else {
			/* one DNS budget for the message, counted in time
			 * the MTA waits for us: what the key lookups at the
			 * end of the headers left of it starts now, so every
			 * lookup below ends by it, well inside the MTA's
			 * milter timeouts (the body's transfer in between
			 * is not ours to count) */
			long left = (long)s->cfg->policy_dns_budget_ms -
			    (long)(s->eoh_us / 1000);

			deadline_in(&s->deadline, left > 0 ? (unsigned)left : 0);
			for (size_t i = 0; i < NMETHODS; i++)
				if (methods[i]->eom != NULL)
					methods[i]->eom(s, s->state[i],
					    &s->results);
		}
	}
	policy_decide(&in, s->cfg, s->arena, d);
	note_overrides(s, d);
	v->action = (enum session_action)d->action;
	v->smtp_rcode = d->smtp_rcode;
	v->smtp_xcode = d->smtp_xcode;
	v->smtp_text = d->smtp_text;
	v->quarantine_reason = d->quarantine_reason;
	v->reason = d->reason;
	v->skipped = in.skipped;
	v->results = &s->results;
	if (in.skipped == NULL && in.oversize == NULL) {
		v->authres = session_render_authres(s);
		session_arc_seal(s, v);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	session_metrics_count(s, v, d, s->eoh_us + elapsed_us(&t0, &t1));
	/* after the verdict: the writer's queue takes a copy and returns */
	session_report_submit(s);
	return v;
}

void
session_reset(struct session *s)
{
	arena_free(&s->arena);
	s->arena = arena_new();
	s->queue_id[0] = '\0';
	s->mail_from = NULL;
	s->nrcpt = 0;
	s->rcpt_domain = NULL;
	s->hdrs = NULL;
	s->nhdrs = s->cap_hdrs = s->hdr_bytes = 0;
	s->hdr_overflow = 0;
	s->body_bytes = 0;
	s->nar = 0;
	s->ar_delete = NULL;
	s->nar_delete = s->cap_ar_delete = 0;
	s->started = 0;
	s->eoh_us = 0;
	s->nfrom = 0;
	s->from_value = NULL;
	s->skip = 0;
	methods_done(s);
	s->from_status = MAILADDR_OK;
	s->from_error = NULL;
	s->authors = NULL;
	s->nauthors = 0;
	memset(&s->results, 0, sizeof(s->results));
	memset(&s->decision, 0, sizeof(s->decision));
	memset(&s->verdict, 0, sizeof(s->verdict));
}

const char *
session_action_name(enum session_action a)
{
	return policy_action_name((enum policy_action)a);
}
