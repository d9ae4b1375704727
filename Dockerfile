# syntax=docker/dockerfile:1
# qemu-sandboxed as a container image: QEMU (from Debian) whose entry point is
# the launcher, so `docker run IMAGE [QEMU ARGS]` runs QEMU under the filter.
# See docs/container.md. The steps are the project's own: npm ci and
# npm run build (as scripts/setup.sh runs them), then scripts/install (as
# test/unit/install.test.ts runs it); test/unit/container.test.ts checks that.
#
# Both stages use the Node 20 image on Debian bookworm: the same Debian
# release (QEMU 7.2) and Node major as the machines the tests run on, and the
# native module built in the first stage matches the second's Node and glibc.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# node-gyp builds @2060.io/ffi-napi from source during npm ci.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first: this layer is reused until the lock file changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM ${NODE_IMAGE} AS run
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends qemu-system-x86 qemu-utils \
 && rm -rf /var/lib/apt/lists/*
# The built checkout is bind-mounted, not copied: only what scripts/install
# puts under /usr/local (production node_modules included) lands in the image.
RUN --mount=type=bind,from=build,source=/src,target=/src sh /src/scripts/install --prefix /usr/local
# QEMU does not need root; without CAP_SYS_ADMIN the launcher sets
# no-new-privileges, as the kernel requires for a seccomp filter.
RUN useradd --system --create-home --home-dir /home/qemu --shell /usr/sbin/nologin qemu
USER qemu
WORKDIR /home/qemu
ENTRYPOINT ["/usr/local/bin/qemu-sandboxed"]
CMD ["-version"]
