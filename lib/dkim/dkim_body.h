/*
 * dkim_body.h - DKIM body canonicalization and body hash (RFC 6376 3.4.3,
 * 3.4.4, 3.7), streaming.
 *
 * One struct dkv_bh per (canonicalization, hash, l=) of a message. Body
 * chunks go in as the MTA hands them over, split anywhere; only the state
 * that crosses a chunk boundary is kept (a CR waiting for its LF, a run of
 * whitespace, empty lines that may turn out to end the body). Line ends
 * are CRLF or bare LF (a bare LF counts as CRLF); a CR not followed by LF
 * is an ordinary byte. Nothing here fails: allocation failure does not
 * return, and every input gives a digest.
 */
#ifndef AM_DKIM_BODY_H
#define AM_DKIM_BODY_H

#include <stddef.h>
#include <stdint.h>

enum dkv_bh_canon {
	DKV_BH_SIMPLE = 0, /* RFC 6376 3.4.3 */
	DKV_BH_RELAXED,    /* RFC 6376 3.4.4 */
};

enum dkv_bh_hash {
	DKV_BH_SHA256 = 0,
	DKV_BH_SHA1,
};

#define DKV_BH_MAXDIGEST 32 /* SHA-256 */

/* the message digests, fetched once (OpenSSL 3 would fetch them again at
 * every init otherwise); immutable after dkv_bh_algs_new, shared by
 * threads */
struct dkv_bh_algs;
struct dkv_bh;

/* dkv_bh_algs_new - fetch SHA-256 and SHA-1; NULL if OpenSSL has neither */
struct dkv_bh_algs *dkv_bh_algs_new(void);
void dkv_bh_algs_free(struct dkv_bh_algs **ap);

/* dkv_bh_new - a body hasher; limit is l= (hash at most that many
 * canonical bytes), or a negative value for none */
struct dkv_bh *dkv_bh_new(const struct dkv_bh_algs *a,
    enum dkv_bh_canon canon, enum dkv_bh_hash hash, long long limit);
/* dkv_bh_same - whether h was made with these parameters */
int dkv_bh_same(const struct dkv_bh *h, enum dkv_bh_canon canon,
    enum dkv_bh_hash hash, long long limit);
/* dkv_bh_update - one body chunk, any length, split anywhere */
void dkv_bh_update(struct dkv_bh *h, const unsigned char *p, size_t len);
/* dkv_bh_final - end of body: the digest into out (at least
 * DKV_BH_MAXDIGEST bytes), its length returned; the same digest on later
 * calls. *canonlen (when not NULL) is the whole canonical body length,
 * also past l=. */
size_t dkv_bh_final(struct dkv_bh *h, unsigned char *out,
    uint64_t *canonlen);
void dkv_bh_free(struct dkv_bh **hp);

#endif
