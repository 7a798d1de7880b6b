/*
 * util.c - allocation, arenas and string helpers (see util.h).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util.h"

static void
oom(size_t n)
{
	log_msg(LOG_CRIT, "event=fatal reason=\"out of memory\" bytes=%zu", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t n)
{
	void *p = calloc(nmemb ? nmemb : 1, n ? n : 1);

	if (p == NULL)
		oom(nmemb * n);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom(n);
	return q;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		oom(strlen(fmt));
	va_end(ap);
	return p;
}

/* ---- arena ---------------------------------------------------------- */

#define ARENA_CHUNK 8192

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

struct arena {
	struct arena_chunk *head;
	size_t total;
};

struct arena *
arena_new(void)
{
	return xcalloc(1, sizeof(struct arena));
}

void *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c = a->head;
	size_t align = sizeof(max_align_t);
	size_t need = (n + align - 1) / align * align;
	void *p;

	if (need == 0)
		need = align;
	if (c == NULL || c->size - c->used < need) {
		size_t size = need > ARENA_CHUNK ? need : ARENA_CHUNK;

		c = xmalloc(sizeof(*c) + size);
		c->size = size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	p = (char *)c->data + c->used;
	c->used += need;
	a->total += n;
	memset(p, 0, n);
	return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = arena_alloc(a, len + 1);

	memcpy(p, s, len);
	return p;
}

void *
arena_grow(struct arena *a, void *v, size_t n, size_t *cap, size_t size,
    size_t first)
{
	size_t newcap;
	void *nv;

	if (n < *cap)
		return v;
	newcap = *cap ? *cap * 2 : first;
	if (newcap <= n || newcap > SIZE_MAX / size)
		oom(SIZE_MAX);
	nv = arena_alloc(a, newcap * size);
	if (n > 0)
		memcpy(nv, v, n * size);
	*cap = newcap;
	return nv;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *
arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap, ap2;
	int n;
	char *p;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	p = arena_alloc(a, (size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return p;
}

size_t
arena_bytes(const struct arena *a)
{
	return a->total;
}

void
arena_free(struct arena **ap)
{
	struct arena_chunk *c, *next;

	if (ap == NULL || *ap == NULL)
		return;
	for (c = (*ap)->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(*ap);
	*ap = NULL;
}

/* ---- strings -------------------------------------------------------- */

size_t
str_copy(char *dst, const char *src, size_t dstlen)
{
	size_t len = strlen(src);

	if (dstlen > 0) {
		size_t n = len < dstlen - 1 ? len : dstlen - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

const char *
str_show(const char *s, char *buf, size_t buflen)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < buflen; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	if (s[i] != '\0' && buflen > 4)
		memcpy(buf + buflen - 4, "...", 4);
	return buf;
}

char *
str_lower(char *s)
{
	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

int
str_word_is(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && strncasecmp(s, word, n) == 0;
}

uint32_t
mem_hash(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

int
str_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (max - (unsigned long)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	*out = v;
	return 0;
}

void
dynbuf_init(struct dynbuf *b, size_t limit)
{
	b->s = NULL;
	b->len = b->cap = 0;
	b->limit = limit;
	b->overflow = 0;
}

int
dynbuf_append(struct dynbuf *b, const char *s, size_t n)
{
	if (b->overflow || n > b->limit - b->len) {
		b->overflow = 1;
		return -1;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->s = xrealloc(b->s, cap);
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

int
dynbuf_puts(struct dynbuf *b, const char *s)
{
	return dynbuf_append(b, s, strlen(s));
}

int
dynbuf_printf(struct dynbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n, rc;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(strlen(fmt));
	rc = dynbuf_append(b, p, (size_t)n);
	free(p);
	return rc;
}

char *
dynbuf_take(struct dynbuf *b)
{
	char *s = b->s ? b->s : xstrdup("");

	b->s = NULL;
	b->len = b->cap = 0;
	b->overflow = 0;
	return s;
}

void
dynbuf_free(struct dynbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}
