/*
 * smtp_wire.c - SMTP replies read and DATA written (smtp_wire.h); no I/O,
 * so that fuzz/fuzz-smtp-reply.c can compile it in as it is.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "smtp_wire.h"

/* wire_err - msg into err (errlen bytes, terminated) */
static void
wire_err(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

/* text_add - the n bytes at s to the reply's text for logs, after " / "
 * when it holds some already; control and non-ASCII bytes as '?', cut
 * where the room ends */
static void
text_add(struct smtp_reply *r, const char *s, size_t n)
{
	size_t at = strlen(r->text);

	if (at > 0 && n > 0) {
		for (const char *sep = " / "; *sep && at + 1 < sizeof(r->text);
		     sep++)
			r->text[at++] = *sep;
	}
	for (size_t i = 0; i < n && at + 1 < sizeof(r->text); i++) {
		unsigned char c = (unsigned char)s[i];

		r->text[at++] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
	}
	r->text[at] = '\0';
}

ssize_t
smtp_reply_parse(const char *buf, size_t len, struct smtp_reply *r,
		 char *err, size_t errlen)
{
	size_t pos = 0;
	unsigned lines = 0;
	int code = 0;

	memset(r, 0, sizeof(*r));
	for (;;) {
		const char *p = buf + pos, *nl;
		size_t linelen, end;
		int c;
		char sep;

		nl = memchr(p, '\n', len - pos);
		if (nl == NULL) {
			/* the line, once its LF comes, would be too long */
			if (len - pos >= SMTP_LINE_MAX) {
				wire_err(err, errlen,
					 "a reply line longer than "
					 "the limit");
				return -1;
			}
			return 0;
		}
		end = (size_t)(nl - buf) + 1;
		if (end - pos > SMTP_LINE_MAX) {
			wire_err(err, errlen,
				 "a reply line longer than the limit");
			return -1;
		}
		linelen = (size_t)(nl - p);
		if (linelen > 0 && p[linelen - 1] == '\r')
			linelen--;
		if (memchr(p, '\0', linelen) != NULL) {
			wire_err(err, errlen, "a NUL byte in a reply");
			return -1;
		}
		/* RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39 */
		if (linelen < 3 || p[0] < '2' || p[0] > '5' || p[1] < '0' ||
		    p[1] > '5' || p[2] < '0' || p[2] > '9') {
			wire_err(err, errlen, "a reply line without a code");
			return -1;
		}
		c = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		if (lines > 0 && c != code) {
			wire_err(err, errlen,
				 "the lines of a reply have different codes");
			return -1;
		}
		code = c;
		sep = linelen > 3 ? p[3] : ' ';
		if (sep != '-' && sep != ' ') {
			wire_err(err, errlen,
				 "a reply code not followed by a space or '-'");
			return -1;
		}
		if (++lines > SMTP_REPLY_LINES_MAX) {
			wire_err(err, errlen, "a reply with too many lines");
			return -1;
		}
		if (linelen > 4)
			text_add(r, p + 4, linelen - 4);
		pos = end;
		if (sep == ' ') {
			r->code = code;
			r->lines = lines;
			return (ssize_t)pos;
		}
	}
}

int
smtp_data_encode(const char *msg, size_t len, struct dynbuf *out, char *err,
		 size_t errlen)
{
	size_t i = 0;

	while (i < len) {
		size_t run = i;

		/* a line: a '.' first is doubled (RFC 5321 4.5.2) */
		if (msg[i] == '.')
			dynbuf_puts(out, ".");
		while (run < len && msg[run] != '\r' && msg[run] != '\n')
			run++;
		dynbuf_append(out, msg + i, run - i);
		/* CRLF, a bare LF and a bare CR all end the line as CRLF: no
		 * lone CR or LF reaches the server */
		dynbuf_puts(out, "\r\n");
		if (run < len && msg[run] == '\r' && run + 1 < len &&
		    msg[run + 1] == '\n')
			run++;
		i = run + 1;
	}
	dynbuf_puts(out, ".\r\n");
	if (out->overflow) {
		wire_err(err, errlen, "the message is larger than its buffer");
		return -1;
	}
	return 0;
}
