/*
 * callbacks.h - the libmilter callbacks: thin glue from the MTA to the
 * lib/ session.
 */
#ifndef AM_CALLBACKS_H
#define AM_CALLBACKS_H

#include <libmilter/mfapi.h>

struct session_env;

/* callbacks_init - the process-wide environment the callbacks use;
 * local_socket: the milter socket is a unix socket (no Nagle to avoid) */
void callbacks_init(struct session_env *env, int local_socket);
/* callbacks_filter - the smfiDesc to register */
struct smfiDesc *callbacks_filter(void);
/* callbacks_in_flight - messages between MAIL FROM and end of message */
int callbacks_in_flight(void);
/* callbacks_stopping - from now on, messages that begin are not counted
 * in callbacks_in_flight(): a stop waits only for those already running */
void callbacks_stopping(void);
/* callbacks_connections - open connections */
int callbacks_connections(void);

#endif
