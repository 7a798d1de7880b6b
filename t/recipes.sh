#!/bin/sh
# recipes.sh - the README's recipes for Postfix and Sendmail, run as written.
#
# Runs t/recipes/run.py inside fresh network, mount, pid and UTS namespaces
# (like t/e2e.sh): the only interface is lo, /etc and Postfix's spool are
# private copies (the recipes create a user and run postconf -e), the host
# name is mx.test.example, and every process started dies with the test.
# Exits 77 (skip) when not root; a missing tool fails. Sendmail comes from
# the .debs contrib/deps.sh keeps in /var/cache/authmilter-test/debs (the
# test never downloads anything).

PATH="$PATH:/usr/sbin:/sbin"
export PATH
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

if [ "${AM_RECIPES_INSIDE:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "recipes: skipped: needs root (namespaces, a private Postfix)"
		exit 77
	fi
	for tool in unshare ip mount hostname postfix postconf nsd python3 \
	    m4 dpkg-deb saslpasswd2 useradd groupadd getent install; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "recipes: FAIL: $tool not found (contrib/deps.sh installs it)"
			exit 1
		fi
	done
	if ! unshare --net --mount --pid --uts --fork --mount-proc true 2>/dev/null
	then
		echo "recipes: FAIL: cannot create namespaces here"
		exit 1
	fi
	AM_RECIPES_INSIDE=1
	export AM_RECIPES_INSIDE
	exec unshare --net --mount --pid --uts --fork --mount-proc sh "$0" "$@"
fi

# inside the namespaces: pid 1 is this shell
ip link set lo up || { echo "recipes: cannot bring lo up"; exit 1; }
hostname mx.test.example || { echo "recipes: cannot set the host name"; exit 1; }
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
"$PY" "$top_srcdir/t/recipes/run.py" "$@"
