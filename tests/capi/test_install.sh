#!/usr/bin/env bash
# cmake --install into a temporary prefix, then build and run tests/capi/consumer three ways:
# find_package(lfmd) (CMake), pkg-config (shared), and the static archive (pkg-config --static).
# Usage: test_install.sh BUILD_DIR CONSUMER_DIR
set -euo pipefail
build=$1 consumer=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
for f in include/lfmd.h lib/liblfmd.so lib/liblfmd.a lib/pkgconfig/lfmd.pc lib/cmake/lfmd/lfmdConfig.cmake \
         lib/cmake/lfmd/lfmdConfigVersion.cmake lib/cmake/lfmd/lfmdTargets.cmake; do
  [ -e "$prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done
# Only lfmd_* symbols are exported from the shared library.
others=$(nm -D --defined-only "$prefix/lib/liblfmd.so" | awk '$2 ~ /[TDBRW]/ {print $3}' | grep -v '^lfmd_' | grep -v '^LFMD_' || true)
[ -z "$others" ] || { echo "liblfmd.so exports more than lfmd_*:"; echo "$others" | head; exit 1; }

echo "== find_package(lfmd)"
cmake -S "$consumer" -B "$tmp/cmake-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/configure.log" || { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/cmake-build" >"$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
"$tmp/cmake-build/consumer"

echo "== pkg-config lfmd"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --modversion lfmd)" = 0.1.0 ]
cc "$consumer/main.c" $(pkg-config --cflags --libs lfmd) -o "$tmp/pc-consumer"
LD_LIBRARY_PATH=$prefix/lib "$tmp/pc-consumer"

echo "== static liblfmd.a"
cc "$consumer/main.c" $(pkg-config --cflags lfmd) "$prefix/lib/liblfmd.a" \
   $(pkg-config --static --libs lfmd | sed 's/-llfmd//') -o "$tmp/static-consumer"
if ldd "$tmp/static-consumer" | grep -q liblfmd; then echo "static consumer links liblfmd.so"; exit 1; fi
"$tmp/static-consumer"
