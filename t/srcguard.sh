#!/bin/sh
# srcguard.sh - the source guard (t/srcguard/srcguard.py says what it
# checks): layer order of includes, no libmilter under lib/, banned calls,
# no printing in lib/, symbol prefixes, no clash with the libraries we
# link, file length; then a self-test that plants faults and sees them
# caught. Needs the libraries and the daemon built (make check builds
# them before any test runs).
srcdir=${top_srcdir:-$(dirname "$0")/..}
builddir=${top_builddir:-.}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
command -v "$py" >/dev/null 2>&1 || { echo "srcguard: FAIL: no python3"; exit 1; }
exec "$py" "$srcdir/t/srcguard/srcguard.py" "$srcdir" "$builddir" "$@"
