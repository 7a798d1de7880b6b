#!/bin/sh
# report-cli.sh - authmilter-report end to end, without an MTA: a store
# filled by t/report-fill (SQLite), t/dnsd.py serving the _dmarc records
# on loopback, a fake sendmail (a script keeping its arguments and input)
# and t/reporter/smtpsink.py as the SMTP relay. Checked:
#   --dry-run writes one .xml.gz per domain that inflates and validates
#   against RFC 9990's schema (t/data/rfc9990), with the counts per source
#   IP that were filled, and an .eml with the RFC 9990 Subject, and marks
#   nothing sent; a real run calls sendmail -t -oi -f EMAIL with the right
#   To:, marks the reports sent, and a second run sends nothing; --from,
#   --to and --domain limit what is sent, and the default is yesterday; an
#   external rua= destination without its _report._dmarc record is
#   dropped, one with it kept; a "!size" too small drops a destination
#   (and a domain whose every destination is too small); no DMARC record
#   skips the domain; a DNS failure on the authorization or a failing
#   sendmail exits 75 and marks nothing sent; the SMTP relay path delivers
#   the message (its attachment validates), and a refused RCPT sends
#   nothing; the exit codes of usage, configuration and store errors;
#   --prune; reports.enable = false does nothing.
#
# Runs inside fresh network, mount and pid namespaces with only lo up.
# Not root: "needs root", exit 77 (the only skip); a missing tool fails.

PATH="$PATH:/usr/sbin:/sbin"
export PATH
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

PY=python3
# Debian's python has dnslib; a python3 earlier on PATH (pyenv) may not
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

if [ "${AM_REPORT_CLI_INSIDE:-}" != 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "report-cli: skipped: needs root (network namespaces)"
		exit 77
	fi
	for tool in unshare ip xmllint gzip "$PY"; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "report-cli: FAIL: $tool not found (contrib/deps.sh installs it)"
			echo "report-cli: 0 passed, 1 failed"
			exit 1
		fi
	done
	if ! "$PY" -c 'import dnslib' 2>/dev/null; then
		echo "report-cli: FAIL: python3-dnslib is missing (contrib/deps.sh installs it)"
		echo "report-cli: 0 passed, 1 failed"
		exit 1
	fi
	for f in "$top_builddir/authmilter-report" "$top_builddir/t/report-fill"; do
		if [ ! -x "$f" ]; then
			echo "report-cli: FAIL: $f is not built"
			echo "report-cli: 0 passed, 1 failed"
			exit 1
		fi
	done
	if ! unshare --net --mount --pid --fork --mount-proc true 2>/dev/null; then
		echo "report-cli: FAIL: cannot create namespaces here"
		echo "report-cli: 0 passed, 1 failed"
		exit 1
	fi
	AM_REPORT_CLI_INSIDE=1
	export AM_REPORT_CLI_INSIDE
	exec unshare --net --mount --pid --fork --mount-proc sh "$0" "$@"
fi

ip link set lo up || { echo "report-cli: FAIL: cannot bring lo up"; exit 1; }
bin=$top_builddir/authmilter-report
fill=$top_builddir/t/report-fill
schema=$top_srcdir/t/data/rfc9990/dmarc-2.0.xsd
tmp=$(mktemp -d "${TMPDIR:-/tmp}/report-cli.XXXXXX") || exit 1
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	# REPORT_CLI_KEEP=1 keeps the files to look at
	if [ -n "${REPORT_CLI_KEEP:-}" ]; then echo "kept: $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
# check DESCRIPTION COMMAND...: the command succeeds
check() {
	_what=$1
	shift
	if "$@"; then ok; else bad "$_what"; fi
}

[ -s "$schema" ] || bad "no schema $schema"

# ---- the days ------------------------------------------------------------
D1=2026-01-10
D2=2026-01-11
YDAY=$(date -u -d yesterday +%Y-%m-%d)
D1B=$(date -u -d "$D1" +%s)
D1E=$((D1B + 86399))

# ---- DNS --------------------------------------------------------------------
T=$(printf '\t')
z() { printf 'ZONE\t%s\tTXT\t%s\n' "$1" "$2"; }
{
	printf 'SCENARIO\treport-cli\n'
	# a: one destination inside, one authorized outside, one not
	z _dmarc.a.example "v=DMARC1; p=reject; rua=mailto:dmarc@a.example,mailto:agg@reports.example,mailto:x@noauth.example"
	z a.example._report._dmarc.reports.example "v=DMARC1"
	z noauth.example "v=spf1 -all"
	# b: its only destination takes 1 KB: nothing sent
	z _dmarc.b.example "v=DMARC1; p=none; rua=mailto:rua@b.example!1k"
	# c: a small destination dropped, a large one kept
	z _dmarc.c.example "v=DMARC1; p=quarantine; rua=mailto:small@c.example!1k,mailto:big@c.example!10m"
	# d: no DMARC record
	z d.example "v=spf1 -all"
	# e, y, f: one destination each (other days, sendmail failing)
	z _dmarc.e.example "v=DMARC1; p=none; rua=mailto:e@e.example"
	z _dmarc.y.example "v=DMARC1; p=none; rua=mailto:y@y.example"
	z _dmarc.f.example "v=DMARC1; p=none; rua=mailto:f@f.example"
	# h: the relay path, two destinations; i: the relay refuses one
	z _dmarc.h.example "v=DMARC1; p=reject; rua=mailto:h@h.example,mailto:h2@h.example"
	z _dmarc.i.example "v=DMARC1; p=reject; rua=mailto:ok@i.example,mailto:bad@i.example"
	# j: the authorization lookup fails (SERVFAIL)
	z _dmarc.j.example "v=DMARC1; p=reject; rua=mailto:j@ext.example"
	printf 'SERVFAIL\tj.example._report._dmarc.ext.example\tA\n'
} >"$tmp/zones"
"$PY" "$top_srcdir/t/dnsd.py" --port 5300 --ready "$tmp/dnsd.ready" \
    --log "$tmp/dnsd.log" "$tmp/zones" 2>"$tmp/dnsd.err" &
pids="$pids $!"
i=0
while [ ! -f "$tmp/dnsd.ready" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
[ -f "$tmp/dnsd.ready" ] || { bad "t/dnsd.py did not start: $(cat "$tmp/dnsd.err")"; }

# ---- the fake sendmail ---------------------------------------------------------
mkdir "$tmp/sm"
cat >"$tmp/sendmail" <<EOF
#!/bin/sh
# keeps each call's arguments and input as sm/N.args, sm/N.msg
n=\$(ls "$tmp/sm" | grep -c '\.args\$')
n=\$((n + 1))
printf '%s\n' "\$@" >"$tmp/sm/\$n.args"
cat >"$tmp/sm/\$n.msg"
if [ -f "$tmp/sm-fail" ]; then
	echo "fake sendmail: queue file write error" >&2
	exit 75
fi
exit 0
EOF
chmod 755 "$tmp/sendmail"
calls() { ls "$tmp/sm" | grep -c '\.args$'; }

# ---- the configuration and the store ---------------------------------------------
store=$tmp/reports.db
conf() { # conf FILE [EXTRA reports LINES]
	_f=$1
	shift
	{
		echo 'authserv_id = "mx.test";'
		echo 'dns = { nameservers = [ "127.0.0.1@5300" ]; timeout_ms = 1500; };'
		echo 'reports = {'
		echo '	enable = true;'
		echo "	store = \"sqlite:$store\";"
		echo '	email = "dmarc-reports@mx.test";'
		echo "	sendmail = \"$tmp/sendmail\";"
		for l in "$@"; do echo "	$l"; done
		echo '};'
	} >"$_f"
}
conf "$tmp/c.conf"
{
	echo "# D1: a, b, c, d"
	echo "${D1}T01:00:00 a.example 192.0.2.1 a.example pass 5"
	echo "${D1}T13:00:00 a.example 192.0.2.1 a.example pass 3"
	echo "${D1}T02:00:00 a.example 192.0.2.2 a.example reject 2"
	echo "${D1}T03:00:00 a.example 2001:db8::1 sub.a.example none 4"
	echo "${D1}T04:00:00 b.example 198.51.100.1 b.example pass 1"
	i=1
	# c: enough rows that its gzip file is over 1 KB
	while [ $i -le 60 ]; do
		echo "${D1}T05:00:00 c.example 198.51.100.$i c.example reject $i"
		i=$((i + 1))
	done
	echo "${D1}T06:00:00 d.example 203.0.113.1 d.example pass 7"
	echo "# D2: e, f, h, i, j"
	echo "${D2}T10:00:00 e.example 203.0.113.5 e.example pass 9"
	echo "${D2}T10:00:00 f.example 203.0.113.6 f.example pass 1"
	echo "${D2}T10:00:00 h.example 203.0.113.7 h.example pass 6"
	echo "${D2}T10:00:00 i.example 203.0.113.8 i.example pass 1"
	echo "${D2}T10:00:00 j.example 203.0.113.9 j.example pass 1"
	echo "# yesterday: y"
	echo "${YDAY}T12:00:00 y.example 192.0.2.99 y.example pass 11"
} >"$tmp/rows"
if "$fill" "sqlite:$store" "$tmp/rows" >"$tmp/fill.out" 2>&1; then
	ok
else
	bad "report-fill: $(cat "$tmp/fill.out")"
fi

# run NAME ARGS...: authmilter-report, its stdout, stderr and status kept
run() {
	_n=$1
	shift
	"$bin" "$@" >"$tmp/$_n.out" 2>"$tmp/$_n.err"
	echo $? >"$tmp/$_n.rc"
}
rc() { cat "$tmp/$1.rc"; }
# expect_rc NAME WANT
expect_rc() {
	if [ "$(rc "$1")" = "$2" ]; then
		ok
	else
		bad "$1: exit $(rc "$1"), expected $2; stderr: $(head -c 600 "$tmp/$1.err")"
	fi
}
# subject FILE: its Subject field unfolded, without CR
subject() {
	tr -d '\r' <"$1" | awk '
		/^$/ { exit }
		/^[ \t]/ { if (on) { sub(/^[ \t]+/, " "); s = s $0 }; next }
		{ on = 0 }
		/^Subject:/ { on = 1; s = $0 }
		END { print s }'
}
# with_subject RE FILE...: the files whose Subject matches RE
with_subject() {
	_re=$1
	shift
	for _f in "$@"; do
		[ -f "$_f" ] && subject "$_f" | grep -q -- "$_re" && echo "$_f"
	done
}

# ---- 1. dry run of D1 ------------------------------------------------------------
mkdir "$tmp/dry"
run dry -c "$tmp/c.conf" -v --from "$D1" --to "$D1" --dry-run --dir "$tmp/dry"
expect_rc dry 0
check "dry: a.example's line" grep -qx 'a\.example: 3 rows, 14 messages, [0-9]* bytes gz -> dmarc@a\.example, agg@reports\.example' "$tmp/dry.out"
check "dry: b.example skipped for size" grep -q '^b\.example: skipped: .*over the limit of every rua= destination' "$tmp/dry.out"
check "dry: c.example to big@ only" grep -qx 'c\.example: 60 rows, 1830 messages, [0-9]* bytes gz -> big@c\.example' "$tmp/dry.out"
check "dry: d.example skipped, no record" grep -qx 'd\.example: skipped: no DMARC record at _dmarc\.d\.example' "$tmp/dry.out"
check "dry: no other day's domain" sh -c "! grep -q '^[efhijy]\.example' '$tmp/dry.out'"
check "dry: noauth dropped in the log" grep -q 'rua=x@noauth.example dropped: noauth.example is outside a.example' "$tmp/dry.err"
check "dry: small@c dropped in the log" grep -q 'rua=small@c.example dropped: the report message is [0-9]* bytes, over the address.s limit of 1024' "$tmp/dry.err"
n=$(ls "$tmp/dry"/*.xml.gz 2>/dev/null | wc -l)
[ "$n" -eq 2 ] && ok || bad "dry: $n .xml.gz files, 2 expected"
for gz in "$tmp/dry"/*.xml.gz; do
	[ -f "$gz" ] || continue
	name=$(basename "$gz" .xml.gz)
	case $name in
	mx.test!a.example!$D1B!$D1E!*|mx.test!c.example!$D1B!$D1E!*) ok ;;
	*) bad "dry: file name $name is not receiver!domain!$D1B!$D1E!id" ;;
	esac
	if gzip -dc "$gz" >"$tmp/dry/$name.xml" 2>/dev/null; then ok; else bad "dry: $name.xml.gz does not inflate"; fi
	if xmllint --noout --schema "$schema" "$tmp/dry/$name.xml" 2>"$tmp/xmllint.err"; then
		ok
	else
		bad "dry: $name.xml does not validate: $(head -c 400 "$tmp/xmllint.err")"
	fi
	id=${name##*!}
	eml=$tmp/dry/$name.eml
	if [ -f "$eml" ] && subject "$eml" | grep -qx "Subject: Report Domain: [a-z.]* Submitter: mx\.test Report-ID: $id"; then
		ok
	else
		bad "dry: $name.eml missing or without the RFC 9990 Subject"
	fi
done
# counts per source IP in a.example's XML: what was filled
ax=$(ls "$tmp"/dry/mx.test!a.example!*.xml 2>/dev/null | head -1)
if [ -n "$ax" ]; then
	got=$(xmllint --xpath '//*[local-name()="row"]' "$ax" 2>/dev/null |
	    tr -d ' \n' | sed 's|</row>|</row>\n|g' |
	    sed -n 's|.*<source_ip>\([^<]*\)</source_ip><count>\([0-9]*\)</count>.*|\1=\2|p' | sort | tr '\n' ' ')
	if [ "$got" = "192.0.2.1=8 192.0.2.2=2 2001:db8::1=4 " ]; then
		ok
	else
		bad "dry: a.example counts per IP: '$got'"
	fi
	check "dry: a.example's XML names the org and email" grep -q '<email>dmarc-reports@mx.test</email>' "$ax"
else
	bad "dry: no a.example report"
fi
cx=$(ls "$tmp"/dry/mx.test!c.example!*.xml 2>/dev/null | head -1)
if [ -n "$cx" ]; then
	cnt=$(grep -c '<source_ip>' "$cx")
	[ "$cnt" -eq 60 ] && ok || bad "dry: c.example has $cnt rows, 60 expected"
fi
[ "$(calls)" -eq 0 ] && ok || bad "dry: sendmail was called"
# nothing was marked: a second dry run writes them again
mkdir "$tmp/dry2"
run dry2 -c "$tmp/c.conf" --from "$D1" --dry-run --dir "$tmp/dry2"
expect_rc dry2 0
n=$(ls "$tmp/dry2"/*.xml.gz 2>/dev/null | wc -l)
[ "$n" -eq 2 ] && ok || bad "dry2: $n .xml.gz after a dry run, 2 expected (a dry run marks nothing)"

# ---- 2. real run of D1 through sendmail ----------------------------------------------
run real -c "$tmp/c.conf" -v --from "$D1" --to "$D1"
expect_rc real 0
[ "$(calls)" -eq 2 ] && ok || bad "real: sendmail called $(calls) times, 2 expected"
for a in "$tmp"/sm/*.args; do
	[ -f "$a" ] || continue
	if [ "$(tr '\n' ' ' <"$a")" = "-t -oi -f dmarc-reports@mx.test " ]; then
		ok
	else
		bad "real: sendmail arguments: $(tr '\n' ' ' <"$a")"
	fi
done
am=$(with_subject '^Subject: Report Domain: a\.example ' "$tmp"/sm/*.msg | head -1)
if [ -n "$am" ] && grep -q '^To: dmarc@a\.example, agg@reports\.example$' "$am" &&
    ! grep -q noauth "$am" && grep -q '^From: dmarc-reports@mx\.test$' "$am"; then
	ok
else
	bad "real: a.example's message lacks the right From:/To: ($am)"
fi
# local submission gets LF line ends
if [ -n "$am" ] && ! grep -q "$(printf '\r')" "$am"; then ok; else bad "real: CR in sendmail's input"; fi
cm=$(with_subject '^Subject: Report Domain: c\.example ' "$tmp"/sm/*.msg | head -1)
if [ -n "$cm" ] && grep -q '^To: big@c\.example$' "$cm"; then ok; else bad "real: c.example's To: is not big@c.example alone"; fi
check "real: the sent line in the log" grep -q 'domain=a.example report_id=[0-9a-f]\{32\} rows=3 messages=14 gz_bytes=[0-9]* message_bytes=[0-9]* to="dmarc@a.example, agg@reports.example" sent' "$tmp/real.err"
check "real: -v prints the line" grep -qx 'a\.example: 3 rows, 14 messages, [0-9]* bytes gz -> dmarc@a\.example, agg@reports\.example' "$tmp/real.out"
# ---- 3. a second run sends nothing ------------------------------------------------------
run again -c "$tmp/c.conf" -v --from "$D1" --to "$D1"
expect_rc again 0
[ "$(calls)" -eq 2 ] && ok || bad "again: sendmail called again ($(calls) calls)"
check "again: already sent logged" grep -q 'domain=a.example skipped: already sent, report id [0-9a-f]\{32\}' "$tmp/again.err"
# and a dry run says so too
mkdir "$tmp/dry3"
run dry3 -c "$tmp/c.conf" --from "$D1" --dry-run --dir "$tmp/dry3"
check "dry3: a.example already sent" grep -q '^a\.example: skipped: already sent, report id ' "$tmp/dry3.out"

# ---- 4. --domain, --from, --to ------------------------------------------------------------
run dom0 -c "$tmp/c.conf" --from "$D1" --to "$D1" --domain e.example
expect_rc dom0 0
[ "$(calls)" -eq 2 ] && ok || bad "dom0: e.example sent for a day it has no rows"
run dom -c "$tmp/c.conf" --from "$D2" --domain E.Example.
expect_rc dom 0
[ "$(calls)" -eq 3 ] && ok || bad "dom: sendmail calls $(calls), 3 expected"
if grep -q '^To: e@e\.example$' "$tmp/sm/3.msg" 2>/dev/null; then ok; else bad "dom: the third message is not e.example's"; fi
# a two-day period holds D1 and D2: e.example's two-day report is another
# report (another period), the one-day ones stay sent
mkdir "$tmp/dry4"
run dry4 -c "$tmp/c.conf" --from "$D1" --to "$D2" --domain e.example --dry-run --dir "$tmp/dry4"
check "dry4: e.example over two days" grep -q "^e\.example: 1 rows, 9 messages" "$tmp/dry4.out"
check "dry4: its file name has the two-day period" sh -c "ls '$tmp/dry4' | grep -q '!e\.example!$D1B!$((D1B + 2 * 86400 - 1))!'"

# ---- 5. the default period: yesterday --------------------------------------------------------
run yday -c "$tmp/c.conf"
expect_rc yday 0
[ "$(calls)" -eq 4 ] && ok || bad "yday: sendmail calls $(calls), 4 expected"
if grep -q '^To: y@y\.example$' "$tmp/sm/4.msg" 2>/dev/null; then ok; else bad "yday: the fourth message is not y.example's"; fi

# ---- 6. sendmail fails: exit 75, nothing marked ------------------------------------------------
touch "$tmp/sm-fail"
run smfail -c "$tmp/c.conf" --from "$D2" --domain f.example
expect_rc smfail 75
check "smfail: the reason on stderr" grep -q 'authmilter-report: domain=f.example report_id=[0-9a-f]* to="f@f.example" not sent: .*sendmail exited 75: fake sendmail: queue file write error' "$tmp/smfail.err"
rm -f "$tmp/sm-fail"
before=$(calls)
run smok -c "$tmp/c.conf" --from "$D2" --domain f.example
expect_rc smok 0
[ "$(calls)" -eq $((before + 1)) ] && ok || bad "smok: f.example not sent again after the failure (marked sent?)"

# ---- 7. the authorization lookup fails: exit 75, not sent ----------------------------------------
before=$(calls)
run tempdns -c "$tmp/c.conf" --from "$D2" --domain j.example
expect_rc tempdns 75
[ "$(calls)" -eq "$before" ] && ok || bad "tempdns: sent despite the DNS failure"
check "tempdns: the DNS failure on stderr" grep -q 'rua=j@ext.example not sent: DNS failure looking up j.example._report._dmarc.ext.example' "$tmp/tempdns.err"

# ---- 8. the SMTP relay -----------------------------------------------------------------------
mkdir "$tmp/sink"
"$PY" "$top_srcdir/t/reporter/smtpsink.py" --port 2525 --dir "$tmp/sink" \
    --ready "$tmp/sink.ready" --reject bad@i.example 2>"$tmp/sink.err" &
pids="$pids $!"
i=0
while [ ! -f "$tmp/sink.ready" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
[ -f "$tmp/sink.ready" ] || bad "smtpsink.py did not start: $(cat "$tmp/sink.err")"
conf "$tmp/relay.conf" 'relay = "127.0.0.1:2525";' 'submitter = "reports.mx.test";'
before=$(calls)
run relay -c "$tmp/relay.conf" --from "$D2" --domain h.example
expect_rc relay 0
[ "$(calls)" -eq "$before" ] && ok || bad "relay: sendmail was called"
if [ -f "$tmp/sink/msg-1.env" ] &&
    [ "$(cat "$tmp/sink/msg-1.env")" = "$(printf 'helo reports.mx.test\nfrom dmarc-reports@mx.test\nto h@h.example\nto h2@h.example')" ]; then
	ok
else
	bad "relay: the envelope: $(cat "$tmp/sink/msg-1.env" 2>/dev/null)"
fi
if [ -f "$tmp/sink/msg-1.eml" ] &&
    subject "$tmp/sink/msg-1.eml" | grep -qx 'Subject: Report Domain: h\.example Submitter: reports\.mx\.test Report-ID: [0-9a-f]\{32\}'; then
	ok
else
	bad "relay: no message with the RFC 9990 Subject arrived"
fi
# the attachment of what arrived: a gzip file of a valid report
if [ -f "$tmp/sink/msg-1.eml" ] && "$PY" - "$tmp/sink/msg-1.eml" "$tmp/relay.xml" <<'EOF'
import email, gzip, sys
msg = email.message_from_binary_file(open(sys.argv[1], "rb"))
parts = [p for p in msg.walk() if p.get_content_type() == "application/gzip"]
assert len(parts) == 1, "attachments: %d" % len(parts)
assert parts[0].get_filename().endswith(".xml.gz")
open(sys.argv[2], "wb").write(gzip.decompress(parts[0].get_payload(decode=True)))
EOF
then
	if xmllint --noout --schema "$schema" "$tmp/relay.xml" 2>/dev/null &&
	    grep -q '<source_ip>203.0.113.7</source_ip>' "$tmp/relay.xml"; then
		ok
	else
		bad "relay: the attachment does not validate or lacks its row"
	fi
else
	bad "relay: the attachment does not decode"
fi
run relay2 -c "$tmp/relay.conf" --from "$D2" --domain h.example
[ ! -f "$tmp/sink/msg-2.eml" ] && ok || bad "relay2: sent twice"
# a refused recipient: no DATA, exit 75, not marked
run refused -c "$tmp/relay.conf" --from "$D2" --domain i.example
expect_rc refused 75
check "refused: the 550 on stderr" grep -q 'not sent: relay 127.0.0.1:2525: RCPT TO:<bad@i.example>: 550 5.1.1' "$tmp/refused.err"
[ ! -f "$tmp/sink/msg-2.eml" ] && ok || bad "refused: a message went out although a recipient was refused"
n=$(grep -c '^C: DATA' "$tmp/sink/sink.log")
[ "$n" -eq 1 ] && ok || bad "refused: the sink saw $n DATA commands, 1 expected (h.example's)"
conf "$tmp/norelay.conf" 'relay = "127.0.0.1:2599";'
run norelay -c "$tmp/norelay.conf" --from "$D2" --domain i.example
expect_rc norelay 75
check "norelay: connect refused on stderr" grep -q 'relay 127.0.0.1:2599: connect: Connection refused' "$tmp/norelay.err"

# ---- 9. exit codes ------------------------------------------------------------------------
run u1 -c "$tmp/c.conf" --from 2026-02-30
expect_rc u1 64
run u2 -c "$tmp/c.conf" --dry-run
expect_rc u2 64
run u3 -c "$tmp/c.conf" --from "$D2" --to "$D1"
expect_rc u3 64
run u4 -c "$tmp/c.conf" --prune --domain a.example
expect_rc u4 64
run u5 -c "$tmp/c.conf" extra
expect_rc u5 64
run help --help
expect_rc help 0
check "help: usage on stdout" grep -q '^usage: authmilter-report' "$tmp/help.out"
{ echo 'reports = { enable = true; };'; } >"$tmp/noemail.conf"
run noemail -c "$tmp/noemail.conf"
expect_rc noemail 78
check "noemail: says so" grep -q 'reports.email is not set' "$tmp/noemail.err"
run noconf -c "$tmp/missing.conf"
expect_rc noconf 78
conf "$tmp/nostore.conf"
sed -i "s|sqlite:$store|sqlite:$tmp/no/such/dir/r.db|" "$tmp/nostore.conf"
run nostore -c "$tmp/nostore.conf"
expect_rc nostore 69
check "nostore: names the store" grep -q "authmilter-report: the store sqlite:$tmp/no/such/dir/r.db does not open" "$tmp/nostore.err"
sed 's/enable = true;/enable = false;/' "$tmp/c.conf" >"$tmp/off.conf"
before=$(calls)
run off -c "$tmp/off.conf" --from "$D2"
expect_rc off 0
[ "$(calls)" -eq "$before" ] && ok || bad "off: sent with reports.enable = false"

# ---- 10. --prune ---------------------------------------------------------------------------
conf "$tmp/prune.conf" 'keep_days = 2;'
run prune -c "$tmp/prune.conf" -v --prune
expect_rc prune 0
check "prune: rows deleted logged" grep -q 'prune: [1-9][0-9]* rows of days before' "$tmp/prune.err"
mkdir "$tmp/dry5"
run dry5 -c "$tmp/c.conf" --from "$D1" --to "$D2" --dry-run --dir "$tmp/dry5"
expect_rc dry5 0
[ ! -s "$tmp/dry5.out" ] && ok || bad "dry5: rows of D1 and D2 left after --prune: $(cat "$tmp/dry5.out")"
mkdir "$tmp/dry6"
run dry6 -c "$tmp/c.conf" --from "$YDAY" --dry-run --dir "$tmp/dry6"
check "dry6: yesterday's rows kept by --prune" grep -q '^y\.example: skipped: already sent' "$tmp/dry6.out"

echo "report-cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
