/*
 * message.h - read a message file into a session, the way an MTA hands a
 * message to a milter.
 */
#ifndef AM_MESSAGE_H
#define AM_MESSAGE_H

#include <stddef.h>
#include <stdio.h>

struct session;

/* message_feed - header fields (folded continuation lines joined with
 * "\n", the value keeping its leading space as with SMFIP_HDR_LEADSPC),
 * end of headers, then the body in chunks. A leading mbox "From " line is
 * skipped; a line that is neither a header field nor a continuation ends
 * the header section, as Postfix does; one header field is bounded
 * (MESSAGE_MAX_HEADER, longer ones are dropped). Returns 0, or -1 on a
 * read error with err filled ("read error: ..."); nothing is printed. */
int message_feed(struct session *s, FILE *in, char *err, size_t errlen);

#endif
