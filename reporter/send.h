/*
 * send.h - how authmilter-report hands a report message to the mail
 * system: the local sendmail program (reports.sendmail), or SMTP to a
 * relay (reports.relay).
 *
 * Both return 0 when the mail system took the message for every
 * recipient, or -1 with a reason in err (errlen bytes, always
 * terminated): the caller then does not mark the report sent.
 */
#ifndef AM_SEND_H
#define AM_SEND_H

#include <stddef.h>

#include "report.h"

/* a step of the SMTP conversation or of sendmail waits this long at most */
#define SEND_TIMEOUT_MS_DEFAULT (120 * 1000)

/* send_sendmail - run path -t -oi -f from, the message (CRLF or LF line
 * ends; LF is written, as local submission expects) on its standard input;
 * success is exit status 0 within timeout_ms (0: the default). On failure
 * err holds the status and the start of what it wrote on stderr. */
int send_sendmail(const char *path, const char *from, const char *msg,
		  size_t len, unsigned timeout_ms, char *err, size_t errlen);

/* send_smtp - one SMTP transaction with relay ("host", "host:port",
 * "[v6]" or "[v6]:port"; port 25 by default): EHLO helo (HELO when EHLO
 * is refused), MAIL FROM:<from>, RCPT TO:<...> for each address of to,
 * DATA, QUIT. Every recipient must be accepted, or no DATA is sent (a
 * report goes to all its destinations or to none, so a second run sends
 * no duplicates). Each connect, write and reply waits timeout_ms at most
 * (0: the default). */
int send_smtp(const char *relay, const char *helo, const char *from,
	      const struct report_rua_list *to, const char *msg, size_t len,
	      unsigned timeout_ms, char *err, size_t errlen);

/* send_relay_split - relay into host (hostlen) and port (portlen), as
 * send_smtp() reads it; -1 with err when it is not "host[:port]" */
int send_relay_split(const char *relay, char *host, size_t hostlen,
		     char *port, size_t portlen, char *err, size_t errlen);

#endif
