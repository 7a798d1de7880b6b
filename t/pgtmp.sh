# pgtmp.sh - a throwaway PostgreSQL 15 server for tests (sourced, not run).
#
#   . "$top_srcdir/t/pgtmp.sh"
#   dir=$(mktemp -d /tmp/pg.XXXXXX)
#   pg_start "$dir" || exit 1     # sets PGTMP_URI, prints it on stdout
#   ... postgresql:///authmilter?host=$dir&user=authmilter ...
#   pg_stop "$dir"
#
# pg_start DIR: initdb in DIR/data (trust authentication, superuser
# "authmilter"), a server listening on a unix socket in DIR only
# (listen_addresses is empty: no TCP), its log in DIR/log, and a database
# "authmilter". The URI of that database is printed on stdout and set in
# PGTMP_URI (exported). Returns non-zero with a message on stderr (and the
# server log when it did not start).
#
# Run as root (CI), the server runs as user nobody (initdb refuses root):
# DIR is handed to nobody and made 0755 so that other users (a daemon
# under test) can reach the socket. Keep DIR short: a unix socket path
# holds about 100 bytes.
#
# pg_stop DIR: a fast shutdown. Run tests that start a server inside
# `unshare --pid --fork` (t/report-pg.sh) so that it cannot outlive them.
# The binaries are taken from PGTMP_BIN, default
# /usr/lib/postgresql/15/bin (Debian's postgresql-15; contrib/deps.sh).

PGTMP_BIN=${PGTMP_BIN:-/usr/lib/postgresql/15/bin}

# pgtmp_run - a command as the server's user
pgtmp_run() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}

pg_start() {
	_d=$1
	if [ -z "$_d" ] || [ ! -d "$_d" ]; then
		echo "pg_start: no directory '$_d'" >&2
		return 1
	fi
	for _b in initdb pg_ctl createdb; do
		if [ ! -x "$PGTMP_BIN/$_b" ]; then
			echo "pg_start: $PGTMP_BIN/$_b not found: install postgresql-15 (contrib/deps.sh)" >&2
			return 1
		fi
	done
	if [ "$(id -u)" = 0 ]; then
		chown nobody "$_d" || return 1
	fi
	chmod 0755 "$_d" || return 1
	if ! pgtmp_run "$PGTMP_BIN/initdb" -D "$_d/data" --auth=trust \
	    -U authmilter -E UTF8 --locale=C.UTF-8 >"$_d/initdb.log" 2>&1; then
		echo "pg_start: initdb failed:" >&2
		cat "$_d/initdb.log" >&2
		return 1
	fi
	if ! pgtmp_run "$PGTMP_BIN/pg_ctl" -D "$_d/data" -l "$_d/log" -w \
	    -t 60 -o "-c listen_addresses='' -c unix_socket_directories='$_d'" \
	    start >/dev/null 2>&1; then
		echo "pg_start: the server did not start; its log:" >&2
		cat "$_d/log" >&2
		return 1
	fi
	if ! pgtmp_run "$PGTMP_BIN/createdb" -h "$_d" -U authmilter \
	    authmilter >&2; then
		echo "pg_start: createdb failed" >&2
		return 1
	fi
	PGTMP_URI="postgresql:///authmilter?host=$_d&user=authmilter"
	export PGTMP_URI
	echo "$PGTMP_URI"
}

pg_stop() {
	[ -d "$1/data" ] || return 0
	pgtmp_run "$PGTMP_BIN/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1
}
