#!/usr/bin/env bash
# Installs what lfmd needs on Debian 12 (as root or with sudo). With --oracle also the test-only
# llama.cpp oracle from npm (tests/oracle/install.sh). Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pkgs=(g++ cmake ninja-build pkg-config git libpcre2-dev nlohmann-json3-dev doctest-dev
      libspdlog-dev libconcurrentqueue-dev libcpp-httplib-dev libssl-dev python3 python3-numpy
      python3-jinja2 python3-jsonschema python3-pytest ccache)
pkgs+=(clang libclang-rt-14-dev)  # the sanitizer tree is built with clang: ASan/UBSan + libFuzzer
pkgs+=(chromium)  # the chat page test (tests/webui): headless, driven by puppeteer-core
# Arm cross build tested under qemu (scripts/test.sh, README "Arm"): Debian's cross compiler and
# the arm64 (multiarch) builds of the two compiled libraries lfmd links. Only on x86-64 hosts.
arm64_arch=""
if [ "$(dpkg --print-architecture)" = amd64 ]; then
  pkgs+=(g++-aarch64-linux-gnu qemu-user libpcre2-dev:arm64 libcpp-httplib-dev:arm64)
  dpkg --print-foreign-architectures | grep -qx arm64 || arm64_arch=missing
fi
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# Node.js may come from elsewhere than Debian (the oracle wants node >= 20); only add Debian's if none.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-deps: apt-get install ${missing[*]}" >&2
  if [ -n "$arm64_arch" ]; then $sudo dpkg --add-architecture arm64; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "${1:-}" = "--oracle" ]; then
  # Test-only dependencies: the llama.cpp oracle and the official openai npm client.
  bash tests/oracle/install.sh >/dev/null
  if [ -f tests/server/install.sh ]; then bash tests/server/install.sh >/dev/null; fi
fi
