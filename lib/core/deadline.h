/*
 * deadline.h - points in time on CLOCK_MONOTONIC that work must finish by
 * (a message's DNS budget, a lookup's timeout).
 */
#ifndef AM_DEADLINE_H
#define AM_DEADLINE_H

#include <time.h>

/* deadline_in - now + ms into *t; returns t */
struct timespec *deadline_in(struct timespec *t, unsigned ms);
/* deadline_left_ms - what is left of the deadline in milliseconds, 0 when
 * it has passed, at most an hour */
unsigned deadline_left_ms(const struct timespec *deadline);

#endif
