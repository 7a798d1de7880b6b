#ifdef FUZZ_SMOKE
#define LLVMFuzzerTestOneInput fuzz_authres
#endif
/*
 * fuzz-authres.c - libFuzzer target for lib/authres: parse the input; when
 * it parses, render it and parse the rendering again, which must succeed
 * with the same shape (result count, none, property counts, methods and
 * results). The lenient authserv-id reader must agree with the strict
 * parser on every value the strict parser accepts. Any disagreement
 * aborts.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "util.h"

#define FUZZ_MAX_INPUT 16384    /* renderings stay under AUTHRES_MAX_INPUT */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_same_shape(const struct authres *a, const struct authres *b)
{
	size_t i;

	if (a->nresults != b->nresults || a->none != b->none ||
	    a->version != b->version || strcmp(a->authserv_id, b->authserv_id))
		abort();
	for (i = 0; i < a->nresults; i++) {
		const struct authres_result *x = &a->results[i];
		const struct authres_result *y = &b->results[i];

		if (x->nprops != y->nprops ||
		    strcmp(x->method, y->method) != 0 ||
		    strcmp(x->result, y->result) != 0 ||
		    (x->reason == NULL) != (y->reason == NULL))
			abort();
	}
}

static void
check_lenient_id(const char *value, const struct authres *ar)
{
	char id[256], *want;
	size_t i;

	if (ar->authserv_id[0] == '\0' || strlen(ar->authserv_id) >= sizeof(id))
		return;
	if (authres_authserv_id(value, id, sizeof(id)) != 0)
		abort();
	want = xstrdup(ar->authserv_id);
	for (i = 0; want[i] != '\0'; i++)
		want[i] = (char)tolower((unsigned char)want[i]);
	if (strcmp(id, want) != 0)
		abort();
	free(want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct authres *ar, *again;
	char err[128], id[64], *s, *v, *lf;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	s = xmalloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';

	(void)authres_authserv_id(s, id, sizeof(id));
	ar = authres_parse(s, err, sizeof(err));
	if (ar != NULL) {
		check_lenient_id(s, ar);
		v = authres_render(ar);
		lf = authres_render_lf(ar);
		again = authres_parse(v, err, sizeof(err));
		if (again == NULL)
			abort();
		check_same_shape(ar, again);
		authres_free(&again);
		again = authres_parse(lf, err, sizeof(err));
		if (again == NULL)
			abort();
		check_same_shape(ar, again);
		authres_free(&again);
		free(v);
		free(lf);
		authres_free(&ar);
	}
	free(s);
	return 0;
}
