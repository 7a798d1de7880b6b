/*
 * test-dkim-body.c - lib/dkim/dkim_body.c: body canonicalization and hash.
 *
 * Each named case gives a body and its canonical form (RFC 6376 3.4.3,
 * 3.4.4, with the 3.4.5 examples); the digest must be the SHA-256 of that
 * form whether the body is fed whole, a byte at a time, or split at every
 * one or two places (inside CRLF, inside WSP runs), and with its CRLFs
 * written as bare LF. l= limits shorter, equal and longer than the
 * canonical body, SHA-1, and a long generated body checked against a
 * plain (non-streaming) reference canonicalizer round it off.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dkim_body.h"
#include "tap.h"
#include "util.h"

static struct dkv_bh_algs *algs;

/* ours - digest of body fed at the given cut points (sorted, < len) */
static size_t
ours(enum dkv_bh_canon c, enum dkv_bh_hash hh, long long limit,
    const unsigned char *p, size_t len, const size_t *cuts, size_t ncuts,
    unsigned char *out, uint64_t *clen)
{
	struct dkv_bh *h = dkv_bh_new(algs, c, hh, limit);
	size_t from = 0, l;

	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;

		dkv_bh_update(h, p + from, to - from);
		from = to;
	}
	l = dkv_bh_final(h, out, clen);
	dkv_bh_free(&h);
	return l;
}

static size_t
want_digest(enum dkv_bh_hash hh, const char *canon, size_t len,
    long long limit, unsigned char *out)
{
	unsigned int l = 0;

	if (limit >= 0 && (size_t)limit < len)
		len = (size_t)limit;
	EVP_Digest(canon, len, out, &l,
	    hh == DKV_BH_SHA1 ? EVP_sha1() : EVP_sha256(), NULL);
	return l;
}

struct ccase {
	const char *name;
	enum dkv_bh_canon canon;
	const char *in;
	const char *out;
};

static const struct ccase cases[] = {
	/* RFC 6376 3.4.5 */
	{ "3.4.5 simple", DKV_BH_SIMPLE, " C \r\nD \t E\r\n\r\n\r\n",
	    " C \r\nD \t E\r\n" },
	{ "3.4.5 relaxed", DKV_BH_RELAXED, " C \r\nD \t E\r\n\r\n\r\n",
	    " C\r\nD E\r\n" },
	/* 3.4.3: an empty body is CRLF; 3.4.4: it stays empty */
	{ "simple empty", DKV_BH_SIMPLE, "", "\r\n" },
	{ "relaxed empty", DKV_BH_RELAXED, "", "" },
	{ "simple only empty lines", DKV_BH_SIMPLE, "\r\n\r\n\r\n", "\r\n" },
	{ "relaxed only empty lines", DKV_BH_RELAXED, "\r\n\r\n\r\n", "" },
	{ "simple trailing empty lines", DKV_BH_SIMPLE, "a\r\n\r\n\r\n",
	    "a\r\n" },
	{ "relaxed trailing empty lines", DKV_BH_RELAXED, "a\r\n\r\n\r\n",
	    "a\r\n" },
	{ "simple inner empty lines", DKV_BH_SIMPLE, "a\r\n\r\n\r\nb\r\n",
	    "a\r\n\r\n\r\nb\r\n" },
	{ "relaxed inner empty lines", DKV_BH_RELAXED,
	    "a\r\n\r\n\r\n b\r\n", "a\r\n\r\n\r\n b\r\n" },
	{ "simple no final CRLF", DKV_BH_SIMPLE, "a\r\nb", "a\r\nb\r\n" },
	{ "relaxed no final CRLF", DKV_BH_RELAXED, "a  b", "a b\r\n" },
	{ "relaxed trailing WSP, no final CRLF", DKV_BH_RELAXED, "a \t",
	    "a\r\n" },
	/* whitespace-only lines: lines under simple, empty under relaxed */
	{ "simple WSP-only lines", DKV_BH_SIMPLE, " \r\n\t\r\n",
	    " \r\n\t\r\n" },
	{ "relaxed WSP-only lines", DKV_BH_RELAXED, " \r\n\t \r\n  \t\r\n",
	    "" },
	{ "relaxed WSP-only lines then text", DKV_BH_RELAXED,
	    " \r\n\t\r\nx\r\n", "\r\n\r\nx\r\n" },
	{ "relaxed trailing WSP-only lines", DKV_BH_RELAXED,
	    "a\r\n \r\n\t\r\n\r\n", "a\r\n" },
	{ "relaxed tabs and runs", DKV_BH_RELAXED,
	    "\ta\t\tb  c \t d   \r\n", " a b c d\r\n" },
	{ "relaxed single spaces kept", DKV_BH_RELAXED,
	    "Hello, this is a test.\r\nTwo lines.\r\n",
	    "Hello, this is a test.\r\nTwo lines.\r\n" },
	/* a CR not followed by LF is an ordinary byte */
	{ "simple lone CR", DKV_BH_SIMPLE, "a\rb\r\n", "a\rb\r\n" },
	{ "relaxed lone CR", DKV_BH_RELAXED, "a \r  b\r\n", "a \r b\r\n" },
	{ "simple CR at the end", DKV_BH_SIMPLE, "a\r", "a\r\r\n" },
	{ "relaxed CR at the end", DKV_BH_RELAXED, "a \r", "a \r\r\n" },
	{ "simple CR CR LF", DKV_BH_SIMPLE, "a\r\r\nb\r\n", "a\r\r\nb\r\n" },
	{ "relaxed CR CR LF", DKV_BH_RELAXED, "a\r\r\n\r\n", "a\r\r\n" },
	/* bare LF is a line end */
	{ "simple bare LF", DKV_BH_SIMPLE, "a\nb\n\n", "a\r\nb\r\n" },
	{ "relaxed bare LF", DKV_BH_RELAXED, "a \nb\t\n\n \n", "a\r\nb\r\n" },
	{ "simple mixed line ends", DKV_BH_SIMPLE, "a\r\n\nb\n\r\nc",
	    "a\r\n\r\nb\r\n\r\nc\r\n" },
};

/* lf_form - s with every CRLF written as LF; 0 when that would change
 * its meaning (a CR right before a CRLF) */
static int
lf_form(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	if (strstr(s, "\r\r\n") != NULL)
		return 0;
	for (; *s != '\0' && o + 1 < outlen; s++) {
		if (s[0] == '\r' && s[1] == '\n')
			continue;
		out[o++] = *s;
	}
	out[o] = '\0';
	return 1;
}

static void
case_tests(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ccase *c = &cases[i];
		const unsigned char *in = (const unsigned char *)c->in;
		size_t len = strlen(c->in), olen = strlen(c->out), bad = 0;
		unsigned char w[64], g[64];
		uint64_t clen = 0;
		size_t cuts[64], wl;
		char lf[128];

		wl = want_digest(DKV_BH_SHA256, c->out, olen, -1, w);
		ours(c->canon, DKV_BH_SHA256, -1, in, len, NULL, 0, g, &clen);
		ok(memcmp(g, w, wl) == 0, "%s: whole", c->name);
		is_int(clen, olen, "%s: canonical length", c->name);
		/* one byte at a time */
		for (size_t k = 1; k < len; k++)
			cuts[k - 1] = k;
		ours(c->canon, DKV_BH_SHA256, -1, in, len, cuts,
		    len > 0 ? len - 1 : 0, g, NULL);
		ok(memcmp(g, w, wl) == 0, "%s: 1-byte chunks", c->name);
		/* every split into two and three chunks, empty chunks too */
		for (size_t a = 0; a <= len; a++) {
			for (size_t b = a; b <= len; b++) {
				cuts[0] = a;
				cuts[1] = b;
				ours(c->canon, DKV_BH_SHA256, -1, in, len, cuts, 2,
				    g, &clen);
				if (memcmp(g, w, wl) != 0 || clen != olen)
					bad++;
			}
		}
		is_int(bad, 0, "%s: every 2- and 3-way split", c->name);
		/* bare LF for CRLF */
		if (lf_form(c->in, lf, sizeof(lf))) {
			size_t ll = strlen(lf);

			bad = 0;
			for (size_t a = 0; a <= ll; a++) {
				cuts[0] = a;
				ours(c->canon, DKV_BH_SHA256, -1,
				    (const unsigned char *)lf, ll, cuts, 1, g, &clen);
				if (memcmp(g, w, wl) != 0 || clen != olen)
					bad++;
			}
			is_int(bad, 0, "%s: bare LF, every split", c->name);
		}
	}
}

static void
limit_tests(void)
{
	static const struct {
		const char *name;
		enum dkv_bh_canon canon;
		const char *in, *out;
		long long limit;
	} lc[] = {
		{ "l=0 relaxed", DKV_BH_RELAXED, "a  b\r\n", "a b\r\n", 0 },
		{ "l shorter, relaxed", DKV_BH_RELAXED, "a  b\r\nc\r\n",
		    "a b\r\nc\r\n", 4 },
		{ "l equal, relaxed", DKV_BH_RELAXED, "a  b\r\nc\r\n",
		    "a b\r\nc\r\n", 8 },
		{ "l longer, relaxed", DKV_BH_RELAXED, "a  b\r\nc\r\n",
		    "a b\r\nc\r\n", 100 },
		{ "l shorter, simple", DKV_BH_SIMPLE, "a  b\r\nc\r\n\r\n",
		    "a  b\r\nc\r\n", 3 },
		{ "l equal, simple", DKV_BH_SIMPLE, "a  b\r\nc\r\n\r\n",
		    "a  b\r\nc\r\n", 9 },
		{ "l longer, simple", DKV_BH_SIMPLE, "a  b\r\nc\r\n\r\n",
		    "a  b\r\nc\r\n", 10 },
		{ "l=2 empty simple", DKV_BH_SIMPLE, "", "\r\n", 2 },
		{ "l=1 empty relaxed", DKV_BH_RELAXED, "", "", 1 },
	};

	for (size_t i = 0; i < sizeof(lc) / sizeof(lc[0]); i++) {
		const unsigned char *in = (const unsigned char *)lc[i].in;
		size_t len = strlen(lc[i].in), olen = strlen(lc[i].out), bad = 0;
		unsigned char w[64], g[64];
		uint64_t clen;
		size_t wl, cut;

		wl = want_digest(DKV_BH_SHA256, lc[i].out, olen, lc[i].limit, w);
		for (cut = 0; cut <= len; cut++) {
			ours(lc[i].canon, DKV_BH_SHA256, lc[i].limit, in, len, &cut,
			    1, g, &clen);
			if (memcmp(g, w, wl) != 0 || clen != olen)
				bad++;
		}
		is_int(bad, 0, "%s: digest of the first %lld bytes", lc[i].name,
		    lc[i].limit);
	}
}

static void
sha1_test(void)
{
	unsigned char w[64], g[64];
	size_t wl, gl;

	wl = want_digest(DKV_BH_SHA1, " C\r\nD E\r\n", 9, -1, w);
	gl = ours(DKV_BH_RELAXED, DKV_BH_SHA1, -1,
	    (const unsigned char *)" C \r\nD \t E\r\n\r\n\r\n", 16, NULL, 0, g,
	    NULL);
	ok(wl == 20 && gl == 20 && memcmp(g, w, 20) == 0, "sha1 relaxed");
	gl = ours(DKV_BH_SIMPLE, DKV_BH_SHA1, -1, (const unsigned char *)"",
	    0, NULL, 0, g, NULL);
	wl = want_digest(DKV_BH_SHA1, "\r\n", 2, -1, w);
	/* RFC 6376 3.4.3: the SHA-1 of CRLF, uoq1oCgLlTqpdDX/iUbLy7J1Wic= */
	ok(gl == 20 && memcmp(g, w, 20) == 0, "sha1 simple empty body");
}

/* ---- long bodies against a plain reference -------------------------- */

/* ref_canon - RFC 6376 3.4.3/3.4.4 over a whole body, bare LF as CRLF */
static size_t
ref_canon(enum dkv_bh_canon c, const unsigned char *in, size_t len,
    unsigned char *out)
{
	size_t o = 0, keep = 0, i = 0;

	while (i < len) {
		size_t s = i, e, ls;
		int term;

		while (i < len && in[i] != '\n')
			i++;
		term = i < len;
		e = i;
		if (term && e > s && in[e - 1] == '\r')
			e--;
		if (term)
			i++;
		ls = o;
		if (c == DKV_BH_SIMPLE) {
			memcpy(out + o, in + s, e - s);
			o += e - s;
		} else {
			int ws = 0;

			for (size_t k = s; k < e; k++) {
				if (in[k] == ' ' || in[k] == '\t') {
					ws = 1;
					continue;
				}
				if (ws)
					out[o++] = ' ';
				ws = 0;
				out[o++] = in[k];
			}
		}
		out[o++] = '\r';
		out[o++] = '\n';
		/* the end of the last line that has content */
		if (o - ls > 2)
			keep = o;
	}
	/* trailing empty lines go; simple keeps one CRLF for an empty body */
	o = keep;
	if (o == 0 && c == DKV_BH_SIMPLE) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	return o;
}

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void
long_tests(void)
{
	static const char alpha[] = "abcdefghij  \t\t\r\n\n\r\n.,-";
	const size_t len = 100000;
	unsigned char *in = xmalloc(len), *ref = xmalloc(3 * len + 4);
	static const size_t steps[] = { 1, 2, 3, 7, 64, 511, 4096, 65536, 0 };

	for (int round = 0; round < 4; round++) {
		for (size_t i = 0; i < len; i++) {
			/* mostly words and single spaces, some runs */
			unsigned r = rnd(100);

			if (round == 3 && r < 50)
				in[i] = r < 40 ? '\n' : '\r';
			else
				in[i] = r < 70 ? (unsigned char)('a' + r % 26) :
				    (unsigned char)alpha[rnd(sizeof(alpha) - 1)];
		}
		if (round == 1)
			memcpy(in + len - 6, "\r\n \r\n\n", 6);
		for (int c = 0; c < 2; c++) {
			enum dkv_bh_canon cn = c ? DKV_BH_RELAXED : DKV_BH_SIMPLE;
			size_t rl = ref_canon(cn, in, len, ref), bad = 0;
			unsigned char w[64], g[64];
			size_t wl = want_digest(DKV_BH_SHA256, (const char *)ref, rl,
			    -1, w);

			for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
				struct dkv_bh *h = dkv_bh_new(algs, cn, DKV_BH_SHA256,
				    -1);
				size_t step = steps[s] ? steps[s] : len;
				uint64_t clen;

				for (size_t o = 0; o < len; o += step)
					dkv_bh_update(h, in + o,
					    len - o < step ? len - o : step);
				dkv_bh_final(h, g, &clen);
				dkv_bh_free(&h);
				if (memcmp(g, w, wl) != 0 || clen != rl)
					bad++;
			}
			is_int(bad, 0, "generated body %d %s: every chunk size", round,
			    c ? "relaxed" : "simple");
		}
	}
	free(in);
	free(ref);
}

/* clean_tests - the eight-bytes-at-a-time fast path of relaxed: a TAB,
 * a double space or trailing WSP at every offset of a 40-byte line */
static void
clean_tests(void)
{
	static const char *const ins[] = { "  ", "\t", " \t", "\t " };
	size_t bad = 0, runs = 0;

	for (size_t v = 0; v < sizeof(ins) / sizeof(ins[0]); v++) {
		for (size_t at = 0; at <= 40; at++) {
			unsigned char in[64], ref[160], w[64], g[64];
			size_t il = strlen(ins[v]), n = 0, rl, wl;
			uint64_t clen;

			for (size_t k = 0; k < 40; k++) {
				if (k == at) {
					memcpy(in + n, ins[v], il);
					n += il;
				}
				in[n++] = k % 5 == 4 ? ' ' : (unsigned char)('a' + k % 26);
			}
			if (at == 40) {
				memcpy(in + n, ins[v], il);
				n += il;
			}
			in[n++] = '\r';
			in[n++] = '\n';
			rl = ref_canon(DKV_BH_RELAXED, in, n, ref);
			wl = want_digest(DKV_BH_SHA256, (const char *)ref, rl, -1, w);
			for (size_t cut = 0; cut <= n; cut += 3) {
				ours(DKV_BH_RELAXED, DKV_BH_SHA256, -1, in, n, &cut, 1,
				    g, &clen);
				runs++;
				if (memcmp(g, w, wl) != 0 || clen != rl)
					bad++;
			}
		}
	}
	is_int(bad, 0, "relaxed fast path: WSP at every offset (%zu runs)",
	    runs);
}

static void
misc_tests(void)
{
	struct dkv_bh *h = dkv_bh_new(NULL, DKV_BH_RELAXED, DKV_BH_SHA256, 5);
	unsigned char a[64], b[64];

	ok(dkv_bh_same(h, DKV_BH_RELAXED, DKV_BH_SHA256, 5), "same: yes");
	ok(!dkv_bh_same(h, DKV_BH_RELAXED, DKV_BH_SHA256, -1), "same: no l=");
	ok(!dkv_bh_same(h, DKV_BH_SIMPLE, DKV_BH_SHA256, 5), "same: canon");
	dkv_bh_update(h, (const unsigned char *)"x\r\n", 3);
	dkv_bh_final(h, a, NULL);
	dkv_bh_update(h, (const unsigned char *)"more\r\n", 6);
	dkv_bh_final(h, b, NULL);
	ok(memcmp(a, b, 32) == 0, "final twice: same digest, input ignored");
	dkv_bh_update(NULL, (const unsigned char *)"x", 1);
	dkv_bh_free(&h);
	ok(h == NULL, "free sets NULL");
	dkv_bh_free(&h);
}

int
main(void)
{
	algs = dkv_bh_algs_new();
	if (!ok(algs != NULL, "digests fetched"))
		return test_done("test-dkim-body");
	case_tests();
	limit_tests();
	sha1_test();
	long_tests();
	clean_tests();
	misc_tests();
	dkv_bh_algs_free(&algs);
	ok(algs == NULL, "algs freed");
	return test_done("test-dkim-body");
}
