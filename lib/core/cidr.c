/*
 * cidr.c - IPv4 and IPv6 networks and address matching (see cidr.h).
 *
 * Addresses are parsed with inet_pton(), so only the canonical dotted quad
 * (RFC 4001's "dotted-decimal", no octal, no leading zeros, no short
 * forms like "1.2.3") and RFC 4291 section 2.2 IPv6 text are accepted. The
 * prefix length is strict: decimal digits only, no sign, no leading zero
 * ("/08" is refused: it reads like octal), at most 32 or 128.
 *
 * An IPv4-mapped IPv6 network (RFC 4291 section 2.5.5.2) with a prefix of
 * at least 96, such as "::ffff:10.0.0.0/104", is stored as the IPv4 network
 * it denotes (10.0.0.0/8), and an IPv4-mapped client address is matched as
 * the IPv4 address it carries, so a dual-stack socket sees one set of rules.
 *
 * Errors: cidr_parse() returns -1 with a message; cidr_list_match() says no
 * for anything that is not an address; ip_unmap() and ip_parse_unmapped()
 * return -1.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"
#include "util.h"

/* longest text we look at: a full IPv6 address with an embedded IPv4
 * address is 45 characters, plus "/128" */
#define CIDR_MAXLEN 64

static const unsigned char v4mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* parse_addr - text to family and 16 bytes (IPv4 in the first 4) */
static int
parse_addr(const char *s, int *family, unsigned char addr[16])
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -1;
}

/* is_v4mapped - whether a 16-byte IPv6 address is ::ffff:a.b.c.d */
static int
is_v4mapped(const unsigned char addr[16])
{
	return memcmp(addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0;
}

/* prefix_match - whether the first bits of a and b agree */
static int
prefix_match(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;
	unsigned char mask;

	if (memcmp(a, b, bytes) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return ((a[bytes] ^ b[bytes]) & mask) == 0;
}

/* clear_host_bits - zero everything below the prefix; returns whether any
 * bit was set */
static int
clear_host_bits(unsigned char *addr, unsigned len, unsigned bits)
{
	int was_set = 0;

	for (unsigned i = 0; i < len; i++) {
		unsigned char keep;

		if (bits >= 8 * (i + 1))
			continue;
		keep = bits > 8 * i ?
		    (unsigned char)(0xff << (8 - (bits - 8 * i))) : 0;
		if (addr[i] & (unsigned char)~keep)
			was_set = 1;
		addr[i] &= keep;
	}
	return was_set;
}

int
cidr_parse(const char *text, struct cidr *out, char *err, size_t errlen)
{
	char buf[CIDR_MAXLEN + 1], shown[CIDR_MAXLEN + 8];
	char net[INET6_ADDRSTRLEN];
	const char *slash, *p;
	unsigned long prefix, max;
	struct cidr c;
	size_t len;

	memset(out, 0, sizeof(*out));
	len = strnlen(text, CIDR_MAXLEN + 1);
	if (len == 0) {
		snprintf(err, errlen, "empty network");
		return -1;
	}
	if (len > CIDR_MAXLEN) {
		snprintf(err, errlen, "not an IP network: \"%s\" (too long)",
		    str_show(text, shown, 24));
		return -1;
	}
	slash = strchr(text, '/');
	memcpy(buf, text, slash ? (size_t)(slash - text) : len);
	buf[slash ? (size_t)(slash - text) : len] = '\0';

	memset(&c, 0, sizeof(c));
	if (parse_addr(buf, &c.family, c.addr) < 0) {
		snprintf(err, errlen, "not an IP address: \"%s\"",
		    str_show(text, shown, sizeof(shown)));
		return -1;
	}
	max = c.family == AF_INET ? 32 : 128;
	if (slash == NULL) {
		prefix = max;
	} else {
		p = slash + 1;
		if (*p == '\0') {
			snprintf(err, errlen, "missing prefix length in \"%s\"",
			    str_show(text, shown, sizeof(shown)));
			return -1;
		}
		/* digits only, at most 3 of them, no leading zero */
		if (strspn(p, "0123456789") != strlen(p) || strlen(p) > 3 ||
		    (p[0] == '0' && p[1] != '\0') ||
		    str_parse_uint(p, max, &prefix) < 0) {
			snprintf(err, errlen,
			    "bad prefix length in \"%s\" (must be 0..%lu)",
			    str_show(text, shown, sizeof(shown)), max);
			return -1;
		}
	}
	c.prefix = (unsigned)prefix;

	if (clear_host_bits(c.addr, c.family == AF_INET ? 4 : 16, c.prefix)) {
		if (inet_ntop(c.family, c.addr, net, sizeof(net)) == NULL)
			str_copy(net, "?", sizeof(net));
		snprintf(err, errlen,
		    "host bits set in %s (did you mean %s/%u?)",
		    str_show(text, shown, sizeof(shown)), net, c.prefix);
		return -1;
	}

	/* RFC 4291 2.5.5.2: ::ffff:0:0/96 is the IPv4 space */
	if (c.family == AF_INET6 && c.prefix >= 96 && is_v4mapped(c.addr)) {
		memmove(c.addr, c.addr + 12, 4);
		memset(c.addr + 4, 0, 12);
		c.family = AF_INET;
		c.prefix -= 96;
	}
	*out = c;
	return 0;
}

void
cidr_list_add(struct cidr_list *l, const struct cidr *c)
{
	/* grow to the next power of two (4, 8, 16, ...) when full */
	if (l->n == 0 || (l->n >= 4 && (l->n & (l->n - 1)) == 0))
		l->v = xrealloc(l->v,
		    (l->n < 4 ? 4 : 2 * l->n) * sizeof(*l->v));
	l->v[l->n++] = *c;
}

void
cidr_list_free(struct cidr_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int
ip_parse_unmapped(const char *ip, int *family, unsigned char addr[16])
{
	if (ip == NULL || strnlen(ip, CIDR_MAXLEN + 1) > CIDR_MAXLEN ||
	    parse_addr(ip, family, addr) < 0)
		return -1;
	if (*family == AF_INET6 && is_v4mapped(addr)) {
		memmove(addr, addr + 12, 4);
		memset(addr + 4, 0, 12);
		*family = AF_INET;
	}
	return 0;
}

int
cidr_list_match(const struct cidr_list *l, const char *ip)
{
	unsigned char addr[16];
	int family;

	if (l == NULL || ip_parse_unmapped(ip, &family, addr) < 0)
		return 0;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].family == family &&
		    prefix_match(l->v[i].addr, addr, l->v[i].prefix))
			return 1;
	return 0;
}

int
ip_unmap(const char *ip, char *out, size_t outlen)
{
	unsigned char addr[16];
	int family;

	if (ip_parse_unmapped(ip, &family, addr) < 0 ||
	    outlen > (size_t)~(socklen_t)0 ||
	    inet_ntop(family, addr, out, (socklen_t)outlen) == NULL)
		return -1;
	return 0;
}

int
ip_reverse_name(const unsigned char *addr, int v6, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (!v6) {
		int w = snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa",
		    addr[3], addr[2], addr[1], addr[0]);

		if (w < 0 || (size_t)w >= outlen) {
			out[0] = '\0';
			return -1;
		}
		return 0;
	}
	if (outlen < IP_REVERSE_SIZE)
		return -1;
	for (int i = 15; i >= 0; i--) {
		out[n++] = hex[addr[i] & 15];
		out[n++] = '.';
		out[n++] = hex[addr[i] >> 4];
		out[n++] = '.';
	}
	memcpy(out + n, "ip6.arpa", sizeof("ip6.arpa"));
	return 0;
}
