/*
 * dkim-suite.c - run the external DKIM corpora (go-msgauth, dkimpy,
 * Mail::DKIM; t/data/dkim, see its README.md) through
 * dkim_msg_*() with each corpus's DNS data in a table resolver, and
 * compare with each corpus's expectations.tsv.
 *
 * Usage: dkim-suite TESTDATA_DKIM_DIR KNOWN-DIFFERENCES
 * Prints "dkim <corpus>: N/M" per corpus (M cases, N agreeing). The run
 * fails on a difference not listed in KNOWN-DIFFERENCES ("corpus:case<TAB>
 * reason" lines, # comments), on a listed case that no longer differs,
 * and always when we say pass where the corpus says fail or invalid.
 *
 * Vocabulary: pass -> pass; fail -> fail (dkimpy's fail also accepts
 * permerror, its README says so); invalid -> permerror or temperror;
 * none -> no signature (n == 0). Mail::DKIM's verdict is per message: the
 * best of our per-signature results (pass > fail > anything else).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim.h"
#include "dns.h"
#include "tap.h"
#include "util.h"

#define MAX_KNOWN 256
#define MAX_MSG (4 * 1024 * 1024)
#define MAX_RECS 512

struct known {
	char *name[MAX_KNOWN];
	int seen[MAX_KNOWN];
	size_t n;
};

struct rec {
	char *profile; /* dkimpy only; NULL otherwise */
	char *name;
	char *txt;     /* NULL with status set */
	enum dns_status status;
};

static struct known known;
static int hard_fail; /* a pass where the corpus says fail/invalid */

static char *
slurp(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = xmalloc(MAX_MSG + 1);
	n = fread(buf, 1, MAX_MSG, f);
	fclose(f);
	buf[n] = '\0';
	*lenp = n;
	return buf;
}

static void
load_known(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL && known.n < MAX_KNOWN) {
		line[strcspn(line, "\t\r\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		known.name[known.n++] = xstrdup(line);
	}
	fclose(f);
}

static int
is_known(const char *id)
{
	for (size_t i = 0; i < known.n; i++)
		if (strcmp(known.name[i], id) == 0) {
			known.seen[i] = 1;
			return 1;
		}
	return 0;
}

/* feed - split a message into header fields and body and verify it */
static void
feed(struct dkim_msg *m, const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len;

	/* header fields: a line starting with WSP continues the field */
	while (p < end) {
		const char *ls = p, *le, *colon;
		char *name, *value;

		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
			p += *p == '\r' ? 2 : 1;
			break;
		}
		le = p;
		for (;;) {
			const char *nl = memchr(le, '\n', (size_t)(end - le));

			if (nl == NULL) {
				le = end;
				break;
			}
			le = nl + 1;
			if (le >= end || (*le != ' ' && *le != '\t'))
				break;
		}
		p = le;
		colon = memchr(ls, ':', (size_t)(le - ls));
		if (colon == NULL)
			continue; /* an mbox "From " line or junk */
		name = xstrndup(ls, (size_t)(colon - ls));
		/* the value keeps its folds but not the final line end */
		while (le > colon + 1 && (le[-1] == '\n' || le[-1] == '\r'))
			le--;
		value = xstrndup(colon + 1, (size_t)(le - colon - 1));
		dkim_msg_header(m, name, value);
		free(name);
		free(value);
	}
	dkim_msg_eoh(m);
	/* odd chunk sizes, so CRLF pairs straddle chunks */
	while (p < end) {
		size_t n = (size_t)(end - p) < 997 ? (size_t)(end - p) : 997;

		dkim_msg_body(m, (const unsigned char *)p, n);
		p += n;
	}
}

/* verify - one message with the given records; fills got (comma list) */
static size_t
verify(const char *path, const struct rec *recs, size_t nrecs,
    const char *profile, char *got, size_t gotlen, int *best)
{
	struct dns_resolver *dns = dns_table_new();
	struct dkim_opts o = { 0, 0, 0 };
	struct dkim_verifier *v;
	struct dkim_msg *m;
	const struct dkim_result *res;
	char err[256], *msg;
	size_t len = 0, n = 0;

	got[0] = '\0';
	*best = -1;
	for (size_t i = 0; i < nrecs; i++) {
		const struct rec *r = &recs[i];
		int overridden = 0;

		if (r->profile != NULL && strcmp(r->profile, profile) != 0 &&
		    strcmp(r->profile, "default") != 0)
			continue;
		if (r->profile != NULL && strcmp(r->profile, "default") == 0 &&
		    strcmp(profile, "default") != 0)
			for (size_t j = 0; j < nrecs; j++)
				if (recs[j].profile != NULL &&
				    strcmp(recs[j].profile, profile) == 0 &&
				    strcasecmp(recs[j].name, r->name) == 0)
					overridden = 1;
		if (overridden)
			continue;
		if (r->txt == NULL) {
			dns_table_set_status(dns, r->name, DNS_T_TXT, r->status);
		} else {
			const char *s = r->txt;

			if (strlen(s) <= 255)
				dns_table_add_txt_strings(dns, r->name, &s, 1);
			else
				dns_table_add_text(dns, r->name, DNS_T_TXT, s);
		}
	}
	v = dkim_verifier_new(dns, &o, err, sizeof(err));
	msg = slurp(path, &len);
	if (v == NULL || msg == NULL) {
		snprintf(got, gotlen, "(cannot run: %s)", v ? path : err);
		free(msg);
		dkim_verifier_free(&v);
		dns_resolver_free(&dns);
		return 0;
	}
	m = dkim_msg_new(v, NULL);
	feed(m, msg, len);
	dkim_msg_eom(m, &res, &n);
	if (n == 0)
		str_copy(got, "none", gotlen);
	for (size_t i = 0; i < n; i++) {
		int rank = res[i].result == DKIM_RES_PASS ? 2 :
		    res[i].result == DKIM_RES_FAIL ? 1 : 0;
		char one[200];

		if (rank > *best)
			*best = rank;
		snprintf(one, sizeof(one), "%s%s(%s)", i ? "," : "",
		    dkim_res_name(res[i].result), res[i].reason);
		if (strlen(got) + strlen(one) < gotlen)
			memcpy(got + strlen(got), one, strlen(one) + 1);
	}
	dkim_msg_free(&m);
	dkim_verifier_free(&v);
	dns_resolver_free(&dns);
	free(msg);
	return n;
}

/* accepts - does our result name fit the corpus word */
static int
accepts(const char *corpus, const char *want, enum dkim_res got)
{
	if (strcmp(want, "pass") == 0)
		return got == DKIM_RES_PASS;
	if (strcmp(want, "fail") == 0)
		return got == DKIM_RES_FAIL ||
		    (strcmp(corpus, "dkimpy") == 0 && got == DKIM_RES_PERMERROR);
	if (strcmp(want, "invalid") == 0)
		return got == DKIM_RES_PERMERROR || got == DKIM_RES_TEMPERROR;
	return 0;
}

static enum dkim_res
res_of(const char *name)
{
	static const enum dkim_res all[] = { DKIM_RES_NONE, DKIM_RES_PASS,
	    DKIM_RES_FAIL, DKIM_RES_NEUTRAL, DKIM_RES_POLICY,
	    DKIM_RES_TEMPERROR, DKIM_RES_PERMERROR };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strncmp(name, dkim_res_name(all[i]),
		    strlen(dkim_res_name(all[i]))) == 0)
			return all[i];
	return DKIM_RES_NONE;
}

/* judge - compare, count, report; want is the corpus word list */
static void
judge(const char *corpus, const char *id, const char *want, const char *got,
    int best, int per_message, int *agree, int *total)
{
	int match = 1;
	char w[256], g[2048], *ws, *gs, *wsave = NULL, *gsave = NULL;
	char wantneg = 0;

	(*total)++;
	if (getenv("DKIM_SUITE_VERBOSE") != NULL)
		printf("case %s: want %s, got %s\n", id, want, got);
	str_copy(w, want, sizeof(w));
	str_copy(g, got, sizeof(g));
	if (strcmp(want, "none") == 0) {
		match = strcmp(got, "none") == 0;
	} else if (per_message) {
		enum dkim_res b = best == 2 ? DKIM_RES_PASS :
		    best == 1 ? DKIM_RES_FAIL : DKIM_RES_PERMERROR;

		if (best == 0) /* the first non-pass, non-fail result */
			b = res_of(got);
		if (strcmp(got, "none") == 0)
			match = 0;
		else
			match = accepts(corpus, want, b);
		wantneg = strcmp(want, "pass") != 0;
		if (wantneg && best == 2)
			hard_fail = 1;
	} else {
		ws = strtok_r(w, ",", &wsave);
		gs = strtok_r(g, ",", &gsave);
		while (ws != NULL || gs != NULL) {
			if (ws == NULL || gs == NULL ||
			    !accepts(corpus, ws, res_of(gs)))
				match = 0;
			if (ws != NULL && gs != NULL && strcmp(ws, "pass") != 0 &&
			    res_of(gs) == DKIM_RES_PASS)
				hard_fail = 1;
			ws = ws ? strtok_r(NULL, ",", &wsave) : NULL;
			gs = gs ? strtok_r(NULL, ",", &gsave) : NULL;
		}
	}
	if (match) {
		(*agree)++;
		if (is_known(id))
			ok(0, "%s is listed in the known differences but agrees now",
			    id);
		else
			ok(1, "%s", id);
		return;
	}
	if (is_known(id)) {
		printf("known difference %s: want %s, got %s\n", id, want, got);
		ok(1, "%s", id);
	} else {
		ok(0, "%s: want %s, got %s", id, want, got);
	}
}

/* split_tabs - fields of a TSV line, in place */
static size_t
split_tabs(char *line, char **f, size_t max)
{
	size_t n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	while (n < max) {
		char *tab = strchr(line, '\t');

		f[n++] = line;
		if (tab == NULL)
			break;
		*tab = '\0';
		line = tab + 1;
	}
	return n;
}

/* load_tsv_recs - go-msgauth (name txt note) or dkimpy (profile name txt) */
static size_t
load_tsv_recs(const char *path, int with_profile, struct rec *recs)
{
	FILE *f = fopen(path, "r");
	char line[8192], *fl[8];
	size_t n = 0, nf;
	int header = 1;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL && n < MAX_RECS) {
		if (line[0] == '#')
			continue;
		nf = split_tabs(line, fl, 8);
		if (header) {
			header = 0;
			continue;
		}
		if (nf < (size_t)(with_profile ? 2 : 1))
			continue;
		recs[n].profile = with_profile ? xstrdup(fl[0]) : NULL;
		recs[n].name = xstrdup(fl[with_profile ? 1 : 0]);
		recs[n].txt = xstrdup(nf > (size_t)(with_profile ? 2 : 1) ?
		    fl[with_profile ? 2 : 1] : "");
		recs[n].status = DNS_STATUS_OK;
		n++;
	}
	fclose(f);
	return n;
}

/* load_fake_dns - Mail::DKIM's t/FAKE_DNS.dat: "<name> <TXT value>" */
static size_t
load_fake_dns(const char *path, struct rec *recs)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	size_t n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL && n < MAX_RECS) {
		char *p = line, *val;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || line[0] == ';' || line[0] == '\0')
			continue;
		p += strcspn(p, " \t");
		if (*p == '\0')
			continue;
		*p++ = '\0';
		val = p + strspn(p, " \t");
		recs[n].profile = NULL;
		recs[n].name = xstrdup(line);
		recs[n].status = DNS_STATUS_OK;
		recs[n].txt = NULL;
		if (strcmp(val, "NXDOMAIN") == 0)
			recs[n].status = DNS_STATUS_NXDOMAIN;
		else if (strncmp(val, "~~", 2) == 0)
			recs[n].status = DNS_STATUS_TEMPFAIL;
		else if (strcmp(val, "\"\"") == 0)
			recs[n].txt = xstrdup("");
		else
			recs[n].txt = xstrdup(val);
		n++;
	}
	fclose(f);
	return n;
}

static void
free_recs(struct rec *recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(recs[i].profile);
		free(recs[i].name);
		free(recs[i].txt);
	}
}

/* run_corpus - every row of one expectations.tsv */
static void
run_corpus(const char *dir, const char *corpus)
{
	static struct rec recs[MAX_RECS];
	char path[1024], line[8192], *fl[16];
	size_t nrecs = 0, nf;
	int agree = 0, total = 0, header = 1;
	FILE *f;

	if (strcmp(corpus, "mail-dkim") == 0) {
		snprintf(path, sizeof(path), "%s/%s/t/FAKE_DNS.dat", dir, corpus);
		nrecs = load_fake_dns(path, recs);
	} else {
		snprintf(path, sizeof(path), "%s/%s/dns-records.tsv", dir, corpus);
		nrecs = load_tsv_recs(path, strcmp(corpus, "dkimpy") == 0, recs);
	}
	snprintf(path, sizeof(path), "%s/%s/expectations.tsv", dir, corpus);
	f = fopen(path, "r");
	if (f == NULL) {
		ok(0, "cannot open %s", path);
		free_recs(recs, nrecs);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *file, *profile = "default", *want;
		char id[512], msgpath[1024], got[2048];
		int best;

		if (line[0] == '#')
			continue;
		nf = split_tabs(line, fl, 16);
		if (header) {
			header = 0;
			continue;
		}
		if (nf < 2)
			continue;
		file = fl[0];
		if (strcmp(corpus, "dkimpy") == 0) {
			if (nf < 3)
				continue;
			profile = strcmp(fl[1], "-") == 0 ? "default" : fl[1];
			want = fl[2];
			if (strncmp(want, "arc:", 4) == 0)
				continue; /* ARC rows: not a DKIM verdict */
		} else {
			want = fl[1];
		}
		if (strcmp(profile, "default") == 0)
			snprintf(id, sizeof(id), "%s:%s", corpus, file);
		else
			snprintf(id, sizeof(id), "%s:%s[%s]", corpus, file, profile);
		snprintf(msgpath, sizeof(msgpath), "%s/%s/%s", dir, corpus, file);
		verify(msgpath, recs, nrecs, profile, got, sizeof(got), &best);
		judge(corpus, id, want, got, best, strcmp(corpus, "mail-dkim") == 0,
		    &agree, &total);
	}
	fclose(f);
	free_recs(recs, nrecs);
	printf("dkim %s: %d/%d\n", corpus, agree, total);
}

int
main(int argc, char **argv)
{
	static const char *const corpora[] = { "go-msgauth", "dkimpy",
	    "mail-dkim" };

	if (argc < 3) {
		fprintf(stderr, "usage: dkim-suite TESTDATA_DKIM_DIR KNOWN\n");
		return 2;
	}
	load_known(argv[2]);
	for (size_t i = 0; i < sizeof(corpora) / sizeof(corpora[0]); i++)
		run_corpus(argv[1], corpora[i]);
	for (size_t i = 0; i < known.n; i++)
		if (!known.seen[i])
			ok(0, "known difference %s: no such case", known.name[i]);
	ok(!hard_fail, "never pass where the corpus says fail or invalid");
	for (size_t i = 0; i < known.n; i++)
		free(known.name[i]);
	return test_done("dkim-suite");
}
