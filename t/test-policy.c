/*
 * test-policy.c - placeholder until the module's tests land.
 */
#include "config.h"

#include "tap.h"

int
main(void)
{
	ok(1, "placeholder");
	return test_done("policy");
}
