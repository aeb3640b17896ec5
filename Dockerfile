# syntax=docker/dockerfile:1

# pot-nats image: the pot-nats supervisor (a compiled Deno binary), nats-server and the nats CLI
# on Red Hat UBI 9 micro, running as the non-root user runner (uid 10000).
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t pot-nats:0.1.0 .
#
# Every stage that runs a command is built on the build machine's own platform
# (--platform=$BUILDPLATFORM) and produces files for $TARGETARCH: deno compile cross-compiles,
# the release archives exist per architecture, and the final stage only copies files. No
# emulation is needed for either architecture.
#
# Base images are pinned by tag. For release builds, pin them by digest as well
# (image:tag@sha256:...) so that a re-pushed tag cannot change what is built.

# --- Pinned release artifacts: scripts/pin_versions.ts rewrites the ARG lines below. ---
# Each hash is the one the release's SHA256SUMS lists for the linux-<arch> archive; the build
# checks every download against it and stops on a mismatch or on a placeholder of zeros.
ARG NATS_SERVER_VERSION=2.12.4
ARG NATS_SERVER_SHA256_AMD64=92388f2e4aa1e6dea402eb173cbdb1fcb1df9a9c899cb807b91ddbb45c131b65
ARG NATS_SERVER_SHA256_ARM64=44a6ff34eff7e8d0e1409dbac0b733cff7ecbb4f19388a4d0d3d6085d899f017
# The nats CLI is downloaded from its GitHub release and verified like nats-server (rather than
# copied out of the natsio/nats-box image), so one tool pins and checks both.
# UNCONFIRMED(natscli): these two hashes agree with two independent public pins of natscli 0.4.0
# UNCONFIRMED(natscli): but were not read from the release's SHA256SUMS here; confirm them with
# UNCONFIRMED(natscli): deno run -A scripts/pin_versions.ts --natscli 0.4.0
ARG NATSCLI_VERSION=0.4.0
ARG NATSCLI_SHA256_AMD64=8dbd437c826b953dbd7432cf890ef22ba3c33dccc3dce5e71b3e8d055427849c
ARG NATSCLI_SHA256_ARM64=9ce0c8a6653cd697d0b32687fcb53b59c13a2ad7a6ade7af8ad8a1c0f7357a87
# --- End of pinned release artifacts. ---

# The version in deno.json; pass --build-arg POT_NATS_VERSION=... for other builds.
ARG POT_NATS_VERSION=0.1.0
ARG POT_NATS_SOURCE=https://github.com/Datasance/nats-server


# ---- build: compile the supervisor for the target architecture ----
FROM --platform=$BUILDPLATFORM denoland/deno:debian-2.9.6 AS build
ARG TARGETARCH
USER root
WORKDIR /src
COPY . .
# `deno task compile` runs scripts/compile.ts with the same flags and permissions as a local
# release build, for the one target named in POT_NATS_COMPILE_TARGETS. It downloads the denort
# runtime of that target; DENO_DIR (/deno-dir in this image) is a cache shared between builds.
RUN --mount=type=cache,target=/deno-dir,sharing=locked \
    set -eu; \
    case "${TARGETARCH}" in \
      amd64) target=x86_64-unknown-linux-gnu ;; \
      arm64) target=aarch64-unknown-linux-gnu ;; \
      *) echo "pot-nats is built for linux/amd64 and linux/arm64, not ${TARGETARCH}" >&2; exit 1 ;; \
    esac; \
    POT_NATS_COMPILE_TARGETS="${target}" deno task compile; \
    install -D -m 0755 "dist/pot-nats-${target}" /out/pot-nats


# ---- fetch: download and verify nats-server and the nats CLI for the target architecture ----
FROM --platform=$BUILDPLATFORM registry.access.redhat.com/ubi9/ubi-minimal:9.7 AS fetch
ARG TARGETARCH
ARG NATS_SERVER_VERSION
ARG NATS_SERVER_SHA256_AMD64
ARG NATS_SERVER_SHA256_ARM64
ARG NATSCLI_VERSION
ARG NATSCLI_SHA256_AMD64
ARG NATSCLI_SHA256_ARM64
RUN microdnf install -y --nodocs --setopt=install_weak_deps=0 tar gzip unzip \
    && microdnf clean all
WORKDIR /fetch
RUN set -eu; \
    case "${TARGETARCH}" in \
      amd64) server_sha256="${NATS_SERVER_SHA256_AMD64}"; cli_sha256="${NATSCLI_SHA256_AMD64}" ;; \
      arm64) server_sha256="${NATS_SERVER_SHA256_ARM64}"; cli_sha256="${NATSCLI_SHA256_ARM64}" ;; \
      *) echo "pot-nats is built for linux/amd64 and linux/arm64, not ${TARGETARCH}" >&2; exit 1 ;; \
    esac; \
    for sha256 in "${server_sha256}" "${cli_sha256}"; do \
      case "${sha256}" in \
        *[!0]*) ;; \
        *) echo "a pinned hash is empty or a placeholder: run scripts/pin_versions.ts" >&2; exit 1 ;; \
      esac; \
    done; \
    server="nats-server-v${NATS_SERVER_VERSION}-linux-${TARGETARCH}"; \
    curl -fsSL --proto '=https' --tlsv1.2 -o nats-server.tar.gz \
      "https://github.com/nats-io/nats-server/releases/download/v${NATS_SERVER_VERSION}/${server}.tar.gz"; \
    echo "${server_sha256} *nats-server.tar.gz" | sha256sum -c -; \
    tar -xzf nats-server.tar.gz; \
    cli="nats-${NATSCLI_VERSION}-linux-${TARGETARCH}"; \
    curl -fsSL --proto '=https' --tlsv1.2 -o nats.zip \
      "https://github.com/nats-io/natscli/releases/download/v${NATSCLI_VERSION}/${cli}.zip"; \
    echo "${cli_sha256} *nats.zip" | sha256sum -c -; \
    unzip -q nats.zip; \
    install -D -m 0755 "${server}/nats-server" /out/bin/nats-server; \
    install -D -m 0755 "${cli}/nats" /out/bin/nats; \
    install -D -m 0644 "${server}/LICENSE" /out/licenses/nats-server/LICENSE; \
    install -D -m 0644 "${cli}/LICENSE" /out/licenses/natscli/LICENSE


# ---- runtime-base: the final image's base, for the target architecture ----
# Its files are read by the stages below and it is the base of the final stage; nothing in it
# is ever run at build time.
FROM registry.access.redhat.com/ubi9/ubi-micro:9.7 AS runtime-base


# ---- rootfs: the runner user and the directory layout of the contract ----
FROM --platform=$BUILDPLATFORM registry.access.redhat.com/ubi9/ubi-minimal:9.7 AS rootfs
# The compiled supervisor needs glibc >= 2.27 (UBI 9 has 2.34) and libgcc_s.so.1. ubi-micro
# ships libgcc today; the final stage cannot run a check without emulation, so this COPY is the
# check: it fails the build if a future ubi-micro drops the library, instead of shipping an
# image whose entrypoint cannot start.
COPY --from=runtime-base /usr/lib64/libgcc_s.so.1 /check/libgcc_s.so.1
# ubi-micro has no useradd: its own passwd and group files get the runner lines appended here
# and are copied back whole.
COPY --from=runtime-base /etc/passwd /etc/group /rootfs/etc/
RUN set -eu; \
    echo 'runner:x:10000:10000:pot-nats:/home/runner:/sbin/nologin' >> /rootfs/etc/passwd; \
    echo 'runner:x:10000:' >> /rootfs/etc/group; \
    mkdir -p /rootfs/etc/nats/config /rootfs/etc/nats/certs /rootfs/etc/nats/creds; \
    mkdir -p -m 0750 /rootfs/home/runner/nats/jwt /rootfs/home/runner/nats/data


# ---- final image ----
FROM runtime-base
ARG POT_NATS_VERSION
ARG POT_NATS_SOURCE
LABEL org.opencontainers.image.title="pot-nats" \
      org.opencontainers.image.description="nats-server supervised by pot-nats: reloads on mounted config, TLS, creds and account JWT changes, and purges JetStream data of removed accounts" \
      org.opencontainers.image.source="${POT_NATS_SOURCE}" \
      org.opencontainers.image.version="${POT_NATS_VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="registry.access.redhat.com/ubi9/ubi-micro:9.7" \
      name="pot-nats" \
      summary="nats-server supervised by pot-nats" \
      description="nats-server supervised by pot-nats" \
      io.k8s.display-name="pot-nats" \
      io.k8s.description="nats-server supervised by pot-nats"

COPY --from=rootfs /rootfs/etc/passwd /rootfs/etc/group /etc/
COPY --from=rootfs /rootfs/etc/nats/ /etc/nats/
# Only the resolver dir (NATS_JWT_DIR) and the JetStream data dir are the runner's; the binaries
# stay root's, so the server's user cannot replace them.
COPY --from=rootfs --chown=10000:10000 /rootfs/home/runner/nats/ /home/runner/nats/
COPY --from=fetch /out/bin/ /home/runner/bin/
COPY --from=fetch /out/licenses/ /licenses/
COPY --from=build /out/pot-nats /home/runner/bin/pot-nats
# The default config: a standalone server with JetStream under /home/runner/nats/data, no auth.
COPY image/nats-server.conf /etc/nats/config/server.conf

ENV HOME=/home/runner \
    PATH=/home/runner/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /home/runner
USER 10000:10000

# 4222 clients, 6222 cluster routes, 7422 leaf nodes, 8222 nats-server's HTTP monitor
# (NATS_MONITOR_PORT), 8223 the supervisor's /metrics, /status, /healthz, /readyz (POT_NATS_HTTP_PORT).
EXPOSE 4222 6222 7422 8222 8223

# Exits 0 when the supervisor answers /healthz on 127.0.0.1:$POT_NATS_HTTP_PORT: it runs and so does
# nats-server (the image has no curl).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/home/runner/bin/pot-nats", "healthcheck"]

# pot-nats stops nats-server on SIGTERM (lame duck first when POT_NATS_LAME_DUCK is set).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/home/runner/bin/pot-nats"]
