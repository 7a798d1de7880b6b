/*
 * suite-unbound.c - the production DNS path for the conformance suites
 * (see suite-unbound.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"
#include "session.h"
#include "suite-unbound.h"
#include "util.h"

int
suite_fwd_args(int *argcp, char ***argvp, struct suite_fwd *f)
{
	const char *spec, *at;
	unsigned long port;

	memset(f, 0, sizeof(*f));
	if (*argcp < 3 || strcmp((*argvp)[1], "--forward") != 0)
		return 0;
	spec = (*argvp)[2];
	*argcp -= 2;
	*argvp += 2;
	at = strrchr(spec, '@');
	if (at == NULL || at == spec || (size_t)(at - spec) >= sizeof(f->host) ||
	    str_parse_uint(at + 1, 65535, &port) != 0 || port == 0)
		return -1;
	memcpy(f->host, spec, (size_t)(at - spec));
	f->host[at - spec] = '\0';
	f->base = f->next = (unsigned)port;
	return 0;
}

struct session_env *
suite_env_open(struct suite_fwd *f, const char *extra, struct settings **cfgp)
{
	struct session_env *env;
	char err[512], *text;

	if (f->next > 65535) {
		fprintf(stderr, "suite: out of ports (base %u)\n", f->base);
		exit(1);
	}
	text = xasprintf("authserv_id = \"receiver.example.net\";\n"
	    "trusted_networks = [ ];\n"
	    "dns = {\n\tnameservers = [ \"%s@%u\" ];\n\ttimeout_ms = %u;\n};\n"
	    "%s\n", f->host, f->next, SUITE_DNS_TIMEOUT_MS, extra ? extra : "");
	f->next++;
	*cfgp = settings_load_string(text, "suite.conf", err, sizeof(err));
	free(text);
	if (*cfgp == NULL) {
		fprintf(stderr, "suite: config: %s\n", err);
		exit(1);
	}
	env = session_env_open(*cfgp, err, sizeof(err));
	if (env == NULL) {
		fprintf(stderr, "suite: session_env_open: %s\n", err);
		exit(1);
	}
	return env;
}

void
suite_env_close(struct session_env **envp, struct settings **cfgp)
{
	session_env_close(envp);
	settings_unref(cfgp);
}
