/*
 * store_impl.h - what the files of the report store share (store.h): the
 * limits of an encoded record, one row as the backends write it, and the
 * backend table a store dispatches through.
 */
#ifndef AM_REPORT_STORE_IMPL_H
#define AM_REPORT_STORE_IMPL_H

#include <stdint.h>

#include "store.h"

/* override reasons and SPF results one encoded record holds at most
 * (report_record_encode() refuses more); DKIM results are capped at
 * REPORT_DKIM_MAX */
#define REPORT_REC_REASONS_MAX 8
#define REPORT_REC_SPF_MAX 8

/* a policy domain as kept: 255 bytes, each possibly %XX, and the NUL */
#define REPORT_STORE_DOMAIN_MAX (3 * 255 + 1)

/* one row to add: what report_store_put() writes for one item */
struct store_row {
	int64_t day; /* UTC day number of the record's time */
	/* the policy domain as report_store_domain_norm() keeps it */
	char domain[REPORT_STORE_DOMAIN_MAX];
	struct dynbuf rec; /* report_record_encode() */
	int64_t count;
	int64_t last_seen; /* the record's time */
};

/* report_store_row_make - the row of one item into *row (whose rec the
 * caller frees with dynbuf_free(), also after -1): -1 when the record does
 * not encode, has no policy domain, or the count is above INT64_MAX */
int report_store_row_make(const struct report_store_item *it,
			  struct store_row *row, char *err, size_t errlen);

/* report_store_day - the UTC day number of t: floor(t / 86400) */
int64_t report_store_day(time_t t);

/* report_store_domain_norm - a policy domain as the store keeps it into
 * out (REPORT_STORE_DOMAIN_MAX bytes): ASCII lowercase, without a final
 * dot, bytes outside 0x21..0x7e and '%' as %XX (so that no byte a
 * database could refuse in its encoding gets in; such a domain gets no
 * report, as report_filename() refuses it). -1 when it is NULL, empty or
 * longer than 255 bytes. */
int report_store_domain_norm(const char *domain, char *out, size_t outlen);

/* report_store_schema_newer - the error for a database of schema
 * version v, newer than this build's */
void report_store_schema_newer(char *err, size_t errlen, const char *where,
			       long long v);

/* store_row_fn - called for each stored row by load, in last_seen order;
 * 0 to go on */
typedef int (*store_row_fn)(const char *rec, size_t len, int64_t count,
			    int64_t last_seen, void *ctx);

/* a backend: every function as in store.h, with days instead of times;
 * each returns 0, or -1 with err filled */
struct store_ops {
	const char *kind;
	/* rows sorted by day, domain and rec (so that two writers take row
	 * locks in one order), in one transaction */
	int (*put)(struct report_store *st, const struct store_row *rows,
		   size_t n, char *err, size_t errlen);
	int (*domains)(struct report_store *st, int64_t day0, int64_t day1,
		       const char *domain,
		       int (*fn)(const char *domain, void *ctx), void *ctx,
		       char *err, size_t errlen);
	int (*load)(struct report_store *st, const char *domain, int64_t day0,
		    int64_t day1, store_row_fn fn, void *ctx, char *err,
		    size_t errlen);
	/* 1 marked (id filled when not NULL), 0 not, -1 error */
	int (*sent)(struct report_store *st, const char *domain, int64_t begin,
		    int64_t end, char *id, char *err, size_t errlen);
	int (*mark_sent)(struct report_store *st, const char *domain,
			 int64_t begin, int64_t end, const char *id,
			 int64_t now, char *err, size_t errlen);
	int (*prune)(struct report_store *st, int64_t day, int64_t before,
		     uint64_t *deleted, char *err, size_t errlen);
	void (*close)(struct report_store *st);
};

struct report_store {
	const struct store_ops *ops;
	void *impl; /* the backend's */
};

/* the backends: a store, or NULL with err filled */
struct report_store *report_store_sqlite_open(const char *path, char *err,
					      size_t errlen);
struct report_store *report_store_pg_open(const char *uri, char *err,
					  size_t errlen);

#endif
