/*
 * log.h - one line per event, key=value, to syslog or stderr.
 *
 * Severity is filtered here, not at call sites. Until log_open() is called
 * everything at LOG_WARNING and above goes to stderr.
 */
#ifndef AM_LOG_H
#define AM_LOG_H

#include <syslog.h>

/* log_open - send lines to syslog(facility) or, with to_stderr, to stderr */
void log_open(const char *ident, int facility, int to_stderr);
/* log_set_level - drop lines less severe than level (LOG_INFO default) */
/* log_reopen - syslog with another facility (a reload) */
void log_reopen(int facility);
void log_set_level(int level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* log_facility_parse - "mail", "local0".."local7", "daemon", "user"; -1 if unknown */
int log_facility_parse(const char *name);
/* log_level_parse - "debug", "info", "notice", "warning", "err"; -1 if unknown */
int log_level_parse(const char *name);

#endif
