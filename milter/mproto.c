/*
 * mproto.c - the milter protocol's wire format (see mproto.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libmilter/mfdef.h>

#include "mproto.h"

static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int
mproto_next(const unsigned char *buf, size_t len, struct mproto_frame *f,
    size_t *used)
{
	uint32_t n;

	*used = 0;
	if (len < MILTER_LEN_BYTES)
		return 0;
	n = get_u32(buf);
	if (n == 0 || n > MPROTO_MAX_FRAME)
		return -1;
	*used = MILTER_LEN_BYTES + (size_t)n;
	if (len < *used)
		return 0;
	f->cmd = (char)buf[MILTER_LEN_BYTES];
	f->data = buf + MILTER_LEN_BYTES + 1;
	f->len = (size_t)n - 1;
	return 1;
}

int
mproto_strings(const unsigned char *data, size_t len, const char **v,
    size_t max)
{
	size_t n = 0, i = 0;

	if (len == 0 || data[len - 1] != '\0')
		return -1;
	while (i < len) {
		const unsigned char *nul = memchr(data + i, '\0', len - i);

		if (n == max)
			return -1;
		v[n++] = (const char *)data + i;
		i = (size_t)(nul - data) + 1;
	}
	return (int)n;
}

int
mproto_optneg(const struct mproto_frame *f, uint32_t *version,
    uint32_t *actions, uint32_t *protocol)
{
	if (f->len < MILTER_OPTLEN)
		return -1;
	*version = get_u32(f->data);
	*actions = get_u32(f->data + 4);
	*protocol = get_u32(f->data + 8);
	return 0;
}

int
mproto_connect(const struct mproto_frame *f, const char **host, char *ip,
    size_t iplen)
{
	const unsigned char *p = f->data, *end = f->data + f->len;
	const unsigned char *nul = memchr(p, '\0', f->len);
	const char *addr;
	unsigned char bin[sizeof(struct in6_addr)];
	char fam;

	ip[0] = '\0';
	if (nul == NULL || nul + 1 >= end)
		return -1;
	*host = (const char *)p;
	fam = (char)nul[1];
	p = nul + 2;
	if (fam != SMFIA_INET && fam != SMFIA_INET6)
		return 0;  /* unix, unknown: no address (whatever follows) */
	/* the port (2 bytes), then the address and its NUL */
	if (end - p < 3 || end[-1] != '\0')
		return -1;
	addr = (const char *)p + 2;
	if (fam == SMFIA_INET6 && strncasecmp(addr, "IPv6:", 5) == 0)
		addr += 5;
	if (inet_pton(fam == SMFIA_INET ? AF_INET : AF_INET6, addr, bin) != 1 ||
	    inet_ntop(fam == SMFIA_INET ? AF_INET : AF_INET6, bin, ip,
	    (socklen_t)iplen) == NULL)
		ip[0] = '\0';
	return 0;
}

int
mproto_stage(char cmd)
{
	switch (cmd) {
	case SMFIC_CONNECT:
		return 0;
	case SMFIC_HELO:
		return 1;
	case SMFIC_MAIL:
		return 2;
	case SMFIC_RCPT:
		return 3;
	case SMFIC_DATA:
		return 4;
	case SMFIC_BODYEOB:
		return 5;
	case SMFIC_EOH:
		return 6;
	default:
		return -1;
	}
}

/* same_name - "{x}" and "x" name the same macro */
static int
same_name(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen >= 2 && a[0] == '{' && a[alen - 1] == '}') {
		a++;
		alen -= 2;
	}
	if (blen >= 2 && b[0] == '{' && b[blen - 1] == '}') {
		b++;
		blen -= 2;
	}
	return alen == blen && memcmp(a, b, alen) == 0;
}

const char *
mproto_macro(const unsigned char *data, size_t len, const char *name)
{
	size_t i = 0;

	while (i < len) {
		const unsigned char *n0 = memchr(data + i, '\0', len - i), *v0;
		size_t vi;

		if (n0 == NULL)
			return NULL;
		vi = (size_t)(n0 - data) + 1;
		if (vi >= len)
			return NULL;
		v0 = memchr(data + vi, '\0', len - vi);
		if (v0 == NULL)
			return NULL;
		if (same_name((const char *)data + i, (size_t)(n0 - data) - i, name))
			return (const char *)data + vi;
		i = (size_t)(v0 - data) + 1;
	}
	return NULL;
}

static void
buf_room(struct mproto_buf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return;
	while (b->cap - b->len < n)
		b->cap = b->cap ? b->cap * 2 : 256;
	b->p = realloc(b->p, b->cap);
	if (b->p == NULL)
		abort();  /* as util.c's xmalloc: out of memory ends us */
}

void
mproto_add(struct mproto_buf *b, const void *p, size_t n)
{
	buf_room(b, n);
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

void
mproto_add_u32(struct mproto_buf *b, uint32_t v)
{
	unsigned char q[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
	    (unsigned char)(v >> 8), (unsigned char)v};

	mproto_add(b, q, 4);
}

void
mproto_add_str(struct mproto_buf *b, const char *s)
{
	mproto_add(b, s, strlen(s) + 1);
}

void
mproto_begin(struct mproto_buf *b, char cmd)
{
	b->frame = b->len;
	mproto_add_u32(b, 0);
	mproto_add(b, &cmd, 1);
}

void
mproto_end(struct mproto_buf *b)
{
	uint32_t n = (uint32_t)(b->len - b->frame - MILTER_LEN_BYTES);

	b->p[b->frame] = (unsigned char)(n >> 24);
	b->p[b->frame + 1] = (unsigned char)(n >> 16);
	b->p[b->frame + 2] = (unsigned char)(n >> 8);
	b->p[b->frame + 3] = (unsigned char)n;
}

void
mproto_simple(struct mproto_buf *b, char cmd)
{
	mproto_begin(b, cmd);
	mproto_end(b);
}

/* enhanced - an enhanced status code "C.S.D" (RFC 3463) */
static int
enhanced(const char *x)
{
	for (int part = 0; part < 3; part++) {
		int n = 0;

		while (isdigit((unsigned char)*x) && n < 4) {
			x++;
			n++;
		}
		if (n == 0 || n > 3)
			return 0;
		if (part < 2 && *x++ != '.')
			return 0;
	}
	return *x == '\0';
}

int
mproto_reply_text(const char *rcode, const char *xcode, const char *text,
    char *out, size_t outlen)
{
	int n;

	if (rcode == NULL || strlen(rcode) != 3 ||
	    (rcode[0] != '4' && rcode[0] != '5') ||
	    !isdigit((unsigned char)rcode[1]) || !isdigit((unsigned char)rcode[2]))
		return -1;
	if (xcode != NULL && !enhanced(xcode))
		return -1;
	if (text != NULL && strpbrk(text, "\r\n") != NULL)
		return -1;
	n = snprintf(out, outlen, "%s%s%s%s%s", rcode, xcode ? " " : "",
	    xcode ? xcode : "", text ? " " : "", text ? text : "");
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

void
mproto_buf_free(struct mproto_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
