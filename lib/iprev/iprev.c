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

struct iprev_lookup {
	struct dns_resolver *dns;
	int v6;
	unsigned char addr[16];
	char ip[64];                 /* unmapped text */
	char rev[IP_REVERSE_SIZE];   /* the PTR owner */
	struct dns_query *q;         /* the PTR lookup while it runs */
	int have;                    /* out holds a final outcome */
	struct iprev_outcome out;
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

/* forward - the forward lookups of the PTR answer's names into o */
static void
forward(struct iprev_lookup *l, const struct dns_answer *ptr,
    const struct timespec *deadline, struct iprev_outcome *o)
{
	char names[IPREV_MAX_NAMES][DNAME_BUFSIZE];
	struct dns_query *q[IPREV_MAX_NAMES];
	int type = l->v6 ? DNS_T_AAAA : DNS_T_A;
	size_t n = 0, first_temp = IPREV_MAX_NAMES, pass = IPREV_MAX_NAMES;
	char why[128] = "";

	o->nnames = (unsigned)ptr->count;
	/* at most IPREV_MAX_NAMES PTR records are looked at; one whose
	 * name cannot be read is looked at and skipped */
	for (size_t i = 0; i < ptr->count && i < IPREV_MAX_NAMES; i++) {
		o->nlooked++;
		if (dns_rr_name(&ptr->rr[i], 0, names[n], DNAME_BUFSIZE) != 0 ||
		    names[n][0] == '\0')
			continue;
		q[n] = dns_query_start(l->dns, names[n], type);
		n++;
	}
	if (n == 0) {
		o->result = IPREV_PERMERROR;
		snprintf(o->reason, sizeof(o->reason), "no usable PTR name for %s",
		    l->ip);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct dns_answer *a;

		if (pass < n) {
			dns_query_cancel(&q[i]);
			continue;
		}
		a = dns_query_wait_until(&q[i], deadline);
		if (has_addr(l, a))
			pass = i;
		else if (a->status == DNS_STATUS_TEMPFAIL &&
		    first_temp == IPREV_MAX_NAMES) {
			first_temp = i;
			str_copy(why, a->why, sizeof(why));
		}
		dns_answer_free(&a);
	}
	if (pass < n) {
		o->result = IPREV_PASS;
		str_copy(o->name, names[pass], sizeof(o->name));
		str_copy(o->reason, names[pass], sizeof(o->reason));
	} else if (first_temp < n) {
		o->result = IPREV_TEMPERROR;
		snprintf(o->reason, sizeof(o->reason), "%s lookup of %s: %s",
		    l->v6 ? "AAAA" : "A", names[first_temp], why);
	} else if (n == 1) {
		o->result = IPREV_FAIL;
		snprintf(o->reason, sizeof(o->reason), "%s does not resolve "
		    "to %s", names[0], l->ip);
	} else {
		o->result = IPREV_FAIL;
		snprintf(o->reason, sizeof(o->reason), "none of %zu PTR names "
		    "resolves to %s", n, l->ip);
	}
}

void
iprev_finish(struct iprev_lookup *l, const struct timespec *deadline,
    struct iprev_outcome *o)
{
	struct dns_answer *a;

	if (l->have) {
		*o = l->out;
		return;
	}
	memset(o, 0, sizeof(*o));
	str_copy(o->ip, l->ip, sizeof(o->ip));
	if (l->q == NULL) /* a temperror before: ask again */
		l->q = dns_query_start(l->dns, l->rev, DNS_T_PTR);
	a = dns_query_wait_until(&l->q, deadline);
	switch (a->status) {
	case DNS_STATUS_OK:
		forward(l, a, deadline, o);
		break;
	case DNS_STATUS_NXDOMAIN:
	case DNS_STATUS_NODATA:
		/* RFC 8601 2.7.3: no PTR data published is permerror */
		o->result = IPREV_PERMERROR;
		snprintf(o->reason, sizeof(o->reason), "no PTR record for %s",
		    l->ip);
		break;
	default:
		o->result = IPREV_TEMPERROR;
		snprintf(o->reason, sizeof(o->reason), "PTR lookup: %s", a->why);
		break;
	}
	dns_answer_free(&a);
	if (o->result != IPREV_TEMPERROR) {
		l->out = *o;
		l->have = 1;
	}
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
