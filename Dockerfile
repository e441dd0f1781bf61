# syntax=docker/dockerfile:1
#
# The production image of consul-peering-operator: only the operator binary, built without the playground
# (and so without the Kubernetes API and Consul emulators), on distroless with glibc and CA certificates, running
# as the distroless nonroot user. Build it from the repository root:
#
#   docker build -t consul-peering-operator:0.1.0 .

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
COPY . .
# --no-default-features turns the `playground` feature off, which leaves kube-emulator and consul-emulator out of
# the build; --locked builds exactly the dependencies in Cargo.lock. The cache mounts keep the registry and the
# target directory between builds, so the binary is copied out of the cache in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features \
        --package consul-peering-operator --bin consul-peering-operator \
    && install -D -m 0755 target/release/consul-peering-operator /out/consul-peering-operator

# Debian 12 like the builder, so the glibc the binary links against is there; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="consul-peering-operator" \
      org.opencontainers.image.description="Kubernetes operator for HashiCorp Consul cluster peering" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/consul-peering-operator /usr/local/bin/consul-peering-operator
# The nonroot user of distroless; the Helm chart runs the pod with the same UID and GID.
USER 65532:65532
# /metrics, /healthz and /readyz (--listen-addr, default 0.0.0.0:8080).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/consul-peering-operator"]
CMD ["run"]
