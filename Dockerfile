# wavecast: a two-stage image. The first stage compiles the binary; the
# second runs it as an unprivileged user with nothing else but Debian's
# base and CA certificates. See docs/deployment.md#container.
#
#   docker build -t wavecast .
#   docker run -p 8000:8000 -e WAVECAST_HTTP_API_KEY=change-me -v wavecast-data:/var/lib/wavecast/data wavecast

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p wavecast \
    && install -m 0755 target/release/wavecast /usr/local/bin/wavecast

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/wavecast \
       --create-home --shell /usr/sbin/nologin wavecast \
    && install -d -o wavecast -g wavecast /var/lib/wavecast/data
COPY --from=build /usr/local/bin/wavecast /usr/local/bin/wavecast
USER wavecast:wavecast
WORKDIR /var/lib/wavecast
# Listen on every interface of the container; history on the volume; JSON
# logs on stderr. The server API needs WAVECAST_HTTP_API_KEY: requests
# through the port mapping do not come from loopback.
ENV WAVECAST_BIND=0.0.0.0 \
    WAVECAST_PORT=8000 \
    WAVECAST_DATA_DIR=/var/lib/wavecast/data \
    WAVECAST_LOG__FORMAT=json \
    WAVECAST_SERVER=http://127.0.0.1:8000
VOLUME ["/var/lib/wavecast/data"]
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["wavecast", "ready"]
ENTRYPOINT ["wavecast"]
CMD ["serve"]
