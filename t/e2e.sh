#!/bin/sh
# e2e.sh - end-to-end test: a private Postfix, NSD and authmilter.
#
# Runs t/e2e/run.py inside fresh network, mount and pid namespaces: the only
# interface is lo, so nothing can reach a non-loopback address, and every
# process started by the test dies with it. Exits 77 (skip) when not root
# (the only skip the suite allows); a missing tool fails.

PATH="$PATH:/usr/sbin:/sbin"
export PATH
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

if [ "${AM_E2E_INSIDE:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "e2e: skipped: needs root (namespaces, a private Postfix)"
		exit 77
	fi
	for tool in unshare ip postfix postconf nsd python3 openssl; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "e2e: FAIL: $tool not found (contrib/deps.sh installs it)"
			exit 1
		fi
	done
	if ! unshare --net --mount --pid --fork --mount-proc true 2>/dev/null
	then
		echo "e2e: FAIL: cannot create namespaces here"
		exit 1
	fi
	AM_E2E_INSIDE=1
	export AM_E2E_INSIDE
	exec unshare --net --mount --pid --fork --mount-proc sh "$0" "$@"
fi

# inside the namespaces: pid 1 is this shell
ip link set lo up || { echo "e2e: cannot bring lo up"; exit 1; }
PY=python3
# Debian's python has the Debian modules (dkim, dns); a python3 earlier
# on PATH (pyenv) may not
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
"$PY" "$top_srcdir/t/e2e/run.py" "$@"
