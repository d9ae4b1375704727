/**
 * Classic BPF as the seccomp filter engine sees it. This layer knows the
 * kernel's ABI (struct sock_filter, struct seccomp_data, SECCOMP_RET_*), never a
 * policy: which syscalls are denied is decided in src/policy and src/compiler.
 */

/** One `struct sock_filter`: u16 code, u8 jt, u8 jf, u32 k (k kept unsigned). */
export interface Instruction {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

export type Endian = 'le' | 'be';

/** `struct seccomp_data`, with the 64-bit fields as bigint (unsigned). */
export interface SeccompData {
  readonly nr: number; // int in the kernel; stored here as the unsigned 32-bit value
  readonly arch: number; // u32 AUDIT_ARCH_*
  readonly instructionPointer: bigint; // u64
  readonly args: readonly bigint[]; // 6 x u64
}

/** Byte offsets inside struct seccomp_data. */
export const SECCOMP_DATA = {
  nr: 0,
  arch: 4,
  instructionPointer: 8,
  args: 16, // + 8 * i; the low 32 bits are at +0 on little-endian, +4 on big-endian
  size: 64,
} as const;

/** SECCOMP_RET_* (include/uapi/linux/seccomp.h). */
export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
  ACTION_FULL: 0xffff0000,
  DATA: 0x0000ffff,
} as const;

/** The kernel's name of an action: SECCOMP_RET_<name> (actions_avail has it in lower case). */
export type SeccompActionName = Exclude<keyof typeof SECCOMP_RET, 'ACTION_FULL' | 'DATA'>;

/**
 * Action value -> its name, from SECCOMP_RET itself (the masks left out):
 * the one table behind the disassembler's `ret KILL_PROCESS`, the audit
 * records' `kill-process` and the launcher's actions_avail check.
 */
export const SECCOMP_ACTION_NAMES: ReadonlyMap<number, SeccompActionName> = new Map(
  (Object.entries(SECCOMP_RET) as [keyof typeof SECCOMP_RET, number][])
    .filter((e): e is [SeccompActionName, number] => e[0] !== 'ACTION_FULL' && e[0] !== 'DATA')
    .map(([name, value]) => [value, name]),
);

/** The name of the action in a filter's return value (`value & ACTION_FULL`); undefined if unknown. */
export function seccompActionName(value: number): SeccompActionName | undefined {
  return SECCOMP_ACTION_NAMES.get((value & SECCOMP_RET.ACTION_FULL) >>> 0);
}

/** The kernel refuses filters longer than this (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;
