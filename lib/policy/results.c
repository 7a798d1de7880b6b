/*
 * results.c - the list of method results (see results.h).
 */
#include "config.h"

#include <string.h>

#include "results.h"
#include "util.h"

void
results_init(struct results *rs, struct arena *a)
{
	memset(rs, 0, sizeof(*rs));
	rs->arena = a;
}

/* dup - a copy in the list's arena; NULL stays NULL */
static const char *
dup(struct results *rs, const char *s)
{
	return s != NULL ? arena_strdup(rs->arena, s) : NULL;
}

struct result *
results_add(struct results *rs, const char *method, const char *result,
    const char *reason)
{
	struct result *r;

	rs->v = arena_grow(rs->arena, rs->v, rs->n, &rs->cap, sizeof(*rs->v), 8);
	r = &rs->v[rs->n++];
	memset(r, 0, sizeof(*r));
	r->method = dup(rs, method);
	r->result = dup(rs, result);
	r->reason = dup(rs, reason);
	return r;
}

int
results_prop(struct results *rs, struct result *r, const char *ptype,
    const char *property, const char *value, const char *comment)
{
	struct results_prop *p;

	if (r->nprops == RESULTS_MAX_PROPS)
		return -1;
	p = &r->props[r->nprops++];
	p->ptype = dup(rs, ptype);
	p->property = dup(rs, property);
	p->value = dup(rs, value);
	p->comment = dup(rs, comment);
	return 0;
}

const char *
results_prop_value(const struct result *r, const char *ptype,
    const char *property)
{
	for (size_t i = 0; i < r->nprops; i++)
		if (strcmp(r->props[i].ptype, ptype) == 0 &&
		    strcmp(r->props[i].property, property) == 0)
			return r->props[i].value;
	return NULL;
}

const struct result *
results_next(const struct results *rs, const struct result *after,
    const char *method)
{
	size_t i = after != NULL ? (size_t)(after - rs->v) + 1 : 0;

	for (; i < rs->n; i++)
		if (strcmp(rs->v[i].method, method) == 0)
			return &rs->v[i];
	return NULL;
}

size_t
results_count(const struct results *rs, const char *method)
{
	size_t n = 0;

	for (const struct result *r = results_next(rs, NULL, method); r != NULL;
	    r = results_next(rs, r, method))
		n++;
	return n;
}
