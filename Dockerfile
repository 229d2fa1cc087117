# syntax=docker/dockerfile:1
# llmq image: worker, dashboard, enqueue and api, static binaries on a
# distroless base, running as the non-root user 65532. The Helm chart in
# deploy/helm/llmq runs /usr/local/bin/worker and /usr/local/bin/dashboard
# from it with a read-only root filesystem.
#
#   docker build -t REGISTRY/llmq:0.1.0 .

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static binaries: no cgo, so no libc is needed in the final image.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/worker ./cmd/dashboard ./cmd/enqueue ./cmd/api

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
EXPOSE 8080 8081 8090
ENTRYPOINT ["/usr/local/bin/worker"]
