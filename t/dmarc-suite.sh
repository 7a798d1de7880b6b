#!/bin/sh
# dmarc-suite.sh - flatten the DMARC conformance data of t/data/dmarc with
# t/dmarc-suite.py (opendmarc tables, Mail::DMARC cases and mock zone,
# authheaders cases, the PSL test list, our RFC 9989 tree-walk cases in
# treewalk/), then run it through t/dmarc-suite against the deliberate
# differences in t/data/dmarc-known-differences.txt, each row with the
# discovery it is meant for (RFC 7489 with the PSL, RFC 9989's tree walk):
# on the table resolver and, as root, the rows that look up DNS also on
# libunbound forwarding to t/dnsd.py, which serves each zone of the flat
# file (t/suite-unbound.sh). Missing data or a missing tool (python3,
# python3-dnslib, unshare) is a failure, never a skip.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
data=${TESTDATA:-$top_srcdir/t/data}

. "$top_srcdir/t/suite-unbound.sh"
suite_unbound_enter dmarc-suite "$0" "$@"
for d in opendmarc mail-dmarc authheaders publicsuffix treewalk; do
	[ -d "$data/dmarc/$d" ] || { echo "dmarc-suite: FAIL: no $data/dmarc/$d"; exit 1; }
done

tmp=$(mktemp -d) || exit 1
trap '[ -n "${KEEP_TMP:-}" ] && cp -r "$tmp" "$KEEP_TMP"; rm -rf "$tmp"' EXIT
"$SUITE_PY" "$top_srcdir/t/dmarc-suite.py" "$data" >"$tmp/dmarc.txt" || exit 1
set --
if [ "$SUITE_UNBOUND" = 1 ]; then
	dnsd_start "$tmp" "$tmp/dmarc.txt" || exit 1
	set -- --forward "$DNSD_FWD"
fi
"$top_builddir/t/dmarc-suite" "$@" "$tmp/dmarc.txt" \
    "$top_srcdir/t/data/dmarc-known-differences.txt"
