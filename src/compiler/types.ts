import type { Instruction } from '../bpf/types';
import type { AbiName } from '../arch/types';
import type { SandboxPolicy } from '../policy/types';

/** The one program the launcher loads for (policy, host ABI). */
export interface CompiledFilter {
  readonly abi: AbiName;
  readonly policy: SandboxPolicy;
  readonly program: readonly Instruction[];
  /** The struct sock_filter array in the ABI's byte order. */
  readonly bytes: Uint8Array;
  /** sha256 of `bytes`, hex. */
  readonly hash: string;
  /** execve/execveat go to USER_NOTIF: the launcher must arm the exec-once gate. */
  readonly needsExecGate: boolean;
}
