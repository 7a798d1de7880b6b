/*
 * milterload-corpus.c - load the benchmark corpus (see milterload-corpus.h).
 *
 * The TSV has a header line, then one row per message:
 *   id  file  client_ip  helo  mail_from  rcpt  auth_user  [extra...]
 * Addresses may be given bare or in <>; rcpt may list several, separated
 * by commas. Every input has a bound; a breach is an error, never a crash.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "milterload-corpus.h"
#include "util.h"

#define NFIXED 7

static int
is_wsp(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* read_file - the whole file, bounded by ML_MAX_FILE; NULL with err set */
static char *
read_file(const char *path, size_t *lenp, char *err, size_t errlen)
{
	FILE *f;
	char *buf;
	size_t len = 0, cap = 65536, got;

	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "%.400s: %s", path, strerror(errno));
		return NULL;
	}
	buf = xmalloc(cap);
	for (;;) {
		if (len == cap) {
			if (cap >= ML_MAX_FILE) {
				snprintf(err, errlen, "%.400s: larger than %u bytes",
				    path, ML_MAX_FILE);
				free(buf);
				fclose(f);
				return NULL;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%.400s: read error", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*lenp = len;
	return buf;
}

/* header_name_len - length of a field name at s (RFC 5322 3.6.8 ftext,
 * optional WSP before the colon as Postfix's is_header() allows), or 0 when
 * the line is not a header field; *colon gets the colon's offset */
static size_t
header_name_len(const char *s, size_t n, size_t *colon)
{
	size_t i = 0, name;

	while (i < n && s[i] > 32 && s[i] < 127 && s[i] != ':')
		i++;
	if (i == 0)
		return 0;
	name = i;
	while (i < n && is_wsp(s[i]))
		i++;
	if (i >= n || s[i] != ':')
		return 0;
	*colon = i;
	return name;
}

/* body_normalise - copy the body with every line ending (LF or CRLF) made
 * CRLF, and a last line without one given one (Postfix does the same) */
static void
body_normalise(const char *p, size_t n, struct ml_msg *m)
{
	size_t i, start = 0, out = 0, lines = 0;

	for (i = 0; i < n; i++)
		if (p[i] == '\n')
			lines++;
	m->body = xmalloc(n + lines + 3);
	for (i = 0; i <= n; i++) {
		size_t end;

		if (i < n && p[i] != '\n')
			continue;
		if (i == n && start == n)
			break;
		end = i;
		if (i < n && end > start && p[end - 1] == '\r')
			end--;
		memcpy(m->body + out, p + start, end - start);
		out += end - start;
		m->body[out++] = '\r';
		m->body[out++] = '\n';
		start = i + 1;
	}
	m->bodylen = out;
	m->body[out] = '\0';
}

int
msg_parse(const char *buf, size_t len, struct ml_msg *m, char *err,
    size_t errlen)
{
	size_t pos = 0, cap = 0;
	struct ml_header *cur = NULL;

	m->hdrs = NULL;
	m->nhdrs = 0;
	/* an mbox "From " line is not part of the message */
	if (len >= 5 && memcmp(buf, "From ", 5) == 0) {
		const char *nl = memchr(buf, '\n', len);

		pos = nl ? (size_t)(nl - buf) + 1 : len;
	}
	while (pos < len) {
		const char *line = buf + pos, *nl;
		size_t linelen, next, colon, namelen;

		nl = memchr(line, '\n', len - pos);
		linelen = nl ? (size_t)(nl - line) : len - pos;
		next = pos + linelen + (nl ? 1 : 0);
		if (linelen > 0 && line[linelen - 1] == '\r')
			linelen--;
		if (linelen == 0) {	/* the empty line: body follows */
			pos = next;
			break;
		}
		if (is_wsp(line[0]) && cur != NULL) {
			size_t old = strlen(cur->value);

			if (old + 1 + linelen > ML_MAX_HDR) {
				snprintf(err, errlen, "header %s longer than %u bytes",
				    cur->name, ML_MAX_HDR);
				return -1;
			}
			cur->value = xrealloc(cur->value, old + linelen + 2);
			cur->value[old] = '\n';
			memcpy(cur->value + old + 1, line, linelen);
			cur->value[old + 1 + linelen] = '\0';
			pos = next;
			continue;
		}
		namelen = header_name_len(line, linelen, &colon);
		if (namelen == 0)	/* not a header: the body starts here */
			break;
		if (m->nhdrs >= ML_MAX_HDRS) {
			snprintf(err, errlen, "more than %d header fields",
			    ML_MAX_HDRS);
			return -1;
		}
		if (m->nhdrs == cap) {
			cap = cap ? cap * 2 : 16;
			m->hdrs = xrealloc(m->hdrs, cap * sizeof(*m->hdrs));
		}
		cur = &m->hdrs[m->nhdrs++];
		cur->name = xstrndup(line, namelen);
		cur->value = xstrndup(line + colon + 1, linelen - colon - 1);
		pos = next;
	}
	body_normalise(buf + pos, len - pos, m);
	return 0;
}

/* addr_dup - a bare copy of an address given bare or in <>, trimmed */
static char *
addr_dup(const char *s, size_t n)
{
	while (n > 0 && is_wsp(*s)) {
		s++;
		n--;
	}
	while (n > 0 && is_wsp(s[n - 1]))
		n--;
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	return xstrndup(s, n);
}

/* split_rcpts - comma-separated recipients; "postmaster" when none */
static int
split_rcpts(const char *s, struct ml_msg *m)
{
	const char *p = s;

	m->rcpts = xcalloc(ML_MAX_RCPTS, sizeof(char *));
	m->nrcpt = 0;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char *a = addr_dup(p, n);

		if (*a == '\0') {
			free(a);
		} else if (m->nrcpt >= ML_MAX_RCPTS) {
			free(a);
			return -1;
		} else {
			m->rcpts[m->nrcpt++] = a;
		}
		p += n + (comma ? 1 : 0);
	}
	if (m->nrcpt == 0)
		m->rcpts[m->nrcpt++] = xstrdup("postmaster");
	return 0;
}

/* split_tabs - cut line in place at tabs; returns the field count (at most
 * max, the last field keeps any further tabs) */
static size_t
split_tabs(char *line, char **f, size_t max)
{
	size_t n = 0;

	f[n++] = line;
	while (n < max) {
		char *t = strchr(f[n - 1], '\t');

		if (t == NULL)
			break;
		*t = '\0';
		f[n++] = t + 1;
	}
	return n;
}

static void
msg_free(struct ml_msg *m, size_t nextra)
{
	size_t i;

	free(m->id);
	free(m->file);
	free(m->client_ip);
	free(m->helo);
	free(m->mail_from);
	free(m->auth_user);
	for (i = 0; i < m->nrcpt; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	if (m->extra)
		for (i = 0; i < nextra; i++)
			free(m->extra[i]);
	free(m->extra);
	for (i = 0; i < m->nhdrs; i++) {
		free(m->hdrs[i].name);
		free(m->hdrs[i].value);
	}
	free(m->hdrs);
	free(m->body);
	memset(m, 0, sizeof(*m));
}

void
corpus_free(struct ml_corpus *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		msg_free(&c->msgs[i], c->nextra);
	free(c->msgs);
	for (i = 0; i < c->nextra; i++)
		free(c->extra_names[i]);
	free(c->extra_names);
	memset(c, 0, sizeof(*c));
}

/* load_row - fill m from the fields of one row; 0 or -1 with err set */
static int
load_row(struct ml_corpus *c, struct ml_msg *m, char **f, size_t nf,
    const char *dir, const char *where, char *err, size_t errlen)
{
	char path[4096], perr[512];
	char *buf;
	size_t len, i;

	if (nf < NFIXED) {
		snprintf(err, errlen, "%s: %zu columns, need at least %d", where,
		    nf, NFIXED);
		return -1;
	}
	if (f[1][0] == '\0' || f[2][0] == '\0') {
		snprintf(err, errlen, "%s: empty file or client_ip", where);
		return -1;
	}
	m->id = xstrdup(f[0]);
	m->file = xstrdup(f[1]);
	m->client_ip = xstrdup(f[2]);
	m->helo = xstrdup(f[3]);
	m->mail_from = addr_dup(f[4], strlen(f[4]));
	m->auth_user = xstrdup(f[6]);
	if (split_rcpts(f[5], m) < 0) {
		snprintf(err, errlen, "%s: more than %d recipients", where,
		    ML_MAX_RCPTS);
		return -1;
	}
	m->extra = xcalloc(c->nextra + 1, sizeof(char *));
	for (i = 0; i < c->nextra; i++)
		m->extra[i] = xstrdup(NFIXED + i < nf ? f[NFIXED + i] : "");
	if (f[1][0] == '/' || dir == NULL)
		len = str_copy(path, f[1], sizeof(path));
	else
		len = (size_t)snprintf(path, sizeof(path), "%s/%s", dir, f[1]);
	if (len >= sizeof(path)) {
		snprintf(err, errlen, "%s: path too long", where);
		return -1;
	}
	if ((buf = read_file(path, &len, perr, sizeof(perr))) == NULL) {
		snprintf(err, errlen, "%s: %s", where, perr);
		return -1;
	}
	if (msg_parse(buf, len, m, perr, sizeof(perr)) < 0) {
		snprintf(err, errlen, "%s: %s: %s", where, path, perr);
		free(buf);
		return -1;
	}
	free(buf);
	return 0;
}

int
corpus_load(const char *tsv, struct ml_corpus *c, char *err, size_t errlen)
{
	FILE *f;
	char *line = NULL, *dir = NULL, *slash;
	char **fields;
	size_t linecap = 0, cap = 0, lineno = 0, maxf = NFIXED + 256;
	ssize_t got;
	int have_header = 0, rc = -1;

	memset(c, 0, sizeof(*c));
	if ((f = fopen(tsv, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", tsv, strerror(errno));
		return -1;
	}
	if ((slash = strrchr(tsv, '/')) != NULL)
		dir = xstrndup(tsv, (size_t)(slash - tsv) + (slash == tsv));
	fields = xcalloc(maxf, sizeof(char *));
	while ((got = getline(&line, &linecap, f)) >= 0) {
		char where[256];
		size_t nf, i;

		lineno++;
		snprintf(where, sizeof(where), "%.200s:%zu", tsv, lineno);
		if ((size_t)got > ML_MAX_LINE) {
			snprintf(err, errlen, "%s: line longer than %u bytes",
			    where, ML_MAX_LINE);
			goto out;
		}
		while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
			line[--got] = '\0';
		if (got == 0 || line[0] == '#')
			continue;
		nf = split_tabs(line, fields, maxf);
		if (!have_header) {
			have_header = 1;
			if (nf < NFIXED) {
				snprintf(err, errlen, "%s: header has %zu columns, "
				    "need at least %d", where, nf, NFIXED);
				goto out;
			}
			c->nextra = nf - NFIXED;
			c->extra_names = xcalloc(c->nextra + 1, sizeof(char *));
			for (i = 0; i < c->nextra; i++)
				c->extra_names[i] = xstrdup(fields[NFIXED + i]);
			continue;
		}
		if (c->n >= ML_MAX_ROWS) {
			snprintf(err, errlen, "%s: more than %d rows", where,
			    ML_MAX_ROWS);
			goto out;
		}
		if (c->n == cap) {
			cap = cap ? cap * 2 : 64;
			c->msgs = xrealloc(c->msgs, cap * sizeof(*c->msgs));
		}
		memset(&c->msgs[c->n], 0, sizeof(c->msgs[0]));
		c->n++;
		if (load_row(c, &c->msgs[c->n - 1], fields, nf, dir, where, err,
		    errlen) < 0)
			goto out;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", tsv);
		goto out;
	}
	if (c->n == 0) {
		snprintf(err, errlen, "%s: no messages", tsv);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		corpus_free(c);
	free(fields);
	free(line);
	free(dir);
	fclose(f);
	return rc;
}

/* ---- play order ---------------------------------------------------- */

static const struct ml_corpus *corpus_key_of;	/* for corpus_key_cmp */

/* corpus_key_cmp - corpus indexes by session key, then by index (stable) */
static int
corpus_key_cmp(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const struct ml_msg *x = &corpus_key_of->msgs[i];
	const struct ml_msg *y = &corpus_key_of->msgs[j];
	int d;

	if ((d = strcmp(x->client_ip, y->client_ip)) != 0 ||
	    (d = strcmp(x->helo, y->helo)) != 0 ||
	    (d = strcmp(x->auth_user, y->auth_user)) != 0)
		return d;
	return i < j ? -1 : i > j;
}

size_t *
corpus_play_order(const struct ml_corpus *c, int group)
{
	size_t *o = xcalloc(c->n, sizeof(*o)), i;

	for (i = 0; i < c->n; i++)
		o[i] = i;
	if (group) {
		corpus_key_of = c;
		qsort(o, c->n, sizeof(*o), corpus_key_cmp);
		corpus_key_of = NULL;
	}
	return o;
}
