/*
 * util.h - allocation that does not fail, per-message arenas, small string
 * helpers.
 *
 * Allocation failure does not return: xmalloc() and friends log and abort.
 * An arena hands out memory that lives until arena_free(); one arena per
 * message, freed at end of message or abort.
 */
#ifndef AM_UTIL_H
#define AM_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xasprintf - allocate a formatted string; caller frees */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct arena;
/* arena_new - start an empty arena */
struct arena *arena_new(void);
/* arena_alloc - zeroed memory that lives until arena_free() */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* arena_grow - room for one more element in an arena array: v holds n
 * elements of size bytes in room for *cap; when it is full, a copy in
 * twice the room (first, for an empty array) is returned and *cap set;
 * otherwise v itself. The old array stays in the arena until it goes. */
void *arena_grow(struct arena *a, void *v, size_t n, size_t *cap,
    size_t size, size_t first);
/* arena_bytes - bytes handed out so far (for limits and tests) */
size_t arena_bytes(const struct arena *a);
/* arena_free - release everything and set *ap to NULL */
void arena_free(struct arena **ap);

/* STRINGIFY - the value of a macro as a string literal */
#define STRINGIFY(x) STRINGIFY_(x)
#define STRINGIFY_(x) #x

/* str_copy - copy src into dst of size dstlen, always terminated; returns
 * strlen(src) (>= dstlen means it was truncated) */
size_t str_copy(char *dst, const char *src, size_t dstlen);
/* str_show - a printable, bounded copy of untrusted text for messages:
 * control and non-ASCII bytes become '?', a cut ends in "..."; returns buf
 * (buflen must be at least 1) */
const char *str_show(const char *s, char *buf, size_t buflen);
/* str_lower - lowercase ASCII in place; returns s */
char *str_lower(char *s);
/* str_word_is - whether the n bytes at s are word, ignoring ASCII case */
int str_word_is(const char *s, size_t n, const char *word);
/* mem_hash - FNV-1a of n bytes (for in-memory tables, not for security) */
uint32_t mem_hash(const void *p, size_t n);
/* str_parse_uint - parse a whole decimal string into *out (<= max); 0 or -1 */
int str_parse_uint(const char *s, unsigned long max, unsigned long *out);

/* A growing string with a hard bound (curl's dynbuf idea): appending past
 * `limit` fails and marks the buffer as overflowed. Not named "strbuf":
 * libconfig 1.5 exports strbuf_append() and its scanner calls it through
 * the PLT, so a program defining that name crashes on the first string in
 * a config file. */
struct dynbuf {
	char *s;
	size_t len, cap, limit;
	int overflow;
};
void dynbuf_init(struct dynbuf *b, size_t limit);
int dynbuf_append(struct dynbuf *b, const char *s, size_t n);
int dynbuf_puts(struct dynbuf *b, const char *s);
int dynbuf_printf(struct dynbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* dynbuf_take - hand the string to the caller (who frees it); b is reset */
char *dynbuf_take(struct dynbuf *b);
void dynbuf_free(struct dynbuf *b);

#endif
