/*
 * store_pg.c - the report store in a PostgreSQL database (store.h), which
 * the milters of several MX hosts write into and one reporter reads.
 *
 * One connection per store, by a libpq URI (PQconnectdbParams() with the
 * URI expanded; connect_timeout 5 s and application_name authmilter unless
 * the URI says otherwise). libpq writes a server's NOTICE to stderr
 * unless told otherwise; a daemon must not, so the notice processor does
 * nothing. When the connection is found broken at a call it is reset once
 * (PQreset()) before the call fails; the writer opens the store again
 * after errors anyway.
 *
 * Opening creates or migrates the schema in one transaction that holds
 * an advisory lock (pg_advisory_xact_lock()), so two daemons starting at
 * once do not both create the tables: the second waits, then finds the
 * version the first wrote. report_rows has no primary key on rec: a
 * B-tree entry holds at most 2,704 bytes (a long rec of random text fails
 * with "index row size ... exceeds btree version 4 maximum"), so a unique
 * index on (day, policy_domain, md5(rec)) is the key instead, and the put
 * upserts on it. A put is one transaction with its rows in key order
 * (store.c sorts them), so two writers lock shared rows in the same order
 * and do not deadlock.
 */
#include "config.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_impl.h"
#include "store.h"
#include "store_impl.h"

/* the advisory lock of schema changes: "amrp" */
#define LOCK_KEY "1634562672"

static const char *const step1[] = {
    "CREATE TABLE report_meta (schema_version INTEGER NOT NULL)",
    "CREATE TABLE report_rows (day INTEGER NOT NULL, "
    "policy_domain TEXT NOT NULL, rec TEXT NOT NULL, "
    "count BIGINT NOT NULL, last_seen BIGINT NOT NULL)",
    "CREATE UNIQUE INDEX report_rows_key ON report_rows "
    "(day, policy_domain, md5(rec))",
    "CREATE TABLE report_sent (policy_domain TEXT NOT NULL, "
    "begin_ts BIGINT NOT NULL, end_ts BIGINT NOT NULL, "
    "report_id TEXT NOT NULL, sent_at BIGINT NOT NULL, "
    "PRIMARY KEY (policy_domain, begin_ts, end_ts))",
    NULL,
};
static const char *const *const steps[REPORT_STORE_SCHEMA] = {step1};

#define SQL_PUT                                                                \
	"INSERT INTO report_rows (day, policy_domain, rec, count, last_seen) " \
	"VALUES ($1, $2, $3, $4, $5) "                                         \
	"ON CONFLICT (day, policy_domain, md5(rec)) DO UPDATE SET "            \
	"count = report_rows.count + EXCLUDED.count, "                         \
	"last_seen = GREATEST(report_rows.last_seen, EXCLUDED.last_seen)"
#define SQL_DOMAINS                                                            \
	"SELECT policy_domain FROM report_rows WHERE day BETWEEN $1 AND $2 "   \
	"AND ($3::text IS NULL OR policy_domain = $3::text) "                  \
	"GROUP BY policy_domain ORDER BY policy_domain COLLATE \"C\""
#define SQL_LOAD                                                               \
	"SELECT rec, count, last_seen FROM report_rows "                       \
	"WHERE policy_domain = $1 AND day BETWEEN $2 AND $3 "                  \
	"ORDER BY last_seen, rec COLLATE \"C\""
#define SQL_SENT                                                               \
	"SELECT report_id FROM report_sent WHERE policy_domain = $1 "          \
	"AND begin_ts = $2 AND end_ts = $3"
#define SQL_MARK                                                               \
	"INSERT INTO report_sent (policy_domain, begin_ts, end_ts, "           \
	"report_id, sent_at) VALUES ($1, $2, $3, $4, $5) "                     \
	"ON CONFLICT (policy_domain, begin_ts, end_ts) DO UPDATE SET "         \
	"report_id = EXCLUDED.report_id, sent_at = EXCLUDED.sent_at"

struct pg {
	struct report_store st;
	PGconn *conn;
};

static const struct store_ops pg_ops;

/* quiet - libpq's notice processor: NOTICEs are not printed */
static void
quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* fail - "postgresql: what: message" into err (the message on one line);
 * returns -1 */
static int
fail(const char *what, const char *msg, char *err, size_t errlen)
{
	char *p;

	report_seterr(err, errlen, "postgresql: %s: %s", what,
			    msg != NULL && msg[0] != '\0' ? msg
							  : "unknown error");
	if (err == NULL)
		return -1;
	for (p = err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	while (p > err && p[-1] == ' ')
		*--p = '\0';
	return -1;
}

/* alive - the connection usable: reset once when it is broken, a
 * transaction left open rolled back; 0 or -1 */
static int
alive(struct pg *g, char *err, size_t errlen)
{
	if (PQstatus(g->conn) == CONNECTION_BAD) {
		PQreset(g->conn);
		if (PQstatus(g->conn) == CONNECTION_BAD)
			return fail("the connection is lost and did not "
				    "come back",
				    PQerrorMessage(g->conn), err, errlen);
	}
	if (PQtransactionStatus(g->conn) != PQTRANS_IDLE)
		PQclear(PQexec(g->conn, "ROLLBACK"));
	return 0;
}

/* q - run sql with n text parameters; the result when it succeeded (the
 * caller PQclear()s it), else NULL with err filled */
static PGresult *
q(struct pg *g, const char *what, const char *sql, int n,
  const char *const *params, char *err, size_t errlen)
{
	PGresult *r =
	    PQexecParams(g->conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(r);

	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
		return r;
	fail(what,
	     r != NULL && PQresultErrorMessage(r)[0] != '\0'
		 ? PQresultErrorMessage(r)
		 : PQerrorMessage(g->conn),
	     err, errlen);
	PQclear(r);
	return NULL;
}

/* cmd - q() for a statement whose result is not needed; 0 or -1 */
static int
cmd(struct pg *g, const char *what, const char *sql, int n,
    const char *const *params, char *err, size_t errlen)
{
	PGresult *r = q(g, what, sql, n, params, err, errlen);

	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

static void
rollback(struct pg *g)
{
	if (PQstatus(g->conn) == CONNECTION_OK &&
	    PQtransactionStatus(g->conn) != PQTRANS_IDLE)
		PQclear(PQexec(g->conn, "ROLLBACK"));
}

/* migrate - create the tables or bring them up to REPORT_STORE_SCHEMA in
 * one transaction under the advisory lock */
static int
migrate(struct pg *g, char *err, size_t errlen)
{
	PGresult *r;
	long long v = 0;
	int have;

	if (cmd(g, "BEGIN", "BEGIN", 0, NULL, err, errlen) < 0)
		return -1;
	if (cmd(g, "taking the schema lock",
		"SELECT pg_advisory_xact_lock(" LOCK_KEY ")", 0, NULL, err,
		errlen) < 0)
		goto fail;
	r = q(g, "reading the schema version",
	      "SELECT to_regclass('report_meta') IS NOT NULL", 0, NULL, err,
	      errlen);
	if (r == NULL)
		goto fail;
	have = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (have) {
		r = q(g, "reading the schema version",
		      "SELECT schema_version FROM report_meta", 0, NULL, err,
		      errlen);
		if (r == NULL)
			goto fail;
		if (PQntuples(r) != 1) {
			PQclear(r);
			fail("report_meta", "it holds no schema version", err,
			     errlen);
			goto fail;
		}
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	}
	if (v > REPORT_STORE_SCHEMA || v < 0) {
		report_store_schema_newer(err, errlen, "postgresql", v);
		goto fail;
	}
	for (long long i = v; i < REPORT_STORE_SCHEMA; i++)
		for (const char *const *t = steps[i]; *t; t++)
			if (cmd(g, "creating the schema", *t, 0, NULL, err,
				errlen) < 0)
				goto fail;
	if (v == 0 &&
	    cmd(g, "writing the schema version",
		"INSERT INTO report_meta (schema_version) VALUES (" STRINGIFY(
		    REPORT_STORE_SCHEMA) ")",
		0, NULL, err, errlen) < 0)
		goto fail;
	if (v > 0 && v < REPORT_STORE_SCHEMA &&
	    cmd(g, "writing the schema version",
		"UPDATE report_meta SET schema_version = " STRINGIFY(
		    REPORT_STORE_SCHEMA),
		0, NULL, err, errlen) < 0)
		goto fail;
	if (cmd(g, "COMMIT", "COMMIT", 0, NULL, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	rollback(g);
	return -1;
}

static void
pg_close(struct report_store *st)
{
	struct pg *g = (struct pg *)st;

	PQfinish(g->conn);
	free(g);
}

struct report_store *
report_store_pg_open(const char *uri, char *err, size_t errlen)
{
	/* the URI's own settings, expanded from dbname, override the ones
	 * before it */
	static const char *const keys[] = {"connect_timeout",
					   "application_name", "dbname", NULL};
	const char *vals[] = {"5", "authmilter", uri, NULL};
	struct pg *g = xcalloc(1, sizeof(*g));

	g->st.ops = &pg_ops;
	g->st.impl = g;
	g->conn = PQconnectdbParams(keys, vals, 1);
	if (g->conn == NULL) {
		report_seterr(err, errlen, "postgresql: out of memory");
		free(g);
		return NULL;
	}
	PQsetNoticeProcessor(g->conn, quiet, NULL);
	if (PQstatus(g->conn) != CONNECTION_OK) {
		fail("cannot connect", PQerrorMessage(g->conn), err, errlen);
		goto fail;
	}
	if (migrate(g, err, errlen) < 0)
		goto fail;
	return &g->st;
fail:
	pg_close(&g->st);
	return NULL;
}

/* num - v as decimal text into buf (24 bytes) */
static const char *
num(char *buf, int64_t v)
{
	snprintf(buf, 24, "%" PRId64, v);
	return buf;
}

static int
pg_put(struct report_store *st, const struct store_row *rows, size_t n,
       char *err, size_t errlen)
{
	struct pg *g = (struct pg *)st;

	if (alive(g, err, errlen) < 0 ||
	    cmd(g, "BEGIN", "BEGIN", 0, NULL, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char day[24], count[24], seen[24];
		const char *p[5] = {num(day, rows[i].day), rows[i].domain,
				    rows[i].rec.s, num(count, rows[i].count),
				    num(seen, rows[i].last_seen)};

		if (cmd(g, "adding a row", SQL_PUT, 5, p, err, errlen) < 0)
			goto fail;
	}
	if (cmd(g, "COMMIT", "COMMIT", 0, NULL, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	rollback(g);
	return -1;
}

static int
pg_domains(struct report_store *st, int64_t day0, int64_t day1,
	   const char *domain, int (*fn)(const char *domain, void *ctx),
	   void *ctx, char *err, size_t errlen)
{
	struct pg *g = (struct pg *)st;
	char d0[24], d1[24];
	const char *p[3] = {num(d0, day0), num(d1, day1), domain};
	PGresult *r;

	if (alive(g, err, errlen) < 0 ||
	    (r = q(g, "listing the domains", SQL_DOMAINS, 3, p, err, errlen)) ==
		NULL)
		return -1;
	for (int i = 0; i < PQntuples(r); i++)
		if (fn(PQgetvalue(r, i, 0), ctx) != 0)
			break;
	PQclear(r);
	return 0;
}

/* pg_load - the rows one at a time (single-row mode): a day of a busy
 * domain may hold many */
static int
pg_load(struct report_store *st, const char *domain, int64_t day0, int64_t day1,
	store_row_fn fn, void *ctx, char *err, size_t errlen)
{
	struct pg *g = (struct pg *)st;
	char d0[24], d1[24];
	const char *p[3] = {domain, num(d0, day0), num(d1, day1)};
	PGresult *r;
	int rc = 0, stop = 0;

	if (alive(g, err, errlen) < 0)
		return -1;
	if (!PQsendQueryParams(g->conn, SQL_LOAD, 3, NULL, p, NULL, NULL, 0))
		return fail("loading rows", PQerrorMessage(g->conn), err,
			    errlen);
	PQsetSingleRowMode(g->conn);
	while ((r = PQgetResult(g->conn)) != NULL) {
		ExecStatusType s = PQresultStatus(r);

		if (s == PGRES_SINGLE_TUPLE && !stop && rc == 0) {
			if (fn(PQgetvalue(r, 0, 0),
			       (size_t)PQgetlength(r, 0, 0),
			       strtoll(PQgetvalue(r, 0, 1), NULL, 10),
			       strtoll(PQgetvalue(r, 0, 2), NULL, 10),
			       ctx) != 0)
				stop = 1;
		} else if (s != PGRES_SINGLE_TUPLE && s != PGRES_TUPLES_OK &&
			   rc == 0) {
			rc = fail("loading rows", PQresultErrorMessage(r), err,
				  errlen);
		}
		PQclear(r);
	}
	return rc;
}

static int
pg_sent(struct report_store *st, const char *domain, int64_t begin, int64_t end,
	char *id, char *err, size_t errlen)
{
	struct pg *g = (struct pg *)st;
	char b[24], e[24];
	const char *p[3] = {domain, num(b, begin), num(e, end)};
	PGresult *r;
	int found;

	if (alive(g, err, errlen) < 0 ||
	    (r = q(g, "reading the sent marks", SQL_SENT, 3, p, err, errlen)) ==
		NULL)
		return -1;
	found = PQntuples(r) > 0;
	if (found && id != NULL)
		str_copy(id, PQgetvalue(r, 0, 0), REPORT_ID_BUFSIZE);
	PQclear(r);
	return found;
}

static int
pg_mark_sent(struct report_store *st, const char *domain, int64_t begin,
	     int64_t end, const char *id, int64_t now, char *err, size_t errlen)
{
	struct pg *g = (struct pg *)st;
	char b[24], e[24], t[24];
	const char *p[5] = {domain, num(b, begin), num(e, end), id,
			    num(t, now)};

	if (alive(g, err, errlen) < 0)
		return -1;
	return cmd(g, "marking a report sent", SQL_MARK, 5, p, err, errlen);
}

static int
pg_prune(struct report_store *st, int64_t day, int64_t before,
	 uint64_t *deleted, char *err, size_t errlen)
{
	struct pg *g = (struct pg *)st;
	char d[24], b[24];
	const char *pd[1] = {num(d, day)}, *pb[1] = {num(b, before)};
	PGresult *r;

	if (alive(g, err, errlen) < 0 ||
	    cmd(g, "BEGIN", "BEGIN", 0, NULL, err, errlen) < 0)
		return -1;
	r = q(g, "pruning rows", "DELETE FROM report_rows WHERE day < $1", 1,
	      pd, err, errlen);
	if (r == NULL)
		goto fail;
	*deleted = strtoull(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	if (cmd(g, "pruning sent marks",
		"DELETE FROM report_sent WHERE end_ts < $1", 1, pb, err,
		errlen) < 0 ||
	    cmd(g, "COMMIT", "COMMIT", 0, NULL, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	rollback(g);
	return -1;
}

static const struct store_ops pg_ops = {
    .kind = "postgresql",
    .put = pg_put,
    .domains = pg_domains,
    .load = pg_load,
    .sent = pg_sent,
    .mark_sent = pg_mark_sent,
    .prune = pg_prune,
    .close = pg_close,
};
