#!/bin/sh
# t/reports-pg.sh - DMARC aggregate reports in PostgreSQL: two authmilter
# daemons write into one database (a throwaway cluster of t/pgtmp.sh) at
# once, and one authmilter-report run covers both. See t/reports.sh and
# t/reports/pg.py.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
export top_srcdir
exec sh "$top_srcdir/t/reports.sh" pg "$@"
