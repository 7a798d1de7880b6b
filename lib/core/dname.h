/*
 * dname.h - domain names as text, one set of rules for every method.
 *
 * A name is dotted text; a final dot (the root) is allowed on input and
 * never part of a normalised name. DNAME_MAX is the one length bound: 253
 * octets of text without the final dot, which is 255 octets on the wire
 * (RFC 1035 2.3.4, 3.1). Labels are 1 to 63 octets. Comparisons ignore
 * ASCII case and a final dot. Nothing here allocates.
 */
#ifndef AM_DNAME_H
#define AM_DNAME_H

#include <stddef.h>

#define DNAME_MAX 253        /* text without the final dot */
#define DNAME_LABEL_MAX 63
#define DNAME_BUFSIZE (DNAME_MAX + 2) /* a name, its final dot and the NUL */

/* dname_len - the length of name without one final dot */
size_t dname_len(const char *name);
/* dname_valid - labels of 1 to 63 octets, at most DNAME_MAX octets, a
 * final dot allowed; any octet but '.' may be in a label (the DNS is
 * 8-bit clean). "" and "." are the root, which is valid (a name that can
 * be asked); a mail domain wants dname_host_valid(). */
int dname_valid(const char *name);
/* dname_host_valid - dname_valid and not the root, and every octet
 * printable ASCII other than space; at least two labels when multi is set
 * (RFC 7208 4.3) */
int dname_host_valid(const char *name, int multi);
/* dname_norm - name lowercased, without the final dot, into out; 0, or -1
 * when the name is not dname_valid() or does not fit (out is then "") */
int dname_norm(const char *name, char *out, size_t outlen);
/* dname_equal - the same name, ignoring case and a final dot */
int dname_equal(const char *a, const char *b);
/* dname_under - name equals dom or is below it (a label boundary),
 * ignoring case and final dots; dom "" or "." (the root) holds every name */
int dname_under(const char *name, const char *dom);
/* dname_labels - the number of labels (0 for "" and ".") */
unsigned dname_labels(const char *name);
/* dname_parent - the name one label up, pointing into name ("" past the
 * top-level label) */
const char *dname_parent(const char *name);

#endif
