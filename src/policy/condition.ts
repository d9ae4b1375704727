/**
 * The one evaluator of a rule's argument condition in plain arithmetic: the
 * meaning the compiler's BPF must have (tests hold the two against each
 * other), and what simulate, explain and audit use to say why a call was or
 * was not exempt.
 */
import type { ArgCondition } from './types';

const MASK32 = 0xffffffffn;
const MASK64 = 0xffffffffffffffffn;

/** The argument as the condition compares it: its low 32 bits for width 32. */
export function comparedValue(c: ArgCondition, args: readonly bigint[]): bigint {
  const v = (args[c.arg] ?? 0n) & MASK64;
  return c.width === 32 ? v & MASK32 : v;
}

/** Whether the condition holds for these syscall arguments (args[0..5]). */
export function conditionHolds(c: ArgCondition, args: readonly bigint[]): boolean {
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
    case 'masked': {
      const m = v & ~(c.ignore ?? 0n);
      const all = (c.allOf ?? 0n) & width;
      return (m & all) === all && (m & (c.noneOf ?? 0n)) === 0n;
    }
  }
}
