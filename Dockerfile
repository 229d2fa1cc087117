# llmq image: worker, dashboard, enqueue and api, static binaries on a
# distroless base, running as the non-root user 65532. The Helm chart in
# deploy/helm/llmq runs /usr/local/bin/worker and /usr/local/bin/dashboard
# from it with a read-only root filesystem.
#
#   docker build -t REGISTRY/llmq:0.2.0 \
#     --build-arg VERSION=v0.2.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#
# Cross-build with buildx: docker buildx build --platform linux/amd64,linux/arm64 ...
# The Go toolchain runs on the build machine's platform and cross-compiles
# for TARGETARCH; no emulation is needed. VERSION, REVISION and CREATED are
# stamped into every binary's --version and into the OCI labels. To pin the
# bases, pass them by digest (README, "Container image"):
#   --build-arg GO_IMAGE=golang:1.26-bookworm@sha256:... \
#   --build-arg BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:...

ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
ARG REVISION=
ARG CREATED=
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Static binaries: no cgo, so no libc is needed in the final image.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath \
    -ldflags="-s -w -X github.com/llmq/llmq/internal/version.stampedVersion=${VERSION} -X github.com/llmq/llmq/internal/version.stampedRevision=${REVISION} -X github.com/llmq/llmq/internal/version.stampedTime=${CREATED}" \
    -o /out/ ./cmd/worker ./cmd/dashboard ./cmd/enqueue ./cmd/api

FROM ${BASE_IMAGE}
ARG VERSION=dev
ARG REVISION=
ARG CREATED=
LABEL org.opencontainers.image.title="llmq" \
      org.opencontainers.image.description="Queue and worker for LLM batch workloads (embeddings and generation) on Redis" \
      org.opencontainers.image.source="https://github.com/llmq/llmq" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
EXPOSE 8080 8081 8090
ENTRYPOINT ["/usr/local/bin/worker"]
