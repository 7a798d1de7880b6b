/*
 * treewalk.c - the DNS tree walk of RFC 9989 4.10 and the organizational
 * domain of 4.10.2 (see treewalk.h), and the _dmarc lookups of both
 * discoveries with their per-evaluation memo.
 *
 * Lookup (4.10 steps 1-2, 5-6; RFC 7489 6.6.3 the same): TXT at
 * _dmarc.<domain> through dns_query_until() with the message's deadline,
 * so the answer cache and the DNS budget apply; TXT records that do not
 * start with v=DMARC1 are dropped; one left is the record, several are
 * all discarded; NXDOMAIN and NODATA are no record; any TEMPFAIL (SERVFAIL,
 * timeout, the budget spent, DNSSEC bogus) is a failure. A CNAME at _dmarc
 * is followed by the resolver as for any TXT lookup. Each name is asked
 * once per memo (one evaluation): the walks of the author domain and of
 * the authenticated identifiers share what they asked.
 *
 * Walk (4.10): the subject domain itself, then, with x its labels, the
 * name one label shorter when x < 8, or its last seven labels when x >= 8,
 * then one label shorter each time down to the top-level label (the root
 * is not asked): at most 1 + 7 = 8 lookups. It stops after a name with a
 * single record that has psd=y or psd=n, or at a failure (the caller makes
 * that a temperror: the highest record cannot be known).
 *
 * Organizational domain (4.10.2), over the records the walk found, from
 * the longest name to the shortest: psd=n makes that name the org domain;
 * psd=y at a name other than the subject makes the name one label below
 * it, along the subject, the org domain; otherwise the name with the
 * fewest labels that had a record. No record: the subject is its own.
 * Records that are DMARC records but invalid (a bad p= and no rua=) still
 * count here: they were retrieved, and their psd= is read.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "dname.h"
#include "dns.h"
#include "stats.h"
#include "treewalk.h"
#include "util.h"

#define DMARC_MAX_RECORD 8192  /* as dmarc.c: longest record text parsed */

static struct stats_metric lookups = STATS_COUNTER("dmarc_lookups_total",
    "DMARC policy record (_dmarc TXT) lookups, memo hits excluded");

void
treewalk_stats_register(void)
{
	stats_register(&lookups);
}

void
treewalk_memo_init(struct treewalk_memo *m, struct dns_resolver *dns,
    const struct timespec *deadline)
{
	memset(m, 0, sizeof(*m));
	m->dns = dns;
	m->deadline = deadline;
}

void
treewalk_memo_free(struct treewalk_memo *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i]->txt);
		free(m->v[i]);
	}
	free(m->v);
	m->v = NULL;
	m->n = m->cap = 0;
}

/* ask - one lookup of _dmarc.<e->domain> into e */
static void
ask(struct treewalk_memo *m, struct treewalk_entry *e)
{
	char name[sizeof("_dmarc.") + DNAME_BUFSIZE];
	struct dns_answer *a;
	char *buf;
	int n = 0;

	snprintf(name, sizeof(name), "_dmarc.%s", e->domain);
	if (strlen(name) > DNAME_MAX)
		return; /* no such name can exist: nothing asked */
	m->queries++;
	stats_inc(&lookups);
	a = dns_query_until(m->dns, name, DNS_T_TXT, m->deadline);
	if (a->status == DNS_STATUS_TEMPFAIL) {
		str_copy(e->why, a->why[0] ? a->why : "DNS failure",
		    sizeof(e->why));
		e->found = TREEWALK_TEMPFAIL;
		dns_answer_free(&a);
		return;
	}
	buf = xmalloc(DMARC_MAX_RECORD + 1);
	for (size_t i = 0; a->status == DNS_STATUS_OK && i < a->count; i++) {
		const struct dns_rr *rr = &a->rr[i];

		if (dns_rr_txt(rr, buf, DMARC_MAX_RECORD + 1) < 0) {
			/* too long or malformed: its first string decides
			 * whether it is a DMARC record (it then counts, and
			 * reads as invalid) */
			size_t l = rr->len > 0 ? rr->data[0] : 0;

			if (rr->len == 0 || l > rr->len - 1)
				continue;
			memcpy(buf, rr->data + 1, l);
			buf[l] = '\0';
			if (strlen(buf) != l || !dmarc_record_starts(buf))
				continue;
			buf[0] = '\0';
		} else if (!dmarc_record_starts(buf))
			continue; /* not a DMARC record */
		if (++n == 1)
			e->txt = xstrdup(buf);
	}
	free(buf);
	dns_answer_free(&a);
	if (n == 1) {
		e->found = TREEWALK_ONE;
		e->valid = dmarc_record_parse_as(e->txt,
		    DMARC_DISCOVERY_TREEWALK, &e->rec, e->err,
		    sizeof(e->err)) == 0;
	} else if (n > 1) {
		e->found = TREEWALK_SEVERAL;
		free(e->txt);
		e->txt = NULL;
	}
}

const struct treewalk_entry *
treewalk_lookup(struct treewalk_memo *m, const char *domain)
{
	struct treewalk_entry *e;

	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i]->domain, domain) == 0)
			return m->v[i];
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 16;
		m->v = xrealloc(m->v, m->cap * sizeof(*m->v));
	}
	e = xcalloc(1, sizeof(*e));
	str_copy(e->domain, domain, sizeof(e->domain));
	ask(m, e);
	m->v[m->n++] = e;
	return e;
}

/* suffix - the last k labels of name (k <= its labels), pointing into it */
static const char *
suffix(const char *name, unsigned k)
{
	for (unsigned x = dname_labels(name); x > k; x--)
		name = dname_parent(name);
	return name;
}

size_t
treewalk_names(const char *domain, const char *names[TREEWALK_MAX_QUERIES])
{
	unsigned x = dname_labels(domain);
	size_t n = 0;

	if (x == 0)
		return 0;
	names[n++] = domain;
	/* 4.10 step 4: one label off, or down to seven labels at once */
	for (unsigned k = x < 8 ? x - 1 : 7; k >= 1 &&
	    n < TREEWALK_MAX_QUERIES; k--)
		names[n++] = suffix(domain, k);
	return n;
}

int
treewalk_run(struct treewalk_memo *m, const char *domain, struct treewalk *w)
{
	const char *names[TREEWALK_MAX_QUERIES];
	size_t n = treewalk_names(domain, names);

	memset(w, 0, sizeof(*w));
	for (size_t i = 0; i < n; i++) {
		const struct treewalk_entry *e = treewalk_lookup(m, names[i]);

		w->step[w->n++] = e;
		if (e->found == TREEWALK_TEMPFAIL) {
			w->failed = e;
			return -1;
		}
		if (e->found == TREEWALK_ONE && e->rec.psd != DMARC_PSD_U)
			break; /* steps 2 and 6: psd=y or psd=n stops */
	}
	return 0;
}

void
treewalk_org(const struct treewalk *w, char *out, size_t outlen,
    const struct treewalk_entry **decided)
{
	const struct treewalk_entry *top = NULL;
	const char *subject = w->n > 0 ? w->step[0]->domain : "";

	*decided = NULL;
	for (size_t i = 0; i < w->n; i++) {
		const struct treewalk_entry *e = w->step[i];

		if (e->found != TREEWALK_ONE)
			continue;
		if (e->rec.psd == DMARC_PSD_N) {
			str_copy(out, e->domain, outlen);
			*decided = e;
			return;
		}
		if (e->rec.psd == DMARC_PSD_Y && i > 0) {
			str_copy(out, suffix(subject,
			    dname_labels(e->domain) + 1), outlen);
			*decided = e;
			return;
		}
		top = e;
	}
	str_copy(out, top != NULL ? top->domain : subject, outlen);
	*decided = top;
}
