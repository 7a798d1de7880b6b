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
		if (strcmp(m->name, name) == 0)
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

	if (f->used >= f->len)
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
