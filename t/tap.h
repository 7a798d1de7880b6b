/*
 * tap.h - the smallest test harness: named checks, a count, an exit code.
 *
 * Each test program calls ok()/is_str()/is_int() and ends with
 * `return test_done("name");`, which prints "name: N passed, N failed" and
 * returns 0 only when nothing failed. Exit 77 (skip) is test_skip().
 */
#ifndef AM_TAP_H
#define AM_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_pass, tap_fail;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) \
	tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) \
	tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)

static inline int __attribute__((format(printf, 4, 5)))
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (cond) {
		tap_pass++;
		return 1;
	}
	tap_fail++;
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 0;
}

static inline int __attribute__((format(printf, 5, 6)))
tap_is_int(long long got, long long want, const char *file, int line,
    const char *fmt, ...)
{
	va_list ap;

	if (got == want) {
		tap_pass++;
		return 1;
	}
	tap_fail++;
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": got %lld, want %lld\n", got, want);
	return 0;
}

static inline int __attribute__((format(printf, 5, 6)))
tap_is_str(const char *got, const char *want, const char *file, int line,
    const char *fmt, ...)
{
	va_list ap;

	if ((got == NULL && want == NULL) ||
	    (got != NULL && want != NULL && strcmp(got, want) == 0)) {
		tap_pass++;
		return 1;
	}
	tap_fail++;
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ":\n  got  \"%s\"\n  want \"%s\"\n", got ? got : "(null)",
	    want ? want : "(null)");
	return 0;
}

static inline int
test_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, tap_pass, tap_fail);
	return tap_fail == 0 && tap_pass > 0 ? 0 : 1;
}

/* test_data - the path of rel under t/data (the TESTDATA directory make
 * check names, else t/data below the current directory) into buf */
static inline const char *
test_data(char *buf, size_t len, const char *rel)
{
	const char *d = getenv("TESTDATA");

	snprintf(buf, len, "%s/%s", d != NULL && *d != '\0' ? d : "t/data", rel);
	return buf;
}

static inline int
test_skip(const char *name, const char *why)
{
	printf("%s: skipped: %s\n", name, why);
	return 77;
}

#endif
