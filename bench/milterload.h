/*
 * milterload.h - what milterload.c and milterload-opts.c share: the
 * command line, the milter socket specs, and the latency histogram.
 *
 * parse_opts() prints its own message and returns -1 on a usage error.
 */
#ifndef ML_MILTERLOAD_H
#define ML_MILTERLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define MAX_SPECS	16
#define MAX_CONC	4096
#define MAX_TOTAL	100000000ULL

struct spec {
	char *text;
	int family;
	struct sockaddr_storage sa;
	socklen_t salen;
};

struct opts {
	struct spec specs[MAX_SPECS];
	size_t nspecs;
	unsigned long conc, per_conn, timeout_s;
	unsigned long long total;	/* 0: the corpus size */
	const char *corpus, *out;
	int quiet, nodelay, detail;
	int group;			/* --group: MSGS_PER_CONN messages of one
					 * session key per connection */
	unsigned long bufsize;		/* 0: Postfix's choice */
};

/* parse_opts - the command line into *o (specs resolved); 0, or -1 after
 * printing why */
int parse_opts(int argc, char **argv, struct opts *o);

/* latency histogram in nanoseconds: exact below 2048, then 1024 buckets
 * per power of two (0.1% resolution) */
#define H_SUB		1024
#define H_BUCKETS	(2 * H_SUB + 53 * H_SUB)

/* hist_bucket - the bucket of a latency */
size_t hist_bucket(uint64_t ns);
/* now_ns - CLOCK_MONOTONIC in nanoseconds */
uint64_t now_ns(void);
/* percentiles - p50 and p99 (ns) of n latencies counted in hist */
void percentiles(const unsigned long long *hist, unsigned long long n,
    double *p50, double *p99);

#endif
