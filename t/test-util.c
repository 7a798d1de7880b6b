/*
 * test-util.c - arena, dynbuf and string helpers.
 */
#include "config.h"

#include <string.h>

#include "tap.h"
#include "util.h"

static void
test_arena(void)
{
	struct arena *a = arena_new();
	char *p, *big;

	p = arena_strdup(a, "hello");
	is_str(p, "hello", "arena_strdup");
	big = arena_alloc(a, 100000);
	ok(big[99999] == 0, "large allocation is zeroed");
	is_str(arena_printf(a, "%s-%d", "x", 42), "x-42", "arena_printf");
	is_str(arena_strndup(a, "abcdef", 3), "abc", "arena_strndup");
	ok(arena_bytes(a) >= 100000, "arena_bytes counts");
	{
		int *v = NULL, *first;
		size_t n = 0, cap = 0, grew = 0;
		int in_order = 1;

		for (int i = 0; i < 100; i++) {
			int *before = v;

			v = arena_grow(a, v, n, &cap, sizeof(*v), 4);
			grew += v != before;
			v[n++] = i;
		}
		first = v;
		for (int i = 0; i < 100; i++)
			in_order &= v[i] == i;
		ok(in_order, "arena_grow: 100 elements kept in order");
		is_int(cap, 128, "arena_grow: room doubled from 4 to 128");
		is_int(grew, 6, "arena_grow: six moves (4, 8, ..., 128)");
		v = arena_grow(a, v, 99, &cap, sizeof(*v), 4);
		ok(v == first && cap == 128, "arena_grow: room left, same array");
	}
	arena_free(&a);
	ok(a == NULL, "arena_free sets NULL");
	arena_free(&a); /* twice is harmless */
}

static void
test_dynbuf(void)
{
	struct dynbuf b;
	char *s;

	dynbuf_init(&b, 10);
	is_int(dynbuf_puts(&b, "12345"), 0, "append within limit");
	is_int(dynbuf_printf(&b, "%d", 6789), 0, "printf within limit");
	is_int(dynbuf_puts(&b, "xy"), -1, "append past limit fails");
	ok(b.overflow, "overflow is sticky");
	is_int(dynbuf_puts(&b, ""), -1, "even empty appends fail after overflow");
	s = dynbuf_take(&b);
	is_str(s, "123456789", "contents kept up to the limit");
	free(s);
	dynbuf_free(&b);
}

static void
test_strings(void)
{
	static const struct {
		const char *in;
		unsigned long max;
		int rc;
		unsigned long want;
	} cases[] = {
		{"0", 10, 0, 0},
		{"42", 100, 0, 42},
		{"101", 100, -1, 0},
		{"", 100, -1, 0},
		{"1a", 100, -1, 0},
		{"-1", 100, -1, 0},
		{"18446744073709551616", (unsigned long)-1, -1, 0},
	};
	char buf[4];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned long v = 0;
		int rc = str_parse_uint(cases[i].in, cases[i].max, &v);

		is_int(rc, cases[i].rc, "str_parse_uint(\"%s\")", cases[i].in);
		if (rc == 0)
			is_int(v, cases[i].want, "str_parse_uint(\"%s\") value", cases[i].in);
	}
	is_int(str_copy(buf, "abcdef", sizeof(buf)), 6, "str_copy returns source length");
	is_str(buf, "abc", "str_copy truncates and terminates");
	{
		char s[] = "MiXeD.Example";
		is_str(str_lower(s), "mixed.example", "str_lower");
	}
#define TEST_UTIL_VALUE 5000
	is_str(STRINGIFY(TEST_UTIL_VALUE), "5000", "STRINGIFY: a macro's value");
	is_str(STRINGIFY(x), "x", "STRINGIFY: a word");
#undef TEST_UTIL_VALUE
}

int
main(void)
{
	test_arena();
	test_dynbuf();
	test_strings();
	/* FNV-1a reference values */
	is_int(mem_hash("", 0), 0x811c9dc5u, "mem_hash empty");
	is_int(mem_hash("a", 1), 0xe40c292cu, "mem_hash a");
	is_int(mem_hash("foobar", 6), 0xbf9cf968u, "mem_hash foobar");
	return test_done("util");
}
