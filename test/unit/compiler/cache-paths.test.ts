/**
 * The shape guarantees of the compiled program, per ABI and per policy:
 *  - cache: every syscall the reference model allows whatever its arguments
 *    is "always allow" for the kernel's action cache (src/bpf's port of
 *    seccomp_is_const_allow), and no denied or argument-checked one is;
 *  - path length: a denied or argument-checked syscall executes a number of
 *    instructions that grows with log(#rules), far below a linear list;
 *  - argument checks only inside their syscall's branch: an abstract
 *    interpretation over syscall numbers shows each argument load is reached by
 *    exactly one number, one with an argument rule.
 */
import { HOST_ABI_NAMES, getAbi } from '../../../src/arch';
import { SECCOMP_DATA, isConstAllow, runFilter } from '../../../src/bpf';
import type { Instruction } from '../../../src/bpf/types';
import { cacheCoverage, compilePolicy, pathStats } from '../../../src/compiler';
import { activeRules } from '../../../src/policy';
import {
  FULL_POLICY,
  RET,
  allPolicies,
  modelRules,
  policyName,
  referenceVerdict,
} from '../../helpers/reference-model';

const policies = allPolicies();

describe.each(HOST_ABI_NAMES)('%s', (abiName) => {
  const abi = getAbi(abiName);
  const nrs = [...abi.names.keys()];

  test('action cache: 100% of argument-independent allowed calls, nothing else', () => {
    const problems: string[] = [];
    for (const policy of policies) {
      const f = compilePolicy(policy, abiName);
      const rules = modelRules(policy, abiName);
      const cov = cacheCoverage(f);
      if (cov.uncachedAllowed.length > 0 || cov.cached !== cov.allowedTotal) {
        problems.push(
          `${policyName(policy)}: cacheCoverage misses ${cov.uncachedAllowed.join(',')}`,
        );
      }
      for (const nr of nrs) {
        // Argument-independent allow per the model: no rule names the call.
        const name = abi.names.get(nr) ?? '';
        const independentAllow = !rules.has(name);
        const cached = isConstAllow(f.program, nr, abi.auditArch);
        if (cached !== independentAllow && problems.length < 20) {
          problems.push(
            `${policyName(policy)}: ${name} (${nr}) cached=${cached}, model says allowed=${independentAllow}`,
          );
        }
        if (independentAllow) {
          const d = {
            nr,
            arch: abi.auditArch,
            instructionPointer: 0n,
            args: [0n, 0n, 0n, 0n, 0n, 0n],
          };
          if (referenceVerdict(policy, abi, rules, d) !== RET.ALLOW)
            problems.push(`model: ${name} not allowed`);
        }
      }
      // The counts are over the whole table, not a sample.
      expect(cov.allowedTotal).toBe(nrs.filter((nr) => !rules.has(abi.names.get(nr) ?? '')).length);
    }
    expect(problems).toEqual([]);
  });

  test('path length: denied and argument-checked calls take O(log #rules) instructions', () => {
    for (const policy of [
      FULL_POLICY,
      ...policies.filter((p) => p.network === 'deny' && p.spawn === 'deny'),
    ]) {
      const f = compilePolicy(policy, abiName);
      const st = pathStats(f);
      const rules = activeRules(policy, abi).length;
      // ld arch, jeq arch, ld nr, the search, ret: the search over the ranges
      // of equal verdict (at most 2 * #rules + 2 of them) is a balanced tree.
      const depth = Math.ceil(Math.log2(2 * rules + 3));
      expect(st.denied.count).toBeGreaterThan(0);
      expect(st.denied.max).toBeLessThanOrEqual(3 + depth + 1);
      expect(st.all.max).toBeLessThanOrEqual(3 + depth + 1 + 12); // + an argument check
      expect(st.argChecked.max).toBeLessThanOrEqual(3 + depth + 1 + 12);
      // "far fewer than #rules": a linear JEQ list would average ~#rules/2.
      expect(st.denied.mean).toBeLessThan(rules / 3);
      expect(st.length).toBeLessThan(3 * rules + 40);
    }
  });
});

test('the foreign-arch and x32 checks cost 2 and 0 extra instructions', () => {
  const f = compilePolicy(FULL_POLICY, 'x86_64');
  const abi = getAbi('x86_64');
  const run = (nr: number, arch: number) =>
    runFilter(f.program, { nr, arch, instructionPointer: 0n, args: [0n, 0n, 0n, 0n, 0n, 0n] });
  // i386: ld arch, jeq, ret.
  expect(run(0, 0x40000003)).toEqual({ action: RET.KILL_PROCESS, executed: 3 });
  // x32 is one more range of the search: as short as any denied call.
  const x32 = run(0x40000000 | 39, abi.auditArch);
  expect(x32.action >>> 0).toBe(RET.KILL_PROCESS);
  expect(x32.executed).toBeLessThanOrEqual(pathStats(f).denied.max);
});

/**
 * Abstract interpretation of a program over syscall numbers: which numbers
 * can reach each instruction. Jumps only go forward, so one pass in order
 * suffices. Used to prove that every load of an argument is reached by exactly
 * one syscall number (argument checks only inside their syscall's branch).
 */
function numbersReachingArgLoads(program: readonly Instruction[]): Map<number, Set<string>> {
  type Range = readonly [number, number];
  type State = { ranges: Range[]; aIsNr: boolean };
  const incoming = new Map<number, State[]>([[0, [{ ranges: [[0, 0xffffffff]], aIsNr: false }]]]);
  const loads = new Map<number, Set<string>>();
  const push = (pc: number, s: State): void => {
    if (s.ranges.length === 0) return;
    incoming.set(pc, [...(incoming.get(pc) ?? []), s]);
  };
  const split = (
    ranges: Range[],
    test: (lo: number, hi: number) => [Range[], Range[]],
  ): [Range[], Range[]] => {
    const t: Range[] = [];
    const f: Range[] = [];
    for (const [lo, hi] of ranges) {
      const [a, b] = test(lo, hi);
      t.push(...a);
      f.push(...b);
    }
    return [t, f];
  };
  program.forEach((insn, pc) => {
    for (const s of incoming.get(pc) ?? []) {
      const k = insn.k >>> 0;
      if (insn.code === 0x20) {
        if (k === SECCOMP_DATA.nr) push(pc + 1, { ranges: s.ranges, aIsNr: true });
        else if (k === SECCOMP_DATA.arch) push(pc + 1, { ranges: s.ranges, aIsNr: false });
        else {
          const set = loads.get(pc) ?? new Set<string>();
          for (const [lo, hi] of s.ranges) set.add(lo === hi ? String(lo) : `${lo}-${hi}`);
          loads.set(pc, set);
          push(pc + 1, { ranges: s.ranges, aIsNr: false });
        }
      } else if (insn.code === 0x05) {
        push(pc + 1 + k, s);
      } else if ((insn.code & 0x07) === 0x05) {
        const op = insn.code & 0xf0;
        const tgtT = pc + 1 + insn.jt;
        const tgtF = pc + 1 + insn.jf;
        if (!s.aIsNr) {
          push(tgtT, s);
          push(tgtF, s);
          continue;
        }
        const [t, f] = split(s.ranges, (lo, hi) => {
          const r = (a: number, b: number): Range[] => (a <= b ? [[a, b]] : []);
          if (op === 0x10)
            return k >= lo && k <= hi
              ? [r(k, k), [...r(lo, k - 1), ...r(k + 1, hi)]]
              : [[], [[lo, hi]]];
          const g = op === 0x30 ? k : k + 1; // jge k == jgt k-1
          return [r(Math.max(lo, g), hi), r(lo, Math.min(hi, g - 1))];
        });
        push(tgtT, { ranges: t, aIsNr: true });
        push(tgtF, { ranges: f, aIsNr: true });
      } else if ((insn.code & 0x07) !== 0x06) {
        push(pc + 1, { ranges: s.ranges, aIsNr: false }); // ALU etc.: A no longer holds nr
      }
    }
  });
  return loads;
}

test.each(HOST_ABI_NAMES)(
  '%s: every argument load is reached by exactly one syscall number, an argument-checked one',
  (abiName) => {
    const abi = getAbi(abiName);
    for (const policy of policies.filter(
      (p) => p.spawn === 'deny' || p.resourceControl === 'deny' || p.network === 'deny',
    )) {
      const f = compilePolicy(policy, abiName);
      const checked = new Set(
        activeRules(policy, abi)
          .filter((r) => r.unless)
          .map((r) => String(r.nr)),
      );
      const loads = numbersReachingArgLoads(f.program);
      expect(loads.size).toBeGreaterThan(0);
      for (const [pc, nrs] of loads) {
        expect([pc, nrs.size]).toEqual([pc, 1]);
        expect(checked.has([...nrs][0])).toBe(true);
      }
    }
  },
);

test('negative control: the analysis sees an argument load reached by a range of numbers', () => {
  // ld nr; jge 56 -> ld args[0] (reached by 56..2^32-1); else RET ALLOW.
  const bad: Instruction[] = [
    { code: 0x20, jt: 0, jf: 0, k: SECCOMP_DATA.nr },
    { code: 0x35, jt: 0, jf: 2, k: 56 },
    { code: 0x20, jt: 0, jf: 0, k: SECCOMP_DATA.args },
    { code: 0x06, jt: 0, jf: 0, k: 0 },
    { code: 0x06, jt: 0, jf: 0, k: RET.ALLOW },
  ];
  expect(numbersReachingArgLoads(bad)).toEqual(new Map([[2, new Set(['56-4294967295'])]]));
});

describe('the measurements themselves', () => {
  const f = compilePolicy(FULL_POLICY, 'x86_64');
  const abi = getAbi('x86_64');
  const zero = [0n, 0n, 0n, 0n, 0n, 0n];

  test('kernelCached says what the kernel really caches: all on x86_64, not ARM private calls, nothing on MIPS', () => {
    const on = FULL_POLICY;
    const x86 = cacheCoverage(compilePolicy(on, 'x86_64'));
    expect(x86.kernelCached).toBe(x86.allowedTotal);
    const arm = cacheCoverage(compilePolicy(on, 'arm'));
    // The program makes them all cacheable; the kernel's bitmap stops below 0x0f0000.
    const privateAllowed = [...getAbi('arm').names.keys()].filter((nr) => nr >= 0x0f0000).length;
    expect(privateAllowed).toBeGreaterThan(0);
    expect(arm.cached).toBe(arm.allowedTotal);
    expect(arm.kernelCached).toBe(arm.allowedTotal - privateAllowed);
    // MIPS defines no SECCOMP_ARCH_NATIVE: no cache at all.
    expect(cacheCoverage(compilePolicy(on, 'mips64el')).kernelCached).toBeNull();
  });

  test('cacheCoverage reports what the cache misses (negative control)', () => {
    // The same program behind a load of args[0]: same verdicts, nothing cacheable.
    const program = [{ code: 0x20, jt: 0, jf: 0, k: SECCOMP_DATA.args }, ...f.program];
    const cov = cacheCoverage({ ...f, program });
    expect(cov.cached).toBe(0);
    expect(cov.uncachedAllowed).toHaveLength(cov.allowedTotal);
    expect(cov.allowedTotal).toBeGreaterThan(250); // not vacuous: most of the table;
  });

  test('pathStats equals a direct count over the table', () => {
    const counts = [...abi.names.keys()].map(
      (nr) =>
        runFilter(f.program, { nr, arch: abi.auditArch, instructionPointer: 0n, args: zero })
          .executed,
    );
    const st = pathStats(f);
    expect(st.length).toBe(f.program.length);
    expect(st.all).toEqual({
      count: counts.length,
      min: Math.min(...counts),
      mean: counts.reduce((a, b) => a + b, 0) / counts.length,
      max: Math.max(...counts),
    });
    const denied = activeRules(FULL_POLICY, abi).filter((r) => !r.unless);
    expect(st.denied.count).toBe(denied.length);
    expect(st.argChecked.count).toBeGreaterThan(20);
  });
});
