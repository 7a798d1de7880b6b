#!/bin/sh
# dkim-suite.sh - run the DKIM corpora of t/data/dkim through t/dkim-suite.
# Missing data is a failure, never a skip.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
data=${TESTDATA:-$top_srcdir/t/data}/dkim

[ -f "$data/mail-dkim/expectations.tsv" ] || { echo "dkim-suite: FAIL: no $data/mail-dkim/expectations.tsv"; exit 1; }
exec "$top_builddir/t/dkim-suite" "$data" "$top_srcdir/t/data/dkim-known-differences.txt"
