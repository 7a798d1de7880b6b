#!/bin/sh
# hostile.sh - the hostile-input suite (t/hostile.py): the real daemon
# against a hostile DNS server, forged and oversized headers, milter
# protocol garbage, connection churn and a SIGHUP storm.
#
# Runs inside fresh network, mount and pid namespaces with only lo up:
# nothing can leave the machine and every process started here dies with
# it. Not root: "needs root", exit 77 (the only skip); a missing tool fails.

PATH="$PATH:/usr/sbin:/sbin"
export PATH
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

PY=python3
# Debian's python has dnslib, dkim and cryptography; a python3 earlier on
# PATH (pyenv) may not
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

if [ "${AM_HOSTILE_INSIDE:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "hostile: skipped: needs root (network namespaces)"
		exit 77
	fi
	for tool in unshare ip timeout "$PY"; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "hostile: FAIL: $tool not found (contrib/deps.sh installs it)"
			exit 1
		fi
	done
	for mod in dnslib dkim cryptography; do
		if ! "$PY" -c "import $mod" 2>/dev/null; then
			echo "hostile: FAIL: python3 module $mod is missing (contrib/deps.sh installs it)"
			exit 1
		fi
	done
	if [ ! -x "$top_builddir/authmilter" ]; then
		echo "hostile: FAIL: $top_builddir/authmilter is not built"
		exit 1
	fi
	if ! unshare --net --mount --pid --fork --mount-proc true 2>/dev/null
	then
		echo "hostile: FAIL: cannot create namespaces here"
		exit 1
	fi
	AM_HOSTILE_INSIDE=1
	export AM_HOSTILE_INSIDE
	exec unshare --net --mount --pid --fork --mount-proc sh "$0" "$@"
fi

# inside the namespaces: pid 1 is this shell
ip link set lo up || { echo "hostile: FAIL: cannot bring lo up"; exit 1; }
# the whole suite is bounded: a hang is a failure, not a stuck make check
timeout -k 10 300 "$PY" "$top_srcdir/t/hostile.py" "$@"
rc=$?
[ $rc -eq 124 ] && echo "hostile: FAIL: the suite ran over 300 s"
exit $rc
