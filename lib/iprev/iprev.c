/*
 * iprev.c - forward-confirmed reverse DNS (see iprev.h): one PTR lookup,
 * then the A or AAAA lookups of at most IPREV_MAX_NAMES of its names, all
 * started before any is waited for.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"
#include "dns.h"
#include "iprev.h"
#include "util.h"

enum fwd { FWD_UNKNOWN = 0, FWD_PASS, FWD_NO, FWD_TEMP };

struct iprev_lookup {
	struct dns_resolver *dns;
	int v6;
	unsigned char addr[16];
	char ip[64];                 /* unmapped text */
	char rev[IP_REVERSE_SIZE];   /* the PTR owner */
	struct dns_query *q;         /* the PTR lookup while it runs */
	int have;                    /* out holds a final outcome */
	struct iprev_outcome out;
	/* what the lookups found so far, for iprev_finish and
	 * iprev_validated alike (SPF's ptr and %{p} ask the same) */
	int ptr_done;                /* the PTR answer is in */
	enum dns_status ptr_status;
	char ptr_why[128];
	unsigned nnames, nlooked;    /* PTR records, of them looked at */
	size_t n;                    /* usable names among those */
	char names[IPREV_MAX_NAMES][DNAME_BUFSIZE];
	enum fwd fwd[IPREV_MAX_NAMES];
	char why[IPREV_MAX_NAMES][96]; /* FWD_TEMP: why */
};

const char *
iprev_result_name(enum iprev_result res)
{
	switch (res) {
	case IPREV_PASS:
		return "pass";
	case IPREV_FAIL:
		return "fail";
	case IPREV_TEMPERROR:
		return "temperror";
	case IPREV_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

struct iprev_lookup *
iprev_start(struct dns_resolver *r, const char *ip)
{
	struct iprev_lookup *l;
	int family;
	unsigned char addr[16];

	if (ip_parse_unmapped(ip, &family, addr) != 0)
		return NULL;
	l = xcalloc(1, sizeof(*l));
	l->dns = r;
	l->v6 = family == AF_INET6;
	memcpy(l->addr, addr, sizeof(addr));
	if (ip_unmap(ip, l->ip, sizeof(l->ip)) != 0)
		str_copy(l->ip, ip, sizeof(l->ip));
	ip_reverse_name(l->addr, l->v6, l->rev, sizeof(l->rev));
	l->q = dns_query_start(r, l->rev, DNS_T_PTR);
	return l;
}

/* has_addr - whether an A/AAAA answer holds the client address */
static int
has_addr(const struct iprev_lookup *l, const struct dns_answer *a)
{
	size_t want = l->v6 ? 16 : 4;

	for (size_t i = 0; a->status == DNS_STATUS_OK && i < a->count; i++)
		if (a->rr[i].len == want &&
		    memcmp(a->rr[i].data, l->addr, want) == 0)
			return 1;
	return 0;
}

/* ptr_wait - the PTR answer (waited for once) and its usable names */
static enum dns_status
ptr_wait(struct iprev_lookup *l, const struct timespec *deadline)
{
	struct dns_answer *a;

	if (l->ptr_done)
		return l->ptr_status;
	if (l->q == NULL) /* a temperror before: ask again */
		l->q = dns_query_start(l->dns, l->rev, DNS_T_PTR);
	a = dns_query_wait_until(&l->q, deadline);
	l->ptr_status = a->status;
	str_copy(l->ptr_why, a->why, sizeof(l->ptr_why));
	l->nnames = l->nlooked = 0;
	l->n = 0;
	if (a->status == DNS_STATUS_OK) {
		l->nnames = (unsigned)a->count;
		/* at most IPREV_MAX_NAMES PTR records are looked at; one whose
		 * name cannot be read is looked at and skipped */
		for (size_t i = 0; i < a->count && i < IPREV_MAX_NAMES; i++) {
			l->nlooked++;
			if (dns_rr_name(&a->rr[i], 0, l->names[l->n],
			    DNAME_BUFSIZE) != 0 || l->names[l->n][0] == '\0')
				continue;
			l->fwd[l->n++] = FWD_UNKNOWN;
		}
	}
	dns_answer_free(&a);
	l->ptr_done = 1;
	return l->ptr_status;
}

/* first - the index of the first name in state f, or l->n */
static size_t
first(const struct iprev_lookup *l, enum fwd f)
{
	size_t i = 0;

	while (i < l->n && l->fwd[i] != f)
		i++;
	return i;
}

/* forward - the forward lookups of the names not yet known, all started
 * at once; unless all, the ones still running when a name confirms the
 * address are cancelled (and stay unknown) */
static void
forward(struct iprev_lookup *l, const struct timespec *deadline, int all)
{
	struct dns_query *q[IPREV_MAX_NAMES] = {0};
	int type = l->v6 ? DNS_T_AAAA : DNS_T_A;

	if (!all && first(l, FWD_PASS) < l->n)
		return;
	for (size_t i = 0; i < l->n; i++)
		if (l->fwd[i] == FWD_UNKNOWN)
			q[i] = dns_query_start(l->dns, l->names[i], type);
	for (size_t i = 0; i < l->n; i++) {
		struct dns_answer *a;

		if (q[i] == NULL)
			continue;
		if (!all && first(l, FWD_PASS) < l->n) {
			dns_query_cancel(&q[i]);
			continue;
		}
		a = dns_query_wait_until(&q[i], deadline);
		if (has_addr(l, a))
			l->fwd[i] = FWD_PASS;
		else if (a->status == DNS_STATUS_TEMPFAIL) {
			l->fwd[i] = FWD_TEMP;
			str_copy(l->why[i], a->why, sizeof(l->why[i]));
		} else
			l->fwd[i] = FWD_NO;
		dns_answer_free(&a);
	}
}

/* outcome - the result of what the lookups found */
static void
outcome(const struct iprev_lookup *l, struct iprev_outcome *o)
{
	size_t pass = first(l, FWD_PASS), temp = first(l, FWD_TEMP);

	o->nnames = l->nnames;
	o->nlooked = l->nlooked;
	switch (l->ptr_status) {
	case DNS_STATUS_OK:
		break;
	case DNS_STATUS_NXDOMAIN:
	case DNS_STATUS_NODATA:
		/* RFC 8601 2.7.3: no PTR data published is permerror */
		o->result = IPREV_PERMERROR;
		snprintf(o->reason, sizeof(o->reason), "no PTR record for %s",
		    l->ip);
		return;
	default:
		o->result = IPREV_TEMPERROR;
		snprintf(o->reason, sizeof(o->reason), "PTR lookup: %s",
		    l->ptr_why);
		return;
	}
	if (l->n == 0) {
		o->result = IPREV_PERMERROR;
		snprintf(o->reason, sizeof(o->reason), "no usable PTR name for %s",
		    l->ip);
	} else if (pass < l->n) {
		o->result = IPREV_PASS;
		str_copy(o->name, l->names[pass], sizeof(o->name));
		str_copy(o->reason, l->names[pass], sizeof(o->reason));
	} else if (temp < l->n) {
		o->result = IPREV_TEMPERROR;
		snprintf(o->reason, sizeof(o->reason), "%s lookup of %s: %s",
		    l->v6 ? "AAAA" : "A", l->names[temp], l->why[temp]);
	} else if (l->n == 1) {
		o->result = IPREV_FAIL;
		snprintf(o->reason, sizeof(o->reason), "%s does not resolve "
		    "to %s", l->names[0], l->ip);
	} else {
		o->result = IPREV_FAIL;
		snprintf(o->reason, sizeof(o->reason), "none of %zu PTR names "
		    "resolves to %s", l->n, l->ip);
	}
}

void
iprev_finish(struct iprev_lookup *l, const struct timespec *deadline,
    struct iprev_outcome *o)
{
	if (l->have) {
		*o = l->out;
		return;
	}
	memset(o, 0, sizeof(*o));
	str_copy(o->ip, l->ip, sizeof(o->ip));
	if (ptr_wait(l, deadline) == DNS_STATUS_OK)
		forward(l, deadline, 0);
	outcome(l, o);
	if (o->result != IPREV_TEMPERROR) {
		l->out = *o;
		l->have = 1;
	} else {
		/* the next message asks again, from the PTR lookup on */
		l->ptr_done = 0;
		l->n = 0;
	}
}

size_t
iprev_validated(struct iprev_lookup *l, const struct timespec *deadline,
    enum dns_status *status, const char **names, size_t max)
{
	size_t k = 0;

	*status = ptr_wait(l, deadline);
	if (*status != DNS_STATUS_OK)
		return 0;
	forward(l, deadline, 1);
	for (size_t i = 0; i < l->n && k < max; i++)
		if (l->fwd[i] == FWD_PASS)
			names[k++] = l->names[i];
	return k;
}

void
iprev_free(struct iprev_lookup **lp)
{
	struct iprev_lookup *l;

	if (lp == NULL || (l = *lp) == NULL)
		return;
	if (l->q != NULL)
		dns_query_cancel(&l->q);
	free(l);
	*lp = NULL;
}

int
iprev_check_until(struct dns_resolver *r, const char *ip,
    const struct timespec *deadline, struct iprev_outcome *o)
{
	struct iprev_lookup *l = iprev_start(r, ip);

	if (l == NULL)
		return -1;
	iprev_finish(l, deadline, o);
	iprev_free(&l);
	return 0;
}
