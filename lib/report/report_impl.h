/*
 * report_impl.h - what the files of lib/report share and nothing else
 * uses.
 */
#ifndef AM_REPORT_IMPL_H
#define AM_REPORT_IMPL_H

#include "report.h"

/* report_seterr - a printf-style message into err (errlen bytes,
 * terminated), when err is given */
void report_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* report_xml_text - s as XML character data (report.h's escaping rules);
 * a domain is written lowercase and without a final dot */
void report_xml_text(struct dynbuf *b, const char *s, int domain);
/* report_meta_check - the fields report_xml() and report_message() need,
 * and a report id of letters and digits */
int report_meta_check(const struct report_meta *m, char *err, size_t errlen);
/* report_addr_ok - local@domain that we write into a To: or From: field
 * as it is: a dot-atom local part (RFC 5322 3.2.3) and a host name */
int report_addr_ok(const char *addr);

#endif
