#!/bin/sh
# dmarc-suite.sh - flatten the DMARC conformance data of t/data/dmarc with
# t/dmarc-suite.py (opendmarc tables, Mail::DMARC cases and mock zone,
# authheaders cases, the PSL test list), then run it through t/dmarc-suite
# against the deliberate differences in t/data/dmarc-known-differences.txt.
# Missing data or python3 is a failure, never a skip.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
data=${TESTDATA:-$top_srcdir/t/data}

command -v python3 >/dev/null 2>&1 || { echo "dmarc-suite: FAIL: no python3"; exit 1; }
for d in opendmarc mail-dmarc authheaders publicsuffix; do
	[ -d "$data/dmarc/$d" ] || { echo "dmarc-suite: FAIL: no $data/dmarc/$d"; exit 1; }
done

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
python3 "$top_srcdir/t/dmarc-suite.py" "$data" >"$tmp/dmarc.txt" || exit 1
"$top_builddir/t/dmarc-suite" "$tmp/dmarc.txt" \
    "$top_srcdir/t/data/dmarc-known-differences.txt"
