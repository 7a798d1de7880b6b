/*
 * cidr.h - IPv4 and IPv6 networks, for trusted_networks and the like.
 */
#ifndef AM_CIDR_H
#define AM_CIDR_H

#include <stddef.h>

struct cidr {
	int family;              /* AF_INET or AF_INET6 */
	unsigned char addr[16];  /* network, host bits cleared */
	unsigned prefix;
};

struct cidr_list {
	struct cidr *v;
	size_t n;
};

/* cidr_parse - "192.0.2.0/24", "2001:db8::/32", or a bare address (full
 * prefix). Host bits set below the prefix are an error ("192.0.2.1/24"):
 * returns -1 with err filled. */
int cidr_parse(const char *text, struct cidr *out, char *err, size_t errlen);
/* cidr_list_add - append one network */
void cidr_list_add(struct cidr_list *l, const struct cidr *c);
void cidr_list_free(struct cidr_list *l);
/* cidr_list_match - whether the textual address (IPv4, IPv6 or IPv4-mapped
 * IPv6, which matches IPv4 networks) is in any network of the list */
int cidr_list_match(const struct cidr_list *l, const char *ip);
/* ip_unmap - write the canonical text of ip into out: "::ffff:192.0.2.1"
 * becomes "192.0.2.1", IPv6 is compressed. 0, or -1 if ip is not an address */
int ip_unmap(const char *ip, char *out, size_t outlen);
/* ip_parse_unmapped - the address in ip: AF_INET and its 4 octets in
 * addr[0..3] (the rest zero), or AF_INET6 and 16 octets; an IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) is AF_INET. 0, or -1 when ip (NULL too)
 * is not an address. The one unmapping: every caller uses it. */
int ip_parse_unmapped(const char *ip, int *family, unsigned char addr[16]);
/* ip_reverse_name - the PTR owner name of an address (4 octets, or 16 with
 * v6): "4.3.2.1.in-addr.arpa" or the 32 nibbles under ip6.arpa (RFC 3596
 * 2.5); IP_REVERSE_SIZE bytes are always enough. 0, or -1 when out is too
 * small (out is then "") */
#define IP_REVERSE_SIZE 73
int ip_reverse_name(const unsigned char *addr, int v6, char *out,
    size_t outlen);

#endif
