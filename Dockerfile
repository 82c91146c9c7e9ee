# video-worker: multi-stage build, slim Debian runtime with ffmpeg, non-root.
#   docker build -t video-worker .
#   docker run -p 9000:9000 -v $PWD/data:/opt/video-worker/data --env-file config.txt video-worker

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
# Dependencies first, so code changes do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && echo 'fn main() {}' > benches/transcode.rs \
    && cargo build --release --locked && rm -rf src
COPY src src
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin video-worker \
    && strip target/release/video-worker

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg curl ca-certificates tini \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /opt/video-worker --create-home worker
WORKDIR /opt/video-worker
COPY --from=build /src/target/release/video-worker /usr/local/bin/video-worker
COPY healthcheck.sh /usr/local/bin/healthcheck.sh
COPY config.txt.example /opt/video-worker/config.txt.example
ENV DATA_DIR=/opt/video-worker/data \
    BIND_HOST=0.0.0.0 \
    HTTPD_PORT=9000
RUN mkdir -p /opt/video-worker/data && chown worker:worker /opt/video-worker/data
VOLUME ["/opt/video-worker/data"]
EXPOSE 9000
USER worker
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/healthcheck.sh"]
# tini reaps ffmpeg children and forwards SIGTERM for a graceful stop.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/video-worker"]
CMD ["serve"]
