#!/usr/bin/env bash
# Proves the Dockerfile without any registry: builds a local debian:12-slim base image with
# debootstrap from the machine's own Debian mirror, builds lfmd's image with podman (runc), runs
# it twice (loopback on the host network without a key; published port with an API key) and checks
# /health, a chat completion, the non-root user and the CA certificates. Needs root (CI is root).
#   bash scripts/check-docker.sh            # keeps the base image for the next run
#   bash scripts/check-docker.sh --base-only   # only the base image (CI starts it early, in the background)
#   LFMD_DOCKER_KEEP=1 ...                  # also keeps the lfmd image and the work folder
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf 'check-docker: %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

need=()
for p in podman runc debootstrap curl; do command -v "$p" >/dev/null || need+=("$p"); done
if ((${#need[@]})); then
  say "apt-get install ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The sandbox refuses podman's default limits; every podman call that starts a container gets these.
limits=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)
pm() { podman --runtime runc "$@"; }

work=$(mktemp -d /tmp/lfmd-docker.XXXXXX)
containers=()
cleanup() {
  for c in "${containers[@]}"; do pm rm -f "$c" >/dev/null 2>&1 || true; done
  if [ -z "${LFMD_DOCKER_KEEP:-}" ]; then
    pm rmi -f localhost/lfmd:check >/dev/null 2>&1 || true
    pm volume rm -f lfmd-check-cache >/dev/null 2>&1 || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# 1. The base image, from the Debian mirror apt already uses (deb822 or one-line sources).
mirror_url() {
  local u
  u=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1)
  [ -n "$u" ] || u=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
                     awk '{print $2}' | grep -v security | head -1)
  echo "${u:-http://deb.debian.org/debian}"
}
base=docker.io/library/debian:12-slim
if ! pm image exists "$base"; then
  mirror=$(mirror_url)
  say "debootstrap bookworm from $mirror"
  t0=$SECONDS
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
  # What the slim image leaves out: package caches, lists, documentation.
  rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/* \
         "$work"/rootfs/usr/share/doc/* "$work"/rootfs/usr/share/man/*
  tar -C "$work/rootfs" -c . | pm import --change 'CMD ["bash"]' - "$base" >/dev/null
  rm -rf "$work/rootfs"
  say "base image $base built in $((SECONDS - t0)) s"
fi
[ "${1:-}" = --base-only ] && exit 0

# 2. The image, from the files git tracks (a clean checkout: no build trees, no node_modules).
mkdir -p "$work/src"
git ls-files -z | xargs -0 cp --parents -t "$work/src"
# The host's compiler cache (filled by scripts/test.sh's Release tree) is lent to the image build.
cache=()
if command -v ccache >/dev/null; then
  ccache_dir=$(ccache -k cache_dir)
  mkdir -p "$ccache_dir"
  cache=(--volume "$ccache_dir:/ccache")
fi
t0=$SECONDS
pm build --pull=never "${limits[@]}" "${cache[@]}" -t localhost/lfmd:check "$work/src" >"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log"; fail "image build"; }
say "image built in $((SECONDS - t0)) s ($(pm image inspect localhost/lfmd:check --format '{{.Size}}') bytes)"
hits=$(grep -m1 -E '^ *Hits: ' "$work/build.log" || true)
[ -z "$hits" ] || say "compiler cache: $(echo $hits)"

# Follows a container's log until "listening on http://HOST:PORT"; prints PORT.
wait_port() {
  local line
  line=$(grep -m1 -o 'listening on http://[^ ]*' < <(timeout 600 podman logs -f "$1" 2>&1)) ||
    { pm logs "$1" >&2; return 1; }
  echo "${line##*:}"
}
chat='{"messages":[{"role":"user","content":"Hello"}],"max_tokens":8}'
check_serving() {  # URL [curl args...]
  local url=$1; shift
  curl -fsS "$url/health" | grep -q '"ok"' || fail "/health at $url"
  curl -fsS "$@" -H 'Content-Type: application/json' -d "$chat" "$url/v1/chat/completions" |
    grep -q '"chat.completion"' || fail "chat completion at $url"
}

# 3. Local use: host network, loopback bind, no key (the demo model is generated into the volume).
c=$(pm run -d "${limits[@]}" --network=host -v lfmd-check-cache:/var/cache/lfmd localhost/lfmd:check \
      serve --host 127.0.0.1 --port 0)
containers+=("$c")
port=$(wait_port "$c") || fail "the local container did not start"
check_serving "http://127.0.0.1:$port"
[ "$(pm exec "$c" id -u)" != 0 ] || fail "the server runs as root"
pm exec "$c" test -s /etc/ssl/certs/ca-certificates.crt || fail "no CA certificates in the image"
say "local run: /health and a chat completion on 127.0.0.1:$port, non-root, CA certificates present"
pm rm -f "$c" >/dev/null

# 4. The image's defaults (0.0.0.0:8080) refuse to start without a key ...
if pm run --rm "${limits[@]}" -v lfmd-check-cache:/var/cache/lfmd localhost/lfmd:check >"$work/nokey.log" 2>&1; then
  fail "the image served on 0.0.0.0 without an API key"
fi
grep -qi 'api-key' "$work/nokey.log" || { cat "$work/nokey.log"; fail "no clear error without a key"; }
# ... and serve on a published port with one.
c=$(pm run -d "${limits[@]}" -p 127.0.0.1::8080 -e LFMD_API_KEY=check-key \
      -v lfmd-check-cache:/var/cache/lfmd localhost/lfmd:check)
containers+=("$c")
wait_port "$c" >/dev/null || fail "the published container did not start"
hport=$(pm port "$c" 8080/tcp | head -1); hport=${hport##*:}
url="http://127.0.0.1:$hport"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$chat" "$url/v1/chat/completions")
[ "$code" = 401 ] || fail "published port without the key answered $code, not 401"
check_serving "$url" -H 'Authorization: Bearer check-key'
say "published run: 401 without the key, served with it on 127.0.0.1:$hport"
say "PASS"
