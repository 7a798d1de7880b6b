/*
 * session.h - one SMTP connection and its messages, evaluated.
 *
 * The milter callbacks and `authmilter -t` feed the same session: connect
 * and HELO facts, macros, envelope, headers and body. session_eom() runs
 * each method in turn (SPF, DKIM, DMARC: each adds its results to the
 * message's list, results.h), asks policy (policy.h) for the action and
 * renders the Authentication-Results header and the log line from the
 * list. Per-message memory lives in one arena, freed by session_reset()
 * (end of message or abort). A session is used by one thread at a time.
 */
#ifndef AM_SESSION_H
#define AM_SESSION_H

#include <stddef.h>

#include "policy.h"
#include "results.h"

struct settings;
struct dns_resolver;
struct spf_checker;
struct dkv_verifier;
struct dmarc_checker;
struct arc_verifier;
struct session_arc_seal;
struct report_writer;
struct report_record;

/* what the whole process shares; read-only while messages run (the PSL
 * inside dmarc is swapped atomically on reload) */
struct session_env {
	struct dns_resolver *dns;     /* the answer cache over libunbound, or libunbound */
	struct spf_checker *spf;
	struct dkv_verifier *dkim;   /* NULL when DKIM was off at start */
	struct dmarc_checker *dmarc;
	struct arc_verifier *arc;    /* ARC chains; NULL when arc.enable
				      * was off at start */
	/* the ARC sealer of arc.seal (its key read at start and at a
	 * reload), swapped under its own lock (env.c) */
	struct session_arc_seal *arc_seal;
	/* DMARC aggregate reports: the writer of reports.store, started by
	 * the daemon with session_env_reports_start() (NULL: no records
	 * kept; `authmilter -t` keeps none) */
	struct report_writer *reports;
};

/* session_dns_opts - the libunbound options the dns.* settings give: the
 * daemon's resolver and authmilter-report's are made from them */
struct dns_unbound_opts;
void session_dns_opts(const struct settings *cfg, struct dns_unbound_opts *o);
/* session_env_open - the resolver and method contexts a config asks for
 * (threads start here: block signals first); NULL with err filled */
struct session_env *session_env_open(const struct settings *cfg, char *err,
    size_t errlen);
/* session_env_reports_start - with reports.enable, start the report
 * writer (store.h) of reports.store, reports.queue_max and
 * reports.keep_days into env->reports; the store is opened by the
 * writer's thread, so a store that is down does not stop the start.
 * reports.* are read here only: a reload does not change them. 0 (also
 * when reports are off or the writer runs already), or -1 with err when
 * the thread cannot start */
int session_env_reports_start(struct session_env *env,
    const struct settings *cfg, char *err, size_t errlen);
/* session_env_reports_stop - write what the writer holds (a few seconds
 * at most) and stop it; session_env_close() does it too */
void session_env_reports_stop(struct session_env *env);
/* session_env_close - stop the resolver, free everything, set *ep to NULL */
void session_env_close(struct session_env **ep);
/* session_env_stats - the stats registry (stats.h) as key=value pairs
 * for a log line: every counter and gauge the modules registered (the
 * caches', the methods', the messages'), histograms as _count and _sum;
 * a pair that does not fit in len is left out whole */
void session_env_stats(const struct session_env *env, char *buf, size_t len);
/* session_env_reload - what a SIGHUP can change in place: with
 * dmarc.discovery = "psl" the public suffix list is read again (the tree
 * walk reads none), and arc.seal's key file (no arc.seal: sealing stops).
 * 0, or -1 with err saying what was kept (the old list, the old key and
 * its domain and selector); each part that can change does */
int session_env_reload(struct session_env *env, const struct settings *cfg,
    char *err, size_t errlen);

/* the action, as policy decides it (policy.h) */
enum session_action {
	SESSION_ACCEPT = POLICY_ACCEPT,
	SESSION_REJECT = POLICY_REJECT,
	SESSION_QUARANTINE = POLICY_QUARANTINE,
	SESSION_TEMPFAIL = POLICY_TEMPFAIL,
};

/* limits on what one message may hand us */
#define SESSION_MAX_HEADERS 1000
#define SESSION_MAX_HEADER_BYTES (1024 * 1024)

struct session_verdict {
	enum session_action action;
	const char *smtp_rcode;   /* "550", or NULL for accept */
	const char *smtp_xcode;   /* "5.7.1" */
	const char *smtp_text;
	const char *quarantine_reason;
	/* the Authentication-Results value to insert at the top, folded with
	 * "\n\t" as libmilter wants; NULL when the client was skipped or the
	 * headers were over the limits */
	const char *authres;
	/* the ARC set we add (arc.seal), each "Name: value" without the
	 * final line end, folded with "\n\t", to insert at the top in this
	 * order above the Authentication-Results: ARC-Seal,
	 * ARC-Message-Signature, ARC-Authentication-Results; all NULL when
	 * we do not seal (no arc.seal, not accepted, RFC 8617 5.1 says not
	 * to, or an error: seal_note says which) */
	const char *arc_set[3];
	const char *seal_note;    /* why no seal when arc.seal is set, or NULL */
	/* 1-based indices, among the message's Authentication-Results headers,
	 * of those to delete (ours forged), in ascending order */
	const unsigned *ar_delete;
	size_t nar_delete;
	const char *skipped;      /* why evaluation was skipped, or NULL */
	const char *reason;       /* why the action, in plain words, or NULL */
	/* what each method found, in the header's order (results.h): the
	 * header and the log line are built from it */
	const struct results *results;
};

struct session;

/* session_new - a connection; the session holds a reference to cfg */
struct session *session_new(const struct session_env *env,
    struct settings *cfg);
void session_free(struct session **sp);

/* session_connect - client host name (may be NULL) and address text (NULL
 * or "" when not an IP connection) */
void session_connect(struct session *s, const char *hostname, const char *ip);
void session_helo(struct session *s, const char *helo);
/* session_macro - a macro value the MTA sent; "{auth_authen}", "i",
 * "{daemon_name}" and "{client_addr}" (when connect gave no address) are
 * kept, others ignored */
void session_macro(struct session *s, const char *name, const char *value);
/* session_mail_from - the MAIL FROM argument as sent ("<a@b>", "<>") */
void session_mail_from(struct session *s, const char *arg);
void session_rcpt(struct session *s, const char *arg);
/* session_header - one header field; value may be folded. 0, or -1 when
 * over the header limits (the message still gets a verdict) */
int session_header(struct session *s, const char *name, const char *value);
void session_eoh(struct session *s);
void session_body(struct session *s, const unsigned char *p, size_t len);
/* session_eom - evaluate; the verdict is borrowed until session_reset() */
const struct session_verdict *session_eom(struct session *s);
/* session_report_records - after session_eom(): the DMARC aggregate
 * report record (report.h) of each author domain whose evaluation found
 * a policy record (dmarc=pass or fail), each handed to fn (which may be
 * NULL) with strings borrowed until session_reset(): the disposition the
 * message got for that domain and the overrides that lowered it (t=y,
 * pct sampling, a trusted ARC sealer, report-only mode, never_reject, a
 * temporary error). None for a message not evaluated, tempfailed, or
 * from a client without an IP address. Returns their number. When
 * env->reports is set, session_eom() hands them to the writer. */
size_t session_report_records(struct session *s,
    void (*fn)(const struct report_record *rec, void *ctx), void *ctx);
/* session_log_line - "key=value ..." for the message (borrowed) */
const char *session_log_line(struct session *s, double ms);
/* session_reset - forget the message (end of message or abort); the
 * connection facts stay */
void session_reset(struct session *s);

const char *session_action_name(enum session_action a);

#endif
