#!/bin/sh
# report-pg.sh - the report store (lib/report/store_pg.c) on a throwaway
# PostgreSQL 15 server (t/pgtmp.sh): t/test-report-store --pg URI (the
# same store checks as on SQLite, a trigger planted to make a put fail
# half way, a newer schema refused, a killed connection), then two
# processes putting into the same rows at once (--hammer), whose counts
# must add up exactly, and two opening an empty database at once.
#
# Runs inside fresh network, mount and pid namespaces: the server listens
# on a unix socket only, and dies with the namespace when the test ends.
# Needs root (namespaces; the server runs as nobody); without it, exit 77.
# A missing PostgreSQL 15 fails.
PATH="$PATH:/usr/sbin:/sbin"
export PATH
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
HAMMER=${HAMMER:-400}

if [ "${AM_REPORT_PG_INSIDE:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "report-pg: skipped: needs root (namespaces)"
		exit 77
	fi
	if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
		echo "report-pg: FAIL: PostgreSQL 15 is not installed (contrib/deps.sh installs postgresql-15)"
		echo "report-pg: 0 passed, 1 failed"
		exit 1
	fi
	if ! unshare --net --mount --pid --fork --mount-proc true 2>/dev/null; then
		echo "report-pg: FAIL: cannot create namespaces here"
		echo "report-pg: 0 passed, 1 failed"
		exit 1
	fi
	AM_REPORT_PG_INSIDE=1
	export AM_REPORT_PG_INSIDE
	exec unshare --net --mount --pid --fork --mount-proc sh "$0" "$@"
fi

# inside the namespaces: pid 1 is this shell
. "$top_srcdir/t/pgtmp.sh"
pass=0
fail=0
say_fail() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }
t=$top_builddir/t/test-report-store
dir=$(mktemp -d /tmp/rpg.XXXXXX) || exit 1
trap 'pg_stop "$dir"; rm -rf "$dir"' EXIT

if ! pg_start "$dir" >/dev/null; then
	echo "report-pg: FAIL: the server did not start"
	echo "report-pg: 0 passed, 1 failed"
	exit 1
fi
uri=$PGTMP_URI

# the store checks; their own tally counts
if timeout 120 "$t" --pg "$uri" >"$dir/unit.out" 2>&1; then
	pass=$((pass + 1))
else
	say_fail "test-report-store --pg:"
	cat "$dir/unit.out" >&2
fi
cat "$dir/unit.out" | grep -E ': [0-9]+ passed, [0-9]+ failed$'

# two writers into the same three rows at once
timeout 120 "$t" --pg "$uri" --hammer "$HAMMER" 2>"$dir/h1" &
p1=$!
timeout 120 "$t" --pg "$uri" --hammer "$HAMMER" 2>"$dir/h2" &
p2=$!
if wait $p1 && wait $p2; then
	pass=$((pass + 1))
else
	say_fail "a writer failed: $(cat "$dir/h1" "$dir/h2")"
fi
if "$t" --pg "$uri" --hammer-count $((2 * HAMMER * 3)) >"$dir/hc" 2>&1; then
	pass=$((pass + 1))
else
	say_fail "the counts do not add up: $(cat "$dir/hc")"
fi

# two stores opening an empty database at once: one creates the schema,
# the other waits for it (the advisory lock), neither fails
"$PGTMP_BIN/psql" -q "$uri" -c "CREATE DATABASE fresh" >/dev/null 2>&1
fresh="postgresql:///fresh?host=$dir&user=authmilter"
ok=1
for i in 1 2 3 4; do
	"$t" --pg "$fresh" --hammer 1 2>"$dir/o$i" &
	eval "q$i=\$!"
done
for i in 1 2 3 4; do
	eval "wait \$q$i" || { ok=0; say_fail "concurrent open $i: $(cat "$dir/o$i")"; }
done
[ $ok = 1 ] && pass=$((pass + 1))
if [ "$("$PGTMP_BIN/psql" -tA "$fresh" -c 'SELECT schema_version FROM report_meta' 2>&1)" = 1 ]; then
	pass=$((pass + 1))
else
	say_fail "the fresh database's report_meta is not one row of version 1"
fi

echo "report-pg: $pass passed, $fail failed"
[ $fail -eq 0 ]
