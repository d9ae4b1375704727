/**
 * The code generator half of the compiler (./plan.ts makes its segments):
 * the one classic BPF program the launcher loads.
 *
 * Shape of every program (see docs in src/compiler/index.ts):
 *
 *   ld  arch
 *   jeq <native audit arch>, next, KILL-CLASS     ; i386, arm, mips o32... die
 *   ld  nr
 *   <balanced search over ranges of equal verdict> ; JGE tree, JEQ at small leaves
 *     const leaf    -> shared RET <verdict>        ; e.g. RET ALLOW, reached on nr alone
 *     args leaf     -> argument checks of that syscall only, then RET
 *
 * On x86_64 the x32 numbers (0x40000000 | n) are simply one more range of the
 * search with the kill-class verdict, and -1 (ptrace's "skip this syscall")
 * another range that is allowed, so they cost nothing extra on the hot path;
 * the same for the o32 and n32 numbers on mips64el (Abi.foreignNumbers).
 *
 * Because no instruction before a const leaf loads anything but arch and nr,
 * the kernel's action cache (seccomp_cache_prepare) marks every allowed,
 * argument-independent syscall as "always allow" and never runs BPF for it.
 */
import { Assembler } from '../bpf/assembler';
import type { Abi } from '../arch/types';
import { SECCOMP_DATA } from '../bpf/types';
import type { ArgCondition } from '../policy/types';
import { ALLOW } from './actions';
import { planKey, type Plan, type Segment } from './plan';

const U32_MAX = 0xffffffff;
const MASK32 = 0xffffffffn;

/** A branch target as the assembler takes it. */
type Target = string | { ret: number } | null;

/** Offsets of the low and high 32-bit halves of argument `i` in seccomp_data. */
export function argOffsets(abi: Abi, i: number): { lo: number; hi: number } {
  const base = SECCOMP_DATA.args + 8 * i;
  return abi.endian === 'le' ? { lo: base, hi: base + 4 } : { lo: base + 4, hi: base };
}

/** Largest number of odd singletons a subtree may hold to use a JEQ chain. */
const JEQ_CHAIN_MAX = 2;

class Generator {
  private readonly asm = new Assembler();
  private labelCount = 0;
  /** Argument blocks to emit after the search tree, by plan key. */
  private readonly argBlocks = new Map<string, { label: string; plan: Plan & { kind: 'args' } }>();

  constructor(
    private readonly abi: Abi,
    private readonly segs: readonly Segment[],
    private readonly foreignArchValue: number,
  ) {}

  private fresh(prefix: string): string {
    return `${prefix}${this.labelCount++}`;
  }

  /** Where a leaf's code is: a shared RET for a const plan, a label otherwise. */
  private leafTarget(plan: Plan): Target {
    if (plan.kind === 'const') return { ret: plan.value };
    const key = planKey(plan);
    let block = this.argBlocks.get(key);
    if (!block) {
      block = { label: `nr_${plan.nr}`, plan };
      this.argBlocks.set(key, block);
    }
    return block.label;
  }

  generate(): ReturnType<Assembler['assemble']> {
    const a = this.asm;
    a.loadAbs(SECCOMP_DATA.arch);
    a.jeq(this.abi.auditArch, null, { ret: this.foreignArchValue });
    a.loadAbs(SECCOMP_DATA.nr);
    this.tree(0, this.segs.length - 1);
    for (const block of this.argBlocks.values()) {
      a.label(block.label);
      this.emitArgBlock(block.plan);
    }
    return a.assemble();
  }

  /** Emits a jump (or a RET) to a non-fallthrough target. */
  private jumpTo(t: Target): void {
    if (typeof t === 'string') this.asm.ja(t);
    else if (t !== null) this.asm.ret(t.ret);
  }

  /**
   * Emits the search over segs[i..j] at the current position; on entry A
   * holds nr and nr is known to lie in [segs[i].lo, segs[j].hi]. The emitted
   * code never falls through past its end.
   */
  private tree(i: number, j: number): void {
    if (i === j) {
      // Only when the whole line is one verdict (a policy with no rule).
      this.jumpTo(this.leafTarget(this.segs[i].plan));
      return;
    }
    if (this.tryJeqChain(i, j)) return;
    // Split so both halves hold the same number of segments: the depth, i.e.
    // the instructions a denied syscall executes, is log2(#segments).
    const mid = Math.floor((i + j + 1) / 2);
    const leftLeaf = i === mid - 1;
    const rightLeaf = mid === j;
    const rightLabel = this.fresh('t');
    const right: Target = rightLeaf ? this.leafTarget(this.segs[mid].plan) : rightLabel;
    // A lower subtree that is not a single leaf follows the jump directly.
    const left: Target = leftLeaf ? this.leafTarget(this.segs[i].plan) : null;
    this.asm.jge(this.segs[mid].lo, right, left);
    if (!leftLeaf) this.tree(i, mid - 1);
    if (!rightLeaf) {
      this.asm.label(rightLabel);
      this.tree(mid, j);
    }
  }

  /**
   * Small subtrees of the form "one background verdict with one or two single
   * numbers in it" are cheaper as JEQ tests: one instruction per odd number,
   * none for the ranges between them.
   */
  private tryJeqChain(i: number, j: number): boolean {
    const segs = this.segs.slice(i, j + 1);
    const counts = new Map<string, number>();
    for (const s of segs) counts.set(planKey(s.plan), (counts.get(planKey(s.plan)) ?? 0) + 1);
    let bgKey = '';
    let bgCount = -1;
    for (const [k, n] of counts) {
      if (n > bgCount) {
        bgKey = k;
        bgCount = n;
      }
    }
    const odd = segs.filter((s) => planKey(s.plan) !== bgKey);
    if (odd.length > JEQ_CHAIN_MAX || odd.some((s) => s.lo !== s.hi)) return false;
    const bg = segs.find((s) => planKey(s.plan) === bgKey);
    if (!bg) return false;
    const bgTarget = this.leafTarget(bg.plan);
    odd.forEach((s, n) => {
      const last = n === odd.length - 1;
      this.asm.jeq(s.lo, this.leafTarget(s.plan), last ? bgTarget : null);
    });
    if (odd.length === 0) this.jumpTo(bgTarget);
    return true;
  }

  /** Argument checks of one syscall: each rule in precedence order, ALLOW after the last. */
  private emitArgBlock(plan: Plan & { kind: 'args' }): void {
    const a = this.asm;
    plan.rules.forEach((rule, n) => {
      const fail: Target = { ret: rule.value };
      if (!rule.unless) {
        a.ret(rule.value);
        return;
      }
      const last = n === plan.rules.length - 1;
      const nextLabel = last ? null : this.fresh(`nr_${plan.nr}_r`);
      const pass: Target = last ? { ret: ALLOW } : nextLabel;
      this.emitCondition(rule.unless, pass, fail);
      if (nextLabel) a.label(nextLabel);
    });
  }

  /** Jumps to `pass` when the condition holds, to `fail` otherwise. */
  private emitCondition(c: ArgCondition, pass: Target, fail: Target): void {
    const a = this.asm;
    const off = argOffsets(this.abi, c.arg);
    const jumpTo = (t: Target): void => this.jumpTo(t);
    // notin is in with the outcomes swapped.
    if (c.op === 'notin') return this.emitCondition({ ...c, op: 'in' }, fail, pass);
    if (c.op === 'range') {
      // 32 bits only (the validator refuses wider): min <= low word <= max.
      const min = Number((c.min ?? 0n) & MASK32);
      const max = Number((c.max ?? MASK32) & MASK32);
      if (min === 0 && max === U32_MAX) return jumpTo(pass);
      a.loadAbs(off.lo);
      if (min > 0) a.jge(min, max === U32_MAX ? pass : null, fail);
      if (max < U32_MAX) a.jgt(max, fail, pass);
      return;
    }
    if (c.op === 'eq' || c.op === 'in') {
      const raw = c.values ?? [];
      const values = [
        ...new Set(raw.map((v) => (c.width === 32 ? v & MASK32 : v & 0xffffffffffffffffn))),
      ].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
      if (values.length === 0) return jumpTo(fail);
      if (c.width === 32) {
        a.loadAbs(off.lo);
        values.forEach((v, n) => a.jeq(Number(v), pass, n === values.length - 1 ? fail : null));
        return;
      }
      // 64-bit: group by the high half so each group loads it once.
      const groups = new Map<number, number[]>();
      for (const v of values) {
        const hi = Number(v >> 32n);
        const list = groups.get(hi) ?? [];
        list.push(Number(v & MASK32));
        groups.set(hi, list);
      }
      const entries = [...groups.entries()];
      entries.forEach(([hi, los], g) => {
        const lastGroup = g === entries.length - 1;
        const nextGroup: Target = lastGroup ? fail : this.fresh('g');
        a.loadAbs(off.hi);
        a.jeq(hi, null, nextGroup);
        a.loadAbs(off.lo);
        los.forEach((lo, n) => a.jeq(lo, pass, n === los.length - 1 ? nextGroup : null));
        if (!lastGroup) a.label(nextGroup as string);
      });
      return;
    }
    // masked: (arg & ~ignore) has every bit of allOf and none of noneOf.
    const width = c.width === 32 ? MASK32 : 0xffffffffffffffffn;
    const keep = ~(c.ignore ?? 0n) & width;
    // A required bit that is ignored is never there: the condition can never hold.
    if ((c.allOf ?? 0n) & width & ~keep) return jumpTo(fail);
    const allOf = (c.allOf ?? 0n) & keep;
    const noneOf = (c.noneOf ?? 0n) & keep;
    if ((allOf & noneOf) !== 0n) return jumpTo(fail); // can never hold
    const mask = allOf | noneOf;
    const halves: { off: number; mask: number; want: number }[] = [];
    if (c.width === 64 && mask >> 32n !== 0n) {
      halves.push({ off: off.hi, mask: Number(mask >> 32n), want: Number(allOf >> 32n) });
    }
    if ((mask & MASK32) !== 0n) {
      halves.push({ off: off.lo, mask: Number(mask & MASK32), want: Number(allOf & MASK32) });
    }
    if (halves.length === 0) return jumpTo(pass); // no bit constrained
    halves.forEach((h, n) => {
      a.loadAbs(h.off);
      if (h.mask !== U32_MAX) a.and(h.mask);
      a.jeq(h.want, n === halves.length - 1 ? pass : null, fail);
    });
  }
}

/** Emits the program for the given segments (see the header comment). */
export function generateProgram(
  abi: Abi,
  segs: readonly Segment[],
  foreignArchValue: number,
): ReturnType<Assembler['assemble']> {
  return new Generator(abi, segs, foreignArchValue).generate();
}
