import type { AbiName } from '../arch/types';

/**
 * A -sandbox policy, in QEMU's terms plus our extensions (network, action,
 * preflight, files). Produced by the grammar in src/policy, consumed by the compiler,
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
  /**
   * Extension: `deny` confines QEMU to the files its command line names
   * (a Landlock ruleset, src/launch/files.ts). Not part of the seccomp program.
   */
  readonly files: 'allow' | 'deny';
}

/** The names of the groups in filters/ (one JSON file each). */
export type GroupName =
  'default' | 'obsolete' | 'elevateprivileges' | 'spawn' | 'resourcecontrol' | 'network';

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
   * eq: arg == values[0]; in: arg is one of values; notin: arg is none of values;
   * range: min <= arg <= max (unsigned, width 32 only);
   * masked: (arg & ~ignore) has every bit of allOf and no bit of noneOf.
   */
  readonly op: ConditionOp;
  readonly values?: readonly bigint[];
  readonly min?: bigint;
  readonly max?: bigint;
  readonly allOf?: bigint;
  readonly noneOf?: bigint;
  readonly ignore?: bigint;
}

/** The comparisons a rule's condition can make (see ArgCondition). */
export type ConditionOp = 'eq' | 'in' | 'notin' | 'range' | 'masked';
export const CONDITION_OPS: readonly ConditionOp[] = ['eq', 'in', 'notin', 'range', 'masked'];

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

/** Every group, in the order activeRules emits them (and the CLI lists them). */
export const GROUP_NAMES: readonly GroupName[] = [
  'default',
  'obsolete',
  'elevateprivileges',
  'spawn',
  'resourcecontrol',
  'network',
];

/**
 * An argument condition as validated from filters/*.json: constants already
 * resolved to bigint, but `arg` may still be "cloneFlags" (its index differs
 * per ABI: s390x passes clone's flags second).
 */
export interface RuleCondition extends Omit<ArgCondition, 'arg'> {
  readonly arg: number | 'cloneFlags';
}

/** One rule of a group file, validated (see src/policy/groups.ts). */
export interface GroupRule {
  readonly syscall: string;
  readonly action: RuleAction;
  /** When present, the action applies only when this condition is FALSE. */
  readonly unless?: RuleCondition;
  /** One line: why QEMU never needs this call (shown by `qemu-sandbox groups`). */
  readonly reason: string;
  /** "qemu": QEMU's own system/qemu-seccomp.c has it; "extension": ours. */
  readonly origin: 'qemu' | 'extension';
  /** ABIs whose syscall table lacks this name on purpose (checked against src/arch). */
  readonly absentOn: readonly AbiName[];
  /**
   * For an origin "qemu" rule that does not do exactly what QEMU 9.x does: what
   * QEMU does, and why we differ (the libseccomp differential lists these).
   */
  readonly qemuDifference?: string;
}

/** A syscall a group deliberately leaves allowed, with the evidence why. */
export interface AllowedNote {
  readonly syscall: string;
  readonly reason: string;
}

/** One filters/<name>.json, validated. */
export interface GroupDefinition {
  readonly name: GroupName;
  readonly description: string;
  readonly rules: readonly GroupRule[];
  /** Calls people might expect here that stay allowed, and why. */
  readonly allowed: readonly AllowedNote[];
  /** The file it was read from (absolute path). */
  readonly file: string;
}
