# Multi-stage build of clustercheckd. The daemon talks to the local MariaDB over its unix socket
# or TCP, so run the container with the host network and the socket mounted, e.g.
#   docker run --network host -v /run/mysqld:/run/mysqld \
#     -v /etc/clustercheckd:/etc/clustercheckd:ro -v /etc/mysql/clustercheck.cnf:/etc/mysql/clustercheck.cnf:ro \
#     clustercheckd
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked && strip target/release/clustercheckd

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin clustercheckd
COPY --from=build /src/target/release/clustercheckd /usr/local/bin/clustercheckd
COPY config/clustercheckd.toml /etc/clustercheckd/clustercheckd.toml
USER clustercheckd
EXPOSE 9200
ENTRYPOINT ["/usr/local/bin/clustercheckd"]
CMD ["--config", "/etc/clustercheckd/clustercheckd.toml"]
