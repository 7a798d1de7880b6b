/*
 * log.h - one line per event, key=value, to syslog or stderr.
 *
 * Severity is filtered here, not at call sites. Until log_open() is called
 * everything at LOG_WARNING and above goes to stderr.
 */
#ifndef AM_LOG_H
#define AM_LOG_H

#include <stddef.h>
#include <syslog.h>

#define LOG_VALUE_MAX 200                 /* bytes of a value a line keeps */
#define LOG_VALUE_SIZE (LOG_VALUE_MAX + 3) /* quoted, with the NUL */

/* log_open - send lines to syslog(facility) or, with to_stderr, to stderr */
void log_open(const char *ident, int facility, int to_stderr);
/* log_reopen - syslog with another facility (a reload) */
void log_reopen(int facility);
/* log_set_level - drop lines less severe than level (LOG_INFO after
 * log_open(), LOG_WARNING before) */
void log_set_level(int level);
/* log_msg - one line at level, printf-style */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* log_facility_parse - "mail", "local0".."local7", "daemon", "user"; -1 if unknown */
int log_facility_parse(const char *name);
/* log_level_parse - "debug", "info", "notice", "warning", "err"; -1 if unknown */
int log_level_parse(const char *name);
/* log_value - untrusted text as the value of a key=value pair, into buf:
 * its first LOG_VALUE_MAX bytes (fewer when len is smaller than
 * LOG_VALUE_SIZE), in double quotes when it is empty or has a space, '"',
 * '=' or a control character, and then each '"' and control character
 * as '?'. Other bytes are kept as they are. Returns buf (len >= 1). */
const char *log_value(const char *v, char *buf, size_t len);

#endif
