#!/usr/bin/env bash
# Builds and runs every test: unit suites, CLI and bad-file tests, the llama.cpp oracle tests
# (Release build), unit + bad-file tests again under AddressSanitizer/UBSan, and on x86-64 the
# Arm build (NEON kernels) under qemu: kernel suite and an oracle subset (llama.cpp native).
# Needs: bash scripts/install-deps.sh --oracle
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=$(nproc)
# ccache (when installed) also lets scripts/check-docker.sh's image build reuse these objects: the
# Dockerfile compiles with the same g++ and flags in /src/build, so paths match relative to here.
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$PWD" CCACHE_COMPILERCHECK=content CCACHE_SLOPPINESS=locale
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLFMD_ORACLE=ON "${launcher[@]}" >/dev/null
cmake --build build -j "$jobs"
# The sanitizer tree: clang with ASan/UBSan and libFuzzer coverage (tests/fuzz: each harness runs
# LFMD_FUZZ_SECONDS in ctest; the unit suites run under the sanitizers).
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLFMD_SANITIZE=ON \
      -DLFMD_FUZZ=ON >/dev/null
cmake --build build-asan -j "$jobs"
# The Node clients the server and agent tests drive (waits for an install already under way).
if command -v npm >/dev/null && [ -f tests/server/install.sh ]; then bash tests/server/install.sh >/dev/null; fi
status=0
(cd build && ctest --output-on-failure -j "$jobs") || status=1
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$jobs" -R 'lfmd_|bad_model_files|cli') || status=1
if [ "$(uname -m)" = x86_64 ]; then
  cmake -S . -B build-arm -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
        -DCMAKE_BUILD_TYPE=Release -DLFMD_HOST_BUILD="$PWD/build" >/dev/null
  cmake --build build-arm -j "$jobs" --target lfmd lfmd_kernel_tests
  (cd build-arm && ctest --output-on-failure -j "$jobs" -R 'lfmd_kernel_tests|oracle_arm') || status=1
fi
exit $status
