#!/bin/sh
# t/reports-faults.sh - the report store failing under the milter: a
# database that is not there, a full disk, kill -9 of the daemon, a
# PostgreSQL restart. Mail always flows, promptly; what is lost is
# counted. See t/reports.sh and t/reports/faults.py.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
export top_srcdir
exec sh "$top_srcdir/t/reports.sh" faults "$@"
