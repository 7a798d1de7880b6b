/*
 * store.c - the report store (store.h): the URI read and handed to a
 * backend (store_sqlite.c, store_pg.c), and what both share: the UTC day
 * of a time, the row of an item, the policy domain as kept, and loading
 * rows into a report set.
 *
 * The schema (REPORT_STORE_SCHEMA 1), the same columns in both backends:
 *   report_meta(schema_version INTEGER)        one row
 *   report_rows(day INTEGER, policy_domain TEXT, rec TEXT, count BIGINT,
 *               last_seen BIGINT)               one row per day, domain,
 *                                               encoded record
 *   report_sent(policy_domain TEXT, begin_ts BIGINT, end_ts BIGINT,
 *               report_id TEXT, sent_at BIGINT) PRIMARY KEY(policy_domain,
 *                                               begin_ts, end_ts)
 * report_rows' key is (day, policy_domain, rec) in SQLite; PostgreSQL
 * keys it on md5(rec) instead of rec, as a B-tree entry holds at most
 * 2,704 bytes and an encoded record may hold 16 KB (store_pg.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_impl.h"
#include "store.h"
#include "store_impl.h"

void
report_store_schema_newer(char *err, size_t errlen, const char *where,
			  long long v)
{
	report_seterr(err, errlen,
			    "%s: the store's schema version %lld is newer "
			    "than this build's (%d): run a newer authmilter",
			    where, v, REPORT_STORE_SCHEMA);
}

int64_t
report_store_day(time_t t)
{
	int64_t s = (int64_t)t;

	return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

int
report_store_domain_norm(const char *domain, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n, k = 0;

	if (domain == NULL || (n = strlen(domain)) == 0 || n > 255)
		return -1;
	if (n > 1 && domain[n - 1] == '.')
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)domain[i];

		if (k + 4 > outlen)
			return -1;
		if (c < 0x21 || c > 0x7e || c == '%') {
			out[k++] = '%';
			out[k++] = hex[c >> 4];
			out[k++] = hex[c & 15];
		} else {
			out[k++] =
			    (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		}
	}
	out[k] = '\0';
	return 0;
}

int
report_store_row_make(const struct report_store_item *it, struct store_row *row,
		      char *err, size_t errlen)
{
	const struct report_record *r = it->rec;

	dynbuf_init(&row->rec, REPORT_REC_MAX);
	if (report_store_domain_norm(r->policy.domain, row->domain,
				     sizeof(row->domain)) < 0) {
		report_seterr(err, errlen,
			      "a record has no policy domain, or one longer "
			      "than 255 bytes");
		return -1;
	}
	if (it->count > (uint64_t)INT64_MAX) {
		report_seterr(err, errlen, "a count is out of range");
		return -1;
	}
	if (report_record_encode(r, &row->rec, err, errlen) < 0)
		return -1;
	row->day = report_store_day(r->when);
	row->count = (int64_t)it->count;
	row->last_seen = (int64_t)r->when;
	return 0;
}

/* ---- the public functions ------------------------------------------------ */

struct report_store *
report_store_open(const char *uri, char *err, size_t errlen)
{
	if (uri == NULL) {
		report_seterr(err, errlen, "no store URI");
		return NULL;
	}
	if (strncmp(uri, "sqlite:", 7) == 0) {
		if (uri[7] == '\0') {
			report_seterr(err, errlen,
				      "sqlite: needs a file: sqlite:/path/"
				      "to/reports.db");
			return NULL;
		}
		return report_store_sqlite_open(uri + 7, err, errlen);
	}
	if (strncmp(uri, "postgresql://", 13) == 0 ||
	    strncmp(uri, "postgres://", 11) == 0)
		return report_store_pg_open(uri, err, errlen);
	/* not shown: it may be a connection string holding a password */
	report_seterr(err, errlen,
		      "the store is neither sqlite:PATH nor a "
		      "postgresql:// (postgres://) URI");
	return NULL;
}

void
report_store_close(struct report_store **stp)
{
	if (stp == NULL || *stp == NULL)
		return;
	(*stp)->ops->close(*stp);
	*stp = NULL;
}

const char *
report_store_kind(const struct report_store *st)
{
	return st->ops->kind;
}

static int
row_cmp(const void *a, const void *b)
{
	const struct store_row *x = a, *y = b;
	size_t n;
	int c;

	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	if ((c = strcmp(x->domain, y->domain)) != 0)
		return c;
	n = x->rec.len < y->rec.len ? x->rec.len : y->rec.len;
	if ((c = memcmp(x->rec.s, y->rec.s, n)) != 0)
		return c;
	return x->rec.len < y->rec.len ? -1 : x->rec.len > y->rec.len;
}

int
report_store_put(struct report_store *st, const struct report_store_item *items,
		 size_t n, char *err, size_t errlen)
{
	struct store_row *rows;
	size_t made = 0;
	int rc = -1;

	if (n == 0)
		return 0;
	rows = xcalloc(n, sizeof(*rows));
	for (; made < n; made++)
		if (report_store_row_make(&items[made], &rows[made], err,
					  errlen) < 0) {
			made++;
			goto out;
		}
	qsort(rows, n, sizeof(*rows), row_cmp);
	rc = st->ops->put(st, rows, n, err, errlen);
out:
	for (size_t i = 0; i < made; i++)
		dynbuf_free(&rows[i].rec);
	free(rows);
	return rc;
}

/* norm_arg - a domain argument as kept, into out; -1 with err filled */
static int
norm_arg(const char *domain, char *out, size_t outlen, char *err, size_t errlen)
{
	if (report_store_domain_norm(domain, out, outlen) < 0) {
		report_seterr(err, errlen, "not a policy domain");
		return -1;
	}
	return 0;
}

int
report_store_domains(struct report_store *st, time_t begin, time_t end,
		     const char *domain,
		     int (*fn)(const char *domain, void *ctx), void *ctx,
		     char *err, size_t errlen)
{
	char d[REPORT_STORE_DOMAIN_MAX];

	if (domain != NULL && norm_arg(domain, d, sizeof(d), err, errlen) < 0)
		return -1;
	return st->ops->domains(
	    st, report_store_day(begin), report_store_day(end),
	    domain != NULL ? d : NULL, fn, ctx, err, errlen);
}

struct load_ctx {
	struct report_set *set;
	uint64_t bad;
};

/* load_row - one stored row into the set */
static int
load_row(const char *rec, size_t len, int64_t count, int64_t last_seen,
	 void *ctx)
{
	struct load_ctx *c = ctx;
	struct arena *a = arena_new();
	struct report_record r;

	if (count < 0 || report_record_decode(rec, len, a, &r, NULL, 0) < 0) {
		c->bad++;
	} else {
		r.when = (time_t)last_seen;
		/* a record the set refuses is counted there as dropped */
		(void)report_set_add_count(c->set, &r, (uint64_t)count, NULL,
					   0);
	}
	arena_free(&a);
	return 0;
}

int
report_store_load(struct report_store *st, const char *domain, time_t begin,
		  time_t end, struct report_set *s, uint64_t *bad, char *err,
		  size_t errlen)
{
	char d[REPORT_STORE_DOMAIN_MAX];
	struct load_ctx c = {s, 0};
	int rc;

	if (norm_arg(domain, d, sizeof(d), err, errlen) < 0)
		return -1;
	rc = st->ops->load(st, d, report_store_day(begin),
			   report_store_day(end), load_row, &c, err, errlen);
	if (bad != NULL)
		*bad = c.bad;
	return rc;
}

int
report_store_sent(struct report_store *st, const char *domain, time_t begin,
		  time_t end, char *id, char *err, size_t errlen)
{
	char d[REPORT_STORE_DOMAIN_MAX];

	if (norm_arg(domain, d, sizeof(d), err, errlen) < 0)
		return -1;
	if (id != NULL)
		id[0] = '\0';
	return st->ops->sent(st, d, (int64_t)begin, (int64_t)end, id, err,
			     errlen);
}

int
report_store_mark_sent(struct report_store *st, const char *domain,
		       time_t begin, time_t end, const char *report_id,
		       time_t now, char *err, size_t errlen)
{
	char d[REPORT_STORE_DOMAIN_MAX];

	if (norm_arg(domain, d, sizeof(d), err, errlen) < 0)
		return -1;
	if (report_id == NULL || report_id[0] == '\0' ||
	    strlen(report_id) >= REPORT_ID_BUFSIZE) {
		report_seterr(err, errlen,
			      "no report id, or one longer than "
			      "report_id_new() makes");
		return -1;
	}
	return st->ops->mark_sent(st, d, (int64_t)begin, (int64_t)end,
				  report_id, (int64_t)now, err, errlen);
}

int
report_store_prune(struct report_store *st, time_t before, uint64_t *deleted,
		   char *err, size_t errlen)
{
	uint64_t n = 0;
	int rc;

	rc = st->ops->prune(st, report_store_day(before), (int64_t)before, &n,
			    err, errlen);
	if (deleted != NULL)
		*deleted = n;
	return rc;
}
