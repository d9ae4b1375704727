/**
 * Policy semantics: for every host ABI and every combination of the five QEMU
 * keys and our extensions (192 policies), the verdict of the compiled program
 * in the interpreter equals the reference model's (test/helpers/reference-model.ts,
 * written from the groups' contract without the compiler) for:
 *  - every syscall number in the ABI's table (zero and random arguments);
 *  - out-of-range numbers, -1, x32 numbers (0x40000000 | n, every x32 syscall
 *    on x86_64), and syscalls arriving with a foreign audit arch;
 *  - argument cases of the argument-checked calls (clone flags, sched policies,
 *    socket families, pids, seccomp flags, ioctl requests), with garbage in
 *    the upper halves.
 * Everything is covered for every policy except random arguments on the whole
 * table, the x32 sweep and the foreign arch sweep, which rotate through the
 * policies (each case still runs for many policies and every action).
 */
import { createHash } from 'node:crypto';
import { ABI_NAMES, HOST_ABI_NAMES, getAbi } from '../../../src/arch';
import type { Abi } from '../../../src/arch/types';
import { runFilter } from '../../../src/bpf';
import type { SeccompData } from '../../../src/bpf/types';
import { compilePolicy } from '../../../src/compiler';
import {
  allPolicies,
  cloneFlagCases,
  ioctlRequestCases,
  pidCases,
  seccompFlagCases,
  modelRules,
  policyName,
  referenceVerdict,
  schedPolicyCases,
  socketFamilyCases,
} from '../../helpers/reference-model';
import { randU64, rng } from '../../helpers/random';

const ZERO: readonly bigint[] = [0n, 0n, 0n, 0n, 0n, 0n];

function withArg(i: number, v: bigint): bigint[] {
  const a = [...ZERO];
  a[i] = v;
  return a;
}

/** Every audit arch we know that is not `abi`'s, plus odd values. */
function foreignArches(abi: Abi): number[] {
  const set = new Set<number>([
    0,
    1,
    0xffffffff,
    0x40000000 | abi.auditArch,
    abi.auditArch & 0x3fffffff,
  ]);
  for (const n of ABI_NAMES) set.add(getAbi(n).auditArch);
  for (const v of [0x40000008, 0x80000008, 0x80000015, 0xa0000008, 0x20000008]) set.add(v); // mips o32/n32/BE, ppc64 BE
  set.delete(abi.auditArch);
  return [...set];
}

/** Argument-checked syscalls and the cases to run for them, by name. */
function argCases(abi: Abi): { nr: number; args: bigint[] }[] {
  const out: { nr: number; args: bigint[] }[] = [];
  const clone = abi.syscalls.get('clone');
  if (clone !== undefined)
    for (const f of cloneFlagCases()) out.push({ nr: clone, args: withArg(abi.cloneFlagsArg, f) });
  const sched = abi.syscalls.get('sched_setscheduler');
  if (sched !== undefined)
    for (const p of schedPolicyCases()) out.push({ nr: sched, args: withArg(1, p) });
  const socket = abi.syscalls.get('socket');
  if (socket !== undefined)
    for (const f of socketFamilyCases()) out.push({ nr: socket, args: withArg(0, f) });
  const byArg: [string, number, bigint[]][] = [
    ['kill', 0, pidCases()],
    ['prlimit64', 0, pidCases()],
    ['migrate_pages', 0, pidCases()],
    ['move_pages', 0, pidCases()],
    ['perf_event_open', 1, pidCases()],
    ['seccomp', 1, seccompFlagCases()],
    ['ioctl', 1, ioctlRequestCases()],
  ];
  for (const [name, index, values] of byArg) {
    const nr = abi.syscalls.get(name);
    if (nr !== undefined) for (const v of values) out.push({ nr, args: withArg(index, v) });
  }
  return out;
}

const policies = allPolicies();

describe.each(HOST_ABI_NAMES)('%s', (abiName) => {
  const abi = getAbi(abiName);
  const tableNrs = [...abi.names.keys()].sort((a, b) => a - b);
  const maxNr = tableNrs[tableNrs.length - 1];
  // Includes the edges of the mips o32 (4000-4999) and n32 (6000-6999) tables.
  const outOfRange = [
    maxNr + 1,
    maxNr + 100,
    0xfff,
    0x7fffffff,
    0x80000000,
    0xfffffffe,
    0xffffffff,
    0x3fffffff,
    3999,
    4000,
    4088, // o32 reboot
    4999,
    6000,
    6164, // n32 reboot
    6999,
    7000,
  ];
  const x32 = getAbi('x32');
  const x32Nrs =
    abiName === 'x86_64' ? [...x32.names.keys()] : [0x40000000, 0x40000000 | 39, 0x40000200];
  const arches = foreignArches(abi);
  const cases = argCases(abi);

  test(`compiled verdict == reference model, ${policies.length} policies`, () => {
    const r = rng(0xc0ffee ^ abi.auditArch);
    const mismatches: string[] = [];
    let checked = 0;
    policies.forEach((policy, pi) => {
      const f = compilePolicy(policy, abiName);
      const rules = modelRules(policy, abiName);
      const check = (d: SeccompData, what: string): void => {
        checked++;
        const got = runFilter(f.program, d, abi.endian).action >>> 0;
        const want = referenceVerdict(policy, abi, rules, d) >>> 0;
        if (got !== want && mismatches.length < 25) {
          mismatches.push(
            `${policyName(policy)} ${what} nr=${d.nr} (${abi.names.get(d.nr >>> 0) ?? '-'}) arch=0x${d.arch.toString(16)} ` +
              `args=[${d.args.map((a) => a.toString(16)).join(',')}]: compiled 0x${got.toString(16)}, model 0x${want.toString(16)}`,
          );
        }
      };
      const data = (nr: number, args: readonly bigint[], arch = abi.auditArch): SeccompData => ({
        nr,
        arch,
        instructionPointer: 0n,
        args,
      });
      tableNrs.forEach((nr, i) => {
        check(data(nr, ZERO), 'table');
        // Random arguments: a rotating quarter of the table per policy, so every
        // syscall meets random arguments under 48 policies of every action.
        if (i % 4 === pi % 4)
          check(
            data(
              nr,
              Array.from({ length: 6 }, () => randU64(r)),
            ),
            'table+random args',
          );
      });
      for (const nr of outOfRange) check(data(nr, ZERO), 'out of range');
      for (const c of cases) check(data(c.nr, c.args), 'arg case');
      for (const c of cases.slice(0, 8)) {
        // Random garbage in every other argument must not change anything.
        const args = Array.from({ length: 6 }, () => randU64(r));
        const i = c.args.findIndex((a) => a !== 0n);
        if (i >= 0) args[i] = c.args[i];
        check(data(c.nr, args), 'arg case+random');
      }
      // x32 and foreign arches: a rotating share per policy, all of them over the run.
      x32Nrs.forEach((n, i) => {
        if (i % 8 === pi % 8) check(data((n | 0x40000000) >>> 0, ZERO), 'x32');
      });
      arches.forEach((arch, i) => {
        if (i % 4 === pi % 4) {
          for (const nr of [0, tableNrs[Math.floor(r() * tableNrs.length)], 0xffffffff])
            check(data(nr, ZERO, arch), 'foreign arch');
        }
      });
    });
    expect(mismatches).toEqual([]);
    expect(checked).toBeGreaterThan(policies.length * tableNrs.length * 1.2);
  });
});

describe('compilePolicy contract', () => {
  test('the policies above are every combination: 2 obsolete x 3 elevateprivileges x 2 spawn x 2 resourcecontrol x 2 network x 4 action', () => {
    expect(policies.length).toBe(2 * 3 * 2 * 2 * 2 * 4);
    expect(new Set(policies.map(policyName)).size).toBe(policies.length);
  });

  test("preflight= is the launcher's business: it never changes the program", () => {
    for (const abiName of HOST_ABI_NAMES) {
      for (const p of policies.filter((_, i) => i % 11 === 0)) {
        const enforce = compilePolicy({ ...p, preflight: 'enforce' }, abiName);
        const warn = compilePolicy({ ...p, preflight: 'warn' }, abiName);
        expect([abiName, policyName(p), warn.hash]).toEqual([abiName, policyName(p), enforce.hash]);
      }
    }
  });

  test('-sandbox off is never compiled', () => {
    expect(() => compilePolicy({ ...policies[0], enable: false }, 'x86_64')).toThrow(/off/);
  });

  test('needsExecGate exactly under spawn=deny; deterministic bytes and hash', () => {
    for (const abiName of HOST_ABI_NAMES) {
      for (const p of policies.filter((_, i) => i % 7 === 0)) {
        const a = compilePolicy(p, abiName);
        const b = compilePolicy(p, abiName);
        expect(a.needsExecGate).toBe(p.spawn === 'deny');
        expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(true);
        expect(a.hash).toBe(createHash('sha256').update(a.bytes).digest('hex'));
        expect(a.hash).toBe(b.hash);
        expect(a.bytes.length).toBe(8 * a.program.length);
        expect(a.abi).toBe(abiName);
      }
    }
  });

  test('bytes are struct sock_filter in the ABI byte order (s390x big-endian)', () => {
    const le = compilePolicy(policies[0], 'x86_64');
    const be = compilePolicy(policies[0], 's390x');
    const first = (f: typeof le, littleEndian: boolean) => {
      const v = new DataView(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength);
      return { code: v.getUint16(0, littleEndian), k: v.getUint32(4, littleEndian) };
    };
    // The first instruction is "ld [4]" (the arch) on every ABI.
    expect(first(le, true)).toEqual({ code: 0x20, k: 4 });
    expect(first(be, false)).toEqual({ code: 0x20, k: 4 });
  });
});
