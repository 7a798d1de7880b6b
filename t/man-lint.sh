#!/bin/sh
# t/man-lint.sh - the man pages lint clean and cannot drift from the code:
#   1. mandoc -T lint -W warning (or, without mandoc, groff -ww -z) says
#      nothing about doc/authmilter.8 and doc/authmilter.conf.5;
#   2. every setting of lib/settings/settings.c's tables appears in authmilter.conf(5)
#      as an entry (.It Ic group.name) whose text names its default;
#   3. every option that `authmilter -h` prints appears in authmilter(8),
#      and every one `authmilter-report -h` prints in authmilter-report(8).
# The pages are the ones make generated in the build tree (paths filled in).
set -u
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
man8=$builddir/doc/authmilter.8
man5=$builddir/doc/authmilter.conf.5
man8r=$builddir/doc/authmilter-report.8
fail=0
bad() { echo "FAIL: $*"; fail=1; }

for f in "$man8" "$man5" "$man8r"; do
	[ -f "$f" ] || { echo "FAIL: $f missing (run make)"; exit 1; }
done

# ---- 1. lint ----------------------------------------------------------------
if command -v mandoc >/dev/null 2>&1; then
	linter="mandoc -T lint -W warning"
	out=$(mandoc -T lint -W warning "$man8" "$man5" "$man8r" 2>&1)
	rc=$?
	# mandoc also notes an outdated mandoc.db; that is about this host
	out=$(printf '%s\n' "$out" | grep -v 'mandoc\.db' | grep -v '^$')
elif command -v groff >/dev/null 2>&1; then
	linter="groff -ww -z"
	out=$(groff -ww -z -mandoc "$man8" "$man5" "$man8r" 2>&1)
	rc=$?
else
	echo "FAIL: neither mandoc nor groff is installed (contrib/deps.sh installs mandoc)"
	exit 1
fi
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
	bad "$linter: exit $rc"
	printf '%s\n' "$out"
else
	echo "ok: $linter clean on authmilter.8, authmilter.conf.5 and authmilter-report.8"
fi

# ---- 2. settings ----------------------------------------------------------
# name<TAB>default for every row: group rows give their table's rows a prefix
settings=$(awk '
	/^static const struct setting [a-z_]+\[\] = \{/ {
		t = $5; sub(/\[\]$/, "", t); intable = 1; next
	}
	intable && /^};/ { intable = 0; next }
	intable && /\.name = "/ {
		line = $0
		n = line; sub(/.*\.name = "/, "", n); sub(/".*/, "", n)
		if (line ~ /\.group = [a-z_]+/) {
			g = line; sub(/.*\.group = /, "", g); sub(/[^a-z_].*/, "", g)
			group[g] = n; parent[g] = t; next
		}
		d = "-"
		if (line ~ /\.def = "/) { d = line; sub(/.*\.def = "/, "", d); sub(/".*/, "", d) }
		else if (line ~ /\.def = STRINGIFY\([A-Z_]+\)/) { d = line; sub(/.*\.def = STRINGIFY\(/, "", d); sub(/\).*/, "", d); d = "=" d }
		else if (line ~ /\.def = [A-Z_]+/) { d = line; sub(/.*\.def = /, "", d); sub(/[^A-Z_].*/, "", d); if (d == "NULL") d = "-" }
		row[++nrows] = t "\t" n "\t" d
	}
	END {
		for (i = 1; i <= nrows; i++) {
			split(row[i], f, "\t")
			# a group inside a group (arc.seal): the names of all its parents
			name = f[2]
			for (g = f[1]; g in group; g = parent[g])
				name = group[g] "." name
			print name "\t" f[3]
		}
	}' "$srcdir/lib/settings/settings.c")
nsettings=$(printf '%s\n' "$settings" | grep -c .)
if [ "$nsettings" -lt 20 ]; then
	bad "found only $nsettings settings in lib/settings/settings.c: has the table format changed?"
fi
psl=$(sed -n 's/^PSL_PATH = //p' "$builddir/Makefile" 2>/dev/null)
tab=$(printf '\t')
nok=0
while IFS="$tab" read -r name def; do
	[ -n "$name" ] || continue
	# the entry: from its .It line to the next .It, .El or .Sh
	entry=$(awk -v n="$name" '
		$1 == ".It" && $2 == "Ic" && $3 == n { on = 1; print; next }
		on && ($1 == ".It" || $1 == ".El" || $1 == ".Sh" || $1 == ".Ss") { exit }
		on { print }' "$man5")
	if [ -z "$entry" ]; then
		bad "authmilter.conf(5) has no entry for the setting $name (.It Ic $name)"
		continue
	fi
	case $def in
	-) want="Default:" ;;                 # NULL: the text says what unset means
	1) want="Default: true" ;;           # booleans (K_BOOL rows)
	0) want="Default: false" ;;
	PSL_PATH) want=${psl:-/} ;;
	=*)	# STRINGIFY(NAME): the value of NAME's #define in a lib/ header
		want=$(sed -n "s/^#define ${def#=}[[:space:]]*\([^[:space:]/]*\).*/\1/p" \
		    "$srcdir"/lib/*/*.h | head -1)
		if [ -z "$want" ]; then
			bad "the default ${def#=} of $name is #defined in no lib/ header"
			continue
		fi ;;
	*) want=$def ;;
	esac
	missing=""
	if [ "$def" = "127.0.0.0/8 ::1/128" ]; then
		for w in 127.0.0.0/8 ::1/128; do
			printf '%s\n' "$entry" | grep -qF -- "$w" || missing="$missing $w"
		done
	else
		printf '%s\n' "$entry" | grep -qF -- "$want" || missing=" $want"
	fi
	printf '%s\n' "$entry" | grep -qF "Default" || missing="$missing Default"
	if [ -n "$missing" ]; then
		bad "authmilter.conf(5), $name: the default is not stated (wanted:$missing)"
	else
		nok=$((nok + 1))
	fi
done <<EOF
$settings
EOF
echo "ok: $nok of $nsettings settings of lib/settings/settings.c documented with their default"

# ---- 3. options -------------------------------------------------------------
# options PROGRAM PAGE MIN: every option PROGRAM -h prints is in PAGE
options() {
	bin=$builddir/$1
	if [ ! -x "$bin" ]; then
		bad "$bin not built"
		return
	fi
	usage=$("$bin" -h 2>&1)
	opts=$(printf '%s\n' "$usage" | grep -oE '(^|[[:space:][])--?[A-Za-z][A-Za-z-]*' |
		sed 's/^[[:space:][]*//' | sort -u)
	# rendered text, so that .Fl c and .Fl \-client-ip both count
	text=$(mandoc -T ascii "$2" 2>/dev/null | col -bx 2>/dev/null ||
		groff -T ascii -mandoc -rHY=0 "$2" 2>/dev/null | col -bx)
	nopt=0
	for o in $opts $( [ -n "$opts" ] && echo -h --help); do
		if printf '%s\n' "$text" | grep -qE -- "(^|[^A-Za-z-])$o([^A-Za-z-]|\$)"; then
			nopt=$((nopt + 1))
		else
			bad "$(basename "$2") does not mention the option $o of $1 -h"
		fi
	done
	[ "$nopt" -ge "$3" ] || bad "only $nopt options found in $1 -h"
	echo "ok: $nopt options of $1 -h described in $(basename "$2")"
}
options authmilter "$man8" 10
options authmilter-report "$man8r" 10

[ "$fail" -eq 0 ] && echo "man-lint: 3/3 checks passed"
exit $fail
