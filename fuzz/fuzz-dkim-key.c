/*
 * fuzz-dkim-key.c - our d2i_PUBKEY_bio() (lib/dkim/dkim_key.c) against
 * OpenSSL's d2i_PUBKEY() on arbitrary bytes: both refuse or both give an
 * equal key, twice in a row (the second time from the kept key), and the
 * memory BIO is advanced exactly past the object.
 */
#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_dkim_key
#endif
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dkim_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	EVP_PKEY *want;

	if (size > 4096)
		return 0;
	dkv_key_cache_enable();
	want = d2i_PUBKEY(NULL, &p, (long)size);
	for (int round = 0; round < 2; round++) {
		BIO *b = BIO_new_mem_buf(data, (int)size);
		EVP_PKEY *got;

		if (b == NULL)
			break;
		got = d2i_PUBKEY_bio(b, NULL);
		if ((got == NULL) != (want == NULL))
			abort();
		if (got != NULL && EVP_PKEY_eq(got, want) != 1)
			abort();
		/* what is left in the BIO is what OpenSSL did not consume */
		if (got != NULL && BIO_pending(b) != (int)(size - (size_t)(p - data)))
			abort();
		EVP_PKEY_free(got);
		BIO_free(b);
	}
	EVP_PKEY_free(want);
	return 0;
}
