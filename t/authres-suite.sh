#!/bin/sh
# authres-suite.sh - run t/authres-suite.py over the shared A-R test data.
# Needs $top_builddir (for t/authres-tool) and $SHARED, as make check sets
# them; exits 77 (skip) without python3 or the data.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
SHARED=${SHARED:-$top_srcdir/../shared}

if ! command -v python3 >/dev/null 2>&1; then
	echo "authres-suite: skipped: no python3"
	exit 77
fi
if [ ! -d "$SHARED/testdata/authres" ]; then
	echo "authres-suite: skipped: no $SHARED/testdata/authres"
	exit 77
fi
exec python3 "$top_srcdir/t/authres-suite.py" "$top_builddir/t/authres-tool" "$SHARED"
