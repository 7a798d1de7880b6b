/*
 * authmilter-report.c - send the DMARC aggregate reports (RFC 9990) of a
 * period from the report store the daemon fills (issue 14).
 *
 * For each policy domain with rows in the period: skip it when its report
 * was sent already; load its rows into a report set; find where reports
 * go in its DMARC record as published now (rua=, mailto: only); keep the
 * destinations that are inside its organizational domain or that agreed
 * to receive its reports (RFC 9990 3.5.1) and whose "!size" the message
 * fits; write the XML, gzip it, build the message and hand it to sendmail
 * or an SMTP relay; mark it sent when that succeeded. A domain that fails
 * does not stop the others.
 *
 * Exit codes are <sysexits.h>'s, listed in authmilter-report(8): EX_OK;
 * EX_USAGE; EX_CONFIG (a configuration that does not load, no
 * reports.email, a public suffix list that does not load);
 * EX_UNAVAILABLE (the store or the resolver does not open); EX_TEMPFAIL
 * (a report not sent: a send or a DNS lookup failed, or the store failed
 * during the run; a later run with the same period tries again);
 * EX_CANTCREAT (--dry-run could not write its files).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "dest.h"
#include "dmarc.h"
#include "dname.h"
#include "dns.h"
#include "log.h"
#include "psl.h"
#include "report.h"
#include "send.h"
#include "session.h"
#include "settings.h"
#include "store.h"
#include "util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/authmilter.conf"
#define PROG "authmilter-report"

/* the message of a report: its gzip file in base64 and some headers */
#define MESSAGE_MAX (REPORT_XML_MAX / 3 * 4 + REPORT_XML_MAX / 38 + 65536)

static int verbose;

/* say - one log line at level: to syslog through the project's logger,
 * and to stderr with the program's name when it is a warning or worse or
 * -v was given */
static void __attribute__((format(printf, 2, 3)))
say(int level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_msg(level, "%s", line);
	if (level <= LOG_WARNING || verbose)
		fprintf(stderr, PROG ": %s\n", line);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: authmilter-report [-v] [-c FILE] [--from YYYY-MM-DD] "
	    "[--to YYYY-MM-DD]\n"
	    "                         [--domain DOMAIN] [--dry-run --dir DIR]\n"
	    "       authmilter-report [-v] [-c FILE] --prune\n"
	    "  -c FILE        configuration file (default " DEFAULT_CONFIG ")\n"
	    "  --from DAY     first UTC day of the period (default: yesterday)\n"
	    "  --to DAY       last UTC day of the period, included (default:\n"
	    "                 the --from day, or yesterday)\n"
	    "  --domain D     only the reports about policy domain D\n"
	    "  --dry-run      send nothing, mark nothing sent: write each report\n"
	    "                 and its message into --dir DIR\n"
	    "  --dir DIR      where --dry-run writes\n"
	    "  --prune        delete stored rows older than reports.keep_days\n"
	    "                 days, and nothing else\n"
	    "  -v             log to stderr too, and print a line per report\n"
	    "  -V             print the version\n"
	    "  -h, --help     print this\n");
}

/* parse_day - "YYYY-MM-DD" as the epoch second of that day's 00:00:00
 * UTC; -1 when it is not such a day */
static int
parse_day(const char *s, time_t *out)
{
	struct tm tm, back;
	time_t t;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 +
		     (s[2] - '0') * 10 + (s[3] - '0') - 1900;
	tm.tm_mon = (s[5] - '0') * 10 + (s[6] - '0') - 1;
	tm.tm_mday = (s[8] - '0') * 10 + (s[9] - '0');
	if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 ||
	    tm.tm_mday < 1)
		return -1;
	back = tm;
	t = timegm(&back);
	/* timegm() makes 2025-02-30 March 2: not a day */
	if (t == (time_t)-1 || back.tm_mday != tm.tm_mday ||
	    back.tm_mon != tm.tm_mon)
		return -1;
	*out = t;
	return 0;
}

/* day_text - t as YYYY-MM-DD (UTC) into buf of at least 11 bytes */
static const char *
day_text(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d", &tm) == 0)
		snprintf(buf, len, "?");
	return buf;
}

/* what one run works with */
struct run {
	const struct settings *cfg;
	struct report_store *st;
	struct dest_dns dd;
	time_t begin, end, now;
	const char *dir; /* --dry-run's, or NULL */
	int dry_run;
	char submitter[DNAME_BUFSIZE];
	const char *org_name;
	unsigned timeout_ms;
	int write_failed; /* --dry-run could not write a file */
};

/* how a domain went */
enum outcome { OUT_SENT = 0, OUT_SKIPPED, OUT_FAILED };

/* domain_list - the policy domains report_store_domains() named */
struct domain_list {
	char **v;
	size_t n, cap;
};

/* add_domain - report_store_domains()'s callback: keep a copy */
static int
add_domain(const char *domain, void *ctx)
{
	struct domain_list *l = ctx;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xstrdup(domain);
	return 0;
}

/* addr_list - the addresses of to as "a@b, c@d" into buf */
static const char *
addr_list(const struct report_rua_list *to, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < to->n && o < len; i++) {
		int n = snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
				 to->uri[i].addr);

		if (n < 0)
			break;
		o += (size_t)n;
	}
	return buf;
}

/* skipped - a domain left out for a reason that is not a failure: logged,
 * and printed under --dry-run */
static enum outcome
skipped(const struct run *r, const char *domain, const char *why)
{
	say(LOG_NOTICE, "domain=%s skipped: %s", domain, why);
	if (r->dry_run)
		printf("%s: skipped: %s\n", domain, why);
	return OUT_SKIPPED;
}

/* write_file - len bytes into dir/name, created or replaced; -1 with err */
static int
write_file(const char *dir, const char *name, const char *data, size_t len,
	   char *err, size_t errlen)
{
	char *path = xasprintf("%s/%s", dir, name);
	size_t done = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	while (done < len) {
		ssize_t w = write(fd, data + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			free(path);
			return -1;
		}
		done += (size_t)w;
	}
	if (close(fd) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

/* authorize - drop from *to the destinations outside the domain's
 * organizational domain that did not agree to its reports, each with a
 * log line; OUT_FAILED on a DNS failure (then *to is as it was), else
 * OUT_SENT */
static enum outcome
authorize(const struct run *r, const char *domain,
	  struct report_rua_list *to)
{
	char org[DNAME_BUFSIZE], why[600];
	struct report_rua_list kept;

	if (dest_org(&r->dd, domain, org, sizeof(org), why, sizeof(why)) !=
	    DEST_OK) {
		say(LOG_WARNING, "domain=%s not sent: %s", domain, why);
		return OUT_FAILED;
	}
	memset(&kept, 0, sizeof(kept));
	kept.skipped = to->skipped;
	for (size_t i = 0; i < to->n; i++) {
		switch (dest_authorized(&r->dd, domain, org, to->uri[i].domain,
					why, sizeof(why))) {
		case DEST_OK:
			kept.uri[kept.n++] = to->uri[i];
			break;
		case DEST_NONE:
			say(LOG_NOTICE, "domain=%s rua=%s dropped: %s", domain,
			    to->uri[i].addr, why);
			kept.skipped++;
			break;
		case DEST_TEMP:
			say(LOG_WARNING, "domain=%s rua=%s not sent: %s",
			    domain, to->uri[i].addr, why);
			return OUT_FAILED;
		}
	}
	/* the domain pointers follow the copies: they point into addr */
	for (size_t i = 0; i < kept.n; i++)
		kept.uri[i].domain = strrchr(kept.uri[i].addr, '@') + 1;
	*to = kept;
	return OUT_SENT;
}

/* fit - drop from *to the destinations whose "!size" limit a message of
 * bytes does not fit, each with a log line; the destinations left */
static size_t
fit(const char *domain, struct report_rua_list *to, size_t bytes)
{
	size_t n = 0;

	for (size_t i = 0; i < to->n; i++) {
		if (report_rua_fits(&to->uri[i], bytes)) {
			to->uri[n] = to->uri[i];
			to->uri[n].domain = strrchr(to->uri[n].addr, '@') + 1;
			n++;
			continue;
		}
		say(LOG_NOTICE,
		    "domain=%s rua=%s dropped: the report message is %zu "
		    "bytes, over the address's limit of %llu",
		    domain, to->uri[i].addr, bytes,
		    (unsigned long long)to->uri[i].max_bytes);
		to->skipped++;
	}
	to->n = n;
	return n;
}

/* one_domain - the report of one policy domain for the run's period */
static enum outcome
one_domain(struct run *r, const char *domain)
{
	char id[REPORT_ID_BUFSIZE], err[600], name[4 * DNAME_BUFSIZE];
	char addrs[REPORT_RUA_MAX * REPORT_ADDR_MAX];
	struct report_rua_list to;
	struct report_meta m;
	struct report_set *set;
	struct dynbuf xml, gz, msg;
	enum outcome out = OUT_FAILED;
	uint64_t bad = 0;
	size_t skipped_before;
	int rc;

	rc = report_store_sent(r->st, domain, r->begin, r->end, id, err,
			       sizeof(err));
	if (rc < 0) {
		say(LOG_ERR, "domain=%s store error: %s", domain, err);
		return OUT_FAILED;
	}
	if (rc == 1) {
		snprintf(err, sizeof(err), "already sent, report id %s", id);
		return skipped(r, domain, err);
	}
	set = report_set_new(domain, r->begin, r->end);
	if (report_store_load(r->st, domain, r->begin, r->end, set, &bad, err,
			      sizeof(err)) < 0) {
		say(LOG_ERR, "domain=%s store error: %s", domain, err);
		report_set_free(&set);
		return OUT_FAILED;
	}
	if (bad > 0 || report_set_dropped(set) > 0)
		say(LOG_WARNING,
		    "domain=%s %llu stored rows did not decode, %llu records "
		    "were refused by the report",
		    domain, (unsigned long long)bad,
		    (unsigned long long)report_set_dropped(set));
	if (report_set_rows(set) == 0) {
		report_set_free(&set);
		return skipped(r, domain, "no rows in the period");
	}
	switch (dest_rua(&r->dd, domain, &to, err, sizeof(err))) {
	case DEST_OK:
		break;
	case DEST_NONE:
		report_set_free(&set);
		return skipped(r, domain, err);
	case DEST_TEMP:
		say(LOG_WARNING, "domain=%s not sent: %s", domain, err);
		report_set_free(&set);
		return OUT_FAILED;
	}
	if (authorize(r, domain, &to) != OUT_SENT) {
		report_set_free(&set);
		return OUT_FAILED;
	}
	if (to.n == 0) {
		report_set_free(&set);
		return skipped(r, domain,
			       "no rua= destination may receive its reports");
	}
	if (report_id_new(id, sizeof(id)) < 0) {
		say(LOG_ERR, "domain=%s no random bytes for a report id",
		    domain);
		report_set_free(&set);
		return OUT_FAILED;
	}
	skipped_before = to.skipped;
	memset(&m, 0, sizeof(m));
	m.org_name = r->org_name;
	m.email = r->cfg->reports_email;
	m.receiver = r->submitter;
	m.report_id = id;
	m.generator = "authmilter " PACKAGE_VERSION;
	dynbuf_init(&xml, REPORT_XML_MAX);
	dynbuf_init(&gz, REPORT_XML_MAX);
	dynbuf_init(&msg, MESSAGE_MAX);
	if (report_xml(set, &m, &xml, err, sizeof(err)) < 0 ||
	    report_gzip(xml.s, xml.len, &gz, err, sizeof(err)) < 0 ||
	    report_filename(set, &m, 1, name, sizeof(name), err,
			    sizeof(err)) < 0 ||
	    report_message(set, &m, &to, gz.s, gz.len, r->now, &msg, err,
			   sizeof(err)) < 0) {
		say(LOG_ERR, "domain=%s report not made: %s", domain, err);
		goto done;
	}
	/* RFC 7489 6.2 "!size": the message must fit; dropping an address
	 * only shortens its To:, so the message made again fits the rest */
	if (fit(domain, &to, msg.len) == 0) {
		snprintf(err, sizeof(err),
			 "the report message of %zu bytes is over the limit of "
			 "every rua= destination",
			 msg.len);
		out = skipped(r, domain, err);
		goto done;
	}
	if (to.skipped > skipped_before) {
		dynbuf_free(&msg);
		dynbuf_init(&msg, MESSAGE_MAX);
		if (report_message(set, &m, &to, gz.s, gz.len, r->now, &msg, err,
				   sizeof(err)) < 0) {
			say(LOG_ERR, "domain=%s report not made: %s", domain,
			    err);
			goto done;
		}
	}
	addr_list(&to, addrs, sizeof(addrs));
	if (r->dry_run) {
		char eml[sizeof(name)];
		size_t nl = strlen(name) - strlen(".xml.gz");

		snprintf(eml, sizeof(eml), "%.*s.eml", (int)nl, name);
		if (write_file(r->dir, name, gz.s, gz.len, err, sizeof(err)) <
			0 ||
		    write_file(r->dir, eml, msg.s, msg.len, err, sizeof(err)) <
			0) {
			say(LOG_ERR, "domain=%s %s", domain, err);
			r->write_failed = 1;
			goto done;
		}
		printf("%s: %zu rows, %llu messages, %zu bytes gz -> %s\n",
		       domain, report_set_rows(set),
		       (unsigned long long)report_set_messages(set), gz.len,
		       addrs);
		say(LOG_INFO,
		    "domain=%s report_id=%s rows=%zu messages=%llu gz_bytes=%zu "
		    "file=%s/%s dry-run",
		    domain, id, report_set_rows(set),
		    (unsigned long long)report_set_messages(set), gz.len,
		    r->dir, name);
		out = OUT_SENT;
		goto done;
	}
	if (r->cfg->reports_relay != NULL && r->cfg->reports_relay[0] != '\0')
		rc = send_smtp(r->cfg->reports_relay, r->submitter,
			       r->cfg->reports_email, &to, msg.s, msg.len,
			       r->timeout_ms, err, sizeof(err));
	else
		rc = send_sendmail(r->cfg->reports_sendmail, r->cfg->reports_email,
				   msg.s, msg.len, r->timeout_ms, err,
				   sizeof(err));
	if (rc < 0) {
		say(LOG_ERR, "domain=%s report_id=%s to=\"%s\" not sent: %s",
		    domain, id, addrs, err);
		goto done;
	}
	if (report_store_mark_sent(r->st, domain, r->begin, r->end, id,
				   r->now, err, sizeof(err)) < 0) {
		/* it went out: a second run would send it again */
		say(LOG_ERR,
		    "domain=%s report_id=%s sent but not marked sent: %s",
		    domain, id, err);
		goto done;
	}
	say(LOG_INFO,
	    "domain=%s report_id=%s rows=%zu messages=%llu gz_bytes=%zu "
	    "message_bytes=%zu to=\"%s\" sent",
	    domain, id, report_set_rows(set),
	    (unsigned long long)report_set_messages(set), gz.len, msg.len,
	    addrs);
	if (verbose)
		printf("%s: %zu rows, %llu messages, %zu bytes gz -> %s\n",
		       domain, report_set_rows(set),
		       (unsigned long long)report_set_messages(set), gz.len,
		       addrs);
	out = OUT_SENT;
done:
	dynbuf_free(&xml);
	dynbuf_free(&gz);
	dynbuf_free(&msg);
	report_set_free(&set);
	return out;
}

/* open_dns - the resolver from the dns settings (as the daemon's, without
 * its cache: each name is asked about once or twice a run) and the DMARC
 * checker for organizational domains. The exit status on failure, or
 * EX_OK. */
static int
open_dns(const struct settings *cfg, struct dest_dns *dd)
{
	struct dns_unbound_opts o;
	struct psl *psl = NULL;
	char err[512];

	session_dns_opts(cfg, &o);
	dd->dns = dns_unbound_new(&o, err, sizeof(err));
	if (dd->dns == NULL) {
		say(LOG_ERR, "the resolver does not start: %s", err);
		return EX_UNAVAILABLE;
	}
	dd->discovery = cfg->dmarc_discovery == DISCOVERY_PSL
			    ? DMARC_DISCOVERY_PSL
			    : DMARC_DISCOVERY_TREEWALK;
	if (dd->discovery == DMARC_DISCOVERY_PSL &&
	    (psl = psl_load(cfg->dmarc_psl_file, err, sizeof(err))) == NULL) {
		say(LOG_ERR, "%s", err);
		dns_resolver_free(&dd->dns);
		return EX_CONFIG;
	}
	dd->dmarc = dmarc_checker_new(dd->dns, psl, err, sizeof(err));
	psl_unref(&psl);
	if (dd->dmarc == NULL) {
		say(LOG_ERR, "%s", err);
		dns_resolver_free(&dd->dns);
		return EX_UNAVAILABLE;
	}
	dmarc_checker_set_discovery(dd->dmarc, dd->discovery);
	return EX_OK;
}

/* prune - delete what reports.keep_days no longer keeps */
static int
prune(const struct settings *cfg, struct report_store *st, time_t now)
{
	char err[512], day[16];
	uint64_t deleted = 0;
	time_t before;

	if (cfg->reports_keep_days == 0) {
		say(LOG_INFO, "prune: reports.keep_days is 0: rows are kept "
			      "forever");
		return EX_OK;
	}
	before = now - (time_t)cfg->reports_keep_days * 86400;
	if (report_store_prune(st, before, &deleted, err, sizeof(err)) < 0) {
		say(LOG_ERR, "prune: store error: %s", err);
		return EX_TEMPFAIL;
	}
	say(LOG_INFO, "prune: %llu rows of days before %s deleted",
	    (unsigned long long)deleted, day_text(before, day, sizeof(day)));
	return EX_OK;
}

/* the command line */
struct opts {
	const char *config, *from, *to, *domain, *dir;
	int dry_run, prune;
};

/* parse_opts - argv into *o; EX_OK, or the exit status (-1: exit 0 after
 * -h or -V) */
static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"from", required_argument, NULL, 'F'},
	    {"to", required_argument, NULL, 'T'},
	    {"domain", required_argument, NULL, 'D'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"dir", required_argument, NULL, 'd'},
	    {"prune", no_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "c:vVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'F':
			o->from = optarg;
			break;
		case 'T':
			o->to = optarg;
			break;
		case 'D':
			o->domain = optarg;
			break;
		case 'n':
			o->dry_run = 1;
			break;
		case 'd':
			o->dir = optarg;
			break;
		case 'P':
			o->prune = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'V':
			printf("authmilter-report %s\n", PACKAGE_VERSION);
			return -1;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, PROG ": unexpected argument %s\n", argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}
	if (o->dry_run != (o->dir != NULL)) {
		fprintf(stderr, PROG ": --dry-run and --dir go together\n");
		return EX_USAGE;
	}
	if (o->prune && (o->dry_run || o->from || o->to || o->domain)) {
		fprintf(stderr, PROG ": --prune takes no other option but -c "
				"and -v\n");
		return EX_USAGE;
	}
	return EX_OK;
}

/* period - the run's begin and end from --from and --to (UTC days, both
 * included; default yesterday); EX_OK or EX_USAGE */
static int
period(const struct opts *o, time_t now, time_t *begin, time_t *end)
{
	time_t today = now - now % 86400, from, to;

	from = to = today - 86400;
	if (o->from != NULL && parse_day(o->from, &from) < 0) {
		fprintf(stderr, PROG ": --from %s is not a day YYYY-MM-DD\n",
			o->from);
		return EX_USAGE;
	}
	to = o->from != NULL ? from : to;
	if (o->to != NULL && parse_day(o->to, &to) < 0) {
		fprintf(stderr, PROG ": --to %s is not a day YYYY-MM-DD\n",
			o->to);
		return EX_USAGE;
	}
	if (o->to != NULL && o->from == NULL)
		from = to;
	if (to < from) {
		fprintf(stderr, PROG ": --to is before --from\n");
		return EX_USAGE;
	}
	*begin = from;
	*end = to + 86399;
	return EX_OK;
}

int
main(int argc, char **argv)
{
	char err[512], dom[DNAME_BUFSIZE], d1[16], d2[16];
	struct domain_list dl = {0};
	struct settings *cfg;
	struct opts o;
	struct run r;
	size_t sent = 0, skip = 0, failed = 0;
	int rc;

	rc = parse_opts(argc, argv, &o);
	if (rc != EX_OK)
		return rc < 0 ? EX_OK : rc;
	memset(&r, 0, sizeof(r));
	r.now = time(NULL);
	if ((rc = period(&o, r.now, &r.begin, &r.end)) != EX_OK)
		return rc;
	if (o.domain != NULL && dname_norm(o.domain, dom, sizeof(dom)) < 0) {
		fprintf(stderr, PROG ": --domain %s is not a domain name\n",
			o.domain);
		return EX_USAGE;
	}
	if (o.dry_run) {
		struct stat sb;

		if (stat(o.dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			fprintf(stderr, PROG ": --dir %s is not a directory\n",
				o.dir);
			return EX_USAGE;
		}
	}
	cfg = settings_load(o.config ? o.config : DEFAULT_CONFIG, err,
			    sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, PROG ": %s\n", err);
		return EX_CONFIG;
	}
	log_open(PROG, cfg->log_facility, 0);
	log_set_level(verbose ? LOG_DEBUG : cfg->log_level);
	/* a sendmail that exits early must not kill us on a write */
	signal(SIGPIPE, SIG_IGN);
	/* the timer runs on hosts that never switched reports on */
	if (!cfg->reports_enable) {
		say(LOG_INFO, "reports.enable is false in %s: nothing to do",
		    cfg->path ? cfg->path : DEFAULT_CONFIG);
		settings_unref(&cfg);
		return EX_OK;
	}
	if (!o.prune && (cfg->reports_email == NULL ||
			 cfg->reports_email[0] == '\0')) {
		say(LOG_ERR, "%s: reports.email is not set: it is the From "
			     "of every report and the contact in it",
		    cfg->path ? cfg->path : DEFAULT_CONFIG);
		settings_unref(&cfg);
		return EX_CONFIG;
	}
	r.cfg = cfg;
	r.dry_run = o.dry_run;
	r.dir = o.dir;
	r.org_name = cfg->reports_org_name ? cfg->reports_org_name
					   : cfg->authserv_id;
	if (!o.prune) {
		const char *sub = cfg->reports_submitter;

		if (sub == NULL || sub[0] == '\0') {
			const char *at = strrchr(cfg->reports_email, '@');

			sub = at ? at + 1 : "";
		}
		if (dname_norm(sub, r.submitter, sizeof(r.submitter)) < 0 ||
		    r.submitter[0] == '\0') {
			say(LOG_ERR, "reports.submitter (or the domain of "
				     "reports.email) is not a domain name");
			settings_unref(&cfg);
			return EX_CONFIG;
		}
	}
	r.st = report_store_open(cfg->reports_store, err, sizeof(err));
	if (r.st == NULL) {
		say(LOG_ERR, "the store %s does not open: %s",
		    cfg->reports_store, err);
		settings_unref(&cfg);
		return EX_UNAVAILABLE;
	}
	if (o.prune) {
		rc = prune(cfg, r.st, r.now);
		report_store_close(&r.st);
		settings_unref(&cfg);
		return rc;
	}
	if ((rc = open_dns(cfg, &r.dd)) != EX_OK) {
		report_store_close(&r.st);
		settings_unref(&cfg);
		return rc;
	}
	say(LOG_INFO, "period %s .. %s (%lld .. %lld)%s%s%s",
	    day_text(r.begin, d1, sizeof(d1)), day_text(r.end, d2, sizeof(d2)),
	    (long long)r.begin, (long long)r.end,
	    o.domain ? " domain=" : "", o.domain ? dom : "",
	    o.dry_run ? " dry-run" : "");
	if (report_store_domains(r.st, r.begin, r.end, o.domain ? dom : NULL,
				 add_domain, &dl, err, sizeof(err)) < 0) {
		say(LOG_ERR, "store error listing the domains: %s", err);
		rc = EX_TEMPFAIL;
	} else {
		for (size_t i = 0; i < dl.n; i++) {
			switch (one_domain(&r, dl.v[i])) {
			case OUT_SENT:
				sent++;
				break;
			case OUT_SKIPPED:
				skip++;
				break;
			case OUT_FAILED:
				failed++;
				break;
			}
		}
		say(failed ? LOG_WARNING : LOG_INFO,
		    "done: domains=%zu %s=%zu skipped=%zu failed=%zu", dl.n,
		    o.dry_run ? "written" : "sent", sent, skip, failed);
		rc = r.write_failed ? EX_CANTCREAT
		     : failed	    ? EX_TEMPFAIL
				    : EX_OK;
	}
	for (size_t i = 0; i < dl.n; i++)
		free(dl.v[i]);
	free(dl.v);
	dmarc_checker_free(&r.dd.dmarc);
	dns_resolver_free(&r.dd.dns);
	report_store_close(&r.st);
	settings_unref(&cfg);
	return rc;
}
