/*
 * env.c - what the whole process shares (see session.h): the one place
 * where settings become the resolver and the method contexts.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dkim.h"
#include "dmarc.h"
#include "dns.h"
#include "psl.h"
#include "session_impl.h"
#include "settings.h"
#include "spf.h"
#include "stats.h"
#include "util.h"

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
	struct psl *psl;

	/* the discovery is the one of the start; the tree walk reads no list */
	if (dmarc_checker_discovery(env->dmarc) != DMARC_DISCOVERY_PSL)
		return 0;
	if ((psl = psl_load(cfg->dmarc_psl_file, err, errlen)) == NULL)
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
