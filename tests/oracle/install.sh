#!/usr/bin/env bash
# Installs the llama.cpp correctness oracle (release v0.5.0, prebuilt for Linux x64) into
# tests/oracle/ — idempotent, fast when already done.
#
#   tests/oracle/.npm/        npm prefix: node-llama-cpp@3.22.1 + @node-llama-cpp/linux-x64@3.22.1
#                             (libllama.v0.5.0.so, libggml*.so, CPU backends, gitRelease.bundle)
#   tests/oracle/llama-src/   headers (include/, ggml/include/) and gguf-py/ of the same release,
#                             extracted from the package's git bundle (LLAMA_SRC_FULL=1: full checkout)
#
# Both directories are git-ignored: never commit llama.cpp sources or binaries.
# Needs node/npm (registry access for the first run only) and git. Progress goes to stderr; the
# last line on stdout is the directory holding the .so files, so `LIBDIR=$(tests/oracle/install.sh)`.
set -euo pipefail

NLC_VERSION=3.22.1
LLAMA_TAG=v0.5.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
npm_dir="$here/.npm"
src_dir="$here/llama-src"
nm="$npm_dir/node_modules"
lib_dir="$nm/@node-llama-cpp/linux-x64/bins/linux-x64"
bundle="$nm/node-llama-cpp/llama/gitRelease.bundle"

log() { echo "oracle/install.sh: $*" >&2; }
die() { echo "oracle/install.sh: error: $*" >&2; exit 1; }

[[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] ||
  die "the prebuilt llama.cpp oracle exists only for Linux x86_64 (this is $(uname -s)-$(uname -m))"

pkg_version() { # prints the "version" of a package.json, empty if missing
  [[ -f "$1" ]] || return 0
  sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$1" | head -n1
}

npm_ok() {
  [[ "$(pkg_version "$nm/node-llama-cpp/package.json")" == "$NLC_VERSION" ]] &&
  [[ "$(pkg_version "$nm/@node-llama-cpp/linux-x64/package.json")" == "$NLC_VERSION" ]] &&
  [[ -f "$lib_dir/libllama.v0.5.0.so" && -f "$lib_dir/libggml.v0.5.0.so" && -f "$lib_dir/libggml-base.so" ]] &&
  compgen -G "$lib_dir/libggml-cpu-*.so" >/dev/null &&
  [[ -f "$bundle" ]]
}

# ---- 1. npm packages --------------------------------------------------------------------------
if npm_ok; then
  log "npm packages present ($NLC_VERSION)"
else
  command -v npm >/dev/null || die "npm not found (install node.js + npm, e.g. Debian: apt-get install npm)"
  log "installing node-llama-cpp@$NLC_VERSION + @node-llama-cpp/linux-x64@$NLC_VERSION into $npm_dir"
  mkdir -p "$npm_dir"
  # A private package.json so npm never walks up to another project's.
  [[ -f "$npm_dir/package.json" ]] || echo '{ "name": "lfmd-llama-oracle", "private": true }' > "$npm_dir/package.json"
  # --ignore-scripts: nothing is downloaded or built by postinstall hooks; the prebuilt binaries
  # are in @node-llama-cpp/linux-x64, which is named explicitly so --omit=optional keeps it.
  npm install --prefix "$npm_dir" --ignore-scripts --omit=optional --no-audit --no-fund \
      --save-exact --engine-strict=false --loglevel=error \
      "node-llama-cpp@$NLC_VERSION" "@node-llama-cpp/linux-x64@$NLC_VERSION" >&2 ||
    die "npm install failed"
  npm_ok || die "npm install finished but the expected files are missing under $nm"
  tag="$(sed -n 's/.*"release":[[:space:]]*"\([^"]*\)".*/\1/p' "$lib_dir/_nlcBuildMetadata.json" 2>/dev/null || true)"
  [[ -z "$tag" || "$tag" == "$LLAMA_TAG" ]] || die "prebuilt binaries are llama.cpp $tag, expected $LLAMA_TAG"
fi

# ---- 2. release sources (headers + gguf-py) from the bundled git release -----------------------
commit_of_bundle() { git bundle list-heads "$bundle" | awk '$2 == "HEAD" { print $1; exit }'; }
stamp="$src_dir/.oracle-commit"
if [[ -f "$stamp" && -f "$src_dir/include/llama.h" && -f "$src_dir/ggml/include/ggml.h" &&
      -f "$src_dir/ggml/include/gguf.h" && -f "$src_dir/gguf-py/gguf/__init__.py" ]] &&
   [[ "${LLAMA_SRC_FULL:-0}" != 1 || -f "$src_dir/src/llama.cpp" ]]; then
  log "llama.cpp $LLAMA_TAG sources present ($(cat "$stamp"))"
else
  command -v git >/dev/null || die "git not found (Debian: apt-get install git)"
  commit="$(commit_of_bundle)" || true
  [[ -n "$commit" ]] || die "cannot read HEAD of $bundle"
  tmp="$(mktemp -d "$npm_dir/.llama-src.tmp.XXXXXX")"  # inside the ignored .npm/, same filesystem
  trap 'rm -rf "$tmp"' EXIT
  if [[ "${LLAMA_SRC_FULL:-0}" == 1 ]]; then
    log "cloning the full llama.cpp $LLAMA_TAG source (${commit:0:12}) into $src_dir"
    git clone -q "$bundle" "$tmp/src" >&2
    git -C "$tmp/src" -c advice.detachedHead=false checkout -q "$commit"
  else
    log "extracting llama.cpp $LLAMA_TAG headers + gguf-py (${commit:0:12}) into $src_dir"
    git init -q --bare "$tmp/repo.git"
    git -C "$tmp/repo.git" fetch -q "$bundle" HEAD >&2
    mkdir "$tmp/src"
    git -C "$tmp/repo.git" archive --format=tar "$commit" LICENSE include ggml/include gguf-py |
      tar -x -C "$tmp/src"
  fi
  echo "$commit" > "$tmp/src/.oracle-commit"
  rm -rf "$src_dir"
  mv "$tmp/src" "$src_dir"
fi

echo "$lib_dir"
