/*
 * fuzz-smtp-reply.c - reporter/smtp_wire.c, what authmilter-report reads
 * from an SMTP relay and what it writes after DATA.
 *
 * Replies: the input is what a server sends. It is cut into replies as
 * the client reads them; each reply taken has a code of 200..599, a
 * terminated printable text and takes bytes within the input; every
 * shorter prefix of it asks for more (0), never another answer; after a
 * refusal, every longer input that starts with the same bytes is refused
 * too. DATA: the input as a message; the encoded form has only CRLF line
 * ends, no line "." but the last, and read back (each line's doubled dot
 * undone) is the input with its line ends made LF.
 *
 * smtp_wire.c is compiled in here (it lives in reporter/, which make fuzz
 * does not build).
 */
#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_smtp_reply
#endif
#include "../reporter/smtp_wire.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_reply - the reply taken at p (n bytes), or the refusal */
static void
check_replies(const char *in, size_t size)
{
	size_t pos = 0;

	while (pos < size) {
		struct smtp_reply r, r2;
		char err[128];
		ssize_t n = smtp_reply_parse(in + pos, size - pos, &r, err,
					     sizeof(err));

		if (n < 0) {
			/* refused: with a byte more it stays refused */
			char *more = malloc(size - pos + 1);

			if (more == NULL)
				abort();
			memcpy(more, in + pos, size - pos);
			more[size - pos] = '\n';
			if (smtp_reply_parse(more, size - pos + 1, &r2, err,
					     sizeof(err)) >= 0)
				abort();
			free(more);
			return;
		}
		if (n == 0)
			return;
		if ((size_t)n > size - pos || r.code < 200 || r.code > 599 ||
		    r.lines < 1 || r.lines > SMTP_REPLY_LINES_MAX ||
		    memchr(r.text, '\0', sizeof(r.text)) == NULL)
			abort();
		for (const char *t = r.text; *t; t++)
			if (*t < 0x20 || *t > 0x7e)
				abort();
		if (in[pos + (size_t)n - 1] != '\n')
			abort();
		/* a prefix of a reply is never a reply nor refused */
		for (size_t k = 0; k < (size_t)n; k += 1 + k / 4)
			if (smtp_reply_parse(in + pos, k, &r2, err,
					     sizeof(err)) != 0)
				abort();
		pos += (size_t)n;
	}
}

/* check_data - smtp_data_encode() reads back to the input */
static void
check_data(const char *in, size_t size)
{
	struct dynbuf out, back, want;
	char err[128];
	size_t i = 0;

	dynbuf_init(&out, 2 * size + 16);
	dynbuf_init(&back, 2 * size + 16);
	dynbuf_init(&want, 2 * size + 16);
	if (smtp_data_encode(in, size, &out, err, sizeof(err)) < 0)
		abort();
	if (out.len < 3 || memcmp(out.s + out.len - 3, ".\r\n", 3) != 0 ||
	    (out.len > 3 && memcmp(out.s + out.len - 5, "\r\n", 2) != 0))
		abort();
	/* lines, each ending in CRLF, no CR or LF otherwise */
	while (i < out.len - 3) {
		const char *e = memchr(out.s + i, '\r', out.len - i);
		size_t l;

		if (e == NULL || (size_t)(e - out.s) + 1 >= out.len ||
		    e[1] != '\n')
			abort();
		l = (size_t)(e - (out.s + i));
		if (memchr(out.s + i, '\n', l) != NULL)
			abort();
		if (l == 1 && out.s[i] == '.')
			abort();
		if (l > 0 && out.s[i] == '.') {
			if (l < 2 || out.s[i + 1] != '.')
				abort();
			dynbuf_append(&back, out.s + i + 1, l - 1);
		} else {
			dynbuf_append(&back, out.s + i, l);
		}
		dynbuf_puts(&back, "\n");
		i += l + 2;
	}
	/* the input with CRLF, CR and LF all as LF, and a last LF */
	for (size_t k = 0; k < size; k++) {
		if (in[k] == '\r' && k + 1 < size && in[k + 1] == '\n')
			continue;
		dynbuf_append(&want, in[k] == '\r' ? "\n" : in + k, 1);
	}
	if (size > 0 && in[size - 1] != '\n' && in[size - 1] != '\r')
		dynbuf_puts(&want, "\n");
	if (back.len != want.len ||
	    (want.len > 0 && memcmp(back.s, want.s, want.len) != 0))
		abort();
	dynbuf_free(&out);
	dynbuf_free(&back);
	dynbuf_free(&want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_replies((const char *)data, size);
	check_data((const char *)data, size);
	return 0;
}
