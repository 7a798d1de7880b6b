#!/bin/sh
# Replay the fuzz corpora (with deterministic mutations) through every
# target; and every target has its corpus and a libFuzzer dictionary whose
# lines are comments or quoted tokens (make fuzz-long passes -dict=).
src=${top_srcdir:-.}
for f in "$src"/fuzz/fuzz-*.c; do
	t=$(basename "$f" .c)
	t=${t#fuzz-}
	if [ ! -d "$src/fuzz/corpus/$t" ]; then
		echo "fuzz-smoke: no corpus fuzz/corpus/$t" >&2
		exit 1
	fi
	if [ ! -s "$src/fuzz/$t.dict" ] ||
	    grep -v -E '^(#.*|"([^"\\]|\\\\|\\"|\\x[0-9A-Fa-f]{2})+")?$' \
	    "$src/fuzz/$t.dict" >&2; then
		echo "fuzz-smoke: fuzz/$t.dict missing or a line above is not a token" >&2
		exit 1
	fi
done
exec "${top_builddir:-.}/t/fuzz-smoke" "$src/fuzz/corpus" 300
