/*
 * rua.c - the destinations of aggregate reports: a rua= tag value read as
 * a list of mailto: addresses (report.h).
 *
 * Each comma-separated item must be a dmarc-uri by lib/dmarc's own rule
 * (dmarc_uri_valid(): the one reading of rua= in authmilter). Of those,
 * only mailto: URIs are kept: RFC 9990 3.5.2 defines delivery by mail and
 * 3.5.3 leaves other schemes to later documents. From a mailto: URI
 * (RFC 6068) we take the address before any "?" (its header fields are not
 * ours to add to a report) and %-decode it; the address is then checked
 * as one we can put into a To: field unquoted, so a record cannot smuggle
 * text into the report's header. The "!" size suffix of RFC 7489 6.2 is
 * kept in bytes; RFC 9990 does not define it, so the reporter decides
 * what it means (report_rua_fits()).
 */
#include "config.h"

#include <string.h>

#include "dname.h"
#include "report.h"
#include "report_impl.h"

/* atext of RFC 5322 3.2.3 */
static int
atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

int
report_addr_ok(const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t local;

	if (at == NULL || at == addr || strlen(addr) >= REPORT_ADDR_MAX)
		return 0;
	local = (size_t)(at - addr);
	/* dot-atom-text: atext runs joined by single dots */
	if (addr[0] == '.' || addr[local - 1] == '.')
		return 0;
	for (size_t i = 0; i < local; i++) {
		if (addr[i] == '.') {
			if (addr[i + 1] == '.')
				return 0;
		} else if (!atext((unsigned char)addr[i])) {
			return 0;
		}
	}
	return dname_host_valid(at + 1, 1) && at[1] != '.' &&
	       at[strlen(at) - 1] != '.';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* size_limit - the "!" suffix of n bytes at v (digits, then k/m/g/t) in
 * bytes, saturating; dmarc_uri_valid() has checked its form */
static uint64_t
size_limit(const char *v, size_t n)
{
	uint64_t x = 0;
	unsigned shift = 0;
	size_t i = 0;

	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
		unsigned d = (unsigned)(v[i] - '0');

		if (x > (UINT64_MAX - d) / 10)
			return UINT64_MAX;
		x = x * 10 + d;
	}
	if (i < n) {
		switch (v[i] | 0x20) {
		case 'k':
			shift = 10;
			break;
		case 'm':
			shift = 20;
			break;
		case 'g':
			shift = 30;
			break;
		case 't':
			shift = 40;
			break;
		default:
			break;
		}
	}
	if (shift > 0 && x > (UINT64_MAX >> shift))
		return UINT64_MAX;
	return x << shift;
}

/* one_uri - the n bytes at u (a valid mailto: dmarc-uri) into out; 0, or
 * -1 when its address is not one we send to */
static int
one_uri(const char *u, size_t n, struct report_rua *out)
{
	const char *bang = memchr(u, '!', n);
	size_t end = bang ? (size_t)(bang - u) : n, o = 0;
	char *at;

	out->max_bytes = bang ? size_limit(bang + 1, n - end - 1) : 0;
	for (size_t i = 7; i < end && u[i] != '?'; i++) {
		char c = u[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= end || (hi = hexval(u[i + 1])) < 0 ||
			    (lo = hexval(u[i + 2])) < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0' || o + 1 >= sizeof(out->addr))
			return -1;
		out->addr[o++] = c;
	}
	out->addr[o] = '\0';
	if (!report_addr_ok(out->addr))
		return -1;
	at = strrchr(out->addr, '@');
	str_lower(at + 1);
	out->domain = at + 1;
	return 0;
}

size_t
report_rua_parse(const char *rua, struct report_rua_list *out)
{
	const char *p = rua != NULL ? rua : "";

	out->n = 0;
	out->skipped = 0;
	for (;;) {
		const char *comma = strchr(p, ','),
			   *e = comma ? comma : p + strlen(p);
		const char *s = p;
		struct report_rua one;
		int mailto = 0, dup = 0;

		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == s) {
			/* an empty item: nothing to count */
		} else if (!dmarc_uri_valid(s, (size_t)(e - s), &mailto) ||
			   !mailto || one_uri(s, (size_t)(e - s), &one) < 0) {
			out->skipped++;
		} else {
			for (size_t i = 0; i < out->n; i++)
				if (strcmp(out->uri[i].addr, one.addr) == 0)
					dup = 1;
			if (dup || out->n >= REPORT_RUA_MAX) {
				out->skipped++;
			} else {
				struct report_rua *u = &out->uri[out->n++];

				memcpy(u->addr, one.addr, sizeof(u->addr));
				u->domain = u->addr + (one.domain - one.addr);
				u->max_bytes = one.max_bytes;
			}
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return out->n;
}

int
report_rua_fits(const struct report_rua *u, uint64_t bytes)
{
	return u->max_bytes == 0 || bytes <= u->max_bytes;
}
