/*
 * offline.h - `authmilter -t`: one message through the same lib/ session
 * the milter uses, printing the header it would add and the action.
 */
#ifndef AM_OFFLINE_H
#define AM_OFFLINE_H

struct settings;

struct offline_opts {
	const char *file;       /* path or "-" */
	const char *client_ip;  /* NULL: no SPF */
	const char *client_name;
	const char *helo;
	const char *mail_from;  /* NULL or "": null sender */
	const char *rcpt;
	const char *auth_user;  /* as {auth_authen} */
};

/* offline_run - evaluate one message; returns the exit code: EX_OK when
 * it ran, whatever the action; EX_NOINPUT when the file cannot be opened,
 * EX_OSERR when the resolver or a method cannot start, EX_IOERR on a read
 * error (the error printed to stderr) */
int offline_run(struct settings *cfg, const struct offline_opts *o);

#endif
