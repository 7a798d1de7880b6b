#!/bin/sh
# report-schema.sh - DMARC aggregate reports written by lib/report
# (t/test-report --write-sample) validated with xmllint against RFC 9990's
# XML schema (t/data/rfc9990, see its README): a pass, a reject, the null
# reverse-path with its HELO result, several DKIM signatures, IPv6
# sources, a quarantine by testing mode, PSL and tree-walk discovery,
# override reasons, and text that needs escaping. Each .xml.gz must
# inflate to its .xml, and each message must carry the file name and
# the Subject of RFC 9990. A missing xmllint or schema fails the test.
srcdir=${top_srcdir:-$(dirname "$0")/..}
builddir=${top_builddir:-.}
schema=$srcdir/t/data/rfc9990/dmarc-2.0.xsd
pass=0
fail=0
say_fail() { echo "FAIL: $*" >&2; fail=$((fail + 1)); }

if ! command -v xmllint >/dev/null 2>&1; then
	echo "report-schema: FAIL: no xmllint (Debian: libxml2-utils; contrib/deps.sh)" >&2
	echo "report-schema: 0 passed, 1 failed"
	exit 1
fi
if [ ! -s "$schema" ]; then
	echo "report-schema: FAIL: no schema $schema" >&2
	echo "report-schema: 0 passed, 1 failed"
	exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/report-schema.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# the schema itself compiles (xmllint refuses a schema it cannot)
if xmllint --noout "$schema" 2>"$tmp/err"; then
	pass=$((pass + 1))
else
	say_fail "schema is not well-formed: $(cat "$tmp/err")"
fi
if ! "$builddir/t/test-report" --write-sample "$tmp/out"; then
	say_fail "t/test-report --write-sample"
fi
n=0
for x in "$tmp"/out/*.xml; do
	[ -f "$x" ] || continue
	n=$((n + 1))
	name=$(basename "$x" .xml)
	if xmllint --noout --schema "$schema" "$x" 2>"$tmp/err"; then
		pass=$((pass + 1))
	else
		say_fail "$name.xml does not validate: $(cat "$tmp/err")"
	fi
	if gzip -dc "$x.gz" | cmp -s - "$x"; then
		pass=$((pass + 1))
	else
		say_fail "$name.xml.gz does not inflate to $name.xml"
	fi
	eml=$tmp/out/$name.eml
	if grep -q '^Subject: Report Domain: ' "$eml" &&
	    grep -q 'filename="mx\.example\.net![^!]*![0-9]*![0-9]*![0-9a-f]\{32\}\.xml\.gz"' "$eml"; then
		pass=$((pass + 1))
	else
		say_fail "$name.eml lacks the RFC 9990 Subject or file name"
	fi
done
# the samples cover what the header says: 4 reports
if [ "$n" -eq 4 ]; then
	pass=$((pass + 1))
else
	say_fail "$n sample reports written, 4 expected"
fi
# and a report the schema must refuse is refused (the check has teeth)
if [ -f "$tmp/out/escaping.xml" ]; then
	sed 's|<disposition>pass</disposition>|<disposition>maybe</disposition>|' \
	    "$tmp/out/escaping.xml" >"$tmp/bad.xml"
	if xmllint --noout --schema "$schema" "$tmp/bad.xml" 2>/dev/null; then
		say_fail "a report with disposition 'maybe' validated"
	else
		pass=$((pass + 1))
	fi
fi
echo "report-schema: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
