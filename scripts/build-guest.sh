#!/bin/sh
# Builds the e2e/demo test guest into OUTDIR: a Debian kernel (vmlinuz) and a
# busybox initramfs (initrd.gz), plus guest.env describing them.
#
#   sh scripts/build-guest.sh OUTDIR
#
# Debian packages only (the machines reach no other source): the kernel comes
# from linux-image-amd64, downloaded and unpacked with dpkg-deb rather than
# installed (installing runs slow initramfs hooks and touches /boot). The
# caller (scripts/lib/guest.ts) keys its cache on a hash of this file, so any
# change here rebuilds the guest, and so does a new busybox-static or a new
# linux-image-amd64 candidate (the guest is made of them).
#
# Guest protocol (everything it prints on the serial console starts with "QS-"
# or is the marker, so a test can ignore the rest):
#   kernel command line  qs.check=a,b,c   checks to run: disk nonet cpu
#                        qs.mode=poweroff (default) | stay
#   prints               QEMU-SANDBOXED-GUEST-OK kernel=<release>
#                        QS-CHECK <name> ok|fail <detail>
#                        QS-CHECKS-DONE failed=<n>
#   stay mode            QS-READY, then answers console lines:
#                        "qs-ping" -> "QS-PONG <n>", "qs-stop" -> powers off
#   at the end           QS-POWEROFF, then `poweroff -f` (QEMU exits 0)
set -eu

out=${1:?usage: build-guest.sh OUTDIR}

log() { echo "build-guest: $*" >&2; }
die() {
  echo "build-guest: error: $*" >&2
  exit 1
}

# --- host packages ------------------------------------------------------------
# busybox-static for the guest userland, cpio+gzip to pack it, QEMU to run it.
need=""
for p in busybox-static cpio gzip qemu-system-x86 qemu-utils; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || need="$need $p"
done
# A fresh Debian image has empty package lists: apt-cache then knows no kernel.
lists_ready() { apt-cache show --no-all-versions linux-image-amd64 >/dev/null 2>&1; }
if [ -n "$need" ] || ! lists_ready; then
  if [ "$(id -u)" != 0 ]; then
    [ -z "$need" ] || die "missing Debian packages:$need (run as root, or install them)"
    die "apt knows no linux-image-amd64 (empty package lists): run apt-get update as root"
  fi
  log "apt-get update"
  apt-get update -q >/dev/null || die "apt-get update failed"
fi
if [ -n "$need" ]; then
  log "installing:$need"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >"${TMPDIR:-/tmp}/qs-guest-apt.log" 2>&1 ||
    die "apt-get install$need failed: $(tail -n 5 "${TMPDIR:-/tmp}/qs-guest-apt.log")"
fi

busybox=/bin/busybox
[ -x "$busybox" ] || die "$busybox missing after installing busybox-static"

work=$(mktemp -d "${TMPDIR:-/tmp}/qs-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- kernel -------------------------------------------------------------------
# linux-image-amd64 is a metapackage: the image is its Depends (linux-image-<abi>-amd64).
resolve_kernel() {
  kpkg=$(apt-cache show --no-all-versions linux-image-amd64 |
    sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*-amd64\).*/\1/p' | head -n 1)
  [ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 to a kernel package (apt-get update?)"
}
# apt-get download writes to the current directory (a .deb already in
# /var/cache/apt/archives is copied from there), so /var/cache/apt may be
# read-only. As root, apt warns that its _apt user cannot write to our private
# temp dir and downloads as root instead: harmless, so the warning goes to the log.
download_kernel() {
  log "downloading $kpkg"
  (cd "$work" && apt-get download -q "$kpkg" >/dev/null 2>"$work/download.log")
}
resolve_kernel
if ! download_kernel; then
  # Lists older than the mirror name a .deb it no longer serves (404 once
  # Debian ships the next kernel): refresh them once and resolve again.
  [ "$(id -u)" = 0 ] || die "apt-get download $kpkg failed: $(tail -n 3 "$work/download.log")"
  log "apt-get download $kpkg failed ($(tail -n 1 "$work/download.log")); apt-get update, then again"
  apt-get update -q >/dev/null || die "apt-get update failed"
  resolve_kernel
  download_kernel || die "apt-get download $kpkg failed: $(tail -n 3 "$work/download.log")"
fi
deb=$(ls "$work"/linux-image-*.deb)
dpkg-deb -x "$deb" "$work/kernel" || die "dpkg-deb -x $deb failed"
vmlinuz=$(ls "$work"/kernel/boot/vmlinuz-* 2>/dev/null | head -n 1)
[ -n "$vmlinuz" ] || die "no boot/vmlinuz-* in $deb"
release=${vmlinuz##*/vmlinuz-}
# Debian 12 ships modules under /lib/modules, Debian 13 (merged /usr) under
# /usr/lib/modules.
moddir=""
for d in "$work/kernel/lib/modules/$release" "$work/kernel/usr/lib/modules/$release"; do
  [ -d "$d/kernel" ] && moddir=$d
done
[ -n "$moddir" ] || die "no lib/modules/$release/kernel or usr/lib/modules/$release/kernel in $deb"

# --- initramfs ----------------------------------------------------------------
root="$work/root"
mkdir -p "$root/bin" "$root/sbin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" \
  "$root/lib/modules"
cp "$busybox" "$root/bin/busybox"

# Debian builds virtio as modules (CONFIG_VIRTIO_BLK=m): ship just what the
# disk check needs, in dependency order, read from each module's own
# .modinfo "depends=" (the package has no modules.dep: depmod runs at install).
# Debian 13 compresses modules (.ko.xz): they are unpacked here, so the
# guest's insmod needs no decompressor. A driver the kernel has built in
# instead (Debian 13's virtio_pci) has no file and needs no insmod: the
# package's modules.builtin (which depmod reads) lists it. A module that is
# neither is an error.
alt_name() { echo "$1" | tr _ -; } # depends= names use '_' where some file names use '-' (virtio-rng.ko)
mods="$work/modules"
mkdir -p "$mods"
ko_file() { # name -> $mods/name.ko, unpacked from the package once
  [ -f "$mods/$1.ko" ] && return 0
  f=$(find "$moddir/kernel" \( -name "$1.ko" -o -name "$(alt_name "$1").ko" \
    -o -name "$1.ko.xz" -o -name "$(alt_name "$1").ko.xz" \) | head -n 1)
  [ -n "$f" ] || die "module $1 not in $kpkg (no $1.ko or $1.ko.xz), nor built into its kernel (modules.builtin)"
  case "$f" in
    *.xz) "$busybox" unxz -c "$f" >"$mods/$1.ko" || die "cannot unpack $f" ;;
    *) cp "$f" "$mods/$1.ko" ;;
  esac
}
is_builtin() {
  [ -f "$moddir/modules.builtin" ] &&
    grep -q -E "(^|/)($1|$(alt_name "$1"))\.ko\$" "$moddir/modules.builtin"
}
order=""
builtin=""
add_module() {
  case " $order $builtin " in *" $1 "*) return 0 ;; esac
  if is_builtin "$1"; then
    builtin="$builtin $1"
    return 0
  fi
  ko_file "$1"
  for d in $(tr '\0' '\n' <"$mods/$1.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
    add_module "$d"
  done
  # sh has no locals, but $1 is the function's own: still this module.
  order="$order $1"
  cp "$mods/$1.ko" "$root/lib/modules/"
}
add_module virtio_pci
add_module virtio_blk
echo "$order" | sed 's/^ //' >"$root/lib/modules/order"

cat >"$root/init" <<'EOF'
#!/bin/busybox sh
# PID 1 of the test guest. Never exits (the kernel would panic): it powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The initramfs has no /dev/console node, so the kernel gave us no stdio.
exec 0</dev/console 1>/dev/console 2>&1
stty -echo 2>/dev/null

checks=""
mode=poweroff
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    qs.check=*) checks=$(echo "${arg#qs.check=}" | tr ',' ' ') ;;
    qs.mode=*) mode=${arg#qs.mode=} ;;
  esac
done

echo "QEMU-SANDBOXED-GUEST-OK kernel=$(uname -r)"

failed=0
report() { # name ok|fail detail
  echo "QS-CHECK $1 $2 $3"
  [ "$2" = ok ] || failed=$((failed + 1))
}

check_disk() {
  # Guest I/O goes through QEMU's aio engine (threads or io_uring) for real.
  for m in $(cat /lib/modules/order); do
    if ! insmod "/lib/modules/$m.ko" 2>/dev/null; then
      # The kernel says why (an unknown symbol is a missing dependency).
      dmesg | tail -n 3 | sed 's/^/QS-DMESG /'
      report disk fail "insmod-$m"
      return
    fi
  done
  i=0
  while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  [ -b /dev/vda ] || { report disk fail no-vda; return; }
  token="qs-disk-$$-$(cat /proc/sys/kernel/random/uuid)"
  echo "$token" | dd of=/dev/vda bs=4096 seek=16 conv=sync,fsync oflag=direct 2>/dev/null ||
    { report disk fail write; return; }
  back=$(dd if=/dev/vda bs=4096 skip=16 count=1 iflag=direct 2>/dev/null | tr -d '\0' | head -n 1)
  [ "$back" = "$token" ] || { report disk fail readback; return; }
  report disk ok "vda=$(cat /sys/block/vda/size)s"
}

check_nonet() {
  ifaces=$(ls /sys/class/net | tr '\n' ' ' | sed 's/ $//')
  if [ "$ifaces" = lo ]; then report nonet ok lo; else report nonet fail "$(echo $ifaces | tr ' ' ,)"; fi
}

check_cpu() {
  report cpu ok "n=$(grep -c ^processor /proc/cpuinfo)"
}

for c in $checks; do
  case "$c" in
    disk) check_disk ;;
    nonet) check_nonet ;;
    cpu) check_cpu ;;
    *) report "$c" fail unknown-check ;;
  esac
done
echo "QS-CHECKS-DONE failed=$failed"

if [ "$mode" = stay ]; then
  echo "QS-READY"
  n=0
  while :; do
    if ! read -r line; then sleep 1; continue; fi
    case "$line" in
      *qs-ping*) n=$((n + 1)); echo "QS-PONG $n" ;;
      *qs-stop*) break ;;
    esac
  done
fi
echo "QS-POWEROFF"
poweroff -f
EOF
chmod 755 "$root/init"

mkdir -p "$out"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9 -n >"$out/initrd.gz") ||
  die "packing the initramfs failed"
cp "$vmlinuz" "$out/vmlinuz"
cat >"$out/guest.env" <<EOF
KERNEL_PACKAGE=$kpkg
KERNEL_DEB=${deb##*/}
KERNEL_RELEASE=$release
MODULES=$(cat "$root/lib/modules/order")
BUILTIN_MODULES=$(echo "$builtin" | sed 's/^ //')
EOF
log "built $out (kernel $release)"
