/*
 * dns_table.c - a resolver back end answering from a static table, for
 * unit tests, fuzz targets and the conformance suites (see dns.h).
 *
 * Names are kept and matched as dname_norm() makes them (case and a
 * final dot do not matter); a name that is not dname_valid() is never
 * kept, as no query can ask for it (dns_query_start). A name
 * with no entries at all answers NXDOMAIN, a name that has entries of
 * other types answers NODATA, and dns_table_set_status() or
 * dns_table_set_fail() overrides both (TEMPFAIL from set_status is a
 * simulated timeout: fail DNS_FAIL_TIMEOUT, why "timeout"). CNAME entries
 * are followed like a recursive resolver would (at most
 * DNS_TABLE_CNAME_HOPS; a longer chain or a loop answers TEMPFAIL
 * DNS_FAIL_SERVFAIL "CNAME loop", as a resolver's SERVFAIL). start()
 * answers at once; wait() hands the stored answer over. One mutex guards
 * the table, so every function is safe from any thread.
 */

#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dname.h"
#include "dns_impl.h"
#include "util.h"

#define DNS_TABLE_CNAME_HOPS 8
#define DNS_TABLE_TTL 300       /* every final answer's TTL */

struct table_entry {
	char *name;   /* dname_norm()ed: lowercase, no final dot */
	int type;
	unsigned char *rdata;
	size_t len;
	int is_status; /* a dns_table_set_status() or _set_fail() override */
	enum dns_status status;
	enum dns_fail fail; /* of the override; NONE: status alone */
};

struct table_resolver {
	struct dns_resolver base;
	pthread_mutex_t lock;
	struct table_entry *e;
	size_t n, cap;
	unsigned long queries;
};

struct table_query {
	struct dns_query base;
	struct dns_answer *ans;
};

static struct dns_query *table_start(struct dns_resolver *r, const char *name,
    int type);
static struct dns_answer *table_wait(struct dns_query *q, unsigned timeout_ms);
static void table_cancel(struct dns_query *q);
static void table_destroy(struct dns_resolver *r);

static const struct dns_ops table_ops = {
	.start = table_start,
	.wait = table_wait,
	.cancel = table_cancel,
	.destroy = table_destroy,
};

/* table_push - add an entry; -1 (nothing added) when name is not
 * dname_valid(): no query can ask for it */
static int
table_push(struct table_resolver *t, const char *name, int type,
    const void *rdata, size_t len, int is_status, enum dns_status status,
    enum dns_fail fail)
{
	char norm[DNAME_BUFSIZE];
	struct table_entry *e;

	if (dname_norm(name, norm, sizeof(norm)) != 0)
		return -1;
	pthread_mutex_lock(&t->lock);
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->e = xrealloc(t->e, t->cap * sizeof(*t->e));
	}
	e = &t->e[t->n++];
	e->name = xstrdup(norm);
	e->type = type;
	e->rdata = xmalloc(len ? len : 1);
	if (len)
		memcpy(e->rdata, rdata, len);
	e->len = len;
	e->is_status = is_status;
	e->status = status;
	e->fail = fail;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

struct dns_resolver *
dns_table_new(void)
{
	struct table_resolver *t = xcalloc(1, sizeof(*t));

	dns_stats_register();
	t->base.ops = &table_ops;
	pthread_mutex_init(&t->lock, NULL);
	return &t->base;
}

void
dns_table_add(struct dns_resolver *r, const char *name, int type,
    const void *rdata, size_t len)
{
	(void)table_push((struct table_resolver *)r, name, type, rdata, len, 0,
	    DNS_STATUS_OK, DNS_FAIL_NONE);
}

void
dns_table_add_txt_strings(struct dns_resolver *r, const char *name,
    const char *const *strings, size_t n)
{
	size_t total = 0, o = 0;
	unsigned char *buf;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(strings[i]);

		total += 1 + (l > 255 ? 255 : l);
	}
	buf = xmalloc(total ? total : 1);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(strings[i]);

		if (l > 255)
			l = 255;
		buf[o++] = (unsigned char)l;
		memcpy(buf + o, strings[i], l);
		o += l;
	}
	dns_table_add(r, name, DNS_T_TXT, buf, o);
	free(buf);
}

int
dns_table_add_text(struct dns_resolver *r, const char *name, int type,
    const char *text)
{
	unsigned char buf[512];
	size_t len = 0;
	int rc;

	switch (type) {
	case DNS_T_A:
		if (inet_pton(AF_INET, text, buf) != 1)
			return -1;
		len = 4;
		break;
	case DNS_T_AAAA:
		if (inet_pton(AF_INET6, text, buf) != 1)
			return -1;
		len = 16;
		break;
	case DNS_T_TXT:
	case DNS_T_SPF: {
		size_t tl = strlen(text), o = 0;
		unsigned char *tb = xmalloc(tl + tl / 255 + 2);

		/* split into 255-byte character-strings; "" is one empty string */
		do {
			size_t n = tl > 255 ? 255 : tl;

			tb[o++] = (unsigned char)n;
			memcpy(tb + o, text, n);
			o += n;
			text += n;
			tl -= n;
		} while (tl > 0);
		rc = table_push((struct table_resolver *)r, name, type, tb, o,
		    0, DNS_STATUS_OK, DNS_FAIL_NONE);
		free(tb);
		return rc;
	}
	case DNS_T_MX: {
		unsigned long pref;
		char num[8];
		const char *sp = strchr(text, ' ');

		if (sp == NULL || (size_t)(sp - text) >= sizeof(num))
			return -1;
		memcpy(num, text, (size_t)(sp - text));
		num[sp - text] = '\0';
		if (str_parse_uint(num, 65535, &pref) != 0)
			return -1;
		while (*sp == ' ')
			sp++;
		buf[0] = (unsigned char)(pref >> 8);
		buf[1] = (unsigned char)(pref & 0xff);
		if (dns_name_to_wire(sp, buf + 2, sizeof(buf) - 2, &len) != 0)
			return -1;
		len += 2;
		break;
	}
	case DNS_T_PTR:
	case DNS_T_CNAME:
	case DNS_T_NS:
		if (dns_name_to_wire(text, buf, sizeof(buf), &len) != 0)
			return -1;
		break;
	default:
		return -1;
	}
	return table_push((struct table_resolver *)r, name, type, buf, len, 0,
	    DNS_STATUS_OK, DNS_FAIL_NONE);
}

void
dns_table_set_status(struct dns_resolver *r, const char *name, int type,
    enum dns_status status)
{
	(void)table_push((struct table_resolver *)r, name, type, NULL, 0, 1,
	    status, status == DNS_STATUS_TEMPFAIL ? DNS_FAIL_TIMEOUT :
	    DNS_FAIL_NONE);
}

void
dns_table_set_fail(struct dns_resolver *r, const char *name, int type,
    enum dns_fail fail)
{
	if (fail == DNS_FAIL_NONE)
		return;
	(void)table_push((struct table_resolver *)r, name, type, NULL, 0, 1,
	    fail == DNS_FAIL_BADNAME ? DNS_STATUS_NXDOMAIN : DNS_STATUS_TEMPFAIL,
	    fail);
}

unsigned long
dns_table_queries(struct dns_resolver *r)
{
	struct table_resolver *t = (struct table_resolver *)r;
	unsigned long n;

	pthread_mutex_lock(&t->lock);
	n = t->queries;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* fail_answer - a simulated failure, with the rcode and why the other
 * back ends give it */
static struct dns_answer *
fail_answer(enum dns_fail f)
{
	static const struct {
		int rcode;
		const char *why;
	} sim[] = {
		[DNS_FAIL_SERVFAIL] = { 2, "SERVFAIL" },
		[DNS_FAIL_REFUSED] = { 5, "REFUSED" },
		[DNS_FAIL_TIMEOUT] = { 2, "timeout" },
		[DNS_FAIL_BUDGET] = { 2, "DNS time budget spent" },
		[DNS_FAIL_BOGUS] = { 0, "DNSSEC bogus: simulated" },
		[DNS_FAIL_MALFORMED] = { 2, "malformed answer" },
		[DNS_FAIL_RESOLVER] = { 2, "resolver failure" },
		[DNS_FAIL_BADNAME] = { 3, "not a domain name" },
	};

	if ((unsigned)f >= sizeof(sim) / sizeof(sim[0]) || sim[f].why == NULL)
		f = DNS_FAIL_RESOLVER;
	return dns_answer_fail(f, sim[f].rcode, sim[f].why);
}

/* status_answer - an answer with no data for an override or a name */
static struct dns_answer *
status_answer(enum dns_status s, enum dns_fail f)
{
	if (f != DNS_FAIL_NONE)
		return fail_answer(f);
	switch (s) {
	case DNS_STATUS_NXDOMAIN:
		return dns_answer_new(s, 3, NULL);
	case DNS_STATUS_TEMPFAIL:
		return fail_answer(DNS_FAIL_TIMEOUT);
	default:
		return dns_answer_new(DNS_STATUS_NODATA, 0, NULL);
	}
}

/* lookup_locked - answer name/type from the table; the caller holds lock */
static struct dns_answer *
lookup_locked(struct table_resolver *t, const char *qname, int type)
{
	char name[DNAME_BUFSIZE];
	struct dns_answer *a = NULL;

	/* qname is dname_valid() (dns_query_start): it fits */
	(void)dname_norm(qname, name, sizeof(name));
	for (int hop = 0; hop <= DNS_TABLE_CNAME_HOPS; hop++) {
		struct dns_rr *rrs = NULL;
		size_t nrr = 0, known = 0;
		const struct table_entry *cname = NULL;

		for (size_t i = 0; i < t->n; i++) {
			const struct table_entry *e = &t->e[i];

			if (strcmp(e->name, name) != 0)
				continue;
			if (e->is_status && (e->type == 0 || e->type == type)) {
				a = status_answer(e->status, e->fail);
				goto out;
			}
			if (e->is_status)
				continue;
			known++;
			if (e->type == type) {
				rrs = xrealloc(rrs, (nrr + 1) * sizeof(*rrs));
				rrs[nrr].data = e->rdata;
				rrs[nrr].len = e->len;
				nrr++;
			} else if (e->type == DNS_T_CNAME && cname == NULL) {
				cname = e;
			}
		}
		if (nrr > 0) {
			a = dns_answer_new(DNS_STATUS_OK, 0, NULL);
			dns_answer_set_rrs(a, rrs, nrr);
			free(rrs);
			goto out;
		}
		if (cname != NULL) {
			struct dns_rr rr = { cname->rdata, cname->len };
			char target[DNAME_BUFSIZE];

			if (dns_rr_name(&rr, 0, target, sizeof(target)) != 0 ||
			    dname_norm(target, name, sizeof(name)) != 0) {
				a = dns_answer_fail(DNS_FAIL_MALFORMED, 2,
				    "bad CNAME");
				goto out;
			}
			continue;
		}
		a = status_answer(known ? DNS_STATUS_NODATA :
		    DNS_STATUS_NXDOMAIN, DNS_FAIL_NONE);
		goto out;
	}
	a = dns_answer_fail(DNS_FAIL_SERVFAIL, 2, "CNAME loop");
out:
	return a;
}

static struct dns_query *
table_start(struct dns_resolver *r, const char *name, int type)
{
	struct table_resolver *t = (struct table_resolver *)r;
	struct table_query *q = xcalloc(1, sizeof(*q));

	q->base.r = r;
	pthread_mutex_lock(&t->lock);
	t->queries++;
	q->ans = lookup_locked(t, name, type);
	pthread_mutex_unlock(&t->lock);
	if (q->ans->fail == DNS_FAIL_NONE)
		q->ans->ttl = DNS_TABLE_TTL;
	return &q->base;
}

static struct dns_answer *
table_wait(struct dns_query *q, unsigned timeout_ms)
{
	struct table_query *tq = (struct table_query *)q;
	struct dns_answer *a = tq->ans;

	(void)timeout_ms;
	free(tq);
	return a;
}

static void
table_cancel(struct dns_query *q)
{
	struct table_query *tq = (struct table_query *)q;

	dns_answer_free(&tq->ans);
	free(tq);
}

static void
table_destroy(struct dns_resolver *r)
{
	struct table_resolver *t = (struct table_resolver *)r;

	for (size_t i = 0; i < t->n; i++) {
		free(t->e[i].name);
		free(t->e[i].rdata);
	}
	free(t->e);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

