/*
 * dname.c - domain names as text (see dname.h).
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "dname.h"

size_t
dname_len(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && name[n - 1] == '.' ? n - 1 : n;
}

int
dname_valid(const char *name)
{
	size_t n = dname_len(name), label = 0;

	if (n == 0)
		return name[0] == '\0' || strcmp(name, ".") == 0;
	if (n > DNAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (++label > DNAME_LABEL_MAX) {
			return 0;
		}
	}
	return label > 0;
}

int
dname_host_valid(const char *name, int multi)
{
	size_t n = dname_len(name);

	if (n == 0 || !dname_valid(name))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c >= 0x7f)
			return 0;
	}
	return !multi || dname_labels(name) >= 2;
}

int
dname_norm(const char *name, char *out, size_t outlen)
{
	size_t n = dname_len(name);

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (!dname_valid(name) || n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = '\0';
	return 0;
}

int
dname_equal(const char *a, const char *b)
{
	size_t na = dname_len(a), nb = dname_len(b);

	return na == nb && strncasecmp(a, b, na) == 0;
}

int
dname_under(const char *name, const char *dom)
{
	size_t n = dname_len(name), d = dname_len(dom);

	if (d == 0)
		return 1;
	if (n < d || strncasecmp(name + n - d, dom, d) != 0)
		return 0;
	return n == d || name[n - d - 1] == '.';
}

unsigned
dname_labels(const char *name)
{
	size_t n = dname_len(name);
	unsigned labels = n > 0;

	for (size_t i = 0; i < n; i++)
		if (name[i] == '.')
			labels++;
	return labels;
}

const char *
dname_parent(const char *name)
{
	const char *dot = strchr(name, '.');

	return dot != NULL ? dot + 1 : name + strlen(name);
}
