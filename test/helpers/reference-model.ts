/**
 * A plain reference model of a -sandbox policy: given a policy, a host ABI and
 * one struct seccomp_data, the verdict the kernel should give. Written from
 * what each group is meant to deny, without looking at the compiler: a direct
 * evaluation (no ranges, no trees, no BPF). The QEMU parity lists and every
 * argument rule are typed out here by hand; only the unconditional
 * beyond-QEMU additions are read from filters/*.json as data (names and
 * actions), and their meaning is evaluated here on its own.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getAbi } from '../../src/arch';
import type { Abi, AbiName } from '../../src/arch/types';
import type { SeccompData } from '../../src/bpf/types';
import type { SandboxPolicy } from '../../src/policy/types';
import { REPO_ROOT } from './cbuild';

// SECCOMP_RET_* (include/uapi/linux/seccomp.h), typed out again on purpose.
export const RET = {
  KILL_PROCESS: 0x80000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/** errno values we return; MIPS numbers its errnos differently above 34. */
export function errnoOf(abi: AbiName, name: 'EPERM' | 'ENOSYS' | 'EAFNOSUPPORT'): number {
  const mips = abi === 'mips64el';
  switch (name) {
    case 'EPERM':
      return 1;
    case 'ENOSYS':
      return mips ? 89 : 38;
    case 'EAFNOSUPPORT':
      return mips ? 124 : 97;
  }
}

const errnoRet = (abi: AbiName, name: 'EPERM' | 'ENOSYS' | 'EAFNOSUPPORT'): number =>
  (RET.ERRNO | errnoOf(abi, name)) >>> 0;

/** What the kill-class rules (and foreign ABIs) do under `action=`. */
export function killClass(policy: SandboxPolicy, abi: AbiName): number {
  switch (policy.action) {
    case 'kill':
      return RET.KILL_PROCESS;
    case 'trap':
      return RET.TRAP;
    case 'errno':
      return errnoRet(abi, 'EPERM');
    case 'log':
      return RET.LOG;
  }
}

// QEMU 9.x system/qemu-seccomp.c.
// prettier-ignore
export const QEMU_DEFAULT = [
  'reboot', 'swapon', 'swapoff', 'syslog', 'mount', 'umount', 'kexec_load', 'afs_syscall', 'break',
  'ftime', 'getpmsg', 'gtty', 'lock', 'mpx', 'prof', 'profil', 'putpmsg', 'security', 'stty',
  'tuxcall', 'ulimit', 'vserver',
];
// prettier-ignore
export const QEMU_OBSOLETE = [
  'readdir', '_sysctl', 'bdflush', 'create_module', 'get_kernel_syms', 'query_module', 'sgetmask',
  'ssetmask', 'sysfs', 'uselib', 'ustat',
];
// prettier-ignore
export const QEMU_PRIVILEGED = [
  'setuid', 'setgid', 'setpgid', 'setsid', 'setreuid', 'setregid', 'setresuid', 'setresgid',
  'setfsuid', 'setfsgid',
];

export const SPAWN_NAMES = [
  'fork',
  'vfork',
  'execve',
  'execveat',
  'clone',
  'clone3',
  'setns',
  'unshare',
];
export const RESOURCE_NAMES = [
  'setpriority',
  'sched_setparam',
  'sched_setscheduler',
  'sched_setaffinity',
];

// include/uapi/linux/sched.h
export const CLONE = {
  VM: 0x100,
  FS: 0x200,
  FILES: 0x400,
  SIGHAND: 0x800,
  PIDFD: 0x1000,
  PTRACE: 0x2000,
  VFORK: 0x4000,
  PARENT: 0x8000,
  THREAD: 0x10000,
  NEWNS: 0x20000,
  SYSVSEM: 0x40000,
  SETTLS: 0x80000,
  PARENT_SETTID: 0x100000,
  CHILD_CLEARTID: 0x200000,
  DETACHED: 0x400000,
  UNTRACED: 0x800000,
  CHILD_SETTID: 0x1000000,
  NEWCGROUP: 0x2000000,
  NEWUTS: 0x4000000,
  NEWIPC: 0x8000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
  IO: 0x80000000,
} as const;
// prettier-ignore
export const THREAD_REQUIRED =
  CLONE.VM | CLONE.FS | CLONE.FILES | CLONE.SIGHAND | CLONE.THREAD | CLONE.SYSVSEM | CLONE.SETTLS |
  CLONE.PARENT_SETTID | CLONE.CHILD_CLEARTID;
// prettier-ignore
export const THREAD_FORBIDDEN = (
  CLONE.PIDFD | CLONE.PTRACE | CLONE.VFORK | CLONE.PARENT | CLONE.NEWNS | CLONE.UNTRACED |
  CLONE.NEWCGROUP | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWUSER | CLONE.NEWPID | CLONE.NEWNET |
  CLONE.IO) >>> 0;
export const SCHED_IDLE = 5;
// include/linux/socket.h
export const AF_UNIX = 1;
export const AF_NETLINK = 16;

const low32 = (v: bigint): number => Number(v & 0xffffffffn);

/** SECCOMP_FILTER_FLAG_NEW_LISTENER (include/uapi/linux/seccomp.h). */
const NEW_LISTENER = 8;
/** _IOW('T', 202, int): _IOC_WRITE is 1 on most ABIs, 4 on powerpc and mips. */
const TUNSETIFF = [0x400454ca, 0x800454ca];
/** Default-group calls with an argument rule, modelled by hand. */
const DEFAULT_BY_HAND = [
  'migrate_pages',
  'move_pages',
  'prlimit64',
  'perf_event_open',
  'kill',
  'ioctl',
];
/** TIOCSTI and TIOCLINUX, generic and mips numbers (asm-generic/ioctls.h, arch/mips). */
const TERMINAL_INJECTION = [0x5412, 0x541c, 0x5472, 0x5483];

/** glibc's pthread_create flags: a thread, not a process (CLONE_DETACHED: musl, ignored). */
export function isThreadClone(flags: bigint): boolean {
  const f = low32(flags);
  // `>>> 0` because CLONE_IO is bit 31 and JS bit operations are signed.
  return (f & THREAD_REQUIRED) >>> 0 === THREAD_REQUIRED && (f & THREAD_FORBIDDEN) >>> 0 === 0;
}

/** One group file as far as the model reads it: names and their actions. */
interface JsonEntry {
  readonly name: string;
  readonly action: 'kill' | { errno: string } | 'notify';
}

/**
 * Reads filters/<group>.json as plain data: a list of syscall entries, each
 * with a name and an action. Tolerant about the container shape (an array, or
 * an object with `syscalls`/`rules`), strict about entries.
 */
const jsonCache = new Map<string, JsonEntry[]>();

export function readGroupJson(group: string): JsonEntry[] {
  const hit = jsonCache.get(group);
  if (hit) return hit;
  const entries = parseGroupJson(group);
  jsonCache.set(group, entries);
  return entries;
}

function parseGroupJson(group: string): JsonEntry[] {
  const raw: unknown = JSON.parse(
    readFileSync(join(REPO_ROOT, 'filters', `${group}.json`), 'utf8'),
  );
  const list = Array.isArray(raw)
    ? raw
    : typeof raw === 'object' && raw !== null
      ? ((raw as Record<string, unknown>).syscalls ?? (raw as Record<string, unknown>).rules)
      : undefined;
  if (!Array.isArray(list)) throw new Error(`filters/${group}.json: no syscall list`);
  return list.map((e: unknown) => {
    if (typeof e !== 'object' || e === null) throw new Error(`filters/${group}.json: bad entry`);
    const o = e as Record<string, unknown>;
    const name = o.name ?? o.syscall;
    if (typeof name !== 'string') throw new Error(`filters/${group}.json: entry without a name`);
    const a = o.action ?? 'kill';
    const action: JsonEntry['action'] =
      a === 'kill' || a === 'notify'
        ? a
        : typeof a === 'object' &&
            a !== null &&
            typeof (a as Record<string, unknown>).errno === 'string'
          ? { errno: (a as Record<string, string>).errno }
          : (() => {
              throw new Error(
                `filters/${group}.json: ${name}: unknown action ${JSON.stringify(a)}`,
              );
            })();
    return { name, action };
  });
}

type Verdict = number;

/** A model of one ABI's rules for one policy: syscall name -> verdict function. */
export type NameRules = Map<string, ((data: SeccompData) => Verdict | undefined)[]>;

function add(rules: NameRules, name: string, f: (data: SeccompData) => Verdict | undefined): void {
  const list = rules.get(name) ?? [];
  list.push(f);
  rules.set(name, list);
}

/** The kernel's precedence: KILL_PROCESS first, then by the signed action value. */
function strictest(a: Verdict, b: Verdict): Verdict {
  const rank = (v: Verdict): number => (v & 0xffff0000) | 0;
  return rank(b) < rank(a) ? b : a;
}

function jsonAction(abi: AbiName, policy: SandboxPolicy, a: JsonEntry['action']): Verdict {
  if (a === 'kill') return killClass(policy, abi);
  if (a === 'notify') return RET.USER_NOTIF;
  const name = a.errno.toUpperCase();
  if (name !== 'EPERM' && name !== 'ENOSYS' && name !== 'EAFNOSUPPORT') {
    throw new Error(`reference model: errno ${name} is not modelled; add it`);
  }
  return errnoRet(abi, name);
}

/** Builds the name -> rules map of a policy for one ABI (memoised by the caller). */
export function modelRules(policy: SandboxPolicy, abiName: AbiName): NameRules {
  const rules: NameRules = new Map();
  const kill = killClass(policy, abiName);
  const always = (v: Verdict) => (): Verdict => v;

  // Additions beyond QEMU's lists, from the group files as data (names and
  // actions only; which group is on when, and every argument rule, is decided
  // here). A name modelled by hand below is not read again.
  const extras = (group: string, byHand: readonly string[]): void => {
    for (const e of readGroupJson(group)) {
      if (!byHand.includes(e.name))
        add(rules, e.name, always(jsonAction(abiName, policy, e.action)));
    }
  };
  const eperm = errnoRet(abiName, 'EPERM');
  for (const n of QEMU_DEFAULT) add(rules, n, always(kill));
  // Other processes: pid 0 is the caller itself.
  for (const n of ['migrate_pages', 'move_pages', 'prlimit64'])
    add(rules, n, (d) => (low32(d.args[0]) === 0 ? undefined : eperm));
  add(rules, 'perf_event_open', (d) => (low32(d.args[1]) === 0 ? undefined : eperm));
  // kill: one process (pid > 0 as an int) only, never a group or everyone.
  add(rules, 'kill', (d) => ((low32(d.args[0]) | 0) > 0 ? undefined : eperm));
  // Typing into the terminal QEMU was started from.
  add(rules, 'ioctl', (d) => (TERMINAL_INJECTION.includes(low32(d.args[1])) ? eperm : undefined));
  extras('default', [...QEMU_DEFAULT, ...DEFAULT_BY_HAND]);
  if (policy.obsolete === 'deny') {
    for (const n of QEMU_OBSOLETE) add(rules, n, always(kill));
    extras('obsolete', QEMU_OBSOLETE);
  }
  if (policy.elevatePrivileges !== 'allow') {
    for (const n of QEMU_PRIVILEGED) add(rules, n, always(kill));
    extras('elevateprivileges', QEMU_PRIVILEGED);
  }
  if (policy.spawn === 'deny') {
    add(rules, 'fork', always(eperm));
    add(rules, 'vfork', always(eperm));
    // Our exec-once gate: the launcher answers its own exec, then closes the
    // listener and every later exec fails (ENOSYS).
    add(rules, 'execve', always(RET.USER_NOTIF));
    add(rules, 'execveat', always(RET.USER_NOTIF));
    const flagsArg = abiName === 's390x' ? 1 : 0; // CLONE_BACKWARDS2
    add(rules, 'clone', (d) => (isThreadClone(d.args[flagsArg]) ? undefined : eperm));
    add(rules, 'clone3', always(errnoRet(abiName, 'ENOSYS')));
    // Like the rest of the spawn set (QEMU 9 moved it to EPERM so callers
    // fail gracefully), EPERM.
    add(rules, 'setns', always(eperm));
    add(rules, 'unshare', always(eperm));
    // A second notification listener could answer exec itself.
    add(rules, 'seccomp', (d) => (low32(d.args[1]) & NEW_LISTENER ? eperm : undefined));
    extras('spawn', [...SPAWN_NAMES, 'seccomp']);
  }
  if (policy.resourceControl === 'deny') {
    for (const n of ['setpriority', 'sched_setparam', 'sched_setaffinity'])
      add(rules, n, always(eperm));
    add(rules, 'sched_setscheduler', (d) => (low32(d.args[1]) === SCHED_IDLE ? undefined : eperm));
    extras('resourcecontrol', RESOURCE_NAMES);
  }
  if (policy.network === 'deny') {
    const local = new Set([AF_UNIX, AF_NETLINK]);
    add(rules, 'socket', (d) =>
      local.has(low32(d.args[0])) ? undefined : errnoRet(abiName, 'EAFNOSUPPORT'),
    );
    add(rules, 'io_uring_setup', always(errnoRet(abiName, 'ENOSYS')));
    add(rules, 'ioctl', (d) => (TUNSETIFF.includes(low32(d.args[1])) ? eperm : undefined));
    extras('network', ['socket', 'io_uring_setup', 'ioctl']);
  }
  return rules;
}

/** The verdict for one syscall under `rules` (from modelRules) on host ABI `abi`. */
export function referenceVerdict(
  policy: SandboxPolicy,
  abi: Abi,
  rules: NameRules,
  data: SeccompData,
): Verdict {
  // Another audit arch (i386, arm, ...): QEMU never uses it.
  if (data.arch >>> 0 !== abi.auditArch >>> 0) return killClass(policy, abi.name);
  const nr = data.nr >>> 0;
  // x32 shares x86_64's audit arch; -1 is ptrace's "skip", not x32.
  if (abi.name === 'x86_64' && nr >= 0x40000000 && nr !== 0xffffffff)
    return killClass(policy, abi.name);
  // An n64 process reaches the o32 (4000-4999) and n32 (6000-6999) tables by
  // number alone, under the n64 audit arch: another ABI, so killed.
  if (abi.name === 'mips64el' && ((nr >= 4000 && nr < 5000) || (nr >= 6000 && nr < 7000)))
    return killClass(policy, abi.name);
  const name = abi.names.get(nr);
  if (name === undefined) return RET.ALLOW;
  let verdict: Verdict = RET.ALLOW;
  for (const f of rules.get(name) ?? []) {
    const v = f(data);
    if (v !== undefined) verdict = strictest(verdict, v);
  }
  return verdict;
}

/** Convenience for one-off calls. */
export function referenceModel(
  policy: SandboxPolicy,
  abiName: AbiName,
): (data: SeccompData) => Verdict {
  const abi = getAbi(abiName);
  const rules = modelRules(policy, abiName);
  return (data) => referenceVerdict(policy, abi, rules, data);
}

/** Every combination of the five QEMU keys and our extensions (network, action): 192 policies. */
export function allPolicies(): SandboxPolicy[] {
  const out: SandboxPolicy[] = [];
  for (const obsolete of ['allow', 'deny'] as const)
    for (const elevatePrivileges of ['allow', 'deny', 'children'] as const)
      for (const spawn of ['allow', 'deny'] as const)
        for (const resourceControl of ['allow', 'deny'] as const)
          for (const network of ['allow', 'deny'] as const)
            for (const action of ['kill', 'trap', 'errno', 'log'] as const)
              out.push({
                enable: true,
                obsolete,
                elevatePrivileges,
                spawn,
                resourceControl,
                network,
                action,
                preflight: 'enforce',
              });
  return out;
}

/** `on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny`: libvirt's full policy. */
export const FULL_POLICY: SandboxPolicy = {
  enable: true,
  obsolete: 'deny',
  elevatePrivileges: 'deny',
  spawn: 'deny',
  resourceControl: 'deny',
  network: 'allow',
  action: 'kill',
  preflight: 'enforce',
};

/** A short name for test titles, in -sandbox syntax. */
export function policyName(p: SandboxPolicy): string {
  return (
    `on,obsolete=${p.obsolete},elevateprivileges=${p.elevatePrivileges},spawn=${p.spawn},` +
    `resourcecontrol=${p.resourceControl},network=${p.network},action=${p.action}`
  );
}

// Argument values for the argument-checked syscalls, chosen from what the
// groups mean (not from the compiler), each also with garbage in the upper 32
// bits that the kernel ignores for int arguments.

const HIGH = [0n, 0x1_0000_0000n, 0xdeadbeef_0000_0000n, 0xffffffff_0000_0000n];
const CSIGNAL_SIGCHLD = 17n;

function bits(mask: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < 32; b++) if ((mask >>> b) & 1) out.push((1 << b) >>> 0);
  return out;
}

/** clone flags: glibc's and musl's thread flags, a fork, each bit flipped, with upper garbage. */
export function cloneFlagCases(): bigint[] {
  const thread = BigInt(THREAD_REQUIRED);
  const low: bigint[] = [
    0n,
    CSIGNAL_SIGCHLD, // fork()
    thread, // glibc pthread_create
    thread | BigInt(CLONE.DETACHED), // musl pthread_create
    thread | BigInt(CLONE.DETACHED) | CSIGNAL_SIGCHLD,
    BigInt(CLONE.VM | CLONE.VFORK) | CSIGNAL_SIGCHLD, // posix_spawn / vfork
    BigInt(CLONE.NEWUSER | CLONE.NEWNS),
    0xffffffffn,
  ];
  for (const b of bits(THREAD_REQUIRED)) low.push(thread & ~BigInt(b));
  for (const b of bits(THREAD_FORBIDDEN)) low.push(thread | BigInt(b));
  // Flags neither required nor forbidden (CSIGNAL, CHILD_SETTID...) do not matter.
  for (const b of bits(~(THREAD_REQUIRED | THREAD_FORBIDDEN) >>> 0)) low.push(thread | BigInt(b));
  const out: bigint[] = [];
  for (const l of low) for (const h of HIGH) out.push(h | l);
  return out;
}

/** sched_setscheduler policies 0..7 (SCHED_IDLE is 5), -1, with upper garbage. */
export function schedPolicyCases(): bigint[] {
  const out: bigint[] = [];
  for (const l of [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 0xffffffffn, 0x40000005n, 0x40000000n]) {
    for (const h of HIGH) out.push(h | l);
  }
  return out;
}

/** pids: self (0), one process, the extremes of int, -1 (everyone), a group, with upper garbage. */
export function pidCases(): bigint[] {
  const out: bigint[] = [];
  for (const l of [0n, 1n, 2n, 4242n, 0x7fffffffn, 0x80000000n, 0xfffffffen, 0xffffffffn]) {
    for (const h of HIGH) out.push(h | l);
  }
  return out;
}

/** seccomp(2) flags: none, TSYNC (QEMU's probe), NEW_LISTENER alone and with others. */
export function seccompFlagCases(): bigint[] {
  const out: bigint[] = [];
  for (const l of [0n, 1n, 2n, 8n, 9n, 0x18n, 0x3fn, 0xfffffff7n]) {
    for (const h of HIGH) out.push(h | l);
  }
  return out;
}

/** ioctl requests: both TUNSETIFF encodings, neighbours, KVM_RUN, TUNSETQUEUE, with upper garbage. */
export function ioctlRequestCases(): bigint[] {
  const out: bigint[] = [];
  for (const l of [
    0x400454can,
    0x800454can,
    0x400454cbn,
    0x400454c9n,
    0xae80n,
    0x400454d9n,
    0x5412n,
    0x541cn,
    0x5472n,
    0x5483n,
    0x5413n,
    0x5401n,
  ]) {
    for (const h of HIGH) out.push(h | l);
  }
  return out;
}

/** socket families 0..46 (AF_MAX), AF_UNIX 1, AF_NETLINK 16, large values, with upper garbage. */
export function socketFamilyCases(): bigint[] {
  const out: bigint[] = [];
  for (let f = 0n; f <= 46n; f++) for (const h of HIGH) out.push(h | f);
  for (const l of [0x101n, 0x10001n, 0xffffffffn]) out.push(l);
  return out;
}
