/*
 * offline.c - `authmilter -t` (see offline.h).
 *
 * The message is read as the MTA would hand it to a milter: header fields
 * (folded continuation lines joined with "\n", the value keeping its
 * leading space as with SMFIP_HDR_LEADSPC), then the body in chunks. A
 * line that is neither a header field nor a continuation ends the header
 * section, as Postfix does. Nothing is held in memory beyond one header.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "offline.h"
#include "session.h"
#include "util.h"

#define OFFLINE_MAX_HEADER (256 * 1024)

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

/* header_name_len - length of a field name before ':', 0 when the line is
 * not a header field (RFC 5322 2.2: printable ASCII except ':') */
static size_t
header_name_len(const char *line)
{
	size_t i;

	for (i = 0; line[i] != '\0' && line[i] != ':'; i++)
		if ((unsigned char)line[i] <= 32 || (unsigned char)line[i] >= 127)
			return 0;
	return line[i] == ':' && i > 0 ? i : 0;
}

static void
flush_header(struct session *s, struct strbuf *h, size_t namelen)
{
	if (h->len == 0)
		return;
	h->s[namelen] = '\0';
	if (session_header(s, h->s, h->s + namelen + 1) != 0)
		fprintf(stderr, "authmilter: header limits exceeded; later headers ignored\n");
	h->len = 0;
}

static int
feed(struct session *s, FILE *in)
{
	struct strbuf h;
	char *line = NULL;
	size_t cap = 0, namelen = 0;
	ssize_t n;
	int first = 1, in_body = 0;
	unsigned char buf[65536];
	size_t got;

	strbuf_init(&h, OFFLINE_MAX_HEADER);
	while (!in_body && (n = getline(&line, &cap, in)) > 0) {
		size_t len = chomp(line, (size_t)n);

		if (first && strncmp(line, "From ", 5) == 0) { /* mbox */
			first = 0;
			continue;
		}
		first = 0;
		if (len == 0) {
			flush_header(s, &h, namelen);
			session_eoh(s);
			in_body = 2;
			break;
		}
		if ((line[0] == ' ' || line[0] == '\t') && h.len > 0) {
			strbuf_append(&h, "\n", 1);
			strbuf_append(&h, line, len);
			continue;
		}
		flush_header(s, &h, namelen);
		namelen = header_name_len(line);
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
		strbuf_append(&h, line, len);
		if (h.overflow)
			h.len = 0;
	}
	if (!in_body) {
		flush_header(s, &h, namelen);
		session_eoh(s);
	}
	strbuf_free(&h);
	free(line);
	/* the body, with line endings as they are: the session normalizes */
	while ((got = fread(buf, 1, sizeof(buf), in)) > 0)
		session_body(s, buf, got);
	return ferror(in) ? -1 : 0;
}

int
offline_run(struct am_config *cfg, const struct offline_opts *o)
{
	char err[512];
	struct session_env *env;
	struct session *s;
	const struct session_verdict *v;
	FILE *in;
	char *from;
	int rc = 0;

	if (strcmp(o->file, "-") == 0) {
		in = stdin;
	} else if ((in = fopen(o->file, "r")) == NULL) {
		fprintf(stderr, "authmilter: %s: %s\n", o->file, strerror(errno));
		return 66;
	}
	env = session_env_open(cfg, err, sizeof(err));
	if (env == NULL) {
		fprintf(stderr, "authmilter: %s\n", err);
		if (in != stdin)
			fclose(in);
		return 71;
	}
	s = session_new(env, cfg);
	session_connect(s, o->client_name, o->client_ip);
	session_helo(s, o->helo ? o->helo : "");
	from = xasprintf("<%s>", o->mail_from ? o->mail_from : "");
	session_mail_from(s, from);
	free(from);
	if (o->auth_user != NULL)
		session_macro(s, "{auth_authen}", o->auth_user);
	if (o->rcpt != NULL)
		session_rcpt(s, o->rcpt);
	if (feed(s, in) != 0) {
		fprintf(stderr, "authmilter: %s: read error\n", o->file);
		rc = 74;
	} else {
		v = session_eom(s);
		for (size_t i = 0; i < v->nar_delete; i++)
			printf("# removed: Authentication-Results #%u (claims our "
			    "authserv-id)\n", v->ar_delete[i]);
		if (v->skipped != NULL)
			printf("# skipped: %s\n", v->skipped);
		if (v->authres != NULL)
			printf("Authentication-Results: %s\n", v->authres);
		printf("action=%s", session_action_name(v->action));
		if (v->smtp_rcode != NULL)
			printf(" smtp=\"%s %s %s\"", v->smtp_rcode,
			    v->smtp_xcode ? v->smtp_xcode : "", v->smtp_text ? v->smtp_text : "");
		printf("\n");
		log_msg(LOG_DEBUG, "%s", session_log_line(s, 0));
	}
	session_free(&s);
	session_env_close(&env);
	if (in != stdin)
		fclose(in);
	return rc;
}
