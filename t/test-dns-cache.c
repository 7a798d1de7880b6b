/*
 * test-dns-cache.c - the answer cache (lib/dns/dns_cache.c) over the table back
 * end, with a clock the test moves by hand: hits and misses, TTL expiry,
 * what is never kept, failures passed on with their kind, name
 * normalization, bad names that reach neither cache nor back end, LRU
 * eviction by count and by bytes, copies that outlive the cache, cancel,
 * many threads at once, and the process-wide counters of the registry.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns.h"
#include "stats.h"
#include "tap.h"

static time_t fake_now = 1000;

static time_t
fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

/* new_cache - a table with a few names behind a cache on the fake clock;
 * *table is the back end (owned by the cache) for its query counter */
static struct dns_resolver *
new_cache(struct dns_resolver **table, size_t max_entries, size_t max_bytes)
{
	struct dns_resolver *t = dns_table_new();
	struct dns_cache_opts o = { .max_entries = max_entries,
	    .max_bytes = max_bytes, .max_ttl = 0 };
	struct dns_resolver *c;

	dns_table_add_text(t, "example.org", DNS_T_TXT, "v=spf1 -all");
	dns_table_add_text(t, "example.org", DNS_T_A, "192.0.2.1");
	dns_table_add_text(t, "a.example.org", DNS_T_TXT, "a");
	dns_table_add_text(t, "b.example.org", DNS_T_TXT, "b");
	dns_table_add_text(t, "c.example.org", DNS_T_TXT, "c");
	dns_table_set_status(t, "fail.example.org", 0, DNS_STATUS_TEMPFAIL);
	c = dns_cache_new(t, &o);
	dns_cache_set_clock(c, fake_clock, NULL);
	*table = t;
	return c;
}

static const char *
txt(const struct dns_answer *a, char *buf, size_t len)
{
	if (a->status != DNS_STATUS_OK || a->count == 0 ||
	    dns_rr_txt(&a->rr[0], buf, len) != 0)
		return dns_status_name(a->status);
	return buf;
}

/* ask - one query; returns the status name or the first TXT string */
static const char *
ask(struct dns_resolver *c, const char *name, int type, char *buf, size_t len)
{
	struct dns_answer *a = dns_query(c, name, type, 0);
	static char out[256];

	snprintf(out, sizeof(out), "%s", txt(a, buf, len));
	dns_answer_free(&a);
	return out;
}

static void
test_hits(void)
{
	struct dns_resolver *t, *c = new_cache(&t, 0, 0);
	struct dns_cache_stats s;
	struct dns_answer *a;
	char buf[256];

	fake_now = 1000;
	is_str(ask(c, "example.org", DNS_T_TXT, buf, sizeof(buf)), "v=spf1 -all",
	    "first TXT query");
	is_int(dns_table_queries(t), 1, "first query reaches the back end");
	is_str(ask(c, "example.org", DNS_T_TXT, buf, sizeof(buf)), "v=spf1 -all",
	    "second TXT query");
	is_int(dns_table_queries(t), 1, "second query answered from the cache");
	is_str(ask(c, "EXAMPLE.Org.", DNS_T_TXT, buf, sizeof(buf)), "v=spf1 -all",
	    "other case and a trailing dot");
	is_int(dns_table_queries(t), 1, "names compare case-insensitively (RFC 4343)");
	is_str(ask(c, "example.org", DNS_T_A, buf, sizeof(buf)), "ok",
	    "same name, other type");
	is_int(dns_table_queries(t), 2, "the type is part of the key");

	/* NXDOMAIN and NODATA are final: kept */
	is_str(ask(c, "nx.example.org", DNS_T_TXT, buf, sizeof(buf)), "nxdomain",
	    "NXDOMAIN");
	is_str(ask(c, "nx.example.org", DNS_T_TXT, buf, sizeof(buf)), "nxdomain",
	    "NXDOMAIN again");
	is_int(dns_table_queries(t), 3, "NXDOMAIN kept");
	is_str(ask(c, "example.org", DNS_T_MX, buf, sizeof(buf)), "nodata", "NODATA");
	is_str(ask(c, "example.org", DNS_T_MX, buf, sizeof(buf)), "nodata",
	    "NODATA again");
	is_int(dns_table_queries(t), 4, "NODATA kept");

	/* temporary failures never */
	is_str(ask(c, "fail.example.org", DNS_T_TXT, buf, sizeof(buf)), "tempfail",
	    "TEMPFAIL");
	is_str(ask(c, "fail.example.org", DNS_T_TXT, buf, sizeof(buf)), "tempfail",
	    "TEMPFAIL again");
	is_int(dns_table_queries(t), 6, "TEMPFAIL asked again every time");

	/* the TTL counts down on a hit */
	fake_now += 100;
	a = dns_query(c, "example.org", DNS_T_TXT, 0);
	is_int(a->ttl, 200, "a hit 100 s later has TTL 300 - 100");
	dns_answer_free(&a);

	/* and runs out */
	fake_now += 200;
	is_str(ask(c, "example.org", DNS_T_TXT, buf, sizeof(buf)), "v=spf1 -all",
	    "TXT after its TTL");
	is_int(dns_table_queries(t), 7, "an expired answer is asked for again");

	dns_cache_get_stats(c, &s);
	is_int(s.hits, 5, "stats: hits");
	is_int(s.misses, 7, "stats: misses");
	is_int(s.expired, 1, "stats: expired");
	dns_resolver_free(&c);
	ok(c == NULL, "cache freed with its back end");
}

/* test_fail_kept - the back end's failures come through the cache with
 * their kind, asked again each time; a hit is no failure */
static void
test_fail_kept(void)
{
	struct dns_resolver *t, *c = new_cache(&t, 0, 0);
	struct dns_answer *a;

	fake_now = 1000;
	dns_table_set_fail(t, "servfail.example.org", DNS_T_TXT,
	    DNS_FAIL_SERVFAIL);
	dns_table_set_fail(t, "bogus.example.org", DNS_T_TXT, DNS_FAIL_BOGUS);
	for (int i = 0; i < 2; i++) {
		a = dns_query(c, "fail.example.org", DNS_T_TXT, 0);
		is_str(dns_fail_name(a->fail), "timeout",
		    "simulated timeout through the cache (%d)", i);
		dns_answer_free(&a);
		a = dns_query(c, "servfail.example.org", DNS_T_TXT, 0);
		is_str(dns_fail_name(a->fail), "servfail",
		    "SERVFAIL through the cache (%d)", i);
		dns_answer_free(&a);
		a = dns_query(c, "bogus.example.org", DNS_T_TXT, 0);
		is_str(dns_fail_name(a->fail), "bogus",
		    "bogus through the cache (%d)", i);
		is_int(a->bogus, 1, "bogus flag through the cache (%d)", i);
		dns_answer_free(&a);
		a = dns_query(c, "example.org", DNS_T_TXT, 0);
		is_str(dns_fail_name(a->fail), "none", "an answer, %s (%d)",
		    i ? "a hit" : "a miss", i);
		dns_answer_free(&a);
	}
	is_int(dns_table_queries(t), 7, "failures asked again, the answer kept");
	dns_resolver_free(&c);
}

static void
test_eviction(void)
{
	struct dns_resolver *t, *c = new_cache(&t, 2, 0);
	struct dns_cache_stats s;
	char buf[256];

	fake_now = 1000;
	ask(c, "a.example.org", DNS_T_TXT, buf, sizeof(buf));
	ask(c, "b.example.org", DNS_T_TXT, buf, sizeof(buf));
	/* touch a: b is now the least recently used */
	ask(c, "a.example.org", DNS_T_TXT, buf, sizeof(buf));
	is_int(dns_table_queries(t), 2, "two names, a asked twice");
	ask(c, "c.example.org", DNS_T_TXT, buf, sizeof(buf));
	dns_cache_get_stats(c, &s);
	is_int(s.entries, 2, "max_entries 2 holds");
	is_int(s.evictions, 1, "one eviction");
	is_str(ask(c, "a.example.org", DNS_T_TXT, buf, sizeof(buf)), "a",
	    "a (recently used) kept");
	is_int(dns_table_queries(t), 3, "a answered from the cache");
	is_str(ask(c, "b.example.org", DNS_T_TXT, buf, sizeof(buf)), "b",
	    "b (least recently used) evicted");
	is_int(dns_table_queries(t), 4, "b asked again");
	dns_resolver_free(&c);

	/* a byte budget too small for any answer: nothing is kept */
	c = new_cache(&t, 0, 64);
	ask(c, "a.example.org", DNS_T_TXT, buf, sizeof(buf));
	ask(c, "a.example.org", DNS_T_TXT, buf, sizeof(buf));
	is_int(dns_table_queries(t), 2, "an answer over max_bytes / 8 is not kept");
	dns_cache_get_stats(c, &s);
	is_int(s.entries, 0, "no entries");
	dns_resolver_free(&c);

	/* a byte budget of eight answers of one size, twenty names asked */
	{
		struct dns_resolver *tb = dns_table_new();
		struct dns_cache_opts o = { 0 };
		size_t one;
		char name[64];

		for (int i = 0; i < 20; i++) {
			snprintf(name, sizeof(name), "n%02d.example.org", i);
			dns_table_add_text(tb, name, DNS_T_TXT, "x");
		}
		c = dns_cache_new(tb, NULL);
		ask(c, "n00.example.org", DNS_T_TXT, buf, sizeof(buf));
		dns_cache_get_stats(c, &s);
		one = s.bytes;
		ok(one > 0, "one answer counts %zu bytes", one);
		o.max_bytes = 8 * one;
		dns_resolver_free(&c);
		tb = dns_table_new();
		for (int i = 0; i < 20; i++) {
			snprintf(name, sizeof(name), "n%02d.example.org", i);
			dns_table_add_text(tb, name, DNS_T_TXT, "x");
		}
		c = dns_cache_new(tb, &o);
		for (int i = 0; i < 20; i++) {
			snprintf(name, sizeof(name), "n%02d.example.org", i);
			ask(c, name, DNS_T_TXT, buf, sizeof(buf));
		}
		dns_cache_get_stats(c, &s);
		ok(s.bytes <= 8 * one, "bytes within max_bytes (%zu)", s.bytes);
		is_int(s.entries, 8, "eight answers fit");
		is_int(s.evictions, 12, "the other twelve were evicted by bytes");
		dns_resolver_free(&c);
	}
}

static void
test_ownership(void)
{
	struct dns_resolver *t, *c = new_cache(&t, 0, 0);
	struct dns_answer *a, *b;
	struct dns_query *q;
	char buf[256];

	fake_now = 1000;
	a = dns_query(c, "example.org", DNS_T_TXT, 0);
	b = dns_query(c, "example.org", DNS_T_TXT, 0);
	ok(a != b && a->rr != b->rr, "each hit is a copy of its own");
	dns_resolver_free(&c);
	is_str(txt(b, buf, sizeof(buf)), "v=spf1 -all", "a copy outlives the cache");
	dns_answer_free(&a);
	dns_answer_free(&b);

	c = new_cache(&t, 0, 0);
	q = dns_query_start(c, "example.org", DNS_T_TXT);
	dns_query_cancel(&q);
	ok(q == NULL, "cancel a lookup on the way to the back end");
	is_int(dns_table_queries(t), 1, "it did reach the back end");
	a = dns_query(c, "example.org", DNS_T_TXT, 0);
	dns_answer_free(&a);
	q = dns_query_start(c, "example.org", DNS_T_TXT);
	dns_query_cancel(&q);
	ok(q == NULL, "cancel a hit");

	dns_resolver_free(&c);
}

/* test_bad_names - what is not a domain name is answered by
 * dns_query_start() itself: it reaches neither the cache (no hit, no
 * miss) nor the back end */
static void
test_bad_names(void)
{
	struct dns_resolver *t, *c = new_cache(&t, 0, 0);
	struct dns_cache_stats before, after;
	struct dns_answer *a;
	char name[400];
	const char *names[] = { name, "a..example.org", ".example.org",
		"example.org.." };

	fake_now = 1000;
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	a = dns_query(c, "example.org", DNS_T_TXT, 0);
	dns_answer_free(&a);
	dns_cache_get_stats(c, &before);
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			a = dns_query(c, names[i], DNS_T_TXT, 0);
			is_str(dns_status_name(a->status), "nxdomain",
			    "bad name %.20s: nxdomain", names[i]);
			is_str(dns_fail_name(a->fail), "badname",
			    "bad name %.20s: fail", names[i]);
			is_int(a->ttl, 0, "bad name %.20s: TTL 0", names[i]);
			dns_answer_free(&a);
		}
	dns_cache_get_stats(c, &after);
	is_int(dns_table_queries(t), 1, "no bad name reached the back end");
	is_int(after.hits, before.hits, "no bad name counted as a hit");
	is_int(after.misses, before.misses, "no bad name counted as a miss");
	is_int(after.entries, before.entries, "no bad name kept");
	dns_resolver_free(&c);
}

/* metric - a registered metric's value now (0 when it is not registered) */
static uint64_t
metric(const char *name)
{
	const struct stats_metric *m = stats_find(name);

	return m != NULL ? stats_value(m) : 0;
}

/* test_registry - the process-wide counters move with what one cache
 * does (nothing else runs meanwhile), and the gauges follow its size */
static void
test_registry(void)
{
	static const char *const names[] = { "dns_cache_hits_total",
		"dns_cache_misses_total", "dns_cache_expired_total",
		"dns_cache_evictions_total", "dns_cache_entries",
		"dns_cache_bytes", "dns_queries_total", "dns_failures_total",
		"dns_failures_timeout_total", "dns_failures_servfail_total",
		"dns_failures_badname_total" };
	enum { HITS, MISSES, EXPIRED, EVICTIONS, ENTRIES, BYTES, QUERIES,
		FAILURES, TIMEOUTS, SERVFAILS, BADNAMES, N };
	uint64_t before[N], d[N];
	struct dns_resolver *t, *c;
	struct dns_cache_stats s;
	char buf[256];

	ok(stats_find("dns_cache_hits_total") == NULL ||
	    stats_value(stats_find("dns_cache_entries")) == 0,
	    "no cache alive: no entries counted");
	c = new_cache(&t, 2, 0);
	for (size_t i = 0; i < N; i++)
		ok(stats_find(names[i]) != NULL, "%s registered by "
		    "dns_cache_new", names[i]);
	for (size_t i = 0; i < N; i++)
		before[i] = metric(names[i]);
	dns_table_set_fail(t, "servfail.example.org", DNS_T_TXT,
	    DNS_FAIL_SERVFAIL);
	fake_now = 1000;
	ask(c, "a.example.org", DNS_T_TXT, buf, sizeof(buf));   /* miss */
	ask(c, "a.example.org", DNS_T_TXT, buf, sizeof(buf));   /* hit */
	ask(c, "b.example.org", DNS_T_TXT, buf, sizeof(buf));   /* miss */
	ask(c, "c.example.org", DNS_T_TXT, buf, sizeof(buf));   /* miss, evicts a */
	ask(c, "fail.example.org", DNS_T_TXT, buf, sizeof(buf)); /* miss, timeout */
	ask(c, "servfail.example.org", DNS_T_TXT, buf, sizeof(buf)); /* miss */
	ask(c, "a..example.org", DNS_T_TXT, buf, sizeof(buf));  /* neither */
	fake_now += 301;
	ask(c, "b.example.org", DNS_T_TXT, buf, sizeof(buf));   /* expired, miss */
	for (size_t i = 0; i < N; i++)
		d[i] = metric(names[i]) - before[i];
	dns_cache_get_stats(c, &s);
	is_int(d[HITS], 1, "registry: one hit");
	is_int(d[MISSES], 6, "registry: six misses");
	is_int(d[EXPIRED], 1, "registry: one expired");
	is_int(d[EVICTIONS], 1, "registry: one eviction (the expired b made "
	    "room for its new answer)");
	is_int(metric("dns_cache_entries"), s.entries,
	    "registry: the entries gauge is the one cache's entries");
	is_int(metric("dns_cache_bytes"), s.bytes,
	    "registry: the bytes gauge is the one cache's bytes");
	is_int(d[QUERIES], 8, "registry: eight answers, each counted once");
	is_int(d[FAILURES], 3, "registry: three failures");
	is_int(d[TIMEOUTS], 1, "registry: one timeout");
	is_int(d[SERVFAILS], 1, "registry: one SERVFAIL");
	is_int(d[BADNAMES], 1, "registry: one bad name");
	dns_resolver_free(&c);
	is_int(metric("dns_cache_entries"), 0,
	    "registry: entries gauge back to 0 when the cache goes");
	is_int(metric("dns_cache_bytes"), 0,
	    "registry: bytes gauge back to 0 when the cache goes");
}

struct worker {
	struct dns_resolver *c;
	int id, n, bad;
};

static void *
worker_run(void *arg)
{
	static const char *const names[] = { "example.org", "a.example.org",
		"b.example.org", "c.example.org", "nx.example.org" };
	struct worker *w = arg;

	for (int i = 0; i < w->n; i++) {
		const char *name = names[(i + w->id) % 5];
		struct dns_answer *a = dns_query(w->c, name, DNS_T_TXT, 0);

		if (a->status != (name[0] == 'n' ? DNS_STATUS_NXDOMAIN :
		    DNS_STATUS_OK))
			w->bad++;
		dns_answer_free(&a);
	}
	return NULL;
}

static void
test_threads(void)
{
	struct dns_resolver *t, *c = new_cache(&t, 3, 0);
	struct dns_cache_stats s;
	pthread_t th[8];
	struct worker w[8];
	int started = 0, bad = 0;

	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ c, i, 2000, 0 };
		if (pthread_create(&th[i], NULL, worker_run, &w[i]) == 0)
			started++;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		bad += w[i].bad;
	}
	is_int(started, 8, "threads started");
	is_int(bad, 0, "every answer right while 8 threads share 3 entries");
	dns_cache_get_stats(c, &s);
	is_int(s.hits + s.misses, 8 * 2000, "every query counted once");
	is_int(dns_table_queries(t), s.misses, "every miss reached the back end");
	ok(s.entries <= 3, "never over max_entries");
	dns_resolver_free(&c);
}

int
main(void)
{
	test_hits();
	test_fail_kept();
	test_eviction();
	test_ownership();
	test_bad_names();
	test_threads();
	test_registry();
	return test_done("dns-cache");
}
