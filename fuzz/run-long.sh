#!/bin/sh
# fuzz/run-long.sh - run each libFuzzer binary for a while (make fuzz-long).
#
# usage: run-long.sh SRCDIR OUTDIR MINUTES JOBS TARGET...
# (FUZZ_SECONDS in the environment, when set, replaces MINUTES: a quick try)
#
# Each OUTDIR/fuzz-TARGET runs for MINUTES under timeout(1), JOBS targets
# at a time, on two corpus directories: OUTDIR/corpus/TARGET (new entries
# go there; it is kept between runs) and SRCDIR/fuzz/corpus/TARGET (the
# committed seeds, read only), with SRCDIR/fuzz/TARGET.dict. libFuzzer
# runs in fork mode with crashes, timeouts and out-of-memory ignored, so a
# finding does not end the run: every finding is a file in
# OUTDIR/findings/TARGET/ (crash-*, leak-*, timeout-*, oom-*; FILE.txt is
# what replaying it once printed), and the log is OUTDIR/log/TARGET.log.
# At the end one line per target: executions, seconds, corpus entries
# added, coverage (edges) and findings. The exit status is 1 when anything
# was found.
set -e

srcdir=$1
out=$2
minutes=$3
jobs=$4
shift 4

if [ "$1" = --one ]; then
	t=$2
	secs=${FUZZ_SECONDS:-$((minutes * 60))}
	corpus="$out/corpus/$t"
	found="$out/findings/$t"
	mkdir -p "$corpus" "$found" "$out/log"
	before=$(find "$corpus" -type f | wc -l)
	start=$(date +%s)
	# the grace period lets libFuzzer end its last job and report
	timeout -k 10 $((secs + 120)) "$out/fuzz-$t" -fork=1 \
	    -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
	    -timeout=30 -rss_limit_mb=4096 -max_total_time="$secs" \
	    -dict="$srcdir/fuzz/$t.dict" -artifact_prefix="$found/" \
	    "$corpus" "$srcdir/fuzz/corpus/$t" >"$out/log/$t.log" 2>&1 || :
	end=$(date +%s)
	after=$(find "$corpus" -type f | wc -l)
	# fork mode's status lines: "#RUNS: cov: N ft: N corp: N exec/s N ..."
	last=$(grep -E '^#[0-9]+: cov:' "$out/log/$t.log" | tail -n 1)
	execs=$(echo "$last" | sed -E 's/^#([0-9]+):.*/\1/')
	cov=$(echo "$last" | sed -E 's/.* cov: ([0-9]+).*/\1/')
	# fork mode keeps only the first line of a crash report: replay each
	# finding once for its stack (a finding that depends on what ran
	# before it may not crash again)
	for f in "$found"/*; do
		case $f in *.txt | "$found/*") continue ;; esac
		[ -f "$f.txt" ] || timeout 60 "$out/fuzz-$t" "$f" >"$f.txt" 2>&1 || :
	done
	nfound=$(find "$found" -type f ! -name '*.txt' | wc -l)
	printf '%s %s %s %s %s %s\n' "$t" "${execs:-0}" $((end - start)) \
	    $((after - before)) "${cov:-0}" "$nfound" >"$out/log/$t.summary"
	exit 0
fi

for t in "$@"; do
	if [ ! -x "$out/fuzz-$t" ]; then
		echo "fuzz-long: no $out/fuzz-$t (make fuzz)" >&2
		exit 1
	fi
	rm -f "$out/log/$t.summary"
done
each="$minutes min"
[ -z "${FUZZ_SECONDS:-}" ] || each="$FUZZ_SECONDS s"
echo "fuzz-long: $# targets, $each each, $jobs at a time; logs in $out/log"
printf '%s\n' "$@" | xargs -P "$jobs" -n 1 \
    sh "$0" "$srcdir" "$out" "$minutes" "$jobs" --one

status=0
printf '%-14s %12s %8s %8s %8s %8s\n' target executions seconds "+corpus" \
    edges findings
for t in "$@"; do
	if [ ! -f "$out/log/$t.summary" ]; then
		printf '%-14s did not report (see %s/log/%s.log)\n' "$t" "$out" "$t"
		status=1
		continue
	fi
	# shellcheck disable=SC2046
	set -- $(cat "$out/log/$t.summary")
	printf '%-14s %12s %8s %8s %8s %8s\n' "$1" "$2" "$3" "$4" "$5" "$6"
	[ "$6" -eq 0 ] || status=1
	if [ "$6" -gt 0 ]; then
		find "$out/findings/$t" -type f ! -name '*.txt' | sed 's/^/    /'
	fi
done
exit $status
