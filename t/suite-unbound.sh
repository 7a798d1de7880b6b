# suite-unbound.sh - sourced by t/spf-suite.sh, t/dkim-suite.sh and
# t/dmarc-suite.sh to run their suites a second time on the production DNS
# path: libunbound forwarding to t/dnsd.py on loopback.
#
#   suite_unbound_enter NAME "$0" "$@"
#	checks the tools (python3 with dnslib, unshare, ip: a missing one
#	FAILS); as root, re-executes the script inside fresh network, mount
#	and pid namespaces with only lo up (nothing leaves the machine, the
#	server dies with the test) and sets SUITE_UNBOUND=1 there; not root,
#	says "NAME: unbound path skipped: needs root" and sets SUITE_UNBOUND=0
#	(the table path still runs).
#   dnsd_start DIR ZONES...
#	starts t/dnsd.py on 127.0.0.1, block i of the zone files on port
#	DNSD_BASE+i; waits until it is ready; sets DNSD_FWD=127.0.0.1@BASE.
#	Its log of every query is DIR/dnsd.log.

PATH="$PATH:/usr/sbin:/sbin"
export PATH
DNSD_BASE=${DNSD_BASE:-20000}

suite_unbound_enter() {
	_name=$1
	shift
	SUITE_PY=python3
	# Debian's python has dnslib; a python3 earlier on PATH (pyenv) may not
	[ -x /usr/bin/python3 ] && SUITE_PY=/usr/bin/python3
	if ! command -v "$SUITE_PY" >/dev/null 2>&1; then
		echo "$_name: FAIL: no python3 (contrib/deps.sh installs it)"
		exit 1
	fi
	if ! "$SUITE_PY" -c 'import dnslib' 2>/dev/null; then
		echo "$_name: FAIL: python3-dnslib is missing (contrib/deps.sh installs it)"
		exit 1
	fi
	for _tool in unshare ip; do
		if ! command -v "$_tool" >/dev/null 2>&1; then
			echo "$_name: FAIL: $_tool not found (contrib/deps.sh installs it)"
			exit 1
		fi
	done
	if [ "${AM_SUITE_INSIDE:-}" = 1 ]; then
		ip link set lo up || { echo "$_name: FAIL: cannot bring lo up"; exit 1; }
		SUITE_UNBOUND=1
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "$_name: unbound path skipped: needs root (network namespace); the table path runs"
		SUITE_UNBOUND=0
		return 0
	fi
	if ! unshare --net --mount --pid --fork --mount-proc true 2>/dev/null; then
		echo "$_name: FAIL: cannot create namespaces here"
		exit 1
	fi
	AM_SUITE_INSIDE=1
	export AM_SUITE_INSIDE
	exec unshare --net --mount --pid --fork --mount-proc sh "$@"
}

dnsd_start() {
	_dir=$1
	shift
	"$SUITE_PY" "$top_srcdir/t/dnsd.py" --port "$DNSD_BASE" \
	    --ready "$_dir/dnsd.ready" --log "$_dir/dnsd.log" "$@" &
	DNSD_PID=$!
	_i=0
	while [ ! -f "$_dir/dnsd.ready" ]; do
		if ! kill -0 "$DNSD_PID" 2>/dev/null || [ $_i -ge 200 ]; then
			echo "dnsd: FAIL: the DNS server did not start"
			return 1
		fi
		sleep 0.05
		_i=$((_i + 1))
	done
	DNSD_FWD="127.0.0.1@$DNSD_BASE"
	return 0
}
