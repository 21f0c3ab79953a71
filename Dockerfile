# syntax=docker/dockerfile:1

# Multi-arch image for kubelet-rubber-stamp:
#   docker buildx build --platform linux/amd64,linux/arm64 -t <image> .
#
# The build stage always runs on the build machine's own platform and
# cross-compiles with `deno compile --target`, so no QEMU emulation is needed.
# `deno compile` downloads the matching `denort` runtime from dl.deno.land, so
# building needs that host reachable (GitHub-hosted runners have it).

# Keep this version equal to PINNED_DENO_VERSION in src/version.ts
# (tests/repo/dockerfile_test.ts checks it).
FROM --platform=$BUILDPLATFORM denoland/deno:2.9.6 AS build
ARG TARGETARCH
WORKDIR /app

# Dependencies first, so this layer is reused while only the code changes.
# --frozen fails the build if deno.lock does not match deno.json.
COPY deno.json deno.lock ./
RUN deno install --frozen

COPY mod.ts ./
COPY src/ ./src/

# The permission flags and the V8 flags are baked into the binary and must
# equal those of the `start` task in deno.json (tests/repo/dockerfile_test.ts
# checks both), so that what `deno task start` and `deno task bench` measure
# is what ships. The V8 flags were chosen by measurement (README,
# Performance): lite mode, a 1 MiB semi-space and an 8 MiB initial old
# generation (a starting size, not a cap) keep the peak RSS within 80 MiB
# through a 5,000-CSR backlog.
# Cross-compiling prints "The node_modules directory may be incompatible with
# the target system": harmless here, every npm dependency is plain JavaScript.
RUN case "${TARGETARCH}" in \
      amd64) target=x86_64-unknown-linux-gnu ;; \
      arm64) target=aarch64-unknown-linux-gnu ;; \
      *) echo "unsupported TARGETARCH '${TARGETARCH}': expected amd64 or arm64" >&2; exit 1 ;; \
    esac && \
    deno compile --frozen --target "${target}" --no-prompt \
      --v8-flags=--lite-mode,--max-semi-space-size=1,--initial-old-space-size=8 \
      --allow-net --allow-read --allow-env \
      -o /out/kubelet-rubber-stamp mod.ts

# distroless "cc": glibc plus libgcc_s, which the Deno runtime links against
# ("static" has no libc, "base" lacks libgcc_s; Alpine's musl cannot run it).
FROM gcr.io/distroless/cc-debian12:nonroot

# Set by .github/workflows/release.yml (deno.json version, commit, repo URL).
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="kubelet-rubber-stamp" \
      org.opencontainers.image.description="Approves legitimate kubelet serving CertificateSigningRequests (kubernetes.io/kubelet-serving)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=build /out/kubelet-rubber-stamp /kubelet-rubber-stamp

# glibc's malloc as the start task runs the daemon (chosen by measurement,
# README "Performance"): two arenas, large blocks mmap'd and free memory
# handed back to the kernel early. Peak RSS through a 5,000-CSR backlog
# 78.6-79.5 MiB instead of 82.4-85.8, same CPU.
ENV MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=65536 \
    MALLOC_TRIM_THRESHOLD_=65536 \
    MALLOC_TOP_PAD_=0

# 65532 is distroless's "nonroot" user; numeric so runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/kubelet-rubber-stamp"]
