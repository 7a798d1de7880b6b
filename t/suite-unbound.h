/*
 * suite-unbound.h - the production DNS path for the conformance suites:
 * a session_env made by session_env_open() (libunbound behind the answer
 * cache) forwarding to one block of t/dnsd.py, which serves block i of
 * its zone files on port BASE+i. Shared by t/spf-suite.c, t/dkim-suite.c
 * and t/dmarc-suite.c (option --forward HOST@BASE).
 */
#ifndef AM_SUITE_UNBOUND_H
#define AM_SUITE_UNBOUND_H

struct settings;
struct session_env;

/* libunbound's per-query timeout in the suites: short, so the cases whose
 * data says TIMEOUT cost little */
#define SUITE_DNS_TIMEOUT_MS 400

struct suite_fwd {
	char host[64];     /* "127.0.0.1"; "" when the option was not given */
	unsigned base;     /* the port of block 0 */
	unsigned next;     /* the block the next suite_env_open() serves from */
};

/* suite_fwd_args - take "--forward HOST@BASE" off the front of the
 * arguments into f (f->host stays "" without it); 0, or -1 when the value
 * is not HOST@PORT */
int suite_fwd_args(int *argcp, char ***argvp, struct suite_fwd *f);

/* suite_env_open - a config and a session_env as the daemon makes them
 * (session_env_open), with nameservers = [ "HOST@PORT" ] for the next
 * block, no trusted networks, authserv_id receiver.example.net and the
 * libconfig text extra appended. Exits on error. */
struct session_env *suite_env_open(struct suite_fwd *f, const char *extra,
    struct settings **cfgp);
/* suite_env_close - free both; sets them to NULL */
void suite_env_close(struct session_env **envp, struct settings **cfgp);

#endif
