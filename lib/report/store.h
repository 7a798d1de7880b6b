/*
 * store.h - where the facts of DMARC aggregate reports are kept between
 * the milter that sees the messages and the reporter that sends the
 * reports (issue 14): an SQLite file on one host, or a PostgreSQL
 * database that several MX hosts write into.
 *
 * What is kept is already aggregated: one row per UTC day, policy domain
 * and encoded record (report_record_encode(): everything of a record but
 * its time), with a count and the time it was last seen. A day's rows are
 * what report_set_add_count() wants: the reporter loads them, sums them
 * over the days of its period and writes the report. Rows older than
 * reports.keep_days are pruned; each report sent is written down (policy
 * domain, period, report id) so that a second run does not send it again.
 *
 * The schema carries a version (table report_meta); opening a store
 * creates the tables, or migrates an older version, in one transaction.
 * SQLite runs in WAL mode; one report_store_put() is one transaction in
 * either store. Functions returning int give 0, or -1 with a reason in
 * err (errlen bytes, always terminated). A store is used by one thread at
 * a time.
 */
#ifndef AM_REPORT_STORE_H
#define AM_REPORT_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "report.h"

/* the schema version this build writes (report_meta.schema_version) */
#define REPORT_STORE_SCHEMA 1
/* the longest encoded record kept; longer ones are refused */
#define REPORT_REC_MAX 16384

/* ---- one record as text ------------------------------------------------ */

/* report_record_encode - every field of r but r->when as one line of text
 * (no CR, LF or NUL in it; the same record always gives the same bytes,
 * so equal records meet in one stored row), appended to *out. -1 when it
 * would pass REPORT_REC_MAX. */
int report_record_encode(const struct report_record *r, struct dynbuf *out,
			 char *err, size_t errlen);

/* report_record_decode - the line report_record_encode() wrote back into
 * *r (when = 0): strings and arrays live in arena a. -1 on anything
 * report_record_encode() would not have written. */
struct arena;
int report_record_decode(const char *text, size_t len, struct arena *a,
			 struct report_record *r, char *err, size_t errlen);

/* ---- the store ---------------------------------------------------------- */

struct report_store;

/* report_store_open - "sqlite:/path/to/file.db" (the file and its tables
 * created when missing) or "postgresql://..." / "postgres://..." (a libpq
 * connection URI); the schema created or migrated. NULL with err filled:
 * a URI of another kind, a file that cannot be opened, a server that does
 * not answer, a schema newer than this build's. */
struct report_store *report_store_open(const char *uri, char *err,
				       size_t errlen);
void report_store_close(struct report_store **stp);
/* report_store_kind - "sqlite" or "postgresql" */
const char *report_store_kind(const struct report_store *st);

/* one record and how many messages it stands for (the writer adds equal
 * records of a batch up before they reach the store) */
struct report_store_item {
	const struct report_record *rec;
	uint64_t count;
};

/* report_store_put - add n items in one transaction: each item's count to
 * its row (UTC day of rec->when, rec->policy.domain, encoded record),
 * its time to the row's last seen when later. All or nothing: -1 leaves
 * the store as it was. After a lost PostgreSQL connection the next call
 * connects again. */
int report_store_put(struct report_store *st,
		     const struct report_store_item *items, size_t n,
		     char *err, size_t errlen);

/* report_store_domains - the policy domains with rows on the UTC days
 * begin..end (epoch seconds, both included, whole days), in byte order,
 * each passed to fn (which returns 0 to go on); domain, when not NULL,
 * limits it to that one. */
int report_store_domains(struct report_store *st, time_t begin, time_t end,
			 const char *domain,
			 int (*fn)(const char *domain, void *ctx), void *ctx,
			 char *err, size_t errlen);

/* report_store_load - the rows of domain on the days begin..end, decoded
 * and added to s with report_set_add_count() in the order they were last
 * seen (so the policy_published is the one seen last); a row that does
 * not decode is counted in *bad (when not NULL) and skipped. */
int report_store_load(struct report_store *st, const char *domain,
		      time_t begin, time_t end, struct report_set *s,
		      uint64_t *bad, char *err, size_t errlen);

/* report_store_sent - 1 when a report for domain covering begin..end was
 * marked sent (its report id into id, when not NULL, REPORT_ID_BUFSIZE),
 * 0 when not, -1 on error */
int report_store_sent(struct report_store *st, const char *domain,
		      time_t begin, time_t end, char *id, char *err,
		      size_t errlen);
/* report_store_mark_sent - write down that the report id for domain and
 * begin..end went out at now (also after a dry run: no, the reporter does
 * not call it then) */
int report_store_mark_sent(struct report_store *st, const char *domain,
			   time_t begin, time_t end, const char *report_id,
			   time_t now, char *err, size_t errlen);

/* report_store_prune - delete rows of days before the UTC day of before,
 * and sent marks of periods that ended before it; *deleted (when not NULL)
 * the rows removed */
int report_store_prune(struct report_store *st, time_t before,
		       uint64_t *deleted, char *err, size_t errlen);

/* ---- the writer: records from the sessions to the store ----------------- */

/*
 * A bounded queue and one thread. report_writer_submit() copies the record
 * into the queue and returns at once; when the queue is full the record is
 * dropped and counted (reports_dropped_total, and one log line a minute
 * at most). The thread takes what is queued (up to a batch), adds equal
 * records up, and puts the batch into the store in one transaction; when
 * the store fails (database down, disk full) the batch is dropped and
 * counted, the store is closed and opened again after a pause (1 s,
 * doubling to 30 s); meanwhile submitted records wait in the queue up to
 * its bound and are dropped and counted past it (and, still queued at
 * the stop, then): mail is never delayed by the store.
 */
struct report_writer;

struct report_writer_opts {
	const char *uri;      /* reports.store */
	size_t queue_max;     /* records queued at most (default 65536) */
	size_t batch_max;     /* records per transaction (default 1024) */
	unsigned keep_days;   /* prune rows older than this, once an hour;
			       * 0: never */
};

/* report_writer_start - the queue and its thread. The store is opened by
 * the thread, so a database that is down at start does not stop the
 * daemon (it logs, drops and retries). NULL only when the thread cannot
 * start. */
struct report_writer *report_writer_start(const struct report_writer_opts *o,
					  char *err, size_t errlen);
/* report_writer_submit - queue a copy of r; never blocks on the store.
 * 0 queued, -1 dropped (queue full, or the writer stopping) */
int report_writer_submit(struct report_writer *w,
			 const struct report_record *r);
/* report_writer_stop - write what is queued (for at most a few seconds),
 * stop the thread, close the store, free; *wp = NULL */
void report_writer_stop(struct report_writer **wp);

/* counters, also in the stats registry: reports_records_total (queued),
 * reports_written_total (in the store), reports_dropped_total,
 * reports_store_errors_total, gauge reports_queue_length */
struct report_writer_stats {
	uint64_t queued, written, dropped, store_errors, queue_length;
};
void report_writer_stats(const struct report_writer *w,
			 struct report_writer_stats *out);

#endif
