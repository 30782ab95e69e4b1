#!/bin/sh
# Runs chat_page.test.mjs (node --test); exits 77 (ctest: skipped) when puppeteer-core is not
# installed (bash tests/server/install.sh) or there is no chromium (bash scripts/install-deps.sh).
cd "$(dirname "$0")" || exit 1
if [ ! -f node_modules/puppeteer-core/package.json ]; then
  echo "SKIP: $(pwd)/node_modules/puppeteer-core is missing: run bash tests/server/install.sh"
  exit 77
fi
if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/lib/chromium/chromium ] && ! command -v chromium >/dev/null; then
  echo "SKIP: chromium is not installed: run bash scripts/install-deps.sh"
  exit 77
fi
exec node --test --test-reporter=spec chat_page.test.mjs
