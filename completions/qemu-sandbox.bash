# bash completion for qemu-sandbox (the operator's tool) and for the
# -sandbox option of qemu-sandboxed.
# Installed as /usr/share/bash-completion/completions/qemu-sandbox (and
# linked as qemu-sandboxed): bash-completion loads it on first use.

# Completes a -sandbox string: "on"/"off", then KEY=VALUE after each comma.
_qemu_sandbox_policy() {
  local cur=$1 head last
  case $cur in
    *,*) head=${cur%,*}, last=${cur##*,} ;;
    *)
      mapfile -t COMPREPLY < <(compgen -W 'on on, off' -- "$cur")
      compopt -o nospace 2>/dev/null
      return
      ;;
  esac
  local words
  case $last in
    obsolete=*) words='obsolete=allow obsolete=deny' ;;
    elevateprivileges=*) words='elevateprivileges=allow elevateprivileges=deny elevateprivileges=children' ;;
    spawn=*) words='spawn=allow spawn=deny' ;;
    resourcecontrol=*) words='resourcecontrol=allow resourcecontrol=deny' ;;
    network=*) words='network=allow network=deny' ;;
    action=*) words='action=kill action=trap action=errno action=log' ;;
    preflight=*) words='preflight=enforce preflight=warn' ;;
    *) words='obsolete= elevateprivileges= spawn= resourcecontrol= network= action= preflight=' ;;
  esac
  mapfile -t COMPREPLY < <(compgen -P "$head" -W "$words" -- "$last")
  compopt -o nospace 2>/dev/null
}

_qemu_sandbox() {
  local cur prev cmd i
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD-1]}
  cmd=
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      -*) ;;
      *) cmd=${COMP_WORDS[i]}; break ;;
    esac
  done
  local abis='x86_64 i386 x32 aarch64 arm ppc64le s390x riscv64 loongarch64 mips64el amd64 arm64'
  case $prev in
    --arch) mapfile -t COMPREPLY < <(compgen -W "$abis" -- "$cur"); return ;;
    --format)
      case $cmd in
        compile) mapfile -t COMPREPLY < <(compgen -W 'disasm raw c json' -- "$cur") ;;
        export) mapfile -t COMPREPLY < <(compgen -W 'oci systemd' -- "$cur") ;;
      esac
      return
      ;;
    -o | --output) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
    --since) mapfile -t COMPREPLY < <(compgen -W '10m 1h 2h 1d' -- "$cur"); return ;;
    --policy) _qemu_sandbox_policy "$cur"; return ;;
  esac
  if [ -z "$cmd" ]; then
    mapfile -t COMPREPLY < <(compgen -W 'groups explain compile simulate doctor audit export host --help' -- "$cur")
    return
  fi
  # The positional this word would be (options and their values skipped).
  local n=0 w
  for ((i = i + 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    case $w in
      --arch | --format | -o | --output | --since | --policy) ((i++)) ;;
      -*) ;;
      *) ((n++)) ;;
    esac
  done
  case $cur in
    -*)
      local opts='--help'
      case $cmd in
        groups | explain) opts="$opts --arch --json" ;;
        compile) opts="$opts --arch --format --output -o --json" ;;
        simulate) opts="$opts --arch --json" ;;
        doctor) opts="$opts --json" ;;
        audit) opts="$opts --since --policy --json" ;;
        export) opts="$opts --format --arch --json" ;;
        host) opts="$opts --json" ;;
      esac
      mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
      return
      ;;
  esac
  case $cmd:$n in
    groups:0) mapfile -t COMPREPLY < <(compgen -W 'default obsolete elevateprivileges spawn resourcecontrol network' -- "$cur") ;;
    explain:0 | compile:0 | simulate:0 | export:0) _qemu_sandbox_policy "$cur" ;;
    audit:0) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    host:0) mapfile -t COMPREPLY < <(compgen -W 'enable disable status' -- "$cur") ;;
  esac
}
complete -F _qemu_sandbox qemu-sandbox

# qemu-sandboxed: the -sandbox value; files otherwise.
_qemu_sandboxed() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  if [ "$prev" = -sandbox ]; then
    _qemu_sandbox_policy "$cur"
    return
  fi
  mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}
complete -F _qemu_sandboxed qemu-sandboxed
