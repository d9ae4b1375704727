/**
 * A -sandbox policy, in QEMU's terms plus our extensions (network, action,
 * preflight). Produced by the grammar in src/policy, consumed by the compiler,
 * the launcher and the CLI.
 */
export interface SandboxPolicy {
  /** `-sandbox on|off` (QEMU's `enable`). false: no filter at all. */
  readonly enable: boolean;
  readonly obsolete: 'allow' | 'deny';
  readonly elevatePrivileges: 'allow' | 'deny' | 'children';
  readonly spawn: 'allow' | 'deny';
  readonly resourceControl: 'allow' | 'deny';
  /** Extension: deny IP/packet sockets and io_uring. */
  readonly network: 'allow' | 'deny';
  /** Extension: what kill-class rules (and foreign ABIs) do. */
  readonly action: 'kill' | 'trap' | 'errno' | 'log';
  /** Extension: whether preflight refusals stop the launch or only warn. */
  readonly preflight: 'enforce' | 'warn';
}

/** The names of the groups in filters/ (one JSON file each). */
export type GroupName =
  | 'default'
  | 'obsolete'
  | 'elevateprivileges'
  | 'spawn'
  | 'resourcecontrol'
  | 'network';

/**
 * What a rule does, as written in filters/*.json:
 * - "kill": kill-class; the policy's `action` decides (kill -> KILL_PROCESS,
 *   trap -> TRAP, errno -> EPERM, log -> LOG).
 * - { errno: "EPERM" }: fail with that errno (resolved per ABI: mips differs).
 * - "notify": SECCOMP_RET_USER_NOTIF (the launcher's exec-once gate).
 */
export type RuleAction = 'kill' | { readonly errno: string } | 'notify';

/** A condition on one argument, resolved to numbers for one ABI. */
export interface ArgCondition {
  /** 0..5 (the JSON may say "cloneFlags"; it is resolved per ABI). */
  readonly arg: number;
  /** 32: compare only the low 32 bits (int arguments: the kernel ignores the rest). */
  readonly width: 32 | 64;
  /**
   * eq: arg == values[0]; in: arg is one of values;
   * masked: (arg & ~ignore) has every bit of allOf and no bit of noneOf.
   */
  readonly op: 'eq' | 'in' | 'masked';
  readonly values?: readonly bigint[];
  readonly allOf?: bigint;
  readonly noneOf?: bigint;
  readonly ignore?: bigint;
}

/** What the kernel will be told to do, as a resolved action. */
export type ResolvedAction =
  | { readonly type: 'kill-process' }
  | { readonly type: 'trap' }
  | { readonly type: 'errno'; readonly errno: number; readonly errnoName: string }
  | { readonly type: 'log' }
  | { readonly type: 'notify' };

/** One rule of an active group, resolved for one ABI and one policy. */
export interface ActiveRule {
  readonly group: GroupName;
  readonly syscall: string;
  readonly nr: number;
  readonly reason: string;
  readonly action: ResolvedAction;
  /** When present, the action applies only when this condition is FALSE. */
  readonly unless?: ArgCondition;
}
