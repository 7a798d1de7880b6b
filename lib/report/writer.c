/*
 * writer.c - records from the sessions to the report store (store.h, issue
 * 14): a bounded queue and one thread.
 *
 * report_writer_submit() copies the record, its arrays and strings into
 * one allocation and links it to the queue under a mutex held for a few
 * instructions: a mail thread never waits for the store, nor logs, nor
 * encodes. When the queue holds queue_max records the new one is dropped
 * and counted, before anything is copied.
 *
 * The thread opens the store (so a database that is down at start does not
 * stop the daemon), takes up to batch_max records at a time, encodes them
 * (report_record_encode()), adds up the ones that are equal (same UTC day,
 * same encoding, which holds the policy domain) and puts the batch into the
 * store in one transaction. A failed open leaves the queue as it is (it fills,
 * then submits drop); a failed put loses its batch (counted as dropped). Either
 * counts a store error, closes the store, and the next open waits 1 s, doubling
 * up to 30 s; a put that succeeds resets the pause. Rows past keep_days are
 * pruned at the first open and then once an hour. Drops and store errors are
 * logged by the thread, at most one line a minute each, with the numbers since
 * the last line.
 *
 * Counters: every record submitted is queued (reports_records_total) or
 * dropped; a queued one is later written (reports_written_total) or
 * dropped (its batch failed, or it was still queued when the writer
 * stopped). So after report_writer_stop(): written + dropped = submitted.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "stats.h"
#include "store.h"
#include "util.h"

#define QUEUE_MAX_DEFAULT 65536
#define BATCH_MAX_DEFAULT 1024
#define PAUSE_FIRST_MS 1000 /* after a store error */
#define PAUSE_MAX_MS 30000
#define PRUNE_EVERY_MS (3600 * 1000)
#define LOG_EVERY_MS (60 * 1000) /* drops and store errors, each */
#define STOP_FLUSH_MS 5000	 /* report_writer_stop() writes this long */
#define STOP_GRACE_MS 1000	 /* and waits this much longer at most */
#define IDLE_WAKE_MS 1000	 /* the thread looks at its clocks this often */

static struct stats_metric m_records =
    STATS_COUNTER("reports_records_total",
		  "DMARC report records queued for the report store");
static struct stats_metric m_written =
    STATS_COUNTER("reports_written_total",
		  "DMARC report records written into the report store");
static struct stats_metric m_dropped = STATS_COUNTER(
    "reports_dropped_total",
    "DMARC report records lost: queue full, store failing, or writer "
    "stopping");
static struct stats_metric m_store_errors =
    STATS_COUNTER("reports_store_errors_total",
		  "report store failures (open, write or prune)");
static struct stats_metric m_queue =
    STATS_GAUGE("reports_queue_length",
		"DMARC report records waiting for the report store");

/* one queued record: a deep copy of what was submitted, its arrays and
 * strings in the same allocation after it; text is its encoding, made by
 * the thread */
struct entry {
	struct entry *next;
	struct report_record rec;
	char *text; /* report_record_encode()'s line, or NULL */
	size_t len;
};

/* the most string bytes a record may carry into the queue: more than
 * any record report_record_encode() accepts */
#define COPY_MAX (4 * REPORT_REC_MAX)

struct report_writer {
	char *uri;
	size_t queue_max, batch_max;
	unsigned keep_days;

	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* CLOCK_MONOTONIC */
	/* under lock */
	struct entry *head, *tail;
	size_t n;
	int stopping;
	int done;		 /* the thread has finished */
	int abandoned;		 /* stop gave up waiting for the thread */
	struct report_writer *next_abandoned; /* abandoned_list */
	size_t inflight;	 /* records taken, not yet counted */
	pthread_cond_t finished; /* CLOCK_MONOTONIC; done was set */

	/* counters (relaxed atomics: read without the lock) */
	_Atomic uint64_t queued, written, dropped, store_errors, queue_length;

	/* the thread's own */
	struct report_store *st;
	uint64_t pause_ms;	  /* the pause before the next open */
	uint64_t reopen_at;	  /* monotonic ms: when to open again */
	uint64_t prune_at;	  /* monotonic ms: next prune; 0: at open */
	uint64_t log_drop_at;	  /* monotonic ms: the next drop line */
	uint64_t dropped_logged;  /* dropped as of the last drop line */
	uint64_t log_error_at;	  /* monotonic ms: the next error line */
	uint64_t errors_unlogged; /* store errors not logged yet */
	char last_error[256];	  /* the latest of those */
};

/* now_ms - CLOCK_MONOTONIC in milliseconds */
static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* count_dropped - n records lost */
static void
count_dropped(struct report_writer *w, uint64_t n)
{
	atomic_fetch_add_explicit(&w->dropped, n, memory_order_relaxed);
	stats_add(&m_dropped, n);
}

/* store_error - a store failure: counted, logged now or folded into the
 * next line a minute on */
static void
store_error(struct report_writer *w, const char *what, const char *err)
{
	char v[LOG_VALUE_SIZE];
	uint64_t now = now_ms();

	atomic_fetch_add_explicit(&w->store_errors, 1, memory_order_relaxed);
	stats_inc(&m_store_errors);
	if (now < w->log_error_at) {
		w->errors_unlogged++;
		str_copy(w->last_error, err, sizeof(w->last_error));
		return;
	}
	log_msg(LOG_ERR,
		"event=reports_store_error op=%s errors=%llu "
		"reason=%s retry_ms=%llu",
		what, (unsigned long long)w->errors_unlogged + 1,
		log_value(err, v, sizeof(v)), (unsigned long long)w->pause_ms);
	w->errors_unlogged = 0;
	w->log_error_at = now + LOG_EVERY_MS;
}

/* log_pending - the lines held back by the once-a-minute rule, when due
 * (or now, with force) */
static void
log_pending(struct report_writer *w, int force)
{
	uint64_t now = now_ms();
	uint64_t dropped =
	    atomic_load_explicit(&w->dropped, memory_order_relaxed);
	char v[LOG_VALUE_SIZE];

	if (dropped != w->dropped_logged && (force || now >= w->log_drop_at)) {
		log_msg(LOG_WARNING,
			"event=reports_dropped records=%llu "
			"total=%llu queue_max=%zu",
			(unsigned long long)(dropped - w->dropped_logged),
			(unsigned long long)dropped, w->queue_max);
		w->dropped_logged = dropped;
		w->log_drop_at = now + LOG_EVERY_MS;
	}
	if (w->errors_unlogged > 0 && (force || now >= w->log_error_at)) {
		log_msg(LOG_ERR,
			"event=reports_store_error op=any errors=%llu "
			"reason=%s",
			(unsigned long long)w->errors_unlogged,
			log_value(w->last_error, v, sizeof(v)));
		w->errors_unlogged = 0;
		w->log_error_at = now + LOG_EVERY_MS;
	}
}

/* store_down - close the store after an error; the next open waits */
static void
store_down(struct report_writer *w)
{
	report_store_close(&w->st);
	w->reopen_at = now_ms() + w->pause_ms;
	w->pause_ms =
	    w->pause_ms * 2 > PAUSE_MAX_MS ? PAUSE_MAX_MS : w->pause_ms * 2;
}

/* store_open - open the store when it is closed and its pause is over;
 * 0 when it is open */
static int
store_open(struct report_writer *w)
{
	char err[512];

	if (w->st != NULL)
		return 0;
	if (now_ms() < w->reopen_at)
		return -1;
	w->st = report_store_open(w->uri, err, sizeof(err));
	if (w->st == NULL) {
		store_error(w, "open", err);
		store_down(w);
		return -1;
	}
	log_msg(LOG_INFO, "event=reports_store_open store=%s",
		report_store_kind(w->st));
	return 0;
}

/* prune - rows older than keep_days away, when due */
static void
prune(struct report_writer *w)
{
	char err[512];
	uint64_t deleted = 0, now = now_ms();

	if (w->keep_days == 0 || w->st == NULL || now < w->prune_at)
		return;
	w->prune_at = now + PRUNE_EVERY_MS;
	if (report_store_prune(w->st, time(NULL) - (time_t)w->keep_days * 86400,
			       &deleted, err, sizeof(err)) < 0) {
		store_error(w, "prune", err);
		store_down(w);
		return;
	}
	if (deleted > 0)
		log_msg(LOG_INFO, "event=reports_pruned rows=%llu keep_days=%u",
			(unsigned long long)deleted, w->keep_days);
}

/* utc_day - the UTC day of t */
static long long
utc_day(time_t t)
{
	long long d = (long long)t / 86400;

	return (long long)t < 0 && (long long)t % 86400 != 0 ? d - 1 : d;
}

/* entry_cmp - qsort order: UTC day, then the encoding */
static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;
	long long dx = utc_day(x->rec.when), dy = utc_day(y->rec.when);
	int c;

	if (dx != dy)
		return dx < dy ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	c = memcmp(x->text, y->text, x->len);
	return c;
}

/* entry_free - an entry and its encoding */
static void
entry_free(struct entry *e)
{
	free(e->text);
	free(e);
}

/* write_batch - n entries (taken off the queue) into the store, equal ones
 * (same UTC day, same encoding) added up into one item whose time is the
 * latest; frees them. Counted as written or dropped. */
static void
write_batch(struct report_writer *w, struct entry **v, size_t n)
{
	struct report_store_item *items = xcalloc(n, sizeof(*items));
	size_t ni = 0, k = 0, lost = 0, written = 0;
	struct dynbuf b;
	char err[512];

	/* the encoding is what makes records equal, here as in the store */
	for (size_t i = 0; i < n; i++) {
		dynbuf_init(&b, REPORT_REC_MAX);
		if (report_record_encode(&v[i]->rec, &b, err, sizeof(err)) <
			0 ||
		    b.s == NULL) {
			dynbuf_free(&b);
			entry_free(v[i]);
			lost++; /* too large to keep */
			continue;
		}
		v[i]->len = b.len;
		v[i]->text = dynbuf_take(&b);
		v[k++] = v[i];
	}
	n = k;
	qsort(v, n, sizeof(*v), entry_cmp);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && entry_cmp(&v[i], &v[j]) == 0; j++)
			if (v[j]->rec.when > v[i]->rec.when)
				v[i]->rec.when = v[j]->rec.when;
		items[ni].rec = &v[i]->rec;
		items[ni].count = j - i;
		ni++;
	}
	if (ni > 0 &&
	    report_store_put(w->st, items, ni, err, sizeof(err)) < 0) {
		lost += n;
		store_error(w, "put", err);
		store_down(w);
	} else if (ni > 0) {
		written = n;
		w->pause_ms = PAUSE_FIRST_MS;
	}
	for (size_t i = 0; i < n; i++)
		entry_free(v[i]);
	free(items);
	/* counted here, unless stop gave up on us and counted them lost */
	pthread_mutex_lock(&w->lock);
	if (!w->abandoned) {
		atomic_fetch_add_explicit(&w->written, written,
					  memory_order_relaxed);
		stats_add(&m_written, written);
		count_dropped(w, lost);
	}
	w->inflight = 0;
	pthread_mutex_unlock(&w->lock);
}

/* queue_clear - free what is queued (lock held); how many entries */
static size_t
queue_clear(struct report_writer *w)
{
	size_t k = w->n;

	while (w->head != NULL) {
		struct entry *e = w->head;

		w->head = e->next;
		entry_free(e);
	}
	w->tail = NULL;
	w->n = 0;
	atomic_store_explicit(&w->queue_length, 0, memory_order_relaxed);
	stats_gauge_add(&m_queue, -(int64_t)k);
	return k;
}

/* take - up to batch_max entries off the queue into v (lock held); their
 * number */
static size_t
take(struct report_writer *w, struct entry **v)
{
	size_t k = 0;

	while (w->head != NULL && k < w->batch_max) {
		v[k++] = w->head;
		w->head = w->head->next;
	}
	if (w->head == NULL)
		w->tail = NULL;
	w->n -= k;
	w->inflight = k;
	atomic_store_explicit(&w->queue_length, w->n, memory_order_relaxed);
	stats_gauge_add(&m_queue, -(int64_t)k);
	return k;
}

/* wait_ms - sleep on the condition variable for at most ms (lock held) */
static void
wait_ms(struct report_writer *w, uint64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&w->wake, &w->lock, &ts);
}

/* writer_main - the thread: open, write, prune, log, until stopped and
 * flushed (or the flush time is over) */
static void *
writer_main(void *arg)
{
	struct report_writer *w = arg;
	struct entry **v = xcalloc(w->batch_max, sizeof(*v));
	uint64_t stop_by = 0;
	int tried_at_stop = 0;
	size_t k;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		if (w->stopping && stop_by == 0)
			stop_by = now_ms() + STOP_FLUSH_MS;
		if (w->stopping && (w->n == 0 || now_ms() >= stop_by))
			break;
		if (w->st == NULL && w->n > 0) {
			/* at stop, one more try without the pause */
			if (w->stopping && !tried_at_stop) {
				tried_at_stop = 1;
				w->reopen_at = 0;
			}
			pthread_mutex_unlock(&w->lock);
			store_open(w);
			prune(w);
			pthread_mutex_lock(&w->lock);
			if (w->st == NULL && w->stopping)
				break; /* what is queued is lost */
		}
		if (w->st != NULL && w->n > 0) {
			k = take(w, v);
			pthread_mutex_unlock(&w->lock);
			write_batch(w, v, k);
			pthread_mutex_lock(&w->lock);
			continue;
		}
		pthread_mutex_unlock(&w->lock);
		if (w->st == NULL)
			store_open(w); /* open early, to prune and to know */
		prune(w);
		log_pending(w, 0);
		pthread_mutex_lock(&w->lock);
		if (w->n == 0 && !w->stopping)
			wait_ms(w, IDLE_WAKE_MS);
		else if (w->st == NULL && !w->stopping) {
			uint64_t now = now_ms();

			wait_ms(w, w->reopen_at > now
				       ? (w->reopen_at - now > IDLE_WAKE_MS
					      ? IDLE_WAKE_MS
					      : w->reopen_at - now)
				       : 1);
		}
	}
	/* whatever is still queued is lost */
	k = queue_clear(w);
	pthread_mutex_unlock(&w->lock);
	if (k > 0)
		count_dropped(w, k);
	log_pending(w, 1);
	report_store_close(&w->st);
	free(v);
	pthread_mutex_lock(&w->lock);
	w->done = 1;
	pthread_cond_signal(&w->finished);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct report_writer *
report_writer_start(const struct report_writer_opts *o, char *err,
		    size_t errlen)
{
	struct report_writer *w = xcalloc(1, sizeof(*w));
	pthread_condattr_t ca;
	int rc;

	stats_register(&m_records);
	stats_register(&m_written);
	stats_register(&m_dropped);
	stats_register(&m_store_errors);
	stats_register(&m_queue);
	w->uri = xstrdup(o->uri != NULL ? o->uri : "");
	w->queue_max = o->queue_max > 0 ? o->queue_max : QUEUE_MAX_DEFAULT;
	w->batch_max = o->batch_max > 0 ? o->batch_max : BATCH_MAX_DEFAULT;
	w->keep_days = o->keep_days;
	w->pause_ms = PAUSE_FIRST_MS;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_cond_init(&w->finished, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&w->thread, NULL, writer_main, w);
	if (rc != 0) {
		snprintf(err, errlen, "report writer thread: %s", strerror(rc));
		pthread_cond_destroy(&w->wake);
		pthread_cond_destroy(&w->finished);
		pthread_mutex_destroy(&w->lock);
		free(w->uri);
		free(w);
		return NULL;
	}
	return w;
}

/* str_size - bytes of s with its NUL; 0 for NULL */
static size_t
str_size(const char *s)
{
	return s != NULL ? strnlen(s, COPY_MAX) + 1 : 0;
}

/* str_put - s copied to *p (which moves past it); NULL for NULL */
static const char *
str_put(char **p, const char *s, size_t n)
{
	const char *at = *p;

	if (s == NULL)
		return NULL;
	memcpy(*p, s, n - 1);
	(*p)[n - 1] = '\0';
	*p += n;
	return at;
}

/* entry_new - a deep copy of r in one allocation; NULL when its strings
 * are beyond what any record may hold */
static struct entry *
entry_new(const struct report_record *r)
{
	size_t nd = r->dkim != NULL ? r->ndkim : 0;
	size_t ns = r->spf != NULL ? r->nspf : 0;
	size_t nr = r->reasons != NULL ? r->nreasons : 0;
	size_t strs = 0, arrays;
	struct report_dkim *dk;
	struct report_spf *sp;
	struct report_reason *rs;
	struct entry *e;
	char *p;

	if (nd > REPORT_DKIM_MAX)
		nd = REPORT_DKIM_MAX;
	if (ns > 16 || nr > 16)
		return NULL;
	strs += str_size(r->source_ip) + str_size(r->header_from) +
		str_size(r->envelope_from) + str_size(r->envelope_to) +
		str_size(r->policy.domain);
	for (size_t i = 0; i < nd; i++)
		strs += str_size(r->dkim[i].domain) +
			str_size(r->dkim[i].selector) +
			str_size(r->dkim[i].human);
	for (size_t i = 0; i < ns; i++)
		strs += str_size(r->spf[i].domain) + str_size(r->spf[i].human);
	for (size_t i = 0; i < nr; i++)
		strs += str_size(r->reasons[i].comment);
	if (strs > COPY_MAX)
		return NULL;
	/* the arrays first (struct entry's size keeps them aligned), then
	 * the strings */
	arrays = nd * sizeof(*dk) + ns * sizeof(*sp) + nr * sizeof(*rs);
	e = xmalloc(sizeof(*e) + arrays + strs);
	e->next = NULL;
	e->text = NULL;
	e->len = 0;
	e->rec = *r;
	dk = (struct report_dkim *)(void *)(e + 1);
	sp = (struct report_spf *)(void *)(dk + nd);
	rs = (struct report_reason *)(void *)(sp + ns);
	p = (char *)(rs + nr);
#define PUT(s) str_put(&p, (s), str_size(s))
	e->rec.source_ip = PUT(r->source_ip);
	e->rec.header_from = PUT(r->header_from);
	e->rec.envelope_from = PUT(r->envelope_from);
	e->rec.envelope_to = PUT(r->envelope_to);
	e->rec.policy.domain = PUT(r->policy.domain);
	for (size_t i = 0; i < nd; i++) {
		dk[i] = r->dkim[i];
		dk[i].domain = PUT(r->dkim[i].domain);
		dk[i].selector = PUT(r->dkim[i].selector);
		dk[i].human = PUT(r->dkim[i].human);
	}
	for (size_t i = 0; i < ns; i++) {
		sp[i] = r->spf[i];
		sp[i].domain = PUT(r->spf[i].domain);
		sp[i].human = PUT(r->spf[i].human);
	}
	for (size_t i = 0; i < nr; i++) {
		rs[i] = r->reasons[i];
		rs[i].comment = PUT(r->reasons[i].comment);
	}
#undef PUT
	e->rec.dkim = nd > 0 ? dk : NULL;
	e->rec.ndkim = nd;
	e->rec.spf = ns > 0 ? sp : NULL;
	e->rec.nspf = ns;
	e->rec.reasons = nr > 0 ? rs : NULL;
	e->rec.nreasons = nr;
	return e;
}

/* writers whose thread stop gave up on: still in use by that thread
 * (never freed), kept reachable here rather than leaked */
static pthread_mutex_t abandoned_lock = PTHREAD_MUTEX_INITIALIZER;
static struct report_writer *abandoned_list;

int
report_writer_submit(struct report_writer *w, const struct report_record *r)
{
	struct entry *e;
	int wake;

	/* a full queue drops before anything is copied: a store that is
	 * down costs the mail side next to nothing */
	if (atomic_load_explicit(&w->queue_length, memory_order_relaxed) >=
	    w->queue_max) {
		count_dropped(w, 1);
		return -1;
	}
	if ((e = entry_new(r)) == NULL) {
		count_dropped(w, 1);
		return -1;
	}
	pthread_mutex_lock(&w->lock);
	if (w->stopping || w->n >= w->queue_max) {
		pthread_mutex_unlock(&w->lock);
		free(e);
		count_dropped(w, 1);
		return -1;
	}
	if (w->tail != NULL)
		w->tail->next = e;
	else
		w->head = e;
	w->tail = e;
	w->n++;
	atomic_fetch_add_explicit(&w->queued, 1, memory_order_relaxed);
	atomic_store_explicit(&w->queue_length, w->n, memory_order_relaxed);
	/* under the lock, so that take() never brings the gauge below 0 */
	stats_inc(&m_records);
	stats_gauge_add(&m_queue, 1);
	/* the thread wakes for a batch's worth, or for the first record */
	wake = w->n == 1 || w->n % w->batch_max == 0;
	pthread_mutex_unlock(&w->lock);
	if (wake)
		pthread_cond_signal(&w->wake);
	return 0;
}

void
report_writer_stop(struct report_writer **wp)
{
	struct report_writer *w = *wp;
	struct timespec until;

	*wp = NULL;
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = 1;
	pthread_cond_signal(&w->wake);
	/* the thread gives up writing after STOP_FLUSH_MS, but a store call
	 * it is in (a server that does not answer) may last longer */
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (STOP_FLUSH_MS + STOP_GRACE_MS) / 1000;
	while (!w->done &&
	       pthread_cond_timedwait(&w->finished, &w->lock, &until) == 0)
		;
	if (!w->done) {
		/* leave the thread to its call (the process is exiting):
		 * what is queued and the batch in the call are lost, the
		 * writer is not freed */
		size_t lost = queue_clear(w) + w->inflight;

		w->abandoned = 1;
		count_dropped(w, lost);
		pthread_mutex_unlock(&w->lock);
		log_msg(LOG_WARNING,
			"event=reports_stop note=\"the store did not answer: "
			"stopped waiting\" records_lost=%zu",
			lost);
		pthread_detach(w->thread);
		pthread_mutex_lock(&abandoned_lock);
		w->next_abandoned = abandoned_list;
		abandoned_list = w;
		pthread_mutex_unlock(&abandoned_lock);
		return;
	}
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->finished);
	pthread_mutex_destroy(&w->lock);
	free(w->uri);
	free(w);
}

void
report_writer_stats(const struct report_writer *w,
		    struct report_writer_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (w == NULL)
		return;
	out->queued = atomic_load_explicit(&w->queued, memory_order_relaxed);
	out->written = atomic_load_explicit(&w->written, memory_order_relaxed);
	out->dropped = atomic_load_explicit(&w->dropped, memory_order_relaxed);
	out->store_errors =
	    atomic_load_explicit(&w->store_errors, memory_order_relaxed);
	out->queue_length =
	    atomic_load_explicit(&w->queue_length, memory_order_relaxed);
}
