# Martlet in a container: built with the Swift toolchain image, run from a slim Debian
# image with only the libraries the binary needs. Models live on a volume (/models); the
# server listens on all interfaces and requires the API key from MARTLET_API_KEY.
#
#   docker build -t martlet .
#   docker run -p 8080:8080 -v "$PWD/models:/models" -e MARTLET_API_KEY=change-me martlet

FROM swift:6.1-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY config ./config
COPY scripts ./scripts
RUN scripts/build-release /opt/martlet

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends zlib1g libssl3 libstdc++6 libgcc-s1 curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin martlet \
 && mkdir /models && chown martlet /models
COPY --from=build /opt/martlet /opt/martlet
USER martlet
VOLUME /models
ENV MARTLET_MODELS_DIR=/models \
    MARTLET_HOST=0.0.0.0 \
    MARTLET_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["/opt/martlet/bin/martlet", "serve", "--config", "/opt/martlet/etc/martlet.yaml"]
