/**
 * Resolved actions -> SECCOMP_RET_* values, and the kernel's precedence
 * between them. Kept apart from the code generator so the statistics and the
 * tests share one definition.
 */
import type { Abi } from '../arch/types';
import { SECCOMP_RET } from '../bpf/types';
import { killClassAction } from '../policy/rules';
import type { ResolvedAction, SandboxPolicy } from '../policy/types';

/** The 32-bit value a RET returns for a resolved action on one ABI. */
export function actionValue(action: ResolvedAction): number {
  switch (action.type) {
    case 'kill-process':
      return SECCOMP_RET.KILL_PROCESS;
    case 'trap':
      return SECCOMP_RET.TRAP;
    case 'errno':
      return (SECCOMP_RET.ERRNO | (action.errno & SECCOMP_RET.DATA)) >>> 0;
    case 'log':
      return SECCOMP_RET.LOG;
    case 'notify':
      return SECCOMP_RET.USER_NOTIF;
  }
}

/**
 * What the kill-class rules do under `action=`; also what a foreign audit arch
 * and x32 numbers get, since QEMU never uses them and a deny-list that let them
 * through would be bypassed.
 */
export function killClassValue(policy: SandboxPolicy, abi: Abi): number {
  // One definition of what `action=` means: the rules' kill class, from src/policy.
  return actionValue(killClassAction(policy, abi));
}

/**
 * The kernel's precedence (kernel/seccomp.c seccomp_run_filters compares
 * ACTION_ONLY() as signed ints: KILL_PROCESS, being negative, wins). A smaller
 * rank wins. Orders the rules on one syscall: the strictest rule whose
 * condition does not exempt the call decides, whatever order the groups
 * were listed in.
 */
export function precedenceRank(value: number): number {
  return (value & SECCOMP_RET.ACTION_FULL) | 0;
}

export const ALLOW = SECCOMP_RET.ALLOW;
