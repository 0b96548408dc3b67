# syntax=docker/dockerfile:1
#
# vigil serve in a container: a static binary (CGO_ENABLED=0) on
# distroless static, running as the image's non-root user (65532), with
# the JetStream store on the /data volume and a health check on /readyz
# through vigil's own probe (the image has no shell, curl or wget).
# docs/deploy.md explains building and running it; the build is
# reproducible as the release archives are:
#
#   docker build --build-arg VERSION="$(git describe --tags --always)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" \
#     --build-arg DATE="$(git log -1 --format=%cI)" -t vigil .

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
ARG COMMIT=
ARG DATE=
RUN go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= -X github.com/vigil-detect/vigil/buildinfo.version=${VERSION} -X github.com/vigil-detect/vigil/buildinfo.commit=${COMMIT} -X github.com/vigil-detect/vigil/buildinfo.date=${DATE}" \
      -o /out/vigil ./cmd/vigil \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/vigil /usr/local/bin/vigil
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME ["/data"]
# HTTP: ingest (POST /v1/events), alerts, /healthz, /readyz, /metrics.
EXPOSE 8470
ENTRYPOINT ["/usr/local/bin/vigil"]
# Listening beyond loopback needs tokens: mount them at
# /run/secrets/vigil-tokens (docker secret, Kubernetes secret), one per line.
CMD ["serve", "--data-dir", "/data", "--http", ":8470", "--token-file", "/run/secrets/vigil-tokens"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/vigil", "healthcheck", "--timeout", "4s", "http://127.0.0.1:8470/readyz"]
