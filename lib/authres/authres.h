/*
 * authres.h - RFC 8601 Authentication-Results: write ours, read others'.
 *
 * Writing: collect method results, then render one header value with
 * values quoted where the grammar needs it and folded below 78 columns.
 * Reading: a strict RFC 8601 parser (CFWS, quoted-strings, version,
 * reason, ptype.property=value) used to find the authserv-id of existing
 * headers (to delete forgeries of ours, RFC 8601 section 5) and to check
 * our own output in tests.
 */
#ifndef AM_AUTHRES_H
#define AM_AUTHRES_H

#include <stddef.h>

#define AUTHRES_MAX_RESULTS 32
#define AUTHRES_MAX_PROPS 8
#define AUTHRES_MAX_INPUT 65536 /* longest header value authres_parse reads */
#define AUTHRES_MAX_STRING 1024 /* longest string the writer takes */

struct authres_prop {
	char *ptype;    /* "smtp", "header", "body", "policy" */
	char *property; /* "mailfrom", "d", ... */
	char *value;
	char *comment;  /* the first comment after the value, or NULL */
};

struct authres_result {
	char *method;   /* "spf", "dkim", "dmarc", ... (lowercase) */
	char *result;   /* "pass", "fail", ... (lowercase) */
	char *reason;   /* reason="..." or NULL */
	char *comment;  /* the first comment after the result, or NULL */
	size_t nprops;
	struct authres_prop props[AUTHRES_MAX_PROPS];
};

struct authres {
	char *authserv_id;
	int version;    /* 1 when absent */
	int none;       /* "; none" */
	size_t nresults;
	struct authres_result results[AUTHRES_MAX_RESULTS];
};

/* authres_new - an empty header for this authserv-id; free with authres_free */
struct authres *authres_new(const char *authserv_id);
/* authres_add - append a result; comment may be NULL (one longer than
 * AUTHRES_MAX_STRING is cut); returns the result to add properties to, or
 * NULL when full or when method/result is not an RFC 5321 Keyword or is
 * longer than AUTHRES_MAX_STRING */
struct authres_result *authres_add(struct authres *ar, const char *method,
    const char *result, const char *comment);
/* authres_add_prop - ptype.property=value on r; 0, or -1 when full or
 * ptype/property is not a Keyword or a string is longer than
 * AUTHRES_MAX_STRING */
int authres_add_prop(struct authres_result *r, const char *ptype,
    const char *property, const char *value);
/* authres_add_prop_comment - the same with a comment after the value
 * ("policy.iprev=192.0.2.1 (mail.example.com)"); comment may be NULL */
int authres_add_prop_comment(struct authres_result *r, const char *ptype,
    const char *property, const char *value, const char *comment);
/* authres_render - the header value (without "Authentication-Results:"),
 * folded with CRLF+TAB so no line of "Authentication-Results: " + value
 * passes 78 columns where a break is possible. Caller frees. An empty
 * result list renders "authserv-id; none". */
char *authres_render(const struct authres *ar);
/* authres_render_lf - like authres_render, with folds as "\n\t" instead
 * of "\r\n\t" (what libmilter's smfi_insheader wants) */
char *authres_render_lf(const struct authres *ar);

/* authres_parse - parse a header value (at most AUTHRES_MAX_INPUT bytes);
 * NULL with err filled on a syntax error or when over a bound. Unknown
 * methods, results and ptypes are kept (keywords lowercased, the
 * authserv-id and values as written). */
struct authres *authres_parse(const char *value, char *err, size_t errlen);
/* authres_authserv_id - just the authserv-id of a header value, lowercased,
 * into out; 0, or -1 when there is none to find */
int authres_authserv_id(const char *value, char *out, size_t outlen);

/* authres_free - release ar and set *arp to NULL; NULL is fine */
void authres_free(struct authres **arp);

/* authres_needs_quote - whether a value must be a quoted-string (not a
 * token, and not a dot-atom/addr-spec pvalue) */
int authres_needs_quote(const char *value);

#endif
