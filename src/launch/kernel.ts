/**
 * Does this kernel support what the compiled filter needs? Checked before
 * anything is loaded, so a missing feature is named instead of surfacing as
 * an EINVAL from seccomp(2) (or, worse, a filter the kernel runs differently:
 * a kernel without KILL_PROCESS treats it as KILL_THREAD).
 */
import { readFileSync } from 'node:fs';
import { SECCOMP_RET, seccompActionName } from '../bpf/types';
import type { Instruction } from '../bpf/types';
import { EXIT, LaunchError } from './errors';

export const ACTIONS_AVAIL = '/proc/sys/kernel/seccomp/actions_avail';

const BPF_RET_K = 0x06;

/** The actions_avail names of every action a program can return. */
export function actionsUsed(program: readonly Instruction[]): string[] {
  const used = new Set<string>();
  for (const insn of program) {
    if (insn.code !== BPF_RET_K) continue;
    // actions_avail spells the kernel's names in lower case.
    const action = (insn.k & SECCOMP_RET.ACTION_FULL) >>> 0;
    used.add(seccompActionName(action)?.toLowerCase() ?? `0x${action.toString(16)}`);
  }
  return [...used].sort();
}

type Reader = (path: string) => string;
const readText: Reader = (p) => readFileSync(p, 'latin1');

/** Throws LaunchError(EXIT.unavailable) naming what the kernel lacks. */
export function checkKernelSupport(program: readonly Instruction[], read: Reader = readText): void {
  let avail: string;
  try {
    avail = read(ACTIONS_AVAIL);
  } catch {
    let status = '';
    try {
      status = read('/proc/self/status');
    } catch {
      // no /proc: reported below as missing filter mode
    }
    const what = /^Seccomp:/m.test(status)
      ? 'has seccomp but not seccomp filters (CONFIG_SECCOMP_FILTER)'
      : 'has no seccomp (CONFIG_SECCOMP) or /proc is not mounted';
    throw new LaunchError(
      `this kernel ${what}: QEMU cannot be sandboxed here; use a kernel with seccomp filters, or -sandbox off to run without a filter`,
      EXIT.unavailable,
    );
  }
  const have = new Set(avail.trim().split(/\s+/));
  const missing = actionsUsed(program).filter((a) => !have.has(a));
  if (missing.length > 0) {
    const hints: string[] = [];
    if (missing.includes('user_notif')) hints.push('spawn=allow avoids user_notif (Linux 5.0+)');
    if (missing.includes('kill_process'))
      hints.push('action=trap avoids kill_process (Linux 4.14+)');
    if (missing.includes('log')) hints.push('action=log needs Linux 4.14+');
    throw new LaunchError(
      `this kernel lacks seccomp action${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (${ACTIONS_AVAIL}: ${[...have].join(' ')})` +
        (hints.length > 0 ? `: ${hints.join('; ')}` : ''),
      EXIT.unavailable,
    );
  }
}
