/*
 * env.c - what the whole process shares (see session.h): the one place
 * where settings become the resolver and the method contexts.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arc.h"
#include "dkim.h"
#include "dmarc.h"
#include "dns.h"
#include "psl.h"
#include "session_impl.h"
#include "settings.h"
#include "spf.h"
#include "stats.h"
#include "util.h"

/* the sealer of arc.seal: a reference-counted key, swapped at a reload
 * while messages that took the old one finish with it */
struct session_arc_key {
	struct arc_sealer *sealer;
	char domain[DNAME_BUFSIZE];
	char selector[64];
	char key_file[1024];
	int refs;                    /* under the box's lock */
};

struct session_arc_seal {
	pthread_mutex_t lock;
	struct session_arc_key *cur; /* NULL: no sealing */
};

static void
arc_key_unref(struct session_arc_seal *box, struct session_arc_key **kp)
{
	struct session_arc_key *k = *kp;
	int last;

	*kp = NULL;
	if (k == NULL)
		return;
	pthread_mutex_lock(&box->lock);
	last = --k->refs == 0;
	pthread_mutex_unlock(&box->lock);
	if (last) {
		arc_sealer_free(&k->sealer);
		free(k);
	}
}

/* arc_key_load - arc.seal's key, or NULL with err naming the file; *none
 * set when arc.seal is not configured */
static struct session_arc_key *
arc_key_load(const struct settings *cfg, int *none, char *err, size_t errlen)
{
	struct session_arc_key *k;
	struct arc_sealer *sl;

	*none = cfg->arc_seal_key_file == NULL || cfg->arc_seal_domain == NULL ||
	    cfg->arc_seal_selector == NULL;
	if (*none)
		return NULL;
	sl = arc_sealer_new(cfg->arc_seal_domain, cfg->arc_seal_selector,
	    cfg->arc_seal_key_file, err, errlen);
	if (sl == NULL)
		return NULL;
	k = xcalloc(1, sizeof(*k));
	k->sealer = sl;
	k->refs = 1;
	str_copy(k->domain, cfg->arc_seal_domain, sizeof(k->domain));
	str_copy(k->selector, cfg->arc_seal_selector, sizeof(k->selector));
	str_copy(k->key_file, cfg->arc_seal_key_file, sizeof(k->key_file));
	return k;
}

/* arc_key_swap - k becomes the key new messages take (NULL: none) */
static void
arc_key_swap(struct session_arc_seal *box, struct session_arc_key *k)
{
	struct session_arc_key *old;

	pthread_mutex_lock(&box->lock);
	old = box->cur;
	box->cur = k;
	pthread_mutex_unlock(&box->lock);
	arc_key_unref(box, &old);
}

const struct arc_sealer *
session_arc_key_take(const struct session_env *env,
    struct session_arc_key **kp)
{
	struct session_arc_seal *box = env->arc_seal;

	*kp = NULL;
	if (box == NULL)
		return NULL;
	pthread_mutex_lock(&box->lock);
	if (box->cur != NULL) {
		box->cur->refs++;
		*kp = box->cur;
	}
	pthread_mutex_unlock(&box->lock);
	return *kp != NULL ? (*kp)->sealer : NULL;
}

void
session_arc_key_drop(const struct session_env *env,
    struct session_arc_key **kp)
{
	arc_key_unref(env->arc_seal, kp);
}

void
session_dns_opts(const struct settings *cfg, struct dns_unbound_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->forwarders = (const char *const *)cfg->dns_nameservers;
	o->nforwarders = cfg->dns_nnameservers;
	o->timeout_ms = cfg->dns_timeout_ms;
	o->transparent_zones = (const char *const *)cfg->dns_transparent_zones;
	o->ntransparent = cfg->dns_ntransparent;
	o->trust_anchor_file = cfg->dns_trust_anchor;
}

struct session_env *
session_env_open(const struct settings *cfg, char *err, size_t errlen)
{
	struct session_env *env = xcalloc(1, sizeof(*env));
	struct dns_unbound_opts o;
	struct psl *psl;

	session_dns_opts(cfg, &o);
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
	/* the PSL is read only when it decides (dmarc.discovery = "psl") */
	psl = NULL;
	if (cfg->dmarc_discovery == DISCOVERY_PSL &&
	    (psl = psl_load(cfg->dmarc_psl_file, err, errlen)) == NULL)
		goto fail;
	env->dmarc = dmarc_checker_new(env->dns, psl, err, errlen);
	psl_unref(&psl);
	if (env->dmarc == NULL)
		goto fail;
	dmarc_checker_set_discovery(env->dmarc,
	    cfg->dmarc_discovery == DISCOVERY_PSL ? DMARC_DISCOVERY_PSL :
	    DMARC_DISCOVERY_TREEWALK);
	{
		/* RFC 8301 through dkim.min_key_bits, as for DKIM */
		struct arc_opts ao = { .min_rsa_bits = cfg->dkim_min_key_bits };
		struct session_arc_key *k;
		int none;

		/* made when ARC is on at start, as the DKIM verifier */
		if (cfg->arc_enable &&
		    (env->arc = arc_verifier_new(env->dns, &ao, err,
		    errlen)) == NULL)
			goto fail;
		env->arc_seal = xcalloc(1, sizeof(*env->arc_seal));
		pthread_mutex_init(&env->arc_seal->lock, NULL);
		/* a missing or unreadable key is a start error naming it */
		k = arc_key_load(cfg, &none, err, errlen);
		if (k == NULL && !none)
			goto fail;
		env->arc_seal->cur = k;
	}
	session_stats_register();
	return env;
fail:
	session_env_close(&env);
	return NULL;
}

void
session_env_stats(const struct session_env *env, char *buf, size_t len)
{
	(void)env;
	stats_format(buf, len);
}

int
session_env_reload(struct session_env *env, const struct settings *cfg,
    char *err, size_t errlen)
{
	char why[512];
	struct session_arc_key *k, *old;
	struct psl *psl;
	int rc = 0, none;

	if (errlen > 0)
		err[0] = '\0';
	/* the discovery is the one of the start; the tree walk reads no list */
	if (dmarc_checker_discovery(env->dmarc) == DMARC_DISCOVERY_PSL) {
		if ((psl = psl_load(cfg->dmarc_psl_file, why,
		    sizeof(why))) == NULL) {
			snprintf(err, errlen, "public suffix list kept: %s", why);
			rc = -1;
		} else {
			dmarc_checker_set_psl(env->dmarc, psl);
			psl_unref(&psl);
		}
	}
	/* arc.seal: a bad key keeps the one in use (with its domain and
	 * selector); an environment made by hand (tests) gets its box */
	if (env->arc_seal == NULL) {
		env->arc_seal = xcalloc(1, sizeof(*env->arc_seal));
		pthread_mutex_init(&env->arc_seal->lock, NULL);
	}
	k = arc_key_load(cfg, &none, why, sizeof(why));
	if (k != NULL || none) {
		arc_key_swap(env->arc_seal, k);
	} else {
		size_t used = strlen(err);

		session_arc_key_take(env, &old);
		snprintf(err + used, errlen - used, "%sARC sealing key kept "
		    "(%s): %s", used ? "; " : "", old != NULL ? old->key_file :
		    "none: no sealing", why);
		session_arc_key_drop(env, &old);
		rc = -1;
	}
	return rc;
}

void
session_env_close(struct session_env **ep)
{
	struct session_env *env;

	if (ep == NULL || (env = *ep) == NULL)
		return;
	/* first: what it holds is written while everything else stands */
	session_env_reports_stop(env);
	if (env->arc_seal != NULL) {
		arc_key_swap(env->arc_seal, NULL);
		pthread_mutex_destroy(&env->arc_seal->lock);
		free(env->arc_seal);
	}
	arc_verifier_free(&env->arc);
	dmarc_checker_free(&env->dmarc);
	dkv_verifier_free(&env->dkim);
	spf_checker_free(&env->spf);
	dns_resolver_free(&env->dns);
	free(env);
	*ep = NULL;
}
