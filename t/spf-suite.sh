#!/bin/sh
# spf-suite.sh - flatten the openspf YAML suites with t/spf-suite.py, then
# run them through t/spf-suite. Skips (77) when python3-yaml is missing.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
SHARED=${SHARED:-$top_srcdir/../shared}
data=$SHARED/testdata/spf

python3 -c 'import yaml' 2>/dev/null || { echo "spf-suite: skipped: python3-yaml is missing"; exit 77; }
[ -f "$data/rfc7208-tests.yml" ] || { echo "spf-suite: skipped: no $data/rfc7208-tests.yml"; exit 77; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
python3 "$top_srcdir/t/spf-suite.py" "$data/rfc7208-tests.yml" >"$tmp/rfc7208.txt" || exit 1
set -- "$tmp/rfc7208.txt" "$top_srcdir/t/data/spf-known-failures.txt"
if [ -f "$data/rfc4408-tests.yml" ] &&
    python3 "$top_srcdir/t/spf-suite.py" "$data/rfc4408-tests.yml" >"$tmp/rfc4408.txt"; then
	set -- "$@" "$tmp/rfc4408.txt"
fi
"$top_builddir/t/spf-suite" "$@"
