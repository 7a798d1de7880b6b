/*
 * dkim_key.h - decoded DKIM RSA public keys, kept between messages
 * (see dkim_key.c for why this replaces OpenSSL's d2i_PUBKEY_bio).
 */
#ifndef AM_DKIM_KEY_H
#define AM_DKIM_KEY_H

struct dkv_key_stats {
	unsigned long hits;      /* decoded key reused */
	unsigned long misses;    /* decoded by us and kept */
	unsigned long passed;    /* not an RSA key or not a memory BIO: OpenSSL decoded it */
};

/* dkv_key_cache_enable - make sure the cache is linked in and ready and
 * its counters registered (dkim_keys_reused_total, dkim_keys_decoded_total,
 * dkim_keys_passed_total); call once before threads start
 * (dkv_verifier_new does) */
void dkv_key_cache_enable(void);
/* dkv_key_cache_stats - counters since start (the registry's) */
void dkv_key_cache_stats(struct dkv_key_stats *s);

#endif
