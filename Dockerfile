# lfmd on Debian 12, built from a clean checkout. See README "Docker" for the run lines.
#   docker build -t lfmd .
#   local, loopback only, no key:  docker run --rm --network=host -v lfmd-cache:/var/cache/lfmd lfmd serve --host 127.0.0.1
#   published with an API key:     docker run -d -p 8080:8080 -e LFMD_API_KEY=... -v lfmd-cache:/var/cache/lfmd lfmd
# The image serves on 0.0.0.0:8080 by default, which lfmd refuses without an API key.
FROM debian:12-slim AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      g++ cmake ninja-build pkg-config libpcre2-dev nlohmann-json3-dev libcpp-httplib-dev libssl-dev \
      libconcurrentqueue-dev libspdlog-dev ccache && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# ccache: a compiler cache mounted at /ccache (scripts/check-docker.sh lends the host's, filled by
# the same g++ on the same relative paths, so CI compiles the sources once); empty otherwise.
# Sloppiness "locale": the host's LANG would otherwise enter every hash.
ENV CCACHE_DIR=/ccache CCACHE_BASEDIR=/src CCACHE_COMPILERCHECK=content CCACHE_SLOPPINESS=locale
RUN ccache --zero-stats >/dev/null \
 && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLFMD_BUILD_TESTS=OFF \
      -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache \
 && cmake --build build --target lfmd \
 && (ccache --show-stats || true)

FROM debian:12-slim
# Runtime libraries of the binary (cpp-httplib and OpenSSL for the Hub and the cloud handoff) and
# the CA certificates TLS verifies against.
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libpcre2-8-0 libstdc++6 libcpp-httplib0.11 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/cache/lfmd --no-create-home lfmd \
 && mkdir -p /var/cache/lfmd /models && chown lfmd:lfmd /var/cache/lfmd
COPY --from=build /src/build/lfmd /usr/local/bin/lfmd
# Fails the image build if the runtime stage misses a shared library the binary links.
RUN ldd /usr/local/bin/lfmd | grep -q 'not found' && { ldd /usr/local/bin/lfmd; exit 1; } || true
# The demo model, pulled models (Hub cache) and the on-disk prefix cache all live in the volume.
ENV LFMD_CACHE_DIR=/var/cache/lfmd HF_HOME=/var/cache/lfmd/huggingface LFMD_HOST=0.0.0.0 LFMD_PORT=8080
VOLUME ["/var/cache/lfmd"]
USER lfmd
WORKDIR /var/cache/lfmd
EXPOSE 8080
ENTRYPOINT ["lfmd"]
CMD ["serve"]
