/**
 * src/policy's condition evaluator (conditionHolds, maskedMismatch) and the
 * compiler's BPF agree on every argument condition the groups hold, on every
 * host ABI: a call is allowed by the program exactly when the evaluator says
 * its rules' `unless` conditions all hold, and otherwise gets the action of a
 * rule whose condition does not. simulate explains verdicts with the evaluator,
 * so a disagreement would be an explanation that contradicts the verdict.
 */
import { HOST_ABI_NAMES, getAbi } from '../../../src/arch';
import { SECCOMP_RET, runFilter } from '../../../src/bpf';
import { actionValue, argCasesFor, compilePolicy } from '../../../src/compiler';
import { activeRules, conditionHolds, maskedMismatch } from '../../../src/policy';
import type { ArgCondition, SandboxPolicy } from '../../../src/policy/types';
import { randU64, rng } from '../../helpers/random';

const EVERY_GROUP: SandboxPolicy = {
  enable: true,
  obsolete: 'deny',
  elevatePrivileges: 'deny',
  spawn: 'deny',
  resourceControl: 'deny',
  network: 'deny',
  action: 'kill',
  preflight: 'enforce',
};

describe.each(HOST_ABI_NAMES)('%s', (abiName) => {
  test('the program allows a checked call exactly when conditionHolds says so', () => {
    const abi = getAbi(abiName);
    const f = compilePolicy(EVERY_GROUP, abiName);
    const random = rng(abiName.length);
    const u64 = (): bigint => randU64(random);
    const all = activeRules(EVERY_GROUP, abi);
    const rules = all.filter((r) => r.unless);
    expect(rules.length).toBeGreaterThan(5);
    const problems: string[] = [];
    for (const r of rules) {
      const c = r.unless as ArgCondition;
      const cases = [
        ...argCasesFor(c),
        ...Array.from({ length: 50 }, () => [u64(), u64(), u64(), u64(), u64(), u64()]),
      ];
      for (const args of cases) {
        const verdict =
          runFilter(
            f.program,
            { nr: r.nr, arch: abi.auditArch, instructionPointer: 0n, args },
            abi.endian,
          ).action >>> 0;
        // ioctl has a rule in two groups: the call is allowed when every
        // condition holds, else it gets the action of a rule whose does not.
        const applying = all
          .filter((x) => x.nr === r.nr && !(x.unless && conditionHolds(x.unless, args)))
          .map((x) => actionValue(x.action) >>> 0);
        const ok =
          applying.length === 0 ? verdict === SECCOMP_RET.ALLOW : applying.includes(verdict);
        if (!ok && problems.length < 10) {
          const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
          problems.push(
            `${r.syscall}(${args.map(hex).join(', ')}): BPF ${hex(verdict)}, evaluator: ${applying.length ? applying.map(hex).join(' or ') : 'ALLOW'}`,
          );
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

test('maskedMismatch names the bits a masked condition misses', () => {
  const c: ArgCondition = {
    arg: 0,
    width: 64,
    op: 'masked',
    allOf: 0b0110n,
    noneOf: 0b1000n,
    ignore: 0b0001n,
  };
  expect(maskedMismatch(c, [0b0110n])).toEqual({ missing: 0n, extra: 0n });
  expect(conditionHolds(c, [0b0111n])).toBe(true); // an ignored bit changes nothing
  expect(maskedMismatch(c, [0b1010n])).toEqual({ missing: 0b0100n, extra: 0b1000n });
  expect(conditionHolds(c, [0b1010n])).toBe(false);
  // width 32 compares the low half only: upper bits are neither missing nor extra.
  const c32: ArgCondition = { ...c, width: 32, noneOf: 0x1_0000_0000n | 0b1000n };
  expect(maskedMismatch(c32, [0xffff_ffff_0000_0006n])).toEqual({ missing: 0n, extra: 0n });
});
