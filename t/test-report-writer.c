/*
 * test-report-writer.c - the report writer (store.h) against a real SQLite
 * store in a fresh directory: every record submitted from several threads
 * reaches the store, equal ones summed into one row per UTC day; submit
 * never waits for a store that cannot open, and what it loses is counted
 * (queued + dropped = submitted); a full queue drops and counts; stop
 * writes what is queued; a store locked by another writer holds the
 * thread, not the mail side; a server that never answers does not hold
 * the stop longer than about 6 s.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "report.h"
#include "stats.h"
#include "store.h"
#include "tap.h"
#include "util.h"

#define DAY 86400
/* a UTC day in the past, so that the writer's pruning (keep_days 0 in
 * most cases) has nothing to say about it */
#define DAY1 ((time_t)20000 * DAY)

static char dir[] = "/tmp/test-report-writer-XXXXXX";

static const struct report_dkim dkim_pass[] = {
	{ "example.com", "s1", REPORT_DKIM_PASS, NULL },
};
static const struct report_spf spf_pass[] = {
	{ "example.com", REPORT_SPF_MFROM, REPORT_SPF_PASS, NULL },
};

/* record - a record of policy domain dom from ip at when */
static struct report_record
record(const char *dom, const char *ip, time_t when)
{
	struct report_record r;

	memset(&r, 0, sizeof(r));
	r.when = when;
	r.source_ip = ip;
	r.header_from = dom;
	r.envelope_from = dom;
	r.envelope_to = "example.org";
	r.policy.domain = dom;
	r.policy.discovery = DMARC_DISCOVERY_TREEWALK;
	r.policy.p = DMARC_POLICY_REJECT;
	r.policy.pct = 100;
	r.disposition = REPORT_DISP_PASS;
	r.dkim_aligned = 1;
	r.spf_aligned = 1;
	r.dkim = dkim_pass;
	r.ndkim = 1;
	r.spf = spf_pass;
	r.nspf = 1;
	return r;
}

static const char *const ips[] = {
	"192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::25", "198.51.100.7",
};
#define NIPS (sizeof(ips) / sizeof(ips[0]))
static const char *const doms[] = { "example.com", "example.net" };

static void
uri_of(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "sqlite:%s/%s", dir, name);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* load - messages and rows of dom on the day of when, read back from the
 * store at uri; -1 when it does not open or load */
static int
load(const char *uri, const char *dom, time_t when, uint64_t *messages,
     size_t *rows)
{
	char err[256];
	time_t begin = when - when % DAY;
	struct report_store *st = report_store_open(uri, err, sizeof(err));
	struct report_set *s;
	int rc;

	if (st == NULL) {
		ok(0, "reopen %s: %s", uri, err);
		return -1;
	}
	s = report_set_new(dom, begin, begin + DAY - 1);
	rc = report_store_load(st, dom, begin, begin + DAY - 1, s, NULL, err,
			       sizeof(err));
	if (rc < 0)
		ok(0, "load %s: %s", dom, err);
	*messages = report_set_messages(s);
	*rows = report_set_rows(s);
	report_set_free(&s);
	report_store_close(&st);
	return rc;
}

/* wait_for - poll the writer's stats until cond holds, at most ms */
static void
wait_for(struct report_writer *w, int (*cond)(const struct report_writer_stats *),
	 unsigned ms, struct report_writer_stats *st)
{
	for (unsigned t = 0;; t += 10) {
		report_writer_stats(w, st);
		if (cond(st) || t >= ms)
			return;
		usleep(10000);
	}
}

/* metric - a registered counter's value (0 when not registered) */
static uint64_t
metric(const char *name)
{
	const struct stats_metric *m = stats_find(name);

	return m != NULL ? stats_value(m) : 0;
}

/* ---- many threads, all written ----------------------------------------- */

#define NTHREADS 4
#define PER_THREAD 5000

struct submitter {
	struct report_writer *w;
	int id;
	unsigned refused;
};

/* submit_many - PER_THREAD records cycling through the IPs and domains;
 * every third on the next UTC day */
static void *
submit_many(void *arg)
{
	struct submitter *sb = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		struct report_record r = record(doms[i % 2], ips[i % NIPS],
		    DAY1 + 3600 + sb->id + (i % 3 == 2 ? DAY : 0));

		if (report_writer_submit(sb->w, &r) != 0)
			sb->refused++;
	}
	return NULL;
}

static void
test_threads(void)
{
	struct report_writer_opts o = { .queue_max = 1 << 20, .batch_max = 256 };
	struct submitter sb[NTHREADS];
	pthread_t t[NTHREADS];
	char uri[512], err[256];
	uint64_t msgs, total = 0, want;
	size_t rows;
	struct report_writer *w;
	unsigned refused = 0;

	uri_of("threads.db", uri, sizeof(uri));
	o.uri = uri;
	w = report_writer_start(&o, err, sizeof(err));
	if (!ok(w != NULL, "start: %s", err))
		return;
	for (int i = 0; i < NTHREADS; i++) {
		sb[i] = (struct submitter){ w, i, 0 };
		pthread_create(&t[i], NULL, submit_many, &sb[i]);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		refused += sb[i].refused;
	}
	is_int(refused, 0, "threads: no submit refused");
	report_writer_stop(&w);
	ok(w == NULL, "stop clears the pointer");

	/* per domain and day: every record counted, equal ones one row */
	for (int d = 0; d < 2; d++)
		for (int day = 0; day < 2; day++) {
			if (load(uri, doms[d], DAY1 + day * DAY, &msgs,
				 &rows) < 0)
				return;
			/* records of domain d: i = d mod 2; on day 1 when
			 * i mod 3 == 2 */
			want = 0;
			for (int i = 0; i < PER_THREAD; i++)
				if (i % 2 == d && (i % 3 == 2) == day)
					want++;
			is_int(msgs, want * NTHREADS,
			       "%s day %d: every record counted", doms[d], day);
			/* the IPs a domain gets: i mod 2 fixed, i mod 5 all */
			is_int(rows, NIPS, "%s day %d: one row per IP", doms[d],
			       day);
			total += msgs;
		}
	is_int(total, NTHREADS * PER_THREAD, "threads: all in the store");
}

/* the stats of the thread case are checked in a writer of its own, where
 * nothing else counts */
static void
test_counts(void)
{
	struct report_writer_opts o = { .queue_max = 4096 };
	struct report_writer_stats st;
	const struct stats_metric *m;
	struct report_record r;
	char uri[512], err[256];
	uint64_t msgs, before;
	size_t rows;
	struct report_writer *w;

	uri_of("counts.db", uri, sizeof(uri));
	o.uri = uri;
	w = report_writer_start(&o, err, sizeof(err));
	if (!ok(w != NULL, "start: %s", err))
		return;
	m = stats_find("reports_written_total");
	ok(m != NULL && stats_find("reports_records_total") != NULL &&
	       stats_find("reports_dropped_total") != NULL &&
	       stats_find("reports_store_errors_total") != NULL &&
	       stats_find("reports_queue_length") != NULL,
	   "the five metrics are registered");
	before = m != NULL ? stats_value(m) : 0;
	for (int i = 0; i < 1000; i++) {
		r = record("example.com", "192.0.2.1", DAY1 + i);
		report_writer_submit(w, &r);
	}
	report_writer_stop(&w);
	w = report_writer_start(&o, err, sizeof(err));
	report_writer_stats(w, &st);
	is_int(st.queued, 0, "a new writer counts from 0");
	report_writer_stop(&w);
	ok(m != NULL && stats_value(m) == before + 1000,
	   "reports_written_total + 1000");
	if (load(uri, "example.com", DAY1, &msgs, &rows) == 0) {
		is_int(msgs, 1000, "1000 equal records: counted");
		is_int(rows, 1, "1000 equal records: one row");
	}
}

/* ---- a store that cannot open: mail is not held ------------------------- */

static int
has_error(const struct report_writer_stats *st)
{
	return st->store_errors > 0;
}

static void
test_store_down(void)
{
	struct report_writer_opts o = { .queue_max = 65536 };
	struct report_writer_stats st;
	struct report_record r = record("example.com", "192.0.2.1", DAY1);
	char uri[512], err[256];
	struct report_writer *w;
	unsigned refused = 0;
	double t0, dt;

	/* a directory that does not exist: SQLite cannot create the file */
	snprintf(uri, sizeof(uri), "sqlite:%s/missing/dir/r.db", dir);
	o.uri = uri;
	w = report_writer_start(&o, err, sizeof(err));
	if (!ok(w != NULL, "store down: the writer starts anyway (%s)", err))
		return;
	t0 = now_s();
	for (int i = 0; i < 100000; i++) {
		r.when = DAY1 + i;
		refused += report_writer_submit(w, &r) != 0;
	}
	dt = now_s() - t0;
	/* well under a second (ASan builds included): the mail side never
	 * waits for the store */
	printf("# store down: 100,000 submits in %.3f s\n", dt);
	ok(dt < 1.0, "store down: 100,000 submits in %.3f s (< 1 s)", dt);
	wait_for(w, has_error, 3000, &st);
	ok(st.store_errors > 0, "store down: store errors counted (%llu)",
	   (unsigned long long)st.store_errors);
	is_int(st.written, 0, "store down: nothing written");
	is_int(st.queued + st.dropped, 100000,
	       "store down: queued + dropped = submitted");
	is_int(st.queued, 65536, "store down: the queue filled to queue_max");
	is_int(st.dropped, 100000 - 65536, "store down: the rest dropped");
	is_int(refused, st.dropped, "store down: submit said which it dropped");
	is_int(st.queue_length, 65536, "store down: queue_length");
	t0 = now_s();
	report_writer_stop(&w);
	dt = now_s() - t0;
	ok(dt < 6.0, "store down: stop returns in %.2f s", dt);
}

/* queue_max 16 and a store that never opens: exactly 16 queued */
static void
test_queue_full(void)
{
	struct report_writer_opts o = { .queue_max = 16 };
	struct report_writer_stats st;
	struct report_record r = record("example.com", "192.0.2.1", DAY1);
	const struct stats_metric *dm = stats_find("reports_dropped_total");
	uint64_t dropped0 = dm != NULL ? stats_value(dm) : 0;
	char uri[512], err[256];
	struct report_writer *w;

	snprintf(uri, sizeof(uri), "sqlite:%s/missing/r.db", dir);
	o.uri = uri;
	w = report_writer_start(&o, err, sizeof(err));
	if (!ok(w != NULL, "queue full: start (%s)", err))
		return;
	for (int i = 0; i < 100; i++)
		report_writer_submit(w, &r);
	report_writer_stats(w, &st);
	is_int(st.queued, 16, "queue full: 16 queued");
	is_int(st.dropped, 84, "queue full: 84 dropped");
	report_writer_stop(&w);
	dm = stats_find("reports_dropped_total");
	/* at stop the 16 queued are lost too: all 100 counted */
	ok(dm != NULL && stats_value(dm) == dropped0 + 100,
	   "queue full: reports_dropped_total + 100 after stop");
}

/* ---- a stalled store: another writer holds the database ----------------- */

static int
has_queue(const struct report_writer_stats *st)
{
	return st->queued >= 1;
}

static void
test_stalled(void)
{
	struct report_writer_opts o = { .queue_max = 16, .batch_max = 4 };
	struct report_writer_stats st;
	struct report_record r = record("example.com", "192.0.2.1", DAY1);
	char uri[512], path[512], err[256];
	struct report_writer *w;
	sqlite3 *db = NULL;
	double t0, dt;
	uint64_t msgs, written, dropped;
	size_t rows;

	uri_of("stalled.db", uri, sizeof(uri));
	snprintf(path, sizeof(path), "%s/stalled.db", dir);
	o.uri = uri;
	/* the store made first, then held by an open write transaction */
	w = report_writer_start(&o, err, sizeof(err));
	if (!ok(w != NULL, "stalled: start (%s)", err))
		return;
	report_writer_submit(w, &r);
	report_writer_stop(&w);
	if (!ok(sqlite3_open(path, &db) == SQLITE_OK &&
		    sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL) ==
			    SQLITE_OK,
		"stalled: the database locked: %s", db ? sqlite3_errmsg(db) : ""))
		return;
	written = metric("reports_written_total");
	dropped = metric("reports_dropped_total");
	w = report_writer_start(&o, err, sizeof(err));
	t0 = now_s();
	for (int i = 0; i < 1000; i++)
		report_writer_submit(w, &r);
	dt = now_s() - t0;
	ok(dt < 0.1, "stalled: 1000 submits in %.4f s", dt);
	wait_for(w, has_queue, 1000, &st);
	ok(st.queued <= 16 + 4, "stalled: at most queue_max + a batch "
	   "taken (%llu)", (unsigned long long)st.queued);
	is_int(st.queued + st.dropped, 1000, "stalled: queued + dropped");
	is_int(st.written, 0, "stalled: nothing written yet");
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(db);
	report_writer_stop(&w);
	/* the writer could not hold the queued ones while another held the
	 * lock past its busy timeout; whatever happened, each is counted */
	written = metric("reports_written_total") - written;
	dropped = metric("reports_dropped_total") - dropped;
	is_int(written + dropped, 1000,
	       "stalled: after stop, written + dropped = submitted");
	if (load(uri, "example.com", DAY1, &msgs, &rows) == 0)
		is_int(msgs, 1 + written, "stalled: the store holds the first "
		       "record and the %llu written", (unsigned long long)written);
}

/* ---- a store that does not answer: stop still returns ------------------ */

static int
has_queued(const struct report_writer_stats *st)
{
	return st->queued >= 10;
}

/* test_unanswered - a "PostgreSQL server" whose port takes connections
 * (the kernel's backlog) and never says a word: the writer's thread is
 * stuck in the connection for 30 s, stop gives up after about 6 s and
 * counts what was queued as dropped */
static void
test_unanswered(void)
{
	struct report_writer_opts o = { .queue_max = 1000 };
	struct report_writer_stats st;
	struct report_record r = record("example.com", "192.0.2.1", DAY1);
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	char uri[256], err[256];
	struct report_writer *w;
	uint64_t dropped, errors;
	double t0, dt;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (!ok(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    listen(fd, 16) == 0 &&
		    getsockname(fd, (struct sockaddr *)&sa, &salen) == 0,
		"unanswered: a listening socket"))
		return;
	snprintf(uri, sizeof(uri),
		 "postgresql://u@127.0.0.1:%u/reports?connect_timeout=30",
		 (unsigned)ntohs(sa.sin_port));
	o.uri = uri;
	dropped = metric("reports_dropped_total");
	w = report_writer_start(&o, err, sizeof(err));
	if (!ok(w != NULL, "unanswered: start (%s)", err))
		return;
	t0 = now_s();
	for (int i = 0; i < 10; i++)
		report_writer_submit(w, &r);
	dt = now_s() - t0;
	ok(dt < 0.1, "unanswered: submits return at once (%.4f s)", dt);
	wait_for(w, has_queued, 1000, &st);
	is_int(st.written, 0, "unanswered: nothing written");
	t0 = now_s();
	report_writer_stop(&w);
	dt = now_s() - t0;
	ok(dt > 4.0 && dt < 7.0, "unanswered: stop gives up in %.2f s "
	   "(5 s of flushing and 1 s)", dt);
	is_int(metric("reports_dropped_total") - dropped, 10,
	       "unanswered: the 10 queued are counted dropped");
	/* closing the port resets the connection the thread still waits
	 * on: it fails, counts a store error and ends, before the process
	 * does (libraries' destructors must not run under it) */
	errors = metric("reports_store_errors_total");
	close(fd);
	for (int i = 0; i < 300 && metric("reports_store_errors_total") ==
	     errors; i++)
		usleep(10000);
	ok(metric("reports_store_errors_total") > errors,
	   "unanswered: the thread's connection failed once the port closed");
	usleep(100000);
}

/* ---- stop writes what is queued ----------------------------------------- */

static void
test_stop_flushes(void)
{
	struct report_writer_opts o = { .queue_max = 1 << 16 };
	char uri[512], err[256];
	struct report_writer *w;
	uint64_t msgs;
	size_t rows;

	uri_of("flush.db", uri, sizeof(uri));
	o.uri = uri;
	w = report_writer_start(&o, err, sizeof(err));
	if (!ok(w != NULL, "flush: start (%s)", err))
		return;
	for (int i = 0; i < 20000; i++) {
		struct report_record r = record("example.net", ips[i % NIPS],
		    DAY1 + i % 3600);

		report_writer_submit(w, &r);
	}
	report_writer_stop(&w);
	if (load(uri, "example.net", DAY1, &msgs, &rows) == 0) {
		is_int(msgs, 20000, "flush: all 20000 written by stop");
		is_int(rows, NIPS, "flush: one row per IP");
	}
}

/* rmtree - the test directory (flat but for the missing/ ones) */
static void
rmtree(void)
{
	static const char *const names[] = {
		"threads.db", "counts.db", "stalled.db", "flush.db",
	};
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char p[600];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		for (size_t j = 0; j < sizeof(sfx) / sizeof(sfx[0]); j++) {
			snprintf(p, sizeof(p), "%s/%s%s", dir, names[i], sfx[j]);
			unlink(p);
		}
	rmdir(dir);
}

int
main(void)
{
	if (!ok(mkdtemp(dir) != NULL, "mkdtemp"))
		return test_done("report-writer");
	log_set_level(LOG_CRIT); /* the store errors below are expected */
	test_threads();
	test_counts();
	test_store_down();
	test_queue_full();
	test_stalled();
	test_stop_flushes();
	test_unanswered();
	rmtree();
	return test_done("report-writer");
}
