/*
 * smtp_wire.h - the bytes of an SMTP conversation (RFC 5321), without
 * the I/O: reading a server's reply, and the message as the DATA command
 * sends it. send.c does the talking; fuzz/fuzz-smtp-reply.c feeds these
 * two functions arbitrary input.
 *
 * Functions returning int give 0, or -1 with a reason in err (errlen
 * bytes, always terminated).
 */
#ifndef AM_SMTP_WIRE_H
#define AM_SMTP_WIRE_H

#include <stddef.h>
#include <sys/types.h>

#include "util.h"

/* the longest reply line taken, CRLF included (RFC 5321 4.5.3.1.5 says
 * 512; servers write longer EHLO lines, so a few times that) */
#define SMTP_LINE_MAX 2048
/* lines of one reply at most (an EHLO reply has one per extension) */
#define SMTP_REPLY_LINES_MAX 100
/* the text of a reply kept for logs, with its NUL */
#define SMTP_TEXT_MAX 400

/* one reply: its code and its text, for the log */
struct smtp_reply {
	int code;	 /* 200..599 (RFC 5321 4.2: 2yz to 5yz) */
	unsigned lines;	 /* lines it had */
	/* the texts of the lines after the code, joined by " / ", cut at
	 * SMTP_TEXT_MAX - 1 bytes; control and non-ASCII bytes as '?' */
	char text[SMTP_TEXT_MAX];
};

/* smtp_reply_parse - one whole reply at the start of the len bytes at
 * buf (RFC 5321 4.2: lines "ddd-text" then a last "ddd text" or "ddd",
 * each with the same code, ending in CRLF; a bare LF is taken too).
 * Returns the bytes the reply takes (> 0) with *r filled, 0 when its last
 * line has not arrived yet (nothing refused so far), or -1 with err when
 * it is not a reply: a line that does not start with a code, codes that
 * differ, a line over SMTP_LINE_MAX, more than SMTP_REPLY_LINES_MAX
 * lines, a NUL byte. */
ssize_t smtp_reply_parse(const char *buf, size_t len, struct smtp_reply *r,
			 char *err, size_t errlen);

/* smtp_data_encode - the len bytes of a message as DATA sends them
 * (RFC 5321 4.5.2, 4.1.1.4), appended to *out: every line ending in CRLF
 * (a bare LF taken as a line end), a '.' doubled at the start of a line,
 * and the final ".\r\n". -1 when out's limit is passed. */
int smtp_data_encode(const char *msg, size_t len, struct dynbuf *out,
		     char *err, size_t errlen);

/* smtp_code_class - the first digit of a code: 2, 3, 4 or 5 */
#define smtp_code_class(code) ((code) / 100)

#endif
