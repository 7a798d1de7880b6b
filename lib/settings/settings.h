/*
 * settings.h - the configuration as an immutable, refcounted snapshot.
 *
 * settings_load() reads a libconfig file into a new snapshot, checking every
 * key against a table of known settings: unknown keys, wrong types, bad
 * CIDRs and bad socket specs are errors naming file and line
 * ("FILE:LINE: what is wrong"). On SIGHUP the daemon loads a new snapshot
 * and swaps it in with settings_set_current(); each connection holds the
 * one it started with through settings_ref()/settings_unref().
 */
#ifndef AM_SETTINGS_H
#define AM_SETTINGS_H

#include <stddef.h>

#include "cidr.h"

struct settings {
	/* daemon */
	char *socket;              /* "inet:8891@localhost" */
	unsigned socket_mode;      /* for unix: sockets, default 0660 */
	char *user;                /* "user" or "user:group", NULL: stay */
	char *pidfile;             /* NULL: none */
	int log_facility;          /* LOG_MAIL */
	int log_level;             /* LOG_INFO */
	unsigned milter_timeout_s; /* libmilter's MTA I/O timeout, default 300 */
	unsigned thread_stack_kb;  /* every thread's stack, KiB; default 512 */

	/* evaluation */
	char *authserv_id;         /* default: the host's FQDN */
	struct cidr_list trusted_networks; /* default 127.0.0.0/8, ::1/128 */
	int skip_authenticated;    /* default 1 */

	/* dns */
	char **dns_nameservers;    /* NULL: /etc/resolv.conf */
	size_t dns_nnameservers;
	unsigned dns_timeout_ms;   /* default DNS_TIMEOUT_DEFAULT_MS (deadline.h) */
	char **dns_transparent_zones; /* built-in unbound local zones to let through */
	size_t dns_ntransparent;
	char *dns_trust_anchor;    /* DNSSEC trust anchor file, NULL: no validation */
	unsigned dns_cache_entries; /* answers kept in the calling thread; 0: off; default 10000 */

	/* spf */
	int spf_enable;            /* default 1 */
	int spf_helo;              /* check HELO too when MAIL FROM is not null; default 1 */

	/* dkim */
	int dkim_enable;           /* default 1 */
	unsigned dkim_max_signatures; /* default 8 */
	unsigned dkim_min_key_bits;   /* RSA; default 1024 (RFC 8301) */

	/* dmarc */
	int dmarc_enable;          /* default 1 */
	/* how records and org domains are found (start only): RFC 9989's
	 * DNS tree walk, or RFC 7489 with the PSL; the values are those of
	 * enum dmarc_discovery (dmarc.h) */
	enum settings_discovery { DISCOVERY_TREEWALK = 0, DISCOVERY_PSL }
	    dmarc_discovery;       /* default DISCOVERY_TREEWALK */
	char *dmarc_psl_file;      /* default PSL_PATH; read only with
				    * DISCOVERY_PSL */

	/* iprev (RFC 8601 2.7.3) */
	int iprev_enable;          /* default 1 */

	/* metrics: "ADDRESS:PORT" of the Prometheus endpoint, NULL: off */
	char *metrics_listen;

	/* arc (RFC 8617) */
	int arc_enable;            /* default 1 */
	char **arc_trusted_sealers; /* ARC-Seal d= whose chains may override a
				     * DMARC failure (dname_norm'd) */
	size_t arc_ntrusted_sealers;
	/* sealing at our boundary: all three or none (NULL: no sealing) */
	char *arc_seal_domain;
	char *arc_seal_selector;
	char *arc_seal_key_file;   /* PEM private key, read at start and reload */

	/* policy */
	enum policy_mode { POLICY_ENFORCE = 0, POLICY_REPORT_ONLY } policy_mode;
	enum policy_quarantine { QUARANTINE_HOLD = 0, QUARANTINE_HEADER } policy_quarantine;
	char **policy_never_reject;   /* author domains never rejected (lowercase) */
	size_t policy_nnever_reject;
	enum policy_temperror { TEMPERROR_ACCEPT = 0, TEMPERROR_TEMPFAIL } policy_on_temperror;
	enum policy_from_error { FROM_ERROR_REJECT = 0, FROM_ERROR_ACCEPT } policy_on_from_error;
	/* a message with more headers than the session keeps (their DKIM
	 * result would rest on headers not seen) */
	enum policy_oversize { OVERSIZE_TEMPFAIL = 0, OVERSIZE_REJECT } policy_on_oversize;
	unsigned policy_dns_budget_ms; /* per message; default 10000 */

	/* reports (DMARC aggregate reports, issue 14): the daemon reads
	 * enable, store, keep_days and queue_max at start; the rest is the
	 * reporter's (authmilter-report) */
	int reports_enable;        /* default 0 */
	char *reports_store;       /* "sqlite:/abs/path" or "postgresql://...";
				    * default "sqlite:/var/lib/authmilter/reports.db" */
	unsigned reports_keep_days; /* rows kept; 0: forever; default 31 */
	unsigned reports_queue_max; /* records queued at most; default 65536 */
	char *reports_org_name;    /* default: authserv_id */
	char *reports_email;       /* From and contact; NULL: unset */
	char *reports_submitter;   /* default: the domain of reports_email
				    * (lowercase); NULL when that is unset */
	char *reports_relay;       /* "host" or "host:port"; NULL: sendmail */
	char *reports_sendmail;    /* default "/usr/sbin/sendmail" */

	/* the file this came from */
	char *path;
	int refcount;              /* managed by settings_ref/unref */
};

/* settings_defaults - a snapshot with every default (authserv_id from the
 * host's FQDN). Never NULL. */
struct settings *settings_defaults(void);
/* settings_load - read path into a new snapshot (refcount 1); NULL with
 * err = "FILE:LINE: what is wrong" on any error */
struct settings *settings_load(const char *path, char *err, size_t errlen);
/* settings_load_string - the same from text (tests, fuzzing); name is the
 * file name used in errors */
struct settings *settings_load_string(const char *text, const char *name,
    char *err, size_t errlen);

/* settings_ref - take a reference; returns c */
struct settings *settings_ref(struct settings *c);
/* settings_unref - drop a reference, freeing on the last; sets *cp to NULL */
void settings_unref(struct settings **cp);

/* settings_get_current - a reference to the current snapshot (caller unrefs) */
struct settings *settings_get_current(void);
/* settings_set_current - make c current (takes over the caller's reference) */
void settings_set_current(struct settings *c);

/* a setting applies at a reload, or only when the daemon starts */
enum { SETTINGS_SCOPE_RELOAD = 0, SETTINGS_SCOPE_START = 1 };
/* settings_setting_scope - the scope of "dns.nameservers"; -1: no such setting */
int settings_setting_scope(const char *dotted);
/* settings_each_setting - every setting's dotted name and scope, in order */
void settings_each_setting(void (*fn)(const char *name, int scope, void *arg),
    void *arg);
/* settings_start_only_changes - the start-only settings whose values differ
 * between a and b, as "socket, dns.nameservers" into out; their number */
int settings_start_only_changes(const struct settings *a,
    const struct settings *b, char *out, size_t outlen);

/* settings_socket_valid - whether spec is a libmilter socket spec we accept:
 * inet:PORT@HOST, inet6:PORT@HOST, unix:/path, local:/path. 0 or -1 with err */
int settings_socket_valid(const char *spec, char *err, size_t errlen);

/* settings_host_valid - a host name (dname_host_valid: not the root,
 * labels of 1 to 63 octets) of letters, digits, '-', '_' and '.' */
int settings_host_valid(const char *s);
/* settings_port_parse - "1".."65535" (len bytes of s), decimal digits
 * only: the port, or -1 */
int settings_port_parse(const char *s, size_t len);

/* settings_store_uri_valid - "sqlite:/absolute/path", "postgresql://..."
 * or "postgres://..." (reports.store). 0 or -1 with err */
int settings_store_uri_valid(const char *s, char *err, size_t errlen);
/* settings_email_valid - local@domain, a dot-atom local part and a host
 * name. 0 or -1 with err */
int settings_email_valid(const char *s, char *err, size_t errlen);
/* settings_relay_valid - "host", "host:port", "[IPv6]" or "[IPv6]:port".
 * 0 or -1 with err */
int settings_relay_valid(const char *s, char *err, size_t errlen);
/* settings_text_valid - at most 255 octets, no control characters. 0 or
 * -1 with err */
int settings_text_valid(const char *s, char *err, size_t errlen);

struct sockaddr_storage;
/* settings_listen_parse - an HTTP listening address, "IPv4:PORT" or
 * "[IPv6]:PORT" (IP literals only: nothing to resolve at start), into
 * *ss and *sslen (either may be NULL to check only). 0 or -1 with err */
int settings_listen_parse(const char *spec, struct sockaddr_storage *ss,
    unsigned *sslen, char *err, size_t errlen);

#endif
