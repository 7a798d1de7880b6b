#!/bin/sh
# srcguard.sh - placeholder until the source guard lands (issue 11)
exit 0
