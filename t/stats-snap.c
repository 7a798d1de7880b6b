/*
 * stats-snap.c - see stats-snap.h.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "stats.h"
#include "stats-snap.h"

struct take {
	struct snap *sn;
	const char *const *families;
};

static void
take_one(const struct stats_metric *m, void *arg)
{
	struct take *t = arg;

	if (m->family == NULL || m->name != NULL || t->sn->n >= SNAP_MAX)
		return;
	for (const char *const *f = t->families; *f != NULL; f++)
		if (strcmp(m->family, *f) == 0) {
			t->sn->m[t->sn->n] = m;
			t->sn->v[t->sn->n++] = stats_value(m);
			return;
		}
}

void
snap_take(struct snap *sn, const char *const *families)
{
	struct take t = { sn, families };

	sn->n = 0;
	stats_each(take_one, &t);
}

const char *
snap_diff(const struct snap *a, const char *family, char *out, size_t len)
{
	const char *fams[2] = { family, NULL };
	struct snap b;
	size_t used = 0;

	snap_take(&b, fams);
	out[0] = '\0';
	for (size_t i = 0; i < b.n; i++) {
		uint64_t before = 0;

		for (size_t k = 0; k < a->n; k++)
			if (a->m[k] == b.m[i])
				before = a->v[k];
		if (b.v[i] == before)
			continue;
		used += (size_t)snprintf(out + used, len - used, "%s{%s}+%llu",
		    used ? " " : "", b.m[i]->labels,
		    (unsigned long long)(b.v[i] - before));
		if (used >= len)
			break;
	}
	return out;
}

struct find {
	const char *family, *labels;
	long long v;
};

static void
find_one(const struct stats_metric *m, void *arg)
{
	struct find *f = arg;

	if (m->family != NULL && m->labels != NULL &&
	    strcmp(m->family, f->family) == 0 && strcmp(m->labels, f->labels) == 0)
		f->v = (long long)stats_value(m);
}

long long
snap_value(const char *family, const char *labels)
{
	struct find f = { family, labels, -1 };

	stats_each(find_one, &f);
	return f.v;
}
