/**
 * Which values of a seccomp_data word reach each instruction while A holds
 * that word: an abstract interpretation over sets of u32 ranges. After
 * `ld [nr]`, A is "nr, any value"; `jge #169` sends nr >= 169 one way and
 * nr < 169 the other; where paths join, the sets are united. The
 * disassembler uses it to say which syscall numbers a comparison decides.
 *
 * Jumps only go forward, so one pass in index order sees every edge into an
 * instruction before the instruction itself. JSET and comparisons with X are
 * not split: both successors get the whole set (a superset of the truth).
 */
import {
  BPF_ABS,
  BPF_ALU,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_K,
  BPF_LD,
  BPF_MISC,
  BPF_RET,
  BPF_TXA,
  BPF_W,
  bpfClass,
  bpfOp,
  bpfSrc,
  isConditionalJump,
} from './opcodes';
import type { Instruction } from './types';

const U32_MAX = 0xffffffff;

/** Sorted, disjoint, non-adjacent inclusive ranges [lo, hi] of u32 values. */
export type RangeSet = readonly (readonly [number, number])[];

export const ALL_VALUES: RangeSet = [[0, U32_MAX]];

/** What A holds before an instruction. */
export type AccumulatorState =
  /** The 32-bit word of seccomp_data at `offset`, restricted to `values`. */
  | { readonly kind: 'word'; readonly offset: number; readonly values: RangeSet }
  /** Anything else, or a join of different words. */
  | { readonly kind: 'other' };

const OTHER: AccumulatorState = { kind: 'other' };

export interface ValueFlow {
  /** A before each instruction (unreachable instructions: other). */
  readonly before: readonly AccumulatorState[];
  /**
   * For a conditional jump on a word: the values that take each branch
   * (empty: the branch is never taken). Undefined for other instructions.
   */
  readonly branches: readonly ({ readonly jt: RangeSet; readonly jf: RangeSet } | undefined)[];
}

/** s ∩ [lo, hi]. */
export function intersect(s: RangeSet, lo: number, hi: number): RangeSet {
  const out: [number, number][] = [];
  for (const [a, b] of s) {
    const l = Math.max(a, lo);
    const h = Math.min(b, hi);
    if (l <= h) out.push([l, h]);
  }
  return out;
}

/** s without [lo, hi]. */
export function subtract(s: RangeSet, lo: number, hi: number): RangeSet {
  const out: [number, number][] = [];
  for (const [a, b] of s) {
    if (b < lo || a > hi) {
      out.push([a, b]);
      continue;
    }
    if (a < lo) out.push([a, lo - 1]);
    if (b > hi) out.push([hi + 1, b]);
  }
  return out;
}

/** s ∪ t, normalized (adjacent ranges merged). */
export function union(s: RangeSet, t: RangeSet): RangeSet {
  const all = [...s, ...t].sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [a, b] of all) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** How many values the set holds. */
export function size(s: RangeSet): number {
  return s.reduce((n, [a, b]) => n + (b - a + 1), 0);
}

function merge(a: AccumulatorState | undefined, b: AccumulatorState): AccumulatorState {
  if (a === undefined) return b;
  if (a.kind === 'word' && b.kind === 'word' && a.offset === b.offset) {
    return { kind: 'word', offset: a.offset, values: union(a.values, b.values) };
  }
  return OTHER;
}

/** The values of `s` for which a jump with this opcode and constant is taken, and not. */
function split(code: number, k: number, s: RangeSet): { jt: RangeSet; jf: RangeSet } {
  if (bpfSrc(code) !== BPF_K) return { jt: s, jf: s };
  switch (bpfOp(code)) {
    case BPF_JEQ:
      return { jt: intersect(s, k, k), jf: subtract(s, k, k) };
    case BPF_JGT:
      return k === U32_MAX
        ? { jt: [], jf: s }
        : { jt: intersect(s, k + 1, U32_MAX), jf: intersect(s, 0, k) };
    case BPF_JGE:
      return k === 0
        ? { jt: s, jf: [] }
        : { jt: intersect(s, k, U32_MAX), jf: intersect(s, 0, k - 1) };
    default:
      return { jt: s, jf: s };
  }
}

export function valueFlow(program: readonly Instruction[]): ValueFlow {
  const incoming: (AccumulatorState | undefined)[] = new Array<AccumulatorState | undefined>(
    program.length,
  ).fill(undefined);
  const before: AccumulatorState[] = [];
  const branches: ({ jt: RangeSet; jf: RangeSet } | undefined)[] = [];
  const flow = (to: number, state: AccumulatorState): void => {
    // An edge that no value takes adds nothing to its target.
    if (to >= program.length || (state.kind === 'word' && state.values.length === 0)) return;
    incoming[to] = merge(incoming[to], state);
  };
  incoming[0] = OTHER;
  program.forEach((insn, pc) => {
    // Unreachable code (no edge into it) knows nothing about A.
    const state = incoming[pc] ?? OTHER;
    before.push(state);
    branches.push(undefined);
    const { code } = insn;
    const k = insn.k >>> 0;
    if (bpfClass(code) === BPF_RET) return;
    if (code === (BPF_JMP | BPF_JA)) {
      flow(pc + 1 + k, state);
    } else if (isConditionalJump(code)) {
      if (state.kind === 'word') {
        const b = split(code, k, state.values);
        branches[pc] = b;
        flow(pc + 1 + insn.jt, { ...state, values: b.jt });
        flow(pc + 1 + insn.jf, { ...state, values: b.jf });
      } else {
        flow(pc + 1 + insn.jt, state);
        flow(pc + 1 + insn.jf, state);
      }
    } else if (code === (BPF_LD | BPF_W | BPF_ABS)) {
      flow(pc + 1, { kind: 'word', offset: k, values: ALL_VALUES });
    } else {
      // Other loads, ALU and TXA change A; LDX, stores and TAX leave it alone.
      const changesA =
        bpfClass(code) === BPF_LD || bpfClass(code) === BPF_ALU || code === (BPF_MISC | BPF_TXA);
      flow(pc + 1, changesA ? OTHER : state);
    }
  });
  return { before, branches };
}
