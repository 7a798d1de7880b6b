/*
 * policy.c - see policy.h.
 */
#include "config.h"

#include "policy.h"

/* keeps the library non-empty until the module lands */
int policy_placeholder;
