/*
 * arc-suite.c - the ValiMail ARC suite (t/data/arc, flattened by
 * t/arc-suite.py) through lib/arc as the milter drives it: every header
 * field with its value as received (leading space and CRLF folds kept),
 * end of headers, the body in chunks, end of message
 * (arc_msg_header/eoh/body/eom), then arc_msg_seal() for the signing tests.
 *
 * Usage:
 *   arc-suite [--forward HOST@BASE] FLAT KNOWN
 *	the suite: validation on a table resolver per scenario ("arc
 *	validation (table): N/171"), with --forward also on the production
 *	path, a session_env's resolver (the answer cache over libunbound)
 *	forwarding to t/dnsd.py, which serves scenario i (the i-th ZONE_RESET
 *	of FLAT) on BASE+i ("arc validation (unbound): N/171"); the four
 *	tests YAML shadows apart ("arc validation shadowed (...)"), our DNS
 *	failure rows apart ("arc validation dns, ours (...)"); signing
 *	on the table resolver ("arc signing: N/17"), each seal we make also
 *	verified by us ("arc signing, our seals verify: N/M").
 *   arc-suite --verify ZONES MSG
 *	one message: prints "<cv>\t<reason>\t<n>\t<oldest-pass>" (cv:
 *	arc_res_name(); n instances; oldest-pass 0 when every AMS passes).
 *   arc-suite --seal ZONES KEY DOMAIN SELECTOR SRVID AAR HEADERS T MSG
 *	verifies MSG, then writes the new ARC set and MSG to stdout; HEADERS
 *	"-" is the default set; exits 3 when the sealer adds no set.
 *	ZONES is a file of the flat format's ZONE lines (t/arc-dkimpy.py).
 *
 * KNOWN (t/data/arc-known-differences.txt) lists deliberate differences,
 * "validation:<id>", "validation-unbound:<id>" (the two paths disagree),
 * "signing:<id>" or "dkimpy:<case>" (read by t/arc-dkimpy.py), a TAB and
 * the reason. The run fails on a difference not listed, on a listed case
 * that agrees, and always when a chain passes where the suite says Fail
 * (no entry excuses that).
 *
 * Signing comparison: the three fields against the yml's AS, AMS and AAR
 * as tag lists in order, each value's whitespace runs made one space and
 * b=/bh= without whitespace (the yml's folding is not ours); b= is
 * compared too (rsa-sha256 signatures are deterministic). A mismatch
 * names the tags that differ, and says when the fields are equal once all
 * whitespace is gone ("whitespace/folding only").
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "arc.h"
#include "deadline.h"
#include "dns.h"
#include "session.h"
#include "settings.h"
#include "suite-file.h"
#include "suite-unbound.h"
#include "tap.h"
#include "util.h"

#define ARC_SUITE_BUDGET_MS 5000

/* one scenario's resolvers: the table, and the production path's */
struct scen {
	struct dns_resolver *table;
	struct arc_verifier *tv;      /* over table */
	unsigned block;               /* its dnsd block */
	struct session_env *env;      /* --forward: opened on first use */
	struct settings *cfg;
	struct arc_verifier *uv;      /* over env->dns */
};

/* counts of one line of output */
struct tally {
	int agree, total;
};

static struct suite_known known;
static struct suite_fwd fwd;
static int hard_fail;   /* a pass where the suite says fail */
static int verbose;

/* ---- small helpers ------------------------------------------------------- */

static char *
read_file(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	struct dynbuf b;
	char chunk[8192];
	size_t n;

	if (f == NULL)
		return NULL;
	dynbuf_init(&b, 64 * 1024 * 1024);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		dynbuf_append(&b, chunk, n);
	fclose(f);
	*lenp = b.len;
	if (b.s == NULL)
		return xstrdup("");
	return dynbuf_take(&b);
}

/* judge - count a result against its expectation, held to the list */
static void
judge(const char *id, int match, const char *what, struct tally *t)
{
	int listed = suite_known_mark(&known, id);

	t->total++;
	t->agree += match;
	if (verbose)
		printf("case %s: %s%s\n", id, match ? "agrees: " : "", what);
	if (match)
		ok(!listed, "%s is listed in the known differences but agrees "
		    "now", id);
	else if (listed)
		printf("known difference %s: %s\n", id, what);
	else
		ok(0, "%s: %s", id, what);
}

/* ---- feeding a message as the milter does ---------------------------------- */

/* feed - header fields (name, value after the colon up to its last line
 * end: leading space and folds kept), end of headers (after
 * arc_msg_want_seal() when the message is to be sealed), the body in odd
 * chunks so CRLF pairs straddle them */
static void
feed(struct arc_msg *m, const char *msg, size_t len, int to_seal)
{
	const char *p = msg, *end = msg + len;

	while (p < end) {
		const char *start = p, *stop, *colon;
		char *name, *value;

		if (p[0] == '\n' || (p[0] == '\r' && p + 1 < end && p[1] == '\n')) {
			p += p[0] == '\r' ? 2 : 1;
			break; /* the empty line */
		}
		/* the field ends at a line end not followed by WSP */
		for (;;) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));

			p = nl == NULL ? end : nl + 1;
			if (p >= end || (*p != ' ' && *p != '\t'))
				break;
		}
		stop = p;
		while (stop > start && (stop[-1] == '\n' || stop[-1] == '\r'))
			stop--;
		colon = memchr(start, ':', (size_t)(stop - start));
		if (colon == NULL)
			continue; /* not a header field */
		name = xstrndup(start, (size_t)(colon - start));
		value = xstrndup(colon + 1, (size_t)(stop - colon - 1));
		arc_msg_header(m, name, value);
		free(name);
		free(value);
	}
	if (to_seal)
		arc_msg_want_seal(m);
	arc_msg_eoh(m);
	while (p < end) {
		size_t n = (size_t)(end - p) < 509 ? (size_t)(end - p) : 509;

		arc_msg_body(m, (const unsigned char *)p, n);
		p += n;
	}
}

/* verify - one message through a verifier: the result into *r */
static void
verify(struct arc_verifier *v, const char *msg, size_t len,
    struct arc_result *r)
{
	struct arc_msg *m = arc_msg_new(v);
	struct timespec dl;

	feed(m, msg, len, 0);
	arc_msg_eom(m, deadline_in(&dl, ARC_SUITE_BUDGET_MS), r);
	arc_msg_free(&m);
}

/* ---- scenarios -------------------------------------------------------------- */

static void
scen_close(struct scen *s)
{
	arc_verifier_free(&s->tv);
	dns_resolver_free(&s->table);
	arc_verifier_free(&s->uv);
	if (s->env != NULL)
		suite_env_close(&s->env, &s->cfg);
}

static struct arc_verifier *
verifier_on(struct dns_resolver *dns)
{
	struct arc_opts o = { 0 };
	struct arc_verifier *v;
	char err[256];

	v = arc_verifier_new(dns, &o, err, sizeof(err));
	if (v == NULL) {
		fprintf(stderr, "arc-suite: arc_verifier_new: %s\n", err);
		exit(1);
	}
	return v;
}

static void
scen_open(struct scen *s, unsigned block)
{
	scen_close(s);
	memset(s, 0, sizeof(*s));
	s->table = dns_table_new();
	s->tv = verifier_on(s->table);
	s->block = block;
}

/* scen_unbound - the production path's verifier of the scenario */
static struct arc_verifier *
scen_unbound(struct scen *s)
{
	if (s->uv == NULL) {
		fwd.next = fwd.base + s->block;
		s->env = suite_env_open(&fwd, "", &s->cfg);
		s->uv = verifier_on(s->env->dns);
	}
	return s->uv;
}

/* zone_line - a ZONE (TXT or A), SERVFAIL or TIMEOUT line into the
 * table, as t/dnsd.py serves it (the failures for every type here) */
static void
zone_line(struct dns_resolver *dns, char **f, size_t nf)
{
	if (strcmp(f[0], "SERVFAIL") == 0 && nf >= 2)
		dns_table_set_fail(dns, f[1], 0, DNS_FAIL_SERVFAIL);
	else if (strcmp(f[0], "TIMEOUT") == 0 && nf >= 2)
		dns_table_set_status(dns, f[1], 0, DNS_STATUS_TEMPFAIL);
	else if (nf < 4 || (strcmp(f[2], "TXT") != 0 && strcmp(f[2], "A") != 0))
		ok(0, "zone: a line not understood: %s %s", f[0], f[1]);
	else if (dns_table_add_text(dns, f[1], f[2][0] == 'A' ? DNS_T_A :
	    DNS_T_TXT, f[3]) != 0)
		ok(0, "zone: cannot add %s %s", f[2], f[1]);
}

/* describe - "pass (reason), 2 instances" for a message */
static void
describe(const struct arc_result *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s (%s), %u instance%s", arc_res_name(r->result),
	    r->reason[0] ? r->reason : "-", r->n, r->n == 1 ? "" : "s");
}

/* ---- validation -------------------------------------------------------------- */

struct vcounts {
	struct tally table, unbound, stable, sunbound, dtable, dunbound;
	struct tally paths; /* unbound against table */
};

static void
validate(struct scen *s, char **f, struct vcounts *c)
{
	const char *id = f[2], *want = f[3], *msg = f[4];
	int shadowed = strchr(id, '#') != NULL, ours = strncmp(id, "dns_", 4) == 0;
	struct tally *tt = shadowed ? &c->stable : ours ? &c->dtable : &c->table;
	struct tally *ut = shadowed ? &c->sunbound : ours ? &c->dunbound :
	    &c->unbound;
	static struct arc_result t, u;
	char idbuf[300], what[512], tdesc[240], udesc[240];
	size_t len = strlen(msg);

	verify(s->tv, msg, len, &t);
	describe(&t, tdesc, sizeof(tdesc));
	if (strcmp(want, "pass") != 0 && t.result == ARC_RES_PASS)
		hard_fail = 1;
	snprintf(idbuf, sizeof(idbuf), "validation:%s", id);
	snprintf(what, sizeof(what), "want %s, got %s", want, tdesc);
	judge(idbuf, strcmp(arc_res_name(t.result), want) == 0, what, tt);
	if (fwd.host[0] == '\0')
		return;
	verify(scen_unbound(s), msg, len, &u);
	describe(&u, udesc, sizeof(udesc));
	if (strcmp(want, "pass") != 0 && u.result == ARC_RES_PASS)
		hard_fail = 1;
	/* the unbound path counts against the suite and is held to the
	 * table path: a disagreement is listed as validation-unbound:<id> */
	snprintf(idbuf, sizeof(idbuf), "validation-unbound:%s", id);
	snprintf(what, sizeof(what), "unbound %s, table %s (want %s)", udesc,
	    tdesc, want);
	judge(idbuf, t.result == u.result, what, &c->paths);
	ut->total++;
	ut->agree += strcmp(arc_res_name(u.result), want) == 0;
}

/* ---- signing ------------------------------------------------------------------- */

struct tag {
	char name[16];
	char value[1024];
};

/* squeeze - whitespace runs to one space, trimmed; none at all when all */
static void
squeeze(const char *in, size_t n, char *out, size_t outlen, int all)
{
	size_t o = 0;
	int space = 0;

	for (size_t i = 0; i < n && o + 1 < outlen; i++) {
		if (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' ||
		    in[i] == '\n') {
			space = 1;
			continue;
		}
		if (space && o > 0 && !all)
			out[o++] = ' ';
		space = 0;
		if (o + 1 < outlen)
			out[o++] = in[i];
	}
	out[o] = '\0';
}

/* tags - a field value as its ";"-separated parts, empty ones dropped:
 * "k=v" parts as name and value (squeezed; b= and bh= without any
 * whitespace), others (the AAR's authserv-id) whole, squeezed */
static size_t
tags(const char *value, struct tag *t, size_t max)
{
	size_t n = 0;
	const char *p = value;

	while (*p != '\0' && n < max) {
		const char *semi = strchr(p, ';');
		size_t len = semi ? (size_t)(semi - p) : strlen(p), k = 0;
		char part[1100];

		squeeze(p, len, part, sizeof(part), 0);
		p += len + (semi != NULL);
		if (part[0] == '\0')
			continue; /* a trailing ";" */
		while (part[k] != '\0' && (isalnum((unsigned char)part[k]) ||
		    part[k] == '_' || part[k] == '-'))
			k++;
		if (part[k] == ' ' && part[k + 1] == '=')
			memmove(part + k, part + k + 1, strlen(part + k));
		if (k > 0 && k < sizeof(t[n].name) && part[k] == '=') {
			const char *v = part + k + 1;

			memcpy(t[n].name, part, k);
			t[n].name[k] = '\0';
			v += *v == ' ';
			squeeze(v, strlen(v), t[n].value, sizeof(t[n].value),
			    strcmp(t[n].name, "b") == 0 ||
			    strcmp(t[n].name, "bh") == 0);
		} else {
			t[n].name[0] = '\0';
			str_copy(t[n].value, part, sizeof(t[n].value));
		}
		n++;
	}
	return n;
}

/* compare_field - our "Name: value" against the yml's value; 1 when they
 * agree, else 0 with the difference in why */
static int
compare_field(const char *field, const char *got, const char *want,
    char *why, size_t whylen)
{
	static struct tag gt[32], wt[32];
	const char *colon = got ? strchr(got, ':') : NULL;
	size_t ng, nw;
	char *a, *b;
	int same;

	if (got == NULL || colon == NULL) {
		snprintf(why, whylen, "%s missing", field);
		return 0;
	}
	if ((size_t)(colon - got) != strlen(field) ||
	    strncasecmp(got, field, strlen(field)) != 0) {
		snprintf(why, whylen, "%s: got a field named %.*s", field,
		    (int)(colon - got), got);
		return 0;
	}
	ng = tags(colon + 1, gt, 32);
	nw = tags(want, wt, 32);
	why[0] = '\0';
	for (size_t i = 0; i < (ng > nw ? ng : nw); i++) {
		size_t l = strlen(why);

		if (i < ng && i < nw && strcmp(gt[i].name, wt[i].name) == 0 &&
		    strcmp(gt[i].value, wt[i].value) == 0)
			continue;
		if (l + 1 >= whylen)
			break;
		if (i < ng && i < nw && strcmp(gt[i].name, wt[i].name) == 0 &&
		    gt[i].name[0] != '\0')
			snprintf(why + l, whylen - l, "%s%s= differs (%.40s%s "
			    "against %.40s%s)", l ? "; " : "", gt[i].name,
			    gt[i].value, strlen(gt[i].value) > 40 ? "..." : "",
			    wt[i].value, strlen(wt[i].value) > 40 ? "..." : "");
		else
			snprintf(why + l, whylen - l, "%spart %zu: %.40s "
			    "against %.40s", l ? "; " : "",
			    i + 1, i < ng ? (gt[i].name[0] ? gt[i].name :
			    gt[i].value) : "(none)", i < nw ? (wt[i].name[0] ?
			    wt[i].name : wt[i].value) : "(none)");
	}
	if (why[0] == '\0')
		return 1;
	a = xstrdup(colon + 1);
	b = xstrdup(want);
	squeeze(colon + 1, strlen(colon + 1), a, strlen(a) + 1, 1);
	squeeze(want, strlen(want), b, strlen(b) + 1, 1);
	same = strcmp(a, b) == 0;
	free(a);
	free(b);
	{
		char tmp[700];

		snprintf(tmp, sizeof(tmp), "%s: %s%s", field, why,
		    same ? " (whitespace/folding only)" : "");
		str_copy(why, tmp, whylen);
	}
	return 0;
}

/* key_file - the PEM in a temporary file; its path into path */
static int
key_file(const char *pem, char *path, size_t len)
{
	const char *tmp = getenv("TMPDIR");
	int fd;
	size_t n = strlen(pem);

	snprintf(path, len, "%s/arc-suite-key.XXXXXX", tmp && *tmp ? tmp :
	    "/tmp");
	if ((fd = mkstemp(path)) < 0)
		return -1;
	if (write(fd, pem, n) != (ssize_t)n) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

/* seal - verify msg on v, then seal it; 0 with out[] set, 1 when the
 * sealer adds no set because RFC 8617 says not to (err says why), -1 on an
 * error (err) */
static int
seal(struct arc_verifier *v, const char *msg, size_t len, const char *pem,
    const char *keypath, const char *domain, const char *selector,
    const char *srv_id, const char *aar, const char *headers, time_t t,
    char *out[3], char *err, size_t errlen)
{
	char path[512];
	struct arc_sealer *sealer;
	struct arc_msg *m;
	static struct arc_result r;
	struct timespec dl;
	int rc;

	out[0] = out[1] = out[2] = NULL;
	if (keypath == NULL) {
		if (key_file(pem, path, sizeof(path)) != 0) {
			snprintf(err, errlen, "cannot write a key file");
			return -1;
		}
		keypath = path;
	}
	sealer = arc_sealer_new(domain, selector, keypath, err, errlen);
	if (pem != NULL)
		unlink(keypath);
	if (sealer == NULL)
		return -1;
	m = arc_msg_new(v);
	feed(m, msg, len, 1);
	arc_msg_eom(m, deadline_in(&dl, ARC_SUITE_BUDGET_MS), &r);
	err[0] = '\0';
	rc = arc_msg_seal(m, sealer, srv_id, aar, headers, t, out, err, errlen);
	arc_msg_free(&m);
	arc_sealer_free(&sealer);
	if (rc != 0 || out[0] == NULL || out[1] == NULL || out[2] == NULL) {
		for (int i = 0; i < 3; i++) {
			free(out[i]);
			out[i] = NULL;
		}
		return rc != 0 ? -1 : 1;
	}
	return 0;
}

/* sealed_msg - our three fields on top of the message */
static char *
sealed_msg(char *const out[3], const char *msg, size_t *lenp)
{
	char *s = xasprintf("%s\r\n%s\r\n%s\r\n%s", out[0], out[1], out[2],
	    msg);

	*lenp = strlen(s);
	return s;
}

/* yml_set_verifies - whether the yml's own AS, AMS and AAR (folded where
 * the yml breaks its lines) verify on top of the message; a note is
 * appended to what */
static void
yml_set_verifies(struct arc_verifier *v, const char *const want[3],
    const char *msg, char *what, size_t len)
{
	static const char *const names[3] = { "ARC-Seal",
	    "ARC-Message-Signature", "ARC-Authentication-Results" };
	static struct arc_result r;
	struct dynbuf b;
	char desc[240];
	size_t l;
	int cvfail = strstr(want[0], "cv=fail") != NULL;

	dynbuf_init(&b, 1024 * 1024);
	for (int i = 0; i < 3; i++) {
		dynbuf_printf(&b, "%s: ", names[i]);
		for (const char *p = want[i]; *p; p++) {
			if (*p != '\n')
				dynbuf_append(&b, p, 1);
			else if (p[1] != '\0')
				dynbuf_puts(&b, "\r\n ");
		}
		dynbuf_puts(&b, "\r\n");
	}
	dynbuf_puts(&b, msg);
	verify(v, b.s, b.len, &r);
	describe(&r, desc, sizeof(desc));
	l = strlen(what);
	if (cvfail) /* such a chain fails whatever its signatures */
		snprintf(what + l, len - l, " [the yml's own set says cv=fail: "
		    "with us %s]", desc);
	else
		snprintf(what + l, len - l, " [the yml's own set %s with us: "
		    "%s]", r.result == ARC_RES_PASS ? "verifies" :
		    "does not verify", desc);
	free(b.s);
}

struct scounts {
	struct tally match, own;
};

static void
sign_test(struct scen *s, char **f, struct scounts *c)
{
	const char *id = f[2], *msg = f[3];
	const char *want[3] = { f[10], f[11], f[12] };
	static const char *const names[3] = { "ARC-Seal",
	    "ARC-Message-Signature", "ARC-Authentication-Results" };
	char *out[3], err[256], why[3][700], idbuf[300], what[2200];
	unsigned long t;
	int rc, match = 1, none = want[0][0] == '\0';

	snprintf(idbuf, sizeof(idbuf), "signing:%s", id);
	if (str_parse_uint(f[9], 0xffffffffUL, &t) != 0) {
		judge(idbuf, 0, "bad t= in the data", &c->match);
		return;
	}
	rc = seal(s->tv, msg, strlen(msg), f[13], NULL, f[4], f[5], f[6],
	    f[7], f[8], (time_t)t, out, err, sizeof(err));
	if (rc < 0) {
		snprintf(what, sizeof(what), "cannot seal: %s", err);
		judge(idbuf, 0, what, &c->match);
		return;
	}
	if (rc == 1 || none) {
		snprintf(what, sizeof(what), "%s, %s", none ? "want no ARC set" :
		    "want an ARC set", rc == 1 ? err : "got one");
		judge(idbuf, (rc == 1) == none, what, &c->match);
		for (int i = 0; i < 3; i++)
			free(out[i]);
		return;
	}
	what[0] = '\0';
	for (int i = 0; i < 3; i++)
		if (!compare_field(names[i], out[i], want[i], why[i],
		    sizeof(why[i]))) {
			size_t l = strlen(what);

			match = 0;
			snprintf(what + l, sizeof(what) - l, "%s%s", l ? "; " : "",
			    why[i]);
		}
	if (!match)
		yml_set_verifies(s->tv, want, msg, what, sizeof(what));
	judge(idbuf, match, match ? "as the yml" : what, &c->match);
	/* our seal verifies with us: pass, or fail when it says cv=fail */
	{
		size_t len;
		char *sm = sealed_msg(out, msg, &len);
		static struct arc_result r;
		int cvfail = strstr(out[0], "cv=fail") != NULL;
		char desc[240];

		verify(s->tv, sm, len, &r);
		describe(&r, desc, sizeof(desc));
		c->own.total++;
		if (r.result == (cvfail ? ARC_RES_FAIL : ARC_RES_PASS))
			c->own.agree++;
		else
			ok(0, "signing:%s: our seal does not verify with us: "
			    "want %s, got %s", id, cvfail ? "fail" : "pass",
			    desc);
		free(sm);
	}
	for (int i = 0; i < 3; i++)
		free(out[i]);
}

/* ---- the suite ------------------------------------------------------------------ */

static int
run_suite(const char *flat, const char *knownpath)
{
	FILE *f = fopen(flat, "r");
	char *line = NULL, *fl[SUITE_MAX_FIELDS];
	size_t fll[SUITE_MAX_FIELDS];
	size_t cap = 0, nf;
	unsigned blocks = 0;
	struct scen s;
	struct vcounts vc;
	struct scounts sc;

	memset(&s, 0, sizeof(s));
	memset(&vc, 0, sizeof(vc));
	memset(&sc, 0, sizeof(sc));
	verbose = getenv("ARC_SUITE_VERBOSE") != NULL;
	if (suite_known_load(&known, knownpath) != 0)
		ok(0, "cannot open the known differences %s", knownpath);
	if (f == NULL) {
		ok(0, "cannot open %s", flat);
		return test_done("arc-suite");
	}
	while (getline(&line, &cap, f) > 0) {
		nf = suite_split(line, fl, fll);
		if (strcmp(fl[0], "ZONE_RESET") == 0)
			scen_open(&s, blocks++);
		else if ((strcmp(fl[0], "ZONE") == 0 ||
		    strcmp(fl[0], "SERVFAIL") == 0 ||
		    strcmp(fl[0], "TIMEOUT") == 0) && s.table != NULL)
			zone_line(s.table, fl, nf);
		else if (strcmp(fl[0], "VALIDATE") == 0 && nf == 5 &&
		    s.table != NULL)
			validate(&s, fl, &vc);
		else if (strcmp(fl[0], "SIGN") == 0 && nf == 14 &&
		    s.table != NULL)
			sign_test(&s, fl, &sc);
		else
			ok(0, "%s: a line not understood: %.40s (%zu fields)",
			    flat, fl[0], nf);
	}
	free(line);
	fclose(f);
	scen_close(&s);
	ok(vc.table.total == 171, "171 validation tests (got %d)",
	    vc.table.total);
	ok(sc.match.total == 17, "17 signing tests (got %d)", sc.match.total);
	printf("arc validation (table): %d/%d\n", vc.table.agree,
	    vc.table.total);
	if (fwd.host[0] != '\0')
		printf("arc validation (unbound): %d/%d\n", vc.unbound.agree,
		    vc.unbound.total);
	printf("arc validation shadowed (table): %d/%d\n", vc.stable.agree,
	    vc.stable.total);
	if (fwd.host[0] != '\0')
		printf("arc validation shadowed (unbound): %d/%d\n",
		    vc.sunbound.agree, vc.sunbound.total);
	printf("arc validation dns, ours (table): %d/%d\n", vc.dtable.agree,
	    vc.dtable.total);
	if (fwd.host[0] != '\0')
		printf("arc validation dns, ours (unbound): %d/%d\n",
		    vc.dunbound.agree, vc.dunbound.total);
	printf("arc signing: %d/%d\n", sc.match.agree, sc.match.total);
	printf("arc signing, our seals verify: %d/%d\n", sc.own.agree,
	    sc.own.total);
	for (size_t i = 0; i < known.n; i++) {
		if (known.seen[i] || strncmp(known.name[i], "dkimpy", 6) == 0 ||
		    (fwd.host[0] == '\0' &&
		    strncmp(known.name[i], "validation-unbound:", 19) == 0))
			continue;
		ok(0, "known difference %s: no such case", known.name[i]);
	}
	ok(!hard_fail, "never pass where the suite says fail");
	suite_known_free(&known);
	return test_done("arc-suite");
}

/* ---- the command line for t/arc-dkimpy.py ------------------------------------------ */

static struct dns_resolver *
zones_from(const char *path)
{
	struct dns_resolver *dns = dns_table_new();
	FILE *f = fopen(path, "r");
	char *line = NULL, *fl[SUITE_MAX_FIELDS];
	size_t fll[SUITE_MAX_FIELDS];
	size_t cap = 0, nf;

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	while (getline(&line, &cap, f) > 0) {
		nf = suite_split(line, fl, fll);
		if (strcmp(fl[0], "ZONE") == 0)
			zone_line(dns, fl, nf);
	}
	free(line);
	fclose(f);
	return dns;
}

static int
cli_verify(const char *zones, const char *msgpath)
{
	struct dns_resolver *dns = zones_from(zones);
	struct arc_verifier *v = verifier_on(dns);
	static struct arc_result r;
	size_t len;
	char *msg = read_file(msgpath, &len);

	if (msg == NULL) {
		perror(msgpath);
		return 2;
	}
	verify(v, msg, len, &r);
	printf("%s\t%s\t%u\t%u\n", arc_res_name(r.result), r.reason, r.n,
	    r.oldest_pass);
	free(msg);
	arc_verifier_free(&v);
	dns_resolver_free(&dns);
	return 0;
}

static int
cli_seal(char **a)
{
	struct dns_resolver *dns = zones_from(a[0]);
	struct arc_verifier *v = verifier_on(dns);
	unsigned long t;
	size_t len;
	char *msg = read_file(a[8], &len), *out[3], err[256];
	int rc;

	if (msg == NULL || str_parse_uint(a[7], 0xffffffffUL, &t) != 0) {
		fprintf(stderr, "arc-suite --seal: bad message or t\n");
		return 2;
	}
	rc = seal(v, msg, len, NULL, a[1], a[2], a[3], a[4], a[5],
	    strcmp(a[6], "-") == 0 ? NULL : a[6], (time_t)t, out, err,
	    sizeof(err));
	if (rc == 0) {
		printf("%s\r\n%s\r\n%s\r\n", out[0], out[1], out[2]);
		fwrite(msg, 1, len, stdout);
		for (int i = 0; i < 3; i++)
			free(out[i]);
	} else
		fprintf(stderr, "arc-suite --seal: %s%s\n", rc > 0 ?
		    "no ARC set: " : "", err);
	free(msg);
	arc_verifier_free(&v);
	dns_resolver_free(&dns);
	return rc == 0 ? 0 : rc > 0 ? 3 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--verify") == 0)
		return cli_verify(argv[2], argv[3]);
	if (argc == 11 && strcmp(argv[1], "--seal") == 0)
		return cli_seal(argv + 2);
	if (suite_fwd_args(&argc, &argv, &fwd) != 0 || argc != 3) {
		fprintf(stderr, "usage: arc-suite [--forward HOST@BASE] FLAT "
		    "KNOWN\n       arc-suite --verify ZONES MSG\n"
		    "       arc-suite --seal ZONES KEY DOMAIN SELECTOR SRVID "
		    "AAR HEADERS T MSG\n");
		return 2;
	}
	return run_suite(argv[1], argv[2]);
}
