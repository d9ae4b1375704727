/**
 * Measurements of a compiled program: how much of it the kernel's action cache
 * takes off the hot path, and how many instructions a syscall executes when it
 * does run. Used by the CLI, the benchmark and the tests; they work on any
 * program (libseccomp's too) given the cases to run.
 */
import { getAbi, isHostAbiName, kernelCachedAllow } from '../arch';
import type { Abi } from '../arch/types';
import { isConstAllow } from '../bpf/cache';
import { runFilter } from '../bpf/interpreter';
import type { Instruction } from '../bpf/types';
import { activeRules } from '../policy';
import type { ArgCondition } from '../policy/types';
import type { CompiledFilter } from './types';

export interface CacheCoverage {
  /** Table syscalls whose verdict is ALLOW whatever their arguments. */
  readonly allowedTotal: number;
  /**
   * Of those, how many the program lets the cache hold: seccomp_is_const_allow
   * says "always allow" for them. This is the compiler's guarantee (100%).
   */
  readonly cached: number;
  /** The argument-independent allowed numbers the program keeps out of the cache (should be none). */
  readonly uncachedAllowed: number[];
  /**
   * What the kernel will really skip BPF for, of allowedTotal: the numbers its
   * bitmap covers (not ARM's private calls) that the program makes constant.
   * null where the kernel keeps no cache for the ABI (MIPS): every call runs BPF.
   */
  readonly kernelCached: number | null;
}

/**
 * The kernel's action cache (kernel/seccomp.c, seccomp_cache_prepare) over the
 * ABI's syscall table, emulated by src/bpf's port of seccomp_is_const_allow;
 * which arches and numbers get a bitmap comes from src/arch/seccomp-cache.
 */
export function cacheCoverage(filter: CompiledFilter): CacheCoverage {
  const abi = getAbi(filter.abi);
  const ruled = new Set(activeRules(filter.policy, abi).map((r) => r.nr));
  const allowed = [...abi.names.keys()].filter((nr) => !ruled.has(nr)).sort((a, b) => a - b);
  const uncachedAllowed = allowed.filter((nr) => !isConstAllow(filter.program, nr, abi.auditArch));
  // Filters are compiled for host ABIs only; a foreign one has no bitmap to speak of.
  const bitmap = isHostAbiName(filter.abi)
    ? kernelCachedAllow(filter.program, filter.abi).get(filter.abi)
    : undefined;
  return {
    allowedTotal: allowed.length,
    cached: allowed.length - uncachedAllowed.length,
    uncachedAllowed,
    kernelCached: bitmap === undefined ? null : allowed.filter((nr) => bitmap.has(nr)).length,
  };
}

/** One syscall to run through a program when measuring path lengths. */
export interface PathCase {
  readonly nr: number;
  readonly args: readonly bigint[];
  /** all: a table syscall with zero arguments; denied: denied whatever its arguments; args: argument-checked. */
  readonly kind: 'all' | 'denied' | 'args';
}

export interface PathSummary {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly max: number;
}

export interface PathStats {
  /** Program length in instructions. */
  readonly length: number;
  /** Every number of the ABI's table, arguments zero. */
  readonly all: PathSummary;
  /** The syscalls denied whatever their arguments. */
  readonly denied: PathSummary;
  /** The argument-checked syscalls over argument values on both sides of each check. */
  readonly argChecked: PathSummary;
}

const ZERO_ARGS: readonly bigint[] = [0n, 0n, 0n, 0n, 0n, 0n];
const U64 = 0xffffffffffffffffn;
/** Garbage in the upper half of an int argument: the kernel ignores it. */
const HIGH_GARBAGE = 0xdeadbeef00000000n;

function withArg(i: number, v: bigint): bigint[] {
  const args = [...ZERO_ARGS];
  args[i] = v & U64;
  return args;
}

/**
 * Argument tuples on both sides of one condition: every listed value (also
 * with garbage in the upper half), values next to them, and for a mask the
 * wanted bits with each forbidden bit added and each required bit removed.
 */
export function argCasesFor(c: ArgCondition): bigint[][] {
  const values = new Set<bigint>([0n, U64, HIGH_GARBAGE]);
  if (c.op === 'eq' || c.op === 'in' || c.op === 'notin') {
    for (const v of c.values ?? []) {
      for (const w of [v, v + 1n, v - 1n, v | HIGH_GARBAGE]) values.add(w & U64);
    }
  } else if (c.op === 'range') {
    for (const v of [c.min ?? 0n, c.max ?? 0n]) {
      for (const w of [v, v + 1n, v - 1n, v | HIGH_GARBAGE]) values.add(w & U64);
    }
  } else {
    const allOf = c.allOf ?? 0n;
    const noneOf = c.noneOf ?? 0n;
    const ignore = c.ignore ?? 0n;
    const base = [allOf, allOf | ignore];
    for (const b of base) {
      values.add(b);
      values.add(b | HIGH_GARBAGE);
      for (let bit = 0n; bit < 64n; bit++) {
        const m = 1n << bit;
        if (noneOf & m) values.add(b | m);
        if (allOf & m) values.add(b & ~m);
      }
    }
  }
  return [...values].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)).map((v) => withArg(c.arg, v));
}

/** The cases pathStats measures for a policy on one ABI (the bench runs libseccomp's program on the same). */
export function pathCases(policy: CompiledFilter['policy'], abi: Abi): PathCase[] {
  const rules = activeRules(policy, abi);
  const byNr = new Map<number, typeof rules>();
  for (const r of rules) byNr.set(r.nr, [...(byNr.get(r.nr) ?? []), r]);
  const cases: PathCase[] = [];
  for (const nr of [...abi.names.keys()].sort((a, b) => a - b))
    cases.push({ nr, args: ZERO_ARGS, kind: 'all' });
  for (const [nr, list] of [...byNr.entries()].sort((a, b) => a[0] - b[0])) {
    const conds = list.filter((r) => r.unless).map((r) => r.unless as ArgCondition);
    if (conds.length === 0) {
      cases.push({ nr, args: ZERO_ARGS, kind: 'denied' });
      continue;
    }
    for (const c of conds)
      for (const args of argCasesFor(c)) cases.push({ nr, args, kind: 'args' });
  }
  return cases;
}

function summarize(counts: readonly number[]): PathSummary {
  if (counts.length === 0) return { count: 0, min: 0, mean: 0, max: 0 };
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const c of counts) {
    min = Math.min(min, c);
    max = Math.max(max, c);
    sum += c;
  }
  return { count: counts.length, min, mean: sum / counts.length, max };
}

/** Instructions executed by `program` for each case, summarized per kind. */
export function measurePaths(
  program: readonly Instruction[],
  abi: Abi,
  cases: readonly PathCase[],
): Omit<PathStats, 'length'> {
  const by: Record<PathCase['kind'], number[]> = { all: [], denied: [], args: [] };
  for (const c of cases) {
    const r = runFilter(
      program,
      { nr: c.nr, arch: abi.auditArch, instructionPointer: 0n, args: c.args },
      abi.endian,
    );
    by[c.kind].push(r.executed);
  }
  return { all: summarize(by.all), denied: summarize(by.denied), argChecked: summarize(by.args) };
}

/** Path lengths of a compiled filter (see PathStats). */
export function pathStats(filter: CompiledFilter): PathStats {
  const abi = getAbi(filter.abi);
  return {
    length: filter.program.length,
    ...measurePaths(filter.program, abi, pathCases(filter.policy, abi)),
  };
}
