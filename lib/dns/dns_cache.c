/*
 * dns_cache.c - an answer cache in front of another resolver (dns.h).
 *
 * Why: libunbound has a cache of its own, but reaching it from a milter
 * thread costs three thread hand-offs per lookup (our thread -> libunbound's
 * worker thread over a pipe -> our dispatcher thread over another pipe ->
 * the waiting thread over a condition variable) and about twenty system
 * calls. A message needs four to eight lookups (SPF for MAIL FROM and HELO,
 * the DKIM key, DMARC), all of them answered from cache in steady state.
 * This layer answers a repeated question in the calling thread, under one
 * mutex, with no system call (bench/RESULTS.md has the figures).
 *
 * What is kept: final answers (OK, NXDOMAIN, NODATA) with the TTL the back
 * end reported, capped at max_ttl; an answer with TTL 0 is not kept (RFC
 * 1035 3.2.1: use it for the transaction in progress only). An answer
 * with a fail (temporary failures, DNSSEC bogus) is never kept: the next
 * message asks again; it comes through with its fail as the back end gave
 * it. A bad name never gets here (dns_query_start answers it). The key is
 * the type and the name as dname_norm() makes it: lowercase, without the
 * final dot (RFC 4343: names compare case-insensitively).
 *
 * Counters: per cache (dns_cache_get_stats) and, for every cache together,
 * in the stats registry (dns_cache_*_total, the dns_cache_entries and
 * dns_cache_bytes gauges).
 *
 * Bounds: at most max_entries answers and max_bytes of rdata and packets;
 * the least recently used answer goes first. An answer bigger than an
 * eighth of max_bytes is passed through and not kept.
 *
 * A hit returns a copy the caller owns, like any other answer, with its TTL
 * lowered by the time it spent here. Every function is thread-safe.
 */

#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dname.h"
#include "dns_impl.h"
#include "stats.h"
#include "util.h"

/* process-wide, every cache together (dns_cache_get_stats: one cache) */
static struct stats_metric m_hits = STATS_COUNTER("dns_cache_hits_total",
    "DNS answers served from the answer cache");
static struct stats_metric m_misses = STATS_COUNTER("dns_cache_misses_total",
    "DNS questions the answer cache sent to the resolver");
static struct stats_metric m_expired = STATS_COUNTER(
    "dns_cache_expired_total", "cached DNS answers found past their TTL");
static struct stats_metric m_evictions = STATS_COUNTER(
    "dns_cache_evictions_total",
    "cached DNS answers dropped to make room (least recently used)");
static struct stats_metric m_entries = STATS_GAUGE("dns_cache_entries",
    "DNS answers in the answer cache");
static struct stats_metric m_bytes = STATS_GAUGE("dns_cache_bytes",
    "bytes the answer cache counts against its bound");

struct centry {
	struct centry *hnext;        /* hash chain */
	struct centry *prev, *next;  /* LRU list, most recent first */
	uint32_t hash;
	int type;
	time_t expires;              /* on the cache's clock */
	size_t bytes;                /* what this entry counts against max_bytes */
	struct dns_answer *ans;
	char name[];                 /* normalized */
};

struct cache_resolver {
	struct dns_resolver base;
	struct dns_resolver *backend;
	pthread_mutex_t lock;
	struct centry **buckets;
	size_t nbuckets;             /* a power of two */
	struct centry *head, *tail;  /* LRU list */
	size_t entries, bytes;
	size_t max_entries, max_bytes;
	unsigned max_ttl;
	time_t (*clock)(void *);
	void *clock_arg;
	struct dns_cache_stats stats;
};

/* a query is either a copy of a cached answer or a back-end lookup to be
 * kept when it ends */
struct cache_query {
	struct dns_query base;
	struct dns_answer *hit;      /* non-NULL: answered from cache */
	struct dns_query *inner;     /* otherwise the back end's query */
	int type;
	char name[DNAME_BUFSIZE];    /* dname_norm()ed */
};

static struct dns_query *cache_start(struct dns_resolver *r, const char *name,
    int type);
static struct dns_answer *cache_wait(struct dns_query *q, unsigned timeout_ms);
static void cache_cancel(struct dns_query *q);
static void cache_destroy(struct dns_resolver *r);

static const struct dns_ops cache_ops = {
	.start = cache_start,
	.wait = cache_wait,
	.cancel = cache_cancel,
	.destroy = cache_destroy,
};

static time_t
monotonic_seconds(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* the key's hash: the normalized name and the type */
static uint32_t
key_hash(const char *name, int type)
{
	return mem_hash(name, strlen(name)) * 31u + (uint32_t)type;
}

/* answer_copy - a deep copy of a (final) answer */
static struct dns_answer *
answer_copy(const struct dns_answer *a)
{
	struct dns_answer *c = dns_answer_new(a->status, a->rcode, a->why);

	c->fail = a->fail;
	c->secure = a->secure;
	c->bogus = a->bogus;
	c->ttl = a->ttl;
	if (a->count > 0)
		dns_answer_set_rrs(c, a->rr, a->count);
	if (a->packet != NULL && a->packet_len > 0) {
		c->packet = xmalloc(a->packet_len);
		memcpy(c->packet, a->packet, a->packet_len);
		c->packet_len = a->packet_len;
	}
	return c;
}

static size_t
answer_bytes(const struct dns_answer *a)
{
	size_t n = sizeof(*a) + a->packet_len + a->count * sizeof(struct dns_rr);

	for (size_t i = 0; i < a->count; i++)
		n += a->rr[i].len;
	return n;
}

/* ---- the table (c->lock held) ---------------------------------------------- */

static void
lru_unlink(struct cache_resolver *c, struct centry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_push_front(struct cache_resolver *c, struct centry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head != NULL)
		c->head->prev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static void
entry_remove(struct cache_resolver *c, struct centry *e)
{
	struct centry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
	lru_unlink(c, e);
	c->entries--;
	c->bytes -= e->bytes;
	stats_gauge_add(&m_entries, -1);
	stats_gauge_add(&m_bytes, -(int64_t)e->bytes);
	dns_answer_free(&e->ans);
	free(e);
}

static struct centry *
entry_find(struct cache_resolver *c, const char *name, int type, uint32_t h)
{
	struct centry *e = c->buckets[h & (c->nbuckets - 1)];

	for (; e != NULL; e = e->hnext)
		if (e->hash == h && e->type == type && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

/* cache_store - keep a copy of a final answer of the back end */
static void
cache_store(struct cache_resolver *c, const char *name, int type,
    const struct dns_answer *a)
{
	uint32_t h = key_hash(name, type);
	size_t namelen = strlen(name), bytes;
	unsigned ttl;
	struct centry *e;

	if (a->fail != DNS_FAIL_NONE || a->status == DNS_STATUS_TEMPFAIL ||
	    a->ttl == 0)
		return;
	bytes = answer_bytes(a) + sizeof(*e) + namelen + 1;
	if (bytes > c->max_bytes / 8)
		return;
	ttl = a->ttl < c->max_ttl ? a->ttl : c->max_ttl;
	if (ttl == 0)
		return;
	pthread_mutex_lock(&c->lock);
	e = entry_find(c, name, type, h);
	if (e != NULL)
		entry_remove(c, e); /* a newer answer replaces the old one */
	while (c->tail != NULL && (c->entries + 1 > c->max_entries ||
	    c->bytes + bytes > c->max_bytes)) {
		entry_remove(c, c->tail);
		c->stats.evictions++;
		stats_inc(&m_evictions);
	}
	e = xmalloc(sizeof(*e) + namelen + 1);
	memcpy(e->name, name, namelen + 1);
	e->hash = h;
	e->type = type;
	e->expires = c->clock(c->clock_arg) + (time_t)ttl;
	e->bytes = bytes;
	e->ans = answer_copy(a);
	e->hnext = c->buckets[h & (c->nbuckets - 1)];
	c->buckets[h & (c->nbuckets - 1)] = e;
	lru_push_front(c, e);
	c->entries++;
	c->bytes += bytes;
	stats_gauge_add(&m_entries, 1);
	stats_gauge_add(&m_bytes, (int64_t)bytes);
	pthread_mutex_unlock(&c->lock);
}

/* cache_lookup - a copy of a live cached answer, or NULL */
static struct dns_answer *
cache_lookup(struct cache_resolver *c, const char *name, int type)
{
	uint32_t h = key_hash(name, type);
	struct dns_answer *a = NULL;
	struct centry *e;
	time_t now;

	pthread_mutex_lock(&c->lock);
	now = c->clock(c->clock_arg);
	e = entry_find(c, name, type, h);
	if (e != NULL && e->expires <= now) {
		entry_remove(c, e);
		c->stats.expired++;
		stats_inc(&m_expired);
		e = NULL;
	}
	if (e != NULL) {
		lru_unlink(c, e);
		lru_push_front(c, e);
		a = answer_copy(e->ans);
		a->ttl = (unsigned)(e->expires - now);
		c->stats.hits++;
		stats_inc(&m_hits);
	} else {
		c->stats.misses++;
		stats_inc(&m_misses);
	}
	pthread_mutex_unlock(&c->lock);
	return a;
}

/* ---- the resolver interface -------------------------------------------------- */

static struct dns_query *
cache_start(struct dns_resolver *r, const char *name, int type)
{
	struct cache_resolver *c = (struct cache_resolver *)r;
	struct cache_query *q = xcalloc(1, sizeof(*q));

	q->base.r = r;
	q->type = type;
	/* name is dname_valid() (dns_query_start): it fits */
	(void)dname_norm(name, q->name, sizeof(q->name));
	q->hit = cache_lookup(c, q->name, type);
	if (q->hit != NULL)
		return &q->base;
	q->inner = dns_query_start(c->backend, name, type);
	if (q->inner == NULL) {
		/* the back end is shutting down */
		free(q);
		return NULL;
	}
	return &q->base;
}

static struct dns_answer *
cache_wait(struct dns_query *base, unsigned timeout_ms)
{
	struct cache_query *q = (struct cache_query *)base;
	struct cache_resolver *c = (struct cache_resolver *)base->r;
	struct dns_answer *a;

	if (q->hit != NULL) {
		a = q->hit;
	} else {
		a = dns_backend_wait(&q->inner, timeout_ms);
		cache_store(c, q->name, q->type, a);
	}
	free(q);
	return a;
}

static void
cache_cancel(struct dns_query *base)
{
	struct cache_query *q = (struct cache_query *)base;

	dns_answer_free(&q->hit);
	dns_query_cancel(&q->inner);
	free(q);
}

static void
cache_destroy(struct dns_resolver *r)
{
	struct cache_resolver *c = (struct cache_resolver *)r;

	while (c->head != NULL)
		entry_remove(c, c->head);
	free(c->buckets);
	dns_resolver_free(&c->backend);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

struct dns_resolver *
dns_cache_new(struct dns_resolver *backend, const struct dns_cache_opts *o)
{
	struct cache_resolver *c = xcalloc(1, sizeof(*c));

	stats_register(&m_hits);
	stats_register(&m_misses);
	stats_register(&m_expired);
	stats_register(&m_evictions);
	stats_register(&m_entries);
	stats_register(&m_bytes);
	dns_stats_register();
	c->base.ops = &cache_ops;
	c->base.default_timeout_ms = backend->default_timeout_ms;
	c->backend = backend;
	c->max_entries = o != NULL && o->max_entries ? o->max_entries : 10000;
	c->max_bytes = o != NULL && o->max_bytes ? o->max_bytes : 8u << 20;
	c->max_ttl = o != NULL && o->max_ttl ? o->max_ttl : 86400;
	c->nbuckets = 64;
	while (c->nbuckets < c->max_entries && c->nbuckets < (1u << 20))
		c->nbuckets <<= 1;
	c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
	c->clock = monotonic_seconds;
	pthread_mutex_init(&c->lock, NULL);
	return &c->base;
}

void
dns_cache_set_clock(struct dns_resolver *r, time_t (*clock)(void *), void *arg)
{
	struct cache_resolver *c = (struct cache_resolver *)r;

	pthread_mutex_lock(&c->lock);
	c->clock = clock != NULL ? clock : monotonic_seconds;
	c->clock_arg = arg;
	pthread_mutex_unlock(&c->lock);
}

void
dns_cache_get_stats(struct dns_resolver *r, struct dns_cache_stats *s)
{
	struct cache_resolver *c = (struct cache_resolver *)r;

	pthread_mutex_lock(&c->lock);
	*s = c->stats;
	s->entries = c->entries;
	s->bytes = c->bytes;
	pthread_mutex_unlock(&c->lock);
}
