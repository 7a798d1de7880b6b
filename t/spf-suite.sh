#!/bin/sh
# spf-suite.sh - flatten the openspf YAML suites (t/data/spf) with
# t/spf-suite.py, then run them through t/spf-suite: on the table resolver
# and, as root, also through sessions on libunbound forwarding to
# t/dnsd.py (t/suite-unbound.sh). Missing data or a missing tool
# (python3-yaml, python3-dnslib, unshare) is a failure, never a skip.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
data=${TESTDATA:-$top_srcdir/t/data}/spf

. "$top_srcdir/t/suite-unbound.sh"
suite_unbound_enter spf-suite "$0" "$@"
"$SUITE_PY" -c 'import yaml' 2>/dev/null || { echo "spf-suite: FAIL: python3-yaml is missing (contrib/deps.sh installs it)"; exit 1; }
for f in rfc7208-tests.yml rfc4408-tests.yml; do
	[ -f "$data/$f" ] || { echo "spf-suite: FAIL: no $data/$f"; exit 1; }
done

tmp=$(mktemp -d) || exit 1
trap '[ -n "${KEEP_TMP:-}" ] && cp -r "$tmp" "$KEEP_TMP"; rm -rf "$tmp"' EXIT
"$SUITE_PY" "$top_srcdir/t/spf-suite.py" "$data/rfc7208-tests.yml" >"$tmp/rfc7208.txt" || exit 1
"$SUITE_PY" "$top_srcdir/t/spf-suite.py" "$data/rfc4408-tests.yml" >"$tmp/rfc4408.txt" || exit 1
set --
if [ "$SUITE_UNBOUND" = 1 ]; then
	dnsd_start "$tmp" "$tmp/rfc7208.txt" "$tmp/rfc4408.txt" || exit 1
	set -- --forward "$DNSD_FWD"
fi
"$top_builddir/t/spf-suite" "$@" "$tmp/rfc7208.txt" "$top_srcdir/t/data/spf-known-failures.txt" "$tmp/rfc4408.txt"
