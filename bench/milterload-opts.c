/*
 * milterload-opts.c - milterload's command line (socket specs resolved
 * once, numbers bounded) and its latency histogram.
 *
 * Usage errors are printed here; the caller exits 2.
 */
#include "config.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include <sys/un.h>
#include <time.h>

#include "milterload.h"
#include "util.h"

/* parse_spec - inet:PORT@HOST, inet:HOST:PORT, inet6:PORT@[ADDR],
 * unix:/path or local:/path; 0 or -1 with why set */
static int
parse_spec(const char *text, struct spec *sp, char *why, size_t whylen)
{
	char host[256], portstr[16];
	const char *rest, *at;
	struct addrinfo hints, *ai = NULL;
	unsigned long port;
	int gai;

	memset(sp, 0, sizeof(*sp));
	if (strncmp(text, "unix:", 5) == 0 || strncmp(text, "local:", 6) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&sp->sa;

		rest = strchr(text, ':') + 1;
		if (*rest == '\0' ||
		    str_copy(sun->sun_path, rest, sizeof(sun->sun_path)) >=
		    sizeof(sun->sun_path)) {
			snprintf(why, whylen, "%.200s: bad socket path", text);
			return -1;
		}
		sun->sun_family = AF_UNIX;
		sp->family = AF_UNIX;
		sp->salen = sizeof(*sun);
		sp->text = xstrdup(text);
		return 0;
	}
	if (strncmp(text, "inet:", 5) == 0) {
		sp->family = AF_INET;
		rest = text + 5;
	} else if (strncmp(text, "inet6:", 6) == 0) {
		sp->family = AF_INET6;
		rest = text + 6;
	} else {
		snprintf(why, whylen, "%.200s: want inet:, inet6: or unix:", text);
		return -1;
	}
	if ((at = strchr(rest, '@')) != NULL) {
		if ((size_t)(at - rest) >= sizeof(portstr))
			goto bad;
		memcpy(portstr, rest, (size_t)(at - rest));
		portstr[at - rest] = '\0';
		str_copy(host, at + 1, sizeof(host));
	} else if ((at = strrchr(rest, ':')) != NULL) {
		if ((size_t)(at - rest) >= sizeof(host))
			goto bad;
		memcpy(host, rest, (size_t)(at - rest));
		host[at - rest] = '\0';
		str_copy(portstr, at + 1, sizeof(portstr));
	} else {
		goto bad;
	}
	if (host[0] == '[') {
		size_t n = strlen(host);

		if (n < 3 || host[n - 1] != ']')
			goto bad;
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	if (host[0] == '\0')
		str_copy(host, sp->family == AF_INET6 ? "::1" : "127.0.0.1",
		    sizeof(host));
	if (str_parse_uint(portstr, 65535, &port) < 0 || port == 0)
		goto bad;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = sp->family;
	hints.ai_socktype = SOCK_STREAM;
	if ((gai = getaddrinfo(host, portstr, &hints, &ai)) != 0) {
		snprintf(why, whylen, "%.200s: %s", text, gai_strerror(gai));
		return -1;
	}
	memcpy(&sp->sa, ai->ai_addr, ai->ai_addrlen);
	sp->salen = ai->ai_addrlen;
	freeaddrinfo(ai);
	sp->text = xstrdup(text);
	return 0;
bad:
	snprintf(why, whylen, "%.200s: want inet:PORT@HOST or inet6:PORT@[ADDR]",
	    text);
	return -1;
}

static void
usage(void)
{
	fputs("usage: milterload -s SPEC[,SPEC...] -i CORPUS.tsv [-c CONC] "
	    "[-m MSGS_PER_CONN]\n"
	    "                  [-n TOTAL] [-o RESULTS.tsv] [-t TIMEOUT_S] [-q] "
	    "[--nodelay]\n"
	    "                  [--bufsize BYTES] [--detail] [--group]\n"
	    "  SPEC: inet:PORT@HOST, inet6:PORT@[::1], unix:/path; several "
	    "form a chain\n"
	    "  --nodelay   set TCP_NODELAY (Postfix does not; default off)\n"
	    "  --bufsize   output buffer size (default: Postfix's, 4096 or "
	    "2*MSS)\n"
	    "  --detail    -o rows also get per-milter verdicts, header edits, "
	    "sequence\n"
	    "              number and error text after the corpus columns\n"
	    "  --group     the corpus in the order of its session keys (client, "
	    "HELO,\n"
	    "              SASL user), each connection taking MSGS_PER_CONN "
	    "consecutive\n"
	    "              messages: sessions really carry -m messages (fewer "
	    "only where\n"
	    "              the key changes)\n",
	    stderr);
}

static int
parse_num(const char *arg, const char *what, unsigned long max,
    unsigned long min, unsigned long *out)
{
	if (str_parse_uint(arg, max, out) < 0 || *out < min) {
		fprintf(stderr, "milterload: %s: want a number %lu..%lu, got "
		    "\"%s\"\n", what, min, max, arg);
		return -1;
	}
	return 0;
}

int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "nodelay", no_argument, NULL, 'D' },
		{ "nagle", no_argument, NULL, 'N' },
		{ "bufsize", required_argument, NULL, 'B' },
		{ "detail", no_argument, NULL, 'T' },
		{ "group", no_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *specs = NULL;
	unsigned long v;
	char why[512];
	int ch;

	memset(o, 0, sizeof(*o));
	o->conc = 1;
	o->per_conn = 1;
	o->timeout_s = 30;
	while ((ch = getopt_long(argc, argv, "s:c:m:n:i:o:t:qh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 's':
			specs = optarg;
			break;
		case 'c':
			if (parse_num(optarg, "-c", MAX_CONC, 1, &o->conc) < 0)
				return -1;
			break;
		case 'm':
			if (parse_num(optarg, "-m", 1000000000UL, 1,
			    &o->per_conn) < 0)
				return -1;
			break;
		case 'n':
			if (parse_num(optarg, "-n", MAX_TOTAL, 1, &v) < 0)
				return -1;
			o->total = v;
			break;
		case 'i':
			o->corpus = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 't':
			if (parse_num(optarg, "-t", 3600, 1, &o->timeout_s) < 0)
				return -1;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'D':
			o->nodelay = 1;
			break;
		case 'N':
			o->nodelay = 0;
			break;
		case 'T':
			o->detail = 1;
			break;
		case 'G':
			o->group = 1;
			break;
		case 'B':
			if (parse_num(optarg, "--bufsize", 64UL * 1024 * 1024,
			    16, &o->bufsize) < 0)
				return -1;
			break;
		default:
			usage();
			return -1;
		}
	}
	if (optind != argc || specs == NULL || o->corpus == NULL) {
		usage();
		return -1;
	}
	while (*specs) {
		const char *comma = strchr(specs, ',');
		size_t n = comma ? (size_t)(comma - specs) : strlen(specs);
		char one[512];

		if (o->nspecs == MAX_SPECS || n == 0 || n >= sizeof(one)) {
			fprintf(stderr, "milterload: -s: at most %d specs, none "
			    "empty\n", MAX_SPECS);
			return -1;
		}
		memcpy(one, specs, n);
		one[n] = '\0';
		if (parse_spec(one, &o->specs[o->nspecs], why, sizeof(why)) <
		    0) {
			fprintf(stderr, "milterload: -s %s\n", why);
			return -1;
		}
		o->nspecs++;
		specs += n + (comma ? 1 : 0);
	}
	if (o->nspecs == 0) {
		usage();
		return -1;
	}
	return 0;
}

/* ---- latency histogram ---------------------------------------------- */

size_t
hist_bucket(uint64_t ns)
{
	int e, shift;

	if (ns < 2 * H_SUB)
		return (size_t)ns;
	e = 63 - __builtin_clzll(ns);
	shift = e - 10;
	return 2 * H_SUB + (size_t)(shift - 1) * H_SUB +
	    (size_t)((ns >> shift) - H_SUB);
}

static double
hist_value(size_t b)
{
	size_t k, shift;
	uint64_t low;

	if (b < 2 * H_SUB)
		return (double)b;
	k = b - 2 * H_SUB;
	shift = k / H_SUB + 1;
	low = (uint64_t)(k % H_SUB + H_SUB) << shift;
	return (double)low + (double)((uint64_t)1 << shift) / 2;
}

void
percentiles(const unsigned long long *hist, unsigned long long n,
    double *p50, double *p99)
{
	unsigned long long want50 = (n + 1) / 2, want99, seen = 0;
	size_t b;

	want99 = n - n / 100;		/* the 99th percentile rank, ceil */
	if (want99 == 0)
		want99 = 1;
	*p50 = *p99 = 0;
	if (n == 0)
		return;
	for (b = 0; b < H_BUCKETS; b++) {
		if (hist[b] == 0)
			continue;
		if (seen < want50 && seen + hist[b] >= want50)
			*p50 = hist_value(b);
		if (seen < want99 && seen + hist[b] >= want99)
			*p99 = hist_value(b);
		seen += hist[b];
	}
}

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
