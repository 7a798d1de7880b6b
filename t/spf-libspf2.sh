#!/bin/sh
# spf-libspf2.sh - libspf2 1.2.10 as a measured reference: the trap cases
# (our result asserted, libspf2's printed), then the RFC 7208 suite
# through both (counts printed, informational).
# Exits with the trap run's status (1 when the suite data is missing).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
data=${TESTDATA:-$top_srcdir/t/data}/spf
prog=$top_builddir/t/spf-libspf2

[ -x "$prog" ] || { echo "spf-libspf2: FAIL: $prog is not built"; exit 1; }

"$prog" --traps
status=$?

if ! python3 -c 'import yaml' 2>/dev/null; then
	echo "spf-libspf2: FAIL: python3-yaml is missing"
	status=1
elif [ ! -f "$data/rfc7208-tests.yml" ]; then
	echo "spf-libspf2: FAIL: no $data/rfc7208-tests.yml"
	status=1
else
	tmp=$(mktemp -d) || exit 1
	trap 'rm -rf "$tmp"' EXIT
	if python3 "$top_srcdir/t/spf-suite.py" "$data/rfc7208-tests.yml" \
	    >"$tmp/rfc7208.txt"; then
		"$prog" "$tmp/rfc7208.txt" ||
		    echo "spf-libspf2: suite run failed (informational)"
	else
		echo "spf-libspf2: suite not run: spf-suite.py failed"
	fi
fi
exit $status
