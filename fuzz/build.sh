#!/bin/sh
# fuzz/build.sh - build libFuzzer binaries of the fuzz targets (make fuzz).
#
# usage: build.sh SRCDIR OUTDIR TARGET...
# environment (make fuzz sets them from configure):
#   FUZZ_CC     clang (14 or later, with libclang-rt-dev)
#   FUZZ_CFLAGS -g -O1 ... and the sanitizers
#   FUZZ_CPPFLAGS  include paths of config.h, of every layer of lib/ and
#               of the libraries
#   FUZZ_SYSCONFDIR  what lib/ is configured with
#   FUZZ_LIBS   the libraries lib/ links against
#   FUZZ_JOBS   parallel compilations (default 2)
#
# Run from the top build directory (config.h). The library sources
# (SRCDIR/lib/LAYER/FILE.c) are compiled once into OUTDIR/lib/LAYER-FILE.o
# with -fsanitize=fuzzer-no-link and the sanitizers, and recompiled when a
# file of lib/ or config.h is newer than the object; an object whose source
# is gone (an older layout of lib/) is removed. Each OUTDIR/fuzz-TARGET
# links fuzz/fuzz-TARGET.c against them with -fsanitize=fuzzer.
set -e

srcdir=$1
out=$2
shift 2
cc=${FUZZ_CC:-clang}
cflags=${FUZZ_CFLAGS:--g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined}
jobs=${FUZZ_JOBS:-2}

if ! "$cc" --version >/dev/null 2>&1; then
	echo "fuzz: $cc not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
	exit 1
fi
mkdir -p "$out/lib"
# the build output is never committed
[ -f "$out/.gitignore" ] || echo '*' >"$out/.gitignore"

# objects of sources that are gone would be linked in too
for o in "$out"/lib/*.o; do
	[ -f "$o" ] || continue
	b=$(basename "$o" .o)
	[ -f "$srcdir/lib/${b%%-*}/${b#*-}.c" ] || rm -f "$o"
done
confh=
[ -f config.h ] && confh=config.h
newest=$(ls -t "$srcdir"/lib/*/*.c "$srcdir"/lib/*/*.h ${confh:+"$confh"} |
    head -n 1)
export cc cflags out
export FUZZ_CPPFLAGS
FUZZ_SYSCONFDIR=${FUZZ_SYSCONFDIR:-/usr/local/etc}
export FUZZ_SYSCONFDIR
# one compilation per line of input: the source file
ls "$srcdir"/lib/*/*.c | NEWEST=$newest xargs -P "$jobs" -n 1 sh -c '
	o="$out/lib/$(basename "$(dirname "$1")")-$(basename "$1" .c).o"
	if [ "$o" -nt "$1" ] && [ "$o" -nt "$NEWEST" ]; then
		exit 0
	fi
	echo "  CC       $o"
	exec $cc $cflags -fsanitize=fuzzer-no-link \
	    -DSYSCONFDIR="\"$FUZZ_SYSCONFDIR\"" $FUZZ_CPPFLAGS -c "$1" -o "$o"
' sh

for t in "$@"; do
	src="$srcdir/fuzz/fuzz-$t.c"
	bin="$out/fuzz-$t"
	if [ ! -f "$src" ]; then
		echo "fuzz: no $src" >&2
		exit 1
	fi
	if [ -x "$bin" ] && [ "$bin" -nt "$src" ] &&
	    [ -z "$(find "$out/lib" -name '*.o' -newer "$bin")" ]; then
		continue
	fi
	echo "  CCLD     $bin"
	# shellcheck disable=SC2086
	$cc $cflags -fsanitize=fuzzer $FUZZ_CPPFLAGS "$src" \
	    "$out"/lib/*.o \
	    $FUZZ_LIBS -o "$bin"
done
