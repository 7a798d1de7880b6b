#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_config
#endif
/*
 * fuzz-config.c - libFuzzer target for lib/settings: load the input as a
 * config text. A load either fails with a "NAME:LINE: ..." message or gives
 * a snapshot whose every field is within the bounds the table promises;
 * anything else aborts. @include is refused for strings, so the input is
 * all that is read.
 *
 * libconfig 1.5 leaks the text of a string token that its parser throws
 * away on a syntax error ('a = 1; "x"'): a few bytes per failed load, in
 * the library. LeakSanitizer is told to ignore leaks from its scanner.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"
#include "settings.h"
#include "util.h"

#define FUZZ_MAX_INPUT 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* read by LeakSanitizer at startup when it is linked in */
const char *
__lsan_default_suppressions(void)
{
	return "leak:libconfig_yylex\nleak:strbuf_append\n";
}

static void
check_snapshot(const struct settings *c)
{
	char err[256];

	if (c->socket == NULL || settings_socket_valid(c->socket, err,
	    sizeof(err)) != 0)
		abort();
	if (c->socket_mode > 0777 || c->authserv_id == NULL ||
	    c->authserv_id[0] == '\0' || strpbrk(c->authserv_id, " ;()") ||
	    c->milter_timeout_s < 1 || c->milter_timeout_s > 3600 ||
	    c->dns_timeout_ms < 1 || c->dns_timeout_ms > 60000 ||
	    c->refcount != 1 || c->path == NULL)
		abort();
	if ((c->dns_nameservers == NULL) != (c->dns_nnameservers == 0) ||
	    (c->dns_transparent_zones == NULL) != (c->dns_ntransparent == 0))
		abort();
	for (size_t i = 0; i < c->trusted_networks.n; i++) {
		const struct cidr *n = &c->trusted_networks.v[i];

		if (n->prefix > (n->family == AF_INET ? 32u : 128u))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct settings *c;
	char err[512];
	char *text;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	c = settings_load_string(text, "fuzz.conf", err, sizeof(err));
	if (c != NULL)
		check_snapshot(c);
	else if (strncmp(err, "fuzz.conf", 9) != 0)
		abort();
	settings_unref(&c);
	free(text);
	return 0;
}
