/*
 * log.c - syslog or stderr logging (see log.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

static int log_to_stderr = 1;
static int log_level = LOG_WARNING;
static const char *log_ident = "authmilter";

void
log_open(const char *ident, int facility, int to_stderr)
{
	log_to_stderr = to_stderr;
	log_ident = ident;
	if (log_level == LOG_WARNING)
		log_level = LOG_INFO;
	/* libmilter logs its own errors ("Unable to bind to port ...")
	 * through syslog(3) alone: in the foreground (-f) they go to stderr
	 * too (LOG_PERROR), beside ours */
	openlog(ident, LOG_PID | LOG_NDELAY | (to_stderr ? LOG_PERROR : 0),
	    facility);
}

void
log_reopen(int facility)
{
	if (!log_to_stderr) {
		closelog();
		openlog(log_ident, LOG_PID | LOG_NDELAY, facility);
	}
}

void
log_set_level(int level)
{
	log_level = level;
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	if (log_to_stderr) {
		char line[2048];

		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "authmilter: %s\n", line);
	} else {
		vsyslog(level, fmt, ap);
	}
	va_end(ap);
}

static const struct {
	const char *name;
	int value;
} facilities[] = {
	{"mail", LOG_MAIL}, {"daemon", LOG_DAEMON}, {"user", LOG_USER},
	{"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
	{"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
	{"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
}, levels[] = {
	{"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"notice", LOG_NOTICE},
	{"warning", LOG_WARNING}, {"err", LOG_ERR}, {"error", LOG_ERR},
};

int
log_facility_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcasecmp(name, facilities[i].name) == 0)
			return facilities[i].value;
	return -1;
}

int
log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcasecmp(name, levels[i].name) == 0)
			return levels[i].value;
	return -1;
}

const char *
log_value(const char *v, char *buf, size_t len)
{
	size_t n = strnlen(v, LOG_VALUE_MAX), o = 0;
	int quote = n == 0;

	for (size_t i = 0; i < n; i++)
		if (v[i] == ' ' || v[i] == '"' || v[i] == '=' ||
		    (unsigned char)v[i] < 0x20)
			quote = 1;
	if (len < 3) {
		buf[0] = '\0';
		return buf;
	}
	if (n > len - (quote ? 3 : 1))
		n = len - (quote ? 3 : 1);
	if (quote)
		buf[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		buf[o++] = c < 0x20 || c == '"' ? '?' : (char)c;
	}
	if (quote)
		buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
