/*
 * dkim.c - DKIM verification (RFC 6376, RFC 8463) through libopendkim
 * 2.11, with key lookups through struct dns_resolver (see dkim.h).
 *
 * libopendkim parses the signatures, canonicalizes and hashes the header
 * fields, fetches the keys (through our hooks) and verifies the header
 * signature. The body never goes to libopendkim: its body
 * canonicalization appends one byte at a time (~160 MB/s) and FIXCRLF
 * copied every byte once more, so the body hashes are ours
 * (lib/dkim/dkim_body.c), one per distinct (body canonicalization, hash, l=),
 * fed straight from the MTA's chunks. libopendkim then ends with the body
 * hash of an empty body, which we ignore: a signature passes when its
 * header signature passed (DKIM_SIGFLAG_PASSED) and our bh= matches.
 * Since libopendkim verifies the header signatures at dkim_eoh (we do not
 * set DELAYSIGPROC), the per-signature error is taken as dkim_eoh left it:
 * at dkim_eom libopendkim would overwrite it for an l= signature (it saw
 * no body, so l= looks too large) and for a body hash it compared against
 * the empty body.
 *
 * Beyond that, this file adds what libopendkim lacks or gets wrong on
 * Debian 12:
 *  - key lookups go through our resolver via the query-service hooks, so
 *    NXDOMAIN/NODATA stay permanent ("key not found") and SERVFAIL or a
 *    timeout stay temporary; an answer we cannot trust is never parsed;
 *  - a key answer libopendkim cannot hold whole (a record over
 *    DKIM_MAX_KEY_RECORD bytes, more than DKIM_MAX_KEY_RECORDS records)
 *    is a permanent error with its own reason ("key record too large",
 *    "too many key records"), never a temporary lookup failure;
 *  - a per-message DNS deadline;
 *  - a signature cap (prescreen callback): signatures past it are not
 *    checked and reported as neutral;
 *  - RFC 8301 policy: rsa-sha1 and RSA keys under min_rsa_bits are
 *    verified by libopendkim (its own minimum is turned off) and then
 *    reported as policy with a plain reason, not silently dropped;
 *  - bounds on the header block (count and bytes).
 *
 * Errors: every input ends in a defined result list. A message
 * libopendkim cannot take gives permerror; no DKIM-Signature gives none.
 *
 * Thread-local state: libopendkim passes the DNS hooks only our service
 * pointer and the query handle, never the DKIM handle, so the message
 * whose deadline applies is published in the thread-local `cur_msg` for
 * the duration of each libopendkim call that can query DNS. It is the one
 * piece of mutable state outside the per-message struct.
 */

#include "config.h"

#include <arpa/nameser.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include <openssl/evp.h>
#include <opendkim/dkim.h>

#include "deadline.h"
#include "dkim.h"
#include "dkim_body.h"
#include "dkim_key.h"
#include "dname.h"
#include "dns.h"
#include "stats.h"
#include "util.h"

#define DKIM_DEF_MAX_SIGS 8
#define DKIM_HARD_MAX_SIGS 64       /* cap on the cap */
#define DKIM_DEF_MIN_RSA 1024       /* RFC 8301 3.2 */
#define DKIM_MAX_HEADERS 1000       /* header fields given to libopendkim */
#define DKIM_MAX_HEADER_BYTES (512 * 1024)
#define DKIM_HBUF_SMALL 1024        /* header fields up to this size: no malloc */
#define DKIM_MAX_DNS_WHY 16         /* key-lookup failure reasons kept */
/* A key record longer than this (its character-strings joined) is refused
 * as a permanent error: libopendkim copies the record into a buffer of
 * 1024 bytes (BUFRSZ in its dkim.c) and silently cuts what does not fit,
 * so a longer record would be judged on a prefix of itself. A 4096-bit
 * RSA key with its tags takes about 760 bytes. */
#define DKIM_MAX_KEY_RECORD 1024
/* More TXT records than this at a key name are refused as well, before
 * any packet is built (libopendkim refuses two or more anyway, as
 * "multiple key records"; its answer buffer holds 8 KB). */
#define DKIM_MAX_KEY_RECORDS 4

/* one key-lookup failure: the name and why, for the reason; perm: the
 * answer was refused as a permanent error (too large, too many) */
struct dns_why {
	char qname[DNAME_BUFSIZE];
	char why[96];
	int perm;
};

struct dkv_verifier {
	DKIM_LIB *lib;
	struct dkv_bh_algs *algs;  /* SHA-256/SHA-1, fetched once */
	struct dns_resolver *dns;
	unsigned max_sigs;
	unsigned min_rsa_bits;
	unsigned timeout_ms;
};

struct dkv_msg {
	struct dkv_verifier *v;
	DKIM *dkim;                 /* NULL until first needed */
	/* the caller's deadline, read when a lookup starts (the session sets
	 * it at end of message, after the headers arrived), or NULL */
	const struct timespec *deadline;
	int started_eoh;            /* dkim_eoh was called */
	int nosig;                  /* no DKIM-Signature (eoh said so) */
	int over_limit;             /* the header block broke our bounds */
	int saw_sig_name;           /* a DKIM-Signature field was seen at all */
	int done;                   /* eom ran */
	struct sig_body *sb;        /* per signature, from dkim_eoh on */
	size_t nsb;
	struct dkv_bh *bh[DKIM_HARD_MAX_SIGS]; /* body hashers */
	size_t nbh;
	size_t nhdr, hdr_bytes;
	unsigned char *hbuf;        /* normalized header field */
	size_t hcap;
	struct dns_why whys[DKIM_MAX_DNS_WHY];
	size_t nwhy;
	struct dkv_result *res;
	size_t nres;
	unsigned char hsmall[DKIM_HBUF_SMALL];
};

/* a signature as dkim_eoh left it, and its body hash */
struct sig_body {
	int eoh_err;                /* dkim_sig_geterror after dkim_eoh */
	unsigned eoh_flags;         /* dkim_sig_getflags after dkim_eoh */
	int bh;                     /* index into dkv_msg.bh, or -1 */
	long long limit;            /* l=, or -1 */
};

/* one key lookup in flight, owned by libopendkim between start and cancel */
struct dkim_q {
	struct dns_query *q;
	struct dkv_msg *m;
	unsigned char *buf;
	size_t buflen;
	struct timespec deadline;
	int has_deadline;
	char qname[DNAME_BUFSIZE]; /* a longer one is cut: not a name anyway */
};

/* the message whose libopendkim call runs on this thread (see header) */
static __thread struct dkv_msg *cur_msg;

/* signatures by result, process-wide (registered by dkv_verifier_new); a
 * message without a signature (none) is not counted */
static struct stats_metric sig_results[] = {
	[DKV_RES_PASS] = STATS_COUNTER_LOCAL("dkim_signatures_pass_total",
	    "DKIM signatures with result pass"),
	[DKV_RES_FAIL] = STATS_COUNTER_LOCAL("dkim_signatures_fail_total",
	    "DKIM signatures with result fail"),
	[DKV_RES_NEUTRAL] = STATS_COUNTER_LOCAL("dkim_signatures_neutral_total",
	    "DKIM signatures with result neutral (over the cap)"),
	[DKV_RES_POLICY] = STATS_COUNTER_LOCAL("dkim_signatures_policy_total",
	    "DKIM signatures with result policy (RFC 8301)"),
	[DKV_RES_TEMPERROR] = STATS_COUNTER_LOCAL("dkim_signatures_temperror_total",
	    "DKIM signatures with result temperror"),
	[DKV_RES_PERMERROR] = STATS_COUNTER_LOCAL("dkim_signatures_permerror_total",
	    "DKIM signatures with result permerror"),
};

/* ---- DNS hooks ---------------------------------------------------------- */

static int
ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	    (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void
put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

/* txt_ok - a TXT rdata whose character-strings fill it exactly */
static int
txt_ok(const struct dns_rr *rr)
{
	size_t i = 0;

	if (rr->len == 0 || rr->len > 65535)
		return 0;
	while (i < rr->len)
		i += 1 + rr->data[i];
	return i == rr->len;
}

/*
 * key_answer_refused - why an answer is refused outright (a permanent
 * error, RFC 6376 6.1.2 "key record unusable"), or NULL when it may go to
 * libopendkim. Counted and measured before anything is copied.
 */
static const char *
key_answer_refused(const struct dns_answer *a)
{
	if (a->count > DKIM_MAX_KEY_RECORDS)
		return "too many key records";
	for (size_t i = 0; i < a->count; i++) {
		const struct dns_rr *rr = &a->rr[i];
		size_t text = 0, o = 0;

		/* the record as text: its character-strings joined */
		while (o < rr->len) {
			size_t sl = rr->data[o];

			text += sl;
			o += 1 + sl;
		}
		if (text > DKIM_MAX_KEY_RECORD || rr->len > DKIM_MAX_KEY_RECORD +
		    DKIM_MAX_KEY_RECORD / 255 + 1)
			return "key record too large";
	}
	return NULL;
}

/*
 * build_packet - the answer as a DNS message in libopendkim's buffer:
 * header, the question (libopendkim checks its type and class), then the
 * TXT RRs. Built from the parsed RRs rather than copied from the wire, so
 * the table back end (no packet) and libunbound (CNAME chains, RRSIGs)
 * look the same and libopendkim never reads rdata we have not checked.
 * Returns the length, or 0 when it does not fit.
 */
static size_t
build_packet(const struct dkim_q *h, const struct dns_answer *a, int rcode)
{
	unsigned char *b = h->buf;
	size_t n, qn, ancount = 0;

	if (h->buflen < 12 + 1 + 4)
		return 0;
	memset(b, 0, 12);
	b[2] = 0x81; /* QR, RD */
	b[3] = (unsigned char)(0x80 | (rcode & 0x0f)); /* RA, rcode */
	put16(b + 4, 1);
	n = 12;
	if (dns_name_to_wire(h->qname, b + n, h->buflen - n - 4, &qn) != 0) {
		b[n] = 0; /* not a name we can write: the root stands in */
		qn = 1;
	}
	n += qn;
	put16(b + n, T_TXT);
	put16(b + n + 2, C_IN);
	n += 4;
	for (size_t i = 0; a != NULL && i < a->count; i++) {
		const struct dns_rr *rr = &a->rr[i];

		if (!txt_ok(rr))
			continue;
		if (n + 12 + rr->len > h->buflen)
			return 0;
		put16(b + n, 0xc00c); /* the question's name */
		put16(b + n + 2, T_TXT);
		put16(b + n + 4, C_IN);
		memset(b + n + 6, 0, 3);
		b[n + 9] = 60; /* TTL */
		put16(b + n + 10, (unsigned)rr->len);
		memcpy(b + n + 12, rr->data, rr->len);
		n += 12 + rr->len;
		ancount++;
	}
	if (ancount > 0xffff)
		return 0;
	put16(b + 6, (unsigned)ancount);
	return n;
}

static int
hook_start(void *srv, int type, unsigned char *query, unsigned char *buf,
    size_t buflen, void **qh)
{
	struct dkv_verifier *v = srv;
	struct dkim_q *h = xcalloc(1, sizeof(*h));
	struct dkv_msg *m = cur_msg;

	h->m = m;
	h->buf = buf;
	h->buflen = buflen;
	str_copy(h->qname, (const char *)query, sizeof(h->qname));
	if (m != NULL && m->deadline != NULL) {
		h->deadline = *m->deadline;
		h->has_deadline = 1;
	}
	if (v->timeout_ms > 0) {
		struct timespec t;

		deadline_in(&t, v->timeout_ms);
		if (!h->has_deadline || ts_before(&t, &h->deadline))
			h->deadline = t;
		h->has_deadline = 1;
	}
	/* the whole name: the resolver refuses one that is too long */
	h->q = dns_query_start(v->dns, (const char *)query, type);
	*qh = h;
	return 0; /* a NULL query is answered as TEMPFAIL in waitreply */
}

/* note_why - keep why a lookup failed, for the reason text */
static void
note_why(struct dkv_msg *m, const char *qname, const char *why, int perm)
{
	struct dns_why *w;

	if (m == NULL || m->nwhy >= DKIM_MAX_DNS_WHY)
		return;
	w = &m->whys[m->nwhy++];
	str_copy(w->qname, qname, sizeof(w->qname));
	str_copy(w->why, why != NULL && why[0] != '\0' ? why : "DNS error",
	    sizeof(w->why));
	w->perm = perm;
}

static int
hook_waitreply(void *srv, void *qh, struct timeval *to, size_t *bytes,
    int *error, int *dnssec)
{
	struct dkim_q *h = qh;
	struct dns_answer *a;
	const char *refused;
	size_t n = 0;
	int ret;

	(void)srv;
	(void)to; /* our deadline and the resolver's timeout bound the wait */
	if (error != NULL)
		*error = 0;
	if (dnssec != NULL)
		*dnssec = DKIM_DNSSEC_UNKNOWN;
	if (h->q == NULL) {
		note_why(h->m, h->qname, "resolver shutting down", 0);
		return DKIM_DNS_ERROR;
	}
	a = dns_query_wait_until(&h->q, h->has_deadline ? &h->deadline : NULL);
	switch (a->status) {
	case DNS_STATUS_OK:
		/* a record set too large for libopendkim is the signer's
		 * permanent problem: answered as no record (libopendkim says
		 * "key not found"), and the reason is ours (describe) */
		refused = key_answer_refused(a);
		n = refused == NULL ? build_packet(h, a, 0) : 0;
		if (n == 0) {
			note_why(h->m, h->qname, refused != NULL ? refused :
			    "key record too large", 1);
			n = build_packet(h, NULL, 0);
		}
		ret = n > 0 ? DKIM_DNS_SUCCESS : DKIM_DNS_ERROR;
		break;
	case DNS_STATUS_NXDOMAIN:
		/* RFC 6376 6.1.2: no key record is a permanent failure */
		n = build_packet(h, NULL, 3);
		ret = n > 0 ? DKIM_DNS_SUCCESS : DKIM_DNS_ERROR;
		break;
	case DNS_STATUS_NODATA:
		n = build_packet(h, NULL, 0);
		ret = n > 0 ? DKIM_DNS_SUCCESS : DKIM_DNS_ERROR;
		break;
	default:
		/* why is for the reason text; what failed is a->fail */
		note_why(h->m, h->qname, a->why, 0);
		ret = a->fail == DNS_FAIL_TIMEOUT ||
		    a->fail == DNS_FAIL_BUDGET ? DKIM_DNS_EXPIRED : DKIM_DNS_ERROR;
		break;
	}
	if (ret == DKIM_DNS_SUCCESS && dnssec != NULL)
		*dnssec = a->secure ? DKIM_DNSSEC_SECURE : DKIM_DNSSEC_INSECURE;
	dns_answer_free(&a);
	if (bytes != NULL)
		*bytes = n;
	return ret;
}

/* hook_cancel - libopendkim calls it after every query: it frees too */
static int
hook_cancel(void *srv, void *qh)
{
	struct dkim_q *h = qh;

	(void)srv;
	if (h == NULL)
		return 0;
	if (h->q != NULL)
		dns_query_cancel(&h->q);
	free(h);
	return 0;
}

/* ---- signature cap ------------------------------------------------------ */

static DKIM_CBSTAT
prescreen(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
	struct dkv_msg *m = dkim_get_user_context(dkim);
	unsigned cap = m != NULL ? m->v->max_sigs : DKIM_DEF_MAX_SIGS;

	for (int i = (int)cap; i < nsigs; i++)
		dkim_sig_ignore(sigs[i]);
	return DKIM_CBSTAT_CONTINUE;
}

/* ---- verifier ----------------------------------------------------------- */

struct dkv_verifier *
dkv_verifier_new(struct dns_resolver *dns, const struct dkv_opts *opts,
    char *err, size_t errlen)
{
	struct dkv_verifier *v;
	/* no FIXCRLF: header fields are normalized in dkv_msg_header and
	 * the body never reaches libopendkim */
	uint32_t flags = DKIM_LIBFLAGS_BADSIGHANDLES;
	unsigned minbits = 1, tmo;

	if (dns == NULL) {
		snprintf(err, errlen, "dkim: no resolver");
		return NULL;
	}
	/* decoded RSA keys are kept between messages (dkim_key.c) */
	dkv_key_cache_enable();
	for (int r = DKV_RES_PASS; r <= DKV_RES_PERMERROR; r++)
		stats_register(&sig_results[r]);
	v = xcalloc(1, sizeof(*v));
	v->dns = dns;
	v->max_sigs = opts != NULL && opts->max_signatures > 0 ?
	    opts->max_signatures : DKIM_DEF_MAX_SIGS;
	if (v->max_sigs > DKIM_HARD_MAX_SIGS)
		v->max_sigs = DKIM_HARD_MAX_SIGS;
	v->min_rsa_bits = opts != NULL && opts->min_rsa_bits > 0 ?
	    opts->min_rsa_bits : DKIM_DEF_MIN_RSA;
	v->timeout_ms = opts != NULL ? opts->timeout_ms : 0;
	v->lib = dkim_init(NULL, NULL);
	if (v->lib == NULL) {
		snprintf(err, errlen, "dkim: dkim_init failed");
		free(v);
		return NULL;
	}
	tmo = v->timeout_ms > 0 ? (v->timeout_ms + 999) / 1000 : 10;
	/* our own size check after verification gives policy (RFC 8301) */
	if (dkim_options(v->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags,
	    sizeof(flags)) != DKIM_STAT_OK ||
	    dkim_options(v->lib, DKIM_OP_SETOPT, DKIM_OPTS_TIMEOUT, &tmo,
	    sizeof(tmo)) != DKIM_STAT_OK ||
	    dkim_options(v->lib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &minbits,
	    sizeof(minbits)) != DKIM_STAT_OK) {
		snprintf(err, errlen, "dkim: dkim_options failed");
		dkim_close(v->lib);
		free(v);
		return NULL;
	}
	dkim_set_prescreen(v->lib, prescreen);
	v->algs = dkv_bh_algs_new(); /* NULL: each hasher fetches its own */
	(void)dkim_dns_set_query_service(v->lib, v);
	dkim_dns_set_query_start(v->lib, hook_start);
	dkim_dns_set_query_waitreply(v->lib, hook_waitreply);
	dkim_dns_set_query_cancel(v->lib, hook_cancel);
	dkim_dns_set_init(v->lib, NULL);
	dkim_dns_set_close(v->lib, NULL);
	return v;
}

void
dkv_verifier_free(struct dkv_verifier **vp)
{
	if (vp == NULL || *vp == NULL)
		return;
	dkim_close((*vp)->lib);
	dkv_bh_algs_free(&(*vp)->algs);
	free(*vp);
	*vp = NULL;
}

/* ---- message ------------------------------------------------------------ */

struct dkv_msg *
dkv_msg_new(struct dkv_verifier *v, const struct timespec *deadline)
{
	struct dkv_msg *m = xcalloc(1, sizeof(*m));

	m->v = v;
	m->deadline = deadline;
	m->hbuf = m->hsmall;
	m->hcap = sizeof(m->hsmall);
	return m;
}

/* handle - the libopendkim handle, made at first use; NULL if it failed */
static DKIM *
handle(struct dkv_msg *m)
{
	DKIM_STAT st;

	if (m->dkim == NULL && !m->over_limit) {
		m->dkim = dkim_verify(m->v->lib, (const unsigned char *)"msg",
		    NULL, &st);
		if (m->dkim == NULL) {
			m->over_limit = 1; /* reported as permerror */
			return NULL;
		}
		dkim_set_user_context(m->dkim, m);
	}
	return m->dkim;
}

void
dkv_msg_header(struct dkv_msg *m, const char *name, const char *value)
{
	size_t nl, vl, need, o = 0;
	DKIM *d;

	if (m == NULL || name == NULL || m->started_eoh)
		return;
	if (value == NULL)
		value = "";
	if (strcasecmp(name, "DKIM-Signature") == 0)
		m->saw_sig_name = 1;
	if (m->over_limit)
		return;
	nl = strlen(name);
	vl = strlen(value);
	m->nhdr++;
	m->hdr_bytes += nl + vl + 3;
	if (m->nhdr > DKIM_MAX_HEADERS || m->hdr_bytes > DKIM_MAX_HEADER_BYTES) {
		m->over_limit = 1;
		return;
	}
	/* worst case every byte is a bare LF or lone CR and doubles */
	need = nl + 1 + 2 * vl + 1;
	if (need > m->hcap) {
		if (m->hbuf != m->hsmall)
			free(m->hbuf);
		m->hcap = need;
		m->hbuf = xmalloc(need);
	}
	memcpy(m->hbuf, name, nl);
	o = nl;
	m->hbuf[o++] = ':';
	/* line ends as CRLF (what libopendkim's FIXCRLF did): a bare LF
	 * gets its CR, a lone CR its LF */
	for (size_t i = 0; i < vl; i++) {
		if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r'))
			m->hbuf[o++] = '\r';
		else if (i > 0 && value[i - 1] == '\r' && value[i] != '\n')
			m->hbuf[o++] = '\n';
		m->hbuf[o++] = (unsigned char)value[i];
	}
	/* a trailing line end is not part of the field */
	while (o > nl + 1 && (m->hbuf[o - 1] == '\n' || m->hbuf[o - 1] == '\r'))
		o--;
	m->hbuf[o] = '\0';
	d = handle(m);
	if (d != NULL)
		(void)dkim_header(d, m->hbuf, o);
}

/*
 * body_setup - after dkim_eoh: keep each signature's state and give each
 * one whose result can still depend on the body a hasher, shared by the
 * signatures with the same body canonicalization (c=, default simple),
 * hash (a=) and l= (RFC 6376 3.5).
 */
static void
body_setup(struct dkv_msg *m)
{
	DKIM_SIGINFO **sigs = NULL;
	int nsigs = 0;

	if (dkim_getsiglist(m->dkim, &sigs, &nsigs) != DKIM_STAT_OK ||
	    sigs == NULL || nsigs <= 0)
		return;
	m->sb = xcalloc((size_t)nsigs, sizeof(*m->sb));
	m->nsb = (size_t)nsigs;
	for (size_t i = 0; i < m->nsb; i++) {
		struct sig_body *b = &m->sb[i];
		DKIM_SIGINFO *sig = sigs[i];
		ssize_t signlen = -1;
		dkim_canon_t bc = DKIM_CANON_SIMPLE;
		dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
		enum dkv_bh_canon canon;
		enum dkv_bh_hash hash;
		int eoh_done, hdr_ok;
		size_t j;

		b->eoh_err = dkim_sig_geterror(sig);
		b->eoh_flags = dkim_sig_getflags(sig);
		b->bh = -1;
		b->limit = -1;
		if (i >= m->v->max_sigs || (b->eoh_flags & DKIM_SIGFLAG_IGNORE))
			continue;
		/* no body canonicalization: libopendkim refused the tags */
		if (dkim_sig_getcanonlen(m->dkim, sig, NULL, NULL, &signlen) !=
		    DKIM_STAT_OK)
			continue;
		b->limit = signlen >= 0 ? (long long)signlen : -1;
		eoh_done = (b->eoh_flags & DKIM_SIGFLAG_PROCESSED) ||
		    b->eoh_err != DKIM_SIGERROR_UNKNOWN;
		hdr_ok = (b->eoh_flags & DKIM_SIGFLAG_PASSED) &&
		    b->eoh_err == DKIM_SIGERROR_UNKNOWN;
		/* failed already; only l= can still change its reason */
		if (eoh_done && !hdr_ok && b->limit < 0)
			continue;
		(void)dkim_sig_getcanons(sig, NULL, &bc);
		(void)dkim_sig_getsignalg(sig, &alg);
		canon = bc == DKIM_CANON_RELAXED ? DKV_BH_RELAXED : DKV_BH_SIMPLE;
		hash = alg == DKIM_SIGN_RSASHA1 ? DKV_BH_SHA1 : DKV_BH_SHA256;
		for (j = 0; j < m->nbh; j++)
			if (dkv_bh_same(m->bh[j], canon, hash, b->limit))
				break;
		if (j == m->nbh) {
			if (m->nbh >= DKIM_HARD_MAX_SIGS)
				continue;
			m->bh[m->nbh++] = dkv_bh_new(m->v->algs, canon, hash,
			    b->limit);
		}
		b->bh = (int)j;
	}
}

void
dkv_msg_eoh(struct dkv_msg *m)
{
	DKIM *d;
	DKIM_STAT st;

	if (m == NULL || m->started_eoh)
		return;
	m->started_eoh = 1;
	if (m->over_limit)
		return;
	d = handle(m);
	if (d == NULL)
		return;
	cur_msg = m;
	st = dkim_eoh(d);
	cur_msg = NULL;
	if (st == DKIM_STAT_NOSIG)
		m->nosig = 1;
	else
		body_setup(m);
}

void
dkv_msg_body(struct dkv_msg *m, const unsigned char *p, size_t len)
{
	if (m == NULL || m->done || p == NULL || len == 0)
		return;
	for (size_t j = 0; j < m->nbh; j++)
		dkv_bh_update(m->bh[j], p, len);
}

/* ---- results ------------------------------------------------------------ */

static const struct {
	int err;
	enum dkv_res res;
	const char *reason;
} sigerrs[] = {
	{ DKIM_SIGERROR_VERSION, DKV_RES_PERMERROR, "unsupported version" },
	{ DKIM_SIGERROR_MISSING_V, DKV_RES_PERMERROR, "v= tag missing" },
	{ DKIM_SIGERROR_EMPTY_V, DKV_RES_PERMERROR, "v= tag empty" },
	{ DKIM_SIGERROR_DOMAIN, DKV_RES_PERMERROR, "invalid d= or i=" },
	{ DKIM_SIGERROR_EXPIRED, DKV_RES_PERMERROR, "signature expired" },
	{ DKIM_SIGERROR_FUTURE, DKV_RES_PERMERROR, "signature in the future" },
	{ DKIM_SIGERROR_TIMESTAMPS, DKV_RES_PERMERROR, "x= before t=" },
	{ DKIM_SIGERROR_INVALID_HC, DKV_RES_PERMERROR,
	    "header canonicalization not supported" },
	{ DKIM_SIGERROR_INVALID_BC, DKV_RES_PERMERROR,
	    "body canonicalization not supported" },
	{ DKIM_SIGERROR_MISSING_A, DKV_RES_PERMERROR, "a= tag missing" },
	{ DKIM_SIGERROR_INVALID_A, DKV_RES_PERMERROR, "algorithm not accepted" },
	{ DKIM_SIGERROR_MISSING_H, DKV_RES_PERMERROR, "h= tag missing" },
	{ DKIM_SIGERROR_EMPTY_H, DKV_RES_PERMERROR, "h= tag empty" },
	{ DKIM_SIGERROR_INVALID_H, DKV_RES_PERMERROR, "From field not signed" },
	{ DKIM_SIGERROR_INVALID_L, DKV_RES_PERMERROR, "l= tag invalid" },
	{ DKIM_SIGERROR_TOOLARGE_L, DKV_RES_PERMERROR, "l= exceeds the body" },
	{ DKIM_SIGERROR_INVALID_Q, DKV_RES_PERMERROR,
	    "query method not supported" },
	{ DKIM_SIGERROR_INVALID_QO, DKV_RES_PERMERROR,
	    "query option not supported" },
	{ DKIM_SIGERROR_MISSING_D, DKV_RES_PERMERROR, "d= tag missing" },
	{ DKIM_SIGERROR_EMPTY_D, DKV_RES_PERMERROR, "d= tag empty" },
	{ DKIM_SIGERROR_MISSING_S, DKV_RES_PERMERROR, "s= tag missing" },
	{ DKIM_SIGERROR_EMPTY_S, DKV_RES_PERMERROR, "s= tag empty" },
	{ DKIM_SIGERROR_MISSING_B, DKV_RES_PERMERROR, "b= tag missing" },
	{ DKIM_SIGERROR_EMPTY_B, DKV_RES_PERMERROR, "b= tag empty" },
	{ DKIM_SIGERROR_CORRUPT_B, DKV_RES_PERMERROR, "b= tag corrupt" },
	{ DKIM_SIGERROR_MISSING_BH, DKV_RES_PERMERROR, "bh= tag missing" },
	{ DKIM_SIGERROR_EMPTY_BH, DKV_RES_PERMERROR, "bh= tag empty" },
	{ DKIM_SIGERROR_CORRUPT_BH, DKV_RES_PERMERROR, "bh= tag corrupt" },
	{ DKIM_SIGERROR_NOKEY, DKV_RES_PERMERROR, "key not found" },
	{ DKIM_SIGERROR_DNSSYNTAX, DKV_RES_PERMERROR, "key record syntax error" },
	{ DKIM_SIGERROR_BADSIG, DKV_RES_FAIL, "signature mismatch" },
	{ DKIM_SIGERROR_SUBDOMAIN, DKV_RES_PERMERROR,
	    "key does not allow subdomains (t=s)" },
	{ DKIM_SIGERROR_MULTIREPLY, DKV_RES_PERMERROR, "multiple key records" },
	{ DKIM_SIGERROR_KEYVERSION, DKV_RES_PERMERROR, "key version not supported" },
	{ DKIM_SIGERROR_KEYUNKNOWNHASH, DKV_RES_PERMERROR, "key h= tag unknown" },
	{ DKIM_SIGERROR_KEYHASHMISMATCH, DKV_RES_PERMERROR,
	    "key h= tag excludes the hash" },
	{ DKIM_SIGERROR_NOTEMAILKEY, DKV_RES_PERMERROR, "key not for email (s=)" },
	{ DKIM_SIGERROR_KEYTYPEMISSING, DKV_RES_PERMERROR, "key type missing" },
	{ DKIM_SIGERROR_KEYTYPEUNKNOWN, DKV_RES_PERMERROR, "key type not supported" },
	{ DKIM_SIGERROR_KEYREVOKED, DKV_RES_PERMERROR, "key revoked" },
	{ DKIM_SIGERROR_KEYDECODE, DKV_RES_PERMERROR, "key cannot be decoded" },
};

/* copy_tag - a tag value, bounded, whitespace removed when nows */
static void
copy_tag(DKIM_SIGINFO *sig, const char *tag, char *out, size_t outlen,
    int nows)
{
	const unsigned char *s = dkim_sig_gettagvalue(sig, 0,
	    (u_char *)(uintptr_t)tag);
	size_t o = 0;

	out[0] = '\0';
	if (s == NULL)
		return;
	for (; *s != '\0' && o + 1 < outlen; s++) {
		if (nows && isspace(*s))
			continue;
		out[o++] = (char)*s;
	}
	out[o] = '\0';
}

/* why_for - the noted reason for the key of sel and dom: a temporary one
 * (or the last one noted, or "DNS error") when perm is 0; a refused
 * answer's (or NULL) when perm is 1 */
static const char *
why_for(const struct dkv_msg *m, const char *sel, const char *dom, int perm)
{
	const char *last = NULL;
	char q[512];

	snprintf(q, sizeof(q), "%s._domainkey.%s", sel, dom);
	for (size_t i = 0; i < m->nwhy; i++) {
		if (m->whys[i].perm != perm)
			continue;
		if (dname_equal(m->whys[i].qname, q))
			return m->whys[i].why;
		last = m->whys[i].why;
	}
	if (perm)
		return NULL;
	return last != NULL ? last : "DNS error";
}

/* body_ok - our body hash of the signature's body equals its bh= */
static int
body_ok(struct dkv_msg *m, DKIM_SIGINFO *sig, const struct sig_body *b)
{
	unsigned char md[DKV_BH_MAXDIGEST];
	char want[128], got[2 * DKV_BH_MAXDIGEST + 4];
	size_t n;

	if (b == NULL || b->bh < 0)
		return 0;
	n = dkv_bh_final(m->bh[b->bh], md, NULL);
	EVP_EncodeBlock((unsigned char *)got, md, (int)n);
	copy_tag(sig, "bh", want, sizeof(want), 1);
	return strcmp(want, got) == 0;
}

/* sig_error - the signature's error as libopendkim found it with the
 * header signature, undoing what our empty body did to it at eom */
static int
sig_error(DKIM_SIGINFO *sig, const struct sig_body *b, unsigned flags)
{
	int err = dkim_sig_geterror(sig);

	if (b == NULL)
		return err;
	if ((b->eoh_flags & DKIM_SIGFLAG_PROCESSED) ||
	    b->eoh_err != DKIM_SIGERROR_UNKNOWN)
		return b->eoh_err; /* verified at dkim_eoh, as usual */
	/* verified only at dkim_eom (dkim_eoh stopped early) */
	if ((flags & DKIM_SIGFLAG_PASSED) &&
	    (err == DKIM_SIGERROR_OK || (err == DKIM_SIGERROR_BADSIG &&
	    dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH)))
		return DKIM_SIGERROR_UNKNOWN;
	return err;
}

static void
describe(struct dkv_msg *m, DKIM_SIGINFO *sig, size_t idx,
    struct dkv_result *r)
{
	const unsigned char *s;
	unsigned flags = dkim_sig_getflags(sig);
	const struct sig_body *sb = idx < m->nsb ? &m->sb[idx] : NULL;
	int err = sig_error(sig, sb, flags);
	unsigned bits = 0;
	dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
	char b[64];

	memset(r, 0, sizeof(*r));
	s = dkim_sig_getdomain(sig);
	if (s != NULL) {
		str_copy(r->domain, (const char *)s, sizeof(r->domain));
		str_lower(r->domain);
	} else {
		copy_tag(sig, "d", r->domain, sizeof(r->domain), 1);
		str_lower(r->domain);
	}
	s = dkim_sig_getselector(sig);
	if (s != NULL)
		str_copy(r->selector, (const char *)s, sizeof(r->selector));
	else
		copy_tag(sig, "s", r->selector, sizeof(r->selector), 1);
	copy_tag(sig, "i", r->identity, sizeof(r->identity), 1);
	if (r->identity[0] == '\0' && r->domain[0] != '\0') {
		r->identity[0] = '@';
		str_copy(r->identity + 1, r->domain, sizeof(r->identity) - 1);
	}
	/* the a= tag as written: libopendkim leaves its algorithm at 0
	 * (rsa-sha1) for a signature it stopped parsing early */
	copy_tag(sig, "a", r->algorithm, sizeof(r->algorithm), 1);
	str_lower(r->algorithm);
	(void)dkim_sig_getsignalg(sig, &alg);
	copy_tag(sig, "b", b, sizeof(b), 1);
	str_copy(r->b, b, 9);
	if (dkim_sig_getkeysize(sig, &bits) == DKIM_STAT_OK)
		r->key_bits = bits;
	if (alg == DKIM_SIGN_ED25519SHA256 && r->key_bits == 0 &&
	    (flags & DKIM_SIGFLAG_PROCESSED))
		r->key_bits = 256; /* libopendkim says 0 for Ed25519 */

	if (idx >= m->v->max_sigs || (flags & DKIM_SIGFLAG_IGNORE)) {
		r->result = DKV_RES_NEUTRAL;
		snprintf(r->reason, sizeof(r->reason),
		    "not checked: over the limit of %u signatures",
		    m->v->max_sigs);
		return;
	}
	if (sb != NULL && sb->bh >= 0 && sb->limit >= 0) {
		unsigned char md[DKV_BH_MAXDIGEST];
		uint64_t clen = 0;

		(void)dkv_bh_final(m->bh[sb->bh], md, &clen);
		if (clen < (uint64_t)sb->limit) {
			/* RFC 6376 3.5: l= larger than the body */
			r->result = DKV_RES_PERMERROR;
			str_copy(r->reason, "l= exceeds the body", sizeof(r->reason));
			return;
		}
	}
	if (err == DKIM_SIGERROR_TOOLARGE_L) {
		/* dkim_eoh stopped before this l= signature, and dkim_eom,
		 * seeing no body, would not verify it */
		r->result = DKV_RES_PERMERROR;
		str_copy(r->reason, "signature not verified", sizeof(r->reason));
		return;
	}
	if ((flags & DKIM_SIGFLAG_PASSED) && (err == DKIM_SIGERROR_UNKNOWN ||
	    err == DKIM_SIGERROR_OK) && !body_ok(m, sig, sb)) {
		r->result = DKV_RES_FAIL;
		str_copy(r->reason, "body hash mismatch", sizeof(r->reason));
		return;
	}
	if ((flags & DKIM_SIGFLAG_PASSED) && (err == DKIM_SIGERROR_UNKNOWN ||
	    err == DKIM_SIGERROR_OK)) {
		/* RFC 8301 3.1: rsa-sha1 MUST NOT be accepted */
		if (alg == DKIM_SIGN_RSASHA1) {
			r->result = DKV_RES_POLICY;
			str_copy(r->reason, "rsa-sha1 is not accepted (RFC 8301)",
			    sizeof(r->reason));
		} else if (alg != DKIM_SIGN_ED25519SHA256 &&
		    r->key_bits < m->v->min_rsa_bits) {
			/* RFC 8301 3.2: keys under 1024 bits MUST NOT be valid */
			r->result = DKV_RES_POLICY;
			snprintf(r->reason, sizeof(r->reason),
			    "%u-bit key is too small (RFC 8301)", r->key_bits);
		} else {
			r->result = DKV_RES_PASS;
		}
		return;
	}
	if (err == DKIM_SIGERROR_KEYFAIL) {
		r->result = DKV_RES_TEMPERROR;
		snprintf(r->reason, sizeof(r->reason), "key lookup failed: %s",
		    why_for(m, r->selector, r->domain, 0));
		return;
	}
	if (err == DKIM_SIGERROR_NOKEY &&
	    (s = (const unsigned char *)why_for(m, r->selector, r->domain,
	    1)) != NULL) {
		/* the answer was refused before libopendkim saw it */
		r->result = DKV_RES_PERMERROR;
		str_copy(r->reason, (const char *)s, sizeof(r->reason));
		return;
	}
	if (err == DKIM_SIGERROR_KEYTOOSMALL) {
		r->result = DKV_RES_POLICY;
		snprintf(r->reason, sizeof(r->reason),
		    "%u-bit key is too small (RFC 8301)", r->key_bits);
		return;
	}
	if ((err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_BADSIG) &&
	    (flags & DKIM_SIGFLAG_PROCESSED)) {
		/* the header signature failed; bh= was not looked at */
		r->result = DKV_RES_FAIL;
		str_copy(r->reason, "signature mismatch", sizeof(r->reason));
		return;
	}
	for (size_t i = 0; i < sizeof(sigerrs) / sizeof(sigerrs[0]); i++) {
		if (sigerrs[i].err == err) {
			r->result = sigerrs[i].res;
			str_copy(r->reason, sigerrs[i].reason, sizeof(r->reason));
			return;
		}
	}
	r->result = DKV_RES_PERMERROR;
	s = (const unsigned char *)dkim_sig_geterrorstr(err);
	snprintf(r->reason, sizeof(r->reason), "%s",
	    s != NULL ? (const char *)s : "signature not verified");
}

/* one_result - a single message-wide result */
static void
one_result(struct dkv_msg *m, enum dkv_res res, const char *reason)
{
	m->res = xcalloc(1, sizeof(*m->res));
	m->nres = 1;
	m->res->result = res;
	str_copy(m->res->reason, reason, sizeof(m->res->reason));
}

void
dkv_msg_eom(struct dkv_msg *m, const struct dkv_result **res, size_t *n)
{
	DKIM_SIGINFO **sigs = NULL;
	int nsigs = 0;
	_Bool testkey = 0;

	*res = NULL;
	*n = 0;
	if (m == NULL)
		return;
	if (m->done) {
		*res = m->res;
		*n = m->nres;
		return;
	}
	m->done = 1;
	if (!m->started_eoh)
		dkv_msg_eoh(m);
	if (m->over_limit) {
		if (m->saw_sig_name)
			one_result(m, DKV_RES_PERMERROR, "headers over the limit");
	} else if (m->dkim != NULL && !m->nosig) {
		/* no dkim_body: libopendkim hashes an empty body (see top) */
		cur_msg = m;
		(void)dkim_eom(m->dkim, &testkey);
		cur_msg = NULL;
		if (dkim_getsiglist(m->dkim, &sigs, &nsigs) == DKIM_STAT_OK &&
		    sigs != NULL && nsigs > 0) {
			m->res = xcalloc((size_t)nsigs, sizeof(*m->res));
			for (int i = 0; i < nsigs; i++)
				describe(m, sigs[i], (size_t)i, &m->res[i]);
			m->nres = (size_t)nsigs;
		} else if (m->saw_sig_name) {
			one_result(m, DKV_RES_PERMERROR, "signature not usable");
		}
	}
	for (size_t i = 0; i < m->nres; i++)
		if (m->res[i].result != DKV_RES_NONE)
			stats_inc(&sig_results[m->res[i].result]);
	*res = m->res;
	*n = m->nres;
}

void
dkv_msg_free(struct dkv_msg **mp)
{
	struct dkv_msg *m;

	if (mp == NULL || *mp == NULL)
		return;
	m = *mp;
	if (m->dkim != NULL)
		dkim_free(m->dkim);
	for (size_t j = 0; j < m->nbh; j++)
		dkv_bh_free(&m->bh[j]);
	free(m->sb);
	if (m->hbuf != m->hsmall)
		free(m->hbuf);
	free(m->res);
	free(m);
	*mp = NULL;
}

const char *
dkv_res_name(enum dkv_res r)
{
	switch (r) {
	case DKV_RES_NONE:
		return "none";
	case DKV_RES_PASS:
		return "pass";
	case DKV_RES_FAIL:
		return "fail";
	case DKV_RES_NEUTRAL:
		return "neutral";
	case DKV_RES_POLICY:
		return "policy";
	case DKV_RES_TEMPERROR:
		return "temperror";
	case DKV_RES_PERMERROR:
		return "permerror";
	}
	return "permerror";
}
