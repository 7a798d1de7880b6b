/*
 * message.c - a message file into a session (see message.h).
 *
 * Nothing is held in memory beyond one header field.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "session.h"
#include "util.h"

#define MESSAGE_MAX_HEADER (256 * 1024)

/* chomp - drop the line ending (CRLF or LF) */
static size_t
chomp(char *line, size_t n)
{
	if (n > 0 && line[n - 1] == '\n')
		n--;
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	return n;
}

/* header_name_len - length of a field name, 0 when the line is not a
 * header field (RFC 5322 2.2: printable ASCII except ':'); *colon is set
 * to the colon's offset. RFC 5322 4.5.3 (obsolete syntax, which readers
 * must accept) allows white space between the name and the colon
 * ("Subject : x"); the name is returned without it, as Postfix hands it
 * to a milter. */
static size_t
header_name_len(const char *line, size_t *colon)
{
	size_t i, n;

	for (i = 0; line[i] != '\0' && line[i] != ':' && line[i] != ' ' &&
	    line[i] != '\t'; i++)
		if ((unsigned char)line[i] < 32 || (unsigned char)line[i] >= 127)
			return 0;
	n = i;
	while (line[i] == ' ' || line[i] == '\t')
		i++;
	if (line[i] != ':' || n == 0)
		return 0;
	*colon = i;
	return n;
}

static void
flush_header(struct session *s, struct dynbuf *h, size_t namelen,
    size_t colon)
{
	if (h->len == 0)
		return;
	h->s[namelen] = '\0';
	/* over the session's limits the field is still looked at (From,
	 * forgeries) and the verdict says what happens to the message */
	(void)session_header(s, h->s, h->s + colon + 1);
	h->len = 0;
}

int
message_feed(struct session *s, FILE *in, char *err, size_t errlen)
{
	struct dynbuf h;
	char *line = NULL;
	size_t cap = 0, namelen = 0, colon = 0;
	ssize_t n;
	int first = 1, in_body = 0;
	unsigned char buf[65536];
	size_t got;

	dynbuf_init(&h, MESSAGE_MAX_HEADER);
	while (!in_body && (n = getline(&line, &cap, in)) > 0) {
		size_t len = chomp(line, (size_t)n);

		if (first && strncmp(line, "From ", 5) == 0) { /* mbox */
			first = 0;
			continue;
		}
		first = 0;
		if (len == 0) {
			flush_header(s, &h, namelen, colon);
			session_eoh(s);
			in_body = 2;
			break;
		}
		if ((line[0] == ' ' || line[0] == '\t') && h.len > 0) {
			dynbuf_append(&h, "\n", 1);
			dynbuf_append(&h, line, len);
			continue;
		}
		flush_header(s, &h, namelen, colon);
		namelen = header_name_len(line, &colon);
		if (namelen == 0) {
			/* not a header: the body starts here */
			session_eoh(s);
			session_body(s, (unsigned char *)line, len);
			session_body(s, (const unsigned char *)"\r\n", 2);
			in_body = 1;
			break;
		}
		h.len = 0;
		h.overflow = 0;
		dynbuf_append(&h, line, len);
		if (h.overflow)
			h.len = 0;
	}
	if (!in_body) {
		flush_header(s, &h, namelen, colon);
		session_eoh(s);
	}
	dynbuf_free(&h);
	free(line);
	/* the body, with line endings as they are: the session normalizes */
	while ((got = fread(buf, 1, sizeof(buf), in)) > 0)
		session_body(s, buf, got);
	if (ferror(in)) {
		snprintf(err, errlen, "read error: %s", strerror(errno));
		return -1;
	}
	return 0;
}

