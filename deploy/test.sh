#!/usr/bin/env bash
# npm test: brings up (or installs) the services, typechecks, then runs the test files one at a time against
# the real servers. With arguments, runs only those test files: npm test -- test/e2e.test.ts
set -euo pipefail
ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT_DIR"

[[ -x node_modules/.bin/tsc ]] || { echo "weft: node_modules missing: run npm ci first" >&2; exit 1; }
files=("$@")
if ((${#files[@]} == 0)); then
  # Node 20's runner takes no globs, and a folder may have no tests yet.
  shopt -s nullglob
  files=(test/unit/*.test.ts test/*.test.ts test/hostile/*.test.ts test/console/*.test.ts)
  shopt -u nullglob
fi
((${#files[@]})) || { echo "weft: no test files found under test/" >&2; exit 1; }

# One file at a time: each starts its own nats-server and containers, and the machine has two cores.
# shellcheck disable=SC2016 # $@ is expanded by the inner shell
exec bash deploy/with-services.sh --for-tests --quiet -- bash -c 'set -e
  echo "weft: typecheck" >&2
  node_modules/.bin/tsc --noEmit -p .
  node_modules/.bin/tsc --noEmit -p clients/console
  # The browser tests drive the built console: build it now if its sources changed (a few seconds).
  for f in "$@"; do
    if [[ $f == test/console/* ]]; then node --import tsx clients/console/build.ts; break; fi
  done
  # A test that hangs (say, on a server a failed test left stopped) fails after 20 min instead of holding the run.
  exec node --import tsx --test --test-concurrency=1 --test-timeout=1200000 --test-reporter=tap --test-reporter-destination=stdout \
    --test-reporter=./test/harness/failures-reporter.mjs --test-reporter-destination=stdout "$@"' weft-test "${files[@]}"
