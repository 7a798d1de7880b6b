/*
 * store_sqlite.c - the report store in an SQLite file (store.h).
 *
 * The daemon's writer and the reporter open the same file from separate
 * processes: WAL mode (readers do not block the writer), synchronous
 * NORMAL (a transaction may be lost at a power cut, never the file), and
 * a busy timeout of 5 s for the moments both want to write. A missing
 * directory is an error: the file is created, its directory never. Every
 * statement is prepared once at open; a put is BEGIN IMMEDIATE, the rows
 * upserted, COMMIT, and ROLLBACK on any error. Errors name the file and
 * carry SQLite's message.
 */
#include "config.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report_impl.h"
#include "store.h"
#include "store_impl.h"

#define BUSY_MS 5000

enum {
	S_BEGIN,
	S_COMMIT,
	S_PUT,
	S_DOMAINS,
	S_LOAD,
	S_SENT,
	S_MARK,
	S_PRUNE_ROWS,
	S_PRUNE_SENT,
	S_COUNT
};

static const char *const sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_PUT] = "INSERT INTO report_rows (day, policy_domain, rec, count, "
	      "last_seen) VALUES (?1, ?2, ?3, ?4, ?5) "
	      "ON CONFLICT (day, policy_domain, rec) DO UPDATE SET "
	      "count = count + excluded.count, "
	      "last_seen = max(last_seen, excluded.last_seen)",
    [S_DOMAINS] = "SELECT DISTINCT policy_domain FROM report_rows "
		  "WHERE day BETWEEN ?1 AND ?2 "
		  "AND (?3 IS NULL OR policy_domain = ?3) "
		  "ORDER BY policy_domain",
    [S_LOAD] = "SELECT rec, count, last_seen FROM report_rows "
	       "WHERE policy_domain = ?1 AND day BETWEEN ?2 AND ?3 "
	       "ORDER BY last_seen, rec",
    [S_SENT] = "SELECT report_id FROM report_sent WHERE policy_domain = ?1 "
	       "AND begin_ts = ?2 AND end_ts = ?3",
    [S_MARK] = "INSERT INTO report_sent (policy_domain, begin_ts, end_ts, "
	       "report_id, sent_at) VALUES (?1, ?2, ?3, ?4, ?5) "
	       "ON CONFLICT (policy_domain, begin_ts, end_ts) DO UPDATE SET "
	       "report_id = excluded.report_id, sent_at = excluded.sent_at",
    [S_PRUNE_ROWS] = "DELETE FROM report_rows WHERE day < ?1",
    [S_PRUNE_SENT] = "DELETE FROM report_sent WHERE end_ts < ?1",
};

/* the steps of the schema: step[v] takes version v to v + 1 */
static const char *const step1[] = {
    "CREATE TABLE report_meta (schema_version INTEGER NOT NULL)",
    "CREATE TABLE report_rows (day INTEGER NOT NULL, "
    "policy_domain TEXT NOT NULL, rec TEXT NOT NULL, "
    "count BIGINT NOT NULL, last_seen BIGINT NOT NULL, "
    "PRIMARY KEY (day, policy_domain, rec))",
    "CREATE TABLE report_sent (policy_domain TEXT NOT NULL, "
    "begin_ts BIGINT NOT NULL, end_ts BIGINT NOT NULL, "
    "report_id TEXT NOT NULL, sent_at BIGINT NOT NULL, "
    "PRIMARY KEY (policy_domain, begin_ts, end_ts))",
    NULL,
};
static const char *const *const steps[REPORT_STORE_SCHEMA] = {step1};

struct sq {
	struct report_store st;
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT];
	char *path;
};

static const struct store_ops sqlite_ops;

/* fail - "sqlite:PATH: what: SQLite's message" into err; returns -1 */
static int
fail(struct sq *q, const char *what, char *err, size_t errlen)
{
	report_seterr(err, errlen, "sqlite:%s: %s: %s", q->path, what,
			    q->db ? sqlite3_errmsg(q->db) : "no database");
	return -1;
}

/* exec - one statement of text; 0 or -1 */
static int
exec(struct sq *q, const char *text, char *err, size_t errlen)
{
	if (sqlite3_exec(q->db, text, NULL, NULL, NULL) != SQLITE_OK)
		return fail(q, text, err, errlen);
	return 0;
}

/* run - step a prepared statement that returns no rows, then reset it */
static int
run(struct sq *q, int i, char *err, size_t errlen)
{
	int rc = sqlite3_step(q->stmt[i]);

	sqlite3_reset(q->stmt[i]);
	sqlite3_clear_bindings(q->stmt[i]);
	if (rc != SQLITE_DONE)
		return fail(q, sql[i], err, errlen);
	return 0;
}

static void
rollback(struct sq *q)
{
	if (!sqlite3_get_autocommit(q->db))
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

/* migrate - create the tables or bring them up to REPORT_STORE_SCHEMA,
 * in one transaction */
static int
migrate(struct sq *q, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	long long v = 0;
	int rc;

	if (exec(q, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	rc = sqlite3_prepare_v2(q->db,
				"SELECT 1 FROM sqlite_master WHERE type = "
				"'table' AND name = 'report_meta'",
				-1, &s, NULL);
	if (rc != SQLITE_OK)
		goto sqlerr;
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	s = NULL;
	if (rc == SQLITE_ROW) {
		rc = sqlite3_prepare_v2(q->db,
					"SELECT schema_version FROM "
					"report_meta",
					-1, &s, NULL);
		if (rc != SQLITE_OK)
			goto sqlerr;
		if (sqlite3_step(s) != SQLITE_ROW) {
			sqlite3_finalize(s);
			report_seterr(err, errlen,
					    "sqlite:%s: report_meta holds no "
					    "schema version",
					    q->path);
			goto fail;
		}
		v = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
		s = NULL;
	} else if (rc != SQLITE_DONE) {
		goto sqlerr;
	}
	if (v > REPORT_STORE_SCHEMA || v < 0) {
		char where[300];

		report_seterr(where, sizeof(where), "sqlite:%s", q->path);
		report_store_schema_newer(err, errlen, where, v);
		goto fail;
	}
	for (long long i = v; i < REPORT_STORE_SCHEMA; i++)
		for (const char *const *t = steps[i]; *t; t++)
			if (exec(q, *t, err, errlen) < 0)
				goto fail;
	if (v == 0 && exec(q,
			   "INSERT INTO report_meta (schema_version) "
			   "VALUES (" STRINGIFY(REPORT_STORE_SCHEMA) ")",
			   err, errlen) < 0)
		goto fail;
	if (v > 0 && v < REPORT_STORE_SCHEMA &&
	    exec(q,
		 "UPDATE report_meta SET schema_version = " STRINGIFY(
		     REPORT_STORE_SCHEMA),
		 err, errlen) < 0)
		goto fail;
	if (exec(q, "COMMIT", err, errlen) < 0)
		goto fail;
	return 0;
sqlerr:
	fail(q, "reading the schema version", err, errlen);
fail:
	rollback(q);
	return -1;
}

static void
sq_close(struct report_store *st)
{
	struct sq *q = (struct sq *)st;

	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(q->stmt[i]);
	sqlite3_close_v2(q->db);
	free(q->path);
	free(q);
}

/* dir_check - the directory of path exists; -1 with err naming it */
static int
dir_check(const char *path, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	struct stat sb;
	char *dir;
	int rc = 0;

	if (slash == NULL)
		return 0;
	dir = slash == path ? xstrdup("/")
			    : xstrndup(path, (size_t)(slash - path));
	if (stat(dir, &sb) < 0) {
		report_seterr(err, errlen,
				    "sqlite:%s: the directory %s: %s "
				    "(it is not created)",
				    path, dir, strerror(errno));
		rc = -1;
	} else if (!S_ISDIR(sb.st_mode)) {
		report_seterr(
		    err, errlen, "sqlite:%s: %s is not a directory", path, dir);
		rc = -1;
	}
	free(dir);
	return rc;
}

struct report_store *
report_store_sqlite_open(const char *path, char *err, size_t errlen)
{
	struct sq *q;
	sqlite3_stmt *s = NULL;
	const unsigned char *mode;

	if (dir_check(path, err, errlen) < 0)
		return NULL;
	q = xcalloc(1, sizeof(*q));
	q->st.ops = &sqlite_ops;
	q->st.impl = q;
	q->path = xstrdup(path);
	if (sqlite3_open_v2(path, &q->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    NULL) != SQLITE_OK) {
		fail(q, "cannot open", err, errlen);
		goto fail;
	}
	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_timeout(q->db, BUSY_MS);
	/* journal_mode answers with the mode it is in */
	if (sqlite3_prepare_v2(q->db, "PRAGMA journal_mode = WAL", -1, &s,
			       NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		fail(q, "PRAGMA journal_mode = WAL", err, errlen);
		sqlite3_finalize(s);
		goto fail;
	}
	mode = sqlite3_column_text(s, 0);
	if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
		report_seterr(err, errlen,
				    "sqlite:%s: the file cannot be in WAL "
				    "mode (journal mode %s)",
				    path, mode ? (const char *)mode : "?");
		sqlite3_finalize(s);
		goto fail;
	}
	sqlite3_finalize(s);
	if (exec(q, "PRAGMA synchronous = NORMAL", err, errlen) < 0 ||
	    migrate(q, err, errlen) < 0)
		goto fail;
	for (int i = 0; i < S_COUNT; i++)
		if (sqlite3_prepare_v2(q->db, sql[i], -1, &q->stmt[i], NULL) !=
		    SQLITE_OK) {
			fail(q, sql[i], err, errlen);
			goto fail;
		}
	return &q->st;
fail:
	sq_close(&q->st);
	return NULL;
}

static int
sq_put(struct report_store *st, const struct store_row *rows, size_t n,
       char *err, size_t errlen)
{
	struct sq *q = (struct sq *)st;
	sqlite3_stmt *s = q->stmt[S_PUT];

	if (run(q, S_BEGIN, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_int64(s, 1, rows[i].day);
		sqlite3_bind_text(s, 2, rows[i].domain, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, rows[i].rec.s, (int)rows[i].rec.len,
				  SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, rows[i].count);
		sqlite3_bind_int64(s, 5, rows[i].last_seen);
		if (run(q, S_PUT, err, errlen) < 0)
			goto fail;
	}
	if (run(q, S_COMMIT, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	rollback(q);
	return -1;
}

static int
sq_domains(struct report_store *st, int64_t day0, int64_t day1,
	   const char *domain, int (*fn)(const char *domain, void *ctx),
	   void *ctx, char *err, size_t errlen)
{
	struct sq *q = (struct sq *)st;
	sqlite3_stmt *s = q->stmt[S_DOMAINS];
	int rc;

	sqlite3_bind_int64(s, 1, day0);
	sqlite3_bind_int64(s, 2, day1);
	if (domain != NULL)
		sqlite3_bind_text(s, 3, domain, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 3);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *d = sqlite3_column_text(s, 0);

		if (d != NULL && fn((const char *)d, ctx) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE)
		return fail(q, "listing the domains", err, errlen);
	return 0;
}

static int
sq_load(struct report_store *st, const char *domain, int64_t day0, int64_t day1,
	store_row_fn fn, void *ctx, char *err, size_t errlen)
{
	struct sq *q = (struct sq *)st;
	sqlite3_stmt *s = q->stmt[S_LOAD];
	int rc;

	sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, day0);
	sqlite3_bind_int64(s, 3, day1);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *rec = (const char *)sqlite3_column_text(s, 0);
		size_t len = (size_t)sqlite3_column_bytes(s, 0);

		if (fn(rec != NULL ? rec : "", rec != NULL ? len : 0,
		       sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2),
		       ctx) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE)
		return fail(q, "loading rows", err, errlen);
	return 0;
}

static int
sq_sent(struct report_store *st, const char *domain, int64_t begin, int64_t end,
	char *id, char *err, size_t errlen)
{
	struct sq *q = (struct sq *)st;
	sqlite3_stmt *s = q->stmt[S_SENT];
	int rc, found = 0;

	sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, begin);
	sqlite3_bind_int64(s, 3, end);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(s, 0);

		found = 1;
		if (id != NULL)
			str_copy(id, v ? (const char *)v : "",
				 REPORT_ID_BUFSIZE);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE)
		return fail(q, "reading the sent marks", err, errlen);
	return found;
}

static int
sq_mark_sent(struct report_store *st, const char *domain, int64_t begin,
	     int64_t end, const char *id, int64_t now, char *err, size_t errlen)
{
	struct sq *q = (struct sq *)st;
	sqlite3_stmt *s = q->stmt[S_MARK];

	sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, begin);
	sqlite3_bind_int64(s, 3, end);
	sqlite3_bind_text(s, 4, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, now);
	return run(q, S_MARK, err, errlen);
}

static int
sq_prune(struct report_store *st, int64_t day, int64_t before,
	 uint64_t *deleted, char *err, size_t errlen)
{
	struct sq *q = (struct sq *)st;

	if (run(q, S_BEGIN, err, errlen) < 0)
		return -1;
	sqlite3_bind_int64(q->stmt[S_PRUNE_ROWS], 1, day);
	if (run(q, S_PRUNE_ROWS, err, errlen) < 0)
		goto fail;
	*deleted = (uint64_t)sqlite3_changes(q->db);
	sqlite3_bind_int64(q->stmt[S_PRUNE_SENT], 1, before);
	if (run(q, S_PRUNE_SENT, err, errlen) < 0 ||
	    run(q, S_COMMIT, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	rollback(q);
	return -1;
}

static const struct store_ops sqlite_ops = {
    .kind = "sqlite",
    .put = sq_put,
    .domains = sq_domains,
    .load = sq_load,
    .sent = sq_sent,
    .mark_sent = sq_mark_sent,
    .prune = sq_prune,
    .close = sq_close,
};
