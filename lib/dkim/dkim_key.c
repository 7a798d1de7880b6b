/*
 * dkim_key.c - decoded DKIM RSA public keys, kept between messages.
 *
 * The trap (shared/LIBRARY-TRAPS.md, libopendkim): libopendkim turns the
 * p= of a key record into an EVP_PKEY with d2i_PUBKEY_bio() for every
 * signature of every message. In OpenSSL 3.0 that call goes through the
 * provider decoder framework: 95 us for an RSA-2048 key on this machine,
 * against 14 us for the verification itself, and the first verification
 * with a fresh key adds ~20 us to set up its Montgomery context. Measured
 * with a loop over one key (decode + verify 118 us; verify with a kept key
 * 14 us). libopendkim has no way to be handed a decoded key, so this file
 * defines d2i_PUBKEY_bio() in the program itself: the dynamic linker binds
 * libopendkim's call to the program's definition before libcrypto's.
 *
 * What it does: for a memory BIO holding an RSA SubjectPublicKeyInfo, the
 * DER bytes are the key's identity. A key seen before is returned from a
 * table with one more reference; a new one is decoded with
 * d2i_RSA_PUBKEY() (OpenSSL's legacy ASN.1 path, 2.4 us), wrapped in an
 * EVP_PKEY and kept. Anything else (another key type, a non-memory BIO, a
 * caller asking for *a to be filled, DER the RSA decoder refuses) goes to
 * OpenSSL's own d2i_PUBKEY_bio() untouched, so results never change: the
 * same bytes give an equal key or the same NULL. The key record is still
 * fetched and parsed for every message (revocation with an empty p= works
 * as before); only the decoding of identical bytes is skipped.
 *
 * Sharing: a kept EVP_PKEY is only read: libopendkim calls
 * EVP_PKEY_get1_RSA() (a reference on the legacy RSA), RSA_verify()
 * (public operation; OpenSSL sets the Montgomery context up under the
 * key's lock) and frees its references. The table has 64 sets of 4 slots;
 * a hash of the DER picks the set. A new key takes an empty slot of its set,
 * else the one used longest ago (the old EVP_PKEY lives on while borrowers
 * hold references). Four ways, not one: with one slot per hash, two keys a
 * site sees all day could share a slot and evict each other on every
 * message (random test keys did, about one run in a hundred). At most 256
 * keys of ~3 KB.
 *
 * Counters: keys decoded by us, reused, and passed on to OpenSSL are
 * process-wide counters of the stats registry (dkim_keys_*_total);
 * dkv_key_cache_stats() reads the same counters.
 */
/* dlvsym and RTLD_NEXT need _GNU_SOURCE: config.h (AC_USE_SYSTEM_EXTENSIONS) */
#define OPENSSL_SUPPRESS_DEPRECATED /* RSA/EVP_PKEY_assign_RSA: the fast path */

#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "dkim_key.h"
#include "stats.h"
#include "util.h"

#define KEY_SETS 64
#define KEY_WAYS 4
#define KEY_DER_MAX 2048 /* an RSA-8192 SubjectPublicKeyInfo is ~1,060 bytes */

struct key_slot {
	uint64_t used; /* key_clock when last found or stored */
	uint32_t hash;
	size_t len;
	unsigned char *der;
	EVP_PKEY *pkey;
};

typedef EVP_PKEY *(*d2i_fn)(BIO *, EVP_PKEY **);

static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;
static struct key_slot key_table[KEY_SETS][KEY_WAYS];
static uint64_t key_clock;
static struct stats_metric keys_reused = STATS_COUNTER(
    "dkim_keys_reused_total", "DKIM RSA keys served decoded from the cache");
static struct stats_metric keys_decoded = STATS_COUNTER(
    "dkim_keys_decoded_total", "DKIM RSA keys decoded and kept in the cache");
static struct stats_metric keys_passed = STATS_COUNTER(
    "dkim_keys_passed_total",
    "DKIM keys decoded by OpenSSL (not RSA, or not a memory BIO)");
static pthread_once_t real_once = PTHREAD_ONCE_INIT;
static d2i_fn real_d2i;

static void
find_real(void)
{
	void *p = dlvsym(RTLD_NEXT, "d2i_PUBKEY_bio", "OPENSSL_3.0.0");

	if (p == NULL)
		p = dlsym(RTLD_NEXT, "d2i_PUBKEY_bio");
	memcpy(&real_d2i, &p, sizeof(p));
}

static EVP_PKEY *
pass_on(BIO *bp, EVP_PKEY **a)
{
	pthread_once(&real_once, find_real);
	stats_inc(&keys_passed);
	return real_d2i != NULL ? real_d2i(bp, a) : NULL;
}

/* der_length - the length of the DER object at p (tag, length, content),
 * or 0 when it is not one that fits in n bytes */
static size_t
der_length(const unsigned char *p, size_t n)
{
	size_t len, hdr;

	if (n < 2 || p[0] != 0x30) /* SEQUENCE */
		return 0;
	if (p[1] < 0x80) {
		len = p[1];
		hdr = 2;
	} else if (p[1] == 0x81 && n >= 3) {
		len = p[2];
		hdr = 3;
	} else if (p[1] == 0x82 && n >= 4) {
		len = ((size_t)p[2] << 8) | p[3];
		hdr = 4;
	} else {
		return 0;
	}
	return hdr + len <= n ? hdr + len : 0;
}

/*
 * d2i_PUBKEY_bio - OpenSSL's interface (see the top of this file): a new
 * reference the caller frees with EVP_PKEY_free(), or NULL; the BIO is
 * advanced past the object it decoded.
 */
EVP_PKEY *
d2i_PUBKEY_bio(BIO *bp, EVP_PKEY **a)
{
	const unsigned char *data, *p;
	unsigned char skip[KEY_DER_MAX];
	struct key_slot *set, *s;
	EVP_PKEY *pkey = NULL;
	RSA *rsa;
	long avail;
	size_t len;
	uint32_t h;

	if (a != NULL || bp == NULL || BIO_method_type(bp) != BIO_TYPE_MEM)
		return pass_on(bp, a);
	avail = BIO_get_mem_data(bp, (char **)&data);
	if (avail <= 0 || data == NULL)
		return pass_on(bp, a);
	len = der_length(data, (size_t)avail);
	if (len == 0 || len > KEY_DER_MAX)
		return pass_on(bp, a);
	h = mem_hash(data, len);
	set = key_table[h % KEY_SETS];

	pthread_mutex_lock(&key_lock);
	for (int i = 0; i < KEY_WAYS; i++) {
		s = &set[i];
		if (s->pkey != NULL && s->hash == h && s->len == len &&
		    memcmp(s->der, data, len) == 0 &&
		    EVP_PKEY_up_ref(s->pkey) == 1) {
			s->used = ++key_clock;
			pkey = s->pkey;
			break;
		}
	}
	pthread_mutex_unlock(&key_lock);

	if (pkey != NULL) {
		stats_inc(&keys_reused);
	} else {
		p = data;
		rsa = d2i_RSA_PUBKEY(NULL, &p, (long)len);
		if (rsa == NULL)
			return pass_on(bp, a); /* not RSA: OpenSSL decides */
		if ((size_t)(p - data) != len || (pkey = EVP_PKEY_new()) == NULL) {
			RSA_free(rsa);
			return pass_on(bp, a);
		}
		if (EVP_PKEY_assign_RSA(pkey, rsa) != 1) {
			RSA_free(rsa);
			EVP_PKEY_free(pkey);
			return pass_on(bp, a);
		}
		pthread_mutex_lock(&key_lock);
		s = &set[0]; /* an empty slot, else the one used longest ago */
		for (int i = 1; i < KEY_WAYS && s->pkey != NULL; i++)
			if (set[i].pkey == NULL || set[i].used < s->used)
				s = &set[i];
		if (EVP_PKEY_up_ref(pkey) == 1) {
			EVP_PKEY_free(s->pkey); /* borrowers keep their references */
			free(s->der);
			s->der = xmalloc(len);
			memcpy(s->der, data, len);
			s->len = len;
			s->hash = h;
			s->pkey = pkey;
			s->used = ++key_clock;
		}
		pthread_mutex_unlock(&key_lock);
		stats_inc(&keys_decoded);
	}
	/* consume the object, as OpenSSL's decoder would */
	if (BIO_read(bp, skip, (int)len) != (int)len) {
		/* a memory BIO gives what BIO_get_mem_data showed */
	}
	return pkey;
}

void
dkv_key_cache_enable(void)
{
	pthread_once(&real_once, find_real);
	stats_register(&keys_reused);
	stats_register(&keys_decoded);
	stats_register(&keys_passed);
}

void
dkv_key_cache_stats(struct dkv_key_stats *s)
{
	s->hits = (unsigned long)stats_value(&keys_reused);
	s->misses = (unsigned long)stats_value(&keys_decoded);
	s->passed = (unsigned long)stats_value(&keys_passed);
}
