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
 *
 * Two names. `name` is the flat one of the exit log line and of
 * stats_find() ("messages_reject_total"); the metrics endpoint exports a
 * metric as its `family` with its `labels` (messages_total with
 * action="reject"), so that one family holds what a dashboard sums over.
 * A metric without a family is exported under its name; one without a
 * name (STATS_LABELLED) is exported only; STATS_LOCAL keeps a metric out
 * of the export (a flat counter another family already says better).
 * Label values are fixed in the code, never taken from mail: the number
 * of series is bounded by what is compiled in.
 */
#ifndef AM_STATS_H
#define AM_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum stats_kind { STATS_KIND_COUNTER, STATS_KIND_GAUGE, STATS_KIND_HISTOGRAM };

#define STATS_MAX_BUCKETS 16

/* flags */
#define STATS_LOCAL   0x1 /* log line and stats_find() only, not exported */
#define STATS_SECONDS 0x2 /* a histogram of microseconds, exported in seconds */

struct stats_metric {
	const char *name;  /* Prometheus-style: [a-z_][a-z0-9_]*, counters end
			    * in _total; NULL: exported only */
	const char *help;  /* the family's help: the first metric's is shown */
	enum stats_kind kind;
	const char *family; /* the exported name; NULL: name */
	const char *labels; /* the exported labels, `k="v",k2="v2"`, or NULL */
	unsigned flags;
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
/* a histogram of microseconds, exported as family in seconds */
#define STATS_HISTOGRAM_SECONDS(n, fam, h, b) { .name = (n), .help = (h), \
	.kind = STATS_KIND_HISTOGRAM, .family = (fam), .flags = STATS_SECONDS, \
	.bounds = (b), .nbounds = sizeof(b) / sizeof((b)[0]) }
/* a flat counter also exported as family{labels} */
#define STATS_COUNTER_AS(n, fam, lab, h) { .name = (n), .help = (h), \
	.kind = STATS_KIND_COUNTER, .family = (fam), .labels = (lab) }
/* a counter that exists only as family{labels} */
#define STATS_LABELLED(fam, lab, h) { .help = (h), \
	.kind = STATS_KIND_COUNTER, .family = (fam), .labels = (lab) }
/* a counter or gauge of the log line only */
#define STATS_COUNTER_LOCAL(n, h) { .name = (n), .help = (h), \
	.kind = STATS_KIND_COUNTER, .flags = STATS_LOCAL }

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
/* stats_find - the registered metric of that (flat) name, or NULL */
const struct stats_metric *stats_find(const char *name);
/* stats_each - every registered metric, in order of registration */
void stats_each(void (*fn)(const struct stats_metric *m, void *arg), void *arg);
/* stats_format - "name=value ..." of every counter and gauge (a gauge
 * signed; histograms as name_count= and name_sum=) into buf, for a log
 * line; returns buf. Cut after the last metric that fits whole: never half
 * a pair, nor a histogram's count without its sum */
const char *stats_format(char *buf, size_t len);

struct dynbuf;
/* stats_prometheus - every exported metric in the Prometheus text
 * exposition format (version 0.0.4), each family once with its HELP and
 * TYPE, its name prefixed with prefix ("authmilter_"); histograms as
 * cumulative _bucket{le=...}, _sum and _count, STATS_SECONDS ones in
 * seconds. 0, or -1 when out overflowed its limit */
int stats_prometheus(struct dynbuf *out, const char *prefix);

#endif
