/**
 * The plan half of the compiler (as libseccomp's db.c is to gen_bpf.c): the
 * policy's active rules become, per syscall number, what the program must do
 * (a verdict, or argument checks in precedence order), and then segments:
 * the whole u32 line of syscall numbers cut into maximal ranges of one plan,
 * with the numbers of other ABIs that reach the filter (x32, MIPS o32/n32)
 * as ranges of the kill-class verdict. ./codegen.ts turns segments into BPF.
 */
import type { Abi } from '../arch/types';
import type { ActiveRule, ArgCondition } from '../policy/types';
import { ALLOW, actionValue, precedenceRank } from './actions';

const U32_MAX = 0xffffffff;

/** A checked rule: when `unless` is false (or absent), return `value`. */
export interface CheckedRule {
  readonly value: number;
  readonly unless?: ArgCondition;
}

/** What the program does for one syscall number. */
export type Plan =
  | { readonly kind: 'const'; readonly value: number }
  | { readonly kind: 'args'; readonly nr: number; readonly rules: readonly CheckedRule[] };

/** A maximal range [lo, hi] of syscall numbers with one plan. */
export interface Segment {
  readonly lo: number;
  readonly hi: number;
  readonly plan: Plan;
}

/** Plans that are the same leaf of the search: one verdict, or one syscall's checks. */
export function planKey(p: Plan): string {
  return p.kind === 'const' ? `c${p.value}` : `a${p.nr}`;
}

/** A rule that can never decide a call: the policy is refused rather than silently trimmed. */
export class UnreachableRuleError extends Error {
  override readonly name = 'UnreachableRuleError';
}

function sameCondition(a: ArgCondition, b: ArgCondition): boolean {
  const text = (c: ArgCondition): string =>
    JSON.stringify(c, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return text(a) === text(b);
}

/**
 * Folds the rules of one syscall (one group's, or several conditional ones:
 * ioctl) into a plan. The rules are checked strictest first (the kernel's
 * precedence between actions, then policy order) and the first whose
 * condition does not exempt the call decides; a call every condition exempts
 * is allowed. As gVisor does, a rule that could never decide is an error,
 * not dropped: one after an unconditional rule (that rule decides every
 * call first), or one with the condition of an earlier rule (the earlier
 * one decides exactly the calls it would).
 */
export function planFor(nr: number, rules: readonly ActiveRule[]): Plan {
  const checked = rules
    .map((r, i) => ({ rule: r, value: actionValue(r.action), i }))
    .sort((a, b) => precedenceRank(a.value) - precedenceRank(b.value) || a.i - b.i);
  const kept: (CheckedRule & { rule: ActiveRule })[] = [];
  for (const c of checked) {
    const shadow = kept.find(
      (k) => !k.unless || (c.rule.unless !== undefined && sameCondition(k.unless, c.rule.unless)),
    );
    if (shadow) {
      throw new UnreachableRuleError(
        `${c.rule.syscall} (${c.rule.group}): the rule never decides a call: ` +
          `${shadow.rule.syscall} (${shadow.rule.group}) ${shadow.unless ? 'has the same condition and' : 'has no condition and'} comes first`,
      );
    }
    kept.push({
      rule: c.rule,
      value: c.value,
      ...(c.rule.unless ? { unless: c.rule.unless } : {}),
    });
  }
  if (kept.length === 0) return { kind: 'const', value: ALLOW };
  if (kept.length === 1 && !kept[0].unless) return { kind: 'const', value: kept[0].value };
  return {
    kind: 'args',
    nr,
    rules: kept.map((k) => (k.unless ? { value: k.value, unless: k.unless } : { value: k.value })),
  };
}

/**
 * The whole u32 syscall-number line as consecutive segments. Numbers without
 * rules are allowed (deny-list); `extra` adds number ranges with a fixed verdict
 * (x32 on x86_64).
 */
export function buildSegments(
  plans: ReadonlyMap<number, Plan>,
  extra: readonly { lo: number; hi: number; value: number }[],
): Segment[] {
  const points: Segment[] = [];
  for (const [nr, plan] of plans) points.push({ lo: nr, hi: nr, plan });
  for (const e of extra)
    points.push({ lo: e.lo, hi: e.hi, plan: { kind: 'const', value: e.value } });
  points.sort((a, b) => a.lo - b.lo);
  const segs: Segment[] = [];
  const push = (s: Segment): void => {
    const last = segs[segs.length - 1];
    if (
      last &&
      last.hi + 1 === s.lo &&
      planKey(last.plan) === planKey(s.plan) &&
      s.plan.kind === 'const'
    ) {
      segs[segs.length - 1] = { lo: last.lo, hi: s.hi, plan: last.plan };
    } else {
      segs.push(s);
    }
  };
  let next = 0;
  for (const p of points) {
    if (p.lo < next) throw new Error(`overlapping syscall ranges at ${p.lo}`);
    if (p.lo > next) push({ lo: next, hi: p.lo - 1, plan: { kind: 'const', value: ALLOW } });
    push(p);
    next = p.hi + 1;
  }
  if (next <= U32_MAX) push({ lo: next, hi: U32_MAX, plan: { kind: 'const', value: ALLOW } });
  return segs;
}

/** Plans per syscall number for one ABI, from the policy's active rules. */
export function plansFor(rules: readonly ActiveRule[]): Map<number, Plan> {
  const byNr = new Map<number, ActiveRule[]>();
  for (const r of rules) {
    const list = byNr.get(r.nr) ?? [];
    list.push(r);
    byNr.set(r.nr, list);
  }
  const plans = new Map<number, Plan>();
  for (const nr of [...byNr.keys()].sort((a, b) => a - b)) {
    plans.set(nr, planFor(nr, byNr.get(nr) ?? []));
  }
  return plans;
}

/**
 * The numbers of other ABIs that reach the filter with the native audit arch
 * (src/arch: x32 on x86_64, o32 and n32 on mips64el), as ranges with the
 * kill-class verdict.
 */
export function foreignRanges(
  abi: Abi,
  killValue: number,
): { lo: number; hi: number; value: number }[] {
  return abi.foreignNumbers.map(({ lo, hi }) => ({ lo, hi, value: killValue }));
}
