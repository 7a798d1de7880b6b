/*
 * stats.h - the process's counters, gauges and histograms, in one registry.
 *
 * A module defines its metrics as static objects, registers them once
 * (when it starts: stats_register() is idempotent and thread-safe) and
 * bumps them from any thread with relaxed atomics: no lock, no I/O on the
 * message path. Whoever exports them (the exit log line, the metrics
 * endpoint, tests) walks the registry with stats_each() or reads one by
 * name. Values are process-wide and only grow, except gauges.
 *
 *	static struct stats_metric hits = STATS_COUNTER("dns_cache_hits_total",
 *	    "DNS answers served from the answer cache");
 *	stats_register(&hits);
 *	stats_inc(&hits);
 *
 * Histograms count observations into buckets with upper bounds in the
 * metric's unit (microseconds for durations): bounds ascending, the last
 * bucket (+Inf) implied.
 */
#ifndef AM_STATS_H
#define AM_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum stats_kind { STATS_KIND_COUNTER, STATS_KIND_GAUGE, STATS_KIND_HISTOGRAM };

#define STATS_MAX_BUCKETS 16

struct stats_metric {
	const char *name;  /* Prometheus-style: [a-z_][a-z0-9_]*, counters end in _total */
	const char *help;
	enum stats_kind kind;
	const uint64_t *bounds; /* histogram bucket upper bounds, ascending */
	size_t nbounds;         /* at most STATS_MAX_BUCKETS */
	_Atomic uint64_t value;  /* counter, gauge; histogram: observation count */
	_Atomic uint64_t sum;    /* histogram: sum of observations */
	_Atomic uint64_t buckets[STATS_MAX_BUCKETS + 1]; /* not cumulative */
	struct stats_metric *_Atomic next; /* the registry's */
	_Atomic int registered;
};

#define STATS_COUNTER(n, h) { .name = (n), .help = (h), .kind = STATS_KIND_COUNTER }
#define STATS_GAUGE(n, h) { .name = (n), .help = (h), .kind = STATS_KIND_GAUGE }
#define STATS_HISTOGRAM(n, h, b, nb) { .name = (n), .help = (h), \
	.kind = STATS_KIND_HISTOGRAM, .bounds = (b), .nbounds = (nb) }

/* stats_register - add m to the registry unless it is there; metrics
 * live as long as the process (static storage) */
void stats_register(struct stats_metric *m);

static inline void
stats_add(struct stats_metric *m, uint64_t n)
{
	atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}

static inline void
stats_inc(struct stats_metric *m)
{
	stats_add(m, 1);
}

/* stats_gauge_add - a gauge up (n > 0) or down (n < 0) */
static inline void
stats_gauge_add(struct stats_metric *m, int64_t n)
{
	atomic_fetch_add_explicit(&m->value, (uint64_t)n, memory_order_relaxed);
}

static inline void
stats_set(struct stats_metric *m, uint64_t v)
{
	atomic_store_explicit(&m->value, v, memory_order_relaxed);
}

/* stats_observe - one histogram observation */
void stats_observe(struct stats_metric *m, uint64_t v);

/* stats_value - a counter's value; a gauge's (cast it to int64_t: a gauge
 * may go below zero); a histogram's count */
uint64_t stats_value(const struct stats_metric *m);
/* stats_find - the registered metric of that name, or NULL */
const struct stats_metric *stats_find(const char *name);
/* stats_each - every registered metric, in order of registration */
void stats_each(void (*fn)(const struct stats_metric *m, void *arg), void *arg);
/* stats_format - "name=value ..." of every counter and gauge (a gauge
 * signed; histograms as name_count= and name_sum=) into buf, for a log
 * line; returns buf. Cut after the last metric that fits whole: never half
 * a pair, nor a histogram's count without its sum */
const char *stats_format(char *buf, size_t len);

#endif
