/**
 * `export`: the same policy for other tools, and an honest list of what they
 * cannot express. Two targets:
 *
 * - OCI runtime-spec `linux.seccomp` (runc, crun, podman, containerd; libseccomp
 *   semantics): a rule matches when ALL its `args` comparisons hold; several
 *   rules for one syscall are OR-ed. Comparisons are on the full 64 bits.
 * - systemd `SystemCallFilter=~` (deny list, merged over lines): no argument
 *   conditions at all; `name:ERRNO` gives one call its own errno.
 *
 * Our rules say "the action applies UNLESS the condition holds", so each
 * exported rule is the negation of the condition, split into OR-ed pieces that
 * each use one comparison (libseccomp refuses two comparisons on one argument
 * in a rule).
 */
import type { AbiName, HostAbi } from '../arch/types';
import type { ActiveRule, ArgCondition, ResolvedAction, SandboxPolicy } from '../policy/types';
import { addressFamilyName, argName, cloneFlagNamesOf, conditionWords, valueWords } from './words';

/** libseccomp's names for our ABIs (SCMP_ARCH_*). */
export const OCI_ARCH: Readonly<Record<AbiName, string>> = {
  x86_64: 'SCMP_ARCH_X86_64',
  i386: 'SCMP_ARCH_X86',
  x32: 'SCMP_ARCH_X32',
  aarch64: 'SCMP_ARCH_AARCH64',
  arm: 'SCMP_ARCH_ARM',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  s390x: 'SCMP_ARCH_S390X',
  riscv64: 'SCMP_ARCH_RISCV64',
  loongarch64: 'SCMP_ARCH_LOONGARCH64',
  mips64el: 'SCMP_ARCH_MIPSEL64',
};

export interface OciArg {
  readonly index: number;
  readonly value: number;
  readonly valueTwo?: number;
  readonly op: 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_GT' | 'SCMP_CMP_EQ' | 'SCMP_CMP_MASKED_EQ';
}

export interface OciSyscall {
  readonly names: string[];
  readonly action: string;
  readonly errnoRet?: number;
  readonly args?: OciArg[];
  /** Docker/moby profiles carry this field; OCI runtimes ignore unknown fields. */
  readonly comment?: string;
}

export interface OciSeccomp {
  readonly defaultAction: 'SCMP_ACT_ALLOW';
  readonly architectures: string[];
  readonly syscalls: OciSyscall[];
  /** Ours: ignored by runtimes (Go's encoding/json skips unknown fields). */
  readonly 'x-qemu-sandboxed': {
    readonly policy: string;
    readonly abi: AbiName;
    readonly notes: string[];
  };
}

/** Above this many enumerated gap values an `in` set is not worth exporting value by value. */
const MAX_ENUMERATED = 256;

/**
 * OR-ed single-comparison pieces that together match exactly when `c` is
 * FALSE, compared on 64 bits (OCI has no 32-bit compare). Undefined when the
 * negation would need two comparisons on one argument in one rule.
 */
export function negateCondition(c: ArgCondition): OciArg[][] | undefined {
  const u64 = (v: bigint): number => {
    // JSON numbers are doubles: values above 2^53 cannot be written exactly.
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new Error(`value 0x${v.toString(16)} does not fit a JSON number`);
    return Number(v);
  };
  switch (c.op) {
    case 'eq':
      return [[{ index: c.arg, value: u64(c.values?.[0] ?? 0n), op: 'SCMP_CMP_NE' }]];
    case 'in': {
      const values = [...new Set(c.values ?? [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      if (values.length === 0) return [[]]; // never true: always applies
      const pieces: OciArg[][] = [];
      if (values[0] > 0n) pieces.push([{ index: c.arg, value: u64(values[0]), op: 'SCMP_CMP_LT' }]);
      let gaps = 0;
      for (let i = 1; i < values.length; i++) {
        for (let v = values[i - 1] + 1n; v < values[i]; v++) {
          if (++gaps > MAX_ENUMERATED) return undefined;
          pieces.push([{ index: c.arg, value: u64(v), op: 'SCMP_CMP_EQ' }]);
        }
      }
      pieces.push([{ index: c.arg, value: u64(values[values.length - 1]), op: 'SCMP_CMP_GT' }]);
      return pieces;
    }
    case 'notin': {
      // Negated: the argument is one of the values. An int argument (width 32)
      // is compared through a mask, so garbage in the upper half cannot slip
      // past a rule the kernel would apply to the low half alone.
      const values = [...new Set(c.values ?? [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      return values.map((v): OciArg[] =>
        c.width === 32
          ? [{ index: c.arg, value: 0xffffffff, valueTwo: u64(v), op: 'SCMP_CMP_MASKED_EQ' }]
          : [{ index: c.arg, value: u64(v), op: 'SCMP_CMP_EQ' }],
      );
    }
    case 'range': {
      // Negated: below min or above max (on 64 bits: garbage in the upper half
      // counts as above max, which only makes the export stricter).
      const pieces: OciArg[][] = [];
      const min = c.min ?? 0n;
      const max = c.max ?? 0xffffffffn;
      if (min > 0n) pieces.push([{ index: c.arg, value: u64(min), op: 'SCMP_CMP_LT' }]);
      pieces.push([{ index: c.arg, value: u64(max), op: 'SCMP_CMP_GT' }]);
      return pieces;
    }
    case 'masked': {
      // (arg & ~ignore) has every bit of allOf and none of noneOf, negated:
      // some allOf bit is clear, or some noneOf bit is set. One MASKED_EQ per bit.
      const pieces: OciArg[][] = [];
      const ignore = c.ignore ?? 0n;
      for (const [mask, want] of [
        [(c.allOf ?? 0n) & ~ignore, false],
        [(c.noneOf ?? 0n) & ~ignore, true],
      ] as const) {
        for (let bit = 1n; bit <= mask; bit <<= 1n) {
          if (mask & bit) {
            pieces.push([
              {
                index: c.arg,
                value: u64(bit),
                valueTwo: want ? u64(bit) : 0,
                op: 'SCMP_CMP_MASKED_EQ',
              },
            ]);
          }
        }
      }
      return pieces;
    }
  }
}

/** One exported comparison in words: "flags lacks CLONE_VM", "domain > AF_NETLINK". */
export function pieceWords(syscall: string, a: OciArg, cloneFlagsArg: number): string {
  const name = argName(syscall, a.index, cloneFlagsArg);
  const v = (n: number): string => valueWords(syscall, a.index, cloneFlagsArg, BigInt(n));
  switch (a.op) {
    case 'SCMP_CMP_MASKED_EQ':
      // One flag bit: has or lacks it; the low-32 mask: an int compared exactly.
      if (a.value === 0xffffffff) return `${name} (low 32 bits) is ${v(a.valueTwo ?? 0)}`;
      return `${name} ${a.valueTwo ? 'has' : 'lacks'} ${cloneFlagNamesOf(syscall, BigInt(a.value))}`;
    case 'SCMP_CMP_NE':
      return `${name} is not ${v(a.value)}`;
    case 'SCMP_CMP_EQ':
      return `${name} is ${v(a.value)}`;
    case 'SCMP_CMP_LT':
      return `${name} < ${v(a.value)}`;
    case 'SCMP_CMP_GT':
      return `${name} > ${v(a.value)}`;
  }
}

function ociAction(
  a: ResolvedAction,
  errnoFor: (name: string) => number,
): { action: string; errnoRet?: number } {
  switch (a.type) {
    case 'kill-process':
      return { action: 'SCMP_ACT_KILL_PROCESS' };
    case 'trap':
      return { action: 'SCMP_ACT_TRAP' };
    case 'errno':
      return { action: 'SCMP_ACT_ERRNO', errnoRet: a.errno };
    case 'log':
      return { action: 'SCMP_ACT_LOG' };
    case 'notify':
      // The exec-once gate needs the launcher's listener; see the note.
      return { action: 'SCMP_ACT_ERRNO', errnoRet: errnoFor('EPERM') };
  }
}

export interface ExportInput {
  readonly policyText: string;
  readonly policy: SandboxPolicy;
  readonly host: HostAbi;
  /** activeRules(policy, host.native), in the policy module's order. */
  readonly rules: readonly ActiveRule[];
  readonly errnoFor: (name: string) => number;
}

/** Consecutive rules with the same action and no condition share one entry, like Docker's profiles. */
export function toOci(input: ExportInput): OciSeccomp {
  const { host, rules } = input;
  const notes: string[] = [];
  const syscalls: OciSyscall[] = [];
  const plain = new Map<string, { entry: OciSyscall; groups: Set<string> }>();
  let gated = false;
  let narrowed = false;
  for (const r of rules) {
    const act = ociAction(r.action, input.errnoFor);
    if (r.action.type === 'notify') gated = true;
    if (!r.unless) {
      const key = `${act.action}/${act.errnoRet ?? ''}`;
      let slot = plain.get(key);
      if (!slot) {
        slot = { entry: { names: [], ...act }, groups: new Set() };
        plain.set(key, slot);
        syscalls.push(slot.entry);
      }
      slot.entry.names.push(r.syscall);
      slot.groups.add(r.group);
      continue;
    }
    const pieces = negateCondition(r.unless);
    const words = conditionWords(r.syscall, r.unless, host.native.cloneFlagsArg);
    if (!pieces) {
      notes.push(
        `${r.syscall}: "unless ${words}" needs two comparisons on one argument: denied unconditionally`,
      );
      syscalls.push({
        names: [r.syscall],
        ...act,
        comment: `${r.group}: ${r.reason} (condition not expressible)`,
      });
      continue;
    }
    if (r.unless.width === 32 && r.unless.op !== 'masked') narrowed = true;
    pieces.forEach((args, i) => {
      syscalls.push({
        names: [r.syscall],
        ...act,
        ...(args.length ? { args } : {}),
        // The full condition once; each piece says which way it fails it.
        comment:
          `${r.group}: ${r.syscall} when ${args.map((a) => pieceWords(r.syscall, a, host.native.cloneFlagsArg)).join(' and ')}` +
          (i === 0 ? ` (denied unless ${words}; ${r.reason})` : ''),
      });
    });
  }
  for (const { entry, groups } of plain.values()) {
    Object.assign(entry, { comment: `groups: ${[...groups].join(', ')}` });
  }
  // Secondary ABIs: our filter kills every foreign audit arch and x32 numbers.
  // Listing only the native arch gets the same from libseccomp: any other arch
  // (and, on x86_64, any x32 number) takes the bad-arch action.
  const secondary = host.secondary.map((a) => a.name);
  if (secondary.length) {
    notes.push(
      `foreign ABIs (${secondary.join(', ')}): only ${OCI_ARCH[host.native.name]} is listed, so the runtime's ` +
        `bad-arch action answers them (libseccomp's default kills the thread; ours kills the process)`,
    );
  }
  if (gated) {
    notes.push(
      'exec gate: OCI cannot let exactly one exec through, so execve/execveat are degraded to SCMP_ACT_ERRNO ' +
        '(EPERM); runc and crun exec the container entrypoint after loading the filter, so that exec fails too: ' +
        'run QEMU through qemu-sandboxed inside the container for the gate, or use spawn=allow',
    );
  }
  if (narrowed) {
    notes.push(
      'int arguments: OCI compares all 64 bits where the kernel reads 32, so a value with garbage in the upper ' +
        'half is denied here although the kernel would see an allowed value (stricter, never weaker)',
    );
  }
  if (input.policy.elevatePrivileges !== 'allow') {
    notes.push(
      'no-new-privs: set "process.noNewPrivileges": true in the OCI config (elevateprivileges)',
    );
  }
  notes.push(
    'a runtime whose libseccomp predates a syscall skips that name (libseccomp 2.5.4 lacks open_tree_attr): ' +
      'check with scmp_sys_resolver NAME',
  );
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: [OCI_ARCH[host.native.name]],
    syscalls,
    'x-qemu-sandboxed': { policy: input.policyText, abi: host.native.name, notes },
  };
}

/**
 * systemd unit lines. Kill-class and errno rules map directly; argument
 * conditions do not exist in systemd, so those calls are left out (allowed)
 * and named, with the closest systemd setting where one exists.
 */
export interface SystemdExport {
  /** Comment lines naming the policy, without "# ". */
  readonly header: string[];
  /** Unit settings, `Key=value`. */
  readonly lines: string[];
  /** What systemd cannot express, and how the lines behave. */
  readonly notes: string[];
}

/** The unit text: header and notes as `#` comments around the settings. */
export function systemdText(x: SystemdExport): string {
  return [...x.header.map((h) => `# ${h}`), ...x.lines, ...x.notes.map((n) => `# ${n}`)]
    .join('\n')
    .concat('\n');
}

export function toSystemd(input: ExportInput): SystemdExport {
  const { policy, host, rules } = input;
  const out: string[] = [];
  const notes: string[] = [];
  const kill: string[] = [];
  const logged: string[] = [];
  const errnoNames: string[] = [];
  for (const r of rules) {
    if (r.unless) {
      const words = conditionWords(r.syscall, r.unless, host.native.cloneFlagsArg);
      if (r.syscall === 'socket' && r.unless.arg === 0 && r.unless.op === 'in') {
        const fams = (r.unless.values ?? []).map(addressFamilyName).filter((n): n is string => !!n);
        // RestrictAddressFamilies= answers other families with EAFNOSUPPORT, as our rule does.
        out.push(`RestrictAddressFamilies=${[...new Set(fams)].join(' ')}`);
        continue;
      }
      notes.push(`${r.syscall} (${r.group}): left allowed, systemd cannot check "${words}"`);
      if (r.syscall === 'clone')
        notes.push('  closest: RestrictNamespaces=yes (refuses the CLONE_NEW* flags)');
      if (r.syscall === 'sched_setscheduler') notes.push('  closest: RestrictRealtime=yes');
      continue;
    }
    switch (r.action.type) {
      case 'kill-process':
      case 'trap':
        kill.push(r.syscall);
        break;
      case 'log':
        logged.push(r.syscall);
        break;
      case 'errno':
        errnoNames.push(`${r.syscall}:${r.action.errnoName}`);
        break;
      case 'notify':
        errnoNames.push(`${r.syscall}:EPERM`);
        break;
    }
  }
  const header = [
    `qemu-sandbox export '${input.policyText}' --format systemd (${host.native.name})`,
    'For the [Service] section of the unit that runs QEMU.',
  ];
  out.unshift('SystemCallArchitectures=native');
  // action=errno resolves kill-class rules to EPERM already: they arrive as `name:EPERM`.
  if (kill.length) out.push(`SystemCallFilter=~${kill.join(' ')}`);
  if (errnoNames.length) out.push(`SystemCallFilter=~${errnoNames.join(' ')}`);
  if (logged.length) out.push(`SystemCallLog=${logged.join(' ')}`);
  if (policy.elevatePrivileges !== 'allow') out.push('NoNewPrivileges=yes');

  if (policy.action === 'trap' && kill.length) {
    notes.push('action=trap: systemd kills the process (SIGSYS) instead of trapping');
  }
  if (policy.action === 'kill' && kill.length) {
    notes.push('SystemCallErrorNumber= must stay unset: the plain names kill the process (SIGSYS)');
  }
  if (policy.action === 'log' && logged.length) {
    notes.push('action=log: SystemCallLog= (systemd >= 247) logs these calls and allows them');
  }
  if (rules.some((r) => r.action.type === 'notify')) {
    notes.push(
      'exec gate: systemd cannot let exactly one exec through; execve/execveat are denied with EPERM, which ' +
        "also refuses the unit's own ExecStart= exec: run QEMU through qemu-sandboxed for the gate instead",
    );
  }
  const secondary = host.secondary.map((a) => a.name);
  if (secondary.length) {
    notes.push(`SystemCallArchitectures=native refuses the foreign ABIs (${secondary.join(', ')})`);
  }
  // systemd.exec(5): `~name:ERRNO` came with systemd 236 (systemd PR #7178); SystemCallLog= with 247.
  if (errnoNames.length)
    notes.push('per-syscall errnos use the name:ERRNO syntax (systemd >= 236)');
  // systemd resolves names with its own libseccomp and skips unknown ones with a warning: found
  // with systemd-analyze verify on Debian 12 (systemd 252, libseccomp 2.5.4).
  notes.push(
    "names the host's libseccomp does not know are skipped with a warning (libseccomp 2.5.4 lacks " +
      'open_tree_attr): check the unit with systemd-analyze verify',
  );
  return { header, lines: out, notes };
}
