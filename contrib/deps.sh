#!/bin/sh
# Install what authmilter needs to build and test on Debian 12 (as root).
# Postfix is preseeded to "No configuration" so the system instance does not
# start: the tests run a private one on loopback. mandoc lints the man pages
# (t/man-lint.sh); debhelper, dpkg-dev, fakeroot and lintian build and check
# the Debian package (t/deb.sh). python3-dkim (with python3-authres, which
# its arc_sign needs) is the second DKIM and ARC implementation of the suites.
# zlib1g-dev: the gzip files of DMARC aggregate reports; libxml2-utils:
# xmllint, which validates them against RFC 9990's schema (t/report-schema.sh).
# libsqlite3-dev, libpq-dev: the report store; postgresql-15 is the real
# server of t/report-pg.sh (initdb into a temporary directory as an
# unprivileged user): no cluster of its own is created or started here.
set -e
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
# postgresql-common would create and start a cluster "main" on port 5432
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/authmilter-test.conf
apt-get install -y -qq --no-install-recommends \
	build-essential autoconf automake pkg-config \
	libmilter-dev libspf2-dev libopendkim-dev libopendmarc-dev \
	libconfig-dev libunbound-dev libevent-dev libssl-dev libmicrohttpd-dev \
	zlib1g-dev libxml2-utils \
	libsqlite3-dev libpq-dev postgresql-15 \
	publicsuffix curl \
	postfix nsd python3 python3-yaml python3-dnslib python3-dkim python3-authres python3-cryptography \
	libsasl2-modules sasl2-bin \
	iproute2 util-linux procps ca-certificates \
	mandoc debhelper dpkg-dev fakeroot lintian >/dev/null
# Sendmail 8.17 for t/recipes.sh: it cannot be installed beside Postfix, so
# its packages are kept here and unpacked by the test (which never
# downloads; it fails and names this script when they are missing)
debs=/var/cache/authmilter-test/debs
mkdir -p "$debs"
rm -f "$debs"/*.deb
(cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root \
	sendmail-bin sendmail-base sendmail-cf libwrap0 >/dev/null)
# promtool (t/e2e lints the metrics endpoint's output with it) from
# Debian's prometheus package, unpacked by the test: installing the
# package would start a Prometheus server
(cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root \
	prometheus >/dev/null)
