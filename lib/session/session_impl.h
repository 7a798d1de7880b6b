/*
 * session_impl.h - inside the session: the state of a connection and its
 * message, shared by session.c (collecting facts, running the methods),
 * method_*.c (one authentication method each) and render.c (the header
 * and the log line). Not for use outside lib/session.
 */
#ifndef AM_SESSION_IMPL_H
#define AM_SESSION_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mailaddr.h"
#include "policy.h"
#include "results.h"
#include "session.h"

struct arena;
struct arc_sealer;

/* session_method - one authentication method as the session runs it.
 * Every hook may be NULL. start() runs at the first header of a message
 * that is evaluated and returns the method's state for the message (NULL:
 * nothing to stream); header(), eoh() and body() get the message as it
 * arrives, when there is state; eom() adds the method's results to the
 * list (st may be NULL), reading what the methods before it added;
 * done() frees the state (end of message or abort). connect() runs when
 * the client address is known (session_connect) and returns the method's
 * state for the connection (NULL: none), which session_method_conn()
 * finds and disconnect() frees (a new address, or session_free()). */
struct session_method {
	const char *name;
	void *(*connect)(struct session *s);
	void (*disconnect)(void *cst);
	void *(*start)(struct session *s);
	void (*header)(void *st, const char *name, const char *value);
	void (*eoh)(void *st);
	void (*body)(void *st, const unsigned char *p, size_t len);
	void (*eom)(struct session *s, void *st, struct results *rs);
	void (*done)(void *st);
};

/* the methods (method_*.c); session.c lists them in header order */
extern const struct session_method session_method_spf;
extern const struct session_method session_method_dkim;
extern const struct session_method session_method_dmarc;
extern const struct session_method session_method_arc;
extern const struct session_method session_method_iprev;

#define SESSION_MAX_METHODS 8

struct session_hdr {
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
	void *conn[SESSION_MAX_METHODS]; /* each method's, for the connection */

	/* message */
	struct arena *arena;
	char queue_id[64];
	char *mail_from;        /* address without <>, "" for null sender, NULL if none */
	unsigned nrcpt;
	const char *rcpt_domain; /* the first RCPT TO's domain (lowercase), or
				  * NULL */
	struct session_hdr *hdrs;
	size_t nhdrs, cap_hdrs, hdr_bytes;
	int hdr_overflow;
	size_t body_bytes;
	unsigned nar;           /* Authentication-Results headers seen */
	unsigned nfrom;         /* From header fields seen */
	const char *from_value; /* the first one's value */
	void *state[SESSION_MAX_METHODS]; /* each method's, while the message runs */
	int skip;               /* trusted or authenticated: no evaluation */
	int started;            /* message_start() ran for this message */
	struct timespec deadline; /* where the DNS budget ends */
	uint64_t eoh_us;        /* spent waiting at the end of the headers */
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

/* session_stats_register - the session's counters into the stats
 * registry (metrics.c; once, however often it is called; session_env_open()
 * calls it) */
void session_stats_register(void);
struct spf_ptr_source;
/* session_iprev_ptr_source - the connection's iprev lookup as SPF's
 * source of validated names (ptr, %{p}): src filled and returned, or NULL
 * when iprev is off or has no lookup (SPF then looks them up itself) */
const struct spf_ptr_source *session_iprev_ptr_source(struct session *s,
    struct spf_ptr_source *src);
/* session_metrics_count - count a finished message: its action, the
 * results its header shows, DKIM keys, DMARC policy and disposition and
 * the overrides (metrics.c) */
void session_metrics_count(const struct session *s,
    const struct session_verdict *v, const struct policy_decision *d,
    uint64_t eval_time_us);

/* session_dmarc_from_error - the dmarc=permerror result for a From that
 * names no usable author (s->from_status, s->from_error) */
void session_dmarc_from_error(struct session *s, struct results *rs);

/* session_report_submit - the message's report records to the
 * process's writer, when there is one (report.c) */
void session_report_submit(struct session *s);

/* session_render_authres - the Authentication-Results value from the
 * results list, folded with "\n\t" (in the message's arena) */
const char *session_render_authres(struct session *s);

/* session_method_state - the method's state for the running message, or
 * NULL */
void *session_method_state(struct session *s, const struct session_method *m);
/* session_method_conn - the method's state for the connection, or NULL */
void *session_method_conn(struct session *s, const struct session_method *m);

/* session_arc_seal - after the decision and the header: the ARC set of
 * arc.seal into the verdict (arc_set, seal_note), when the message is
 * accepted (quarantine included) and sealing is on (method_arc.c) */
void session_arc_seal(struct session *s, struct session_verdict *v);

/* the sealing key of arc.seal, held by a message from its start to its
 * end so a reload cannot free it under the message (env.c) */
struct session_arc_key;
/* session_arc_key_take - a reference to the current key (NULL and *kp
 * NULL when arc.seal is off) */
const struct arc_sealer *session_arc_key_take(const struct session_env *env,
    struct session_arc_key **kp);
void session_arc_key_drop(const struct session_env *env,
    struct session_arc_key **kp);

#endif
