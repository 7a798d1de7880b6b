#!/bin/sh
# dkim-suite.sh - run the external DKIM corpora through t/dkim-suite.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
SHARED=${SHARED:-$top_srcdir/../shared}
data=$SHARED/testdata/dkim

[ -f "$data/mail-dkim/expectations.tsv" ] || { echo "dkim-suite: skipped: no $data"; exit 77; }
exec "$top_builddir/t/dkim-suite" "$data" "$top_srcdir/t/data/dkim-known-differences.txt"
