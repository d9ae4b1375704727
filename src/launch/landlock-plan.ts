/**
 * The launcher's Landlock domain: decided here (pure), applied by
 * launcher/main.ts, shown by `qemu-sandbox doctor`
 * and the launch record.
 *
 * Under any `-sandbox on` QEMU enters a domain with no path rules. It adds
 * what seccomp cannot say, since seccomp sees no pids behind /proc paths and
 * no signal's target's identity: QEMU can no longer ptrace-access any
 * process outside the domain (writing /proc/PID/mem or reading
 * /proc/PID/environ of another VM's QEMU of the same user), and, from ABI 6,
 * can neither signal such a process nor connect to its abstract unix
 * sockets. QEMU's own threads and the helpers it forks are inside the domain
 * and keep all of that among themselves.
 *
 * What it could break, and why it does not: QEMU needs no ptrace of others;
 * the signals it sends go to itself and its own helpers; X11 clients try the
 * abstract socket first and fall back to /tmp/.X11-unix; libvirt and QMP use
 * path-named sockets. Processes outside (libvirt, the caller) keep full
 * access to QEMU.
 *
 * Kernels without ABI 6 (Linux < 6.12) get no domain here: with only the
 * ptrace restriction, a domain would have to handle filesystem rights to be
 * created at all, which would need a rule for every path QEMU may reach.
 * The launch record and `doctor` say so.
 *
 * files=deny (opt-in) adds exactly that: the ruleset handles every
 * filesystem right the ABI has, and src/launch/files.ts lists the paths QEMU
 * may use and how. It needs ABI 3 (truncation); on ABI 3 to 5 the domain
 * confines files without the scoping; older kernels fail closed.
 */
import type { SandboxPolicy } from '../policy/types';

/** Scoped rights (ABI 6): abstract unix sockets (1) and signals (2). */
export const SCOPE_ABSTRACT_UNIX_SOCKET = 1n;
export const SCOPE_SIGNAL = 2n;
/** landlock_restrict_self flag (ABI 7): keep logging denials after execve (audit records). */
export const RESTRICT_SELF_LOG_NEW_EXEC_ON = 2;
/** The first ABI that scopes signals and abstract unix sockets. */
export const SCOPE_ABI = 6;
/** The first ABI whose denials the exec'd program can have logged. */
export const LOG_ABI = 7;

/**
 * Filesystem access rights (include/uapi/linux/landlock.h), with the ABI
 * that introduced each. A ruleset that handles a right denies it everywhere
 * except beneath a rule that grants it.
 */
export const FS = {
  EXECUTE: 1n << 0n,
  WRITE_FILE: 1n << 1n,
  READ_FILE: 1n << 2n,
  READ_DIR: 1n << 3n,
  REMOVE_DIR: 1n << 4n,
  REMOVE_FILE: 1n << 5n,
  MAKE_CHAR: 1n << 6n,
  MAKE_DIR: 1n << 7n,
  MAKE_REG: 1n << 8n,
  MAKE_SOCK: 1n << 9n,
  MAKE_FIFO: 1n << 10n,
  MAKE_BLOCK: 1n << 11n,
  MAKE_SYM: 1n << 12n,
  /** ABI 2: link or rename a file into another directory. */
  REFER: 1n << 13n,
  /** ABI 3: truncate(2), ftruncate(2), open with O_TRUNC. */
  TRUNCATE: 1n << 14n,
  /** ABI 5: ioctl(2) on a character or block device opened under the rule. */
  IOCTL_DEV: 1n << 15n,
} as const;

/** The rights a rule on a file (not a directory) may carry; the kernel refuses others. */
export const FS_FILE_RIGHTS =
  FS.EXECUTE | FS.WRITE_FILE | FS.READ_FILE | FS.TRUNCATE | FS.IOCTL_DEV;

/** Every filesystem right this code knows, by the ABI that has it. */
export function fsRightsOfAbi(abi: number): bigint {
  let rights = (1n << 13n) - 1n; // ABI 1: EXECUTE .. MAKE_SYM
  if (abi >= 2) rights |= FS.REFER;
  if (abi >= 3) rights |= FS.TRUNCATE;
  if (abi >= 5) rights |= FS.IOCTL_DEV;
  return rights;
}

/**
 * files=deny needs TRUNCATE handled (ABI 3, Linux 6.2): before it, a file
 * granted read-only could still be truncated to nothing.
 */
export const FILES_ABI = 3;

/** One path rule: the path is opened O_PATH and the access granted beneath it. */
export interface LandlockPathRule {
  readonly path: string;
  readonly access: bigint;
}

export type LandlockPlan =
  | {
      readonly apply: true;
      readonly abi: number;
      readonly handledAccessFs: bigint;
      readonly handledAccessNet: bigint;
      readonly scoped: bigint;
      readonly flags: number;
      /** files=deny: the path rules (access already limited to what the ABI handles). */
      readonly rules: readonly LandlockPathRule[];
    }
  | {
      readonly apply: false;
      readonly reason: string;
      /** The policy needs what the kernel lacks: the launcher must not start QEMU (exit 69). */
      readonly missing?: true;
    };

/**
 * `support`: the kernel's Landlock ABI (0 with a reason when it has none).
 * `rules`: under files=deny, the path rules (src/launch/files.ts).
 */
export function planLandlock(
  policy: Pick<SandboxPolicy, 'enable'> & { readonly files?: SandboxPolicy['files'] },
  support: { readonly abi: number; readonly reason?: string },
  rules: readonly LandlockPathRule[] = [],
): LandlockPlan {
  if (!policy.enable) return { apply: false, reason: '-sandbox off' };
  const files = policy.files === 'deny';
  if (files && support.abi < FILES_ABI) {
    const why =
      support.abi === 0
        ? (support.reason ?? 'no Landlock')
        : `Landlock ABI ${support.abi} cannot restrict truncation`;
    return {
      apply: false,
      missing: true,
      reason: `files=deny needs Landlock ABI ${FILES_ABI} (Linux 6.2): ${why}`,
    };
  }
  if (support.abi === 0) return { apply: false, reason: support.reason ?? 'no Landlock' };
  if (support.abi < SCOPE_ABI && !files) {
    return {
      apply: false,
      reason: `Landlock ABI ${support.abi} cannot scope signals (needs ABI ${SCOPE_ABI}, Linux 6.12)`,
    };
  }
  const handledAccessFs = files ? fsRightsOfAbi(support.abi) : 0n;
  return {
    apply: true,
    abi: support.abi,
    handledAccessFs,
    handledAccessNet: 0n,
    scoped: support.abi >= SCOPE_ABI ? SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL : 0n,
    flags: support.abi >= LOG_ABI ? RESTRICT_SELF_LOG_NEW_EXEC_ON : 0,
    rules: files
      ? rules
          .map((r) => ({ path: r.path, access: r.access & handledAccessFs }))
          .filter((r) => r.access !== 0n)
      : [],
  };
}

/** The launch record's words for a plan. */
export function landlockRecord(plan: LandlockPlan): string {
  if (!plan.apply) return `none: ${plan.reason}`;
  const parts: string[] = [];
  if (plan.scoped !== 0n) parts.push('scoped signals and abstract sockets');
  if (plan.handledAccessFs !== 0n) {
    parts.push(`files: ${plan.rules.length} path rule${plan.rules.length === 1 ? '' : 's'}`);
  }
  return `${parts.join('; ')} (ABI ${plan.abi})`;
}
