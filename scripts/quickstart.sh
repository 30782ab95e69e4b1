#!/usr/bin/env bash
# Installs the packages, builds lfmd and starts the OpenAI-compatible server on the built-in demo
# model (random weights). Try: curl localhost:8080/v1/chat/completions -d '{"messages":[{"role":"user","content":"hi"}]}'
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLFMD_BUILD_TESTS=OFF >/dev/null
cmake --build build --target lfmd
exec ./build/lfmd serve "$@"
