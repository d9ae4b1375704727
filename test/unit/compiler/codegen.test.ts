/**
 * The code generator on synthetic rule sets, independent of filters/ and the
 * policy grammar: random rules with every condition shape (eq/in/masked,
 * 32/64-bit, little and big endian, arguments 0-5), compared with a direct
 * evaluation of the ActiveRule semantics in the interpreter, plus the shape
 * guarantees (cache, log depth) on rule sets far larger than any policy.
 */
import { getAbi } from '../../../src/arch';
import type { Abi, AbiName } from '../../../src/arch/types';
import { isConstAllow, runFilter, SECCOMP_RET } from '../../../src/bpf';
import type { SeccompData } from '../../../src/bpf/types';
import type { ActiveRule, ArgCondition, ResolvedAction } from '../../../src/policy/types';
import { actionValue } from '../../../src/compiler/actions';
import { conditionHolds } from '../../../src/policy';
import { generateProgram } from '../../../src/compiler/codegen';
import {
  UnreachableRuleError,
  buildSegments,
  foreignRanges,
  plansFor,
} from '../../../src/compiler/plan';
import { randU64, rng } from '../../helpers/random';

const U64 = 0xffffffffffffffffn;
const KILL = SECCOMP_RET.KILL_PROCESS;

function directVerdict(abi: Abi, rules: readonly ActiveRule[], d: SeccompData): number {
  if (d.arch >>> 0 !== abi.auditArch) return KILL;
  if (abi.name === 'x86_64' && d.nr >>> 0 >= 0x40000000 && d.nr >>> 0 !== 0xffffffff) return KILL;
  const nr = d.nr >>> 0;
  // mips64el: o32 and n32 numbers reach an n64 filter (see foreignRanges).
  if (abi.name === 'mips64el' && ((nr >= 4000 && nr < 5000) || (nr >= 6000 && nr < 7000)))
    return KILL;
  // Of the rules whose condition does not exempt the call, the strictest
  // decides (the kernel's order of actions, written out here).
  const applying = rules
    .filter((r) => r.nr === nr && !(r.unless && conditionHolds(r.unless, d.args)))
    .map((r) => actionValue(r.action) >>> 0);
  if (applying.length === 0) return SECCOMP_RET.ALLOW;
  const strictness = (v: number): number => KERNEL_ORDER.indexOf((v & 0xffff0000) >>> 0);
  return applying.reduce((best, v) => (strictness(v) < strictness(best) ? v : best));
}

/** SECCOMP_RET_* actions, strictest first (Documentation/userspace-api/seccomp_filter.rst). */
const KERNEL_ORDER = [
  0x80000000, // KILL_PROCESS
  0x00000000, // KILL_THREAD
  0x00030000, // TRAP
  0x00050000, // ERRNO
  0x7fc00000, // USER_NOTIF
  0x7ff00000, // TRACE
  0x7ffc0000, // LOG
  0x7fff0000, // ALLOW
];

const ACTIONS: ResolvedAction[] = [
  { type: 'kill-process' },
  { type: 'trap' },
  { type: 'errno', errno: 1, errnoName: 'EPERM' },
  { type: 'errno', errno: 38, errnoName: 'ENOSYS' },
  { type: 'log' },
  { type: 'notify' },
];

function randomCondition(r: () => number): ArgCondition {
  const arg = Math.floor(r() * 6);
  const width = r() < 0.5 ? 32 : 64;
  const kind = r();
  if (kind < 0.25)
    return { arg, width, op: 'eq', values: [r() < 0.5 ? BigInt(Math.floor(r() * 8)) : randU64(r)] };
  if (kind < 0.5) {
    const n = 1 + Math.floor(r() * 4);
    const values = Array.from({ length: n }, () =>
      r() < 0.5 ? BigInt(Math.floor(r() * 8)) : randU64(r),
    );
    return { arg, width, op: 'in', values };
  }
  if (kind < 0.6) {
    const values = Array.from({ length: 1 + Math.floor(r() * 3) }, () =>
      BigInt(Math.floor(r() * 8)),
    );
    return { arg, width, op: 'notin', values };
  }
  if (kind < 0.7) {
    // 32 bits only, as the group validator allows.
    const a = BigInt(Math.floor(r() * 2 ** 32));
    const b = BigInt(Math.floor(r() * 2 ** 32));
    return { arg, width: 32, op: 'range', min: a < b ? a : b, max: a < b ? b : a };
  }
  const allOf = randU64(r) & randU64(r);
  const noneOf = randU64(r) & randU64(r) & ~allOf;
  const ignore = r() < 0.5 ? 0n : 1n << BigInt(Math.floor(r() * 64));
  return { arg, width, op: 'masked', allOf, noneOf, ignore };
}

/** Arguments near a condition's edges, plus noise. */
function argsFor(c: ArgCondition | undefined, r: () => number): bigint[] {
  const args = Array.from({ length: 6 }, () => (r() < 0.5 ? 0n : randU64(r)));
  if (!c) return args;
  const pick = r();
  if (c.op === 'range') {
    const edges = [c.min ?? 0n, c.max ?? 0n, (c.min ?? 0n) - 1n, (c.max ?? 0n) + 1n];
    const v = edges[Math.floor(r() * edges.length)] & U64;
    args[c.arg] = pick < 0.6 ? v : pick < 0.8 ? (v ^ (randU64(r) << 32n)) & U64 : randU64(r);
  } else if (c.op !== 'masked') {
    const vals = c.values ?? [0n];
    const v = vals[Math.floor(r() * vals.length)];
    args[c.arg] = pick < 0.4 ? v : pick < 0.7 ? (v ^ (randU64(r) << 32n)) & U64 : randU64(r);
  } else {
    const base = c.allOf ?? 0n;
    args[c.arg] =
      pick < 0.3
        ? base
        : pick < 0.6
          ? (base | (1n << BigInt(Math.floor(r() * 64)))) & U64
          : randU64(r);
  }
  return args;
}

/**
 * `count` rules on random numbers; a number may get several (as ioctl has),
 * all conditional but perhaps a last unconditional one of the weakest action
 * (LOG, listed last): every rule can decide some call, as plansFor requires.
 */
function randomRules(abi: Abi, r: () => number, count: number): ActiveRule[] {
  const nrs = [...abi.names.keys()];
  const rules: ActiveRule[] = [];
  for (let i = 0; i < count; i++) {
    const nr = nrs[Math.floor(r() * nrs.length)];
    const action = ACTIONS[Math.floor(r() * ACTIONS.length)];
    const unless = r() < 0.3 ? randomCondition(r) : undefined;
    rules.push({
      group: 'default',
      syscall: abi.names.get(nr) ?? '?',
      nr,
      reason: 'test',
      action,
      unless,
    });
  }
  const byNr = new Map<number, ActiveRule[]>();
  for (const rule of rules) byNr.set(rule.nr, [...(byNr.get(rule.nr) ?? []), rule]);
  return [...byNr.values()].flatMap((list) => {
    if (list.length === 1) return list;
    const conditional = list.filter((x) => x.unless);
    const fallback = list.find((x) => !x.unless);
    return fallback ? [...conditional, { ...fallback, action: { type: 'log' } }] : conditional;
  });
}

function compileRules(abi: Abi, rules: readonly ActiveRule[]) {
  return generateProgram(abi, buildSegments(plansFor(rules), foreignRanges(abi, KILL)), KILL);
}

describe('code generator on random rule sets', () => {
  const abis: AbiName[] = ['x86_64', 's390x', 'arm', 'aarch64', 'mips64el'];
  for (const name of abis) {
    test(`${name}: interpreter verdict equals the direct evaluation`, () => {
      const abi = getAbi(name);
      const r = rng(0x5eed + name.length);
      for (let round = 0; round < 40; round++) {
        const rules = randomRules(abi, r, 1 + Math.floor(r() * 60));
        const prog = compileRules(abi, rules);
        const probe = (d: SeccompData): void => {
          const got = runFilter(prog, d, abi.endian).action >>> 0;
          const want = directVerdict(abi, rules, d);
          if (got !== want) {
            throw new Error(
              `round ${round} nr ${d.nr} args ${d.args.map((a) => a.toString(16)).join(',')}: ` +
                `got 0x${got.toString(16)} want 0x${want.toString(16)}\nrules ${JSON.stringify(rules, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}`,
            );
          }
        };
        const zero = [0n, 0n, 0n, 0n, 0n, 0n];
        for (const nr of abi.names.keys())
          probe({ nr, arch: abi.auditArch, instructionPointer: 0n, args: zero });
        for (const rule of rules) {
          for (let k = 0; k < 12; k++) {
            probe({
              nr: rule.nr,
              arch: abi.auditArch,
              instructionPointer: 0n,
              args: argsFor(rule.unless, r),
            });
          }
        }
        for (const nr of [
          0xffffffff,
          0x40000000,
          0x40000001 + Math.floor(r() * 1000),
          0x7fffffff,
          99999,
          3999,
          4000,
          4000 + Math.floor(r() * 1000),
          4999,
          6000,
          6999,
          7000,
        ]) {
          probe({ nr, arch: abi.auditArch, instructionPointer: 0n, args: zero });
        }
        probe({ nr: 0, arch: 0x40000003, instructionPointer: 0n, args: zero });
      }
    });
  }

  test('a rule that can never decide a call is an error, as gVisor reports one', () => {
    const rule = (group: ActiveRule['group'], extra: Partial<ActiveRule>): ActiveRule => ({
      group,
      syscall: 'ioctl',
      nr: 16,
      reason: 'test',
      action: { type: 'kill-process' },
      ...extra,
    });
    const tiocsti: ArgCondition = { arg: 1, width: 32, op: 'notin', values: [0x5412n] };
    const tunsetiff: ArgCondition = { arg: 1, width: 32, op: 'notin', values: [0x400454can] };
    const eperm: ResolvedAction = { type: 'errno', errno: 1, errnoName: 'EPERM' };
    // Two conditions: both reachable, checked strictest first whatever the order given.
    const both = plansFor([
      rule('network', { action: eperm, unless: tunsetiff }),
      rule('default', { unless: tiocsti }),
    ]).get(16);
    expect(both).toEqual({
      kind: 'args',
      nr: 16,
      rules: [
        { value: KILL, unless: tiocsti },
        { value: actionValue(eperm), unless: tunsetiff },
      ],
    });
    // An unconditional rule decides every call before a weaker one.
    expect(() =>
      plansFor([rule('default', {}), rule('network', { action: eperm, unless: tunsetiff })]),
    ).toThrow(
      new UnreachableRuleError(
        'ioctl (network): the rule never decides a call: ioctl (default) has no condition and comes first',
      ),
    );
    // The same condition twice: the stricter rule decides exactly the calls the other would.
    expect(() =>
      plansFor([
        rule('network', { action: eperm, unless: tiocsti }),
        rule('default', { unless: tiocsti }),
      ]),
    ).toThrow(
      /ioctl \(network\): the rule never decides a call: ioctl \(default\) has the same condition/,
    );
    // A weaker unconditional rule after a conditional one is a fallback, reachable.
    expect(
      plansFor([rule('default', { unless: tiocsti }), rule('network', { action: eperm })]).get(16),
    ).toEqual({
      kind: 'args',
      nr: 16,
      rules: [{ value: KILL, unless: tiocsti }, { value: actionValue(eperm) }],
    });
  });

  test('allowed argument-independent numbers are all cached, others never', () => {
    const abi = getAbi('x86_64');
    const r = rng(7);
    for (let round = 0; round < 20; round++) {
      const rules = randomRules(abi, r, 80);
      const prog = compileRules(abi, rules);
      const ruled = new Set(rules.map((x) => x.nr));
      for (const nr of abi.names.keys()) {
        expect([nr, isConstAllow(prog, nr, abi.auditArch)]).toEqual([nr, !ruled.has(nr)]);
      }
    }
  });

  test('path length grows with log(#rules): 300 denied numbers take <= 3 + 10 + 1 instructions', () => {
    const abi = getAbi('x86_64');
    // Every other number denied: the worst case for ranges (600 segments).
    const rules: ActiveRule[] = [];
    for (let nr = 0; nr < 600; nr += 2) {
      rules.push({
        group: 'default',
        syscall: `n${nr}`,
        nr,
        reason: 'test',
        action: { type: 'kill-process' },
      });
    }
    const prog = compileRules(abi, rules);
    let max = 0;
    for (let nr = 0; nr < 700; nr++) {
      const res = runFilter(prog, {
        nr,
        arch: abi.auditArch,
        instructionPointer: 0n,
        args: [0n, 0n, 0n, 0n, 0n, 0n],
      });
      expect(res.action >>> 0).toBe(nr < 600 && nr % 2 === 0 ? KILL : SECCOMP_RET.ALLOW);
      max = Math.max(max, res.executed);
    }
    // ld arch, jeq arch, ld nr, ceil(log2(~602 segments)) = 10 comparisons, ret.
    expect(max).toBeLessThanOrEqual(3 + 10 + 1);
  });
});
