#!/usr/bin/env bash
# Installs the pinned `openai` npm package for the Node tests (tests/server/node_modules) and the
# Node example (examples/node_modules) from their package-lock.json files. Idempotent: a tree
# that already has the locked version is left alone. Needs node >= 20 and npm (registry access).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
command -v npm >/dev/null || { echo "install.sh: npm not found (install Node.js 20+)" >&2; exit 1; }
for dir in "$root/tests/server" "$root/examples"; do
  want=$(node -p "require('$dir/package-lock.json').packages['node_modules/openai'].version")
  have=$(node -p "try { require('$dir/node_modules/openai/package.json').version } catch { '' }")
  if [[ $have == "$want" ]]; then
    echo "install.sh: $dir: openai $have already installed"
    continue
  fi
  echo "install.sh: $dir: npm ci (openai $want)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done
