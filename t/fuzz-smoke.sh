#!/bin/sh
# Replay the fuzz corpora (with deterministic mutations) through every target.
exec "${top_builddir:-.}/t/fuzz-smoke" "${top_srcdir:-.}/fuzz/corpus" 300
