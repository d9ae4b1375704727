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
 */
import type { SandboxPolicy } from './types';

/** Scoped rights (ABI 6): abstract unix sockets (1) and signals (2). */
export const SCOPE_ABSTRACT_UNIX_SOCKET = 1n;
export const SCOPE_SIGNAL = 2n;
/** landlock_restrict_self flag (ABI 7): keep logging denials after execve (audit records). */
export const RESTRICT_SELF_LOG_NEW_EXEC_ON = 2;
/** The first ABI that scopes signals and abstract unix sockets. */
export const SCOPE_ABI = 6;
/** The first ABI whose denials the exec'd program can have logged. */
export const LOG_ABI = 7;

export type LandlockPlan =
  | {
      readonly apply: true;
      readonly abi: number;
      readonly handledAccessFs: bigint;
      readonly handledAccessNet: bigint;
      readonly scoped: bigint;
      readonly flags: number;
    }
  | { readonly apply: false; readonly reason: string };

/** `support`: the kernel's Landlock ABI (0 with a reason when it has none). */
export function planLandlock(
  policy: Pick<SandboxPolicy, 'enable'>,
  support: { readonly abi: number; readonly reason?: string },
): LandlockPlan {
  if (!policy.enable) return { apply: false, reason: '-sandbox off' };
  if (support.abi === 0) return { apply: false, reason: support.reason ?? 'no Landlock' };
  if (support.abi < SCOPE_ABI) {
    return {
      apply: false,
      reason: `Landlock ABI ${support.abi} cannot scope signals (needs ABI ${SCOPE_ABI}, Linux 6.12)`,
    };
  }
  return {
    apply: true,
    abi: support.abi,
    handledAccessFs: 0n,
    handledAccessNet: 0n,
    scoped: SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL,
    flags: support.abi >= LOG_ABI ? RESTRICT_SELF_LOG_NEW_EXEC_ON : 0,
  };
}

/** The launch record's words for a plan: "scoped (ABI 7)" or "none: <reason>". */
export function landlockRecord(plan: LandlockPlan): string {
  return plan.apply
    ? `scoped signals and abstract sockets (ABI ${plan.abi})`
    : `none: ${plan.reason}`;
}
