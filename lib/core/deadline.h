/*
 * deadline.h - points in time on CLOCK_MONOTONIC that work must finish by
 * (a message's DNS budget, a lookup's timeout).
 */
#ifndef AM_DEADLINE_H
#define AM_DEADLINE_H

#include <time.h>

/* DNS_TIMEOUT_DEFAULT_MS - how long one DNS lookup may take when nothing
 * says otherwise: dns.timeout_ms's default and every resolver's. A plain
 * decimal literal, so STRINGIFY() makes it the settings table's default */
#define DNS_TIMEOUT_DEFAULT_MS 5000

/* deadline_in - now + ms into *t; returns t */
struct timespec *deadline_in(struct timespec *t, unsigned ms);
/* deadline_left_ms - what is left of the deadline in milliseconds, 0 when
 * it has passed, at most an hour */
unsigned deadline_left_ms(const struct timespec *deadline);

#endif
