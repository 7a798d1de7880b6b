/*
 * engine.h - our own milter protocol engine (the default; configure
 * --disable-event-engine builds on libmilter), in place of libmilter's smfi_main(): one
 * listening socket, a few I/O threads on epoll that read, parse and
 * answer, and a pool of workers for the steps that may wait (the end of
 * message: DNS), growing from its minimum while messages wait for one. The steps themselves are steps.c's, as with
 * libmilter.
 */
#ifndef AM_ENGINE_H
#define AM_ENGINE_H

#include <stddef.h>

/* engine_listen - open the listening socket of spec (inet:PORT@HOST,
 * inet6:PORT@HOST, unix:/path, local:/path; a stale socket file is
 * removed first); 0, or -1 with err */
int engine_listen(const char *spec, char *err, size_t errlen);
/* engine_start - the I/O threads and the workers, workers of them at
 * first and at most max_workers (threads inherit the caller's signal mask,
 * and block SIGHUP/SIGTERM/SIGINT themselves); should the engine stop by
 * itself, a byte is written to done_fd. 0, or -1 with err */
int engine_start(unsigned io_threads, unsigned workers, unsigned max_workers,
    int done_fd, char *err, size_t errlen);
/* engine_settimeout - close a connection the MTA leaves silent this long
 * (libmilter's smfi_settimeout) */
void engine_settimeout(unsigned seconds);

#endif
