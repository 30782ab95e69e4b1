#!/usr/bin/env bash
# Installs the pinned `openai` and `ollama` npm packages for the Node tests (tests/server/node_modules), the
# Node example (examples/node_modules), puppeteer-core for the chat page test (tests/webui) and the
# agent-protocol clients (tests/agents) from their package-lock.json files. Idempotent: a tree
# that already has the locked version is left alone. Needs node >= 20 and npm (registry access).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
command -v npm >/dev/null || { echo "install.sh: npm not found (install Node.js 20+)" >&2; exit 1; }
# One install at a time: .ci/run starts one in the background while the trees build, and
# scripts/test.sh calls this again before the tests (it then waits for that one to finish).
exec 9>"$root/tests/server/.install.lock"
flock 9
# tests/server also has the ollama client. A tree is current when every locked package of its
# package.json has the locked version.
for dir in "$root/tests/server" "$root/examples"; do
  stale=$(node -e "
    const lock = require('$dir/package-lock.json');
    const deps = Object.keys(require('$dir/package.json').dependencies || {});
    const bad = deps.filter((d) => {
      try { return require('$dir/node_modules/' + d + '/package.json').version !== lock.packages['node_modules/' + d].version; }
      catch { return true; }
    });
    console.log(bad.join(' '));")
  if [[ -z $stale ]]; then
    echo "install.sh: $dir: already installed"
    continue
  fi
  echo "install.sh: $dir: npm ci ($stale)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done
# The chat page test (tests/webui): puppeteer-core, driving Debian's chromium (no browser download).
webui="$root/tests/webui"
want=$(node -p "require('$webui/package-lock.json').packages['node_modules/puppeteer-core'].version")
have=$(node -p "try { require('$webui/node_modules/puppeteer-core/package.json').version } catch { '' }")
if [[ $have == "$want" ]]; then
  echo "install.sh: $webui: puppeteer-core $have already installed"
else
  echo "install.sh: $webui: npm ci (puppeteer-core $want)"
  (cd "$webui" && npm ci --no-audit --no-fund --loglevel=error --ignore-scripts)
fi
# The agent-protocol clients (tests/agents): openai, @openai/agents, ai + @ai-sdk/openai, zod,
# @anthropic-ai/sdk, and the coding agents @openai/codex and @anthropic-ai/claude-code, pinned.
agents="$root/tests/agents"
if [[ -f $agents/package-lock.json ]]; then
  if (cd "$agents" && npm ls --depth=0 >/dev/null 2>&1); then
    echo "install.sh: $agents: already installed"
  else
    echo "install.sh: $agents: npm ci"
    (cd "$agents" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
