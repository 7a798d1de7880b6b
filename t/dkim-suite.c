/*
 * dkim-suite.c - run the external DKIM corpora (go-msgauth, dkimpy,
 * Mail::DKIM; t/data/dkim, see its README.md) through
 * dkv_msg_*() with each corpus's DNS data in a table resolver, and
 * compare with each corpus's expectations.tsv. With --forward, each
 * message is verified once more on the production DNS path: through a
 * session (session_header/eoh/body/eom, as the milter feeds it) whose
 * session_env forwards libunbound to t/dnsd.py serving that message's
 * records.
 *
 * Usage: dkim-suite [--forward HOST@BASE | --zones OUT] TESTDATA_DKIM_DIR KNOWN
 * Prints "dkim <corpus> (table): N/M" per corpus (M cases, N agreeing),
 * and "dkim <corpus> (unbound): N/M" with --forward. The run fails on a
 * difference not listed in KNOWN-DIFFERENCES ("corpus:case<TAB>reason"
 * lines, # comments), on a listed case that no longer differs, and always
 * when we say pass where the corpus says fail or invalid (on either path).
 * The unbound path is held to the table path: a case whose results differ
 * between the two must be listed as "corpus-unbound:case" with its reason,
 * and a listed one that no longer differs fails the run.
 * --zones OUT writes the records each message sees, one block a message
 * in t/dnsd.py's format (block i is served on BASE+i), and exits.
 *
 * Vocabulary: pass -> pass; fail -> fail (dkimpy's fail also accepts
 * permerror, its README says so); invalid -> permerror or temperror;
 * none -> no signature (n == 0). Mail::DKIM's verdict is per message: the
 * best of our per-signature results (pass > fail > anything else).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"
#include "dkim.h"
#include "dns.h"
#include "results.h"
#include "session.h"
#include "suite-file.h"
#include "suite-unbound.h"
#include "tap.h"
#include "util.h"

#define MAX_MSG (4 * 1024 * 1024)
#define MAX_RECS 512

struct rec {
	char *profile; /* dkimpy only; NULL otherwise */
	char *name;
	char *txt;     /* NULL with status set */
	enum dns_status status;
	int timeout;   /* TEMPFAIL: the query times out (else SERVFAIL) */
};

/* what one path made of a message */
struct got {
	char text[2048];  /* "pass(reason),fail(reason)", or "none" */
	char names[256];  /* the results alone: "pass,fail" */
	int best;         /* 2 pass, 1 fail, 0 other, -1 no signature */
};

static struct suite_known known;
static int hard_fail; /* a pass where the corpus says fail/invalid */
static struct suite_fwd fwd; /* --forward: the unbound path */
static FILE *zones;          /* --zones: where the blocks go */

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

/* where feed() hands a message: the verifier, or a session */
struct sink {
	void (*header)(void *, const char *, const char *);
	void (*eoh)(void *);
	void (*body)(void *, const unsigned char *, size_t);
	void *arg;
};

/* feed - split a message into header fields and body and hand them on */
static void
feed(const struct sink *k, const char *msg, size_t len)
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
		k->header(k->arg, name, value);
		free(name);
		free(value);
	}
	k->eoh(k->arg);
	/* odd chunk sizes, so CRLF pairs straddle chunks */
	while (p < end) {
		size_t n = (size_t)(end - p) < 997 ? (size_t)(end - p) : 997;

		k->body(k->arg, (const unsigned char *)p, n);
		p += n;
	}
}

static void
msg_header(void *m, const char *name, const char *value)
{
	dkv_msg_header(m, name, value);
}

static void
msg_eoh(void *m)
{
	dkv_msg_eoh(m);
}

static void
msg_body(void *m, const unsigned char *p, size_t len)
{
	dkv_msg_body(m, p, len);
}

static void
ses_header(void *s, const char *name, const char *value)
{
	session_header(s, name, value);
}

static void
ses_eoh(void *s)
{
	session_eoh(s);
}

static void
ses_body(void *s, const unsigned char *p, size_t len)
{
	session_body(s, p, len);
}

/* collect - the results as text and names, and the best of them */
static void
collect(const struct dkv_result *res, size_t n, struct got *g)
{
	g->best = -1;
	str_copy(g->text, n == 0 ? "none" : "", sizeof(g->text));
	str_copy(g->names, n == 0 ? "none" : "", sizeof(g->names));
	for (size_t i = 0; i < n; i++) {
		int rank = res[i].result == DKV_RES_PASS ? 2 :
		    res[i].result == DKV_RES_FAIL ? 1 : 0;
		char one[200];

		if (rank > g->best)
			g->best = rank;
		snprintf(one, sizeof(one), "%s%s(%s)", i ? "," : "",
		    dkv_res_name(res[i].result), res[i].reason);
		if (strlen(g->text) + strlen(one) < sizeof(g->text))
			memcpy(g->text + strlen(g->text), one, strlen(one) + 1);
		snprintf(one, sizeof(one), "%s%s", i ? "," : "",
		    dkv_res_name(res[i].result));
		if (strlen(g->names) + strlen(one) < sizeof(g->names))
			memcpy(g->names + strlen(g->names), one, strlen(one) + 1);
	}
}

/* select_recs - the records a message with this profile sees: its own
 * profile's, and the default ones it does not override */
static size_t
select_recs(const struct rec *recs, size_t nrecs, const char *profile,
    const struct rec **sel)
{
	size_t n = 0;

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
		if (!overridden)
			sel[n++] = r;
	}
	return n;
}

/* verify_table - the message through dkv_msg_*() on a table resolver */
static void
verify_table(const char *msg, size_t len, const struct rec *const *sel,
    size_t nsel, struct got *g)
{
	struct dns_resolver *dns = dns_table_new();
	struct dkv_opts o = { 0, 0, 0 };
	struct dkv_verifier *v;
	struct dkv_msg *m;
	const struct dkv_result *res;
	struct sink k = { msg_header, msg_eoh, msg_body, NULL };
	char err[256];
	size_t n = 0;

	for (size_t i = 0; i < nsel; i++) {
		const struct rec *r = sel[i];

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
	v = dkv_verifier_new(dns, &o, err, sizeof(err));
	if (v == NULL) {
		snprintf(g->text, sizeof(g->text), "(cannot run: %s)", err);
		str_copy(g->names, g->text, sizeof(g->names));
		g->best = -1;
		dns_resolver_free(&dns);
		return;
	}
	m = dkv_msg_new(v, NULL);
	k.arg = m;
	feed(&k, msg, len);
	dkv_msg_eom(m, &res, &n);
	collect(res, n, g);
	dkv_msg_free(&m);
	dkv_verifier_free(&v);
	dns_resolver_free(&dns);
}

/* verify_session - the message through a session as the milter feeds it,
 * its records served by t/dnsd.py's next block (a fresh resolver each) */
static void
verify_session(const char *msg, size_t len, struct got *g)
{
	struct settings *cfg;
	struct session_env *env = suite_env_open(&fwd,
	    "spf = { enable = false; };\ndmarc = { enable = false; };", &cfg);
	struct session *s = session_new(env, cfg);
	struct sink k = { ses_header, ses_eoh, ses_body, s };
	const struct session_verdict *v;

	session_connect(s, NULL, NULL);
	session_helo(s, "client.example");
	session_mail_from(s, "<>");
	feed(&k, msg, len);
	v = session_eom(s);
	if (results_next(v->results, NULL, "dkim") != NULL) {
		size_t n = 0;
		struct dkv_result *res = xcalloc(results_count(v->results,
		    "dkim"), sizeof(*res));

		/* the signatures' outcomes (dkim=none has none) */
		for (const struct result *r = results_next(v->results, NULL,
		    "dkim"); r != NULL; r = results_next(v->results, r, "dkim"))
			if (r->dkim != NULL)
				res[n++] = *r->dkim;
		collect(res, n, g);
		free(res);
	} else {
		str_copy(g->text, "(no dkim result)", sizeof(g->text));
		str_copy(g->names, g->text, sizeof(g->names));
		g->best = -1;
	}
	session_free(&s);
	suite_env_close(&env, &cfg);
}

/* zone_field - one field of a zone line, escaped as t/dnsd.py reads it */
static void
zone_field(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '\t' || *s == '\r' || *s == '\n')
			fprintf(zones, "\\%c", *s == '\t' ? 't' : *s == '\r' ?
			    'r' : *s == '\n' ? 'n' : '\\');
		else
			fputc(*s, zones);
	}
}

/* write_zone - the block of one message: what its table resolver holds */
static void
write_zone(const char *id, const struct rec *const *sel, size_t nsel)
{
	fputs("SCENARIO\t", zones);
	zone_field(id);
	fputc('\n', zones);
	for (size_t i = 0; i < nsel; i++) {
		const struct rec *r = sel[i];

		if (r->txt == NULL && r->status == DNS_STATUS_NXDOMAIN)
			continue; /* a name not served is NXDOMAIN */
		fputs(r->txt != NULL ? "ZONE\t" : r->timeout ? "TIMEOUT\t" :
		    "SERVFAIL\t", zones);
		zone_field(r->name);
		if (r->txt != NULL) {
			fputs("\tTXT\t", zones);
			zone_field(r->txt);
		} else
			fputc('\t', zones);
		fputc('\n', zones);
	}
	fputs("END\n", zones);
}

/* accepts - does our result name fit the corpus word */
static int
accepts(const char *corpus, const char *want, enum dkv_res got)
{
	if (strcmp(want, "pass") == 0)
		return got == DKV_RES_PASS;
	if (strcmp(want, "fail") == 0)
		return got == DKV_RES_FAIL ||
		    (strcmp(corpus, "dkimpy") == 0 && got == DKV_RES_PERMERROR);
	if (strcmp(want, "invalid") == 0)
		return got == DKV_RES_PERMERROR || got == DKV_RES_TEMPERROR;
	return 0;
}

static enum dkv_res
res_of(const char *name)
{
	static const enum dkv_res all[] = { DKV_RES_NONE, DKV_RES_PASS,
	    DKV_RES_FAIL, DKV_RES_NEUTRAL, DKV_RES_POLICY,
	    DKV_RES_TEMPERROR, DKV_RES_PERMERROR };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strncmp(name, dkv_res_name(all[i]),
		    strlen(dkv_res_name(all[i]))) == 0)
			return all[i];
	return DKV_RES_NONE;
}

/* matches - whether the results fit the corpus words (want is a list);
 * a pass where the corpus says fail or invalid sets hard_fail */
static int
matches(const char *corpus, const char *want, const struct got *gt,
    int per_message)
{
	int match = 1;
	char w[256], g[256], *ws, *gs, *wsave = NULL, *gsave = NULL;

	str_copy(w, want, sizeof(w));
	str_copy(g, gt->names, sizeof(g));
	if (strcmp(want, "none") == 0)
		return strcmp(gt->names, "none") == 0;
	if (per_message) {
		enum dkv_res b = gt->best == 2 ? DKV_RES_PASS :
		    gt->best == 1 ? DKV_RES_FAIL : DKV_RES_PERMERROR;

		if (gt->best == 0) /* the first non-pass, non-fail result */
			b = res_of(gt->names);
		if (strcmp(want, "pass") != 0 && gt->best == 2)
			hard_fail = 1;
		if (strcmp(gt->names, "none") == 0)
			return 0;
		return accepts(corpus, want, b);
	}
	ws = strtok_r(w, ",", &wsave);
	gs = strtok_r(g, ",", &gsave);
	while (ws != NULL || gs != NULL) {
		if (ws == NULL || gs == NULL || !accepts(corpus, ws, res_of(gs)))
			match = 0;
		if (ws != NULL && gs != NULL && strcmp(ws, "pass") != 0 &&
		    res_of(gs) == DKV_RES_PASS)
			hard_fail = 1;
		ws = ws ? strtok_r(NULL, ",", &wsave) : NULL;
		gs = gs ? strtok_r(NULL, ",", &gsave) : NULL;
	}
	return match;
}

/* judge - compare, count, report; want is the corpus word list */
static void
judge(const char *corpus, const char *id, const char *want,
    const struct got *g, int per_message, int *agree, int *total)
{
	int match = matches(corpus, want, g, per_message);

	(*total)++;
	if (getenv("DKIM_SUITE_VERBOSE") != NULL)
		printf("case %s: want %s, got %s\n", id, want, g->text);
	if (match) {
		(*agree)++;
		if (suite_known_mark(&known, id))
			ok(0, "%s is listed in the known differences but agrees now",
			    id);
		else
			ok(1, "%s", id);
		return;
	}
	if (suite_known_mark(&known, id)) {
		printf("known difference %s: want %s, got %s\n", id, want, g->text);
		ok(1, "%s", id);
	} else {
		ok(0, "%s: want %s, got %s", id, want, g->text);
	}
}

/* judge_paths - count the unbound path's result against the corpus, and
 * hold it to the table path's: results that differ are listed as
 * "corpus-unbound:case", and a listed case differs */
static void
judge_paths(const char *corpus, const char *id, const char *want,
    const struct got *t, const struct got *u, int per_message, int *agree,
    int *total)
{
	char uid[600];
	int listed;

	(*total)++;
	*agree += matches(corpus, want, u, per_message);
	snprintf(uid, sizeof(uid), "%s-unbound%s", corpus, id + strlen(corpus));
	if (getenv("DKIM_SUITE_VERBOSE") != NULL)
		printf("case %s: want %s, got %s\n", uid, want, u->text);
	listed = suite_known_mark(&known, uid);
	if (strcmp(t->names, u->names) == 0) {
		ok(!listed, "%s is listed in the known differences but the "
		    "paths agree now", uid);
		return;
	}
	if (listed) {
		printf("known difference %s: unbound %s, table %s\n", uid,
		    u->text, t->text);
		ok(1, "%s", uid);
	} else
		ok(0, "%s: unbound path %s, table path %s (want %s)", uid,
		    u->text, t->text, want);
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
		recs[n].timeout = 0;
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
		recs[n].timeout = strcmp(val, "~~Query timed out~~") == 0;
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
	static const struct rec *sel[MAX_RECS];
	char path[1024], line[8192], *fl[16];
	size_t nrecs = 0, nf;
	int agree = 0, total = 0, uagree = 0, utotal = 0, header = 1;
	int per_message = strcmp(corpus, "mail-dkim") == 0;
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
		char id[512], msgpath[1024], *msg;
		struct got t, u;
		size_t len = 0, nsel;

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
		nsel = select_recs(recs, nrecs, profile, sel);
		if (zones != NULL) {
			write_zone(id, sel, nsel);
			continue;
		}
		if ((msg = slurp(msgpath, &len)) == NULL) {
			snprintf(t.text, sizeof(t.text), "(cannot run: %s)",
			    msgpath);
			str_copy(t.names, t.text, sizeof(t.names));
			t.best = -1;
			u = t;
		} else {
			verify_table(msg, len, sel, nsel, &t);
			if (fwd.host[0] != '\0')
				verify_session(msg, len, &u);
			free(msg);
		}
		judge(corpus, id, want, &t, per_message, &agree, &total);
		if (fwd.host[0] != '\0')
			judge_paths(corpus, id, want, &t, &u, per_message,
			    &uagree, &utotal);
	}
	fclose(f);
	free_recs(recs, nrecs);
	if (zones != NULL)
		return;
	printf("dkim %s (table): %d/%d\n", corpus, agree, total);
	if (fwd.host[0] != '\0')
		printf("dkim %s (unbound): %d/%d\n", corpus, uagree, utotal);
}

int
main(int argc, char **argv)
{
	static const char *const corpora[] = { "go-msgauth", "dkimpy",
	    "mail-dkim" };

	if (suite_fwd_args(&argc, &argv, &fwd) != 0) {
		fprintf(stderr, "dkim-suite: --forward HOST@PORT\n");
		return 2;
	}
	if (fwd.host[0] == '\0' && argc > 2 && strcmp(argv[1], "--zones") == 0) {
		if ((zones = fopen(argv[2], "w")) == NULL) {
			perror(argv[2]);
			return 1;
		}
		argc -= 2;
		argv += 2;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: dkim-suite [--forward HOST@BASE | "
		    "--zones OUT] TESTDATA_DKIM_DIR KNOWN\n");
		return 2;
	}
	if (suite_known_load(&known, argv[2]) != 0)
		ok(0, "cannot read the known differences %s", argv[2]);
	for (size_t i = 0; i < sizeof(corpora) / sizeof(corpora[0]); i++)
		run_corpus(argv[1], corpora[i]);
	if (zones != NULL)
		return fclose(zones) == 0 ? 0 : 1;
	/* entries for the unbound path are checked only when it ran */
	for (size_t i = 0; i < known.n; i++)
		if (!known.seen[i] && (fwd.host[0] != '\0' ||
		    strstr(known.name[i], "-unbound:") == NULL))
			ok(0, "known difference %s: no such case", known.name[i]);
	ok(!hard_fail, "never pass where the corpus says fail or invalid");
	suite_known_free(&known);
	return test_done("dkim-suite");
}
