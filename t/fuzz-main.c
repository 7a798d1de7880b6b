/*
 * fuzz-main.c - replay every fuzz target's corpus, plus deterministic
 * mutations of it, in `make check` (no libFuzzer needed). The real fuzzing
 * builds each fuzz/fuzz-*.c with clang -fsanitize=fuzzer (fuzz/README).
 *
 * usage: fuzz-smoke CORPUS_ROOT [ROUNDS]
 * A crash or a sanitizer report fails the test; surviving is the oracle.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fuzz_authres(const uint8_t *data, size_t size);
int fuzz_config(const uint8_t *data, size_t size);
int fuzz_spf_record(const uint8_t *data, size_t size);
int fuzz_cidr(const uint8_t *data, size_t size);
int fuzz_message(const uint8_t *data, size_t size);
int fuzz_mailaddr(const uint8_t *data, size_t size);
int fuzz_dmarc_record(const uint8_t *data, size_t size);
int fuzz_psl(const uint8_t *data, size_t size);
int fuzz_dkim(const uint8_t *data, size_t size);
int fuzz_dkim_body(const uint8_t *data, size_t size);
int fuzz_dkim_key(const uint8_t *data, size_t size);
int fuzz_arc(const uint8_t *data, size_t size);
int fuzz_mproto(const uint8_t *data, size_t size);
int fuzz_record(const uint8_t *data, size_t size);
int fuzz_rua(const uint8_t *data, size_t size);
int fuzz_smtp_reply(const uint8_t *data, size_t size);

static const struct {
	const char *name;
	int (*fn)(const uint8_t *, size_t);
} targets[] = {
	{"authres", fuzz_authres},
	{"config", fuzz_config},
	{"spf-record", fuzz_spf_record},
	{"cidr", fuzz_cidr},
	{"message", fuzz_message},
	{"mailaddr", fuzz_mailaddr},
	{"dmarc-record", fuzz_dmarc_record},
	{"psl", fuzz_psl},
	{"dkim", fuzz_dkim},
	{"dkim-body", fuzz_dkim_body},
	{"dkim-key", fuzz_dkim_key},
	{"arc", fuzz_arc},
	{"mproto", fuzz_mproto},
	{"record", fuzz_record},
	{"rua", fuzz_rua},
	{"smtp-reply", fuzz_smtp_reply},
};

#define FUZZ_MAX_INPUT (256 * 1024)

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
/* bytes that matter to our parsers */
static const char alphabet[] = "();=\\\"@.:% \t\r\n{}[]x0/,";

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* mutate - flip, insert, delete or duplicate bytes, deterministically */
static size_t
mutate(uint8_t *buf, size_t len, size_t cap)
{
	int edits = 1 + (int)(next() % 8);

	for (int e = 0; e < edits; e++) {
		size_t pos = len ? next() % len : 0;

		switch (next() % 4) {
		case 0:
			if (len)
				buf[pos] ^= (uint8_t)(1u << (next() % 8));
			break;
		case 1:
			if (len < cap) {
				memmove(buf + pos + 1, buf + pos, len - pos);
				buf[pos] = (uint8_t)alphabet[next() % (sizeof(alphabet) - 1)];
				len++;
			}
			break;
		case 2:
			if (len) {
				memmove(buf + pos, buf + pos + 1, len - pos - 1);
				len--;
			}
			break;
		default: {
			size_t n = len - pos < 16 ? len - pos : 16;

			if (len + n <= cap) {
				memmove(buf + pos + n, buf + pos, len - pos);
				len += n;
			}
			break;
		}
		}
	}
	return len;
}

int
main(int argc, char **argv)
{
	const char *root = argc > 1 ? argv[1] : "fuzz/corpus";
	long rounds = argc > 2 ? strtol(argv[2], NULL, 10) : 200;
	uint8_t *buf = malloc(FUZZ_MAX_INPUT * 2), *seed = malloc(FUZZ_MAX_INPUT);
	unsigned long runs = 0, files = 0;

	if (buf == NULL || seed == NULL)
		return 1;
	for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
		char dir[4096];
		DIR *d;
		struct dirent *de;

		snprintf(dir, sizeof(dir), "%s/%s", root, targets[t].name);
		if ((d = opendir(dir)) == NULL) {
			printf("fuzz-smoke: no corpus for %s (%s)\n", targets[t].name, dir);
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			char path[8192];
			FILE *f;
			size_t len;

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if ((f = fopen(path, "rb")) == NULL)
				continue;
			len = fread(seed, 1, FUZZ_MAX_INPUT, f);
			fclose(f);
			files++;
			targets[t].fn(seed, len);
			runs++;
			for (long r = 0; r < rounds; r++) {
				size_t n;

				memcpy(buf, seed, len);
				n = mutate(buf, len, FUZZ_MAX_INPUT * 2);
				targets[t].fn(buf, n);
				runs++;
			}
		}
		closedir(d);
	}
	printf("fuzz-smoke: %lu inputs from %lu corpus files, no crash\n", runs, files);
	printf("fuzz-smoke: %lu passed, 0 failed\n", runs);
	free(buf);
	free(seed);
	return files > 0 ? 0 : 1;
}
