/*
 * dns_unbound.c - the libunbound back end of the resolver interface (dns.h).
 *
 * One ub_ctx at a time (a generation; a new one replaces it after a
 * temporary failure, see "the pool" at the end), in threaded async mode
 * (ub_ctx_async(ctx, 1): no fork). Callers start lookups with
 * ub_resolve_async(), which is thread-safe; one dispatcher thread poll()s
 * on ub_fd() and a self-pipe and is the only caller of ub_process(), which
 * runs our callback. Each waiter sleeps on its own condition variable
 * (CLOCK_MONOTONIC) under one shared mutex. libunbound has no per-query
 * timeout, so a wait that runs out calls ub_cancel() and answers TEMPFAIL
 * DNS_FAIL_TIMEOUT.
 *
 * Usage:
 *
 *	const char *fwd[] = { "127.0.0.1@5353" };
 *	struct dns_unbound_opts o = {
 *		.forwarders = fwd, .nforwarders = 1, .timeout_ms = 3000,
 *	};
 *	char err[256], txt[4096];
 *	struct dns_resolver *r = dns_unbound_new(&o, err, sizeof(err));
 *	struct dns_answer *a;
 *
 *	if (r == NULL)
 *		return fail(err);
 *	a = dns_query(r, "example.org", DNS_T_TXT, 0);
 *	if (a->status == DNS_STATUS_OK) {
 *		for (size_t i = 0; i < a->count; i++)
 *			if (dns_rr_txt(&a->rr[i], txt, sizeof(txt)) == 0)
 *				use(txt);
 *	} else if (a->fail == DNS_FAIL_TIMEOUT) {
 *		try_later(a->why);	// code tests fail, people read why
 *	}
 *	dns_answer_free(&a);
 *	dns_resolver_free(&r);
 *
 * Answers: rcode 0 with data is OK, rcode 3 NXDOMAIN, rcode 0 without data
 * NODATA; the rest is TEMPFAIL with its kind in answer->fail and a reason
 * in answer->why: rcode SERVFAIL (DNS_FAIL_SERVFAIL), REFUSED or any other
 * rcode (DNS_FAIL_REFUSED), no answer in time (DNS_FAIL_TIMEOUT), a DNSSEC
 * bogus answer, which still carries data (DNS_FAIL_BOGUS), a result whose
 * data libunbound did not hand over whole (DNS_FAIL_MALFORMED), a
 * libunbound error or shutdown (DNS_FAIL_RESOLVER). A forwarder's REFUSED
 * reaches us as libunbound's own SERVFAIL. The whole answer packet is kept
 * in answer->packet.
 *
 * Ownership: a query object is freed when both its waiter (wait/cancel)
 * and libunbound (callback, successful ub_cancel, or shutdown) are done
 * with it. dns_resolver_free() fails pending lookups with TEMPFAIL
 * DNS_FAIL_RESOLVER "resolver shut down"; the resolver struct itself lives until the last
 * started query has been waited for or cancelled, so a waiter racing with
 * shutdown never touches freed memory.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <unbound.h>

#include "deadline.h"
#include "dname.h"
#include "dns_impl.h"
#include "log.h"
#include "stats.h"
#include "util.h"

#define UB_DEFAULT_CACHE (4u * 1024 * 1024)
/* queries on the wire at once (libunbound: 16) and lookups taken at once
 * (1024), see ubr_configure */
#define UB_OUTGOING 2048
#define UB_QUERIES 4096
/* answered NXDOMAIN locally: the start-up resolve */
#define UB_START_NAME "start.authmilter.invalid."

struct ubq;

struct ubres {
	struct dns_resolver base;
	struct ub_ctx *ctx;
	pthread_t thread;
	int thread_started;
	int wake[2];             /* self-pipe: a byte stops the dispatcher */
	pthread_condattr_t cattr; /* CLOCK_MONOTONIC for every query's cond */

	pthread_mutex_t lock;    /* guards everything below and every ubq */
	pthread_cond_t idle;     /* in_ub dropped to 0 */
	int closing;             /* destroy started: no new libunbound calls */
	int dead;                /* destroy finished: last query frees us */
	unsigned in_ub;          /* threads inside ub_resolve_async/ub_cancel */
	unsigned long nq;        /* live query objects */
	struct ubq *pending;     /* queries libunbound may still call back */
	int suspect;             /* a lookup failed temporarily (see ubp_*) */

	/* owned by the pool (its lock) */
	struct timespec born;    /* CLOCK_MONOTONIC */
	unsigned pins;           /* pool users about to start a lookup here */
	struct ubres *next_retired;
};

struct ubq {
	struct dns_query base;   /* must be first */
	pthread_cond_t cond;
	struct ubq *prev, *next; /* in r->pending while listed */
	int async_id;
	int listed;              /* libunbound may still call back */
	int waiter;              /* not yet consumed by wait/cancel */
	int done;                /* ans is final */
	struct dns_answer *ans;
};

/* ---- answers ------------------------------------------------------------- */

static const char *
rcode_name(int rcode, char *buf, size_t len)
{
	static const char *const names[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
		"REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
		"NOTZONE",
	};

	if (rcode >= 0 && (size_t)rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	snprintf(buf, len, "rcode %d", rcode);
	return buf;
}

/* ubr_data - an OK answer with the RRs of a result that has data; a
 * result that says it has data but lacks it or has a negative length is
 * TEMPFAIL DNS_FAIL_MALFORMED */
static struct dns_answer *
ubr_data(const struct ub_result *res)
{
	struct dns_answer *a;
	struct dns_rr *rrs;
	size_t n = 0;

	if (res->data == NULL || res->len == NULL || res->data[0] == NULL)
		return dns_answer_fail(DNS_FAIL_MALFORMED, 0,
		    "answer without its data");
	while (res->data[n] != NULL)
		if (res->len[n++] < 0)
			return dns_answer_fail(DNS_FAIL_MALFORMED, 0,
			    "answer with a negative length");
	rrs = xcalloc(n, sizeof(*rrs));
	for (size_t i = 0; i < n; i++) {
		rrs[i].data = (const unsigned char *)res->data[i];
		rrs[i].len = (size_t)res->len[i];
	}
	a = dns_answer_new(DNS_STATUS_OK, 0, NULL);
	dns_answer_set_rrs(a, rrs, n);
	free(rrs);
	return a;
}

/* ubr_answer - convert (and free) what the callback received */
static struct dns_answer *
ubr_answer(int err, struct ub_result *res)
{
	struct dns_answer *a;
	char buf[32];

	if (err != 0 || res == NULL) {
		ub_resolve_free(res);
		return dns_answer_fail(DNS_FAIL_RESOLVER, 2,
		    err != 0 ? ub_strerror(err) : "no result");
	}
	if (res->bogus) {
		/* bogus answers still carry rcode 0 and data: never use them */
		a = dns_answer_fail(DNS_FAIL_BOGUS, res->rcode, NULL);
		snprintf(a->why, sizeof(a->why), "DNSSEC bogus: %s",
		    res->why_bogus != NULL ? res->why_bogus :
		    "validation failed");
	} else if (res->rcode == 0 && res->havedata) {
		a = ubr_data(res);
	} else if (res->rcode == 3 || res->nxdomain) {
		a = dns_answer_new(DNS_STATUS_NXDOMAIN, 3, NULL);
	} else if (res->rcode == 0) {
		a = dns_answer_new(DNS_STATUS_NODATA, 0, NULL);
	} else {
		a = dns_answer_fail(res->rcode == 2 ? DNS_FAIL_SERVFAIL :
		    DNS_FAIL_REFUSED, res->rcode,
		    rcode_name(res->rcode, buf, sizeof(buf)));
	}
	a->secure = res->secure && !res->bogus;
	a->ttl = a->status != DNS_STATUS_TEMPFAIL && res->ttl > 0 ?
	    (unsigned)res->ttl : 0;
	if (res->answer_packet != NULL && res->answer_len > 0) {
		a->packet_len = (size_t)res->answer_len;
		a->packet = xmalloc(a->packet_len);
		memcpy(a->packet, res->answer_packet, a->packet_len);
	}
	ub_resolve_free(res);
	return a;
}

/* ---- query bookkeeping (r->lock held) ------------------------------------- */

static void
ubq_unlink(struct ubres *r, struct ubq *q)
{
	if (!q->listed)
		return;
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		r->pending = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
	q->listed = 0;
}

static void
ubq_finish(struct ubq *q, struct dns_answer *a)
{
	q->ans = a;
	q->done = 1;
	pthread_cond_signal(&q->cond);
}

/* ubq_release - free q once neither its waiter nor libunbound holds it;
 * returns 1 when the caller must free r after unlocking */
static int
ubq_release(struct ubres *r, struct ubq *q)
{
	if (q->waiter || q->listed)
		return 0;
	pthread_cond_destroy(&q->cond);
	dns_answer_free(&q->ans);
	free(q);
	r->nq--;
	return r->dead && r->nq == 0;
}

static void
ubr_leave(struct ubres *r)
{
	if (--r->in_ub == 0)
		pthread_cond_broadcast(&r->idle);
}

static void
resolver_free(struct ubres *r)
{
	pthread_cond_destroy(&r->idle);
	pthread_mutex_destroy(&r->lock);
	pthread_condattr_destroy(&r->cattr);
	free(r);
}

/* ---- libunbound side ------------------------------------------------------ */

/* ubr_callback - runs on the dispatcher thread, inside ub_process() */
static void
ubr_callback(void *arg, int err, struct ub_result *res)
{
	struct ubq *q = arg;
	struct ubres *r = (struct ubres *)q->base.r;
	struct dns_answer *a = ubr_answer(err, res);

	pthread_mutex_lock(&r->lock);
	ubq_unlink(r, q);
	ubq_finish(q, a);
	/* never frees r: r->dead is set only after this thread is joined */
	(void)ubq_release(r, q);
	pthread_mutex_unlock(&r->lock);
}

static void *
dispatcher(void *arg)
{
	struct ubres *r = arg;
	int fd = ub_fd(r->ctx);

	for (;;) {
		struct pollfd pfd[2];
		int rc;

		pfd[0].fd = r->wake[0];
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		pfd[1].fd = fd; /* -1 after a pipe failure: poll ignores it */
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "dns=unbound event=poll_failed "
			    "error=\"%s\"", strerror(errno));
			break;
		}
		if (pfd[0].revents != 0)
			break;
		if (pfd[1].revents == 0)
			continue;
		rc = ub_process(r->ctx);
		if (rc != 0) {
			/* the worker is gone: waiters will time out */
			log_msg(LOG_ERR, "dns=unbound event=process_failed "
			    "error=\"%s\"", ub_strerror(rc));
			fd = -1;
		}
	}
	return NULL;
}

/* ubq_start - start a lookup; *ubrc is libunbound's error code (0 ok) */
static struct ubq *
ubq_start(struct ubres *r, const char *name, int type, int *ubrc)
{
	struct ubq *q;
	int id = 0, rc;

	*ubrc = 0;
	pthread_mutex_lock(&r->lock);
	if (r->closing) {
		pthread_mutex_unlock(&r->lock);
		return NULL;
	}
	q = xcalloc(1, sizeof(*q));
	q->base.r = &r->base;
	pthread_cond_init(&q->cond, &r->cattr);
	q->waiter = 1;
	r->nq++;
	if (type < 0 || type > 65535) {
		ubq_finish(q, dns_answer_fail(DNS_FAIL_RESOLVER, 2,
		    ub_strerror(UB_SYNTAX)));
		pthread_mutex_unlock(&r->lock);
		*ubrc = UB_SYNTAX;
		return q;
	}
	q->listed = 1;
	q->next = r->pending;
	if (q->next != NULL)
		q->next->prev = q;
	r->pending = q;
	r->in_ub++;
	pthread_mutex_unlock(&r->lock);

	rc = ub_resolve_async(r->ctx, name, type, 1 /* IN */, q, ubr_callback,
	    &id);

	pthread_mutex_lock(&r->lock);
	ubr_leave(r);
	if (rc != 0) {
		/* the callback will never run */
		ubq_unlink(r, q);
		ubq_finish(q, dns_answer_fail(DNS_FAIL_RESOLVER, 2,
		    ub_strerror(rc)));
		*ubrc = rc;
	} else {
		q->async_id = id;
	}
	pthread_mutex_unlock(&r->lock);
	return q;
}

/* ubq_abandon - r->lock held, q not done: stop libunbound from calling
 * back if it still can. May drop and retake the lock; q may be done after. */
static void
ubq_abandon(struct ubres *r, struct ubq *q)
{
	int rc, id;

	if (!q->listed || r->closing)
		return; /* callback ran, or destroy will unlist it */
	r->in_ub++;
	id = q->async_id;
	pthread_mutex_unlock(&r->lock);
	rc = ub_cancel(r->ctx, id);
	pthread_mutex_lock(&r->lock);
	ubr_leave(r);
	/* UB_NOERROR: the callback will never run (libunbound checks its
	 * cancelled flag under its own lock). UB_NOID: it has already run or
	 * is running now and will unlist q itself. */
	if (rc == UB_NOERROR)
		ubq_unlink(r, q);
}

/* ---- dns_ops ------------------------------------------------------------ */

static struct dns_query *
ubr_start(struct dns_resolver *base, const char *name, int type)
{
	int rc;
	struct ubq *q = ubq_start((struct ubres *)base, name, type, &rc);

	return q != NULL ? &q->base : NULL;
}

static struct dns_answer *
ubr_wait(struct dns_query *base, unsigned timeout_ms)
{
	struct ubq *q = (struct ubq *)base;
	struct ubres *r = (struct ubres *)base->r;
	struct dns_answer *a;
	struct timespec deadline;
	int freer;

	deadline_in(&deadline, timeout_ms);
	pthread_mutex_lock(&r->lock);
	while (!q->done) {
		if (pthread_cond_timedwait(&q->cond, &r->lock, &deadline) ==
		    ETIMEDOUT)
			break;
	}
	if (!q->done)
		ubq_abandon(r, q);
	if (q->done) { /* possibly an answer that raced with the timeout */
		a = q->ans;
		q->ans = NULL;
	} else {
		a = dns_answer_fail(DNS_FAIL_TIMEOUT, 2, "timeout");
	}
	/* a timeout of ours or a SERVFAIL (the forwarder's, or libunbound's
	 * own once it counts the forwarder as down); not DNSSEC: that is the
	 * data, not the server */
	if (a->status == DNS_STATUS_TEMPFAIL && a->fail != DNS_FAIL_BOGUS)
		r->suspect = 1;
	q->waiter = 0;
	freer = ubq_release(r, q);
	pthread_mutex_unlock(&r->lock);
	if (freer)
		resolver_free(r);
	return a;
}

static void
ubr_cancel(struct dns_query *base)
{
	struct ubq *q = (struct ubq *)base;
	struct ubres *r = (struct ubres *)base->r;
	int freer;

	pthread_mutex_lock(&r->lock);
	if (!q->done)
		ubq_abandon(r, q);
	q->waiter = 0;
	freer = ubq_release(r, q);
	pthread_mutex_unlock(&r->lock);
	if (freer)
		resolver_free(r);
}

static void
ubr_destroy(struct dns_resolver *base)
{
	struct ubres *r = (struct ubres *)base;
	struct ubq *q, *next;
	int freer;

	pthread_mutex_lock(&r->lock);
	r->closing = 1;
	while (r->in_ub > 0)
		pthread_cond_wait(&r->idle, &r->lock);
	pthread_mutex_unlock(&r->lock);

	if (r->thread_started) {
		ssize_t n;

		do
			n = write(r->wake[1], "x", 1);
		while (n < 0 && errno == EINTR);
		pthread_join(r->thread, NULL);
	}

	/* no callback can run now: fail what is still pending */
	pthread_mutex_lock(&r->lock);
	for (q = r->pending; q != NULL; q = next) {
		next = q->next;
		ubq_unlink(r, q);
		ubq_finish(q, dns_answer_fail(DNS_FAIL_RESOLVER, 2,
		    "resolver shut down"));
		(void)ubq_release(r, q);
	}
	pthread_mutex_unlock(&r->lock);

	/* nobody calls into libunbound any more (closing, in_ub == 0) */
	ub_ctx_delete(r->ctx);
	r->ctx = NULL;
	close(r->wake[0]);
	close(r->wake[1]);

	pthread_mutex_lock(&r->lock);
	r->dead = 1;
	freer = r->nq == 0;
	pthread_mutex_unlock(&r->lock);
	if (freer)
		resolver_free(r);
}

static const struct dns_ops ubr_ops = {
	.start = ubr_start,
	.wait = ubr_wait,
	.cancel = ubr_cancel,
	.destroy = ubr_destroy,
};

/* ---- construction ----------------------------------------------------------- */

static int
ubr_set(struct ub_ctx *ctx, const char *opt, const char *val, char *err,
    size_t errlen)
{
	int rc = ub_ctx_set_option(ctx, opt, val);

	if (rc != 0)
		snprintf(err, errlen, "unbound option %s %s: %s", opt, val,
		    ub_strerror(rc));
	return rc;
}

/*
 * libunbound's built-in local zones (unbound.conf(5), "default local
 * zones" in 1.17): it answers queries below them itself, NXDOMAIN mostly,
 * even when it forwards. When a site's resolver is asked (forwarders, or
 * the nameservers of resolv.conf) that resolver decides: private reverse
 * zones hold real PTR data at many sites, and test data lives under the
 * documentation prefixes. "nodefault" is ignored for several of these in
 * 1.17 (localhost, test, invalid, onion, home.arpa, the loopback reverse
 * zones); "transparent" lets queries through for every one of them, so
 * each is made transparent.
 */
static const char *const ub_default_zones[] = {
	"localhost.", "127.in-addr.arpa.",
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
	"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
	"home.arpa.", "resolver.arpa.", "service.arpa.", "onion.", "test.",
	"invalid.", "10.in-addr.arpa.", "16.172.in-addr.arpa.",
	"17.172.in-addr.arpa.", "18.172.in-addr.arpa.", "19.172.in-addr.arpa.",
	"20.172.in-addr.arpa.", "21.172.in-addr.arpa.", "22.172.in-addr.arpa.",
	"23.172.in-addr.arpa.", "24.172.in-addr.arpa.", "25.172.in-addr.arpa.",
	"26.172.in-addr.arpa.", "27.172.in-addr.arpa.", "28.172.in-addr.arpa.",
	"29.172.in-addr.arpa.", "30.172.in-addr.arpa.", "31.172.in-addr.arpa.",
	"168.192.in-addr.arpa.", "0.in-addr.arpa.", "254.169.in-addr.arpa.",
	"2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.",
	"113.0.203.in-addr.arpa.", "255.255.255.255.in-addr.arpa.",
	"64.100.in-addr.arpa.", "65.100.in-addr.arpa.", "66.100.in-addr.arpa.",
	"67.100.in-addr.arpa.", "68.100.in-addr.arpa.", "69.100.in-addr.arpa.",
	"70.100.in-addr.arpa.", "71.100.in-addr.arpa.", "72.100.in-addr.arpa.",
	"73.100.in-addr.arpa.", "74.100.in-addr.arpa.", "75.100.in-addr.arpa.",
	"76.100.in-addr.arpa.", "77.100.in-addr.arpa.", "78.100.in-addr.arpa.",
	"79.100.in-addr.arpa.", "80.100.in-addr.arpa.", "81.100.in-addr.arpa.",
	"82.100.in-addr.arpa.", "83.100.in-addr.arpa.", "84.100.in-addr.arpa.",
	"85.100.in-addr.arpa.", "86.100.in-addr.arpa.", "87.100.in-addr.arpa.",
	"88.100.in-addr.arpa.", "89.100.in-addr.arpa.", "90.100.in-addr.arpa.",
	"91.100.in-addr.arpa.", "92.100.in-addr.arpa.", "93.100.in-addr.arpa.",
	"94.100.in-addr.arpa.", "95.100.in-addr.arpa.", "96.100.in-addr.arpa.",
	"97.100.in-addr.arpa.", "98.100.in-addr.arpa.", "99.100.in-addr.arpa.",
	"100.100.in-addr.arpa.", "101.100.in-addr.arpa.", "102.100.in-addr.arpa.",
	"103.100.in-addr.arpa.", "104.100.in-addr.arpa.", "105.100.in-addr.arpa.",
	"106.100.in-addr.arpa.", "107.100.in-addr.arpa.", "108.100.in-addr.arpa.",
	"109.100.in-addr.arpa.", "110.100.in-addr.arpa.", "111.100.in-addr.arpa.",
	"112.100.in-addr.arpa.", "113.100.in-addr.arpa.", "114.100.in-addr.arpa.",
	"115.100.in-addr.arpa.", "116.100.in-addr.arpa.", "117.100.in-addr.arpa.",
	"118.100.in-addr.arpa.", "119.100.in-addr.arpa.", "120.100.in-addr.arpa.",
	"121.100.in-addr.arpa.", "122.100.in-addr.arpa.", "123.100.in-addr.arpa.",
	"124.100.in-addr.arpa.", "125.100.in-addr.arpa.", "126.100.in-addr.arpa.",
	"127.100.in-addr.arpa.", "d.f.ip6.arpa.", "8.e.f.ip6.arpa.",
	"9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.", "b.e.f.ip6.arpa.",
	"8.b.d.0.1.0.0.2.ip6.arpa.",
};

/* resolv_conf_forwards - whether a resolv.conf names a nameserver (then
 * libunbound forwards to it; otherwise it resolves from the root) */
static int
resolv_conf_forwards(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int found = 0;

	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		const char *p = line + strspn(line, " \t");

		found = strncmp(p, "nameserver", 10) == 0 &&
		    (p[10] == ' ' || p[10] == '\t');
	}
	fclose(f);
	return found;
}

/* ubr_transparent - let queries below zone (with or without its dot)
 * through to the forwarders; the zone is a host name (dname_host_valid:
 * not the root, no space to break the setting's text) */
static int
ubr_transparent(struct ub_ctx *ctx, const char *z, char *err, size_t errlen)
{
	char val[DNAME_BUFSIZE + sizeof(" transparent")];

	if (!dname_host_valid(z, 0)) {
		snprintf(err, errlen, "bad transparent zone \"%.40s\"", z);
		return -1;
	}
	snprintf(val, sizeof(val), "%.*s. transparent", (int)dname_len(z), z);
	return ubr_set(ctx, "local-zone:", val, err, errlen);
}

/* ubr_configure - every setting, before the first resolve freezes them */
static int
ubr_configure(struct ub_ctx *ctx, const struct dns_unbound_opts *o, char *err,
    size_t errlen)
{
	size_t cache = o->cache_bytes ? o->cache_bytes : UB_DEFAULT_CACHE;
	char num[32];
	int rc, forwarding;

	if ((rc = ub_ctx_async(ctx, 1)) != 0) {
		snprintf(err, errlen, "unbound async: %s", ub_strerror(rc));
		return -1;
	}
	if (o->nforwarders > 0) {
		for (size_t i = 0; i < o->nforwarders; i++) {
			rc = ub_ctx_set_fwd(ctx, o->forwarders[i]);
			if (rc != 0) {
				snprintf(err, errlen, "forwarder %s: %s",
				    o->forwarders[i], ub_strerror(rc));
				return -1;
			}
		}
		forwarding = 1;
	} else {
		const char *rc_path = o->resolv_conf ? o->resolv_conf :
		    "/etc/resolv.conf";

		if ((rc = ub_ctx_resolvconf(ctx, rc_path)) != 0) {
			snprintf(err, errlen, "%s: %s", rc_path, ub_strerror(rc));
			return -1;
		}
		forwarding = resolv_conf_forwards(rc_path);
	}
	/* the site's resolver decides; built-in zones stay only when
	 * resolving from the root */
	if (forwarding) {
		for (size_t i = 0; i < sizeof(ub_default_zones) /
		    sizeof(ub_default_zones[0]); i++)
			if (ubr_transparent(ctx, ub_default_zones[i], err,
			    errlen) != 0)
				return -1;
		if (ubr_set(ctx, "insecure-lan-zones:", "yes", err, errlen) != 0)
			return -1;
	}
	/*
	 * libunbound keeps, per server address, a retransmission timeout that
	 * grows with every timeout, and a forwarder (the site's resolver)
	 * times out whenever a slow domain is asked through it. We had
	 * infra-cache-max-rtt: 1000: the timeout reached that maximum after a
	 * few slow answers and the forwarder counted as useless, so every
	 * lookup of every message failed at once, with no query sent, for
	 * infra-host-ttl (15 minutes). Now that state lives one second
	 * (infra-host-ttl: 1) and a server in the "one probe at a time" state
	 * keeps being probed (infra-keep-probing). That alone still let other
	 * lookups fail for seconds, unreliably (ub_cancel does not stop
	 * libunbound's retries of an abandoned lookup); the pool below renews
	 * the context after a temporary failure, which is what isolates one
	 * slow domain.
	 */
	if (ubr_set(ctx, "infra-keep-probing:", "yes", err, errlen) != 0 ||
	    ubr_set(ctx, "infra-host-ttl:", "1", err, errlen) != 0)
		return -1;
	/*
	 * libunbound's outgoing-range is 16: at most 16 queries on the wire
	 * at once, the rest wait their turn inside libunbound. With answers
	 * 250 ms away, 120 lookups started together took 2.0 s (16 every
	 * 250 ms) and a crowd of cold messages timed out
	 * (LIBRARY-TRAPS.md; t/hostile.py dns-crowd). Each query on the
	 * wire holds a UDP socket: UB_OUTGOING of them at most (the daemon
	 * raises its descriptor limit for them), served through libevent's
	 * epoll. num-queries-per-thread bounds the lookups libunbound takes
	 * at all (past it, it drops the oldest beyond jostle-timeout).
	 */
	snprintf(num, sizeof(num), "%d", UB_OUTGOING);
	if (ubr_set(ctx, "outgoing-range:", num, err, errlen) != 0)
		return -1;
	snprintf(num, sizeof(num), "%d", UB_QUERIES);
	if (ubr_set(ctx, "num-queries-per-thread:", num, err, errlen) != 0)
		return -1;
	snprintf(num, sizeof(num), "%zu", cache);
	if (ubr_set(ctx, "msg-cache-size:", num, err, errlen) != 0)
		return -1;
	/* unbound's guidance: rrset cache about twice the message cache */
	snprintf(num, sizeof(num), "%zu", cache * 2);
	if (ubr_set(ctx, "rrset-cache-size:", num, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < o->ntransparent; i++)
		if (ubr_transparent(ctx, o->transparent_zones[i], err, errlen) != 0)
			return -1;
	if (ubr_set(ctx, "local-zone:", UB_START_NAME " static", err,
	    errlen) != 0)
		return -1;
	if (o->trust_anchor_file != NULL &&
	    (rc = ub_ctx_add_ta_file(ctx, o->trust_anchor_file)) != 0) {
		snprintf(err, errlen, "trust anchor %s: %s",
		    o->trust_anchor_file, ub_strerror(rc));
		return -1;
	}
	return 0;
}

/* ubr_new - one generation: a libunbound context and its dispatcher */
static struct ubres *
ubr_new(const struct dns_unbound_opts *o, char *err, size_t errlen)
{
	struct ubres *r;
	struct ubq *warm;
	sigset_t all, old;
	int rc;

	r = xcalloc(1, sizeof(*r));
	r->base.ops = &ubr_ops;
	r->base.default_timeout_ms = o->timeout_ms;
	r->wake[0] = r->wake[1] = -1;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->idle, NULL);
	pthread_condattr_init(&r->cattr);
	pthread_condattr_setclock(&r->cattr, CLOCK_MONOTONIC);
	clock_gettime(CLOCK_MONOTONIC, &r->born);

	if ((r->ctx = ub_ctx_create()) == NULL) {
		snprintf(err, errlen, "ub_ctx_create failed");
		goto fail;
	}
	if (ubr_configure(r->ctx, o, err, errlen) != 0)
		goto fail;
	if (pipe2(r->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}

	/* our dispatcher and libunbound's worker (created by the first
	 * resolve) must not take the daemon's signals */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&r->thread, NULL, dispatcher, r);
	if (rc == 0) {
		r->thread_started = 1;
		/* the first resolve freezes the settings and starts the
		 * worker, so a bad setting (trust anchor file, ...) shows up
		 * here; the name is in a local zone of our own (no query
		 * leaves: the built-in zones go to the forwarders) */
		warm = ubq_start(r, UB_START_NAME, DNS_T_A, &rc);
		if (rc == 0) {
			struct dns_answer *a = ubr_wait(&warm->base, 2000);

			dns_answer_free(&a);
		} else {
			ubr_cancel(&warm->base);
			snprintf(err, errlen, "unbound start: %s",
			    ub_strerror(rc));
		}
	} else {
		snprintf(err, errlen, "pthread_create: %s", strerror(rc));
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		struct dns_resolver *b = &r->base;

		if (r->thread_started) {
			dns_resolver_free(&b);
			return NULL;
		}
		goto fail;
	}
	return r;

fail:
	if (r->ctx != NULL)
		ub_ctx_delete(r->ctx);
	if (r->wake[0] >= 0) {
		close(r->wake[0]);
		close(r->wake[1]);
	}
	resolver_free(r);
	return NULL;
}

/* ---- the pool: generations renewed after temporary failures -------------- */

/*
 * libunbound keeps per-server state (retransmission timeouts, "down"
 * marks) shared by every lookup of a context, and the forwarder (the
 * site's resolver) times out for every lookup of a domain whose servers
 * are slow: one hostile domain made every other lookup fail, and no
 * setting of libunbound 1.17 prevented it reliably (see ubr_configure and
 * t/test-dns.c). So the context is renewed: after a lookup of the current
 * generation fails temporarily (a timeout of ours, SERVFAIL, ...), the
 * next lookup started, at least UB_RENEW_MIN_MS after the generation was
 * made, makes a fresh context (empty server state, empty cache) and sends
 * new lookups there. The old generation is retired: the lookups in it
 * finish or time out as they would have, and it is freed (its context and
 * with it libunbound's background retries) once none is left. Renewal
 * costs a context and a thread (about a millisecond); a domain that fails
 * all the time costs at most 1000 / UB_RENEW_MIN_MS renewals a second. The
 * answer cache in front (dns_cache.c) keeps what was learnt.
 */
#define UB_RENEW_MIN_MS 250

static struct stats_metric m_renewals = STATS_COUNTER(
    "dns_resolver_renewals_total",
    "libunbound contexts renewed after a temporary failure");

struct ubpool {
	struct dns_resolver base;
	pthread_mutex_t lock;
	struct ubres *cur;
	struct ubres *retired;      /* list through next_retired */
	int renewing;               /* one thread makes the next generation */
	unsigned long renewals, logged;
	time_t last_log;
	/* a copy of the options, for each new generation */
	struct dns_unbound_opts o;
	char **fwd, **zones;
	char *resolv_conf, *trust_anchor;
};

static long
ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - t->tv_sec) * 1000 +
	    (now.tv_nsec - t->tv_nsec) / 1000000;
}

static int
ubr_state(struct ubres *r, int *suspect)
{
	int idle;

	pthread_mutex_lock(&r->lock);
	idle = r->nq == 0;
	if (suspect != NULL)
		*suspect = r->suspect;
	pthread_mutex_unlock(&r->lock);
	return idle;
}

/* ubp_reap_locked - take the retired generations nobody uses any more off
 * the list (pool lock held); the caller frees them after unlocking */
static struct ubres *
ubp_reap_locked(struct ubpool *p)
{
	struct ubres **pp = &p->retired, *dead = NULL;

	while (*pp != NULL) {
		struct ubres *g = *pp;

		if (g->pins == 0 && ubr_state(g, NULL)) {
			*pp = g->next_retired;
			g->next_retired = dead;
			dead = g;
		} else {
			pp = &g->next_retired;
		}
	}
	return dead;
}

static void
ubp_free_list(struct ubres *g)
{
	while (g != NULL) {
		struct ubres *next = g->next_retired;
		struct dns_resolver *b = &g->base;

		dns_resolver_free(&b);
		g = next;
	}
}

static struct dns_query *
ubp_start(struct dns_resolver *base, const char *name, int type)
{
	struct ubpool *p = (struct ubpool *)base;
	struct ubres *g, *dead, *ng = NULL;
	struct ubq *q;
	int suspect = 0, renew = 0, rc;
	char err[256];

	pthread_mutex_lock(&p->lock);
	g = p->cur;
	if (!p->renewing) {
		(void)ubr_state(g, &suspect);
		if (suspect && ms_since(&g->born) >= UB_RENEW_MIN_MS)
			renew = p->renewing = 1;
	}
	dead = ubp_reap_locked(p);
	if (!renew)
		g->pins++;
	pthread_mutex_unlock(&p->lock);
	ubp_free_list(dead);

	if (renew) {
		ng = ubr_new(&p->o, err, sizeof(err));
		pthread_mutex_lock(&p->lock);
		if (ng != NULL) {
			p->cur->next_retired = p->retired;
			p->retired = p->cur;
			p->cur = ng;
			p->renewals++;
			stats_inc(&m_renewals);
		}
		p->renewing = 0;
		g = p->cur;
		g->pins++;
		if (ng == NULL || time(NULL) - p->last_log >= 60) {
			if (ng == NULL)
				log_msg(LOG_ERR, "dns=unbound event=renew_failed "
				    "error=\"%s\"", err);
			else
				log_msg(LOG_NOTICE, "dns=unbound event=renewed "
				    "reason=temporary_failure renewals=%lu "
				    "since_last_line=%lu", p->renewals,
				    p->renewals - p->logged);
			p->last_log = time(NULL);
			p->logged = p->renewals;
		}
		pthread_mutex_unlock(&p->lock);
	}
	q = ubq_start(g, name, type, &rc);
	pthread_mutex_lock(&p->lock);
	g->pins--;
	pthread_mutex_unlock(&p->lock);
	return q != NULL ? &q->base : NULL;
}

static void
ubp_free(struct ubpool *p)
{
	for (size_t i = 0; i < p->o.nforwarders; i++)
		free(p->fwd[i]);
	for (size_t i = 0; i < p->o.ntransparent; i++)
		free(p->zones[i]);
	free(p->fwd);
	free(p->zones);
	free(p->resolv_conf);
	free(p->trust_anchor);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static void
ubp_destroy(struct dns_resolver *base)
{
	struct ubpool *p = (struct ubpool *)base;
	struct dns_resolver *b = &p->cur->base;

	dns_resolver_free(&b);
	ubp_free_list(p->retired);
	ubp_free(p);
}

/* queries belong to their generation: dns.c sends wait and cancel there */
static const struct dns_ops ubp_ops = {
	.start = ubp_start,
	.destroy = ubp_destroy,
};

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct dns_resolver *
dns_unbound_new(const struct dns_unbound_opts *opts, char *err, size_t errlen)
{
	static const struct dns_unbound_opts none;
	const struct dns_unbound_opts *o = opts ? opts : &none;
	struct ubpool *p = xcalloc(1, sizeof(*p));

	stats_register(&m_renewals);
	dns_stats_register();
	p->o = *o;
	p->fwd = xcalloc(o->nforwarders + 1, sizeof(char *));
	for (size_t i = 0; i < o->nforwarders; i++)
		p->fwd[i] = xstrdup(o->forwarders[i]);
	p->zones = xcalloc(o->ntransparent + 1, sizeof(char *));
	for (size_t i = 0; i < o->ntransparent; i++)
		p->zones[i] = xstrdup(o->transparent_zones[i]);
	p->o.forwarders = (const char *const *)p->fwd;
	p->o.transparent_zones = (const char *const *)p->zones;
	p->o.resolv_conf = p->resolv_conf = dup_or_null(o->resolv_conf);
	p->o.trust_anchor_file = p->trust_anchor =
	    dup_or_null(o->trust_anchor_file);
	pthread_mutex_init(&p->lock, NULL);
	p->base.ops = &ubp_ops;
	p->base.default_timeout_ms = o->timeout_ms;
	if ((p->cur = ubr_new(&p->o, err, errlen)) == NULL) {
		ubp_free(p);
		return NULL;
	}
	return &p->base;
}
