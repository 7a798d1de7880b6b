#!/bin/sh
# t/recipes/metrics.sh - the README's metrics recipes, run as written, and
# what authmilter(8) and the Grafana dashboard say of the endpoint, against
# a running daemon and a Prometheus that scrapes it.
#
# Runs t/recipes/metrics.py inside fresh network, mount and pid namespaces
# (like t/recipes.sh): the only interface is lo, so the recipes' fixed
# address 127.0.0.1:9891 is free, and every process started dies with the
# test. Exits 77 (skip) when not root; a missing tool fails. Prometheus
# comes from the .deb contrib/deps.sh keeps in
# /var/cache/authmilter-test/debs (the test never downloads anything).

PATH="$PATH:/usr/sbin:/sbin"
export PATH
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

if [ "${AM_METRICS_INSIDE:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "metrics recipes: skipped: needs root (namespaces)"
		exit 77
	fi
	for tool in unshare ip nsd curl python3 dpkg-deb tar; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "metrics recipes: FAIL: $tool not found (contrib/deps.sh installs it)"
			exit 1
		fi
	done
	if ! unshare --net --mount --pid --fork --mount-proc true 2>/dev/null; then
		echo "metrics recipes: FAIL: cannot create namespaces here"
		exit 1
	fi
	AM_METRICS_INSIDE=1
	export AM_METRICS_INSIDE
	exec unshare --net --mount --pid --fork --mount-proc sh "$0" "$@"
fi

# inside the namespaces: pid 1 is this shell
ip link set lo up || { echo "metrics recipes: cannot bring lo up"; exit 1; }
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
"$PY" "$top_srcdir/t/recipes/metrics.py" "$@"
