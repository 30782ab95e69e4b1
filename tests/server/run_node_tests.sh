#!/bin/sh
# Runs Node test files (node --test) from this directory (or $LFMD_NODE_DIR: tests/agents); exits
# 77 (ctest: skipped) when its openai package is not installed yet (bash tests/server/install.sh;
# npm ci in tests/agents). LFMD_BIN names the binary.
# usage: run_node_tests.sh FILE.test.mjs...
if [ -n "${LFMD_BIN:-}" ]; then
  LFMD_BIN=$(cd "$(dirname "$LFMD_BIN")" && pwd)/$(basename "$LFMD_BIN") && export LFMD_BIN
fi
cd "${LFMD_NODE_DIR:-$(dirname "$0")}" || exit 1
if [ ! -f node_modules/openai/package.json ]; then
  echo "SKIP: $(pwd)/node_modules/openai is missing: run bash tests/server/install.sh (npm ci in tests/agents)"
  exit 77
fi
case "$*" in *ollama*)
  if [ ! -f node_modules/ollama/package.json ]; then
    echo "SKIP: $(pwd)/node_modules/ollama is missing: run bash tests/server/install.sh"
    exit 77
  fi
esac
exec node --test --test-reporter=spec "$@"
