#!/usr/bin/env bash
# Runs a command with a temporary directory of its own, removed when the command ends, pass or fail.
# Why: chromedriver leaves each session's Chromium profile behind (org.chromium.Chromium.scoped_dir.*,
# about 40 MB), one per test binary and browser run, 40-90 a `make test`; over a day of runs they filled
# the machine's disk (18 GB in /tmp on 2026-12-02) and a CI run stopped on "No space left on device".
set -euo pipefail
dir=$(mktemp -d "${TMPDIR:-/tmp}/bitnet-web-test.XXXXXX")
trap 'rm -rf "$dir"' EXIT
TMPDIR="$dir" "$@"
