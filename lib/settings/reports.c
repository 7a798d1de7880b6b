/*
 * reports.c - the checks of the reports.* settings (DMARC aggregate
 * reports, issue 14): where the store is, the address reports come from,
 * the SMTP relay they go through (see settings.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "dname.h"
#include "settings.h"
#include "util.h"

#define ADDR_MAX 254  /* RFC 5321 4.5.3.1.3: a path of 256 with its <> */
#define LOCAL_MAX 64  /* RFC 5321 4.5.3.1.1 */
#define TEXT_MAX 255  /* reports.org_name */

/* RFC 5322 3.2.3 atext, without the letters and digits */
static const char atext_specials[] = "!#$%&'*+-/=?^_`{|}~";

/* has_ctl - whether s holds a control character or DEL */
static int
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* settings_store_uri_valid - "sqlite:" and an absolute file path, or a
 * libpq connection URI "postgresql://..." or "postgres://...". 0, or -1
 * with err */
int
settings_store_uri_valid(const char *s, char *err, size_t errlen)
{
	char shown[80];
	const char *path;

	if (has_ctl(s))
		goto bad;
	if (strncmp(s, "sqlite:", 7) == 0) {
		path = s + 7;
		if (path[0] != '/' || path[1] == '\0' ||
		    path[strlen(path) - 1] == '/') {
			snprintf(err, errlen, "\"%s\": sqlite: wants the "
			    "absolute path of a file, as "
			    "\"sqlite:/var/lib/authmilter/reports.db\"",
			    str_show(s, shown, sizeof(shown)));
			return -1;
		}
		return 0;
	}
	/* libpq reads the rest ("postgresql://" alone: its defaults and
	 * PG* environment variables) */
	if (strncmp(s, "postgresql://", 13) == 0 ||
	    strncmp(s, "postgres://", 11) == 0)
		return 0;
bad:
	snprintf(err, errlen, "\"%s\" is not \"sqlite:/absolute/path\", "
	    "\"postgresql://...\" or \"postgres://...\"",
	    str_show(s, shown, sizeof(shown)));
	return -1;
}

/* dot_atom - whether s[0..len) is an RFC 5322 dot-atom: atext runs joined
 * by single dots, none at either end */
static int
dot_atom(const char *s, size_t len)
{
	int prev_dot = 1;

	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (prev_dot)
				return 0;
			prev_dot = 1;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') ||
		    strchr(atext_specials, ch) != NULL))
			return 0;
		prev_dot = 0;
	}
	return !prev_dot;
}

/* settings_email_valid - local@domain: a dot-atom local part of at most 64
 * octets and a host name (no quoted local parts, no address literals),
 * at most 254 octets in all. 0, or -1 with err */
int
settings_email_valid(const char *s, char *err, size_t errlen)
{
	const char *at = strrchr(s, '@');
	size_t len = strnlen(s, ADDR_MAX + 1);
	char shown[80];

	if (at == NULL || len > ADDR_MAX || (size_t)(at - s) > LOCAL_MAX ||
	    !dot_atom(s, (size_t)(at - s)) || !settings_host_valid(at + 1)) {
		snprintf(err, errlen, "\"%s\" is not a mail address "
		    "local@domain", str_show(s, shown, sizeof(shown)));
		return -1;
	}
	return 0;
}

/* settings_relay_valid - "host", "host:port", "[IPv6]" or "[IPv6]:port"
 * (host a name or an IPv4 address). 0, or -1 with err */
int
settings_relay_valid(const char *s, char *err, size_t errlen)
{
	const char *colon, *end;
	char host[DNAME_BUFSIZE], shown[80];
	unsigned char addr[16];
	size_t hlen;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL || (size_t)(end - s - 1) >= sizeof(host))
			goto bad;
		hlen = (size_t)(end - s - 1);
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, addr) != 1)
			goto bad;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (colon == NULL && end[1] != '\0')
			goto bad;
	} else {
		colon = strchr(s, ':');
		hlen = colon != NULL ? (size_t)(colon - s) : strlen(s);
		if (hlen == 0 || hlen >= sizeof(host))
			goto bad;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (!settings_host_valid(host))
			goto bad;
	}
	if (colon != NULL && settings_port_parse(colon + 1,
	    strlen(colon + 1)) < 0)
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "\"%s\" is not \"host\", \"host:port\" or "
	    "\"[IPv6]:port\"", str_show(s, shown, sizeof(shown)));
	return -1;
}

/* settings_text_valid - a short line of text (reports.org_name): at most
 * 255 octets, no control characters. 0, or -1 with err */
int
settings_text_valid(const char *s, char *err, size_t errlen)
{
	char shown[80];

	if (strnlen(s, TEXT_MAX + 1) > TEXT_MAX) {
		snprintf(err, errlen, "longer than %d characters", TEXT_MAX);
		return -1;
	}
	if (has_ctl(s)) {
		snprintf(err, errlen, "\"%s\" holds a control character",
		    str_show(s, shown, sizeof(shown)));
		return -1;
	}
	return 0;
}
