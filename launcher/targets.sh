# Which qemu-system-<target> programs qemu-sandboxed stands in front of.
# Sourced (POSIX sh) by scripts/install and by launcher/host (which the
# Debian package's maintainer scripts run), so that every way of installing
# links and diverts the same set:
#
#   qs_scan_targets DIRS   DIRS is colon-separated like PATH. Sets
#       qs_targets  "T1 T2 ..." the targets whose first qemu-system-T on
#                   DIRS is a program (ELF): each gets a link or a diversion
#       qs_skipped  "T3 ..."    those whose first qemu-system-T is a script
#   and calls qs_skip_note T PATH for each skipped one (define it to report).
#
# Names with a dot (qemu-system-x86_64.distrib, where host-wide mode moves
# QEMU) and our own qemu-system-T-sandboxed links are not targets. A
# qemu-system-T that is qemu-sandboxed's host-wide entry (a link to the
# launcher, QEMU moved aside with dpkg-divert) counts as the program it
# diverts.

# Is $1 an ELF program (not a "#!" script)? Debian's qemu-system-i386 is a
# shell wrapper that execs /usr/libexec/qemu-system-i386: under spawn=deny
# (libvirt's string) the exec gate lets through only the launcher's own exec,
# the wrapper's exec fails with ENOSYS, and the domain would not start.
qs_is_elf() {
  [ "$(od -An -tx1 -N4 "$1" 2>/dev/null | tr -d ' \n')" = 7f454c46 ]
}

# The file that runs as QEMU when $1 is executed: $1 itself, or, when $1 is
# host-wide mode's link to the launcher or an alias link to one (Debian's
# qemu-system-amd64 -> qemu-system-x86_64), the file dpkg-divert moved QEMU
# to. Prints nothing for a launcher link without a diversion.
qs_real_qemu() {
  qs_p=$1
  qs_n=0
  while [ -h "$qs_p" ] && [ $qs_n -lt 40 ]; do
    if command -v dpkg-divert >/dev/null 2>&1; then
      qs_t=$(dpkg-divert --truename "$qs_p") || qs_t=$qs_p
      if [ "$qs_t" != "$qs_p" ]; then
        printf '%s\n' "$qs_t"
        return 0
      fi
    fi
    qs_l=$(readlink -- "$qs_p") || return 0
    case $qs_l in /*) qs_p=$qs_l ;; *) qs_p=${qs_p%/*}/$qs_l ;; esac
    qs_n=$((qs_n + 1))
  done
  [ "${qs_p##*/}" = qemu-sandboxed ] && return 0
  printf '%s\n' "$1"
}

qs_skip_note() { :; }

qs_scan_targets() {
  qs_targets=
  qs_skipped=
  qs_dirs_seen=
  qs_ifs=$IFS
  IFS=:
  # shellcheck disable=SC2086 # split on ':' on purpose
  set -- $1
  IFS=$qs_ifs
  for qs_d in "$@"; do
    # /bin and /usr/bin are one directory on merged-/usr systems: scan it once,
    # under its real name (the one dpkg records diversions with).
    qs_d=$(cd "${qs_d:-.}" 2>/dev/null && pwd -P) || continue
    case " $qs_dirs_seen " in *" $qs_d "*) continue ;; esac
    qs_dirs_seen="$qs_dirs_seen $qs_d"
    for qs_q in "$qs_d"/qemu-system-*; do
      qs_t=${qs_q##*/qemu-system-}
      case $qs_t in *-sandboxed | *.*) continue ;; esac
      case " $qs_targets $qs_skipped " in *" $qs_t "*) continue ;; esac
      qs_real=$(qs_real_qemu "$qs_q")
      [ -n "$qs_real" ] && [ -f "$qs_real" ] && [ -x "$qs_real" ] || continue
      if qs_is_elf "$qs_real"; then
        qs_targets="${qs_targets:+$qs_targets }$qs_t"
      else
        qs_skipped="${qs_skipped:+$qs_skipped }$qs_t"
        qs_skip_note "$qs_t" "$qs_q"
      fi
    done
  done
}
