/*
 * arc.h - ARC (RFC 8617): verification of the ARC set chain (5.2) and
 * sealing (5.1), on OpenSSL, lib/dkim's body canonicalizer and our
 * resolver; no libopendkim.
 *
 * One struct arc_verifier per process (made before threads start, then
 * shared read-only); one struct arc_msg per message, fed as the message
 * arrives: every header field, end of headers, body chunks, then
 * arc_msg_eom() validates the chain. At end of headers the message knows
 * whether it has ARC header fields at all and whether their structure
 * holds; a message without any (and without sealing) hashes no body and
 * allocates nothing per body chunk. A structural error is final at once:
 * at most ARC_MAX_HEADERS ARC fields are read, so 1,000 ARC fields or 50
 * instances cost bounded work. Keys (DKIM key records, RFC 6376 3.6.1, at
 * <s>._domainkey.<d>) come through dns_query_until() with the message's
 * deadline: NXDOMAIN or no usable key fails that signature (the chain
 * fails), SERVFAIL or a timeout is ARC_RES_TEMPERROR.
 *
 * Sealing: arc_msg_want_seal() before arc_msg_eoh() makes the message
 * hash the body for the AMS (relaxed) while it streams; arc_msg_seal()
 * after arc_msg_eom() builds the three fields of instance N+1.
 */
#ifndef AM_ARC_H
#define AM_ARC_H

#include <stddef.h>
#include <time.h>

#include "dname.h"

#define ARC_MAX_INSTANCES 50
/* more ARC header fields than this cannot be a valid chain (three per
 * instance): the chain fails without reading further */
#define ARC_MAX_HEADERS (3 * ARC_MAX_INSTANCES)

enum arc_res {
	ARC_RES_NONE,
	ARC_RES_PASS,
	ARC_RES_FAIL,
	ARC_RES_TEMPERROR,
	ARC_RES_PERMERROR,
};

struct arc_instance {
	unsigned i;
	enum arc_res cv;                 /* the cv= the sealer wrote (NONE/PASS/FAIL) */
	char seal_domain[DNAME_BUFSIZE]; /* ARC-Seal d= */
	char seal_selector[64];
	int ams_valid;    /* its AMS verified (known for the newest; others
	                     only when checked) */
	const char *aar;  /* the ARC-Authentication-Results value after
	                     "i=N;" (owned by the message) */
};

struct arc_result {
	enum arc_res result;  /* the chain validation (cv) of 5.2 */
	unsigned n;           /* instances found (0: none) */
	unsigned oldest_pass; /* header.oldest-pass (0: all AMS pass or not
	                         computed) */
	char reason[160];     /* plain words: "ARC-Seal i=2 signature mismatch" */
	struct arc_instance inst[ARC_MAX_INSTANCES]; /* inst[0] is i=1 */
};

struct arc_opts {
	unsigned min_rsa_bits; /* smaller RSA keys fail; 0: 1024 (RFC 8301) */
};

struct arc_verifier;
struct arc_msg;
struct dns_resolver;

/* arc_verifier_new - NULL with err filled when OpenSSL lacks SHA-256 */
struct arc_verifier *arc_verifier_new(struct dns_resolver *dns,
    const struct arc_opts *o, char *err, size_t errlen);
void arc_verifier_free(struct arc_verifier **vp);

struct arc_msg *arc_msg_new(struct arc_verifier *v);
/* arc_msg_header - every header field of the message, in order, as the
 * milter gets them (name without colon, value as received: leading space
 * kept, folding as CRLF or bare LF kept) */
void arc_msg_header(struct arc_msg *m, const char *name, const char *value);
/* arc_msg_want_seal - this message may be sealed: hash the body for an
 * AMS (c=relaxed/relaxed) while it streams. Before arc_msg_eoh(). */
void arc_msg_want_seal(struct arc_msg *m);
void arc_msg_eoh(struct arc_msg *m);
/* arc_msg_body - a body chunk, line ends CRLF or bare LF */
void arc_msg_body(struct arc_msg *m, const unsigned char *p, size_t n);
/* arc_msg_eom - validate (5.2); deadline: CLOCK_MONOTONIC limit for key
 * lookups (NULL: the resolver's timeout alone). out may be NULL (the
 * result is kept for arc_msg_seal); returns out->result. */
enum arc_res arc_msg_eom(struct arc_msg *m, const struct timespec *deadline,
    struct arc_result *out);
void arc_msg_free(struct arc_msg **mp);
/* arc_res_name - "none", "pass", "fail", "temperror", "permerror" */
const char *arc_res_name(enum arc_res r);

/* ---- sealing (RFC 8617 5.1) ------------------------------------------- */
struct arc_sealer; /* domain, selector, private key (rsa or ed25519) */

/* arc_sealer_new - read a PEM private key file (RSA: rsa-sha256, Ed25519:
 * ed25519-sha256); NULL with err naming the file when it is missing,
 * unreadable or not such a key, or domain/selector are not names */
struct arc_sealer *arc_sealer_new(const char *domain, const char *selector,
    const char *key_file, char *err, size_t errlen);
void arc_sealer_free(struct arc_sealer **sp);

/* arc_msg_seal - the three header fields of instance N+1, after
 * arc_msg_eom() on the same message (which must have had
 * arc_msg_want_seal() before its end of headers). Each is "Name: value"
 * folded with CRLF + TAB, without a final CRLF, allocated (caller frees):
 * out[0] ARC-Seal, out[1] ARC-Message-Signature, out[2]
 * ARC-Authentication-Results. aar: the authres payload after the
 * authserv-id ("spf=pass smtp.mailfrom=..."); sig_headers: the header
 * names the AMS signs, colon-separated (NULL: the default set, those of
 * from, to, cc, subject, date, message-id, reply-to, in-reply-to,
 * references, mime-version, content-type, content-transfer-encoding,
 * list-id present in the message); t: the timestamp (t=).
 * cv= is the verification's: none (no chain), pass, or fail (a fail
 * seal signs only its own set, 5.1.2).
 * Returns 0 with out[] set; 0 with out[] all NULL and err saying why when
 * RFC 8617 says not to seal (the newest set already has cv=fail, 50 sets
 * already, or the validation was a temperror); -1 with err on an error. */
int arc_msg_seal(struct arc_msg *m, const struct arc_sealer *s,
    const char *authserv_id, const char *aar, const char *sig_headers,
    time_t t, char *out[3], char *err, size_t errlen);

#endif
