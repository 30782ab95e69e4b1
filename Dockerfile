# lfmd on Debian 12. Build: docker build -t lfmd .   Run: docker run -it -v $PWD/models:/models lfmd chat --model /models/X.gguf
FROM debian:12-slim AS build
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      g++ cmake ninja-build pkg-config libpcre2-dev nlohmann-json3-dev doctest-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLFMD_BUILD_TESTS=OFF && cmake --build build --target lfmd

FROM debian:12-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libpcre2-8-0 libstdc++6 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/lfmd /usr/local/bin/lfmd
ENV LFMD_CACHE_DIR=/var/cache/lfmd
ENTRYPOINT ["lfmd"]
CMD ["chat"]
