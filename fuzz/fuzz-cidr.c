#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_cidr
#endif
/*
 * fuzz-cidr.c - libFuzzer target for lib/core/cidr.c: parse the input as a
 * network and unmap it as an address. A parsed network written back out
 * must parse to the same network and contain its own address; an unmapped
 * address must unmap to itself again. Any disagreement aborts.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"
#include "util.h"

#define FUZZ_MAX_INPUT 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_network(const struct cidr *c)
{
	char addr[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 8], err[256];
	struct cidr again;
	struct cidr_list l = { NULL, 0 };

	if ((c->family != AF_INET && c->family != AF_INET6) ||
	    c->prefix > (c->family == AF_INET ? 32u : 128u) ||
	    inet_ntop(c->family, c->addr, addr, sizeof(addr)) == NULL)
		abort();
	snprintf(text, sizeof(text), "%s/%u", addr, c->prefix);
	if (cidr_parse(text, &again, err, sizeof(err)) != 0 ||
	    again.family != c->family || again.prefix != c->prefix ||
	    memcmp(again.addr, c->addr, sizeof(c->addr)) != 0)
		abort();
	cidr_list_add(&l, c);
	if (!cidr_list_match(&l, addr))
		abort();
	cidr_list_free(&l);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[FUZZ_MAX_INPUT + 1], out[INET6_ADDRSTRLEN],
	    out2[INET6_ADDRSTRLEN], err[256];
	struct cidr c;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	err[0] = '\0';
	if (cidr_parse(text, &c, err, sizeof(err)) == 0)
		check_network(&c);
	else if (err[0] == '\0')
		abort();
	if (ip_unmap(text, out, sizeof(out)) == 0) {
		if (ip_unmap(out, out2, sizeof(out2)) != 0 ||
		    strcmp(out, out2) != 0)
			abort();
	}
	return 0;
}
