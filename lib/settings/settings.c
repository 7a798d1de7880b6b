/*
 * settings.c - the settings table, the libconfig loader and the refcounted
 * current snapshot (see settings.h).
 *
 * Every setting is one row of a table (name, kind, default as text, setter,
 * where it lives in struct settings), in the spirit of Postfix's
 * mail_params: the loader walks the file, finds each key in the table,
 * checks its type and hands the value to the row's setter; rows the file
 * does not mention get their default through the same setter. Unknown keys,
 * wrong types and bad values are errors "FILE:LINE: name: what is wrong";
 * a failed load frees everything and returns NULL.
 *
 * libconfig 1.5 traps handled here (see shared LIBRARY-TRAPS.md):
 * - a decimal literal beyond 32 bits without an L suffix is silently
 *   truncated ("milter_timeout = 4294967596;" reads as 300), so the text is
 *   scanned for such literals first and they are refused. Only the main
 *   text is scanned, not files pulled in with @include.
 * - settings read from a string have no source file: we use the name given.
 * - with an include directory set, libconfig 1.5 prefixes it to absolute
 *   @include paths too, so none is set: an @include path is absolute or
 *   relative to the working directory, as libconfig does by default.
 * - settings_load_string() refuses @include: its input is all it may read
 *   (fuzzing must not open /dev/zero).
 *
 * The one global: the current snapshot pointer, guarded by current_lock.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libconfig.h>

#include "cidr.h"
#include "deadline.h"
#include "dname.h"
#include "settings.h"
#include "log.h"
#include "util.h"

#define CONFIG_MAX_BYTES (1024 * 1024) /* a config file or string */
#define CONFIG_MAX_STRING 4096         /* one string value */
#define CONFIG_MAX_LIST 1024           /* elements of one list */
#define CONFIG_MAX_ROWS 32             /* rows of one table */

/* ---- the settings table ------------------------------------------------ */

enum kind { K_STRING, K_INT, K_BOOL, K_LIST, K_GROUP };

/* one value from the file or from a default: s for strings and list
 * elements, i for integers and booleans */
struct value {
	const char *s;
	long long i;
};

struct setting;
/* a setter checks one value and stores it; -1 with err (no name prefix) */
typedef int setter_fn(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen);

struct setting {
	const char *name;
	enum kind kind;
	const char *def;           /* default as text; lists: space separated */
	char *(*def_fn)(void);     /* computed default (malloc'd), if no def */
	setter_fn *set;            /* lists: called once per element */
	/* lists: empty the field before the elements are added */
	void (*clear)(struct settings *c, const struct setting *st);
	size_t off, off_n;         /* the field (and count, for string lists) */
	long long min, max;        /* K_INT */
	const struct setting *group; /* K_GROUP */
	const char *const *choices; /* set_choice: the words, stored as their index */
	/* settings read only at start (the socket, the resolver, the DKIM
	 * verifier are made once): how the field is stored, so a reload can
	 * name the ones that changed. FT_NONE: a reload applies it. */
	enum ftype { FT_NONE = 0, FT_STR, FT_UINT, FT_INT, FT_STRVEC } start_only;
	/* set_checked: the check of a string, and whether "" leaves it unset */
	int (*check)(const char *s, char *err, size_t errlen);
	int empty_unsets;
};

#define FIELD(c, off, type) ((type *)(void *)((char *)(c) + (off)))
#define OFF(f) offsetof(struct settings, f)

static setter_fn set_string, set_path, set_socket, set_listen, set_socket_mode, set_user,
    set_facility, set_level, set_uint, set_bool, set_authserv_id,
    add_network, add_nameserver, add_zone, add_domain, set_choice, set_dname,
    set_checked;
static void clear_networks(struct settings *, const struct setting *);
static void clear_strvec(struct settings *, const struct setting *);
static char *host_fqdn(void);

/* clang-format off */
static const struct setting dns_table[] = {
	{ .name = "nameservers", .kind = K_LIST, .def = NULL,
	  .set = add_nameserver, .clear = clear_strvec,
	  .off = OFF(dns_nameservers), .off_n = OFF(dns_nnameservers),
	  .start_only = FT_STRVEC },
	{ .name = "timeout_ms", .def = STRINGIFY(DNS_TIMEOUT_DEFAULT_MS),
	  .kind = K_INT, .set = set_uint,
	  .off = OFF(dns_timeout_ms), .min = 1, .max = 60000,
	  .start_only = FT_UINT },
	{ .name = "transparent_zones", .kind = K_LIST, .def = NULL,
	  .set = add_zone, .clear = clear_strvec,
	  .off = OFF(dns_transparent_zones), .off_n = OFF(dns_ntransparent),
	  .start_only = FT_STRVEC },
	{ .name = "trust_anchor_file", .kind = K_STRING, .def = NULL,
	  .set = set_path, .off = OFF(dns_trust_anchor),
	  .start_only = FT_STR },
	{ .name = "cache_entries", .kind = K_INT, .def = "10000", .set = set_uint,
	  .off = OFF(dns_cache_entries), .min = 0, .max = 1000000,
	  .start_only = FT_UINT },
	{ .name = NULL },
};

static const struct setting spf_table[] = {
	{ .name = "enable", .kind = K_BOOL, .def = "1", .set = set_bool,
	  .off = OFF(spf_enable) },
	{ .name = "helo", .kind = K_BOOL, .def = "1", .set = set_bool,
	  .off = OFF(spf_helo) },
	{ .name = NULL },
};

static const struct setting dkim_table[] = {
	{ .name = "enable", .kind = K_BOOL, .def = "1", .set = set_bool,
	  .off = OFF(dkim_enable),
	  .start_only = FT_INT },
	{ .name = "max_signatures", .kind = K_INT, .def = "8", .set = set_uint,
	  .off = OFF(dkim_max_signatures), .min = 1, .max = 64,
	  .start_only = FT_UINT },
	{ .name = "min_key_bits", .kind = K_INT, .def = "1024", .set = set_uint,
	  .off = OFF(dkim_min_key_bits), .min = 512, .max = 16384,
	  .start_only = FT_UINT },
	{ .name = NULL },
};

static const char *const discovery_words[] = { "treewalk", "psl", NULL };

static const struct setting dmarc_table[] = {
	{ .name = "enable", .kind = K_BOOL, .def = "1", .set = set_bool,
	  .off = OFF(dmarc_enable) },
	{ .name = "discovery", .kind = K_STRING, .def = "treewalk",
	  .set = set_choice, .choices = discovery_words,
	  .off = OFF(dmarc_discovery),
	  .start_only = FT_INT },
	{ .name = "psl_file", .kind = K_STRING, .def = PSL_PATH,
	  .set = set_path, .off = OFF(dmarc_psl_file) },
	{ .name = NULL },
};

static const struct setting iprev_table[] = {
	{ .name = "enable", .kind = K_BOOL, .def = "1", .set = set_bool,
	  .off = OFF(iprev_enable) },
	{ .name = NULL },
};

static const struct setting metrics_table[] = {
	{ .name = "listen", .kind = K_STRING, .def = NULL, .set = set_listen,
	  .off = OFF(metrics_listen), .start_only = FT_STR },
	{ .name = NULL },
};

static const struct setting arc_seal_table[] = {
	{ .name = "domain", .kind = K_STRING, .def = NULL,
	  .set = set_dname, .off = OFF(arc_seal_domain) },
	{ .name = "selector", .kind = K_STRING, .def = NULL,
	  .set = set_dname, .off = OFF(arc_seal_selector) },
	{ .name = "key_file", .kind = K_STRING, .def = NULL,
	  .set = set_path, .off = OFF(arc_seal_key_file) },
	{ .name = NULL },
};

static const struct setting arc_table[] = {
	{ .name = "enable", .kind = K_BOOL, .def = "1", .set = set_bool,
	  .off = OFF(arc_enable),
	  .start_only = FT_INT },
	{ .name = "trusted_sealers", .kind = K_LIST, .def = NULL,
	  .set = add_domain, .clear = clear_strvec,
	  .off = OFF(arc_trusted_sealers), .off_n = OFF(arc_ntrusted_sealers) },
	{ .name = "seal", .kind = K_GROUP, .group = arc_seal_table },
	{ .name = NULL },
};

static const char *const mode_words[] = { "enforce", "report-only", NULL };
static const char *const quarantine_words[] = { "hold", "header", NULL };
static const char *const temperror_words[] = { "accept", "tempfail", NULL };
static const char *const from_error_words[] = { "reject", "accept", NULL };
static const char *const oversize_words[] = { "tempfail", "reject", NULL };

static const struct setting policy_table[] = {
	{ .name = "mode", .kind = K_STRING, .def = "enforce",
	  .set = set_choice, .choices = mode_words, .off = OFF(policy_mode) },
	{ .name = "quarantine", .kind = K_STRING, .def = "hold",
	  .set = set_choice, .choices = quarantine_words,
	  .off = OFF(policy_quarantine) },
	{ .name = "never_reject", .kind = K_LIST, .def = NULL,
	  .set = add_domain, .clear = clear_strvec,
	  .off = OFF(policy_never_reject), .off_n = OFF(policy_nnever_reject) },
	{ .name = "on_temperror", .kind = K_STRING, .def = "accept",
	  .set = set_choice, .choices = temperror_words,
	  .off = OFF(policy_on_temperror) },
	{ .name = "on_from_error", .kind = K_STRING, .def = "reject",
	  .set = set_choice, .choices = from_error_words,
	  .off = OFF(policy_on_from_error) },
	{ .name = "on_oversize", .kind = K_STRING, .def = "tempfail",
	  .set = set_choice, .choices = oversize_words,
	  .off = OFF(policy_on_oversize) },
	{ .name = "dns_budget_ms", .kind = K_INT, .def = "10000",
	  .set = set_uint, .off = OFF(policy_dns_budget_ms), .min = 100,
	  .max = 120000 },
	{ .name = NULL },
};

/* reports.* (issue 14): the daemon's writer reads the first four at start */
static const struct setting reports_table[] = {
	{ .name = "enable", .kind = K_BOOL, .def = "0", .set = set_bool,
	  .off = OFF(reports_enable), .start_only = FT_INT },
	{ .name = "store", .def = "sqlite:/var/lib/authmilter/reports.db",
	  .kind = K_STRING, .set = set_checked,
	  .check = settings_store_uri_valid, .off = OFF(reports_store),
	  .start_only = FT_STR },
	{ .name = "keep_days", .kind = K_INT, .def = "31", .set = set_uint,
	  .off = OFF(reports_keep_days), .min = 0, .max = 3650,
	  .start_only = FT_UINT },
	{ .name = "queue_max", .kind = K_INT, .def = "65536", .set = set_uint,
	  .off = OFF(reports_queue_max), .min = 16, .max = 16777216,
	  .start_only = FT_UINT },
	{ .name = "org_name", .kind = K_STRING, .def = NULL,
	  .set = set_checked, .check = settings_text_valid, .empty_unsets = 1,
	  .off = OFF(reports_org_name) },
	{ .name = "email", .kind = K_STRING, .def = NULL, .set = set_checked,
	  .check = settings_email_valid, .empty_unsets = 1,
	  .off = OFF(reports_email) },
	{ .name = "submitter", .kind = K_STRING, .def = NULL,
	  .set = set_dname, .off = OFF(reports_submitter) },
	{ .name = "relay", .kind = K_STRING, .def = NULL, .set = set_checked,
	  .check = settings_relay_valid, .empty_unsets = 1,
	  .off = OFF(reports_relay) },
	{ .name = "sendmail", .kind = K_STRING, .def = "/usr/sbin/sendmail",
	  .set = set_path, .off = OFF(reports_sendmail) },
	{ .name = NULL },
};

static const struct setting top_table[] = {
	{ .name = "socket", .kind = K_STRING, .def = "inet:8891@localhost",
	  .set = set_socket, .off = OFF(socket),
	  .start_only = FT_STR },
	{ .name = "socket_mode", .kind = K_STRING, .def = "0660",
	  .set = set_socket_mode, .off = OFF(socket_mode),
	  .start_only = FT_UINT },
	{ .name = "user", .kind = K_STRING, .def = NULL, .set = set_user,
	  .off = OFF(user),
	  .start_only = FT_STR },
	{ .name = "pidfile", .kind = K_STRING, .def = NULL, .set = set_path,
	  .off = OFF(pidfile),
	  .start_only = FT_STR },
	{ .name = "syslog_facility", .kind = K_STRING, .def = "mail",
	  .set = set_facility, .off = OFF(log_facility) },
	{ .name = "log_level", .kind = K_STRING, .def = "info",
	  .set = set_level, .off = OFF(log_level) },
	{ .name = "thread_stack_kb", .kind = K_INT, .def = "512",
	  .set = set_uint, .off = OFF(thread_stack_kb), .min = 128,
	  .max = 65536, .start_only = FT_UINT },
	{ .name = "milter_timeout", .kind = K_INT, .def = "300",
	  .set = set_uint, .off = OFF(milter_timeout_s), .min = 1,
	  .max = 3600 },
	{ .name = "authserv_id", .kind = K_STRING, .def = NULL,
	  .def_fn = host_fqdn, .set = set_authserv_id,
	  .off = OFF(authserv_id) },
	{ .name = "dns", .kind = K_GROUP, .group = dns_table },
	{ .name = "trusted_networks", .kind = K_LIST,
	  .def = "127.0.0.0/8 ::1/128", .set = add_network,
	  .clear = clear_networks, .off = OFF(trusted_networks) },
	{ .name = "skip_authenticated", .kind = K_BOOL, .def = "1",
	  .set = set_bool, .off = OFF(skip_authenticated) },
	{ .name = "spf", .kind = K_GROUP, .group = spf_table },
	{ .name = "dkim", .kind = K_GROUP, .group = dkim_table },
	{ .name = "dmarc", .kind = K_GROUP, .group = dmarc_table },
	{ .name = "arc", .kind = K_GROUP, .group = arc_table },
	{ .name = "iprev", .kind = K_GROUP, .group = iprev_table },
	{ .name = "metrics", .kind = K_GROUP, .group = metrics_table },
	{ .name = "policy", .kind = K_GROUP, .group = policy_table },
	{ .name = "reports", .kind = K_GROUP, .group = reports_table },
	{ .name = NULL },
};
/* clang-format on */

/* ---- settings read only at start ------------------------------------------ */

static int
field_equal(const struct settings *a, const struct settings *b,
    const struct setting *st)
{
	switch (st->start_only) {
	case FT_STR: {
		const char *x = *FIELD(a, st->off, char *);
		const char *y = *FIELD(b, st->off, char *);

		return (x == NULL) == (y == NULL) && (x == NULL || strcmp(x, y) == 0);
	}
	case FT_UINT:
		return *FIELD(a, st->off, unsigned) == *FIELD(b, st->off, unsigned);
	case FT_INT:
		return *FIELD(a, st->off, int) == *FIELD(b, st->off, int);
	case FT_STRVEC: {
		char **x = *FIELD(a, st->off, char **), **y = *FIELD(b, st->off, char **);
		size_t n = *FIELD(a, st->off_n, size_t);

		if (n != *FIELD(b, st->off_n, size_t))
			return 0;
		for (size_t i = 0; i < n; i++)
			if (strcmp(x[i], y[i]) != 0)
				return 0;
		return 1;
	}
	case FT_NONE:
		break;
	}
	return 1;
}

/* walk - every setting below t, with its dotted name */
static void
walk(const struct setting *t, const char *prefix,
    void (*fn)(const char *name, const struct setting *st, void *arg),
    void *arg)
{
	for (; t->name != NULL; t++) {
		char name[128];

		snprintf(name, sizeof(name), "%.63s%s%.63s", prefix, *prefix ? "." : "",
		    t->name);
		if (t->kind == K_GROUP)
			walk(t->group, name, fn, arg);
		else
			fn(name, t, arg);
	}
}

struct changes {
	const struct settings *a, *b;
	struct dynbuf out;
	int n;
};

static void
note_change(const char *name, const struct setting *st, void *arg)
{
	struct changes *c = arg;

	if (st->start_only != FT_NONE && !field_equal(c->a, c->b, st))
		dynbuf_printf(&c->out, "%s%s", c->n++ ? ", " : "", name);
}

int
settings_start_only_changes(const struct settings *a, const struct settings *b,
    char *out, size_t outlen)
{
	struct changes c = { .a = a, .b = b, .n = 0 };
	char *s;

	dynbuf_init(&c.out, outlen > 0 ? outlen - 1 : 0);
	walk(top_table, "", note_change, &c);
	s = dynbuf_take(&c.out);
	str_copy(out, s != NULL ? s : "", outlen);
	free(s);
	return c.n;
}

static const struct setting *
find_setting(const struct setting *t, const char *dotted)
{
	size_t len = strcspn(dotted, ".");

	for (; t->name != NULL; t++) {
		if (strlen(t->name) != len || strncmp(t->name, dotted, len) != 0)
			continue;
		if (t->kind == K_GROUP)
			return dotted[len] == '.' ?
			    find_setting(t->group, dotted + len + 1) : NULL;
		return dotted[len] == '\0' ? t : NULL;
	}
	return NULL;
}

int
settings_setting_scope(const char *dotted)
{
	const struct setting *st = find_setting(top_table, dotted);

	if (st == NULL)
		return -1;
	return st->start_only != FT_NONE ? SETTINGS_SCOPE_START :
	    SETTINGS_SCOPE_RELOAD;
}

struct each {
	void (*fn)(const char *name, int scope, void *arg);
	void *arg;
};

static void
each_one(const char *name, const struct setting *st, void *arg)
{
	struct each *e = arg;

	e->fn(name, st->start_only != FT_NONE ? SETTINGS_SCOPE_START :
	    SETTINGS_SCOPE_RELOAD, e->arg);
}

void
settings_each_setting(void (*fn)(const char *name, int scope, void *arg),
    void *arg)
{
	struct each e = { fn, arg };

	walk(top_table, "", each_one, &e);
}

/* ---- helpers ----------------------------------------------------------- */

static void
strvec_push(char ***v, size_t *n, const char *s)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

static void
strvec_free(char ***v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

/* host_fqdn - the host's canonical name (RFC 8601 2.5 suggests the
 * authserv-id be a domain the site controls); "localhost" if all fails */
static char *
host_fqdn(void)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	char *name;

	if (gethostname(host, sizeof(host)) != 0)
		return xstrdup("localhost");
	host[sizeof(host) - 1] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(host, NULL, &hints, &res) == 0 && res != NULL &&
	    res->ai_canonname != NULL && settings_host_valid(res->ai_canonname))
		name = xstrdup(res->ai_canonname);
	else
		name = xstrdup(settings_host_valid(host) ? host : "localhost");
	if (res != NULL)
		freeaddrinfo(res);
	return name;
}

/* ---- setters ----------------------------------------------------------- */

static int
set_string(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	char **field = FIELD(c, st->off, char *);

	if (*v->s == '\0') {
		snprintf(err, errlen, "must not be empty");
		return -1;
	}
	free(*field);
	*field = xstrdup(v->s);
	return 0;
}

static int
set_path(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	char shown[80];

	if (v->s[0] != '/') {
		snprintf(err, errlen, "\"%s\" is not an absolute path",
		    str_show(v->s, shown, sizeof(shown)));
		return -1;
	}
	return set_string(c, st, v, err, errlen);
}

static int
set_socket(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	if (settings_socket_valid(v->s, err, errlen) < 0)
		return -1;
	return set_string(c, st, v, err, errlen);
}

/* set_listen - "" is off (no endpoint), like leaving it out */
static int
set_listen(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	if (v->s[0] == '\0')
		return 0;
	if (settings_listen_parse(v->s, NULL, NULL, err, errlen) < 0)
		return -1;
	return set_string(c, st, v, err, errlen);
}

static int
set_socket_mode(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	unsigned mode = 0;
	size_t len = strlen(v->s);
	char shown[32];

	if (len == 0 || len > 4 || strspn(v->s, "01234567") != len)
		goto bad;
	for (size_t i = 0; i < len; i++)
		mode = mode * 8 + (unsigned)(v->s[i] - '0');
	if (mode > 0777)
		goto bad;
	*FIELD(c, st->off, unsigned) = mode;
	return 0;
bad:
	snprintf(err, errlen,
	    "\"%s\" is not an octal file mode like \"0660\" (at most 0777)",
	    str_show(v->s, shown, sizeof(shown)));
	return -1;
}

/* set_user - "user" or "user:group"; the names are looked up when the
 * daemon drops privileges, here only their form is checked */
static int
set_user(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	const char *colon = strchr(v->s, ':');
	size_t ulen = colon ? (size_t)(colon - v->s) : strlen(v->s);
	const char *ok = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-";
	char shown[80];

	if (ulen == 0 || ulen > 32 || strspn(v->s, ok) != ulen ||
	    v->s[0] == '-' ||
	    (colon != NULL && (colon[1] == '\0' || colon[1] == '-' ||
	    strlen(colon + 1) > 32 ||
	    strspn(colon + 1, ok) != strlen(colon + 1)))) {
		snprintf(err, errlen,
		    "\"%s\" is not \"user\" or \"user:group\"",
		    str_show(v->s, shown, sizeof(shown)));
		return -1;
	}
	return set_string(c, st, v, err, errlen);
}

static int
set_facility(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	int f = log_facility_parse(v->s);
	char shown[40];

	if (f < 0) {
		snprintf(err, errlen, "unknown facility \"%s\" (mail, daemon, "
		    "user, local0..local7)", str_show(v->s, shown, sizeof(shown)));
		return -1;
	}
	*FIELD(c, st->off, int) = f;
	return 0;
}

static int
set_level(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	int l = log_level_parse(v->s);
	char shown[40];

	if (l < 0) {
		snprintf(err, errlen, "unknown level \"%s\" (debug, info, "
		    "notice, warning, err)", str_show(v->s, shown, sizeof(shown)));
		return -1;
	}
	*FIELD(c, st->off, int) = l;
	return 0;
}

static int
set_uint(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	if (v->i < st->min || v->i > st->max) {
		snprintf(err, errlen, "%lld is out of range (%lld..%lld)",
		    v->i, st->min, st->max);
		return -1;
	}
	*FIELD(c, st->off, unsigned) = (unsigned)v->i;
	return 0;
}

static int
set_bool(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	*FIELD(c, st->off, int) = v->i != 0;
	return 0;
}

/* set_authserv_id - RFC 8601 2.5: a name for the ADMD, in practice a
 * domain; it is written unquoted into the header, so no space, ';', '('
 * or other RFC 2045 tspecials */
static int
set_authserv_id(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	char shown[80];

	if (!settings_host_valid(v->s)) {
		snprintf(err, errlen, "\"%s\" is not a domain name (letters, "
		    "digits, '-', '_' and '.')",
		    str_show(v->s, shown, sizeof(shown)));
		return -1;
	}
	return set_string(c, st, v, err, errlen);
}

static int
add_network(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	struct cidr net;

	if (cidr_parse(v->s, &net, err, errlen) < 0)
		return -1;
	cidr_list_add(FIELD(c, st->off, struct cidr_list), &net);
	return 0;
}

static void
clear_networks(struct settings *c, const struct setting *st)
{
	cidr_list_free(FIELD(c, st->off, struct cidr_list));
}

/* add_nameserver - "IP" or "IP@port", as unbound's ub_ctx_set_fwd() takes */
static int
add_nameserver(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	const char *at = strrchr(v->s, '@');
	size_t alen = at ? (size_t)(at - v->s) : strlen(v->s);
	unsigned char addr[16];
	char ip[INET6_ADDRSTRLEN + 1], shown[80];

	if (alen == 0 || alen >= sizeof(ip))
		goto bad;
	memcpy(ip, v->s, alen);
	ip[alen] = '\0';
	if (inet_pton(AF_INET, ip, addr) != 1 &&
	    inet_pton(AF_INET6, ip, addr) != 1)
		goto bad;
	if (at != NULL && settings_port_parse(at + 1, strlen(at + 1)) < 0)
		goto bad;
	strvec_push(FIELD(c, st->off, char **), FIELD(c, st->off_n, size_t),
	    v->s);
	return 0;
bad:
	snprintf(err, errlen, "\"%s\" is not an IP address or IP@port",
	    str_show(v->s, shown, sizeof(shown)));
	return -1;
}

static int
add_zone(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	char shown[80];

	if (!settings_host_valid(v->s)) {
		snprintf(err, errlen, "\"%s\" is not a domain name",
		    str_show(v->s, shown, sizeof(shown)));
		return -1;
	}
	strvec_push(FIELD(c, st->off, char **), FIELD(c, st->off_n, size_t),
	    v->s);
	return 0;
}

/* add_domain - a domain name for a list, stored as dname_norm() makes it
 * (lowercase, no final dot) */
static int
add_domain(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	char norm[DNAME_BUFSIZE];
	char **field;
	size_t n;

	if (add_zone(c, st, v, err, errlen) != 0)
		return -1;
	field = *FIELD(c, st->off, char **);
	n = *FIELD(c, st->off_n, size_t);
	if (dname_norm(field[n - 1], norm, sizeof(norm)) == 0)
		str_copy(field[n - 1], norm, strlen(field[n - 1]) + 1);
	return 0;
}

/* set_dname - one domain name, stored as dname_norm() makes it */
static int
set_dname(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	char norm[DNAME_BUFSIZE], shown[80];

	if (!settings_host_valid(v->s) || dname_norm(v->s, norm, sizeof(norm)) != 0) {
		snprintf(err, errlen, "\"%s\" is not a domain name",
		    str_show(v->s, shown, sizeof(shown)));
		return -1;
	}
	free(*FIELD(c, st->off, char *));
	*FIELD(c, st->off, char *) = xstrdup(norm);
	return 0;
}

/* set_checked - a string that st->check accepts; "" unsets it where
 * st->empty_unsets says so */
static int
set_checked(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	if (v->s[0] == '\0' && st->empty_unsets) {
		free(*FIELD(c, st->off, char *));
		*FIELD(c, st->off, char *) = NULL;
		return 0;
	}
	if (v->s[0] != '\0' && st->check(v->s, err, errlen) < 0)
		return -1;
	return set_string(c, st, v, err, errlen);
}

/* set_choice - one of st->choices, stored as its index (an enum) */
static int
set_choice(struct settings *c, const struct setting *st,
    const struct value *v, char *err, size_t errlen)
{
	char shown[80];
	size_t o = 0;

	for (int i = 0; st->choices[i] != NULL; i++)
		if (strcmp(v->s, st->choices[i]) == 0) {
			*FIELD(c, st->off, int) = i;
			return 0;
		}
	o += (size_t)snprintf(err, errlen, "\"%s\" is not one of",
	    str_show(v->s, shown, sizeof(shown)));
	for (int i = 0; st->choices[i] != NULL && o < errlen; i++)
		o += (size_t)snprintf(err + o, errlen - o, "%s \"%s\"",
		    i == 0 ? "" : st->choices[i + 1] ? "," : " or",
		    st->choices[i]);
	return -1;
}

static void
clear_strvec(struct settings *c, const struct setting *st)
{
	strvec_free(FIELD(c, st->off, char **), FIELD(c, st->off_n, size_t));
}

/* ---- socket specs ------------------------------------------------------ */

/* ---- loading ----------------------------------------------------------- */

/* one load: names for messages and where the message goes */
struct loadctx {
	const char *fname;   /* the main file, or the name given */
	const char *text;    /* its text */
	char *err;
	size_t errlen;
};

/* source_name - the file libconfig names, or the main one (NULL) */
static const char *
source_name(const struct loadctx *x, const char *file)
{
	return file != NULL ? file : x->fname;
}

/* read_bounded - a whole file of at most CONFIG_MAX_BYTES, NUL-terminated
 * (caller frees); NULL with errno-style message in err */
static char *
read_bounded(const char *path, char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t len;
	FILE *fp;

	fp = fopen(path, "re");
	if (fp == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	/* one byte past the bound, to notice a file that grew */
	text = xmalloc(CONFIG_MAX_BYTES + 2);
	len = fread(text, 1, CONFIG_MAX_BYTES + 1, fp);
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	} else if (len > CONFIG_MAX_BYTES) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    CONFIG_MAX_BYTES);
	} else {
		text[len] = '\0';
		if (strlen(text) == len)
			goto out;
		snprintf(err, errlen, "%s: contains a NUL byte", path);
	}
	free(text);
	text = NULL;
out:
	fclose(fp);
	return text;
}

/* line_fix - libconfig 1.5 gives a setting the line where the parser
 * stood after one token of lookahead, so a value not followed by ';' or
 * ',' on its own line (the last element of a list spread over lines, or a
 * key without ';') is placed on the line of the next token. Walk back from
 * there to the nearest line holding needle. */
static unsigned
line_fix(const char *text, unsigned line, const char *needle)
{
	const char **starts, *p = text;
	size_t nlen = strlen(needle);
	unsigned n = 0, l, fixed = line;

	if (line == 0 || nlen == 0)
		return line;
	starts = xcalloc(line + 1, sizeof(*starts));
	for (n = 1; n <= line && p != NULL; n++) {
		starts[n] = p;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	for (l = n - 1; l >= 1; l--) {
		const char *end = strchr(starts[l], '\n');
		size_t len = end ? (size_t)(end - starts[l]) :
		    strlen(starts[l]);

		if (memmem(starts[l], len, needle, nlen) != NULL) {
			fixed = l;
			break;
		}
	}
	free(starts);
	return fixed;
}

/* report - "FILE:LINE: prefixname: msg" for the setting s; needle is text
 * on the setting's line (see line_fix), NULL to take libconfig's line */
static void
report(const struct loadctx *x, const config_setting_t *s,
    const char *prefix, const char *name, const char *needle,
    const char *msg)
{
	const char *file = config_setting_source_file(s);
	unsigned line = (unsigned)config_setting_source_line(s);
	char *included = NULL, ignored[8];

	if (needle != NULL && file == NULL)
		line = line_fix(x->text, line, needle);
	else if (needle != NULL &&
	    (included = read_bounded(file, ignored, sizeof(ignored))) != NULL)
		line = line_fix(included, line, needle);
	free(included);
	snprintf(x->err, x->errlen, "%s:%u: %s%s: %s", source_name(x, file),
	    line, prefix, name, msg);
}

static const char *
type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a number with a fraction";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "true or false";
	case CONFIG_TYPE_ARRAY:
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "nothing";
	}
}

/* scalar - the value of s for a K_STRING, K_INT or K_BOOL row; -1 with a
 * message on a type mismatch */
static int
scalar(const config_setting_t *s, enum kind kind, struct value *v,
    char *msg, size_t msglen)
{
	int type = config_setting_type(s);
	const char *want;
	double d;

	memset(v, 0, sizeof(*v));
	switch (kind) {
	case K_STRING:
		want = "a string";
		if (type != CONFIG_TYPE_STRING)
			break;
		v->s = config_setting_get_string(s);
		if (v->s == NULL)
			break;
		if (strnlen(v->s, CONFIG_MAX_STRING + 1) > CONFIG_MAX_STRING) {
			snprintf(msg, msglen, "longer than %d characters",
			    CONFIG_MAX_STRING);
			return -1;
		}
		return 0;
	case K_INT:
		want = "an integer";
		if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
			v->i = config_setting_get_int64(s);
			return 0;
		}
		if (type != CONFIG_TYPE_FLOAT)
			break;
		/* auto-convert: 300.0 is 300, 2.5 is an error */
		d = config_setting_get_float(s);
		if (!(d >= -9e15 && d <= 9e15) || (double)(long long)d != d)
			break;
		v->i = (long long)d;
		return 0;
	case K_BOOL:
		want = "true or false";
		if (type != CONFIG_TYPE_BOOL)
			break;
		v->i = config_setting_get_bool(s);
		return 0;
	default:
		want = "a value";
		break;
	}
	snprintf(msg, msglen, "expected %s, got %s", want, type_name(type));
	return -1;
}

static void apply_default(struct settings *c, const struct setting *st);
static int load_group(struct settings *c, const config_setting_t *g,
    const struct setting *table, const char *prefix,
    const struct loadctx *x);

/* load_setting - one key of the file, already matched to its row */
static int
load_setting(struct settings *c, const config_setting_t *s,
    const struct setting *st, const char *prefix, const struct loadctx *x)
{
	char msg[512], sub[64], quoted[CONFIG_MAX_STRING + 3];
	struct value v;
	int type = config_setting_type(s), n;

	switch (st->kind) {
	case K_GROUP:
		if (type != CONFIG_TYPE_GROUP) {
			snprintf(msg, sizeof(msg), "expected a group { ... }, "
			    "got %s", type_name(type));
			break;
		}
		snprintf(sub, sizeof(sub), "%s%s.", prefix, st->name);
		return load_group(c, s, st->group, sub, x);
	case K_LIST:
		if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
			snprintf(msg, sizeof(msg), "expected a list of strings "
			    "[ \"...\", ... ], got %s", type_name(type));
			break;
		}
		n = config_setting_length(s);
		if (n > CONFIG_MAX_LIST) {
			snprintf(msg, sizeof(msg), "more than %d elements",
			    CONFIG_MAX_LIST);
			break;
		}
		st->clear(c, st);
		for (int i = 0; i < n; i++) {
			const config_setting_t *e = config_setting_get_elem(s,
			    (unsigned)i);

			if (e == NULL)
				continue;
			if (config_setting_type(e) != CONFIG_TYPE_STRING) {
				snprintf(msg, sizeof(msg), "expected a list of "
				    "strings, element %d is %s", i + 1,
				    type_name(config_setting_type(e)));
				report(x, e, prefix, st->name, NULL, msg);
				return -1;
			}
			if (scalar(e, K_STRING, &v, msg, sizeof(msg)) < 0 ||
			    st->set(c, st, &v, msg, sizeof(msg)) < 0) {
				/* the element as written (without escapes) */
				snprintf(quoted, sizeof(quoted), "\"%s\"",
				    v.s ? v.s : "");
				report(x, e, prefix, st->name, quoted, msg);
				return -1;
			}
		}
		return 0;
	default:
		if (scalar(s, st->kind, &v, msg, sizeof(msg)) < 0 ||
		    st->set(c, st, &v, msg, sizeof(msg)) < 0)
			break;
		return 0;
	}
	report(x, s, prefix, st->name, st->name, msg);
	return -1;
}

/* load_group - every key of g against table, then defaults for the rest */
static int
load_group(struct settings *c, const config_setting_t *g,
    const struct setting *table, const char *prefix,
    const struct loadctx *x)
{
	unsigned char seen[CONFIG_MAX_ROWS] = { 0 };
	int n = g ? config_setting_length(g) : 0;
	char shown[80], msg[160];

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g,
		    (unsigned)i);
		const char *name = s ? config_setting_name(s) : NULL;
		size_t r;

		if (name == NULL)
			continue;
		for (r = 0; table[r].name != NULL; r++)
			if (strcmp(table[r].name, name) == 0)
				break;
		if (table[r].name == NULL) {
			snprintf(msg, sizeof(msg), "unknown setting");
			report(x, s, prefix, str_show(name, shown, sizeof(shown)),
			    name, msg);
			return -1;
		}
		seen[r] = 1;
		if (load_setting(c, s, &table[r], prefix, x) < 0)
			return -1;
	}
	for (size_t r = 0; table[r].name != NULL; r++)
		if (!seen[r])
			apply_default(c, &table[r]);
	return 0;
}

/* apply_default - the row's default through its own setter; defaults are
 * ours, so a failure is a bug */
static void
apply_default(struct settings *c, const struct setting *st)
{
	char msg[256], *computed, *list, *tok, *save;
	struct value v = { NULL, 0 };
	unsigned long u;
	int rc = 0;

	switch (st->kind) {
	case K_GROUP:
		for (size_t r = 0; st->group[r].name != NULL; r++)
			apply_default(c, &st->group[r]);
		return;
	case K_LIST:
		st->clear(c, st);
		if (st->def == NULL)
			return;
		list = xstrdup(st->def);
		for (tok = strtok_r(list, " ", &save); tok != NULL && rc == 0;
		    tok = strtok_r(NULL, " ", &save)) {
			v.s = tok;
			rc = st->set(c, st, &v, msg, sizeof(msg));
		}
		free(list);
		break;
	case K_STRING:
		if (st->def != NULL) {
			v.s = st->def;
			rc = st->set(c, st, &v, msg, sizeof(msg));
		} else if (st->def_fn != NULL) {
			computed = st->def_fn();
			v.s = computed;
			rc = st->set(c, st, &v, msg, sizeof(msg));
			free(computed);
		}
		break;
	case K_INT:
	case K_BOOL:
		if (st->def == NULL)
			return;
		rc = str_parse_uint(st->def, 1UL << 31, &u);
		if (rc == 0) {
			v.i = (long long)u;
			rc = st->set(c, st, &v, msg, sizeof(msg));
		}
		break;
	}
	if (rc < 0) {
		log_msg(LOG_CRIT, "event=fatal reason=\"bad default\" "
		    "setting=%s", st->name);
		abort();
	}
}

/* check_int_literals - libconfig 1.5 truncates a decimal or hex literal
 * beyond 32 bits to int without a word; refuse such literals. Strings and
 * comments (#, //, C style) are skipped. */
static int
check_int_literals(const char *text, const char *fname, char *err,
    size_t errlen)
{
	const char *p = text, *start;
	unsigned line = 1;

	while (*p != '\0') {
		if (*p == '\n') {
			line++;
			p++;
		} else if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (*p == '\n')
					line++;
			}
			if (*p == '"')
				p++;
		} else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
			while (*p != '\0' && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			for (p += 2; *p != '\0' && strncmp(p, "*/", 2) != 0;
			    p++)
				if (*p == '\n')
					line++;
			if (*p != '\0')
				p += 2;
		} else if (isalpha((unsigned char)*p) || *p == '*' ||
		    *p == '_') {
			/* a name: [A-Za-z*][-A-Za-z0-9_*]* */
			while (isalnum((unsigned char)*p) || *p == '*' ||
			    *p == '_' || *p == '-')
				p++;
		} else if ((*p >= '0' && *p <= '9') ||
		    ((*p == '-' || *p == '+') && p[1] >= '0' && p[1] <= '9')) {
			unsigned long long val = 0, lim;
			int neg = *p == '-', hex = 0, big = 0;

			start = p;
			if (*p == '-' || *p == '+')
				p++;
			if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
				hex = 1;
				p += 2;
			}
			for (;; p++) {
				unsigned d;

				if (*p >= '0' && *p <= '9')
					d = (unsigned)(*p - '0');
				else if (hex && *p >= 'a' && *p <= 'f')
					d = (unsigned)(*p - 'a' + 10);
				else if (hex && *p >= 'A' && *p <= 'F')
					d = (unsigned)(*p - 'A' + 10);
				else
					break;
				if (val > (~0ULL - d) / (hex ? 16 : 10))
					big = 1;
				else
					val = val * (hex ? 16 : 10) + d;
			}
			if (*p == 'L' || (!hex && (*p == '.' || *p == 'e' ||
			    *p == 'E'))) {
				/* 64-bit or floating point: libconfig copes */
				while ((*p >= '0' && *p <= '9') || *p == '.' ||
				    *p == 'e' || *p == 'E' || *p == 'L' ||
				    *p == '+' || *p == '-')
					p++;
				continue;
			}
			lim = hex ? 0xffffffffULL : neg ? 0x80000000ULL :
			    0x7fffffffULL;
			if (big || val > lim) {
				snprintf(err, errlen, "%s:%u: integer %.*s%s "
				    "is out of range (add L for a 64-bit "
				    "integer)",
				    fname, line, p - start > 24 ? 24 :
				    (int)(p - start), start,
				    p - start > 24 ? "..." : "");
				return -1;
			}
		} else {
			p++;
		}
	}
	return 0;
}

/* find_include - the line of the first @include directive, or 0 */
static unsigned
find_include(const char *text)
{
	unsigned line = 1;

	for (const char *p = text; *p != '\0'; line++) {
		p += strspn(p, " \t");
		if (strncmp(p, "@include", 8) == 0)
			return line;
		p = strchr(p, '\n');
		if (p == NULL)
			break;
		p++;
	}
	return 0;
}

/* snapshot_free - a snapshot and everything it owns */
static void
snapshot_free(struct settings *c)
{
	if (c == NULL)
		return;
	free(c->socket);
	free(c->user);
	free(c->pidfile);
	free(c->authserv_id);
	cidr_list_free(&c->trusted_networks);
	strvec_free(&c->dns_nameservers, &c->dns_nnameservers);
	strvec_free(&c->dns_transparent_zones, &c->dns_ntransparent);
	free(c->dns_trust_anchor);
	free(c->dmarc_psl_file);
	strvec_free(&c->arc_trusted_sealers, &c->arc_ntrusted_sealers);
	free(c->arc_seal_domain);
	free(c->arc_seal_selector);
	free(c->arc_seal_key_file);
	free(c->metrics_listen);
	strvec_free(&c->policy_never_reject, &c->policy_nnever_reject);
	free(c->reports_store);
	free(c->reports_org_name);
	free(c->reports_email);
	free(c->reports_submitter);
	free(c->reports_relay);
	free(c->reports_sendmail);
	free(c->path);
	free(c);
}

/* check_arc_seal - arc.seal names a domain, a selector and a key file
 * together, or nothing */
static int
check_arc_seal(const struct settings *c, config_t *cf,
    const struct loadctx *x)
{
	int n = (c->arc_seal_domain != NULL) + (c->arc_seal_selector != NULL) +
	    (c->arc_seal_key_file != NULL);
	const config_setting_t *s;

	if (n == 0 || n == 3)
		return 0;
	s = config_lookup(cf, "arc.seal");
	if (s == NULL) /* cannot be: only the file sets them */
		s = config_root_setting(cf);
	report(x, s, "arc.", "seal", "seal", "domain, selector and key_file "
	    "go together (all three, or no arc.seal)");
	return -1;
}

/* reports_defaults - the defaults that follow other settings:
 * reports.org_name the authserv_id, reports.submitter the domain of
 * reports.email */
static void
reports_defaults(struct settings *c)
{
	char norm[DNAME_BUFSIZE];
	const char *at;

	if (c->reports_org_name == NULL && c->authserv_id != NULL)
		c->reports_org_name = xstrdup(c->authserv_id);
	if (c->reports_submitter == NULL && c->reports_email != NULL &&
	    (at = strrchr(c->reports_email, '@')) != NULL &&
	    dname_norm(at + 1, norm, sizeof(norm)) == 0)
		c->reports_submitter = xstrdup(norm);
}

/* load_text - parse text (NUL-terminated, bounded by the caller) named
 * fname; @include refused unless includes is set */
static struct settings *
load_text(const char *text, const char *fname, int includes, char *err,
    size_t errlen)
{
	struct loadctx x = { fname, text, err, errlen };
	struct settings *c;
	config_t cf;
	unsigned line;

	if (!includes && (line = find_include(text)) != 0) {
		snprintf(err, errlen, "%s:%u: @include is not allowed here",
		    fname, line);
		return NULL;
	}
	config_init(&cf);
	config_set_auto_convert(&cf, 1);
	if (config_read_string(&cf, text) != CONFIG_TRUE) {
		snprintf(err, errlen, "%s:%d: %s",
		    source_name(&x, config_error_file(&cf)),
		    config_error_line(&cf), config_error_text(&cf));
		config_destroy(&cf);
		return NULL;
	}
	if (check_int_literals(text, fname, err, errlen) < 0) {
		config_destroy(&cf);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->refcount = 1;
	c->path = xstrdup(fname);
	if (load_group(c, config_root_setting(&cf), top_table, "", &x) < 0 ||
	    check_arc_seal(c, &cf, &x) < 0) {
		snapshot_free(c);
		c = NULL;
	} else {
		reports_defaults(c);
	}
	config_destroy(&cf);
	return c;
}

struct settings *
settings_defaults(void)
{
	struct settings *c = xcalloc(1, sizeof(*c));

	c->refcount = 1;
	for (size_t r = 0; top_table[r].name != NULL; r++)
		apply_default(c, &top_table[r]);
	reports_defaults(c);
	return c;
}

struct settings *
settings_load_string(const char *text, const char *name, char *err,
    size_t errlen)
{
	if (name == NULL)
		name = "(string)";
	if (strnlen(text, CONFIG_MAX_BYTES + 1) > CONFIG_MAX_BYTES) {
		snprintf(err, errlen, "%s: larger than %d bytes", name,
		    CONFIG_MAX_BYTES);
		return NULL;
	}
	return load_text(text, name, 0, err, errlen);
}

struct settings *
settings_load(const char *path, char *err, size_t errlen)
{
	struct settings *c;
	char *text = read_bounded(path, err, errlen);

	if (text == NULL)
		return NULL;
	c = load_text(text, path, 1, err, errlen);
	free(text);
	return c;
}

/* ---- references and the current snapshot --------------------------------- */

struct settings *
settings_ref(struct settings *c)
{
	if (c != NULL)
		__atomic_add_fetch(&c->refcount, 1, __ATOMIC_RELAXED);
	return c;
}

void
settings_unref(struct settings **cp)
{
	struct settings *c = *cp;

	*cp = NULL;
	if (c != NULL && __atomic_sub_fetch(&c->refcount, 1,
	    __ATOMIC_ACQ_REL) == 0)
		snapshot_free(c);
}

/* The one piece of global mutable state in lib/: the snapshot new
 * connections start with. Readers take a reference under the lock, so a
 * concurrent settings_set_current() cannot free it under them. */
static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct settings *current;

struct settings *
settings_get_current(void)
{
	struct settings *c;

	pthread_mutex_lock(&current_lock);
	c = settings_ref(current);
	pthread_mutex_unlock(&current_lock);
	return c;
}

void
settings_set_current(struct settings *c)
{
	struct settings *old;

	pthread_mutex_lock(&current_lock);
	old = current;
	current = c;
	pthread_mutex_unlock(&current_lock);
	settings_unref(&old);
}
