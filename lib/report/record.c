/* record.c - see store.h (issue 14: being written) */
#include "config.h"
#include "store.h"
