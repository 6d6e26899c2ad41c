#!/usr/bin/env bash
# Runs a command and says how long it took: `make test` prints one line per phase, so a CI log shows
# where its minutes went (issue 29's 40-minute budget is kept by reading these lines).
set -uo pipefail
start=$(date +%s)
"$@"
rc=$?
cmd="$*"
echo "== phase ($(( $(date +%s) - start )) s, exit $rc): ${cmd:0:140}"
exit $rc
