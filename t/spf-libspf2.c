/*
 * spf-libspf2.c - Debian's libspf2 1.2.10 kept as a measured reference
 * next to spf_check().
 *
 * libspf2 is not in the evaluation path (see lib/spf/spf.h). Here it gets a
 * DNS layer over our struct dns_resolver (a table back end) and is run,
 * each check in a forked child because DNS data can make it abort, beside
 * spf_check() on the same zone:
 *
 *   spf-libspf2 [--traps]   one named case per libspf2 trap listed in
 *                           LIBRARY-TRAPS.md; asserts only that OUR
 *                           result is the RFC 7208 answer and prints
 *                           libspf2's result (or the signal that ended it)
 *   spf-libspf2 SUITEFILE   the RFC 7208 suite (t/spf-suite.py's flat
 *                           output) through both; prints both counts
 *
 * Exit: trap mode returns test_done(). Suite mode is informational: it
 * never fails on libspf2's count; it returns 1 only when our count is
 * below the suite's (which t/spf-suite guards too), 2 when the file
 * cannot be read, else 0.
 */
#include "config.h"

#include "settings.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* libspf2 and lib/spf/spf.h both name their results SPF_RESULT_*: rename
 * libspf2's enumerators while its headers are read. */
#define SPF_RESULT_INVALID L2_RESULT_INVALID
#define SPF_RESULT_NEUTRAL L2_RESULT_NEUTRAL
#define SPF_RESULT_PASS L2_RESULT_PASS
#define SPF_RESULT_FAIL L2_RESULT_FAIL
#define SPF_RESULT_SOFTFAIL L2_RESULT_SOFTFAIL
#define SPF_RESULT_NONE L2_RESULT_NONE
#define SPF_RESULT_TEMPERROR L2_RESULT_TEMPERROR
#define SPF_RESULT_PERMERROR L2_RESULT_PERMERROR
#include <spf2/spf.h>
#undef SPF_RESULT_INVALID
#undef SPF_RESULT_NEUTRAL
#undef SPF_RESULT_PASS
#undef SPF_RESULT_FAIL
#undef SPF_RESULT_SOFTFAIL
#undef SPF_RESULT_NONE
#undef SPF_RESULT_TEMPERROR
#undef SPF_RESULT_PERMERROR

#include "dns.h"
#include "spf.h"
#include "spf-suitefile.h"
#include "tap.h"
#include "util.h"

#define RECEIVER "receiver.example.net" /* %{r}, as in t/spf-suite.c */
#define CHILD_ALARM_S 60   /* a child that hangs is ended by SIGALRM */
#define MAX_SUITE (8u << 20) /* bytes of a flat suite file we read */

/* ---- libspf2's DNS layer over struct dns_resolver ----------------------- */

/* l2_add - append one answer of len bytes as rr[*cnt]; 0 or -1 */
static int
l2_add(SPF_dns_rr_t *rr, int *cnt, const void *data, size_t len)
{
	if (SPF_dns_rr_buf_realloc(rr, *cnt, len) != SPF_E_SUCCESS)
		return -1;
	memcpy(rr->rr[*cnt], data, len);
	(*cnt)++;
	return 0;
}

/* l2_fill - decode our answer's RRs into libspf2's form: in_addr,
 * in6_addr, or a NUL-terminated name or joined TXT string. Malformed
 * rdata is skipped. Returns the count. */
static int
l2_fill(SPF_dns_rr_t *rr, const struct dns_answer *a, int type)
{
	char name[1025];
	int cnt = 0;

	for (size_t i = 0; i < a->count; i++) {
		const struct dns_rr *r = &a->rr[i];
		unsigned pref;
		char *text;
		int bad = 0;

		switch (type) {
		case DNS_T_A:
			if (r->len == sizeof(struct in_addr))
				bad = l2_add(rr, &cnt, r->data, r->len);
			break;
		case DNS_T_AAAA:
			if (r->len == sizeof(struct in6_addr))
				bad = l2_add(rr, &cnt, r->data, r->len);
			break;
		case DNS_T_MX:
			if (dns_rr_mx(r, &pref, name, sizeof(name)) == 0)
				bad = l2_add(rr, &cnt, name, strlen(name) + 1);
			break;
		case DNS_T_PTR:
			if (dns_rr_name(r, 0, name, sizeof(name)) == 0)
				bad = l2_add(rr, &cnt, name, strlen(name) + 1);
			break;
		case DNS_T_TXT:
		case DNS_T_SPF:
			/* the character-strings are joined (RFC 7208 3.3) */
			text = xmalloc(r->len + 1);
			if (dns_rr_txt(r, text, r->len + 1) == 0)
				bad = l2_add(rr, &cnt, text, strlen(text) + 1);
			free(text);
			break;
		default:
			break;
		}
		if (bad)
			break;
	}
	return cnt;
}

/* l2_lookup - SPF_dns_lookup_t over the resolver in the hook. Never
 * NULL (libspf2 aborts on NULL): the answer always carries an herrno. */
static SPF_dns_rr_t *
l2_lookup(SPF_dns_server_t *server, const char *domain, ns_type type,
    int should_cache)
{
	struct dns_resolver *dns = server->hook;
	struct dns_answer *a;
	SPF_dns_rr_t *rr;
	int herrno;

	(void)should_cache;
	if (domain == NULL)
		domain = "";
	switch ((int)type) {
	case DNS_T_A:
	case DNS_T_AAAA:
	case DNS_T_MX:
	case DNS_T_PTR:
	case DNS_T_TXT:
	case DNS_T_SPF:
		break;
	default:
		rr = SPF_dns_rr_new_init(server, domain, type, 0, NO_DATA);
		if (rr == NULL)
			_exit(3);
		return rr;
	}
	a = dns_query(dns, domain, (int)type, 0);
	switch (a->status) {
	case DNS_STATUS_OK:
		herrno = NETDB_SUCCESS;
		break;
	case DNS_STATUS_NXDOMAIN:
		herrno = HOST_NOT_FOUND;
		break;
	case DNS_STATUS_NODATA:
		herrno = NO_DATA;
		break;
	default:
		herrno = TRY_AGAIN;
		break;
	}
	rr = SPF_dns_rr_new_init(server, domain, type, 0, herrno);
	if (rr == NULL)
		_exit(3); /* out of memory in the child: reported as exit 3 */
	if (herrno == NETDB_SUCCESS) {
		rr->num_rr = l2_fill(rr, a, (int)type);
		if (rr->num_rr == 0)
			rr->herrno = NO_DATA;
	}
	dns_answer_free(&a);
	return rr;
}

/* l2_server_new - an SPF_server_t whose DNS is our resolver. The layer
 * has no destroy function, so libspf2 leaves it alone: the caller frees
 * *layerp after SPF_server_free(). */
static SPF_server_t *
l2_server_new(struct dns_resolver *dns, SPF_dns_server_t **layerp)
{
	SPF_dns_server_t *layer = xcalloc(1, sizeof(*layer));
	SPF_server_t *sp;

	layer->destroy = NULL;
	layer->lookup = l2_lookup;
	layer->name = "authmilter";
	layer->hook = dns;
	sp = SPF_server_new_dns(layer, 0);
	if (sp == NULL)
		_exit(3);
	SPF_server_set_rec_dom(sp, RECEIVER);
	*layerp = layer;
	return sp;
}

static void
l2_quiet(const char *file, int line, const char *msg)
{
	(void)file;
	(void)line;
	(void)msg;
}

/* ---- one libspf2 check in a forked child -------------------------------- */

struct l2_outcome {
	int ran;      /* the child reported a result */
	int sig;      /* the signal that ended the child, or 0 */
	int status;   /* exit status when the child did not report */
	int result;   /* SPF_result_t */
	int err;      /* SPF_errcode_t */
	char exp[512];
};

static void
write_all(int fd, const void *p, size_t len)
{
	const char *b = p;

	while (len > 0) {
		ssize_t n = write(fd, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		b += n;
		len -= (size_t)n;
	}
}

static size_t
read_all(int fd, void *p, size_t len)
{
	char *b = p;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, b + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* l2_child - run the check and write the outcome to fd; never returns.
 * A NULL or "" sender checks the HELO identity (postmaster@helo). */
static void __attribute__((noreturn))
l2_child(int fd, struct dns_resolver *dns, const char *ip,
    const char *sender, const char *helo)
{
	struct l2_outcome o;
	struct in_addr a4;
	struct in6_addr a6;
	SPF_dns_server_t *layer;
	SPF_server_t *sp;
	SPF_request_t *req;
	SPF_response_t *resp = NULL;

	alarm(CHILD_ALARM_S);
	SPF_warning_handler = l2_quiet;
	SPF_info_handler = l2_quiet;
	SPF_debug_handler = l2_quiet;
	memset(&o, 0, sizeof(o));
	sp = l2_server_new(dns, &layer);
	req = SPF_request_new(sp);
	if (req == NULL)
		_exit(3);
	if (ip != NULL && inet_pton(AF_INET, ip, &a4) == 1) {
		SPF_request_set_ipv4(req, a4);
	} else if (ip != NULL && inet_pton(AF_INET6, ip, &a6) == 1) {
		SPF_request_set_ipv6(req, a6);
	} else {
		o.result = L2_RESULT_INVALID;
		o.err = SPF_E_INVALID_IP4;
		goto done;
	}
	SPF_request_set_helo_dom(req, helo != NULL ? helo : "");
	/* set_env_from is required: without it query_mailfrom aborts */
	SPF_request_set_env_from(req, sender != NULL ? sender : "");
	o.err = SPF_request_query_mailfrom(req, &resp);
	if (resp != NULL) {
		const char *e = SPF_response_get_explanation(resp);

		o.result = SPF_response_result(resp);
		str_copy(o.exp, e != NULL ? e : "", sizeof(o.exp));
		SPF_response_free(resp);
	}
done:
	o.ran = 1;
	SPF_request_free(req);
	SPF_server_free(sp);
	free(layer);
	write_all(fd, &o, sizeof(o));
	_exit(0);
}

/* l2_run - one libspf2 check in a child; *o says what it answered or how
 * it died */
static void
l2_run(struct dns_resolver *dns, const char *ip, const char *sender,
    const char *helo, struct l2_outcome *o)
{
	int p[2], st = 0;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	fflush(stdout);
	fflush(stderr);
	if (pipe(p) != 0) {
		perror("spf-libspf2: pipe");
		o->status = -1;
		return;
	}
	pid = fork();
	if (pid < 0) {
		perror("spf-libspf2: fork");
		close(p[0]);
		close(p[1]);
		o->status = -1;
		return;
	}
	if (pid == 0) {
		close(p[0]);
		l2_child(p[1], dns, ip, sender, helo);
	}
	close(p[1]);
	if (read_all(p[0], o, sizeof(*o)) != sizeof(*o))
		memset(o, 0, sizeof(*o));
	o->exp[sizeof(o->exp) - 1] = '\0';
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st)) {
		o->ran = 0;
		o->sig = WTERMSIG(st);
	} else if (!o->ran) {
		o->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	}
}

static const char *
l2_result_name(int r)
{
	static const char *const names[] = { "invalid", "neutral", "pass",
		"fail", "softfail", "none", "temperror", "permerror" };

	if (r < 0 || (size_t)r >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[r];
}

static const char *
sig_name(int sig)
{
	switch (sig) {
	case SIGABRT:
		return "SIGABRT";
	case SIGSEGV:
		return "SIGSEGV";
	case SIGBUS:
		return "SIGBUS";
	case SIGILL:
		return "SIGILL";
	case SIGFPE:
		return "SIGFPE";
	case SIGALRM:
		return "SIGALRM (hung)";
	default:
		return "signal";
	}
}

/* l2_describe - "pass", "invalid [err 26: ...]", "SIGABRT" */
static const char *
l2_describe(const struct l2_outcome *o, char *buf, size_t len)
{
	if (o->sig != 0)
		snprintf(buf, len, "%s", sig_name(o->sig));
	else if (!o->ran)
		snprintf(buf, len, "no report (exit %d)", o->status);
	else if (o->err != SPF_E_SUCCESS &&
	    (o->result == L2_RESULT_INVALID ||
	    o->result == L2_RESULT_PERMERROR ||
	    o->result == L2_RESULT_TEMPERROR))
		snprintf(buf, len, "%s [err %d: %s]", l2_result_name(o->result),
		    o->err, SPF_strerror((SPF_errcode_t)o->err));
	else
		snprintf(buf, len, "%s", l2_result_name(o->result));
	return buf;
}

/* ---- trap mode --------------------------------------------------------- */

/* hostile_exp - the exp= text that aborts libspf2 1.2.10 (upstream fix
 * d14abff is missing): exactly 127 "%{d}" then 100+ literal bytes */
static char *
hostile_exp(void)
{
	struct dynbuf b;

	dynbuf_init(&b, 8192);
	for (int i = 0; i < 127; i++)
		dynbuf_puts(&b, "%{d}");
	for (int i = 0; i < 120; i++)
		dynbuf_puts(&b, "x");
	return dynbuf_take(&b);
}

static struct dns_resolver *
trap_zone(void)
{
	static const struct {
		const char *name, *txt;
	} txt[] = {
		{ "local.example", "v=spf1 -all" },
		{ "mapped.example", "v=spf1 ip4:192.0.2.10 -all" },
		{ "void3.example", "v=spf1 a:n1.void3.example "
		    "a:n2.void3.example exists:n3.void3.example -all" },
		{ "exp.example", "v=spf1 exp=why.exp.example -all" },
		{ "why.exp.example", "%{i} may not send for %{d} (%{l})" },
		{ "hostexp.example", "v=spf1 exp=e.hostexp.example -all" },
	};
	struct dns_resolver *d = dns_table_new();
	char name[64], rec[128];
	char *h;

	for (size_t i = 0; i < sizeof(txt) / sizeof(txt[0]); i++)
		dns_table_add_text(d, txt[i].name, DNS_T_TXT, txt[i].txt);
	/* every type times out, as a dead server would: libspf2 asks for
	 * type SPF first and would stop at an NXDOMAIN there */
	dns_table_set_status(d, "tempfail.example", 0, DNS_STATUS_TEMPFAIL);
	/* nest11: a chain of 11 includes, 11 lookups in one check_host() */
	for (int i = 0; i <= 11; i++) {
		if (i == 0)
			snprintf(name, sizeof(name), "nest11.example");
		else
			snprintf(name, sizeof(name), "n%d.nest11.example", i);
		if (i < 11)
			snprintf(rec, sizeof(rec), "v=spf1 include:n%d.nest11."
			    "example ip4:192.0.2.77 -all", i + 1);
		else
			snprintf(rec, sizeof(rec), "v=spf1 -all");
		dns_table_add_text(d, name, DNS_T_TXT, rec);
	}
	h = hostile_exp();
	dns_table_add_text(d, "e.hostexp.example", DNS_T_TXT, h);
	free(h);
	return d;
}

struct trap {
	const char *name;
	const char *ip, *sender;
	enum spf_result rfc;
	const char *rfc_exp; /* the explanation RFC 7208 6.2 gives, or NULL */
	const char *cite;
};

static const struct trap traps[] = {
	{ "127/8-passes", "127.0.0.1", "a@local.example", SPF_RESULT_FAIL,
	    NULL, "RFC 7208 4: no exemption for loopback clients" },
	{ "ipv4-mapped", "::ffff:192.0.2.10", "a@mapped.example",
	    SPF_RESULT_PASS, NULL,
	    "RFC 7208 5: an IPv4-mapped client is IPv4" },
	{ "nested-11-lookups", "192.0.2.9", "a@nest11.example",
	    SPF_RESULT_PERMERROR, NULL,
	    "RFC 7208 4.6.4: 10 lookups per check_host(), includes count" },
	{ "3-void-lookups", "192.0.2.9", "a@void3.example",
	    SPF_RESULT_PERMERROR, NULL,
	    "RFC 7208 4.6.4: at most 2 void lookups" },
	{ "tempfail-on-record", "192.0.2.9", "a@tempfail.example",
	    SPF_RESULT_TEMPERROR, NULL,
	    "RFC 7208 4.4: a DNS error fetching the record is temperror" },
	{ "exp-with-spaces", "192.0.2.9", "joe@exp.example", SPF_RESULT_FAIL,
	    "192.0.2.9 may not send for exp.example (joe)",
	    "RFC 7208 6.2: exp text is macro-expanded, spaces kept" },
	{ "hostile-macro-exp", "192.0.2.9", "a@hostexp.example",
	    SPF_RESULT_FAIL, NULL,
	    "RFC 7208 6.2: a bad exp= never changes the result" },
};

static int
trap_mode(void)
{
	struct dns_resolver *dns = trap_zone();
	struct spf_checker *c;
	char err[128];

	c = spf_checker_new(dns, RECEIVER, err, sizeof(err));
	ok(c != NULL, "checker created: %s", c != NULL ? "ok" : err);
	if (c == NULL) {
		dns_resolver_free(&dns);
		return test_done("spf-libspf2");
	}
	for (size_t i = 0; i < sizeof(traps) / sizeof(traps[0]); i++) {
		const struct trap *t = &traps[i];
		struct l2_outcome lo;
		struct spf_outcome o;
		char desc[160];

		l2_run(dns, t->ip, t->sender, "h.example", &lo);
		spf_check(c, t->ip, t->sender, "h.example", &o);
		if (t->rfc_exp == NULL)
			printf("trap %s: libspf2=%s ours=%s (rfc: %s)\n",
			    t->name, l2_describe(&lo, desc, sizeof(desc)),
			    spf_result_name(o.result), spf_result_name(t->rfc));
		else /* the explanation is the point: show it in the row */
			printf("trap %s: libspf2=%s \"%s\" ours=%s \"%s\" "
			    "(rfc: %s \"%s\")\n", t->name,
			    l2_describe(&lo, desc, sizeof(desc)), lo.exp,
			    spf_result_name(o.result), o.explanation,
			    spf_result_name(t->rfc), t->rfc_exp);
		printf("    %s; ours: %s\n", t->cite, o.reason);
		if (lo.ran && lo.exp[0] != '\0')
			printf("    libspf2 explanation: \"%s\"\n", lo.exp);
		if (o.explanation[0] != '\0')
			printf("    our explanation: \"%s\"\n", o.explanation);
		is_int(o.result, t->rfc, "%s: our result is %s", t->name,
		    spf_result_name(t->rfc));
		if (t->rfc_exp != NULL)
			is_str(o.explanation, t->rfc_exp, "%s: our explanation",
			    t->name);
		if (strcmp(t->name, "hostile-macro-exp") == 0) {
			ok(strstr(o.explanation, " is not permitted by ") !=
			    NULL, "%s: our default explanation stands in",
			    t->name);
			if (lo.sig == 0)
				printf("    note: libspf2 no longer dies on "
				    "this record; revisit LIBRARY-TRAPS.md\n");
		}
	}
	spf_checker_free(&c);
	dns_resolver_free(&dns);
	return test_done("spf-libspf2");
}

/* ---- suite mode -------------------------------------------------------- */

/* exp_ok - a wanted explanation: "DEFAULT" is each implementation's own
 * default text (ours names the client and domain; any for libspf2) */
static int
exp_ok(const char *got, const char *want, int ours)
{
	if (*want == '\0')
		return 1;
	if (strcmp(want, "DEFAULT") == 0)
		return ours ? strstr(got, " is not permitted by ") != NULL :
		    *got != '\0';
	return strcmp(got, want) == 0;
}

struct tally {
	int total, l2_pass, l2_mapped, l2_crash, our_pass;
};

/* l2_mapped - the result a caller could repair from outside: INVALID
 * (no result set) with SPF_E_DNS_ERROR as temperror, with any other
 * error (a record that did not compile) as permerror */
static int
l2_mapped(const struct l2_outcome *o)
{
	if (o->result != L2_RESULT_INVALID)
		return o->result;
	return o->err == SPF_E_DNS_ERROR ? L2_RESULT_TEMPERROR :
	    L2_RESULT_PERMERROR;
}

/* suite_test - one TEST line through both */
static void
suite_test(struct dns_resolver *dns, struct spf_checker *c, char **f,
    struct tally *t)
{
	const char *mailfrom = f[4], *at = strrchr(f[4], '@');
	const char *want = f[5], *want_exp = f[6];
	struct spf_outcome o;
	struct l2_outcome lo;
	char desc[160];
	int p, pm;

	/* a MAIL FROM with no domain checks the HELO identity, as the
	 * suite intends (the same rule as t/spf-suite.c) */
	if (at != NULL && at[1] == '\0')
		mailfrom = NULL;
	t->total++;

	spf_check(c, f[2], mailfrom, f[3], &o);
	p = suite_in_list(want, spf_result_name(o.result));
	if (p && o.result == SPF_RESULT_FAIL)
		p = exp_ok(o.explanation, want_exp, 1);
	t->our_pass += p;
	if (!p)
		printf("  ours differs: %s: got %s \"%s\", want %s \"%s\"\n",
		    f[1], spf_result_name(o.result), o.explanation, want,
		    want_exp);

	l2_run(dns, f[2], mailfrom, f[3], &lo);
	if (!lo.ran) {
		t->l2_crash++;
		p = pm = 0;
	} else {
		p = suite_in_list(want, l2_result_name(lo.result));
		pm = suite_in_list(want, l2_result_name(l2_mapped(&lo)));
		if (lo.result == L2_RESULT_FAIL) {
			p = p && exp_ok(lo.exp, want_exp, 0);
			pm = pm && exp_ok(lo.exp, want_exp, 0);
		}
	}
	t->l2_pass += p;
	t->l2_mapped += pm;
	if (!p)
		printf("  libspf2 differs: %s: got %s \"%s\", want %s \"%s\"\n",
		    f[1], l2_describe(&lo, desc, sizeof(desc)), lo.exp, want,
		    want_exp);
}

/* slurp - the whole file in memory (at most MAX_SUITE bytes), so that no
 * stream open for reading is shared with the forked children: a child's
 * libc cleanup (valgrind runs it even on _exit) would seek the shared
 * descriptor back. NULL on error. */
static char *
slurp(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = xmalloc(MAX_SUITE + 1);
	n = fread(buf, 1, MAX_SUITE + 1, f);
	if (ferror(f) || n > MAX_SUITE) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*lenp = n;
	return buf;
}

static int
suite_mode(const char *path)
{
	size_t len = 0;
	char *text = slurp(path, &len);
	FILE *f = text != NULL && len > 0 ? fmemopen(text, len, "r") : NULL;
	char *line = NULL;
	size_t cap = 0;
	struct dns_resolver *dns = NULL;
	struct spf_checker *c = NULL;
	struct tally t = { 0, 0, 0, 0, 0 };
	char err[128];
	int maj, min, pat;

	if (f == NULL) {
		fprintf(stderr, "spf-libspf2: cannot read %s (empty, or over "
		    "%u bytes?)\n", path, MAX_SUITE);
		free(text);
		return 2;
	}
	while (getline(&line, &cap, f) > 0) {
		char *fl[SUITE_MAX_FIELDS];
		size_t fll[SUITE_MAX_FIELDS];
		size_t n = suite_split(line, fl, fll);

		if (strcmp(fl[0], "SCENARIO") == 0) {
			spf_checker_free(&c);
			dns_resolver_free(&dns);
			dns = dns_table_new();
			c = spf_checker_new(dns, RECEIVER, err, sizeof(err));
			if (c == NULL)
				fprintf(stderr, "spf-libspf2: %s\n", err);
		} else if (dns == NULL || c == NULL) {
			continue;
		} else if (strcmp(fl[0], "ZONE") == 0 && n >= 4) {
			if (dns_table_add_text(dns, fl[1], suite_type_of(fl[2]),
			    fl[3]) != 0)
				fprintf(stderr, "skipped bad RR %s %s %s\n",
				    fl[1], fl[2], fl[3]);
		} else if (strcmp(fl[0], "TXT") == 0 && n >= 4) {
			unsigned long ns = 0;
			int type = suite_type_of(fl[2]);

			str_parse_uint(fl[3], SUITE_MAX_FIELDS, &ns);
			if (ns > n - 4)
				ns = n - 4;
			if (type == DNS_T_TXT || type == DNS_T_SPF)
				suite_add_txt(dns, fl[1], type, fl + 4, fll + 4, ns);
		} else if (strcmp(fl[0], "TIMEOUT") == 0 && n >= 3) {
			static const char *const ty[] = { "A", "AAAA", "MX",
				"PTR", "TXT", "SPF", "CNAME" };

			/* types answered before the TIMEOUT entry still
			 * answer */
			for (size_t i = 0; i < sizeof(ty) / sizeof(ty[0]); i++)
				if (!suite_in_list(fl[2], ty[i]))
					dns_table_set_status(dns, fl[1],
					    suite_type_of(ty[i]),
					    DNS_STATUS_TEMPFAIL);
		} else if (strcmp(fl[0], "TEST") == 0 && n >= 7) {
			suite_test(dns, c, fl, &t);
		} else if (strcmp(fl[0], "END") == 0) {
			spf_checker_free(&c);
			dns_resolver_free(&dns);
		}
	}
	spf_checker_free(&c);
	dns_resolver_free(&dns);
	free(line);
	fclose(f);
	free(text);
	SPF_get_lib_version(&maj, &min, &pat);
	printf("libspf2 %d.%d.%d via our resolver: %d/%d passed (%d crashed)\n",
	    maj, min, pat, t.l2_pass, t.total, t.l2_crash);
	printf("libspf2 with invalid mapped to temperror/permerror by the "
	    "caller: %d/%d passed\n", t.l2_mapped, t.total);
	printf("authmilter spf: %d/%d passed\n", t.our_pass, t.total);
	return t.our_pass < t.total ? 1 : 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--traps") == 0)
		return trap_mode();
	if (argc == 2 && argv[1][0] != '-')
		return suite_mode(argv[1]);
	fprintf(stderr, "usage: spf-libspf2 [--traps | RFC7208.txt]\n");
	return 2;
}
