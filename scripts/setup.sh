#!/bin/sh
# Installs what `npm test`, `npm run demo` and `npm run bench` need on a fresh
# Debian machine (as root), then builds. Idempotent and quiet when all is there.
set -eu
cd "$(dirname "$0")/.."

# Debian packages: QEMU and its tools, the busybox for the test guest,
# libseccomp (differential tests and the bench), scmp_sys_resolver (cross-check),
# bubblewrap (proves `qemu-sandbox compile --format raw` is what bwrap --seccomp reads),
# systemd (its systemd-analyze verifies `qemu-sandbox export --format systemd`),
# a C compiler for the probe programs, libvirt for the emulator-override test,
# and mmdebstrap for the Debian roots the suites also run in (scripts/debian-root.sh).
PACKAGES="qemu-system-x86 qemu-utils busybox-static seccomp libseccomp-dev gcc libc6-dev
linux-libc-dev ipxe-qemu libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients cpio gzip bubblewrap
systemd mmdebstrap"

# The package tests' tools, on this machine only (not in the Debian roots):
# dpkg-dev (dpkg-shlibdeps for the .deb's Depends, dpkg-scanpackages for a
# local repository), lintian, file, man-db (man pages), podman and buildah
# with crun (the container image), uidmap and fuse-overlayfs for podman.
PACKAGE_TOOLS="dpkg-dev lintian file man-db podman buildah crun uidmap fuse-overlayfs"

# `setup.sh --print-packages`: the Debian packages the suites need, one a line
# (the Debian roots the suites also run in are built with them).
if [ "${1:-}" = --print-packages ]; then
  printf '%s\n' $PACKAGES
  exit 0
fi

# `setup.sh --suites-only`: without the package tests' tools (the Debian 13
# root's run of the kernel and e2e suites needs none of them).
tools=$PACKAGE_TOOLS
if [ "${1:-}" = --suites-only ]; then
  tools=""
fi

missing=""
for p in $PACKAGES $tools; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages:$missing (run as root, or install them)" >&2
    exit 1
  fi
  echo "setup: installing Debian packages:$missing" >&2
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2
fi

# npm dependencies: reinstall when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies" >&2
  npm ci --no-audit --no-fund >&2
fi

npm run --silent build >&2
