#!/bin/sh
# Debian roots built from Debian's own packages, to run things against another
# Debian release's QEMU and libvirt (the suites against Debian 13, the .deb
# installed into a fresh Debian 12 or 13). Root only (mmdebstrap's root mode,
# mounts, chroot).
#
#   sh scripts/debian-root.sh SUITE DIR [PACKAGE...]
#       Makes DIR a fresh, writable Debian SUITE root (bookworm, trixie, ...):
#       mmdebstrap's "apt" variant (Essential: yes packages and apt) plus
#       PACKAGE... and their dependencies (no Recommends), from
#       deb.debian.org's SUITE, SUITE-updates and SUITE-security, with apt's
#       package lists kept (apt-get install works inside without an update).
#       DIR must not exist, or be a root this script made earlier (it is then
#       replaced by a fresh one). Prints DIR on stdout.
#
#   sh scripts/debian-root.sh --cache-only SUITE [PACKAGE...]
#       Only builds (or keeps) the cached pristine root for SUITE and
#       PACKAGE...: a run starts the builds it will need early, while other
#       work goes on. Prints the pristine root's path.
#
#   sh scripts/debian-root.sh run DIR [OPTION...] [--] COMMAND [ARG...]
#       Runs COMMAND as root inside DIR and exits with its status. It runs in
#       a private mount namespace (nothing stays mounted afterwards, so
#       `rm -rf DIR` cleans up; the host's own mounts are never touched),
#       with the host's /proc, /sys and /dev (with /dev/pts, /dev/shm and
#       /dev/net/tun when present) and /tmp bind-mounted, a fresh tmpfs on
#       /run, and the host's /etc/resolv.conf. Same PID and network namespace
#       as the caller: pids and /proc mean the same inside and out.
#       DIR becomes the namespace's root (pivot_root; the host's root is
#       unmounted there), not a chroot: a daemon that makes mount namespaces
#       of its own and enters them again (libvirt's per-domain /dev), and
#       the names /proc gives files of their processes, work as on a booted
#       system. Unmounting the host's root takes a umount after the switch:
#       the host's static busybox (busybox-static) if it has one, else DIR's
#       own umount (Debian's mount package).
#       The environment is clean: PATH, HOME=/root, LANG=C.UTF-8, TERM, plus
#       what --setenv gives. Options:
#         --bind HOST[:INNER]      bind-mount HOST (a directory or a file) at
#                                  INNER inside the root (default: the same
#                                  path); INNER is created when missing
#         --ro-bind HOST[:INNER]   the same, read-only
#         --setenv NAME=VALUE      set NAME in COMMAND's environment
#         --chdir INNER            working directory (default /)
#
# Cache: every root is a copy of a pristine one in
# ${QEMU_SANDBOXED_ROOTS:-/var/cache/qemu-sandboxed/roots}/SUITE-KEY/root,
# where KEY hashes the suite, the package list (sorted, deduplicated) and
# the build part of this script. The first call for a KEY builds it (about a minute or two);
# later calls only copy it (seconds). Another package list or an edit of this
# script makes another KEY; different lists live side by side. Nothing is
# updated in place: a root is built again from scratch once it is older than
# ${QEMU_SANDBOXED_ROOT_MAX_AGE_DAYS:-30} days (to take in Debian's updates),
# or when its directory is removed. Parallel callers are serialised per KEY
# with flock (a copy is made under the same lock). A cached root no call
# asked for within that age is removed.
#
# Exit codes: 0 ok; 2 usage; 3 the root could not be built or copied (the
# reason is on stderr, the mmdebstrap log in the cache's SUITE-KEY.log);
# with run, COMMAND's own status (125 when the root cannot be entered).
#
# Example:
#   sh scripts/debian-root.sh trixie /tmp/r qemu-system-x86 >/dev/null
#   sh scripts/debian-root.sh run /tmp/r --bind "$PWD:/src" -- qemu-system-x86_64 --version
#   rm -rf /tmp/r
set -eu

prog=debian-root.sh
die() { # code message
  echo "$prog: error: $2" >&2
  exit "$1"
}
usage() {
  die 2 "usage: $prog SUITE DIR [PACKAGE...] | $prog --cache-only SUITE [PACKAGE...] | $prog run DIR [--bind H[:I]] [--ro-bind H[:I]] [--setenv N=V] [--chdir I] [--] COMMAND [ARG...]"
}

MARKER=.qemu-sandboxed-root # in DIR: says this script made it (safe to replace)
CACHE=${QEMU_SANDBOXED_ROOTS:-/var/cache/qemu-sandboxed/roots}
MIRROR=http://deb.debian.org/debian
SECURITY=http://deb.debian.org/debian-security

[ "$(id -u)" = 0 ] || die 2 "must run as root (mmdebstrap root mode, mounts, chroot)"

# ---- run ----------------------------------------------------------------------
if [ "${1:-}" = run ]; then
  shift
  [ $# -ge 1 ] || usage
  dir=$1
  shift
  [ -f "$dir/$MARKER" ] || die 125 "$dir is not a root made by $prog (no $MARKER)"
  dir=$(cd "$dir" && pwd -P)
  # Options become lines of a script for the namespace; paths are quoted with
  # single quotes, so a path holding one is refused rather than mangled.
  q() {
    case "$1" in *"'"*) die 2 "a path or value with a single quote is not supported: $1" ;; esac
    printf "'%s'" "$1"
  }
  binds=""
  envs=""
  chdir=/
  while [ $# -gt 0 ]; do
    case "$1" in
      --bind | --ro-bind)
        [ $# -ge 2 ] || usage
        host=${2%%:*}
        inner=${2#*:}
        [ "$inner" != "$2" ] || inner=$host
        [ -e "$host" ] || die 125 "$1 $2: $host does not exist"
        case "$inner" in /*) ;; *) die 2 "$1 $2: the inner path must be absolute" ;; esac
        ro=0
        [ "$1" = --bind ] || ro=1
        binds="$binds
bind_at $(q "$host") $(q "$inner") $ro"
        shift 2
        ;;
      --setenv)
        [ $# -ge 2 ] || usage
        case "$2" in [A-Za-z_]*=*) ;; *) die 2 "--setenv $2: expected NAME=VALUE" ;; esac
        envs="$envs $(q "$2")"
        shift 2
        ;;
      --chdir)
        [ $# -ge 2 ] || usage
        chdir=$2
        shift 2
        ;;
      --)
        shift
        break
        ;;
      -*) usage ;;
      *) break ;;
    esac
  done
  [ $# -ge 1 ] || usage
  # The namespace script: mounts, then pivot_root. Every mount is made in
  # the private namespace unshare created, so they all vanish with COMMAND.
  script="set -eu
r=$(q "$dir")
fail() { echo \"$prog: error: \$*\" >&2; exit 125; }
bind_at() { # host inner readonly
  # The mount point is made and resolved inside the root (its own sh, mkdir,
  # realpath): its absolute symlinks (/var/run -> /run) must not lead out to
  # the host's directories.
  if [ -d \"\$1\" ]; then make='mkdir -p \"\$1\"'; else make='mkdir -p \"\$(dirname \"\$1\")\" && { [ -e \"\$1\" ] || : >\"\$1\"; }'; fi
  chroot \"\$r\" /bin/sh -c \"\$make\" sh \"\$2\" || fail \"cannot make \$2 in the root\"
  t=\"\$r\$(chroot \"\$r\" realpath \"\$2\")\" || fail \"cannot resolve \$2 in the root\"
  mount --rbind \"\$1\" \"\$t\" || fail \"cannot bind \$1 at \$2\"
  if [ \"\$3\" = 1 ]; then mount -o remount,bind,ro \"\$t\" || fail \"cannot make \$2 read-only\"; fi
}
# The root a mount of its own, so / is a mount point inside: tools that
# change /'s propagation or pivot_root (bwrap, unshare --mount-proc) need that.
mount --bind \"\$r\" \"\$r\" || fail \"cannot bind \$r onto itself\"
bind_at /proc /proc 0
bind_at /sys /sys 0
bind_at /dev /dev 0
bind_at /tmp /tmp 0
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs \"\$r/run\" || fail 'cannot mount a tmpfs on /run'
mkdir -p \"\$r/run/lock\"
[ ! -e /etc/resolv.conf ] || bind_at /etc/resolv.conf /etc/resolv.conf 1
$binds
# DIR becomes / of this namespace: the host's root goes to OLD, is
# unmounted with a umount reachable after the switch, and OLD is removed.
old=/.qemu-sandboxed-old-root
if [ -x /bin/busybox ] && [ \"\$(/bin/busybox 2>/dev/null | grep -c umount)\" != 0 ]; then
  umount_old=\"\$old/bin/busybox umount -l \$old\"
elif [ -x \"\$r/usr/bin/umount\" ] || [ -x \"\$r/bin/umount\" ]; then
  umount_old=\"umount -l \$old\"
else
  fail 'no umount for after the switch: install busybox-static on the host or mount in the root'
fi
mkdir -p \"\$r\$old\"
cd \"\$r\"
pivot_root . \".\$old\" || fail 'pivot_root failed'
cd /
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
\$umount_old || fail \"cannot unmount the host's root from \$old\"
rmdir \"\$old\"
exec /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
  HOME=/root LANG=C.UTF-8 TERM=\"\${TERM:-dumb}\" $envs /bin/sh -c 'cd \"\$1\" && shift && exec \"\$@\"' sh $(q "$chdir") \"\$@\""
  exec unshare --mount --propagation private -- /bin/sh -c "$script" sh "$@"
fi

# ---- build --------------------------------------------------------------------
cache_only=0
if [ "${1:-}" = --cache-only ]; then
  cache_only=1
  shift
  [ $# -ge 1 ] || usage
  suite=$1
  dir=""
  shift
else
  [ $# -ge 2 ] || usage
  suite=$1
  dir=$2
  shift 2
fi
case "$suite" in '' | -* | */* | *[!a-z0-9-]*) die 2 "bad suite name: $suite" ;; esac
[ "$cache_only" = 1 ] || case "$dir" in '' | / | /usr | /etc | /var | /tmp) die 2 "refusing DIR=$dir" ;; esac
if [ -n "$dir" ] && [ -e "$dir" ] && ! [ -f "$dir/$MARKER" ]; then
  die 2 "$dir exists and is not a root made by $prog (no $MARKER): refusing to replace it"
fi
for p in "$@"; do
  case "$p" in '' | -* | *[!a-z0-9+.:-]*) die 2 "bad package name: $p" ;; esac
done
command -v mmdebstrap >/dev/null || die 3 "mmdebstrap is missing: apt-get install mmdebstrap (npm run setup installs it)"

packages=$(printf '%s\n' "$@" | LC_ALL=C sort -u | tr '\n' ' ' | sed 's/^ *//; s/ *$//')
sources="deb $MIRROR $suite main
deb $MIRROR $suite-updates main
deb $SECURITY $suite-security main"
# The key covers the build section of this script (from its heading to the
# end), not the runner: editing how roots are entered rebuilds nothing.
key=$({
  printf 'suite %s\npackages %s\n%s\n' "$suite" "$packages" "$sources"
  sed -n '/^# ---- build -/,$p' "$0"
} | sha256sum | cut -c1-16)
name=$suite-$key
pristine=$CACHE/$name/root

mkdir -p "$CACHE"
exec 9>"$CACHE/$name.lock"
flock 9 || die 3 "cannot lock $CACHE/$name.lock"
# Debian's updates (QEMU's security fixes) reach the cache when it is
# rebuilt: a root older than the maximum age is built again.
max_age=${QEMU_SANDBOXED_ROOT_MAX_AGE_DAYS:-30}
case "$max_age" in '' | *[!0-9]*) die 2 "QEMU_SANDBOXED_ROOT_MAX_AGE_DAYS=$max_age: expected a number of days" ;; esac
if [ -f "$CACHE/$name/info" ] && [ -n "$(find "$CACHE/$name/info" -mtime +"$max_age")" ]; then
  echo "$prog: $name is older than $max_age days: building it again" >&2
  rm -rf "$CACHE/$name"
fi
if ! [ -f "$CACHE/$name/info" ]; then
  log=$CACHE/$name.log
  tmp=$CACHE/.build-$name-$$
  # Under the lock, another build's directory is one that died (mmdebstrap
  # mounts only in its own namespace, below, so nothing is mounted there).
  rm -rf --one-file-system "$CACHE/.build-$name-"* "$CACHE/$name"
  mkdir -p "$tmp"
  echo "$prog: building $suite root ($name) with: ${packages:-nothing extra}" >&2
  started=$(date +%s)
  include=$(echo "$packages" | tr ' ' ',')
  # --skip=cleanup/apt/lists keeps the package lists (apt-cache, apt-get
  # download and install work inside). mmdebstrap installs no Recommends;
  # the root's own apt keeps Debian's default (it installs them). Its
  # eatmydata hook spares dpkg's fsyncs while building and takes eatmydata
  # out of the root at the end.
  hooks=/usr/share/mmdebstrap/hooks/eatmydata
  [ -d "$hooks" ] || hooks=""
  # In a mount namespace of its own: the /proc, /sys and /dev it mounts in
  # the new root vanish with it, even when it is killed. The lock's fd is
  # not passed on (a process left behind would hold the lock).
  if ! unshare --mount --propagation private -- \
    mmdebstrap --variant=apt --mode=root --format=directory --skip=cleanup/apt/lists \
    ${hooks:+--hook-dir="$hooks"} ${include:+--include="$include"} \
    "$suite" "$tmp/root" "$sources" >"$log" 2>&1 9>&-; then
    rm -rf --one-file-system "$tmp"
    die 3 "mmdebstrap $suite failed (log: $log): $(grep -E '^E:|rror' "$log" | tail -n 3 | tr '\n' ' ')"
  fi
  {
    echo "suite=$suite"
    echo "packages=$packages"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "seconds=$(($(date +%s) - started))"
    echo "mmdebstrap=$(mmdebstrap --version | head -n 1)"
  } >"$tmp/info"
  mv "$tmp" "$CACHE/$name"
  echo "$prog: built $name in $(($(date +%s) - started)) s" >&2
fi

if [ "$cache_only" = 1 ]; then
  touch "$CACHE/$name/last-used"
  echo "$pristine"
  exit 0
fi
# A fresh copy for the caller: the pristine root is never entered.
if [ -e "$dir" ]; then
  rm -rf --one-file-system "$dir" || die 3 "cannot remove the old root $dir"
fi
mkdir -p "$dir" || die 3 "cannot create $dir"
cp -a "$pristine/." "$dir/" || die 3 "cannot copy $pristine to $dir"
cp "$CACHE/$name/info" "$dir/$MARKER"
touch "$CACHE/$name/last-used"
exec 9>&-

# Other package lists' roots that nobody asked for within the maximum age
# go (each under its own lock, skipped while someone holds it).
for other in "$CACHE"/*-????????????????; do
  [ -d "$other" ] && [ "$other" != "$CACHE/$name" ] || continue
  used=$other/last-used
  [ -f "$used" ] || used=$other/info
  [ -n "$(find "$used" -mtime +"$max_age" 2>/dev/null)" ] || continue
  if flock -n "$other.lock" rm -rf --one-file-system "$other"; then
    rm -f "$other.log"
    echo "$prog: removed ${other##*/}, unused for $max_age days" >&2
  fi
done
echo "$dir"
