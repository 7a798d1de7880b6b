/*
 * session.c - one connection and its messages (see session.h).
 *
 * Facts arrive in SMTP order; session_eom() runs the methods and builds
 * the verdict. Everything per message lives in s->arena, released by
 * session_reset(). Connection facts (client, HELO, authentication) are
 * kept in fixed buffers so they survive the reset.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authres.h"
#include "cidr.h"
#include "deadline.h"
#include "dkim.h"
#include "dkim_key.h"
#include "dmarc.h"
#include "dns.h"
#include "mailaddr.h"
#include "psl.h"
#include "session.h"
#include "settings.h"
#include "spf.h"
#include "util.h"

#define AR_NAME "Authentication-Results"

struct hdr {
	const char *name;
	const char *value;
};

struct session;

/* session_method - one authentication method as the session runs it.
 * Every hook may be NULL. start() runs at the first header of a message
 * that is evaluated and returns the method's state for the message (NULL:
 * nothing to stream); header(), eoh() and body() get the message as it
 * arrives, when there is state; eom() adds the method's results to the
 * list (state may be NULL); done() frees the state. */
struct session_method {
	const char *name;
	void *(*start)(struct session *s);
	void (*header)(void *st, const char *name, const char *value);
	void (*eoh)(void *st);
	void (*body)(void *st, const unsigned char *p, size_t len);
	void (*eom)(struct session *s, void *st, struct results *rs);
	void (*done)(void *st);
};

static const struct session_method method_spf, method_dkim, method_dmarc;

/* the methods, in the order their results go into the header: DMARC
 * reads what SPF and DKIM found. A new method is a module of its own, a
 * struct session_method and one line here. */
static const struct session_method *const methods[] = {
	&method_spf,
	&method_dkim,
	&method_dmarc,
};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

struct session {
	const struct session_env *env;
	struct settings *cfg;

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
	unsigned nfrom;         /* From header fields seen */
	const char *from_value; /* the first one's value */
	void *state[NMETHODS];  /* each method's, while the message runs */
	int skip;               /* trusted or authenticated: no evaluation */
	int started;            /* message_start() ran for this message */
	struct timespec deadline; /* where the DNS budget ends (see spend) */
	long eoh_ms;            /* spent waiting at the end of the headers */
	unsigned *ar_delete;    /* forged ones of ours, however many (arena) */
	size_t nar_delete, cap_ar_delete;

	/* the author domains (RFC 7489 6.6.1), found at the end of message */
	enum mailaddr_status from_status;
	const char *from_error;   /* why from_status is not OK, in words */
	const char *const *authors; /* nauthors, when from_status is OK */
	size_t nauthors;

	/* the evaluation */
	struct results results;
	struct policy_decision decision;
	struct session_verdict verdict;
	char log_line[1024];
};

struct session_env *
session_env_open(const struct settings *cfg, char *err, size_t errlen)
{
	struct session_env *env = xcalloc(1, sizeof(*env));
	struct dns_unbound_opts o;
	struct psl *psl;

	memset(&o, 0, sizeof(o));
	o.forwarders = (const char *const *)cfg->dns_nameservers;
	o.nforwarders = cfg->dns_nnameservers;
	o.timeout_ms = cfg->dns_timeout_ms;
	o.transparent_zones = (const char *const *)cfg->dns_transparent_zones;
	o.ntransparent = cfg->dns_ntransparent;
	o.trust_anchor_file = cfg->dns_trust_anchor;
	env->dns = dns_unbound_new(&o, err, errlen);
	if (env->dns == NULL)
		goto fail;
	if (cfg->dns_cache_entries > 0) {
		struct dns_cache_opts co = {
			.max_entries = cfg->dns_cache_entries,
			/* about 800 bytes an answer with its packet; at
			 * least 64 KB, or small settings would keep nothing
			 * (an answer over an eighth of it is not kept) */
			.max_bytes = cfg->dns_cache_entries < 64 ? 64 * 1024 :
			    (size_t)cfg->dns_cache_entries * 1024,
		};

		env->dns = dns_cache_new(env->dns, &co);
		env->dns_cached = 1;
	}
	/* made even when a method is off: a reload may switch it on */
	env->spf = spf_checker_new(env->dns, cfg->authserv_id, err, errlen);
	if (env->spf == NULL)
		goto fail;
	if (cfg->dkim_enable) {
		struct dkv_opts d = {
			.max_signatures = cfg->dkim_max_signatures,
			.min_rsa_bits = cfg->dkim_min_key_bits,
			.timeout_ms = cfg->dns_timeout_ms,
		};

		env->dkim = dkv_verifier_new(env->dns, &d, err, errlen);
		if (env->dkim == NULL)
			goto fail;
	}
	psl = psl_load(cfg->dmarc_psl_file, err, errlen);
	if (psl == NULL)
		goto fail;
	env->dmarc = dmarc_checker_new(env->dns, psl, err, errlen);
	psl_unref(&psl);
	if (env->dmarc == NULL)
		goto fail;
	return env;
fail:
	session_env_close(&env);
	return NULL;
}

void
session_env_stats(const struct session_env *env, char *buf, size_t len)
{
	struct dns_cache_stats d;
	struct dkv_key_stats k;

	memset(&d, 0, sizeof(d));
	if (env->dns_cached)
		dns_cache_get_stats(env->dns, &d);
	dkv_key_cache_stats(&k);
	snprintf(buf, len, "dns_cache_hits=%lu dns_cache_misses=%lu "
	    "dns_cache_entries=%zu dkim_keys_decoded=%lu dkim_keys_reused=%lu",
	    d.hits, d.misses, d.entries, k.misses, k.hits);
}

int
session_env_reload(struct session_env *env, const struct settings *cfg,
    char *err, size_t errlen)
{
	struct psl *psl = psl_load(cfg->dmarc_psl_file, err, errlen);

	if (psl == NULL)
		return -1;
	dmarc_checker_set_psl(env->dmarc, psl);
	psl_unref(&psl);
	return 0;
}

void
session_env_close(struct session_env **ep)
{
	struct session_env *env;

	if (ep == NULL || (env = *ep) == NULL)
		return;
	dmarc_checker_free(&env->dmarc);
	dkv_verifier_free(&env->dkim);
	spf_checker_free(&env->spf);
	dns_resolver_free(&env->dns);
	free(env);
	*ep = NULL;
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
	arena_free(&s->arena);
	settings_unref(&s->cfg);
	free(s);
	*sp = NULL;
}

const struct settings *
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
	if (s->nar_delete == s->cap_ar_delete) {
		size_t cap = s->cap_ar_delete ? s->cap_ar_delete * 2 : 16;
		unsigned *d = arena_alloc(s->arena, cap * sizeof(*d));

		if (s->nar_delete > 0)
			memcpy(d, s->ar_delete, s->nar_delete * sizeof(*d));
		s->ar_delete = d;
		s->cap_ar_delete = cap;
	}
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
	if (s->nhdrs == s->cap_hdrs) {
		size_t cap = s->cap_hdrs ? s->cap_hdrs * 2 : 32;
		struct hdr *h = arena_alloc(s->arena, cap * sizeof(*h));

		if (s->nhdrs > 0)
			memcpy(h, s->hdrs, s->nhdrs * sizeof(*h));
		s->hdrs = h;
		s->cap_hdrs = cap;
	}
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
	s->eoh_ms = (long)(t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
}

void
session_body(struct session *s, const unsigned char *p, size_t len)
{
	s->body_bytes += len;
	for (size_t i = 0; i < NMETHODS; i++)
		if (s->state[i] != NULL && methods[i]->body != NULL)
			methods[i]->body(s->state[i], p, len);
}

/* ---- the methods ------------------------------------------------------ */

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
	struct result *r;

	spf_check_until(s->env->spf, s->client_ip, sender, s->helo,
	    &s->deadline, o);
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

static const struct session_method method_spf = {
	.name = "spf",
	.eom = spf_eom,
};

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

static const struct session_method method_dkim = {
	.name = "dkim",
	.start = dkim_start,
	.header = dkim_header,
	.eoh = dkim_eoh,
	.body = dkim_body,
	.eom = dkim_eom,
	.done = dkim_done,
};

/* dmarc_from_error - the result for a From that names no usable author:
 * permerror, with the reason */
static void
dmarc_from_error(struct session *s, struct results *rs)
{
	struct result *r = results_add(rs, "dmarc", "permerror", s->from_error);

	r->from_error = s->from_status;
}

/* dmarc_input - what SPF and DKIM found, from the list, as DMARC takes it */
static void
dmarc_input(struct session *s, const struct results *rs,
    struct dmarc_input *in)
{
	const struct result *mf = NULL, *helo = NULL, *spf = NULL;
	struct dmarc_dkim *ids;
	size_t n = 0;

	memset(in, 0, sizeof(*in));
	for (const struct result *r = results_next(rs, NULL, "spf"); r != NULL;
	    r = results_next(rs, r, "spf")) {
		if (mf == NULL && results_prop_value(r, "smtp", "mailfrom"))
			mf = r;
		if (helo == NULL && results_prop_value(r, "smtp", "helo"))
			helo = r;
	}
	if (mf != NULL) {
		const char *at = strrchr(results_prop_value(mf, "smtp",
		    "mailfrom"), '@');

		in->spf_domain = at != NULL && at[1] != '\0' ? at + 1 : NULL;
		spf = mf;
	} else if (helo != NULL) {
		/* the null sender: RFC 7208 2.4 makes postmaster@HELO the MAIL
		 * FROM identity, which is the one DMARC uses (RFC 7489 4.1) */
		in->spf_domain = results_prop_value(helo, "smtp", "helo");
		spf = helo;
	}
	if (spf != NULL) {
		in->spf_pass = spf->spf->result == SPF_RESULT_PASS;
		in->spf_temperror = spf->spf->result == SPF_RESULT_TEMPERROR;
	}
	/* every signature counts, however many dkim.max_signatures allows */
	ids = arena_alloc(s->arena, (results_count(rs, "dkim") + 1) *
	    sizeof(*ids));
	for (const struct result *r = results_next(rs, NULL, "dkim"); r != NULL;
	    r = results_next(rs, r, "dkim")) {
		if (r->dkim == NULL)
			continue;
		ids[n].domain = r->dkim->domain;
		ids[n].pass = r->dkim->result == DKV_RES_PASS;
		ids[n].temperror = r->dkim->result == DKV_RES_TEMPERROR;
		n++;
	}
	in->dkim = ids;
	in->ndkim = n;
}

/* dmarc_eom - one result per author domain (RFC 7489 6.6.1), in order of
 * appearance; a From without a usable author is one permerror */
static void
dmarc_eom(struct session *s, void *st, struct results *rs)
{
	struct dmarc_input in;

	(void)st;
	if (!s->cfg->dmarc_enable)
		return;
	if (s->from_status != MAILADDR_OK) {
		dmarc_from_error(s, rs);
		return;
	}
	dmarc_input(s, rs, &in);
	for (size_t i = 0; i < s->nauthors; i++) {
		struct dmarc_outcome *o = arena_alloc(s->arena, sizeof(*o));
		struct result *r;
		const char *reason;

		in.from_domain = s->authors[i];
		/* RFC 7489 6.6.4: pct is a sample of messages: our own coin */
		dmarc_evaluate(s->env->dmarc, &in, arc4random_uniform(100),
		    &s->deadline, o);
		if (o->result == DMARC_RES_PASS || o->result == DMARC_RES_FAIL)
			reason = arena_printf(s->arena, "p=%s dis=%s",
			    dmarc_policy_name(o->policy),
			    dmarc_policy_name(o->disposition));
		else
			reason = o->reason[0] ? o->reason : NULL;
		r = results_add(rs, "dmarc", dmarc_res_name(o->result), reason);
		results_prop(rs, r, "header", "from", s->authors[i], NULL);
		r->dmarc = o;
	}
}

static const struct session_method method_dmarc = {
	.name = "dmarc",
	.eom = dmarc_eom,
};

/* ---- the end of the message ------------------------------------------- */

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

/* build_authres - the header from the results list */
static const char *
build_authres(struct session *s)
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

const struct session_verdict *
session_eom(struct session *s)
{
	struct session_verdict *v = &s->verdict;
	struct policy_decision *d = &s->decision;
	struct policy_input in;

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
				dmarc_from_error(s, &s->results);
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
			    s->eoh_ms;

			deadline_in(&s->deadline, left > 0 ? (unsigned)left : 0);
			for (size_t i = 0; i < NMETHODS; i++)
				if (methods[i]->eom != NULL)
					methods[i]->eom(s, s->state[i],
					    &s->results);
		}
	}
	policy_decide(&in, s->cfg, s->arena, d);
	v->action = (enum session_action)d->action;
	v->smtp_rcode = d->smtp_rcode;
	v->smtp_xcode = d->smtp_xcode;
	v->smtp_text = d->smtp_text;
	v->quarantine_reason = d->quarantine_reason;
	v->reason = d->reason;
	v->skipped = in.skipped;
	v->results = &s->results;
	if (in.skipped == NULL && in.oversize == NULL)
		v->authres = build_authres(s);
	return v;
}

/* ---- the log line ----------------------------------------------------- */

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
	const struct result *acted = s->decision.acted_on;
	const char *spf_mf, *spf_helo, *from_domain;
	struct arena *a = s->arena;
	struct dynbuf b;
	char *line;

	dynbuf_init(&b, sizeof(s->log_line) - 1);
	dynbuf_printf(&b, "qid=%s client=%s helo=%s from=%s",
	    s->queue_id[0] ? s->queue_id : "-",
	    s->client_ip[0] ? s->client_ip : "-", log_value(a, s->helo),
	    log_value(a, s->mail_from ? s->mail_from : ""));
	if (v->skipped)
		dynbuf_printf(&b, " skipped=%s", log_value(a, v->skipped));
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
				    log_value(a, prop_or_empty(r, "header", "d")));
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
			    log_value(a, s->authors[i]));
		if (acted != NULL) {
			const char *sep = "";

			dynbuf_puts(&b, " dmarc_authors=");
			for (const struct result *r = results_next(rs, NULL,
			    "dmarc"); r != NULL; r = results_next(rs, r, "dmarc"))
				if (r->dmarc != NULL) {
					dynbuf_printf(&b, "%s%s:%s", sep,
					    r->result, log_value(a,
					    prop_or_empty(r, "header", "from")));
					sep = ",";
				}
		}
		dynbuf_printf(&b, " acted_on=%s", log_value(a, from_domain));
	} else if (from_domain != NULL) {
		dynbuf_printf(&b, " header_from=%s", log_value(a, from_domain));
	}
	if (acted != NULL)
		dynbuf_printf(&b, " dmarc=%s policy=%s dis=%s", acted->result,
		    dmarc_policy_name(acted->dmarc->policy),
		    dmarc_policy_name(acted->dmarc->disposition));
	if (v->reason)
		dynbuf_printf(&b, " reason=%s", log_value(a, v->reason));
	dynbuf_printf(&b, " ar_removed=%zu action=%s ms=%.1f", v->nar_delete,
	    session_action_name(v->action), ms);
	line = dynbuf_take(&b);
	str_copy(s->log_line, line, sizeof(s->log_line));
	free(line);
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
	s->ar_delete = NULL;
	s->nar_delete = s->cap_ar_delete = 0;
	s->started = 0;
	s->eoh_ms = 0;
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
