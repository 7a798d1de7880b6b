/*
 * treewalk.h - the DNS tree walk of RFC 9989 4.10 and the organizational
 * domain of 4.10.2, over a per-evaluation memo of _dmarc lookups (internal
 * to lib/dmarc: dmarc.c uses it; see treewalk.c for the rules).
 */
#ifndef AM_TREEWALK_H
#define AM_TREEWALK_H

#include <stddef.h>
#include <time.h>

#include "dmarc.h"
#include "dname.h"

#define TREEWALK_MAX_QUERIES 8 /* RFC 9989 4.10: at most eight per walk */

struct dns_resolver;

/* what one _dmarc.<domain> TXT lookup found */
enum treewalk_found {
	TREEWALK_NONE = 0,  /* NXDOMAIN, NODATA, or no v=DMARC1 record */
	TREEWALK_ONE,       /* exactly one DMARC record */
	TREEWALK_SEVERAL,   /* more than one: all discarded */
	TREEWALK_TEMPFAIL,  /* SERVFAIL, timeout, budget, ... */
};

struct treewalk_entry {
	char domain[DNAME_BUFSIZE]; /* normalised, without _dmarc. */
	enum treewalk_found found;
	char *txt;                  /* TREEWALK_ONE: the record text */
	char why[128];              /* TREEWALK_TEMPFAIL: what failed */
	/* TREEWALK_ONE: the record by RFC 9989 rules (psd is read even
	 * when it is invalid) */
	struct dmarc_record rec;
	int valid;
	char err[128];              /* why it is not valid */
};

/* the _dmarc lookups of one evaluation: each name is asked once */
struct treewalk_memo {
	struct dns_resolver *dns;
	const struct timespec *deadline;
	struct treewalk_entry **v;
	size_t n, cap;
	unsigned queries;           /* lookups made (memo hits excluded) */
};

/* one walk: the names asked, longest first */
struct treewalk {
	const struct treewalk_entry *step[TREEWALK_MAX_QUERIES];
	size_t n;
	const struct treewalk_entry *failed; /* the TEMPFAIL that ended it */
};

void treewalk_memo_init(struct treewalk_memo *m, struct dns_resolver *dns,
    const struct timespec *deadline);
void treewalk_memo_free(struct treewalk_memo *m);
/* treewalk_lookup - the entry of _dmarc.<domain> (a normalised name),
 * asking the DNS the first time only */
const struct treewalk_entry *treewalk_lookup(struct treewalk_memo *m,
    const char *domain);

/* treewalk_names - the names a walk from domain (normalised) asks, in
 * order, at most TREEWALK_MAX_QUERIES; their number */
size_t treewalk_names(const char *domain,
    const char *names[TREEWALK_MAX_QUERIES]);
/* treewalk_run - walk from domain until a single record with psd=y or
 * psd=n, or the top-level label; 0, or -1 when a lookup failed (w->failed) */
int treewalk_run(struct treewalk_memo *m, const char *domain,
    struct treewalk *w);
/* treewalk_org - the organizational domain of the walk's subject (its
 * first name) by RFC 9989 4.10.2, into out; the walk's step whose record
 * decided it in *decided (NULL: no record, the subject is its own) */
void treewalk_org(const struct treewalk *w, char *out, size_t outlen,
    const struct treewalk_entry **decided);
/* dmarc_record_starts - whether a TXT record's text starts with the tag
 * v=DMARC1 (a DMARC record; dmarc.c) */
int dmarc_record_starts(const char *txt);
/* treewalk_stats_register - dmarc_lookups_total */
void treewalk_stats_register(void);

#endif
