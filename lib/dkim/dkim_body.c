/*
 * dkim_body.c - streaming DKIM body canonicalization and hash (RFC 6376
 * 3.4.3 simple, 3.4.4 relaxed, 3.5 l=, 3.7 bh=); see dkim_body.h.
 *
 * The canonical body is mostly the input itself: CRLF lines pass through
 * unchanged under simple, and under relaxed so do lines whose whitespace
 * is already single spaces. So output is collected as a "span" that points
 * into the caller's chunk and grows while the next output piece follows it
 * in memory; only where canonicalization changes something (a bare LF, a
 * tab, a run of whitespace, withheld empty lines) does the span end. Short
 * spans and replacement bytes are copied into a small stage buffer, long
 * spans are hashed in place. Lines are found with memchr; relaxed scans
 * each line for SP/HTAB with a tight loop.
 *
 * Errors: none; every input gives a digest (allocation failure does not
 * return).
 */

#include "config.h"

#include <endian.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dkim_body.h"
#include "util.h"

#define BH_STAGE 4096  /* stage buffer */
#define BH_COPY_MAX 512 /* spans up to this size are copied, not hashed */

struct dkv_bh_algs {
	EVP_MD *sha256;
	EVP_MD *sha1;
};

struct dkv_bh {
	EVP_MD_CTX *ctx;
	enum dkv_bh_canon canon;
	enum dkv_bh_hash hash;
	long long limit;            /* l=, or < 0 */
	uint64_t total;             /* canonical bytes so far */
	uint64_t hashed;            /* of which hashed (l=) */
	int any;                    /* anything emitted */
	int cr;                     /* the last chunk ended in CR */
	int inl;                    /* the current line has content */
	size_t ncrlf;               /* withheld empty lines */
	size_t nwsp;                /* relaxed: withheld whitespace run */
	/* the following point into the current chunk only */
	const unsigned char *crlf_p; /* the withheld CRLFs, if contiguous */
	const unsigned char *wsp_p;  /* the withheld run, if one SP */
	const unsigned char *sp;     /* span */
	size_t sn;
	int done;
	size_t mdlen;
	unsigned char md[DKV_BH_MAXDIGEST];
	size_t blen;
	unsigned char buf[BH_STAGE];
};

static const unsigned char s_crlf[] = "\r\n";
static const unsigned char s_sp[] = " ";
static const unsigned char s_cr[] = "\r";

struct dkv_bh_algs *
dkv_bh_algs_new(void)
{
	struct dkv_bh_algs *a = xcalloc(1, sizeof(*a));

	a->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	a->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	if (a->sha256 == NULL && a->sha1 == NULL) {
		free(a);
		return NULL;
	}
	return a;
}

void
dkv_bh_algs_free(struct dkv_bh_algs **ap)
{
	if (ap == NULL || *ap == NULL)
		return;
	EVP_MD_free((*ap)->sha256);
	EVP_MD_free((*ap)->sha1);
	free(*ap);
	*ap = NULL;
}

struct dkv_bh *
dkv_bh_new(const struct dkv_bh_algs *a, enum dkv_bh_canon canon,
    enum dkv_bh_hash hash, long long limit)
{
	struct dkv_bh *h = xmalloc(sizeof(*h));
	const EVP_MD *md;

	memset(h, 0, offsetof(struct dkv_bh, buf));
	h->canon = canon == DKV_BH_RELAXED ? DKV_BH_RELAXED : DKV_BH_SIMPLE;
	h->hash = hash == DKV_BH_SHA1 ? DKV_BH_SHA1 : DKV_BH_SHA256;
	h->limit = limit < 0 ? -1 : limit;
	if (h->hash == DKV_BH_SHA1)
		md = a != NULL && a->sha1 != NULL ? a->sha1 : EVP_sha1();
	else
		md = a != NULL && a->sha256 != NULL ? a->sha256 : EVP_sha256();
	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL)
		abort(); /* allocation failure does not return */
	if (EVP_DigestInit_ex(h->ctx, md, NULL) != 1) {
		/* no digest: the result stays all zero, which never matches */
		EVP_MD_CTX_free(h->ctx);
		h->ctx = NULL;
	}
	return h;
}

int
dkv_bh_same(const struct dkv_bh *h, enum dkv_bh_canon canon,
    enum dkv_bh_hash hash, long long limit)
{
	return h->canon == canon && h->hash == hash &&
	    h->limit == (limit < 0 ? -1 : limit);
}

/* ---- output: stage buffer and span ------------------------------------- */

/* hash_raw - canonical bytes into the digest, up to l= (RFC 6376 3.5) */
static void
hash_raw(struct dkv_bh *h, const unsigned char *p, size_t n)
{
	size_t take = n;

	h->total += n;
	if (h->limit >= 0) {
		uint64_t left = (uint64_t)h->limit > h->hashed ?
		    (uint64_t)h->limit - h->hashed : 0;

		if (take > left)
			take = (size_t)left;
		h->hashed += take;
	}
	if (take > 0 && h->ctx != NULL)
		(void)EVP_DigestUpdate(h->ctx, p, take);
}

static void
stage_flush(struct dkv_bh *h)
{
	if (h->blen > 0)
		hash_raw(h, h->buf, h->blen);
	h->blen = 0;
}

static void
stage_put(struct dkv_bh *h, const unsigned char *p, size_t n)
{
	if (h->blen + n > sizeof(h->buf))
		stage_flush(h);
	if (n > sizeof(h->buf)) {
		hash_raw(h, p, n);
		return;
	}
	memcpy(h->buf + h->blen, p, n);
	h->blen += n;
}

/* span_flush - the span goes into the stage (short) or the digest */
static void
span_flush(struct dkv_bh *h)
{
	if (h->sn == 0)
		return;
	if (h->sn <= BH_COPY_MAX) {
		stage_put(h, h->sp, h->sn);
	} else {
		stage_flush(h);
		hash_raw(h, h->sp, h->sn);
	}
	h->sp = NULL;
	h->sn = 0;
}

/* emit - canonical output; p must stay valid until the chunk ends */
static inline void
emit(struct dkv_bh *h, const unsigned char *p, size_t n)
{
	if (n == 0)
		return;
	h->any = 1;
	if (h->sn > 0 && p == h->sp + h->sn) {
		h->sn += n;
		return;
	}
	span_flush(h);
	h->sp = p;
	h->sn = n;
}

/* ---- canonicalization ------------------------------------------------- */

/* crlf_flush - withheld empty lines turn out not to end the body */
static void
crlf_flush(struct dkv_bh *h)
{
	if (h->crlf_p != NULL) {
		emit(h, h->crlf_p, 2 * h->ncrlf);
	} else {
		for (size_t i = 0; i < h->ncrlf; i++)
			emit(h, s_crlf, 2);
	}
	h->ncrlf = 0;
	h->crlf_p = NULL;
}

#define ONES 0x0101010101010101ULL
#define LOW7 0x7f7f7f7f7f7f7f7fULL

/* bytes_eq - 0x80 in each byte of x that equals the byte in c (exact) */
static inline uint64_t
bytes_eq(uint64_t x, uint64_t c)
{
	uint64_t v = x ^ c;

	return ~(((v & LOW7) + LOW7) | v | LOW7);
}

/*
 * relaxed_prefix - how many bytes from p relaxed canonicalization leaves
 * unchanged (3.4.4): up to the first HTAB, or SP followed by another WSP,
 * or SP as the last byte of p (the line may go on in the next chunk, or
 * end: either way the SP is withheld). Such a prefix never ends in WSP.
 * Eight bytes at a time; most text lines are clean and pass through whole.
 */
static size_t
relaxed_prefix(const unsigned char *p, size_t n)
{
	const uint64_t sp = ONES * ' ', tab = ONES * '\t';
	size_t i = 0;

	for (; i + 8 < n; i += 8) {
		uint64_t x, mt, ms, next, bad;

		memcpy(&x, p + i, 8);
		x = le64toh(x); /* byte k of memory in bits 8k..8k+7 */
		mt = bytes_eq(x, tab);
		ms = bytes_eq(x, sp);
		/* lane k gets lane k+1's "is WSP"; lane 7 the byte after */
		next = (mt | ms) >> 8;
		if (p[i + 8] == ' ' || p[i + 8] == '\t')
			next |= 0x80ULL << 56;
		bad = mt | (ms & next);
		if (bad != 0)
			return i + (size_t)(__builtin_ctzll(bad) >> 3);
	}
	for (; i < n; i++) {
		if (p[i] == '\t')
			return i;
		if (p[i] == ' ' && (i + 1 == n || p[i + 1] == ' ' || p[i + 1] == '\t'))
			return i;
	}
	return n;
}

/* content - bytes of one line, without its line end */
static void
content(struct dkv_bh *h, const unsigned char *p, size_t n)
{
	const unsigned char *q = p, *e = p + n, *s;
	size_t k;

	if (n == 0)
		return;
	if (h->canon == DKV_BH_SIMPLE) {
		/* RFC 6376 3.4.3: unchanged */
		if (h->ncrlf > 0)
			crlf_flush(h);
		emit(h, p, n);
		h->inl = 1;
		return;
	}
	/*
	 * RFC 6376 3.4.4: a WSP run becomes one SP; at the end of a line it
	 * goes (decided at the line end, so it is only withheld here).
	 * Between runs that need it, the line passes through in stretches.
	 */
	while (q < e) {
		if (*q == ' ' || *q == '\t') {
			s = q;
			while (q < e && (*q == ' ' || *q == '\t'))
				q++;
			h->wsp_p = h->nwsp == 0 && q - s == 1 && *s == ' ' ?
			    s : NULL;
			h->nwsp += (size_t)(q - s);
			continue;
		}
		if (h->ncrlf > 0)
			crlf_flush(h);
		if (h->nwsp > 0) {
			emit(h, h->wsp_p != NULL ? h->wsp_p : s_sp, 1);
			h->nwsp = 0;
			h->wsp_p = NULL;
		}
		/* *q is not WSP, so the stretch is at least one byte */
		k = relaxed_prefix(q, (size_t)(e - q));
		emit(h, q, k);
		h->inl = 1;
		q += k;
	}
}

/* eol - a line end; raw points at its CRLF in the chunk, or NULL */
static void
eol(struct dkv_bh *h, const unsigned char *raw)
{
	h->nwsp = 0; /* relaxed: trailing WSP is ignored */
	h->wsp_p = NULL;
	if (h->inl) {
		emit(h, raw != NULL ? raw : s_crlf, 2);
		h->inl = 0;
		return;
	}
	/* an empty line: withheld until something follows it (3.4.3/3.4.4
	 * ignore empty lines at the end of the body) */
	if (h->ncrlf == 0)
		h->crlf_p = raw;
	else if (h->crlf_p != NULL && raw != h->crlf_p + 2 * h->ncrlf)
		h->crlf_p = NULL;
	h->ncrlf++;
}

void
dkv_bh_update(struct dkv_bh *h, const unsigned char *p, size_t len)
{
	const unsigned char *e = p + len, *nl, *q;

	if (h == NULL || h->done || p == NULL || len == 0)
		return;
	if (h->cr) {
		/* a CR ended the last chunk: line end or an ordinary byte */
		h->cr = 0;
		if (*p == '\n') {
			eol(h, NULL);
			p++;
		} else {
			content(h, s_cr, 1);
		}
	}
	while (p < e) {
		nl = memchr(p, '\n', (size_t)(e - p));
		if (nl == NULL) {
			q = e;
			if (q[-1] == '\r') {
				q--;
				h->cr = 1;
			}
			content(h, p, (size_t)(q - p));
			break;
		}
		if (nl > p && nl[-1] == '\r') {
			content(h, p, (size_t)(nl - 1 - p));
			eol(h, nl - 1);
		} else {
			/* bare LF: taken as CRLF */
			content(h, p, (size_t)(nl - p));
			eol(h, NULL);
		}
		p = nl + 1;
	}
	/* nothing may point into the chunk after it returns */
	span_flush(h);
	h->crlf_p = NULL;
	h->wsp_p = NULL;
}

size_t
dkv_bh_final(struct dkv_bh *h, unsigned char *out, uint64_t *canonlen)
{
	unsigned int l = 0;

	if (!h->done) {
		if (h->cr) {
			/* a CR at the very end is not followed by LF */
			h->cr = 0;
			content(h, s_cr, 1);
		}
		/* a last line without CRLF gets one (3.4.3, 3.4.4); withheld
		 * empty lines and trailing WSP are dropped */
		if (h->inl)
			emit(h, s_crlf, 2);
		/* 3.4.3: an empty body is CRLF; 3.4.4: it stays empty */
		if (!h->any && h->canon == DKV_BH_SIMPLE)
			emit(h, s_crlf, 2);
		h->ncrlf = 0;
		h->nwsp = 0;
		span_flush(h);
		stage_flush(h);
		memset(h->md, 0, sizeof(h->md));
		h->mdlen = h->hash == DKV_BH_SHA1 ? 20 : 32;
		if (h->ctx != NULL &&
		    EVP_DigestFinal_ex(h->ctx, h->md, &l) == 1 &&
		    l <= sizeof(h->md))
			h->mdlen = l;
		h->done = 1;
	}
	memcpy(out, h->md, h->mdlen);
	if (canonlen != NULL)
		*canonlen = h->total;
	return h->mdlen;
}

void
dkv_bh_free(struct dkv_bh **hp)
{
	if (hp == NULL || *hp == NULL)
		return;
	EVP_MD_CTX_free((*hp)->ctx);
	free(*hp);
	*hp = NULL;
}
