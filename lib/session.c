/*
 * session.c - one connection and its messages (see session.h).
 *
 * Facts arrive in SMTP order; session_eom() runs the methods and builds
 * the verdict. Everything per message lives in s->arena, released by
 * session_reset(). Connection facts (client, HELO, authentication) are
 * kept in fixed buffers so they survive the reset.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authres.h"
#include "cidr.h"
#include "config.h"
#include "dns.h"
#include "session.h"
#include "util.h"

#define AR_NAME "Authentication-Results"
#define SESSION_MAX_AR 64 /* forged headers we track for deletion */

struct hdr {
	const char *name;
	const char *value;
};

struct session {
	const struct session_env *env;
	struct am_config *cfg;

	/* connection */
	char client_ip[64];     /* unmapped text, "" if unknown */
	char client_name[256];
	char helo[256];
	char auth_user[256];    /* {auth_authen}, "" if none */
	char daemon_name[64];
	int trusted;            /* client in trusted_networks */

	/* message */
	struct arena *arena;
	char queue_id[64];
	char *mail_from;        /* address without <>, "" for null sender, NULL if none */
	unsigned nrcpt;
	struct hdr *hdrs;
	size_t nhdrs, cap_hdrs, hdr_bytes;
	int hdr_overflow;
	size_t body_bytes;
	unsigned nar;           /* Authentication-Results headers seen */
	unsigned ar_delete[SESSION_MAX_AR];
	size_t nar_delete;
	struct session_verdict verdict;
	char log_line[1024];
};

struct session_env *
session_env_open(const struct am_config *cfg, char *err, size_t errlen)
{
	struct session_env *env = xcalloc(1, sizeof(*env));
	struct dns_unbound_opts o;

	memset(&o, 0, sizeof(o));
	o.forwarders = (const char *const *)cfg->dns_nameservers;
	o.nforwarders = cfg->dns_nnameservers;
	o.timeout_ms = cfg->dns_timeout_ms;
	o.transparent_zones = (const char *const *)cfg->dns_transparent_zones;
	o.ntransparent = cfg->dns_ntransparent;
	o.trust_anchor_file = cfg->dns_trust_anchor;
	env->dns = dns_unbound_new(&o, err, errlen);
	if (env->dns == NULL) {
		free(env);
		return NULL;
	}
	/* made even when SPF is off: a reload may switch it on */
	env->spf = spf_checker_new(env->dns, cfg->authserv_id, err, errlen);
	if (env->spf == NULL) {
		dns_resolver_free(&env->dns);
		free(env);
		return NULL;
	}
	return env;
}

void
session_env_close(struct session_env **ep)
{
	struct session_env *env;

	if (ep == NULL || (env = *ep) == NULL)
		return;
	spf_checker_free(&env->spf);
	dns_resolver_free(&env->dns);
	free(env);
	*ep = NULL;
}

struct session *
session_new(const struct session_env *env, struct am_config *cfg)
{
	struct session *s = xcalloc(1, sizeof(*s));

	s->env = env;
	s->cfg = config_ref(cfg);
	s->arena = arena_new();
	return s;
}

void
session_free(struct session **sp)
{
	struct session *s;

	if (sp == NULL || (s = *sp) == NULL)
		return;
	arena_free(&s->arena);
	config_unref(&s->cfg);
	free(s);
	*sp = NULL;
}

const struct am_config *
session_config(const struct session *s)
{
	return s->cfg;
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
	(void)arg;
	s->nrcpt++;
}

int
session_header(struct session *s, const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value);

	if (s->hdr_overflow || s->nhdrs >= SESSION_MAX_HEADERS ||
	    n > SESSION_MAX_HEADER_BYTES - s->hdr_bytes) {
		s->hdr_overflow = 1;
		return -1;
	}
	if (s->nhdrs == s->cap_hdrs) {
		size_t cap = s->cap_hdrs ? s->cap_hdrs * 2 : 32;
		struct hdr *h = arena_alloc(s->arena, cap * sizeof(*h));

		if (s->nhdrs > 0)
			memcpy(h, s->hdrs, s->nhdrs * sizeof(*h));
		s->hdrs = h;
		s->cap_hdrs = cap;
	}
	s->hdrs[s->nhdrs].name = arena_strdup(s->arena, name);
	s->hdrs[s->nhdrs].value = arena_strdup(s->arena, value);
	s->nhdrs++;
	s->hdr_bytes += n;

	if (strcasecmp(name, AR_NAME) == 0) {
		char id[256];

		s->nar++;
		/* RFC 8601 section 5: a header claiming to be ours that we did
		 * not write is a forgery; it is removed before ours is added */
		if (authres_authserv_id(value, id, sizeof(id)) == 0 &&
		    strcasecmp(id, s->cfg->authserv_id) == 0 &&
		    s->nar_delete < SESSION_MAX_AR)
			s->ar_delete[s->nar_delete++] = s->nar;
	}
	return 0;
}

void
session_eoh(struct session *s)
{
	(void)s;
}

void
session_body(struct session *s, const unsigned char *p, size_t len)
{
	(void)p;
	s->body_bytes += len;
}

/* helo_checkable - whether the HELO name is a domain SPF can evaluate:
 * not empty, not an address literal, at least one dot */
static int
helo_checkable(const char *helo)
{
	return helo[0] != '\0' && helo[0] != '[' && strchr(helo, '.') != NULL &&
	    strchr(helo, ' ') == NULL;
}

static void
run_spf(struct session *s, struct session_verdict *v)
{
	const struct am_config *cfg = s->cfg;
	int null_sender = s->mail_from == NULL || s->mail_from[0] == '\0';

	if (!cfg->spf_enable || s->env->spf == NULL || s->client_ip[0] == '\0')
		return;
	if (!null_sender) {
		spf_check(s->env->spf, s->client_ip, s->mail_from, s->helo,
		    &v->spf_mailfrom);
		v->spf_mailfrom_done = 1;
	}
	/* RFC 7208 2.3: the HELO identity is checked always when MAIL FROM is
	 * null (the identity is then postmaster@HELO), optionally otherwise */
	if ((null_sender || cfg->spf_helo) && helo_checkable(s->helo)) {
		spf_check(s->env->spf, s->client_ip, NULL, s->helo, &v->spf_helo);
		v->spf_helo_done = 1;
	}
}

static void
add_spf_result(struct authres *ar, const struct spf_outcome *o,
    const char *property, const char *value)
{
	struct authres_result *r;

	r = authres_add(ar, "spf", spf_result_name(o->result),
	    o->reason[0] ? o->reason : NULL);
	if (r != NULL)
		authres_add_prop(r, "smtp", property, value);
}

static void
build_authres(struct session *s, struct session_verdict *v)
{
	struct authres *ar = authres_new(s->cfg->authserv_id);
	char *text;

	if (v->spf_mailfrom_done)
		add_spf_result(ar, &v->spf_mailfrom, "mailfrom", s->mail_from);
	if (v->spf_helo_done)
		add_spf_result(ar, &v->spf_helo, "helo", s->helo);
	text = authres_render_lf(ar);
	v->authres = arena_strdup(s->arena, text);
	free(text);
	authres_free(&ar);
}

const struct session_verdict *
session_eom(struct session *s)
{
	struct session_verdict *v = &s->verdict;

	memset(v, 0, sizeof(*v));
	v->action = SESSION_ACCEPT;
	if (s->trusted) {
		/* trusted hosts (a content filter re-injecting, local
		 * submission) keep their headers: they may carry ours */
		v->skipped = "trusted network";
		return v;
	}
	v->ar_delete = s->ar_delete;
	v->nar_delete = s->nar_delete;
	if (s->auth_user[0] != '\0' && s->cfg->skip_authenticated) {
		v->skipped = "authenticated";
		return v;
	}
	run_spf(s, v);
	build_authres(s, v);
	return v;
}

/* log_value - a value for key=value logging: quoted when it has spaces or
 * quotes, control characters replaced */
static const char *
log_value(struct arena *a, const char *v)
{
	size_t n = strlen(v);
	char *out;
	int need = n == 0;

	if (n > 200)
		n = 200;
	for (size_t i = 0; i < n; i++)
		if (v[i] == ' ' || v[i] == '"' || v[i] == '=' || (unsigned char)v[i] < 0x20)
			need = 1;
	if (!need)
		return arena_strndup(a, v, n);
	out = arena_alloc(a, n + 3);
	out[0] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		out[i + 1] = c < 0x20 || c == '"' ? '?' : (char)c;
	}
	out[n + 1] = '"';
	return out;
}

const char *
session_log_line(struct session *s, double ms)
{
	const struct session_verdict *v = &s->verdict;
	struct arena *a = s->arena;
	char spf[128] = "";

	if (v->spf_mailfrom_done || v->spf_helo_done)
		snprintf(spf, sizeof(spf), " spf=%s spf_helo=%s",
		    v->spf_mailfrom_done ? spf_result_name(v->spf_mailfrom.result) : "-",
		    v->spf_helo_done ? spf_result_name(v->spf_helo.result) : "-");
	snprintf(s->log_line, sizeof(s->log_line),
	    "qid=%s client=%s helo=%s from=%s%s%s%s ar_removed=%zu "
	    "action=%s ms=%.1f",
	    s->queue_id[0] ? s->queue_id : "-",
	    s->client_ip[0] ? s->client_ip : "-", log_value(a, s->helo),
	    log_value(a, s->mail_from ? s->mail_from : ""), spf,
	    v->skipped ? " skipped=" : "",
	    v->skipped ? log_value(a, v->skipped) : "", v->nar_delete,
	    session_action_name(v->action), ms);
	return s->log_line;
}

void
session_reset(struct session *s)
{
	arena_free(&s->arena);
	s->arena = arena_new();
	s->queue_id[0] = '\0';
	s->mail_from = NULL;
	s->nrcpt = 0;
	s->hdrs = NULL;
	s->nhdrs = s->cap_hdrs = s->hdr_bytes = 0;
	s->hdr_overflow = 0;
	s->body_bytes = 0;
	s->nar = 0;
	s->nar_delete = 0;
	memset(&s->verdict, 0, sizeof(s->verdict));
}

const char *
session_action_name(enum session_action a)
{
	switch (a) {
	case SESSION_ACCEPT:
		return "accept";
	case SESSION_REJECT:
		return "reject";
	case SESSION_QUARANTINE:
		return "quarantine";
	case SESSION_TEMPFAIL:
		return "tempfail";
	}
	return "accept";
}
