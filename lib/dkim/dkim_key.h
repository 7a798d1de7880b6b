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

/* dkv_key_cache_enable - make sure the cache is linked in and ready; call
 * once before threads start (dkv_verifier_new does) */
void dkv_key_cache_enable(void);
/* dkv_key_cache_stats - counters since start */
void dkv_key_cache_stats(struct dkv_key_stats *s);

#endif
