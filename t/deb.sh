#!/bin/sh
# t/deb.sh - the Debian package builds from a copy of the tree and holds
# what it should: dpkg-buildpackage -us -uc -b in a scratch directory, then
# dpkg -x into a throwaway root and dpkg-deb -I for the control files.
# Checks: the binaries (authmilter, authmilter-report), the man pages,
# /etc/authmilter.conf marked as a conffile (and no .dist copy), the units
# with /usr/sbin and /etc paths (authmilter-report's timer enabled, its
# service not started by postinst), the sysusers.d and tmpfiles.d entries,
# the maintainer scripts that use them, and lintian without errors when
# lintian is installed.
#
# Root only (the build dependencies must be installed; contrib/deps.sh
# does it): "needs root" and skip (77) otherwise. It takes about 80 s on 2
# CPUs (a full package build); AUTHMILTER_TEST_DEB=0 skips it.
set -u
srcdir=${top_srcdir:-.}

if [ "${AUTHMILTER_TEST_DEB:-1}" = 0 ]; then
	echo "SKIP: AUTHMILTER_TEST_DEB=0"
	exit 77
fi
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root"
	exit 77
fi
for tool in dpkg-buildpackage dpkg-deb dh; do
	command -v $tool >/dev/null 2>&1 || {
		echo "FAIL: $tool missing (apt-get install dpkg-dev debhelper)"
		exit 1
	}
done

work=$(mktemp -d /tmp/authmilter-deb.XXXXXX) || exit 1
# AUTHMILTER_DEB_KEEP=1 keeps the scratch directory (the .deb, the logs)
if [ "${AUTHMILTER_DEB_KEEP:-0}" = 1 ]; then
	echo "keeping $work"
else
	trap 'rm -rf "$work"' EXIT INT TERM
fi
fail=0
bad() { echo "FAIL: $*"; fail=1; }
ok() { echo "ok: $*"; }

# ---- a copy of the tree: what git tracks (and new files not ignored) when
# the source directory is a git work tree's top, else the whole source
# directory (an unpacked tarball, as in make distcheck) --------------------
mkdir "$work/src"
top=$(git -C "$srcdir" rev-parse --show-toplevel 2>/dev/null)
if [ -n "$top" ] && [ "$top" = "$(cd "$srcdir" && pwd -P)" ]; then
	(cd "$srcdir" && git ls-files -z --cached --others --exclude-standard |
		tar cf - --null -T - --ignore-failed-read 2>/dev/null) |
		tar xf - -C "$work/src" || { echo "FAIL: copying the tree"; exit 1; }
else
	# (make distcheck builds in _build/ inside it)
	(cd "$srcdir" && tar cf - --exclude=./_build --exclude=./debian/authmilter \
		--exclude=./debian/.debhelper .) |
		tar xf - -C "$work/src" || { echo "FAIL: copying the tree"; exit 1; }
fi
chmod -R u+w "$work/src" # distcheck's source tree is read-only
[ -f "$work/src/debian/control" ] || { echo "FAIL: no debian/ in the copy"; exit 1; }

# ---- build ------------------------------------------------------------------
start=$(date +%s)
(cd "$work/src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
	dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
if [ $rc -ne 0 ]; then
	tail -40 "$work/build.log"
	echo "FAIL: dpkg-buildpackage exit $rc"
	exit 1
fi
deb=$(ls "$work"/authmilter_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "FAIL: no .deb built"; exit 1; }
ok "dpkg-buildpackage -us -uc -b built $(basename "$deb") in ${took}s"

# ---- contents -----------------------------------------------------------------
root=$work/root
dpkg -x "$deb" "$root" || { echo "FAIL: dpkg -x"; exit 1; }
for f in usr/sbin/authmilter etc/authmilter.conf \
	usr/share/man/man8/authmilter.8.gz usr/share/man/man5/authmilter.conf.5.gz \
	lib/systemd/system/authmilter.service \
	usr/sbin/authmilter-report usr/share/man/man8/authmilter-report.8.gz \
	lib/systemd/system/authmilter-report.service \
	lib/systemd/system/authmilter-report.timer \
	usr/lib/sysusers.d/authmilter.conf usr/lib/tmpfiles.d/authmilter.conf \
	usr/share/doc/authmilter/copyright; do
	[ -f "$root/$f" ] && ok "/$f" || bad "/$f missing"
done
[ -x "$root/usr/sbin/authmilter" ] || bad "/usr/sbin/authmilter not executable"
[ ! -e "$root/etc/authmilter.conf.dist" ] || bad "/etc/authmilter.conf.dist shipped next to the conffile"
cmp -s "$root/etc/authmilter.conf" "$srcdir/conf/authmilter.conf" ||
	bad "/etc/authmilter.conf differs from conf/authmilter.conf"
"$root/usr/sbin/authmilter" -V | grep -q '^authmilter ' || bad "authmilter -V"
"$root/usr/sbin/authmilter" -n -c "$root/etc/authmilter.conf" >/dev/null ||
	bad "authmilter -n rejects the shipped configuration"

unit=$root/lib/systemd/system/authmilter.service
grep -qx 'ExecStart=/usr/sbin/authmilter -f -c /etc/authmilter.conf' "$unit" ||
	bad "the unit's ExecStart does not name /usr/sbin and /etc/authmilter.conf"
grep -q '@[a-zA-Z_]*@' "$unit" && bad "the unit has unsubstituted @...@"
grep -qx 'ExecStart=/usr/sbin/authmilter-report -c /etc/authmilter.conf' \
    "$root/lib/systemd/system/authmilter-report.service" ||
	bad "authmilter-report.service's ExecStart does not name /usr/sbin and /etc"
"$root/usr/sbin/authmilter-report" -V | grep -q '^authmilter-report ' ||
	bad "authmilter-report -V"
grep -q '^d /var/lib/authmilter .* authmilter authmilter' \
	"$root/usr/lib/tmpfiles.d/authmilter.conf" || bad "tmpfiles.d: no /var/lib/authmilter"
grep -q '^u authmilter ' "$root/usr/lib/sysusers.d/authmilter.conf" || bad "sysusers.d: no user authmilter"
grep -q '^d /var/spool/postfix/authmilter .* authmilter postfix' \
	"$root/usr/lib/tmpfiles.d/authmilter.conf" || bad "tmpfiles.d: no /var/spool/postfix/authmilter"
zcat "$root/usr/share/man/man8/authmilter.8.gz" | grep -q '/etc/authmilter.conf' ||
	bad "authmilter(8) does not name /etc/authmilter.conf"

# ---- control: conffile marking, maintainer scripts --------------------------
ctl=$work/control
mkdir "$ctl" && dpkg-deb -e "$deb" "$ctl" || { echo "FAIL: dpkg-deb -e"; exit 1; }
if grep -qx '/etc/authmilter.conf' "$ctl/conffiles" 2>/dev/null; then
	ok "/etc/authmilter.conf is a conffile"
else
	bad "/etc/authmilter.conf is not listed in conffiles"
fi
grep -q 'systemd-sysusers.*authmilter.conf' "$ctl/postinst" 2>/dev/null ||
	bad "postinst does not run systemd-sysusers"
grep -q 'systemd-tmpfiles.*authmilter.conf' "$ctl/postinst" 2>/dev/null ||
	bad "postinst does not run systemd-tmpfiles"
grep -q 'deb-systemd-helper.*authmilter.service' "$ctl/postinst" 2>/dev/null ||
	bad "postinst does not enable authmilter.service"
grep -q 'deb-systemd-helper.*authmilter-report.timer' "$ctl/postinst" 2>/dev/null ||
	bad "postinst does not enable authmilter-report.timer"
grep -q 'deb-systemd-invoke.*authmilter-report.service' "$ctl/postinst" 2>/dev/null &&
	bad "postinst starts authmilter-report.service itself"
[ $fail -eq 0 ] && ok "maintainer scripts: sysusers, tmpfiles, unit enabled"

# ---- lintian: no errors -------------------------------------------------------
if command -v lintian >/dev/null 2>&1; then
	changes=$(ls "$work"/authmilter_*.changes | head -1)
	lintian --tag-display-limit 0 "$changes" >"$work/lintian.log" 2>&1
	cat "$work/lintian.log"
	if grep -q '^E: ' "$work/lintian.log"; then
		bad "lintian reports errors"
	else
		ok "lintian: no errors ($(grep -c '^W: ' "$work/lintian.log") warnings)"
	fi
else
	echo "note: lintian not installed, not run"
fi

[ $fail -eq 0 ] && echo "deb: package built and checked"
exit $fail
