/*
 * stats.c - the metrics registry (see stats.h).
 *
 * The registry is a list that only grows, behind a mutex for writers;
 * every link is published with release order, so a reader never takes
 * the lock and never sees a half-linked metric.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "stats.h"
#include "util.h"

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stats_metric *_Atomic reg_head;
static struct stats_metric *reg_tail;

void
stats_register(struct stats_metric *m)
{
	if (atomic_load_explicit(&m->registered, memory_order_acquire))
		return;
	pthread_mutex_lock(&reg_lock);
	if (!atomic_load_explicit(&m->registered, memory_order_relaxed)) {
		if (m->nbounds > STATS_MAX_BUCKETS)
			m->nbounds = STATS_MAX_BUCKETS;
		atomic_store_explicit(&m->next, NULL, memory_order_relaxed);
		if (reg_tail == NULL)
			atomic_store_explicit(&reg_head, m, memory_order_release);
		else
			atomic_store_explicit(&reg_tail->next, m,
			    memory_order_release);
		reg_tail = m;
		atomic_store_explicit(&m->registered, 1, memory_order_release);
	}
	pthread_mutex_unlock(&reg_lock);
}

void
stats_observe(struct stats_metric *m, uint64_t v)
{
	size_t nb = m->nbounds < STATS_MAX_BUCKETS ? m->nbounds : STATS_MAX_BUCKETS;
	size_t i = 0;

	/* bounded here too: a metric may be observed before it is registered */
	while (i < nb && v > m->bounds[i])
		i++;
	atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sum, v, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->value, 1, memory_order_relaxed);
}

uint64_t
stats_value(const struct stats_metric *m)
{
	return atomic_load_explicit(&m->value, memory_order_relaxed);
}

static const struct stats_metric *
next_metric(const struct stats_metric *m)
{
	return atomic_load_explicit(&m->next, memory_order_acquire);
}

void
stats_each(void (*fn)(const struct stats_metric *m, void *arg), void *arg)
{
	const struct stats_metric *m;

	m = atomic_load_explicit(&reg_head, memory_order_acquire);
	for (; m != NULL; m = next_metric(m))
		fn(m, arg);
}

const struct stats_metric *
stats_find(const char *name)
{
	const struct stats_metric *m;

	m = atomic_load_explicit(&reg_head, memory_order_acquire);
	for (; m != NULL; m = next_metric(m))
		if (m->name != NULL && strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

struct fmt {
	char *buf;
	size_t len, used;
};

static void
fmt_one(const struct stats_metric *m, void *arg)
{
	struct fmt *f = arg;
	int n;

	if (f->used >= f->len || m->name == NULL)
		return;
	if (m->kind == STATS_KIND_HISTOGRAM)
		n = snprintf(f->buf + f->used, f->len - f->used,
		    "%s%s_count=%llu %s_sum=%llu", f->used ? " " : "", m->name,
		    (unsigned long long)stats_value(m), m->name,
		    (unsigned long long)atomic_load_explicit(&m->sum,
		    memory_order_relaxed));
	else if (m->kind == STATS_KIND_GAUGE)
		n = snprintf(f->buf + f->used, f->len - f->used, "%s%s=%lld",
		    f->used ? " " : "", m->name, (long long)(int64_t)stats_value(m));
	else
		n = snprintf(f->buf + f->used, f->len - f->used, "%s%s=%llu",
		    f->used ? " " : "", m->name,
		    (unsigned long long)stats_value(m));
	if (n < 0 || (size_t)n >= f->len - f->used) {
		/* cut at the last whole pair */
		f->buf[f->used] = '\0';
		f->used = f->len;
		return;
	}
	f->used += (size_t)n;
}

const char *
stats_format(char *buf, size_t len)
{
	struct fmt f = { buf, len, 0 };

	if (len == 0)
		return buf;
	buf[0] = '\0';
	stats_each(fmt_one, &f);
	return buf;
}

/* ---- the Prometheus text exposition format ------------------------------ */

static int
exported(const struct stats_metric *m)
{
	return !(m->flags & STATS_LOCAL) && (m->family || m->name);
}

static const char *
family_of(const struct stats_metric *m)
{
	return m->family ? m->family : m->name;
}

/* first_of_family - whether no exported metric before m has its family */
static int
first_of_family(const struct stats_metric *m)
{
	const struct stats_metric *o;
	const char *fam = family_of(m);

	o = atomic_load_explicit(&reg_head, memory_order_acquire);
	for (; o != NULL && o != m; o = next_metric(o))
		if (exported(o) && strcmp(family_of(o), fam) == 0)
			return 0;
	return 1;
}

/* put_help - the help text, with backslash and newline escaped */
static void
put_help(struct dynbuf *b, const char *h)
{
	for (; h != NULL && *h; h++) {
		if (*h == '\\')
			dynbuf_puts(b, "\\\\");
		else if (*h == '\n')
			dynbuf_puts(b, "\\n");
		else
			dynbuf_append(b, h, 1);
	}
}

/* fmt_number - v in the metric's export unit into buf: as is, or
 * microseconds as seconds with no trailing zeros ("0.00025", "1") */
static const char *
fmt_number(char *buf, size_t len, uint64_t v, int seconds)
{
	size_t n;

	if (!seconds) {
		snprintf(buf, len, "%llu", (unsigned long long)v);
		return buf;
	}
	snprintf(buf, len, "%llu.%06llu", (unsigned long long)(v / 1000000),
	    (unsigned long long)(v % 1000000));
	n = strlen(buf);
	while (buf[n - 1] == '0')
		buf[--n] = '\0';
	if (buf[n - 1] == '.')
		buf[n - 1] = '\0';
	return buf;
}

/* put_series - prefix family suffix {labels[,extra]} */
static void
put_series(struct dynbuf *b, const char *prefix, const struct stats_metric *m,
    const char *suffix, const char *extra)
{
	const char *lab = m->labels && *m->labels ? m->labels : NULL;

	dynbuf_printf(b, "%s%s%s", prefix, family_of(m), suffix);
	if (lab || extra)
		dynbuf_printf(b, "{%s%s%s}", lab ? lab : "",
		    lab && extra ? "," : "", extra ? extra : "");
	dynbuf_puts(b, " ");
}

static void
put_histogram(struct dynbuf *b, const char *prefix,
    const struct stats_metric *m)
{
	int sec = (m->flags & STATS_SECONDS) != 0;
	size_t nb = m->nbounds < STATS_MAX_BUCKETS ? m->nbounds : STATS_MAX_BUCKETS;
	uint64_t cum = 0;
	char num[32], le[48];

	for (size_t i = 0; i <= nb; i++) {
		cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
		snprintf(le, sizeof(le), "le=\"%s\"", i < nb ?
		    fmt_number(num, sizeof(num), m->bounds[i], sec) : "+Inf");
		put_series(b, prefix, m, "_bucket", le);
		dynbuf_printf(b, "%llu\n", (unsigned long long)cum);
	}
	/* observations may land during this walk: _count is the +Inf bucket
	 * as read here (Prometheus wants them equal), the sum is read after */
	put_series(b, prefix, m, "_sum", NULL);
	dynbuf_printf(b, "%s\n", fmt_number(num, sizeof(num),
	    atomic_load_explicit(&m->sum, memory_order_relaxed), sec));
	put_series(b, prefix, m, "_count", NULL);
	dynbuf_printf(b, "%llu\n", (unsigned long long)cum);
}

static void
put_sample(struct dynbuf *b, const char *prefix, const struct stats_metric *m)
{
	if (m->kind == STATS_KIND_HISTOGRAM) {
		put_histogram(b, prefix, m);
		return;
	}
	put_series(b, prefix, m, "", NULL);
	if (m->kind == STATS_KIND_GAUGE)
		dynbuf_printf(b, "%lld\n", (long long)(int64_t)stats_value(m));
	else
		dynbuf_printf(b, "%llu\n", (unsigned long long)stats_value(m));
}

int
stats_prometheus(struct dynbuf *out, const char *prefix)
{
	static const char *const types[] = {
		[STATS_KIND_COUNTER] = "counter",
		[STATS_KIND_GAUGE] = "gauge",
		[STATS_KIND_HISTOGRAM] = "histogram",
	};
	const struct stats_metric *m, *o;

	m = atomic_load_explicit(&reg_head, memory_order_acquire);
	for (; m != NULL; m = next_metric(m)) {
		if (!exported(m) || !first_of_family(m))
			continue;
		dynbuf_printf(out, "# HELP %s%s ", prefix, family_of(m));
		put_help(out, m->help);
		dynbuf_printf(out, "\n# TYPE %s%s %s\n", prefix, family_of(m),
		    types[m->kind]);
		for (o = m; o != NULL; o = next_metric(o))
			if (exported(o) && strcmp(family_of(o), family_of(m)) == 0)
				put_sample(out, prefix, o);
	}
	return out->overflow ? -1 : 0;
}
