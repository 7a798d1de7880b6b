#!/bin/sh
# authres-suite.sh - run t/authres-suite.py over the A-R test data in
# t/data/authres. Missing data or python3 is a failure, never a skip.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
data=${TESTDATA:-$top_srcdir/t/data}

command -v python3 >/dev/null 2>&1 || { echo "authres-suite: FAIL: no python3"; exit 1; }
[ -d "$data/authres" ] || { echo "authres-suite: FAIL: no $data/authres"; exit 1; }
exec python3 "$top_srcdir/t/authres-suite.py" "$top_builddir/t/authres-tool" "$data"
