/* store_impl.h - the store backends (see store.h) */
#ifndef AM_REPORT_STORE_IMPL_H
#define AM_REPORT_STORE_IMPL_H
#include "store.h"
#endif
