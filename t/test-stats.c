/*
 * test-stats.c - the metrics registry: idempotent registration (also from
 * several threads at once), exact counts from several threads, gauges up
 * and down, histogram buckets and sums, lookups, the order of stats_each,
 * and stats_format's line and its cut at a short buffer; stats_prometheus's
 * exposition: families grouped once with HELP and TYPE, labels, cumulative
 * histogram buckets, microseconds as seconds, local and name-less metrics.
 *
 * The registry is the process's: this program registers only its own
 * metrics (it calls no other module), so the registry holds exactly them,
 * in the order below.
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>

#include "stats.h"
#include "tap.h"
#include "util.h"

#define THREADS 4
#define ROUNDS 100000

static struct stats_metric hits = STATS_COUNTER("test_hits_total",
    "increments from every thread");
static struct stats_metric bytes = STATS_COUNTER("test_bytes_total",
    "additions from every thread");
static struct stats_metric busy = STATS_GAUGE("test_busy",
    "up and down from every thread");
static const uint64_t lat_bounds[] = {10, 100, 1000};
static struct stats_metric lat = STATS_HISTOGRAM("test_latency_us",
    "observations in three buckets and +Inf", lat_bounds, 3);
static const uint64_t many_bounds[STATS_MAX_BUCKETS + 4] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
};
static struct stats_metric many = STATS_HISTOGRAM("test_many",
    "more bounds than a histogram holds", many_bounds, STATS_MAX_BUCKETS + 4);
static struct stats_metric never = STATS_COUNTER("test_never_registered_total",
    "bumped but never registered");

static struct stats_metric *const all[] = {&hits, &bytes, &busy, &lat, &many};
#define NALL (sizeof(all) / sizeof(all[0]))

static pthread_barrier_t start;

/* registrar - every thread registers every metric at the same moment */
static void *
registrar(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&start);
	for (size_t i = 0; i < NALL; i++)
		stats_register(all[i]);
	return NULL;
}

/* worker - bumps every kind of metric ROUNDS times */
static void *
worker(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg;

	pthread_barrier_wait(&start);
	for (uint64_t i = 0; i < ROUNDS; i++) {
		stats_inc(&hits);
		stats_add(&bytes, id + 1);
		stats_gauge_add(&busy, 1);
		stats_observe(&lat, i % 2000);
		stats_gauge_add(&busy, -1);
	}
	return NULL;
}

static void
run_threads(void *(*fn)(void *))
{
	pthread_t t[THREADS];

	pthread_barrier_init(&start, NULL, THREADS);
	for (uintptr_t i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, fn, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
}

struct walk {
	const struct stats_metric *seen[16];
	size_t n;
};

static void
collect(const struct stats_metric *m, void *arg)
{
	struct walk *w = arg;

	if (w->n < sizeof(w->seen) / sizeof(w->seen[0]))
		w->seen[w->n] = m;
	w->n++;
}

static uint64_t
bucket(const struct stats_metric *m, size_t i)
{
	return atomic_load(&m->buckets[i]);
}

static void
registration(void)
{
	struct walk w = {{0}, 0};

	ok(stats_find("test_hits_total") == NULL, "nothing is found before it registers");
	run_threads(registrar);
	stats_register(&hits); /* and once more from here */
	stats_each(collect, &w);
	is_int(w.n, NALL, "registered from %d threads at once, each metric is listed once",
	    THREADS);
	/* a thread registers all[i + 1] only once all[i] is in: the order holds */
	for (size_t i = 0; i < NALL && i < w.n; i++)
		ok(w.seen[i] == all[i], "%s listed in order of registration", all[i]->name);
	for (size_t i = 0; i < NALL; i++) {
		size_t times = 0;

		for (size_t j = 0; j < w.n && j < 16; j++)
			times += w.seen[j] == all[i];
		is_int(times, 1, "%s is listed exactly once", all[i]->name);
	}
	is_int(many.nbounds, STATS_MAX_BUCKETS, "bounds beyond STATS_MAX_BUCKETS are dropped");
}

/* order - a metric registered later comes after the others */
static void
order(void)
{
	static struct stats_metric late = STATS_COUNTER("test_late_total",
	    "registered last");
	struct walk w = {{0}, 0};

	stats_register(&late);
	stats_each(collect, &w);
	is_int(w.n, NALL + 1, "one more metric");
	ok(w.n == NALL + 1 && w.seen[NALL] == &late, "stats_each: the last one registered last");
	stats_register(&late);
	w.n = 0;
	stats_each(collect, &w);
	is_int(w.n, NALL + 1, "registering it again adds nothing");
}

static void
find(void)
{
	ok(stats_find("test_hits_total") == &hits, "stats_find: a counter");
	ok(stats_find("test_latency_us") == &lat, "stats_find: a histogram");
	ok(stats_find("test_latency") == NULL, "stats_find: a prefix of a name is no name");
	ok(stats_find("test_latency_us_count") == NULL, "stats_find: nor is a formatted key");
	ok(stats_find("") == NULL, "stats_find: the empty name");
	stats_inc(&never);
	ok(stats_find("test_never_registered_total") == NULL,
	    "stats_find: a metric bumped but never registered");
	is_int(stats_value(&never), 1, "an unregistered metric still counts");
}

static void
threads(void)
{
	uint64_t sum = 0;

	run_threads(worker);
	is_int(stats_value(&hits), (uint64_t)THREADS * ROUNDS, "increments add up exactly");
	is_int(stats_value(&bytes), (uint64_t)ROUNDS * (1 + 2 + 3 + 4),
	    "additions add up exactly");
	is_int((int64_t)stats_value(&busy), 0, "a gauge up and down from %d threads is 0",
	    THREADS);
	is_int(stats_value(&lat), (uint64_t)THREADS * ROUNDS, "every observation counted");
	for (uint64_t i = 0; i < ROUNDS; i++)
		sum += i % 2000;
	is_int(atomic_load(&lat.sum), THREADS * sum, "the sum of the observations");
	/* of each 2000: 0..10, 11..100, 101..1000, 1001..1999 */
	is_int(bucket(&lat, 0), THREADS * (ROUNDS / 2000) * 11, "bucket <= 10");
	is_int(bucket(&lat, 1), THREADS * (ROUNDS / 2000) * 90, "bucket <= 100");
	is_int(bucket(&lat, 2), THREADS * (ROUNDS / 2000) * 900, "bucket <= 1000");
	is_int(bucket(&lat, 3), THREADS * (ROUNDS / 2000) * 999, "bucket +Inf");
}

static void
gauges(void)
{
	stats_set(&busy, 0);
	stats_gauge_add(&busy, 5);
	stats_gauge_add(&busy, -3);
	is_int((int64_t)stats_value(&busy), 2, "a gauge: +5 -3");
	stats_gauge_add(&busy, -4);
	is_int((int64_t)stats_value(&busy), -2, "a gauge below zero");
	stats_set(&busy, 7);
	is_int(stats_value(&busy), 7, "a gauge set");
}

static void
histograms(void)
{
	static const uint64_t b[] = {10, 100, 1000};
	static struct stats_metric h = STATS_HISTOGRAM("test_h", "buckets", b, 3);
	static const uint64_t vals[] = {0, 5, 10, 11, 100, 101, 1000, 1001, UINT64_MAX / 2};
	uint64_t sum = 0;

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		stats_observe(&h, vals[i]);
		sum += vals[i];
	}
	is_int(stats_value(&h), 9, "histogram count");
	is_int(atomic_load(&h.sum), sum, "histogram sum");
	is_int(bucket(&h, 0), 3, "<= 10: 0, 5 and 10 (a bound is its bucket's)");
	is_int(bucket(&h, 1), 2, "<= 100: 11 and 100");
	is_int(bucket(&h, 2), 2, "<= 1000: 101 and 1000");
	is_int(bucket(&h, 3), 2, "+Inf: 1001 and a huge one");
	is_int(bucket(&h, 4), 0, "no bucket past +Inf");

	/* more bounds than a histogram holds: registered (its bounds cut at
	 * registration) and never registered (cut at each observation) */
	for (int i = 0; i < 2; i++) {
		static struct stats_metric loose = STATS_HISTOGRAM("test_loose",
		    "never registered", many_bounds, STATS_MAX_BUCKETS + 4);
		struct stats_metric *m = i == 0 ? &many : &loose;

		stats_observe(m, 16);
		stats_observe(m, 17);
		stats_observe(m, 1000);
		is_int(bucket(m, 15), 1, "%s: 16 in the last bounded bucket", m->name);
		is_int(bucket(m, STATS_MAX_BUCKETS), 2, "%s: 17 and 1000 in +Inf (bounds "
		    "past STATS_MAX_BUCKETS ignored)", m->name);
	}
}

static void
format(void)
{
	char full[512], buf[512], want[512];
	const char *pairs[8];
	size_t npairs = 0, len;

	stats_set(&hits, 3);
	stats_set(&bytes, 40);
	stats_set(&busy, 0);
	stats_gauge_add(&busy, -2);
	is_str(stats_format(full, sizeof(full)),
	    "test_hits_total=3 test_bytes_total=40 test_busy=-2 "
	    "test_latency_us_count=400000 test_latency_us_sum=399800000 "
	    "test_many_count=3 test_many_sum=1033 test_late_total=0",
	    "stats_format: every metric in order, a gauge signed, a histogram as "
	    "count and sum");

	/* the whole metrics, for the cuts */
	pairs[npairs++] = "test_hits_total=3";
	pairs[npairs++] = "test_bytes_total=40";
	pairs[npairs++] = "test_busy=-2";
	pairs[npairs++] = "test_latency_us_count=400000 test_latency_us_sum=399800000";
	pairs[npairs++] = "test_many_count=3 test_many_sum=1033";
	pairs[npairs++] = "test_late_total=0";
	for (len = 1; len <= strlen(full) + 1; len++) {
		size_t k = 0, used = 0;

		/* the longest run of whole metrics that fits len - 1 bytes */
		want[0] = '\0';
		while (k < npairs && used + (k ? 1 : 0) + strlen(pairs[k]) < len) {
			used += (size_t)snprintf(want + used, sizeof(want) - used, "%s%s",
			    k ? " " : "", pairs[k]);
			k++;
		}
		memset(buf, 'X', sizeof(buf));
		stats_format(buf, len);
		if (!is_str(buf, want, "stats_format cut at %zu bytes", len))
			break;
	}
	ok(len == strlen(full) + 2, "every cut from 1 to %zu bytes ends after a whole metric",
	    strlen(full) + 1);

	memset(buf, 'X', sizeof(buf));
	stats_format(buf, 0);
	ok(buf[0] == 'X', "stats_format into 0 bytes writes nothing");
	stats_format(buf, 1);
	is_str(buf, "", "stats_format into 1 byte: empty");
	stats_format(buf, strlen("test_hits_total=3"));
	is_str(buf, "", "one byte short of the first pair: empty, not half of it");
	stats_format(buf, strlen("test_hits_total=3") + 1);
	is_str(buf, "test_hits_total=3", "the first pair exactly");
}

/* the metrics of the exposition test, registered after format() */
static struct stats_metric req_get = STATS_COUNTER_AS("test_req_get_total",
    "test_requests_total", "method=\"get\"", "requests \\ by\nmethod");
static struct stats_metric between = STATS_GAUGE("test_between",
    "registered between two metrics of one family");
static struct stats_metric req_head = STATS_LABELLED("test_requests_total",
    "method=\"head\"", "not shown: the family's first help is");
static struct stats_metric local = STATS_COUNTER_LOCAL("test_local_total",
    "log line only");
static const uint64_t wait_bounds[] = {250, 1000000, 2500000};
static struct stats_metric wait_us = { .name = "test_wait_microseconds",
    .kind = STATS_KIND_HISTOGRAM, .help = "waits",
    .family = "test_wait_seconds", .labels = "queue=\"in\"",
    .flags = STATS_SECONDS, .bounds = wait_bounds, .nbounds = 3 };

/* count - how many times needle occurs in hay */
static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void
prometheus(void)
{
	struct dynbuf b;
	char line[2048];

	stats_register(&req_get);
	stats_register(&between);
	stats_register(&req_head);
	stats_register(&local);
	stats_register(&wait_us);
	stats_add(&req_get, 7);
	stats_add(&req_head, 2);
	stats_set(&between, 0);
	stats_gauge_add(&between, -5);
	stats_inc(&local);
	stats_observe(&wait_us, 100);
	stats_observe(&wait_us, 300);
	stats_observe(&wait_us, 2000000);
	stats_observe(&wait_us, 9000000);

	dynbuf_init(&b, 1 << 20);
	is_int(stats_prometheus(&b, "am_"), 0, "stats_prometheus: 0");
	ok(b.s != NULL && strstr(b.s,
	    "# HELP am_test_requests_total requests \\\\ by\\nmethod\n"
	    "# TYPE am_test_requests_total counter\n"
	    "am_test_requests_total{method=\"get\"} 7\n"
	    "am_test_requests_total{method=\"head\"} 2\n") != NULL,
	    "a family once, its members together though registered apart, "
	    "the first help with backslash and newline escaped");
	is_int(count(b.s, "# TYPE am_test_requests_total "), 1,
	    "one TYPE line per family");
	ok(strstr(b.s, "# TYPE am_test_between gauge\nam_test_between -5\n") != NULL,
	    "a gauge, signed, under its name");
	ok(strstr(b.s, "# TYPE am_test_hits_total counter\nam_test_hits_total 3\n")
	    != NULL, "an unlabelled counter under its name");
	is_int(count(b.s, "test_local_total"), 0, "a local metric is not exported");
	ok(strstr(b.s,
	    "# TYPE am_test_wait_seconds histogram\n"
	    "am_test_wait_seconds_bucket{queue=\"in\",le=\"0.00025\"} 1\n"
	    "am_test_wait_seconds_bucket{queue=\"in\",le=\"1\"} 2\n"
	    "am_test_wait_seconds_bucket{queue=\"in\",le=\"2.5\"} 3\n"
	    "am_test_wait_seconds_bucket{queue=\"in\",le=\"+Inf\"} 4\n"
	    "am_test_wait_seconds_sum{queue=\"in\"} 11.0004\n"
	    "am_test_wait_seconds_count{queue=\"in\"} 4\n") != NULL,
	    "a histogram in seconds: cumulative buckets, labels before le, sum, count");
	ok(strstr(b.s, "am_test_latency_us_bucket{le=\"10\"} ") != NULL &&
	    strstr(b.s, "am_test_latency_us_sum 399800000\n") != NULL,
	    "a histogram in its own unit: integer bounds and sum");
	ok(b.s[b.len - 1] == '\n', "the exposition ends with a line end");
	dynbuf_free(&b);

	stats_format(line, sizeof(line));
	ok(strstr(line, "test_local_total=1") != NULL,
	    "the local metric is on the log line");
	ok(strstr(line, "test_requests_total") == NULL && strstr(line, "=2 ") == NULL,
	    "a name-less metric is not on the log line");
	ok(stats_find("test_req_get_total") == &req_get &&
	    stats_find("test_requests_total") == NULL,
	    "stats_find by the flat name, not the family");

	dynbuf_init(&b, 100);
	is_int(stats_prometheus(&b, "am_"), -1, "over the buffer's limit: -1");
	dynbuf_free(&b);
}

int
main(void)
{
	registration();
	threads();
	order();
	find();
	gauges();
	histograms();
	format();
	prometheus();
	return test_done("stats");
}
