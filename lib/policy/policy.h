/*
 * policy.h - results and settings to an action; no DNS, no I/O.
 * (Being written: issue 11, results as a list.)
 */
#ifndef AM_POLICY_H
#define AM_POLICY_H

#endif
