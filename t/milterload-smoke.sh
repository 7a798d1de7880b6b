#!/bin/sh
# milterload-smoke.sh - bench/milterload against a real authmilter (SPF,
# DKIM and DMARC off, so no DNS is needed) over inet and unix sockets, and
# through a chain of two: every message accepted, none in error, each with
# the header "<authserv_id>; none". Also its exit codes for a usage error
# and for a milter that is not there. Nothing here depends on timing: the
# daemon is waited for by polling, with a bound.
# Prints "milterload-smoke: N passed, N failed"; a missing tool fails.

top_builddir=${top_builddir:-.}
AM=$top_builddir/authmilter
ML=$top_builddir/bench/milterload
ID=mx.smoke.example

for tool in awk mktemp grep; do
	command -v "$tool" >/dev/null 2>&1 ||
	    { echo "milterload-smoke: FAIL: no $tool"; exit 1; }
done
[ -x "$AM" ] && [ -x "$ML" ] ||
    { echo "milterload-smoke: FAIL: build authmilter and bench/milterload"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/milterload-smoke.XXXXXX") || exit 1
pid=
passed=0
failed=0

cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

check() {	# check STATUS WHAT [DETAIL]
	if [ "$1" -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok   $2"
	else
		failed=$((failed + 1))
		echo "FAIL $2 ${3:-}"
	fi
}

# ---- the corpus: three messages from one client ----------------------------
mkdir "$tmp/msgs"
printf 'From: a@example.org\r\nTo: b@example.net\r\nSubject: one\r\n\r\nhello\r\n' \
    > "$tmp/msgs/1.eml"
# LF line ends, a folded header, no newline at the end
printf 'From: c@example.com\nSubject: two\n\tfolded\n\nline one\nline two' \
    > "$tmp/msgs/2.eml"
# a header that claims our authserv_id: removed as a forgery, ours added
printf 'Authentication-Results: %s; spf=pass\r\nFrom: d@example.net\r\n\r\n' \
    "$ID" > "$tmp/msgs/3.eml"
{
	printf 'id\tfile\tclient_ip\thelo\tmail_from\trcpt\tauth_user\tnote\n'
	printf 'm1\tmsgs/1.eml\t192.0.2.10\tmail.example.org\ta@example.org\tb@example.net\t\tfirst\n'
	printf 'm2\tmsgs/2.eml\t192.0.2.10\tmail.example.org\t<>\t<b@example.net>,c@example.net\t\tsecond\n'
	printf 'm3\tmsgs/3.eml\t192.0.2.10\tmail.example.org\t<d@example.net>\tb@example.net\t\tthird\n'
} > "$tmp/corpus.tsv"

# ---- the daemon ----------------------------------------------------------------
# start_daemon SPEC - start authmilter on SPEC and wait until milterload gets
# a message through; 1 when it could not start (e.g. the port is taken)
start_daemon() {
	cat > "$tmp/a.conf" <<EOF
socket = "$1";
authserv_id = "$ID";
dns = { nameservers = [ "127.0.0.1@1" ]; timeout_ms = 300; };
spf = { enable = false; };
dkim = { enable = false; };
dmarc = { enable = false; };
arc = { enable = false; };
iprev = { enable = false; };
trusted_networks = [ ];
EOF
	"$AM" -f -c "$tmp/a.conf" >> "$tmp/daemon.log" 2>&1 &
	pid=$!
	tries=0
	while [ $tries -lt 200 ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null
			pid=
			return 1
		fi
		if "$ML" -s "$1" -n 1 -t 5 -q -i "$tmp/corpus.tsv" 2>/dev/null |
		    grep -q ' errors=0 '; then
			return 0
		fi
		tries=$((tries + 1))
		sleep 0.1
	done
	return 1
}

stop_daemon() {
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	pid=
	check "$rc" "authmilter stops on SIGTERM" "exit $rc"
}

# field SUMMARY KEY - the value of key=value in milterload's summary line
field() {
	echo "$1" | awk -v k="$2" '{ for (i = 1; i <= NF; i++) {
		n = index($i, "="); if (substr($i, 1, n - 1) == k) print substr($i, n + 1) } }'
}

# run_case NAME SPECS EXPECTED_AR - 12 messages, 2 at a time, 3 per session
run_case() {
	name=$1
	out=$("$ML" -s "$2" -c 2 -m 3 -n 12 -i "$tmp/corpus.tsv" \
	    -o "$tmp/$name.tsv" --detail 2>"$tmp/$name.err")
	rc=$?
	check "$rc" "$name: milterload exits 0" "exit $rc: $(cat "$tmp/$name.err")"
	[ "$(field "$out" msgs)" = 12 ]
	check $? "$name: msgs=12" "$out"
	[ "$(field "$out" errors)" = 0 ]
	check $? "$name: errors=0" "$out"
	[ "$(field "$out" accept)" = 12 ]
	check $? "$name: accept=12" "$out"
	# header line plus 12 rows, each accepted with the expected header,
	# the corpus column carried
	awk -F '\t' -v ar="$3" '
		NR == 1 { if ($1 != "id" || $5 != "auth_results" || $7 != "note") bad = 1; next }
		{ rows++; if ($2 != "accept" || $5 != ar || $7 == "") bad = 1; seen[$1]++ }
		END { if (rows != 12 || seen["m1"] != 4 || seen["m2"] != 4 || seen["m3"] != 4) bad = 1
		      exit bad }' "$tmp/$name.tsv"
	check $? "$name: every row has Authentication-Results \"$3\"" \
	    "$(head -3 "$tmp/$name.tsv")"
	# the forged header of m3 was deleted (SMFIR_CHGHEADER with no value)
	awk -F '\t' '$1 == "m3" && $9 !~ /1:del#1:Authentication-Results/ { bad = 1 }
		END { exit bad }' "$tmp/$name.tsv"
	check $? "$name: the forged header of m3 deleted by milter 1"
}

# ---- inet -----------------------------------------------------------------------
base=$(( ($$ % 20000) + 30000 ))
port=
for k in 0 1 2 3 4 5 6 7 8 9; do
	if start_daemon "inet:$((base + k * 7))@127.0.0.1"; then
		port=$((base + k * 7))
		break
	fi
done
if [ -z "$port" ]; then
	check 1 "authmilter starts on a free 127.0.0.1 port" "$(tail -5 "$tmp/daemon.log")"
else
	check 0 "authmilter starts on 127.0.0.1:$port"
	run_case inet "inet:$port@127.0.0.1" "$ID; none"
	# a chain of two (smtpd_milters = m, m): the second sees the first's
	# header, removes it as a forgery of its own id and adds its own
	run_case chain "inet:$port@127.0.0.1,inet:$port@127.0.0.1" "$ID; none | $ID; none"
	awk -F '\t' 'NR > 1 && ($8 != "accept,accept" || $9 !~ /2:del#1:/) { bad = 1 }
		END { exit bad }' "$tmp/chain.tsv"
	check $? "chain: both milters accept, the second deletes the first's header"
	out=$("$ML" -s "inet:$port@127.0.0.1" -c 1 -m 3 -n 12 -q --nodelay \
	    -i "$tmp/corpus.tsv")
	[ "$(field "$out" errors)" = 0 ] && [ "$(field "$out" accept)" = 12 ]
	check $? "--nodelay: 12 accepted" "$out"
	stop_daemon
fi

# ---- unix ---------------------------------------------------------------------
sock=$tmp/am.sock
if start_daemon "unix:$sock"; then
	check 0 "authmilter starts on a unix socket"
	run_case unix "unix:$sock" "$ID; none"
	stop_daemon
else
	check 1 "authmilter starts on a unix socket" "$(tail -5 "$tmp/daemon.log")"
fi

# ---- exit codes -------------------------------------------------------------------
"$ML" -s "unix:$tmp/nothing.sock" -n 2 -q -i "$tmp/corpus.tsv" >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ]
check $? "nothing to connect to: exit 1" "exit $rc"
"$ML" -s "bogus:1" -i "$tmp/corpus.tsv" >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ]
check $? "bad socket spec: exit 2" "exit $rc"
"$ML" -s "unix:$sock" -i "$tmp/missing.tsv" >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ]
check $? "missing corpus: exit 2" "exit $rc"

echo "milterload-smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
