/*
 * stats-snap.h - the labelled metrics of the registry as tests see them:
 * a snapshot of some families and what moved since, or one series' value.
 * No TAP calls here (tap.h's tally is each test program's own).
 */
#ifndef T_STATS_SNAP_H
#define T_STATS_SNAP_H

#include <stddef.h>
#include <stdint.h>

#define SNAP_MAX 160

struct stats_metric;

struct snap {
	size_t n;
	const struct stats_metric *m[SNAP_MAX];
	uint64_t v[SNAP_MAX];
};

/* snap_take - the values of every name-less (labelled only) metric of
 * these families (a NULL-terminated list) */
void snap_take(struct snap *sn, const char *const *families);
/* snap_diff - "{labels}+N {labels}+N" of family's series that moved since
 * a (taken with the same families), in the registry's order, into out */
const char *snap_diff(const struct snap *a, const char *family, char *out,
    size_t len);
/* snap_value - the value of family{labels}, or -1 when there is none */
long long snap_value(const char *family, const char *labels);

#endif
