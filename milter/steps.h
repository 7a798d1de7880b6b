/*
 * steps.h - what the milter does at each step of an MTA's conversation,
 * whichever engine speaks the protocol: libmilter (callbacks.c) or our own
 * (engine.c, the default; libmilter with configure --disable-event-engine). The engines parse and
 * answer; these functions feed the lib/ session, keep the connection and
 * message gauges and turn a verdict into header edits and a reply.
 */
#ifndef AM_STEPS_H
#define AM_STEPS_H

#include <stddef.h>
#include <time.h>

struct session;
struct session_env;

/* one milter connection */
struct steps_conn {
	struct session *s;       /* NULL until the connect step */
	unsigned long id;
	int in_message;
	struct timespec start;
	int reply_noreply;       /* the MTA agreed to the NR_* steps we asked */
	int data_noreply;        /* and to SMFIP_NR_DATA (unix sockets only) */
	int leadspc;             /* SMFIP_HDR_LEADSPC: values carry their leading space */
};

/* the macros asked for at negotiation, per stage (SMFIM_CONNECT,
 * SMFIM_ENVFROM, SMFIM_EOM) */
#define STEPS_MACROS_CONNECT "j {daemon_name} {client_addr}"
#define STEPS_MACROS_ENVFROM "i {auth_authen}"
#define STEPS_MACROS_EOM "i"

/* steps_macro_fn - a macro's value as the MTA sent it, or NULL */
typedef const char *(*steps_macro_fn)(void *arg, const char *name);

/* what the verdict asks of the engine; each may be refused silently
 * (an action the MTA did not grant) */
struct steps_out {
	/* insert "name: value" at the top (index 0) */
	void (*insheader)(void *arg, const char *name, const char *value);
	/* delete the idx-th (1-based) header of that name */
	void (*delheader)(void *arg, const char *name, int idx);
	void (*quarantine)(void *arg, const char *reason);
	/* the SMTP reply to a reject or a tempfail */
	void (*setreply)(void *arg, const char *rcode, const char *xcode,
	    const char *text);
};

enum steps_reply {
	STEPS_ACCEPT,
	STEPS_REJECT,
	STEPS_TEMPFAIL,
};

/* steps_init - the process-wide environment; local_socket: the milter
 * socket is a unix socket (no Nagle to avoid) */
void steps_init(struct session_env *env, int local_socket);
/* steps_in_flight - messages between MAIL FROM and end of message */
int steps_in_flight(void);
/* steps_stopping - messages that begin from now on are not counted */
void steps_stopping(void);
/* steps_connections - open connections */
int steps_connections(void);

/* steps_conn_new - a connection (counted open), or NULL */
struct steps_conn *steps_conn_new(void);
/* steps_conn_free - the connection closes: its message and session go */
void steps_conn_free(struct steps_conn **cp);
/* steps_negotiate - from the actions (f0) and protocol steps (f1) the
 * MTA offers, those we take (*pf0, *pf1); the connection remembers which
 * steps need no reply */
void steps_negotiate(struct steps_conn *c, unsigned long f0,
    unsigned long f1, unsigned long *pf0, unsigned long *pf1);
/* the steps; each but connect wants a connection with a session (the
 * engines let a message pass when no connect step was seen) */
void steps_connect(struct steps_conn *c, const char *hostname,
    const char *ip, steps_macro_fn macro, void *arg);
void steps_helo(struct steps_conn *c, const char *helo);
void steps_mail_from(struct steps_conn *c, const char *arg,
    steps_macro_fn macro, void *marg);
void steps_header(struct steps_conn *c, const char *name, const char *value);
void steps_eoh(struct steps_conn *c);
void steps_body(struct steps_conn *c, const unsigned char *p, size_t len);
/* steps_eom - evaluate (may wait on DNS), hand the edits to out, log the
 * message and forget it */
enum steps_reply steps_eom(struct steps_conn *c, steps_macro_fn macro,
    void *marg, const struct steps_out *out, void *oarg);
/* steps_abort - the message ends without an end of message */
void steps_abort(struct steps_conn *c);

#endif
