/*
 * daemon.h - run the milter: socket, privileges, signals, reload.
 */
#ifndef AM_DAEMON_H
#define AM_DAEMON_H

struct daemon_opts {
	const char *config_path;
	const char *socket;   /* -p override, or NULL */
	const char *user;     /* -u override, or NULL */
	const char *pidfile;  /* -P override, or NULL */
	int foreground;       /* -f */
};

/* daemon_run - start and serve until SIGTERM/SIGINT. Returns the
 * <sysexits.h> code of a failure to start; once serving, it ends the
 * process itself: EX_OK after SIGTERM/SIGINT, EX_SOFTWARE when libmilter
 * stopped by itself */
int daemon_run(const struct daemon_opts *o);

#endif
