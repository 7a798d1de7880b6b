#!/bin/sh
# t/reports.sh - DMARC aggregate reports end to end (issue 14): authmilter
# with reports = { } behind a private Postfix, then authmilter-report.
#
#   t/reports.sh [sqlite]   the SQLite store through Postfix (t/reports/sqlite.py)
#   t/reports.sh pg         PostgreSQL, two daemons writing (t/reports/pg.py);
#                           t/reports-pg.sh runs this
#   t/reports.sh faults     store down, disk full, kill -9, PostgreSQL
#                           restarted (t/reports/faults.py);
#                           t/reports-faults.sh runs this
#
# Runs inside fresh network, mount and pid namespaces: the only interface
# is lo, so nothing leaves the machine, a tmpfs mounted by the test is
# private to it, and every process started dies with it. Exits 77 (skip)
# when not root; a missing tool fails, naming contrib/deps.sh.

PATH="$PATH:/usr/sbin:/sbin"
export PATH
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

suite=${1:-sqlite}
case $suite in
sqlite) name=reports ;;
pg) name=reports-pg ;;
faults) name=reports-faults ;;
*) echo "usage: $0 [sqlite|pg|faults]" >&2; exit 64 ;;
esac
[ $# -gt 0 ] && shift

PY=python3
# Debian's python has the Debian modules (dkim); a python3 earlier on PATH
# (pyenv) may not
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

if [ "${AM_REPORTS_INSIDE:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "$name: skipped: needs root (namespaces, a private Postfix)"
		exit 77
	fi
	tools="unshare ip nsd nsd-checkconf openssl xmllint gzip timeout"
	case $suite in
	sqlite) tools="$tools postfix postconf postqueue" ;;
	pg) tools="$tools runuser" ;;
	faults) tools="$tools runuser mount umount" ;;
	esac
	for tool in $tools "$PY"; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "$name: FAIL: $tool not found (contrib/deps.sh installs it)"
			echo "$name: 0 passed, 1 failed"
			exit 1
		fi
	done
	for mod in dkim sqlite3; do
		if ! "$PY" -c "import $mod" 2>/dev/null; then
			echo "$name: FAIL: python3 module $mod is missing (contrib/deps.sh installs it)"
			echo "$name: 0 passed, 1 failed"
			exit 1
		fi
	done
	if [ "$suite" != sqlite ] && [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
		echo "$name: FAIL: no PostgreSQL 15 (/usr/lib/postgresql/15/bin/initdb; contrib/deps.sh installs postgresql-15)"
		echo "$name: 0 passed, 1 failed"
		exit 1
	fi
	for prog in authmilter; do
		if [ ! -x "$top_builddir/$prog" ]; then
			echo "$name: FAIL: $top_builddir/$prog is not built"
			echo "$name: 0 passed, 1 failed"
			exit 1
		fi
	done
	if ! unshare --net --mount --pid --fork --mount-proc true 2>/dev/null
	then
		echo "$name: FAIL: cannot create namespaces here"
		exit 1
	fi
	AM_REPORTS_INSIDE=1
	export AM_REPORTS_INSIDE
	exec unshare --net --mount --pid --fork --mount-proc sh "$0" "$suite" "$@"
fi

# inside the namespaces: pid 1 is this shell
ip link set lo up || { echo "$name: FAIL: cannot bring lo up"; exit 1; }
# mounts made here (faults: a small tmpfs) stay in this namespace
mount --make-rprivate / 2>/dev/null
# bounded: a hang is a failure, not a stuck make check
timeout -k 10 170 "$PY" "$top_srcdir/t/reports/$suite.py" "$@"
rc=$?
[ $rc -eq 124 ] && echo "$name: FAIL: the suite ran over 170 s"
exit $rc
