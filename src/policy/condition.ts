/**
 * The one evaluator of a rule's argument condition in plain arithmetic: the
 * meaning the compiler's BPF must have (tests hold the two against each
 * other), and what simulate uses to say why a call was or was not exempt.
 * (explain states conditions without evaluating them; audit records carry no
 * arguments, so there is nothing to evaluate.)
 */
import type { ArgCondition } from './types';

const MASK32 = 0xffffffffn;
const MASK64 = 0xffffffffffffffffn;

/** The argument as the condition compares it: its low 32 bits for width 32. */
export function comparedValue(c: ArgCondition, args: readonly bigint[]): bigint {
  const v = (args[c.arg] ?? 0n) & MASK64;
  return c.width === 32 ? v & MASK32 : v;
}

/**
 * For a `masked` condition: the bits of allOf the argument lacks and the bits
 * of noneOf it has, `ignore` taken off first. The condition holds exactly
 * when both are 0; simulate names them when it does not.
 */
export function maskedMismatch(
  c: ArgCondition,
  args: readonly bigint[],
): { readonly missing: bigint; readonly extra: bigint } {
  const width = c.width === 32 ? MASK32 : MASK64;
  const m = comparedValue(c, args) & ~(c.ignore ?? 0n);
  return { missing: (c.allOf ?? 0n) & width & ~m, extra: m & (c.noneOf ?? 0n) };
}

/** Whether the condition holds for these syscall arguments (args[0..5]). */
export function conditionHolds(c: ArgCondition, args: readonly bigint[]): boolean {
  if (c.op === 'masked') {
    const { missing, extra } = maskedMismatch(c, args);
    return missing === 0n && extra === 0n;
  }
  const v = comparedValue(c, args);
  const width = c.width === 32 ? MASK32 : MASK64;
  const values = (c.values ?? []).map((x) => x & width);
  switch (c.op) {
    case 'eq':
      return v === (values[0] ?? 0n);
    case 'in':
      return values.includes(v);
    case 'notin':
      return !values.includes(v);
    case 'range':
      return v >= (c.min ?? 0n) && v <= (c.max ?? width);
  }
}
