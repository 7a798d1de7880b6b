/*
 * dkim.h - DKIM verification (RFC 6376, Ed25519 per RFC 8463) through
 * libopendkim, with key lookups through our resolver.
 *
 * One struct dkv_verifier per process (it wraps the one DKIM_LIB; made
 * before any message runs); one struct dkv_msg per message, fed as the
 * message arrives: header fields, end of headers, body chunks (nothing is
 * buffered whole), then dkv_msg_eom() verifies every signature up to the
 * cap and returns one result per signature. Every input gives a defined
 * result: a message libopendkim cannot take still ends with results
 * (permerror, or none when there is no signature).
 *
 * Key records: a key answer libopendkim cannot hold whole is the
 * signer's permanent problem, permerror with the reason "key record too
 * large" (a record over 1024 bytes once its strings are joined) or "too
 * many key records" (more than 4 TXT records); 2 to 4 records are
 * libopendkim's "multiple key records". Temperror is kept for lookups that
 * failed (SERVFAIL, timeout, the deadline).
 */
#ifndef AM_DKIM_H
#define AM_DKIM_H

#include <stddef.h>
#include <time.h>

#include "dname.h"

struct dns_resolver;

enum dkv_res {
	DKV_RES_NONE = 0,  /* no signature */
	DKV_RES_PASS,
	DKV_RES_FAIL,      /* signature or body hash does not verify */
	DKV_RES_NEUTRAL,   /* not checked (over the cap) */
	DKV_RES_POLICY,    /* verified but not accepted: rsa-sha1, small key (RFC 8301) */
	DKV_RES_TEMPERROR, /* key lookup failed temporarily */
	DKV_RES_PERMERROR, /* malformed signature, key missing or revoked, ... */
};

struct dkv_result {
	enum dkv_res result;
	char domain[DNAME_BUFSIZE]; /* d= (lowercase) */
	char selector[128];   /* s= */
	char identity[256];   /* i= as written, or "@" + d= when absent */
	char algorithm[32];   /* "rsa-sha256", "ed25519-sha256", "rsa-sha1" */
	unsigned key_bits;    /* RSA modulus bits, 256 for ed25519, 0 unknown */
	char b[16];           /* the first 8 characters of b= (RFC 6008) */
	char reason[128];     /* plain words: "body hash mismatch", "key not found", ... */
};

struct dkv_opts {
	unsigned max_signatures; /* verify at most this many; default 8 */
	unsigned min_rsa_bits;   /* smaller RSA keys give policy; default 1024 */
	unsigned timeout_ms;     /* one key lookup; 0: the resolver's default */
};

struct dkv_verifier;
struct dkv_msg;

/* dkv_verifier_new - set up libopendkim (options, our DNS hooks, the
 * signature cap); call before any thread uses it. NULL with err filled. */
struct dkv_verifier *dkv_verifier_new(struct dns_resolver *dns,
    const struct dkv_opts *opts, char *err, size_t errlen);
void dkv_verifier_free(struct dkv_verifier **vp);

/* dkv_msg_new - start one message. deadline: CLOCK_MONOTONIC time after
 * which pending key lookups count as temperror (NULL: none). It is read
 * through the pointer when a lookup starts, so the caller may set it
 * later (at end of message); it must outlive the message. */
struct dkv_msg *dkv_msg_new(struct dkv_verifier *v,
    const struct timespec *deadline);
/* dkv_msg_header - one header field as the MTA gave it: name, and value
 * after the colon (leading space kept, folds as "\n" or "\r\n") */
void dkv_msg_header(struct dkv_msg *m, const char *name, const char *value);
void dkv_msg_eoh(struct dkv_msg *m);
/* dkv_msg_body - a body chunk, line ends CRLF or bare LF */
void dkv_msg_body(struct dkv_msg *m, const unsigned char *p, size_t len);
/* dkv_msg_eom - verify; *res is borrowed until dkv_msg_free (n == 0
 * when the message has no signature) */
void dkv_msg_eom(struct dkv_msg *m, const struct dkv_result **res,
    size_t *n);
void dkv_msg_free(struct dkv_msg **mp);

/* dkv_res_name - "none", "pass", "fail", "neutral", "policy",
 * "temperror", "permerror" (RFC 8601 2.7.1) */
const char *dkv_res_name(enum dkv_res r);

#endif
