import { HOST_ABI_NAMES, errnoValue, getHostAbi } from '../../../src/arch';
import { conditionHolds } from '../../../src/policy';
import {
  negateCondition,
  systemdText,
  toOci,
  toSystemd as toSystemdParts,
  type OciArg,
} from '../../../src/cli/export';
import { activeRules, parsePolicy } from '../../../src/policy';
import type { ArgCondition } from '../../../src/policy/types';

const ALL = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny,network=deny';

/** libseccomp's comparison on the full 64-bit argument (what an OCI runtime loads). */
function cmp(a: OciArg, v: bigint): boolean {
  const value = BigInt(a.value);
  switch (a.op) {
    case 'SCMP_CMP_NE':
      return v !== value;
    case 'SCMP_CMP_EQ':
      return v === value;
    case 'SCMP_CMP_LT':
      return v < value;
    case 'SCMP_CMP_GT':
      return v > value;
    case 'SCMP_CMP_MASKED_EQ':
      return (v & value) === BigInt(a.valueTwo ?? 0);
  }
}

/** Rules OR-ed, comparisons within a rule AND-ed. */
function denies(pieces: OciArg[][], v: bigint): boolean {
  return pieces.some((rule) => rule.every((a) => cmp(a, v)));
}

/** Deterministic pseudo-random u64s (xorshift), so a failure reproduces. */
function* values(c: ArgCondition, count: number): Generator<bigint> {
  let s = 0x9e3779b97f4a7c15n;
  const next = (): bigint => {
    s ^= (s << 13n) & 0xffffffffffffffffn;
    s ^= s >> 7n;
    s ^= (s << 17n) & 0xffffffffffffffffn;
    return s;
  };
  const interesting = [
    0n,
    1n,
    ...(c.values ?? []),
    ...(c.values ?? []).map((v) => v + 1n),
    c.allOf ?? 0n,
    (c.allOf ?? 0n) | (c.ignore ?? 0n),
    (c.allOf ?? 0n) | (c.noneOf ?? 0n),
  ];
  yield* interesting;
  for (let i = 0; i < count; i++) {
    const r = next();
    // Half near the condition (one bit flipped), half anywhere in 32 bits.
    const base = interesting[i % interesting.length];
    yield i % 2 ? r & 0xffffffffn : base ^ (1n << (r % 32n));
  }
}

describe('negateCondition: exported pieces deny exactly when the condition is false', () => {
  const cases: { abi: string; syscall: string; c: ArgCondition }[] = [];
  for (const name of HOST_ABI_NAMES) {
    const abi = getHostAbi(name).native;
    for (const r of activeRules(parsePolicy(ALL), abi))
      if (r.unless) cases.push({ abi: name, syscall: r.syscall, c: r.unless });
  }

  test('the groups have argument conditions to test', () => {
    expect(cases.length).toBeGreaterThanOrEqual(HOST_ABI_NAMES.length * 2);
  });

  test.each(cases.map((x) => [`${x.abi} ${x.syscall}`, x] as const))('%s', (_label, { c }) => {
    const pieces = negateCondition(c);
    expect(pieces).toBeDefined();
    if (!pieces) return;
    const holds = (v: bigint): boolean =>
      conditionHolds(
        c,
        Array.from({ length: 6 }, (_, i) => (i === c.arg ? v : 0n)),
      );
    for (const v of values(c, 2000)) {
      expect([v, denies(pieces, v)]).toEqual([v, !holds(v)]);
      // Garbage in the upper half of an int argument: OCI may only be stricter.
      const garbage = v | 0xdead00000000n;
      if (!holds(garbage)) expect([garbage, denies(pieces, garbage)]).toEqual([garbage, true]);
      if (c.op === 'masked') expect(denies(pieces, garbage)).toBe(!holds(garbage));
    }
  });
});

test('negateCondition on hand-made conditions', () => {
  expect(negateCondition({ arg: 1, width: 64, op: 'eq', values: [5n] })).toEqual([
    [{ index: 1, value: 5, op: 'SCMP_CMP_NE' }],
  ]);
  expect(negateCondition({ arg: 0, width: 32, op: 'in', values: [1n, 3n] })).toEqual([
    [{ index: 0, value: 1, op: 'SCMP_CMP_LT' }],
    [{ index: 0, value: 2, op: 'SCMP_CMP_EQ' }],
    [{ index: 0, value: 3, op: 'SCMP_CMP_GT' }],
  ]);
  expect(
    negateCondition({ arg: 0, width: 64, op: 'masked', allOf: 0x3n, noneOf: 0x4n, ignore: 0x2n }),
  ).toEqual([
    [{ index: 0, value: 1, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    [{ index: 0, value: 4, valueTwo: 4, op: 'SCMP_CMP_MASKED_EQ' }],
  ]);
  // A set with a huge gap is not exported value by value.
  expect(negateCondition({ arg: 0, width: 64, op: 'in', values: [0n, 100000n] })).toBeUndefined();
});

const toSystemd = (x: Parameters<typeof toSystemdParts>[0]): string =>
  systemdText(toSystemdParts(x));

function input(policyText: string, abiName: (typeof HOST_ABI_NAMES)[number] = 'x86_64') {
  const policy = parsePolicy(policyText);
  const host = getHostAbi(abiName);
  return {
    policyText,
    policy,
    host,
    rules: activeRules(policy, host.native),
    errnoFor: (n: string) => errnoValue(abiName, n),
  };
}

describe('toOci', () => {
  test('every active rule appears with its action; only the native arch is listed', () => {
    const inp = input(ALL);
    const oci = toOci(inp);
    expect(oci.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(oci.architectures).toEqual(['SCMP_ARCH_X86_64']);
    const named = new Set(oci.syscalls.flatMap((s) => s.names));
    for (const r of inp.rules) expect(named.has(r.syscall)).toBe(true);
    const fork = oci.syscalls.find((s) => s.names.includes('fork'));
    expect(fork).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 1 });
    expect(oci.syscalls.find((s) => s.names.includes('reboot'))?.action).toBe(
      'SCMP_ACT_KILL_PROCESS',
    );
  });

  test('the exec gate degrades to EPERM and the notes say so', () => {
    const oci = toOci(input('on,spawn=deny'));
    const execve = oci.syscalls.find((s) => s.names.includes('execve'));
    expect(execve).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 1 });
    expect(oci['x-qemu-sandboxed'].notes.join('\n')).toMatch(/exec gate.*degraded/);
    expect(oci['x-qemu-sandboxed'].notes.join('\n')).toMatch(/foreign ABIs \(i386, x32\)/);
  });

  test('action=log and action=trap map to libseccomp actions', () => {
    expect(toOci(input('on,action=log')).syscalls[0].action).toBe('SCMP_ACT_LOG');
    expect(toOci(input('on,action=trap')).syscalls[0].action).toBe('SCMP_ACT_TRAP');
  });

  test('aarch64: arch name and no exec gate note without spawn=deny', () => {
    const oci = toOci(input('on', 'aarch64'));
    expect(oci.architectures).toEqual(['SCMP_ARCH_AARCH64']);
    expect(oci['x-qemu-sandboxed'].notes.join('\n')).not.toMatch(/exec gate/);
  });
});

describe('toSystemd', () => {
  test('kill list, per-call errnos, address families, no arg conditions', () => {
    const text = toSystemd(input(ALL));
    const lines = text.split('\n');
    expect(lines).toContain('SystemCallArchitectures=native');
    expect(lines).toContain('RestrictAddressFamilies=AF_UNIX AF_NETLINK');
    expect(lines).toContain('NoNewPrivileges=yes');
    const kill = lines.find((l) => l.startsWith('SystemCallFilter=~reboot'));
    expect(kill).toBeDefined();
    expect(kill).not.toMatch(/:/);
    const errno = lines.find((l) => l.includes('fork:EPERM'));
    expect(errno).toMatch(/^SystemCallFilter=~/);
    expect(errno).toMatch(/ clone3:ENOSYS /);
    // clone and sched_setscheduler have conditions: left out of the filter, named in a comment.
    expect(lines.filter((l) => !l.startsWith('#')).join(' ')).not.toMatch(
      /\bclone\b(?!3)|sched_setscheduler/,
    );
    expect(text).toMatch(/# clone \(spawn\): left allowed/);
    expect(text).toMatch(/# sched_setscheduler \(resourcecontrol\): left allowed/);
    expect(lines.some((l) => l.startsWith('SystemCallErrorNumber='))).toBe(false);
  });

  test('action=errno gives every kill-class call :EPERM; action=log uses SystemCallLog=', () => {
    const errno = toSystemd(input('on,action=errno')).split('\n');
    expect(errno.find((l) => l.startsWith('SystemCallFilter=~'))).toMatch(
      /^SystemCallFilter=~reboot:EPERM /,
    );
    const log = toSystemd(input('on,action=log')).split('\n');
    expect(log.some((l) => l.startsWith('SystemCallLog=reboot'))).toBe(true);
    expect(log.some((l) => l.startsWith('SystemCallFilter=~reboot'))).toBe(false);
  });
});

/**
 * The runtime-spec's linux.seccomp rules (config-linux.md, "Seccomp"): the
 * action, architecture and operator names it lists, `names` with at least one
 * entry, `errnoRet` only where the action takes an errno (a runtime MUST fail
 * otherwise), `args` with index, value and op. SCMP_ARCH_LOONGARCH64 came with
 * libseccomp 2.6, after the spec's list (v2.5.0); runc and oci-spec-rs accept it.
 */
const OCI_ACTIONS = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
];
const OCI_ARCHES = [
  ...['X86', 'X86_64', 'X32', 'ARM', 'AARCH64', 'MIPS', 'MIPS64', 'MIPS64N32', 'MIPSEL'],
  ...['MIPSEL64', 'MIPSEL64N32', 'PPC', 'PPC64', 'PPC64LE', 'S390', 'S390X', 'PARISC'],
  ...['PARISC64', 'RISCV64', 'LOONGARCH64'],
].map((a) => `SCMP_ARCH_${a}`);
const OCI_OPS = ['NE', 'LT', 'LE', 'EQ', 'GE', 'GT', 'MASKED_EQ'].map((o) => `SCMP_CMP_${o}`);
const SECCOMP_KEYS = [
  'defaultAction',
  'defaultErrnoRet',
  'architectures',
  'flags',
  'listenerPath',
  'listenerMetadata',
  'syscalls',
];

/** Every way `oci` breaks the spec's rules, as readable strings. */
function specViolations(oci: unknown, abiNames: ReadonlySet<string>): string[] {
  const errors: string[] = [];
  const o = oci as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!SECCOMP_KEYS.includes(k) && !k.startsWith('x-')) errors.push(`unknown key ${k}`);
  if (!OCI_ACTIONS.includes(o.defaultAction as string)) errors.push('defaultAction');
  for (const a of o.architectures as string[])
    if (!OCI_ARCHES.includes(a)) errors.push(`arch ${a}`);
  (o.syscalls as Record<string, unknown>[]).forEach((s, i) => {
    const at = `syscalls[${i}]`;
    for (const k of Object.keys(s))
      if (!['names', 'action', 'errnoRet', 'args', 'comment'].includes(k))
        errors.push(`${at}.${k}`);
    const names = s.names as string[];
    if (!Array.isArray(names) || names.length === 0) errors.push(`${at}.names empty`);
    for (const n of names) if (!abiNames.has(n)) errors.push(`${at}: ${n} is not a syscall`);
    if (!OCI_ACTIONS.includes(s.action as string)) errors.push(`${at}.action ${String(s.action)}`);
    if (s.errnoRet !== undefined) {
      const e = s.errnoRet as number;
      if (s.action !== 'SCMP_ACT_ERRNO') errors.push(`${at}: errnoRet with ${String(s.action)}`);
      if (!Number.isInteger(e) || e < 0 || e > 4095) errors.push(`${at}.errnoRet ${e}`);
    }
    for (const a of (s.args ?? []) as Record<string, unknown>[]) {
      if (!Number.isInteger(a.index) || (a.index as number) < 0 || (a.index as number) > 5)
        errors.push(`${at}: arg index ${String(a.index)}`);
      for (const v of [a.value, ...(a.valueTwo === undefined ? [] : [a.valueTwo])])
        if (!Number.isSafeInteger(v) || (v as number) < 0) errors.push(`${at}: value ${String(v)}`);
      if (!OCI_OPS.includes(a.op as string)) errors.push(`${at}: op ${String(a.op)}`);
    }
  });
  return errors;
}

describe('toOci follows the runtime-spec rules for linux.seccomp', () => {
  const cases = HOST_ABI_NAMES.flatMap((abi) =>
    [ALL, 'on,action=log', 'on,action=trap', 'on,spawn=deny,action=errno'].map(
      (p) => [abi, p] as const,
    ),
  );
  test.each(cases)('%s %s', (abi, policy) => {
    const oci = toOci(input(policy, abi));
    const names = new Set(getHostAbi(abi).native.syscalls.keys());
    expect(specViolations(JSON.parse(JSON.stringify(oci)), names)).toEqual([]);
  });

  test('the check sees violations', () => {
    const bad = {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_AMD64'],
      syscalls: [
        { names: [], action: 'SCMP_ACT_DENY' },
        { names: ['reboot'], action: 'SCMP_ACT_KILL_PROCESS', errnoRet: 1 },
        { names: ['socket'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: -1, op: 'LT' }] },
      ],
    };
    expect(specViolations(bad, new Set(['reboot', 'socket']))).toEqual([
      'arch SCMP_ARCH_AMD64',
      'syscalls[0].names empty',
      'syscalls[0].action SCMP_ACT_DENY',
      'syscalls[1]: errnoRet with SCMP_ACT_KILL_PROCESS',
      'syscalls[2]: arg index 6',
      'syscalls[2]: value -1',
      'syscalls[2]: op LT',
    ]);
  });
});
