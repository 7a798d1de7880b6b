/*
 * suite-file.h - what every conformance harness reads: the flat files the
 * t/*-suite.py scripts write (tab-separated fields with \t \n \r \0 \\
 * escaped) and the lists of known differences in t/data/ (the first word
 * of a line names a case; '#' lines and blank lines are comments).
 */
#ifndef AM_SUITE_FILE_H
#define AM_SUITE_FILE_H

#include <stddef.h>

#define SUITE_MAX_FIELDS 64
#define SUITE_KNOWN_MAX 256

/* suite_split - split a line into at most SUITE_MAX_FIELDS unescaped
 * fields (in place); flen gets each field's length (fields may hold NUL) */
size_t suite_split(char *line, char **f, size_t *flen);
/* suite_unescape - undo the escaping in place; returns the length */
size_t suite_unescape(char *s);

/* one list of known differences, and which of them a run met */
struct suite_known {
	char *name[SUITE_KNOWN_MAX];
	int seen[SUITE_KNOWN_MAX];
	size_t n;
};

/* suite_known_load - add the names of a list file to k (zeroed first by
 * the caller); 0, or -1 when the file cannot be opened */
int suite_known_load(struct suite_known *k, const char *path);
/* suite_known_mark - whether name is on the list; a listed name is marked
 * seen (a listed case the run never met is a stale entry) */
int suite_known_mark(struct suite_known *k, const char *name);
void suite_known_free(struct suite_known *k);

#endif
