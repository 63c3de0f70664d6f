#!/usr/bin/env bash
# Records the replay suite from the code as committed: runs the workflow and real-stack tests once, saving every
# workflow run's history, and keeps one history per distinct command sequence of each workflow type in
# test/replay/<commit>/ (the unit tests replay every folder there against the current workflows).
#   scripts/record-histories.sh [name]   folder name (default: the short commit id)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "$(git status --porcelain -- workflows domain worker)" ]; then
  echo "record-histories: workflows/, domain/ or worker/ has uncommitted changes; record from a commit" >&2
  exit 1
fi
name="${1:-$(git rev-parse --short HEAD)}"
raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT
bash scripts/bootstrap.sh
npm run --silent build
if ! PGWARDEN_RECORD_HISTORIES="$raw" node dist/test/harness/run-suite.js dist/test/workflows/*.test.js dist/test/integration/*.test.js > "$raw/tests.log" 2>&1; then
  echo "record-histories: some tests failed (see below); the histories of their runs are kept all the same" >&2
  grep -E '^not ok|^# (pass|fail)' "$raw/tests.log" >&2 || true
fi
node dist/test/replay/select.js "$raw" "test/replay/$name"
echo "record-histories: test/replay/$name written; commit it beside the change it records"
