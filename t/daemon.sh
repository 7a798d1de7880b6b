#!/bin/sh
# The daemon as a process (t/daemon.py): needs python3.
command -v python3 >/dev/null 2>&1 || { echo "daemon: FAIL: no python3"; exit 1; }
exec python3 "${top_srcdir:-.}/t/daemon.py"
