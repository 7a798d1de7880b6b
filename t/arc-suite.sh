#!/bin/sh
# arc-suite.sh - the ValiMail ARC suite of t/data/arc through lib/arc:
# t/arc-suite.py flattens the yml (python3-yaml), t/arc-suite runs the
# validation tests on the table resolver and, as root, also on libunbound
# forwarding to t/dnsd.py, which serves each scenario's key records
# (t/suite-unbound.sh), and the signing tests; then t/arc-dkimpy.py
# cross-checks with dkimpy (chains it seals verify with us, ours with its
# arc_verify). Deliberate differences: t/data/arc-known-differences.txt.
# Missing data or a missing tool (python3-yaml, python3-dkim,
# python3-authres, python3-cryptography, python3-dnslib, unshare) is a failure,
# never a skip.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
data=${TESTDATA:-$top_srcdir/t/data}
known=$top_srcdir/t/data/arc-known-differences.txt

. "$top_srcdir/t/suite-unbound.sh"
suite_unbound_enter arc-suite "$0" "$@"
for f in arc-draft-validation-tests.yml arc-draft-sign-tests.yml; do
	[ -f "$data/arc/$f" ] || { echo "arc-suite: FAIL: no $data/arc/$f"; exit 1; }
done
for m in yaml dkim authres cryptography; do
	if ! "$SUITE_PY" -c "import $m" 2>/dev/null; then
		echo "arc-suite: FAIL: python3 module $m is missing (contrib/deps.sh installs it)"
		exit 1
	fi
done

tmp=$(mktemp -d) || exit 1
trap '[ -n "${KEEP_TMP:-}" ] && cp -r "$tmp" "$KEEP_TMP"; rm -rf "$tmp"' EXIT
"$SUITE_PY" "$top_srcdir/t/arc-suite.py" "$data" >"$tmp/arc.txt" || exit 1
set --
if [ "$SUITE_UNBOUND" = 1 ]; then
	dnsd_start "$tmp" "$tmp/arc.txt" || exit 1
	set -- --forward "$DNSD_FWD"
fi
rc=0
TMPDIR=$tmp "$top_builddir/t/arc-suite" "$@" "$tmp/arc.txt" "$known" || rc=1
"$SUITE_PY" "$top_srcdir/t/arc-dkimpy.py" "$top_builddir/t/arc-suite" \
    "$known" "$tmp" || rc=1
exit $rc
