#!/bin/sh
# dkim-suite.sh - run the DKIM corpora of t/data/dkim through t/dkim-suite:
# on the table resolver and, as root, also through sessions on libunbound
# forwarding to t/dnsd.py, which serves each message's records
# (t/suite-unbound.sh). Missing data or a missing tool (python3-dnslib,
# unshare) is a failure, never a skip.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
data=${TESTDATA:-$top_srcdir/t/data}/dkim
known=$top_srcdir/t/data/dkim-known-differences.txt

. "$top_srcdir/t/suite-unbound.sh"
suite_unbound_enter dkim-suite "$0" "$@"
[ -f "$data/mail-dkim/expectations.tsv" ] || { echo "dkim-suite: FAIL: no $data/mail-dkim/expectations.tsv"; exit 1; }
[ "$SUITE_UNBOUND" = 1 ] || exec "$top_builddir/t/dkim-suite" "$data" "$known"

tmp=$(mktemp -d) || exit 1
trap '[ -n "${KEEP_TMP:-}" ] && cp -r "$tmp" "$KEEP_TMP"; rm -rf "$tmp"' EXIT
"$top_builddir/t/dkim-suite" --zones "$tmp/zones.txt" "$data" "$known" || exit 1
dnsd_start "$tmp" "$tmp/zones.txt" || exit 1
"$top_builddir/t/dkim-suite" --forward "$DNSD_FWD" "$data" "$known"
