# syntax=docker/dockerfile:1
# Hookstream: one static binary (serve | gateway | process | migrate | webhooks | sign).
# Build: docker build -t hookstream .
# The image has no PostgreSQL server, so run it with DATABASE_URL set (as
# docker-compose.yml does); `serve` without DATABASE_URL needs initdb/postgres.

FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/hookstream ./cmd/hookstream

FROM debian:bookworm-slim
# ca-certificates: outbound HTTPS (CRM, MailerLite, GA4, Slack, Twilio); tzdata: time zones.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hookstream \
 && useradd --system --uid 10001 --gid hookstream --home-dir /var/lib/hookstream --create-home hookstream
COPY --from=build /out/hookstream /usr/local/bin/hookstream
USER hookstream:hookstream
WORKDIR /var/lib/hookstream
ENV HOOKSTREAM_DATA_DIR=/var/lib/hookstream/data \
    HOOKSTREAM_HTTP_ADDR=0.0.0.0:8080 \
    HOOKSTREAM_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["hookstream"]
CMD ["--help"]
