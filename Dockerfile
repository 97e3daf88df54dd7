# revokd's container image: a static binary on distroless (CA certificates,
# time zone data, a non-root user, no shell).
#
#   docker build -t revokd .
#   docker run -v /etc/revokd:/etc/revokd:ro -v revokd-data:/var/lib/revokd \
#     -e REVOKD_IMAP_PASSWORD=... -e REVOKD_STORE_URL=postgres://... revokd
#
# The build step is scripts/build.sh, the script the test command runs.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN sh scripts/build.sh /out/revokd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/revokd /usr/local/bin/revokd
# data_dir: the SQLite store and its mailbox lease when store.url is empty.
VOLUME ["/var/lib/revokd"]
WORKDIR /var/lib/revokd
USER nonroot:nonroot
# The configuration is mounted at /etc/revokd/revokd.toml (data_dir =
# "/var/lib/revokd", http.address = "0.0.0.0:8080"); secrets come from the
# environment (REVOKD_IMAP_PASSWORD, REVOKD_SMTP_PASSWORD, REVOKD_STORE_URL)
# or from mounted files (imap.password_file, smtp.password_file,
# store.url_file).
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/revokd", "probe", "--config", "/etc/revokd/revokd.toml"]
ENTRYPOINT ["/usr/local/bin/revokd"]
CMD ["run", "--config", "/etc/revokd/revokd.toml"]
