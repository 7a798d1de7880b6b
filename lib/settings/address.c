/*
 * address.c - the addresses a configuration names: the milter socket
 * (libmilter's spec), the metrics endpoint's listening address, host
 * names and ports (see settings.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "dname.h"
#include "settings.h"
#include "util.h"

#define SOCKET_MAX 512                 /* a socket spec */

/* settings_host_valid - a host name (dname_host_valid: not the root, labels of 1
 * to 63 octets, at most DNAME_MAX) of letters, digits, '-', '_' and '.' */
int
settings_host_valid(const char *s)
{
	return dname_host_valid(s, 0) &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789-_.") == strlen(s);
}

/* settings_port_parse - "1".."65535", decimal digits only */
int
settings_port_parse(const char *s, size_t len)
{
	char buf[8];
	unsigned long port;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (str_parse_uint(buf, 65535, &port) < 0 || port == 0)
		return -1;
	return (int)port;
}

int
settings_socket_valid(const char *spec, char *err, size_t errlen)
{
	static const char *const kinds =
	    "inet:PORT@HOST, inet6:PORT@HOST, unix:/path or local:/path";
	struct sockaddr_un sun;
	unsigned char addr[16];
	const char *rest, *at, *host;
	char shown[80], ip[INET6_ADDRSTRLEN + 2];
	size_t len = strnlen(spec, SOCKET_MAX + 1), hlen;
	int v6;

	if (len > SOCKET_MAX) {
		snprintf(err, errlen, "socket spec too long");
		return -1;
	}
	if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
		rest = strchr(spec, ':') + 1;
		if (rest[0] != '/') {
			snprintf(err, errlen, "\"%s\": the socket path must be "
			    "absolute", str_show(spec, shown, sizeof(shown)));
			return -1;
		}
		if (strlen(rest) >= sizeof(sun.sun_path)) {
			snprintf(err, errlen, "\"%s\": the socket path is "
			    "longer than %zu", str_show(spec, shown, sizeof(shown)),
			    sizeof(sun.sun_path) - 1);
			return -1;
		}
		return 0;
	}
	if (strncmp(spec, "inet:", 5) == 0)
		v6 = 0;
	else if (strncmp(spec, "inet6:", 6) == 0)
		v6 = 1;
	else {
		snprintf(err, errlen, "\"%s\" is not a socket spec (%s)",
		    str_show(spec, shown, sizeof(shown)), kinds);
		return -1;
	}
	rest = strchr(spec, ':') + 1;
	at = strchr(rest, '@');
	if (at == NULL || at[1] == '\0') {
		snprintf(err, errlen, "\"%s\": missing @HOST (%s)",
		    str_show(spec, shown, sizeof(shown)), kinds);
		return -1;
	}
	if (settings_port_parse(rest, (size_t)(at - rest)) < 0) {
		snprintf(err, errlen, "\"%s\": bad port (must be 1..65535)",
		    str_show(spec, shown, sizeof(shown)));
		return -1;
	}
	host = at + 1;
	hlen = strlen(host);
	if (v6 && host[0] == '[') {
		/* "[::1]": an IPv6 literal in brackets */
		if (hlen < 3 || host[hlen - 1] != ']' || hlen - 2 >= sizeof(ip))
			goto badhost;
		memcpy(ip, host + 1, hlen - 2);
		ip[hlen - 2] = '\0';
		if (inet_pton(AF_INET6, ip, addr) != 1)
			goto badhost;
		return 0;
	}
	if (v6 && strchr(host, ':') != NULL) {
		if (inet_pton(AF_INET6, host, addr) != 1)
			goto badhost;
		return 0;
	}
	if (settings_host_valid(host))
		return 0;
badhost:
	snprintf(err, errlen, "\"%s\": bad host (a name or an IP%s address)",
	    str_show(spec, shown, sizeof(shown)), v6 ? "v6" : "v4");
	return -1;
}

int
settings_listen_parse(const char *spec, struct sockaddr_storage *ss,
    unsigned *sslen, char *err, size_t errlen)
{
	const char *colon, *host, *hend;
	char ip[INET6_ADDRSTRLEN + 1], shown[80];
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	size_t hlen;
	int port;

	if (spec[0] == '[') {
		host = spec + 1;
		hend = strchr(host, ']');
		if (hend == NULL || hend[1] != ':')
			goto bad;
		colon = hend + 1;
	} else {
		host = spec;
		colon = strrchr(spec, ':');
		if (colon == NULL)
			goto bad;
		hend = colon;
	}
	hlen = (size_t)(hend - host);
	port = settings_port_parse(colon + 1, strlen(colon + 1));
	if (hlen == 0 || hlen >= sizeof(ip) || port < 0)
		goto bad;
	memcpy(ip, host, hlen);
	ip[hlen] = '\0';
	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (spec[0] != '[' && inet_pton(AF_INET, ip, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		if (ss != NULL)
			memcpy(ss, &sin, sizeof(sin));
		if (sslen != NULL)
			*sslen = sizeof(sin);
		return 0;
	}
	if (spec[0] == '[' && inet_pton(AF_INET6, ip, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons((uint16_t)port);
		if (ss != NULL)
			memcpy(ss, &sin6, sizeof(sin6));
		if (sslen != NULL)
			*sslen = sizeof(sin6);
		return 0;
	}
bad:
	snprintf(err, errlen, "\"%s\" is not an address to listen on: an IP "
	    "address and a port, like \"127.0.0.1:9891\" or \"[::1]:9891\"",
	    str_show(spec, shown, sizeof(shown)));
	return -1;
}
