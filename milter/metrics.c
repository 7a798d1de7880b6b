/*
 * metrics.c - the Prometheus endpoint (see metrics.h).
 *
 * libmicrohttpd parses HTTP; this file answers. One thread of the
 * library's polls the listening socket and every connection: a scrape
 * walks the stats registry (relaxed atomic loads, no lock the milter
 * threads take) and is answered from one buffer. Only GET and HEAD of
 * /metrics are served (405 for other methods, 404 for other paths); at
 * most METRICS_MAX_CONNECTIONS connections at a time, each closed after
 * METRICS_TIMEOUT_S idle seconds, so a client that opens connections and
 * never speaks holds neither the milter nor more than a few descriptors.
 * The listening socket is made by metrics_listen() as root (a port below
 * 1024 works), the thread started after the daemon detached.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"
#include "metrics.h"
#include "settings.h"
#include "stats.h"
#include "util.h"

#define METRICS_MAX_CONNECTIONS 16
#define METRICS_TIMEOUT_S 10
#define METRICS_MAX_BYTES (8 * 1024 * 1024) /* an exposition, at most */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_LOG_PER_MINUTE 10  /* libmicrohttpd's lines, at most */

static struct MHD_Daemon *metrics_daemon;
/* the log's rate limit (libmicrohttpd calls the logger from its one
 * thread only) */
static time_t log_minute;
static unsigned log_lines, log_dropped;

/* mhd_log - libmicrohttpd's own errors, into our log. It logs every bad
 * request (a 414, a 431, "not enough memory in pool"), so whoever reaches
 * the port could fill the log: METRICS_LOG_PER_MINUTE lines a minute, and
 * the number left out says the rest */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256], shown[300];
	time_t now = time(NULL);
	size_t n;

	(void)cls;
	if (now / 60 != log_minute) {
		if (log_dropped > 0)
			log_msg(LOG_WARNING, "event=metrics note=\"%u more "
			    "messages of the HTTP server left out\"", log_dropped);
		log_minute = now / 60;
		log_lines = log_dropped = 0;
	}
	if (log_lines >= METRICS_LOG_PER_MINUTE) {
		log_dropped++;
		return;
	}
	log_lines++;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_msg(LOG_WARNING, "event=metrics note=%s",
	    log_value(msg, shown, sizeof(shown)));
}

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *text,
    const char *allow)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text,
	    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain; charset=utf-8");
	if (allow != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
answer(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_len, void **req)
{
	struct MHD_Response *r;
	struct dynbuf b;
	enum MHD_Result rc;
	size_t len;
	char *text;

	(void)cls;
	(void)version;
	(void)upload;
	(void)upload_len;
	(void)req;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "only GET and HEAD\n", "GET, HEAD");
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "not found: the metrics "
		    "are at /metrics\n", NULL);
	dynbuf_init(&b, METRICS_MAX_BYTES);
	if (stats_prometheus(&b, "authmilter_") != 0) {
		dynbuf_free(&b);
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "the exposition is over its size limit\n", NULL);
	}
	len = b.len;
	text = dynbuf_take(&b);
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    METRICS_CONTENT_TYPE);
	rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

int
metrics_listen(const char *spec, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned sslen;
	int fd, one = 1;

	if (settings_listen_parse(spec, &ss, &sslen, err, errlen) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "metrics.listen %s: socket: %s", spec,
		    strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)sslen) != 0 ||
	    listen(fd, 64) != 0) {
		snprintf(err, errlen, "metrics.listen %s: cannot listen: %s",
		    spec, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
metrics_start(int fd, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
	    MHD_USE_ERROR_LOG;

	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0 &&
	    ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* the logger first: libmicrohttpd prints to stderr until it has one */
	metrics_daemon = MHD_start_daemon(flags, 0, NULL, NULL, answer, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_MAX_CONNECTIONS,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)METRICS_MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_S,
	    MHD_OPTION_END);
	if (metrics_daemon == NULL) {
		snprintf(err, errlen, "metrics: libmicrohttpd did not start "
		    "on its socket");
		close(fd);
		return -1;
	}
	return 0;
}

void
metrics_stop(void)
{
	if (metrics_daemon != NULL)
		MHD_stop_daemon(metrics_daemon);
	metrics_daemon = NULL;
}
