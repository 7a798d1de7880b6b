/*
 * dns.c - the resolver interface's common part: the name check, dispatch
 * to the back end, the default timeout and the DNS time budget, answers
 * and their counters, rdata decoding (see dns.h).
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deadline.h"
#include "dname.h"
#include "dns_impl.h"
#include "stats.h"
#include "util.h"

/* every answer handed to a caller, counted once (a cache's question to its
 * back end is not). The flat counters are the exit log line's; the
 * endpoint exports dns_queries_total by type and outcome instead */
static struct stats_metric m_queries = STATS_COUNTER_LOCAL("dns_queries_total",
    "DNS answers handed to callers, from any resolver");
static struct stats_metric m_failures = STATS_COUNTER_LOCAL("dns_failures_total",
    "DNS answers that were a failure (any kind but none)");
static struct stats_metric m_fail[] = {
#define F(k, h) { .name = "dns_failures_" k "_total", .help = (h), \
	.kind = STATS_KIND_COUNTER, .flags = STATS_LOCAL }
	[DNS_FAIL_SERVFAIL] = F("servfail", "DNS answers that failed with SERVFAIL"),
	[DNS_FAIL_REFUSED] = F("refused",
	    "DNS answers that failed with REFUSED or another error rcode"),
	[DNS_FAIL_TIMEOUT] = F("timeout",
	    "DNS lookups that got no answer within their timeout"),
	[DNS_FAIL_BUDGET] = F("budget",
	    "DNS lookups refused or cut short by a spent DNS time budget"),
	[DNS_FAIL_BOGUS] = F("bogus", "DNS answers that failed DNSSEC validation"),
	[DNS_FAIL_MALFORMED] = F("malformed",
	    "DNS answers that could not be used as they were"),
	[DNS_FAIL_RESOLVER] = F("resolver",
	    "DNS lookups the resolver failed or abandoned (shutdown)"),
	[DNS_FAIL_BADNAME] = F("badname",
	    "DNS lookups of what is not a domain name, never asked"),
#undef F
};
#define NFAIL (sizeof(m_fail) / sizeof(m_fail[0]))

/* dns_queries_total{type, outcome}: the outcome is the status for an
 * answer (answer, nxdomain, nodata) and the fail kind for a failure */
enum { T_A, T_AAAA, T_TXT, T_MX, T_PTR, T_OTHER, NTYPES };
#define NOUTCOMES (3 + NFAIL - 1)
#define Q_HELP "DNS lookups answered, by record type and outcome (answer, " \
	"nxdomain, nodata, or the failure: servfail, refused, timeout, " \
	"budget, bogus, malformed, resolver, badname)"
#define Q(t, o) STATS_LABELLED("dns_queries_total", "type=\"" t \
	"\",outcome=\"" o "\"", Q_HELP)
#define QROW(t) { Q(t, "answer"), Q(t, "nxdomain"), Q(t, "nodata"), \
	Q(t, "servfail"), Q(t, "refused"), Q(t, "timeout"), Q(t, "budget"), \
	Q(t, "bogus"), Q(t, "malformed"), Q(t, "resolver"), Q(t, "badname") }
static struct stats_metric m_by_type[NTYPES][NOUTCOMES] = {
	QROW("A"), QROW("AAAA"), QROW("TXT"), QROW("MX"), QROW("PTR"),
	QROW("other"),
};
#undef QROW
#undef Q
_Static_assert(DNS_FAIL_BADNAME == 8 && NOUTCOMES == 11, "outcome labels");

/* a lookup's time from its start to its answer, as the caller waits
 * (answers from the cache included), in microseconds */
static const uint64_t latency_bounds[] = {
	25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 500000, 1000000, 5000000,
};
static struct stats_metric m_latency = STATS_HISTOGRAM_SECONDS(
    "dns_lookup_microseconds", "dns_lookup_duration_seconds",
    "DNS lookups from their start to their answer, as the caller waits "
    "(answers from the answer cache included)", latency_bounds);

static void
register_all(void)
{
	stats_register(&m_queries);
	stats_register(&m_failures);
	for (size_t i = DNS_FAIL_NONE + 1; i < NFAIL; i++)
		stats_register(&m_fail[i]);
	for (size_t t = 0; t < NTYPES; t++)
		for (size_t o = 0; o < NOUTCOMES; o++)
			stats_register(&m_by_type[t][o]);
	stats_register(&m_latency);
}

void
dns_stats_register(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, register_all);
}

static size_t
type_index(int type)
{
	switch (type) {
	case DNS_T_A: return T_A;
	case DNS_T_AAAA: return T_AAAA;
	case DNS_T_TXT: return T_TXT;
	case DNS_T_MX: return T_MX;
	case DNS_T_PTR: return T_PTR;
	default: return T_OTHER;
	}
}

static size_t
outcome_index(const struct dns_answer *a)
{
	if (a->fail != DNS_FAIL_NONE && (unsigned)a->fail < NFAIL)
		return 2 + (size_t)a->fail;
	switch (a->status) {
	case DNS_STATUS_OK: return 0;
	case DNS_STATUS_NXDOMAIN: return 1;
	case DNS_STATUS_NODATA: return 2;
	default: return 2 + DNS_FAIL_RESOLVER; /* a failure without a kind */
	}
}

/* answered - count an answer to a lookup of type started at t0 (NULL:
 * answered at once) on its way to the caller; returns it */
static struct dns_answer *
answered(struct dns_answer *a, int type, const struct timespec *t0)
{
	struct timespec t1;

	stats_inc(&m_queries);
	if (a->fail != DNS_FAIL_NONE && (unsigned)a->fail < NFAIL) {
		stats_inc(&m_failures);
		stats_inc(&m_fail[a->fail]);
	}
	stats_inc(&m_by_type[type_index(type)][outcome_index(a)]);
	if (t0 != NULL) {
		int64_t us;

		clock_gettime(CLOCK_MONOTONIC, &t1);
		us = (int64_t)(t1.tv_sec - t0->tv_sec) * 1000000 +
		    (t1.tv_nsec - t0->tv_nsec) / 1000;
		stats_observe(&m_latency, us > 0 ? (uint64_t)us : 0);
	} else
		stats_observe(&m_latency, 0);
	return a;
}

/*
 * A lookup of something that is not a domain name is answered here, for
 * every back end and without reaching one: its query belongs to a resolver
 * of its own that only hands the answer over.
 */
struct fixed_query {
	struct dns_query base;
	struct dns_answer *ans;
};

static struct dns_answer *
fixed_wait(struct dns_query *q, unsigned timeout_ms)
{
	struct dns_answer *a = ((struct fixed_query *)q)->ans;

	(void)timeout_ms;
	free(q);
	return a;
}

static void
fixed_cancel(struct dns_query *q)
{
	dns_answer_free(&((struct fixed_query *)q)->ans);
	free(q);
}

static const struct dns_ops fixed_ops = {
	.wait = fixed_wait,
	.cancel = fixed_cancel,
};
static struct dns_resolver fixed_resolver = { .ops = &fixed_ops };

/* default_ms - the resolver's default timeout */
static unsigned
default_ms(const struct dns_resolver *r)
{
	return r->default_timeout_ms ? r->default_timeout_ms :
	    DNS_TIMEOUT_DEFAULT_MS;
}

struct dns_answer *
dns_query(struct dns_resolver *r, const char *name, int type,
    unsigned timeout_ms)
{
	struct dns_query *q = dns_query_start(r, name, type);

	return dns_query_wait(&q, timeout_ms);
}

struct dns_query *
dns_query_start(struct dns_resolver *r, const char *name, int type)
{
	struct fixed_query *fq;
	struct dns_query *q;

	if (name != NULL && dname_valid(name))
		q = r->ops->start(r, name, type);
	else {
		fq = xcalloc(1, sizeof(*fq));
		fq->base.r = &fixed_resolver;
		fq->ans = dns_answer_fail(DNS_FAIL_BADNAME, 3,
		    "not a domain name");
		q = &fq->base;
	}
	if (q != NULL) {
		q->type = type;
		clock_gettime(CLOCK_MONOTONIC, &q->started);
	}
	return q;
}

struct dns_answer *
dns_backend_wait(struct dns_query **qp, unsigned timeout_ms)
{
	struct dns_query *q = *qp;

	*qp = NULL;
	if (q == NULL)
		return dns_answer_fail(DNS_FAIL_RESOLVER, 2, "resolver shut down");
	if (timeout_ms == 0)
		timeout_ms = default_ms(q->r);
	return q->r->ops->wait(q, timeout_ms);
}

struct dns_answer *
dns_query_wait(struct dns_query **qp, unsigned timeout_ms)
{
	struct timespec t0;
	int type;

	if (*qp == NULL)
		return answered(dns_backend_wait(qp, timeout_ms), 0, NULL);
	/* the query is gone once waited for */
	type = (*qp)->type;
	t0 = (*qp)->started;
	return answered(dns_backend_wait(qp, timeout_ms), type, &t0);
}

struct dns_answer *
dns_query_wait_until(struct dns_query **qp, const struct timespec *deadline)
{
	unsigned left, dflt;

	if (deadline == NULL || *qp == NULL)
		return dns_query_wait(qp, 0);
	left = deadline_left_ms(deadline);
	if (left == 0) {
		struct timespec t0 = (*qp)->started;
		int type = (*qp)->type;

		dns_query_cancel(qp);
		return answered(dns_answer_fail(DNS_FAIL_BUDGET, 2,
		    "DNS time budget spent"), type, &t0);
	}
	dflt = default_ms((*qp)->r);
	return dns_query_wait(qp, left < dflt ? left : dflt);
}

struct dns_answer *
dns_query_until(struct dns_resolver *r, const char *name, int type,
    const struct timespec *deadline)
{
	struct dns_query *q;

	if (deadline != NULL && deadline_left_ms(deadline) == 0)
		return answered(dns_answer_fail(DNS_FAIL_BUDGET, 2,
		    "DNS time budget spent"), type, NULL);
	q = dns_query_start(r, name, type);
	return dns_query_wait_until(&q, deadline);
}

void
dns_query_cancel(struct dns_query **qp)
{
	struct dns_query *q = *qp;

	*qp = NULL;
	if (q != NULL)
		q->r->ops->cancel(q);
}

void
dns_resolver_free(struct dns_resolver **rp)
{
	if (rp == NULL || *rp == NULL)
		return;
	(*rp)->ops->destroy(*rp);
	*rp = NULL;
}

struct dns_answer *
dns_answer_new(enum dns_status status, int rcode, const char *why)
{
	struct dns_answer *a = xcalloc(1, sizeof(*a));

	a->status = status;
	a->rcode = rcode;
	if (why != NULL)
		str_copy(a->why, why, sizeof(a->why));
	return a;
}

struct dns_answer *
dns_answer_fail(enum dns_fail fail, int rcode, const char *why)
{
	struct dns_answer *a = dns_answer_new(fail == DNS_FAIL_BADNAME ?
	    DNS_STATUS_NXDOMAIN : DNS_STATUS_TEMPFAIL, rcode, why);

	a->fail = fail;
	a->bogus = fail == DNS_FAIL_BOGUS;
	return a;
}

/* dns_answer_set_rrs - one allocation holds the rr array and the rdata */
void
dns_answer_set_rrs(struct dns_answer *a, const struct dns_rr *rrs,
    size_t count)
{
	size_t total = 0;
	unsigned char *p;

	for (size_t i = 0; i < count; i++)
		total += rrs[i].len;
	free(a->rr);
	a->rr = xmalloc(count * sizeof(struct dns_rr) + total);
	p = (unsigned char *)(a->rr + count);
	for (size_t i = 0; i < count; i++) {
		memcpy(p, rrs[i].data, rrs[i].len);
		a->rr[i].data = p;
		a->rr[i].len = rrs[i].len;
		p += rrs[i].len;
	}
	a->count = count;
}

void
dns_answer_free(struct dns_answer **ap)
{
	if (ap == NULL || *ap == NULL)
		return;
	free((*ap)->rr);
	free((*ap)->packet);
	free(*ap);
	*ap = NULL;
}

const char *
dns_fail_name(enum dns_fail f)
{
	static const char *const names[] = {
		[DNS_FAIL_NONE] = "none",
		[DNS_FAIL_SERVFAIL] = "servfail",
		[DNS_FAIL_REFUSED] = "refused",
		[DNS_FAIL_TIMEOUT] = "timeout",
		[DNS_FAIL_BUDGET] = "budget",
		[DNS_FAIL_BOGUS] = "bogus",
		[DNS_FAIL_MALFORMED] = "malformed",
		[DNS_FAIL_RESOLVER] = "resolver",
		[DNS_FAIL_BADNAME] = "badname",
	};

	return (unsigned)f < sizeof(names) / sizeof(names[0]) ? names[f] : "?";
}

const char *
dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_STATUS_OK:
		return "ok";
	case DNS_STATUS_NXDOMAIN:
		return "nxdomain";
	case DNS_STATUS_NODATA:
		return "nodata";
	case DNS_STATUS_TEMPFAIL:
		return "tempfail";
	}
	return "unknown";
}

int
dns_rr_txt(const struct dns_rr *rr, char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	if (outlen == 0)
		return -1;
	while (i < rr->len) {
		size_t n = rr->data[i++];

		if (n > rr->len - i || n >= outlen - o) {
			out[0] = '\0';
			return -1;
		}
		memcpy(out + o, rr->data + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return 0;
}

int
dns_rr_name(const struct dns_rr *rr, size_t off, char *out, size_t outlen)
{
	size_t i = off, o = 0;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	for (;;) {
		size_t n;

		if (i >= rr->len)
			return -1;
		n = rr->data[i++];
		if (n == 0)
			break;
		if (n > 63 || n > rr->len - i) /* compression pointers are not expected */
			return -1;
		if (o + n + 2 > outlen)
			return -1;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, rr->data + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return 0;
}

int
dns_name_to_wire(const char *name, unsigned char *out, size_t outlen, size_t *lenp)
{
	size_t o = 0, end = dname_len(name);
	const char *p = name;

	if (!dname_valid(name))
		return -1;
	/* dname_valid: labels of 1..63 octets, at most 255 in wire format */
	while (p < name + end) {
		const char *dot = memchr(p, '.', (size_t)(name + end - p));
		size_t n = dot ? (size_t)(dot - p) : (size_t)(name + end - p);

		if (o + n + 2 > outlen)
			return -1;
		out[o++] = (unsigned char)n;
		memcpy(out + o, p, n);
		o += n;
		p += n;
		if (*p == '.')
			p++;
	}
	if (o + 1 > outlen)
		return -1;
	out[o++] = 0;
	*lenp = o;
	return 0;
}

int
dns_rr_mx(const struct dns_rr *rr, unsigned *pref, char *out, size_t outlen)
{
	if (rr->len < 3)
		return -1;
	*pref = (unsigned)rr->data[0] << 8 | rr->data[1];
	return dns_rr_name(rr, 2, out, outlen);
}
