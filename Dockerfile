# video-worker: a release build, then slim Debian with ffmpeg and fonts.
#   DOCKER_BUILDKIT=1 docker build -t video-worker .        (BuildKit: Docker 20.10+, or podman/buildah)
#   docker compose -f docker-compose-video.yml up -d         (docs/install.md)
#
# The build stage copies the whole checkout (.dockerignore leaves out build
# output and VCS data) and keeps cargo's registry and target directory in
# BuildKit cache mounts: no stub files to keep in step with Cargo.toml, and a
# rebuild after a code change recompiles only the crate.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# Only the service binary, exactly the locked dependencies, no debug info,
# symbols stripped by the linker.
ENV CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_INCREMENTAL=0 \
    CARGO_TERM_COLOR=never
RUN --mount=type=cache,id=video-worker-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=video-worker-cargo-git,target=/usr/local/cargo/git \
    --mount=type=cache,id=video-worker-target,target=/src/target \
    cargo build --release --locked --bin video-worker \
    && install -m 0755 target/release/video-worker /usr/local/bin/video-worker

# Debian's ffmpeg (libx264) pulls in ~470 MB of packages, half of which it
# never loads (Mesa's GL drivers and LLVM, VA/QSV plugins, Perl). Only the
# two programs, the libraries they link (ldd) that the base lacks, and those
# libraries' copyright files go into the image.
FROM debian:bookworm-slim AS ffmpeg
RUN find /usr/lib /usr/lib64 -xdev \( -type f -o -type l \) 2>/dev/null | sort > /base-files \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg \
    && mkdir -p /out/usr/bin && cp /usr/bin/ffmpeg /usr/bin/ffprobe /out/usr/bin/ \
    && ldd /usr/bin/ffmpeg /usr/bin/ffprobe > /ldd && ! grep 'not found' /ldd \
    && awk '$2 == "=>" && $3 ~ /^\// { print $3 }' /ldd \
       | sed 's#^/lib/#/usr/lib/#; s#^/lib64/#/usr/lib64/#' | sort -u > /needed \
    && for lib in $(comm -23 /needed /base-files); do \
         cp -L --parents "$lib" /out/ \
         && pkg=$(dpkg -S "$(readlink -f "$lib")" | head -n1 | cut -d: -f1) \
         && if [ -f "/usr/share/doc/$pkg/copyright" ]; then cp --parents "/usr/share/doc/$pkg/copyright" /out/; fi; \
       done \
    && cp --parents /usr/share/doc/ffmpeg/copyright /out/

FROM debian:bookworm-slim
# tini (PID 1: reaps ffmpeg, forwards SIGTERM), curl (health probe), CA
# certificates (core, S3 and the other storages); no fonts (terminal
# recordings are drawn in fonts compiled into the binary: docs/terminal.md);
# nothing recommended, no package lists kept (the slim base already drops
# documentation).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       tini curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log
COPY --from=ffmpeg /out/ /
RUN ldconfig && ffmpeg -hide_banner -loglevel error -f lavfi -i color=black:s=64x64:d=0.2 -c:v libx264 -f mp4 -y /tmp/t.mp4 \
    && ffprobe -v error /tmp/t.mp4 && rm /tmp/t.mp4 \
    && useradd --system --uid 10001 --user-group --home-dir /opt/video-worker --create-home --shell /usr/sbin/nologin worker \
    && mkdir -p /opt/video-worker/data && chown worker:worker /opt/video-worker/data
WORKDIR /opt/video-worker
COPY --from=build /usr/local/bin/video-worker /usr/local/bin/video-worker
COPY docker-entrypoint.sh healthcheck.sh /usr/local/bin/
COPY config.txt.example /opt/video-worker/config.txt.example
ENV DATA_DIR=/opt/video-worker/data \
    BIND_HOST=0.0.0.0 \
    HTTPD_PORT=9000
VOLUME ["/opt/video-worker/data"]
EXPOSE 9000
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/healthcheck.sh"]
# Starts as root only to give DATA_DIR to the worker (a fresh host directory
# is root's), then runs tini and the worker as uid 10001. Started with
# --user, it runs as that user directly.
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["serve"]
