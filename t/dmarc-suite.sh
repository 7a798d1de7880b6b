#!/bin/sh
# dmarc-suite.sh - flatten the DMARC conformance data with t/dmarc-suite.py
# (opendmarc tables, Mail::DMARC cases and mock zone, authheaders cases,
# the PSL test list), then run it through t/dmarc-suite against the
# deliberate differences in t/data/dmarc-known-differences.txt.
# Skips (77) when the data or python3 is missing.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
SHARED=${SHARED:-$top_srcdir/../shared}
data=$SHARED/testdata

command -v python3 >/dev/null 2>&1 || { echo "dmarc-suite: skipped: no python3"; exit 77; }
[ -d "$data/dmarc" ] || { echo "dmarc-suite: skipped: no $data/dmarc"; exit 77; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
python3 "$top_srcdir/t/dmarc-suite.py" "$data" >"$tmp/dmarc.txt" || exit 1
"$top_builddir/t/dmarc-suite" "$tmp/dmarc.txt" \
    "$top_srcdir/t/data/dmarc-known-differences.txt"
