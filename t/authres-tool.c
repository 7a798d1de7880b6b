/*
 * authres-tool.c - drive lib/authres from a script (t/authres-suite.py).
 *
 * Every input line is JSON, every output line is one JSON object:
 *   authres-tool            line = "header value" (a JSON string);
 *                           prints the parse, or {"error": "..."}
 *   authres-tool --id       line = "header value"; prints
 *                           {"authserv_id": "..."} (authres_authserv_id)
 *                           or {"error": "..."}
 *   authres-tool --render   line = ["authserv-id", version|null, groups...]
 *                           where a group is "r", method, result, reason,
 *                           comment or "p", ptype, property, value,
 *                           comment (null where absent); prints
 *                           {"value": crlf-folded, "value_lf": lf-folded}
 * A line that is not valid JSON prints {"error": "bad input line"}.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "util.h"

#define MAX_LINE (1024 * 1024)
#define MAX_ITEMS 512

/* ---- a little JSON: strings, null, and arrays of them ---------------- */

static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	int i, h;

	for (i = 0; i < 4; i++) {
		if ((h = hexval((unsigned char)p[i])) < 0)
			return -1;
		v = v * 16 + (unsigned)h;
	}
	*out = v;
	return 0;
}

static void
put_utf8(struct dynbuf *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	dynbuf_append(b, u, n);
}

/* a JSON string at *pp (at '"'); NUL characters are refused */
static char *
json_string(const char **pp)
{
	const char *p = *pp;
	struct dynbuf b;
	unsigned cp, lo;

	if (*p++ != '"')
		return NULL;
	dynbuf_init(&b, MAX_LINE);
	while (*p != '"') {
		if (*p == '\0')
			goto bad;
		if (*p != '\\') {
			dynbuf_append(&b, p++, 1);
			continue;
		}
		p++;
		switch (*p) {
		case '"': case '\\': case '/':
			dynbuf_append(&b, p, 1);
			break;
		case 'b': dynbuf_append(&b, "\b", 1); break;
		case 'f': dynbuf_append(&b, "\f", 1); break;
		case 'n': dynbuf_append(&b, "\n", 1); break;
		case 'r': dynbuf_append(&b, "\r", 1); break;
		case 't': dynbuf_append(&b, "\t", 1); break;
		case 'u':
			if (hex4(p + 1, &cp) < 0 || cp == 0)
				goto bad;
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && p[1] == '\\' &&
			    p[2] == 'u' && hex4(p + 3, &lo) == 0 &&
			    lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
				p += 6;
			}
			put_utf8(&b, cp);
			break;
		default:
			goto bad;
		}
		p++;
	}
	*pp = p + 1;
	return dynbuf_take(&b);
bad:
	dynbuf_free(&b);
	return NULL;
}

/* an array of strings and nulls; returns the count or -1 */
static int
json_array_items(const char *p, char **items, int max, int *np)
{
	int n = 0;

	p = skip_ws(p);
	if (*p++ != '[')
		return -1;
	p = skip_ws(p);
	if (*p == ']')
		return 0;
	for (;;) {
		if (n >= max)
			return -1;
		if (strncmp(p, "null", 4) == 0) {
			items[n] = NULL;
			p += 4;
		} else if ((items[n] = json_string(&p)) == NULL) {
			return -1;
		}
		*np = ++n;
		p = skip_ws(p);
		if (*p == ']')
			break;
		if (*p++ != ',')
			return -1;
		p = skip_ws(p);
	}
	p = skip_ws(p + 1);
	return *p == '\0' ? n : -1;
}

static int
json_array(const char *p, char **items, int max)
{
	int n = 0, i, rc = json_array_items(p, items, max, &n);

	if (rc < 0)
		for (i = 0; i < n; i++)
			free(items[i]);
	return rc;
}

static void
out_str(const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", stdout);
		else if (*p == '\r')
			fputs("\\r", stdout);
		else if (*p == '\t')
			fputs("\\t", stdout);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void
out_error(const char *msg)
{
	fputs("{\"error\": ", stdout);
	out_str(msg);
	fputs("}\n", stdout);
}

/* one result rendered alone, without comments (what python-authres shows
 * as str(result)); folds are left for the script to undo */
static char *
result_text(const struct authres_result *r)
{
	struct authres *one = authres_new("x");
	struct authres_result *c;
	char *s, *t;
	size_t i;

	if ((c = authres_add(one, r->method, r->result, NULL)) == NULL) {
		authres_free(&one);
		return xstrdup("");
	}
	if (r->reason != NULL)
		c->reason = xstrdup(r->reason);
	for (i = 0; i < r->nprops; i++)
		authres_add_prop(c, r->props[i].ptype, r->props[i].property,
		    r->props[i].value);
	s = authres_render(one);
	t = xstrdup(s + 2 + strspn(s + 2, " \r\n\t"));
	free(s);
	authres_free(&one);
	return t;
}

static void
do_parse(const char *value)
{
	char err[256];
	struct authres *ar = authres_parse(value, err, sizeof(err));
	size_t i, j;
	char *text;

	if (ar == NULL) {
		out_error(err);
		return;
	}
	fputs("{\"authserv_id\": ", stdout);
	out_str(ar->authserv_id);
	printf(", \"version\": %d, \"none\": %s, \"results\": [", ar->version,
	    ar->none ? "true" : "false");
	for (i = 0; i < ar->nresults; i++) {
		const struct authres_result *r = &ar->results[i];

		fputs(i ? ", {\"method\": " : "{\"method\": ", stdout);
		out_str(r->method);
		fputs(", \"result\": ", stdout);
		out_str(r->result);
		fputs(", \"reason\": ", stdout);
		out_str(r->reason);
		fputs(", \"comment\": ", stdout);
		out_str(r->comment);
		fputs(", \"text\": ", stdout);
		text = result_text(r);
		out_str(text);
		free(text);
		fputs(", \"props\": [", stdout);
		for (j = 0; j < r->nprops; j++) {
			fputs(j ? ", {\"ptype\": " : "{\"ptype\": ", stdout);
			out_str(r->props[j].ptype);
			fputs(", \"property\": ", stdout);
			out_str(r->props[j].property);
			fputs(", \"value\": ", stdout);
			out_str(r->props[j].value);
			fputs(", \"comment\": ", stdout);
			out_str(r->props[j].comment);
			putchar('}');
		}
		fputs("]}", stdout);
	}
	fputs("]}\n", stdout);
	authres_free(&ar);
}

static void
do_id(const char *value)
{
	char id[256];

	if (authres_authserv_id(value, id, sizeof(id)) < 0) {
		out_error("no authserv-id");
		return;
	}
	fputs("{\"authserv_id\": ", stdout);
	out_str(id);
	fputs("}\n", stdout);
}

static int
arg_ok(char **it, int n, int i, int need)
{
	int k;

	if (i + need > n)
		return 0;
	for (k = 0; k < need; k++)
		if (k < 2 && it[i + k] == NULL)
			return 0;
	return 1;
}

static void
do_render(char **it, int n)
{
	struct authres *ar;
	struct authres_result *r = NULL;
	unsigned long v;
	char *s;
	int i = 2;

	if (n < 2 || it[0] == NULL) {
		out_error("bad render spec");
		return;
	}
	ar = authres_new(it[0]);
	if (it[1] != NULL && str_parse_uint(it[1], 999999, &v) == 0)
		ar->version = (int)v;
	while (i < n) {
		if (it[i] != NULL && strcmp(it[i], "r") == 0 &&
		    arg_ok(it, n, i + 1, 4)) {
			r = authres_add(ar, it[i + 1], it[i + 2], it[i + 4]);
			if (r == NULL)
				break;
			if (it[i + 3] != NULL)
				r->reason = xstrdup(it[i + 3]);
			i += 5;
		} else if (it[i] != NULL && strcmp(it[i], "p") == 0 &&
		    r != NULL && arg_ok(it, n, i + 1, 4) && it[i + 3] != NULL) {
			if (authres_add_prop_comment(r, it[i + 1], it[i + 2],
			    it[i + 3], it[i + 4]) < 0)
				break;
			i += 5;
		} else {
			break;
		}
	}
	if (i < n) {
		out_error("render spec refused");
		authres_free(&ar);
		return;
	}
	fputs("{\"value\": ", stdout);
	s = authres_render(ar);
	out_str(s);
	free(s);
	fputs(", \"value_lf\": ", stdout);
	s = authres_render_lf(ar);
	out_str(s);
	free(s);
	fputs("}\n", stdout);
	authres_free(&ar);
}

int
main(int argc, char **argv)
{
	enum { PARSE, ID, RENDER } mode = PARSE;
	char *line = NULL, *items[MAX_ITEMS], *value;
	const char *p;
	size_t cap = 0;
	ssize_t len;
	int n, i;

	if (argc > 1 && strcmp(argv[1], "--id") == 0)
		mode = ID;
	else if (argc > 1 && strcmp(argv[1], "--render") == 0)
		mode = RENDER;
	else if (argc > 1) {
		fprintf(stderr, "usage: authres-tool [--id | --render]\n");
		return 2;
	}
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		if (len > MAX_LINE) {
			out_error("bad input line");
			continue;
		}
		line[strcspn(line, "\n")] = '\0';
		if (mode == RENDER) {
			if ((n = json_array(line, items, MAX_ITEMS)) < 0) {
				out_error("bad input line");
				continue;
			}
			do_render(items, n);
			for (i = 0; i < n; i++)
				free(items[i]);
			fflush(stdout);
			continue;
		}
		p = skip_ws(line);
		if ((value = json_string(&p)) == NULL ||
		    *skip_ws(p) != '\0') {
			free(value);
			out_error("bad input line");
			continue;
		}
		if (mode == PARSE)
			do_parse(value);
		else
			do_id(value);
		free(value);
		fflush(stdout);
	}
	free(line);
	return 0;
}
