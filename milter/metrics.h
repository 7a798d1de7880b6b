/*
 * metrics.h - the Prometheus endpoint (metrics.listen): GET /metrics
 * serves the stats registry in the text exposition format.
 */
#ifndef AM_METRICS_H
#define AM_METRICS_H

#include <stddef.h>

/* metrics_listen - bind and listen on spec ("127.0.0.1:9891",
 * "[::1]:9891"), as root before privileges are dropped: the socket, or -1
 * with err filled */
int metrics_listen(const char *spec, char *err, size_t errlen);
/* metrics_start - serve on the listening socket fd in a thread of its own
 * (libmicrohttpd's); 0, or -1 with err filled */
int metrics_start(int fd, char *err, size_t errlen);
/* metrics_stop - stop serving (the socket is closed) */
void metrics_stop(void);

#endif
