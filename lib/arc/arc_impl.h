/*
 * arc_impl.h - what the files of lib/arc share: the message, the parsed
 * signatures, tag lists, canonicalization, keys and signatures.
 */
#ifndef AM_ARC_IMPL_H
#define AM_ARC_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "arc.h"
#include "dkim_body.h"
#include "util.h"

/* ---- tag lists (RFC 6376 3.2) ---------------------------------------- */
#define ARC_MAX_TAGS 32

struct arc_tag {
	const char *name;    /* points into the parsed text */
	size_t nlen;
	const char *val;     /* the value without surrounding whitespace */
	size_t vlen;
	size_t vstart, vend; /* offsets: after '=', at the ';' or the end */
};

/* arc_tags_parse - a tag-list; 0, or -1 when it is not one (an empty
 * tag-spec, a bad tag name, no '=', a duplicate tag, more than
 * ARC_MAX_TAGS tags) */
int arc_tags_parse(const char *s, size_t len, struct arc_tag *tags,
    size_t *n);
/* arc_tag_find - the tag named name, or NULL */
const struct arc_tag *arc_tag_find(const struct arc_tag *tags, size_t n,
    const char *name);
/* arc_b64_decode - base64 with whitespace skipped; the length, or -1
 * when it is not base64 or does not fit */
long arc_b64_decode(const char *s, size_t len, unsigned char *out,
    size_t outlen);

/* ---- canonicalization (RFC 6376 3.4.1, 3.4.2) -------------------------- */
enum { ARC_CANON_SIMPLE = 0, ARC_CANON_RELAXED = 1 };

/* arc_canon_header - name ":" value of one field in that header
 * canonical form, appended to out, with CRLF when crlf is set. When
 * bstart <= bend, value bytes [bstart, bend) are left out (the b= tag's
 * value). */
void arc_canon_header(struct dynbuf *out, int canon, const char *name,
    const char *value, size_t vlen, size_t bstart, size_t bend, int crlf);
/* arc_name_is - a header name equal to word, ignoring ASCII case and
 * whitespace after the name */
int arc_name_is(const char *name, const char *word);

/* ---- the message ------------------------------------------------------- */
enum arc_kind { ARC_AS = 0, ARC_AMS = 1, ARC_AAR = 2 };
enum arc_alg { ARC_ALG_RSA_SHA256 = 0, ARC_ALG_ED25519_SHA256 };

struct arc_hdr {
	char *name;
	char *value;
	size_t vlen;
};

/* a parsed ARC-Seal or ARC-Message-Signature */
struct arc_sig {
	size_t hdr;         /* index in the message's fields */
	int ok;             /* parsed and valid */
	int verified;       /* AMS: its signature and body hash verified */
	char why[96];       /* why not */
	enum arc_alg alg;
	unsigned char *b;   /* decoded b= (arena) */
	size_t blen;
	size_t bstart, bend; /* b='s value in the field's value */
	unsigned char bh[64];
	size_t bhlen;
	int hcanon, bcanon;
	long long l;        /* l=, -1 without */
	char d[DNAME_BUFSIZE];
	char s[64];
	char *h;            /* h= (AMS), arena */
	enum arc_res cv;    /* AS */
	struct dkv_bh *bhash; /* AMS: its body hasher (owned by the message) */
};

struct arc_set {
	int have[3];        /* how many of AS, AMS, AAR */
	size_t idx[3];      /* field index of each */
	struct arc_sig as, ams;
	const char *aar;    /* after "i=N;" */
};

#define ARC_MAX_HASHERS 4
#define ARC_KEY_CACHE 8

struct arc_key {
	char name[DNAME_BUFSIZE + 80];
	enum arc_alg alg;   /* the key was decoded for this a= */
	int status;         /* 0 ok, 1 permanent failure, 2 temporary */
	char why[160];
	EVP_PKEY *pk;
	unsigned bits;
};

struct arc_verifier {
	struct dns_resolver *dns;
	unsigned min_rsa_bits;
	struct dkv_bh_algs *algs;
	EVP_MD *sha256;
};

struct arc_msg {
	struct arc_verifier *v;
	struct arena *arena;
	struct arc_hdr *hdrs;
	size_t nhdrs, caphdrs;
	size_t arc_idx[ARC_MAX_HEADERS];
	unsigned char arc_kind[ARC_MAX_HEADERS];
	size_t narc;
	int too_many;       /* more than ARC_MAX_HEADERS ARC fields */
	int want_seal, eoh, eom;
	int decided;        /* the result is known at eoh */
	enum arc_res result;
	char reason[160];
	unsigned n;         /* highest instance (0: none) */
	int newest_cv_fail;
	struct arc_set *sets; /* sets[0] is i=1; n of them (arena) */
	struct dkv_bh *hashers[ARC_MAX_HASHERS];
	size_t nhashers;
	struct dkv_bh *seal_bh; /* relaxed, no l=, for sealing */
	unsigned oldest_pass;
	struct arc_key keys[ARC_KEY_CACHE];
	size_t nkeys;
	struct dynbuf buf;  /* canonical text being hashed */
};

/* arc_parse_sig - parse the AS or AMS of a set into sig (ok, why) */
void arc_parse_sig(struct arc_msg *m, enum arc_kind kind, unsigned i,
    struct arc_sig *sig);
/* arc_verify_chain - arc_msg_eom's work past the structure (arc_verify.c) */
void arc_verify_chain(struct arc_msg *m, const struct timespec *deadline);
/* arc_sig_check - whether sig verifies digest with pk; 1 yes */
int arc_sig_check(const EVP_MD *md, EVP_PKEY *pk, enum arc_alg alg,
    const unsigned char *sig, size_t siglen, const unsigned char *digest,
    size_t dlen);
/* arc_header_digest - SHA-256 of the AMS's signed header fields (its h=
 * bottom-up over fields[0..n), then the AMS field itself with b= left
 * out) into out (32 bytes); the AMS field is name/value/vlen; extra, when
 * not NULL, is a field above the message's (the new AAR of a seal) */
void arc_header_digest(struct arc_msg *m, const struct arc_hdr *fields,
    size_t n, const struct arc_hdr *extra, const char *h, int hcanon,
    const struct arc_hdr *self, size_t bstart, size_t bend,
    unsigned char *out);

#endif
