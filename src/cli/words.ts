/**
 * Argument conditions and actions in words, for `explain`, `groups` and the
 * export notes. Constant names come from src/policy/constants (the same table
 * filters/*.json is written with).
 */
import { cloneFlagNames, constantNames } from '../policy/constants';
import type { ArgCondition, ResolvedAction, SandboxPolicy } from '../policy/types';

type Decoder = (v: bigint) => string;

function hexOrDecimal(v: bigint): string {
  return v < 4096n ? v.toString() : `0x${v.toString(16)}`;
}

/** A value by its name in one constant family (first name wins: AF_UNIX, not AF_LOCAL). */
function named(family: 'af' | 'sched' | 'ioctl'): Decoder {
  return (v) => constantNames(v, family)[0] ?? hexOrDecimal(v);
}

/** A flag mask as names of one family, OR-ed (unnamed bits in hex). */
function flagNames(mask: bigint, family: 'seccomp'): string {
  const names: string[] = [];
  let rest = mask;
  for (let bit = 1n; bit <= mask; bit <<= 1n) {
    const name = mask & bit ? constantNames(bit, family)[0] : undefined;
    if (name) {
      names.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0n || names.length === 0) names.push(hexOrDecimal(rest));
  return names.join('|');
}

function cloneFlags(v: bigint): string {
  return cloneFlagNames(v).join('|') || '0';
}

/** Address-family names with AF_LOCAL folded into AF_UNIX: for systemd's RestrictAddressFamilies=. */
export function addressFamilyName(v: bigint): string | undefined {
  return constantNames(v, 'af')[0];
}

/** Argument names for the calls whose arguments the groups check. */
const ARG_NAMES: Readonly<Record<string, readonly string[]>> = {
  socket: ['domain', 'type', 'protocol'],
  socketpair: ['domain', 'type', 'protocol', 'sv'],
  sched_setscheduler: ['pid', 'policy', 'param'],
  clone: ['flags', 'stack', 'parent_tid', 'child_tid', 'tls'],
  clone3: ['args', 'size'],
  unshare: ['flags'],
  setns: ['fd', 'nstype'],
  personality: ['persona'],
  ioctl: ['fd', 'request', 'arg'],
  prctl: ['option', 'arg2', 'arg3', 'arg4', 'arg5'],
  seccomp: ['operation', 'flags', 'args'],
  kill: ['pid', 'sig'],
  prlimit64: ['pid', 'resource', 'new_limit', 'old_limit'],
  migrate_pages: ['pid', 'maxnode', 'old_nodes', 'new_nodes'],
  move_pages: ['pid', 'count', 'pages', 'nodes', 'status', 'flags'],
  perf_event_open: ['attr', 'pid', 'cpu', 'group_fd', 'flags'],
};

export function argName(syscall: string, index: number, cloneFlagsArg = 0): string {
  if (syscall === 'clone') {
    // s390x swaps clone's first two arguments (CLONE_BACKWARDS2).
    if (index === cloneFlagsArg) return 'flags';
    if (index === 1 - cloneFlagsArg && cloneFlagsArg <= 1) return 'stack';
  }
  return ARG_NAMES[syscall]?.[index] ?? `args[${index}]`;
}

function decoder(syscall: string, index: number, cloneFlagsArg: number): Decoder {
  if ((syscall === 'socket' || syscall === 'socketpair') && index === 0) return named('af');
  if (syscall === 'sched_setscheduler' && index === 1) return named('sched');
  if ((syscall === 'clone' && index === cloneFlagsArg) || syscall === 'unshare') return cloneFlags;
  if (syscall === 'ioctl' && index === 1) return named('ioctl');
  if (syscall === 'seccomp' && index === 1) return (v) => flagNames(v, 'seccomp');
  return hexOrDecimal;
}

/** A value of one argument by its constant name where it has one (AF_INET, SCHED_IDLE). */
export function valueWords(
  syscall: string,
  index: number,
  cloneFlagsArg: number,
  v: bigint,
): string {
  return decoder(syscall, index, cloneFlagsArg)(v);
}

/**
 * "flags (low 32 bits, CLONE_DETACHED ignored) has all of CLONE_VM|... and
 * none of CLONE_VFORK|...": the condition under which the rule does NOT apply.
 */
export function conditionWords(syscall: string, c: ArgCondition, cloneFlagsArg = 0): string {
  const name = argName(syscall, c.arg, cloneFlagsArg);
  const dec = decoder(syscall, c.arg, cloneFlagsArg);
  const width = c.width === 32 ? ' (low 32 bits)' : '';
  switch (c.op) {
    case 'eq':
      return `${name}${width} is ${dec(c.values?.[0] ?? 0n)}`;
    case 'in':
      return `${name}${width} is one of ${(c.values ?? []).map(dec).join(', ')}`;
    case 'notin':
      return `${name}${width} is none of ${(c.values ?? []).map(dec).join(', ')}`;
    case 'range':
      return `${name}${width} is between ${dec(c.min ?? 0n)} and ${dec(c.max ?? 0n)}`;
    case 'masked': {
      const parts: string[] = [];
      if (c.allOf !== undefined && c.allOf !== 0n)
        parts.push(`has all of ${cloneFlagOr(dec, c.allOf)}`);
      if (c.noneOf !== undefined && c.noneOf !== 0n)
        parts.push(`${parts.length ? '' : 'has '}none of ${cloneFlagOr(dec, c.noneOf)}`);
      const notes = [
        ...(c.width === 32 ? ['low 32 bits'] : []),
        ...(c.ignore !== undefined && c.ignore !== 0n
          ? [`${cloneFlagOr(dec, c.ignore)} ignored`]
          : []),
      ];
      return `${name}${notes.length ? ` (${notes.join(', ')})` : ''} ${parts.join(' and ')}`;
    }
  }
}

/** Flag names for clone/unshare masks, hex for anything else. */
export function cloneFlagNamesOf(syscall: string, mask: bigint): string {
  return syscall === 'clone' || syscall === 'unshare' ? cloneFlags(mask) : `0x${mask.toString(16)}`;
}

function cloneFlagOr(dec: Decoder, v: bigint): string {
  if (dec === cloneFlags) return cloneFlags(v);
  return dec === hexOrDecimal ? `0x${v.toString(16)}` : dec(v);
}

/** "killed (SIGSYS)", "fails with EPERM", ... */
export function actionWords(a: ResolvedAction): string {
  switch (a.type) {
    case 'kill-process':
      return 'kills the process (SIGSYS)';
    case 'trap':
      return 'sends SIGSYS (trap)';
    case 'errno':
      return `fails with ${a.errnoName}`;
    case 'log':
      return 'is allowed and logged';
    case 'notify':
      return 'goes to the exec gate (the launcher allows its own exec once; then ENOSYS)';
  }
}

/**
 * What the arch check does to every call of a foreign ABI (and to x32
 * numbers on x86_64): the policy's kill-class action, which is not always a
 * kill (action=log lets them through, logged).
 */
export function killClassWords(action: SandboxPolicy['action']): string {
  switch (action) {
    case 'kill':
      return 'killed (SIGSYS)';
    case 'trap':
      return 'trapped (SIGSYS to a handler)';
    case 'errno':
      return 'refused with EPERM';
    case 'log':
      return 'logged and allowed (action=log)';
  }
}

/** Short label: kill, EPERM, ENOSYS, log, trap, notify. */
export function actionLabel(a: ResolvedAction): string {
  switch (a.type) {
    case 'kill-process':
      return 'kill';
    case 'errno':
      return a.errnoName;
    default:
      return a.type;
  }
}

/**
 * files=deny, for `groups`, `explain`, `compile` and `export`: not a seccomp
 * group but a Landlock ruleset the launcher builds for each command line
 * (src/launch/files.ts), so these are words, not rules.
 */
export const FILES_SWITCH = {
  name: 'files',
  enabledBy: 'on with files=deny (Landlock, not seccomp: no syscall is denied)',
  description:
    'files=deny: QEMU may open only what its command line names, with the access each use needs, ' +
    'plus what every program reads; everything else fails with EACCES. A Landlock ruleset the launcher ' +
    'builds for each launch (Linux 6.2+, Landlock ABI 3; older kernels refuse to start). ' +
    '`qemu-sandbox doctor -- ARGS` shows the rules for a command line.',
  allows: [
    'read and execute /usr and /lib*; read /etc except secret stores (shadow, ssh, ssl/private, libvirt...), /proc and /sys (nothing under them writable)',
    '/dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom, /dev/ptmx; /dev/pts with a pty chardev',
    'disk images read-write; read-only with readonly=on, snapshot=on, media=cdrom and for backing files; snapshot=on also $TMPDIR or /var/tmp',
    'kernel, initrd, dtb, firmware, option ROMs, -readconfig files, secrets, TLS directories: read-only',
    'pidfile, -D log, chardev output files: that one file (the launcher makes it first); listening unix sockets: make-sock in their directory',
    '9p shares, memory-backend-file, /dev/net/tun for a tap QEMU opens, vhost, /dev/kvm with KVM, VFIO: what the configuration needs',
    'extra paths: "files" in the site config, QEMU_SANDBOXED_FILES=ro:/path;rw:/path',
  ],
  refuses: [
    'a backing file or data file that only an image header names (name it on the command line, as libvirt does, or as an extra path)',
    'what it cannot read: vmdk and parallels images, json: and protocol names in headers, unknown block drivers, -object types and options, -set, -chroot, GUI displays, user,smb=',
  ],
} as const;

/** What an OCI runtime or systemd says instead of files=deny, in `export` notes. */
export function filesNotExpressible(target: 'OCI' | 'systemd'): string {
  const closest =
    target === 'OCI'
      ? "the container's own mounts (read-only root, only the VM's files bound in) and its AppArmor or SELinux label"
      : "ReadOnlyPaths=, InaccessiblePaths=, TemporaryFileSystem= and BindPaths= for the VM's files";
  return (
    `files=deny: ${target} cannot express it (a Landlock ruleset the launcher builds from each QEMU command line); ` +
    `closest: ${closest}; or run QEMU through qemu-sandboxed (${target === 'OCI' ? 'inside the container' : 'in ExecStart='}) for the ruleset`
  );
}
