#!/bin/sh
# spf-suite.sh - flatten the openspf YAML suites (t/data/spf) with
# t/spf-suite.py, then run them through t/spf-suite. Missing data or a
# missing python3-yaml is a failure, never a skip.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
data=${TESTDATA:-$top_srcdir/t/data}/spf

python3 -c 'import yaml' 2>/dev/null || { echo "spf-suite: FAIL: python3-yaml is missing (contrib/deps.sh installs it)"; exit 1; }
for f in rfc7208-tests.yml rfc4408-tests.yml; do
	[ -f "$data/$f" ] || { echo "spf-suite: FAIL: no $data/$f"; exit 1; }
done

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
python3 "$top_srcdir/t/spf-suite.py" "$data/rfc7208-tests.yml" >"$tmp/rfc7208.txt" || exit 1
python3 "$top_srcdir/t/spf-suite.py" "$data/rfc4408-tests.yml" >"$tmp/rfc4408.txt" || exit 1
"$top_builddir/t/spf-suite" "$tmp/rfc7208.txt" "$top_srcdir/t/data/spf-known-failures.txt" "$tmp/rfc4408.txt"
