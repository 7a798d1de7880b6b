/*
 * offline.c - `authmilter -t` (see offline.h): the message is read by
 * lib/session/message.c into the same session the milter uses.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "settings.h"
#include "log.h"
#include "message.h"
#include "offline.h"
#include "session.h"
#include "util.h"

int
offline_run(struct settings *cfg, const struct offline_opts *o)
{
	char err[512];
	struct session_env *env;
	struct session *s;
	const struct session_verdict *v;
	FILE *in;
	char *from;
	int rc = EX_OK;

	if (strcmp(o->file, "-") == 0) {
		in = stdin;
	} else if ((in = fopen(o->file, "r")) == NULL) {
		fprintf(stderr, "authmilter: %s: %s\n", o->file, strerror(errno));
		return EX_NOINPUT;
	}
	env = session_env_open(cfg, err, sizeof(err));
	if (env == NULL) {
		fprintf(stderr, "authmilter: %s\n", err);
		if (in != stdin)
			fclose(in);
		return EX_OSERR;
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
	if (message_feed(s, in, err, sizeof(err)) != 0) {
		fprintf(stderr, "authmilter: %s: %s\n", o->file, err);
		rc = EX_IOERR;
	} else {
		v = session_eom(s);
		for (size_t i = 0; i < v->nar_delete; i++)
			printf("# removed: Authentication-Results #%u (claims our "
			    "authserv-id)\n", v->ar_delete[i]);
		if (v->skipped != NULL)
			printf("# skipped: %s\n", v->skipped);
		/* the header fields as the milter adds them, top first */
		for (int i = 0; i < 3; i++)
			if (v->arc_set[i] != NULL)
				printf("%s\n", v->arc_set[i]);
		if (v->authres != NULL)
			printf("Authentication-Results: %s\n", v->authres);
		if (v->seal_note != NULL)
			printf("# not sealed: %s\n", v->seal_note);
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
