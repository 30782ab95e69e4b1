#!/bin/sh
# Runs Node test files (node --test) from this directory; exits 77 (ctest: skipped) when the
# packages are not installed (npm ci in tests/agents). LFMD_BIN names the binary.
# usage: run_node_tests.sh FILE.test.mjs...
if [ -n "${LFMD_BIN:-}" ]; then
  LFMD_BIN=$(cd "$(dirname "$LFMD_BIN")" && pwd)/$(basename "$LFMD_BIN") && export LFMD_BIN
fi
cd "$(dirname "$0")" || exit 1
if [ ! -f node_modules/openai/package.json ]; then
  echo "SKIP: tests/agents/node_modules is missing: run npm ci in tests/agents"
  exit 77
fi
exec node --test --test-reporter=spec "$@"
