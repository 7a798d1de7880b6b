/*
 * report-fill.c - fill a report store (store.h) for t/report-cli.sh, with
 * report_store_put() as the daemon's writer does.
 *
 * usage: report-fill STORE_URI [FILE]
 * FILE (default standard input) holds one line per stored record:
 *
 *   YYYY-MM-DDTHH:MM:SS POLICY_DOMAIN SOURCE_IP FROM_DOMAIN DISPOSITION COUNT
 *
 * DISPOSITION is pass, none, quarantine or reject; a pass has DKIM
 * (d=FROM_DOMAIN s=sel) and SPF (MAIL FROM FROM_DOMAIN) passing and
 * aligned, anything else has both failing. The policy is p=reject.
 * Blank lines and lines starting with '#' are skipped. Prints
 * "report-fill: N records, M messages"; exit 0, or 1 on a bad line or a
 * store error.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"
#include "store.h"

/* disposition - the word as enum report_disposition; -1 when unknown */
static int
disposition(const char *w)
{
	static const char *const names[] = {"none", "pass", "quarantine",
					    "reject"};

	for (int i = 0; i < 4; i++)
		if (strcmp(w, names[i]) == 0)
			return i;
	return -1;
}

int
main(int argc, char **argv)
{
	char line[1024], err[512];
	struct report_store *st;
	FILE *in = stdin;
	unsigned long nrec = 0, lineno = 0;
	uint64_t msgs = 0;
	int rc = 0;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: report-fill STORE_URI [FILE]\n");
		return 1;
	}
	if (argc == 3 && (in = fopen(argv[2], "r")) == NULL) {
		perror(argv[2]);
		return 1;
	}
	st = report_store_open(argv[1], err, sizeof(err));
	if (st == NULL) {
		fprintf(stderr, "report-fill: %s: %s\n", argv[1], err);
		return 1;
	}
	while (fgets(line, sizeof(line), in) != NULL) {
		char when[32], dom[256], ip[64], from[256], disp[16];
		unsigned long long count;
		struct tm tm;
		struct report_record r;
		struct report_dkim dk;
		struct report_spf sp;
		struct report_store_item item;
		int d, pass;

		lineno++;
		if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
			continue;
		memset(&tm, 0, sizeof(tm));
		if (sscanf(line, "%31s %255s %63s %255s %15s %llu", when, dom, ip,
			   from, disp, &count) != 6 ||
		    sscanf(when, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon,
			   &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
			   &tm.tm_sec) != 6 ||
		    (d = disposition(disp)) < 0) {
			fprintf(stderr, "report-fill: line %lu: not "
					"TIME DOMAIN IP FROM DISPOSITION COUNT\n",
				lineno);
			rc = 1;
			break;
		}
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		pass = d == REPORT_DISP_PASS;
		memset(&r, 0, sizeof(r));
		r.when = timegm(&tm);
		r.source_ip = ip;
		r.header_from = from;
		r.envelope_from = from;
		r.policy.domain = dom;
		r.policy.discovery = DMARC_DISCOVERY_TREEWALK;
		r.policy.p = DMARC_POLICY_REJECT;
		r.policy.pct = 100;
		r.disposition = (enum report_disposition)d;
		r.dkim_aligned = r.spf_aligned = pass;
		dk.domain = from;
		dk.selector = "sel";
		dk.result = pass ? REPORT_DKIM_PASS : REPORT_DKIM_FAIL;
		dk.human = NULL;
		r.dkim = &dk;
		r.ndkim = 1;
		sp.domain = from;
		sp.scope = REPORT_SPF_MFROM;
		sp.result = pass ? REPORT_SPF_PASS : REPORT_SPF_FAIL;
		sp.human = NULL;
		r.spf = &sp;
		r.nspf = 1;
		item.rec = &r;
		item.count = count;
		if (report_store_put(st, &item, 1, err, sizeof(err)) < 0) {
			fprintf(stderr, "report-fill: line %lu: %s\n", lineno,
				err);
			rc = 1;
			break;
		}
		nrec++;
		msgs += count;
	}
	report_store_close(&st);
	if (in != stdin)
		fclose(in);
	printf("report-fill: %lu records, %" PRIu64 " messages\n", nrec, msgs);
	return rc;
}
