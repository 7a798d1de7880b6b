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
#include "dkim_key.h"
#include "dns.h"
#include "psl.h"
#include "session.h"
#include "settings.h"
#include "util.h"

#define AR_NAME "Authentication-Results"

struct hdr {
	const char *name;
	const char *value;
};

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
	struct dkv_msg *dkim;  /* NULL until the first header, or when off */
	int skip;               /* trusted or authenticated: no evaluation */
	int started;            /* message_start() ran for this message */
	struct timespec deadline; /* where the DNS budget ends (see spend) */
	long eoh_ms;            /* spent waiting at the end of the headers */
	unsigned *ar_delete;    /* forged ones of ours, however many (arena) */
	size_t nar_delete, cap_ar_delete;
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
	dkv_msg_free(&s->dkim);
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
	if (!s->skip && s->cfg->dkim_enable && s->env->dkim != NULL)
		s->dkim = dkv_msg_new(s->env->dkim, &s->deadline);
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

	if (s->dkim != NULL)
		dkv_msg_header(s->dkim, name, value);
	inspect_header(s, fname, value, s->hdrs[s->nhdrs - 1].value);
	return 0;
}

void
session_eoh(struct session *s)
{
	message_start(s);
	if (s->dkim != NULL) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		dkv_msg_eoh(s->dkim);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		s->eoh_ms = (long)(t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	}
}

void
session_body(struct session *s, const unsigned char *p, size_t len)
{
	s->body_bytes += len;
	if (s->dkim != NULL)
		dkv_msg_body(s->dkim, p, len);
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
	const struct settings *cfg = s->cfg;
	int null_sender = s->mail_from == NULL || s->mail_from[0] == '\0';

	if (!cfg->spf_enable || s->env->spf == NULL || s->client_ip[0] == '\0')
		return;
	if (!null_sender) {
		spf_check_until(s->env->spf, s->client_ip, s->mail_from, s->helo,
		    &s->deadline, &v->spf_mailfrom);
		v->spf_mailfrom_done = 1;
	}
	/* RFC 7208 2.3: the HELO identity is checked always when MAIL FROM is
	 * null (the identity is then postmaster@HELO), optionally otherwise.
	 * For the null sender a HELO that is no domain (an address literal, a
	 * single label) is still checked: its result is none (4.3), and the
	 * header says so instead of saying nothing about SPF. */
	if (null_sender || (cfg->spf_helo && helo_checkable(s->helo))) {
		spf_check_until(s->env->spf, s->client_ip, NULL, s->helo,
		    &s->deadline, &v->spf_helo);
		v->spf_helo_done = 1;
	}
}

static void
run_dkim(struct session *s, struct session_verdict *v)
{
	if (s->dkim == NULL)
		return;
	dkv_msg_eom(s->dkim, &v->dkim, &v->ndkim);
	v->dkim_done = 1;
}

/* dmarc_rank - how strongly an author domain's evaluation weighs on the
 * action (RFC 7489 6.6.1: the strictest policy among the checks that fail):
 * a final reject, a final quarantine, a temporary error that could change
 * the outcome, a failure with p=none, a pass, no policy */
static int
dmarc_rank(const struct dmarc_outcome *o)
{
	int temp = o->result == DMARC_RES_TEMPERROR ||
	    (o->result == DMARC_RES_FAIL && o->temp_aligned);

	if (o->result == DMARC_RES_FAIL && !temp)
		return o->disposition == DMARC_POLICY_REJECT ? 6 :
		    o->disposition == DMARC_POLICY_QUARANTINE ? 5 : 3;
	if (temp)
		return 4;
	return o->result == DMARC_RES_PASS ? 2 : 1;
}

/* find_authors - the author domains from the From fields (all of them
 * are counted, past the header limits too), into v; no DNS */
static void
find_authors(struct session *s, struct session_verdict *v)
{
	struct mailaddr_authors *au;
	const char **doms;

	v->nfrom = s->nfrom;
	if (s->nfrom == 0) {
		v->from_status = MAILADDR_NONE;
		return;
	}
	if (s->nfrom > 1) {
		/* RFC 5322 3.6: one From field; several stay an error */
		v->from_status = MAILADDR_MULTIPLE;
		return;
	}
	au = arena_alloc(s->arena, sizeof(*au));
	v->from_status = mailaddr_from_domains(s->from_value, au);
	if (v->from_status != MAILADDR_OK)
		return;
	doms = arena_alloc(s->arena, au->n * sizeof(*doms));
	for (size_t i = 0; i < au->n; i++)
		doms[i] = arena_strdup(s->arena, au->domain[i]);
	v->author_domains = doms;
	v->nauthors = au->n;
	v->from_domain = doms[0];
}

static void
run_dmarc(struct session *s, struct session_verdict *v)
{
	const char *const *doms;
	struct dmarc_outcome *outs;
	struct dmarc_dkim *ids;
	struct dmarc_input in;
	const char *at;
	size_t pick = 0;

	find_authors(s, v);
	if (v->from_status != MAILADDR_OK || !s->cfg->dmarc_enable)
		return;
	doms = v->author_domains;

	memset(&in, 0, sizeof(in));
	at = s->mail_from ? strrchr(s->mail_from, '@') : NULL;
	if (v->spf_mailfrom_done) {
		in.spf_domain = at != NULL && at[1] != '\0' ? at + 1 : NULL;
		in.spf_pass = v->spf_mailfrom.result == SPF_RESULT_PASS;
		in.spf_temperror = v->spf_mailfrom.result == SPF_RESULT_TEMPERROR;
	} else if (v->spf_helo_done) {
		/* the null sender: RFC 7208 2.4 makes postmaster@HELO the MAIL
		 * FROM identity, which is the one DMARC uses (RFC 7489 4.1) */
		in.spf_domain = s->helo;
		in.spf_pass = v->spf_helo.result == SPF_RESULT_PASS;
		in.spf_temperror = v->spf_helo.result == SPF_RESULT_TEMPERROR;
	}
	/* every signature counts, however many dkim.max_signatures allows */
	ids = arena_alloc(s->arena, (v->ndkim ? v->ndkim : 1) * sizeof(*ids));
	for (size_t i = 0; i < v->ndkim; i++) {
		ids[i].domain = v->dkim[i].domain;
		ids[i].pass = v->dkim[i].result == DKV_RES_PASS;
		ids[i].temperror = v->dkim[i].result == DKV_RES_TEMPERROR;
	}
	in.dkim = ids;
	in.ndkim = v->ndkim;
	outs = arena_alloc(s->arena, v->nauthors * sizeof(*outs));
	for (size_t i = 0; i < v->nauthors; i++) {
		in.from_domain = doms[i];
		/* RFC 7489 6.6.4: pct is a sample of messages: our own coin */
		dmarc_evaluate(s->env->dmarc, &in, arc4random_uniform(100),
		    &s->deadline, &outs[i]);
		if (dmarc_rank(&outs[i]) > dmarc_rank(&outs[pick]))
			pick = i;
	}
	v->author_dmarc = outs;
	v->dmarc = outs[pick];
	v->from_domain = doms[pick];
	v->dmarc_done = 1;
}

/* never_reject - whether the author domain (or a parent of it) is on the
 * list of domains never rejected */
static int
never_reject(const struct settings *cfg, const char *domain)
{
	size_t dl = domain ? strlen(domain) : 0;

	for (size_t i = 0; i < cfg->policy_nnever_reject; i++) {
		const char *d = cfg->policy_never_reject[i];
		size_t n = strlen(d);

		if (dl == n && strcasecmp(domain, d) == 0)
			return 1;
		if (dl > n && domain[dl - n - 1] == '.' &&
		    strcasecmp(domain + dl - n, d) == 0)
			return 1;
	}
	return 0;
}

/* temp_relevant - a temporary DNS error that could change the outcome:
 * the DMARC record lookup itself, or, on a failure, the check of an
 * identifier that would have aligned (an unaligned one cannot matter) */
static int
temp_relevant(const struct session_verdict *v)
{
	return v->dmarc.result == DMARC_RES_TEMPERROR ||
	    (v->dmarc.result == DMARC_RES_FAIL && v->dmarc.temp_aligned);
}

static void
set_reply(struct session *s, struct session_verdict *v, enum session_action a,
    const char *rcode, const char *xcode, const char *text)
{
	char *t = arena_strdup(s->arena, text);

	/* libmilter takes the text as a format: no '%', no line breaks */
	for (char *p = t; *p; p++)
		if (*p == '%' || *p == '\r' || *p == '\n')
			*p = ' ';
	v->action = a;
	v->smtp_rcode = rcode;
	v->smtp_xcode = xcode;
	v->smtp_text = t;
}

/* decide - the action from the results, the config and the client */
static void
decide(struct session *s, struct session_verdict *v)
{
	const struct settings *cfg = s->cfg;
	int enforce = cfg->policy_mode == POLICY_ENFORCE;
	const struct dmarc_outcome *d = &v->dmarc;

	v->action = SESSION_ACCEPT;
	if (cfg->dmarc_enable && v->from_status != MAILADDR_OK) {
		const char *why;

		switch (v->from_status) {
		case MAILADDR_NONE:
			why = v->nfrom == 0 ? "the message has no From header" :
			    "the From header has no address";
			break;
		case MAILADDR_MULTIPLE:
			why = v->nfrom > 1 ? "the message has several From headers" :
			    "the From header has several addresses";
			break;
		case MAILADDR_NO_DOMAIN:
			why = "the From address has no domain";
			break;
		case MAILADDR_TOO_MANY:
			why = arena_printf(s->arena, "the From header names "
			    "more than %d author domains", MAILADDR_MAX_AUTHORS);
			break;
		default:
			why = "the From header cannot be parsed";
			break;
		}
		v->reason = why;
		if (enforce && cfg->policy_on_from_error == FROM_ERROR_REJECT)
			set_reply(s, v, SESSION_REJECT, "550", "5.7.1",
			    arena_printf(s->arena, "Rejected: %s (RFC 5322 3.6 "
			    "requires exactly one author for DMARC)", why));
		return;
	}
	if (!v->dmarc_done)
		return;
	if (temp_relevant(v)) {
		v->reason = "temporary DNS error";
		if (enforce && cfg->policy_on_temperror == TEMPERROR_TEMPFAIL)
			set_reply(s, v, SESSION_TEMPFAIL, "451", "4.7.5",
			    arena_printf(s->arena, "Cannot check DMARC for %s now: "
			    "temporary DNS error, try again later", v->from_domain));
		return;
	}
	if (d->result != DMARC_RES_FAIL)
		return;
	if (d->disposition == DMARC_POLICY_REJECT) {
		v->reason = "DMARC policy reject";
		if (!enforce || never_reject(cfg, v->from_domain))
			return;
		set_reply(s, v, SESSION_REJECT, "550", "5.7.1",
		    arena_printf(s->arena, "Rejected by the DMARC policy of %s: %s",
		    d->policy_domain[0] ? d->policy_domain : v->from_domain,
		    d->reason[0] ? d->reason : "no aligned SPF or DKIM pass"));
	} else if (d->disposition == DMARC_POLICY_QUARANTINE) {
		v->reason = "DMARC policy quarantine";
		if (!enforce || cfg->policy_quarantine != QUARANTINE_HOLD)
			return;
		v->action = SESSION_QUARANTINE;
		v->quarantine_reason = arena_printf(s->arena,
		    "DMARC policy of %s: %s", d->policy_domain[0] ?
		    d->policy_domain : v->from_domain, d->reason);
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
add_dkim_result(struct session *s, struct authres *ar, const struct dkv_result *d)
{
	struct authres_result *r;
	const char *comment = d->reason[0] ? d->reason : NULL;

	if (d->result == DKV_RES_PASS && d->key_bits > 0)
		comment = strcmp(d->algorithm, "ed25519-sha256") == 0 ?
		    "ed25519 key" : arena_printf(s->arena, "%u-bit key", d->key_bits);
	r = authres_add(ar, "dkim", dkv_res_name(d->result), comment);
	if (r == NULL)
		return;
	if (d->domain[0])
		authres_add_prop(r, "header", "d", d->domain);
	if (d->identity[0])
		authres_add_prop(r, "header", "i", d->identity);
	if (d->selector[0])
		authres_add_prop(r, "header", "s", d->selector);
	if (d->algorithm[0])
		authres_add_prop(r, "header", "a", d->algorithm);
	if (d->b[0])
		authres_add_prop(r, "header", "b", d->b);
}

static void
add_dmarc_one(struct session *s, struct authres *ar,
    const struct dmarc_outcome *d, const char *domain)
{
	struct authres_result *r;
	const char *comment;

	if (d->result == DMARC_RES_PASS || d->result == DMARC_RES_FAIL)
		comment = arena_printf(s->arena, "p=%s dis=%s",
		    dmarc_policy_name(d->policy), dmarc_policy_name(d->disposition));
	else
		comment = d->reason[0] ? d->reason : NULL;
	r = authres_add(ar, "dmarc", dmarc_res_name(d->result), comment);
	if (r != NULL)
		authres_add_prop(r, "header", "from", domain);
}

/* add_dmarc_result - one dmarc= per author domain (RFC 7489 6.6.1) */
static void
add_dmarc_result(struct session *s, struct authres *ar,
    const struct session_verdict *v)
{
	if (v->from_status != MAILADDR_OK) {
		authres_add(ar, "dmarc", "permerror", v->reason);
		return;
	}
	for (size_t i = 0; i < v->nauthors; i++)
		add_dmarc_one(s, ar, &v->author_dmarc[i], v->author_domains[i]);
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
	if (v->dkim_done && v->ndkim == 0)
		authres_add(ar, "dkim", "none", NULL);
	for (size_t i = 0; i < v->ndkim; i++)
		add_dkim_result(s, ar, &v->dkim[i]);
	if (s->cfg->dmarc_enable && (v->dmarc_done || v->from_status != MAILADDR_OK))
		add_dmarc_result(s, ar, v);
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
	message_start(s);
	if (s->trusted) {
		/* trusted hosts (a content filter re-injecting, local
		 * submission) keep their headers: they may carry ours */
		v->skipped = "trusted network";
		return v;
	}
	v->ar_delete = s->ar_delete;
	v->nar_delete = s->nar_delete;
	if (s->skip) {
		v->skipped = "authenticated";
		return v;
	}
	if (s->hdr_overflow) {
		/* every field was looked at for From and forgeries, but DKIM
		 * would rest on fields it never saw: policy.on_oversize, in
		 * report-only mode too (a limit of ours, not a DMARC verdict).
		 * A From that is wrong whatever the rest says (none, several,
		 * unparseable: every field was counted) keeps its own answer. */
		find_authors(s, v);
		if (s->cfg->dmarc_enable && v->from_status != MAILADDR_OK) {
			decide(s, v);
			if (v->action == SESSION_REJECT)
				return v;
		}
		/* nothing was evaluated: no author to report either */
		v->from_domain = NULL;
		v->nauthors = 0;
		v->reason = arena_printf(s->arena, "more than %d header fields "
		    "or %d bytes of them", SESSION_MAX_HEADERS,
		    SESSION_MAX_HEADER_BYTES);
		if (s->cfg->policy_on_oversize == OVERSIZE_REJECT)
			set_reply(s, v, SESSION_REJECT, "552", "5.3.4",
			    "Message header too large for authmilter to check");
		else
			set_reply(s, v, SESSION_TEMPFAIL, "451", "4.7.0",
			    "Message header too large for authmilter to check "
			    "now");
		return v;
	}
	/* one DNS budget for the message, counted in time the MTA waits for
	 * us: what the key lookups at the end of the headers left of it
	 * starts now, so every lookup below ends by it, well inside the
	 * MTA's milter timeouts (the body's transfer in between is not ours
	 * to count) */
	{
		long left = (long)s->cfg->policy_dns_budget_ms - s->eoh_ms;

		deadline_in(&s->deadline, left > 0 ? (unsigned)left : 0);
	}
	run_spf(s, v);
	run_dkim(s, v);
	run_dmarc(s, v);
	decide(s, v);
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
	struct dynbuf b;
	char *line;

	dynbuf_init(&b, sizeof(s->log_line) - 1);
	dynbuf_printf(&b, "qid=%s client=%s helo=%s from=%s",
	    s->queue_id[0] ? s->queue_id : "-",
	    s->client_ip[0] ? s->client_ip : "-", log_value(a, s->helo),
	    log_value(a, s->mail_from ? s->mail_from : ""));
	if (v->skipped)
		dynbuf_printf(&b, " skipped=%s", log_value(a, v->skipped));
	if (v->spf_mailfrom_done || v->spf_helo_done)
		dynbuf_printf(&b, " spf=%s spf_helo=%s",
		    v->spf_mailfrom_done ? spf_result_name(v->spf_mailfrom.result) : "-",
		    v->spf_helo_done ? spf_result_name(v->spf_helo.result) : "-");
	if (v->dkim_done) {
		dynbuf_puts(&b, " dkim=");
		if (v->ndkim == 0)
			dynbuf_puts(&b, "none");
		for (size_t i = 0; i < v->ndkim; i++)
			dynbuf_printf(&b, "%s%s:%s", i ? "," : "",
			    dkv_res_name(v->dkim[i].result),
			    log_value(a, v->dkim[i].domain));
	}
	if (v->nauthors > 1) {
		/* every author domain; dmarc= below is the one acted on */
		dynbuf_puts(&b, " header_from=");
		for (size_t i = 0; i < v->nauthors; i++)
			dynbuf_printf(&b, "%s%s", i ? "," : "",
			    log_value(a, v->author_domains[i]));
		if (v->dmarc_done) {
			dynbuf_puts(&b, " dmarc_authors=");
			for (size_t i = 0; i < v->nauthors; i++)
				dynbuf_printf(&b, "%s%s:%s", i ? "," : "",
				    dmarc_res_name(v->author_dmarc[i].result),
				    log_value(a, v->author_domains[i]));
		}
		dynbuf_printf(&b, " acted_on=%s", log_value(a, v->from_domain));
	} else if (v->from_domain) {
		dynbuf_printf(&b, " header_from=%s", log_value(a, v->from_domain));
	}
	if (v->dmarc_done)
		dynbuf_printf(&b, " dmarc=%s policy=%s dis=%s",
		    dmarc_res_name(v->dmarc.result),
		    dmarc_policy_name(v->dmarc.policy),
		    dmarc_policy_name(v->dmarc.disposition));
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
	dkv_msg_free(&s->dkim);
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
