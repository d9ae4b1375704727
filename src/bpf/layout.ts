/**
 * The layout half of the assembler (./assembler.ts is the builder): places
 * the builder's instructions, with labels already resolved, into one
 * program. It appends the shared RETs, inserts RET copies and JA trampolines
 * where a conditional jump cannot reach its target within 255 instructions,
 * repeats until every jump is in reach, drops helpers no jump uses, and
 * encodes the offsets. The rules it keeps are listed in ./assembler.ts.
 */
import { BPF_JMP, BPF_JA, BPF_K, BPF_RET, bpfClass, jump, stmt } from './opcodes';
import { BPF_MAXINSNS, type Instruction } from './types';
import type { BpfRule } from './validate';

export type AssemblyRule =
  | 'DUPLICATE_LABEL'
  | 'UNDEFINED_LABEL'
  | 'BACKWARD_JUMP'
  | 'JUMP_PAST_END'
  | 'FALLS_OFF_END'
  | 'LAYOUT';

export class BpfAssemblyError extends Error {
  override readonly name = 'BpfAssemblyError';
  constructor(
    readonly rule: AssemblyRule | BpfRule,
    message: string,
    /** Index in the builder's own instruction sequence, -1 when not about one instruction. */
    readonly index = -1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** jt and jf are u8: a conditional jump skips at most 255 instructions. */
export const MAX_COND_OFFSET = 255;

/** A jump target once labels are known: a user instruction or "some RET k". */
export type Resolved = { readonly node: number } | { readonly ret: number };

/** One instruction of the output while it is being laid out. */
export type Slot =
  | { readonly kind: 'node'; readonly node: number }
  | { readonly kind: 'ret'; readonly k: number; readonly origin: 'shared' | 'dup' }
  | { readonly kind: 'tramp'; readonly node: number };

/** One builder instruction, its jump targets resolved (labels gone). */
export type ResolvedNode =
  | { readonly kind: 'plain'; readonly insn: Instruction }
  | {
      readonly kind: 'cond';
      readonly code: number;
      readonly k: number;
      readonly jt: Resolved;
      readonly jf: Resolved;
    }
  | { readonly kind: 'ja'; readonly target: Resolved };

function isRetK(slot: Slot, nodes: readonly ResolvedNode[], k: number): boolean {
  if (slot.kind === 'ret') return slot.k === k;
  if (slot.kind !== 'node') return false;
  const node = nodes[slot.node];
  return node.kind === 'plain' && node.insn.code === (BPF_RET | BPF_K) && node.insn.k >>> 0 === k;
}

/** Nothing falls through past this slot, so a slot may be inserted after it. */
function isBarrier(slot: Slot, nodes: readonly ResolvedNode[]): boolean {
  if (slot.kind !== 'node') return true;
  const node = nodes[slot.node];
  return node.kind !== 'plain' || bpfClass(node.insn.code) === BPF_RET;
}

/**
 * The slot a branch from position `from` goes to, or undefined if none is in
 * reach. A label is reached directly when possible, else through the nearest
 * trampoline to it; `{ret: k}` goes to the nearest `RET k`. An unconditional
 * jump (reach Infinity) always goes straight to its label.
 */
function findTarget(
  layout: readonly Slot[],
  nodes: readonly ResolvedNode[],
  from: number,
  target: Resolved,
  reach: number,
): number | undefined {
  const end = Math.min(layout.length - 1, from + 1 + reach);
  if ('node' in target) {
    for (let q = from + 1; q <= end; q++) {
      const slot = layout[q];
      if (slot.kind === 'node' && slot.node === target.node) return q;
    }
    return undefined;
  }
  for (let q = from + 1; q <= end; q++) {
    if (isRetK(layout[q], nodes, target.ret)) return q;
  }
  return undefined;
}

/** For a conditional branch: its target, or a trampoline to it, within 255. */
function findCondTarget(
  layout: readonly Slot[],
  nodes: readonly ResolvedNode[],
  from: number,
  target: Resolved,
): number | undefined {
  const direct = findTarget(layout, nodes, from, target, MAX_COND_OFFSET);
  if (direct !== undefined || 'ret' in target) return direct;
  const end = Math.min(layout.length - 1, from + 1 + MAX_COND_OFFSET);
  for (let q = from + 1; q <= end; q++) {
    const slot = layout[q];
    if (slot.kind === 'tramp' && slot.node === target.node) return q;
  }
  return undefined;
}

/**
 * Where to insert a helper (RET copy or trampoline) for the jump at `from`:
 * the furthest point in reach that follows a barrier, so later jumps can share
 * the helper — but never a point that would push some other branch, now
 * exactly 255 away from its target, out of reach. That keeps every satisfied
 * branch satisfied, so layout only ever adds helpers that are still needed and
 * terminates. Right after the jump is the fallback (always a barrier).
 */
function insertionPoint(
  layout: readonly Slot[],
  nodes: readonly ResolvedNode[],
  from: number,
): number {
  const last = Math.min(layout.length, from + 1 + MAX_COND_OFFSET);
  // A jump at j whose branch lands exactly at the limit forbids inserting in (j, j + 256].
  const critical: number[] = [];
  for (let j = Math.max(0, from - MAX_COND_OFFSET); j < last; j++) {
    const slot = layout[j];
    if (slot.kind !== 'node') continue;
    const node = nodes[slot.node];
    if (node.kind !== 'cond') continue;
    const limit = j + 1 + MAX_COND_OFFSET;
    if (
      findCondTarget(layout, nodes, j, node.jt) === limit ||
      findCondTarget(layout, nodes, j, node.jf) === limit
    ) {
      critical.push(j);
    }
  }
  for (let q = last; q > from; q--) {
    const blocked = critical.some((j) => j < q && q <= j + 1 + MAX_COND_OFFSET);
    if (!blocked && isBarrier(layout[q - 1], nodes)) return q;
  }
  return from + 1;
}

/** The slots of the program: every node in order, plus the helpers the jumps need. */
export function layOut(nodes: readonly ResolvedNode[]): Slot[] {
  const layout: Slot[] = nodes.map((_, node) => ({ kind: 'node', node }));
  const sharedKs: number[] = [];
  for (const node of nodes) {
    const targets =
      node.kind === 'cond' ? [node.jt, node.jf] : node.kind === 'ja' ? [node.target] : [];
    for (const t of targets) if ('ret' in t && !sharedKs.includes(t.ret)) sharedKs.push(t.ret);
  }
  for (const k of sharedKs) layout.push({ kind: 'ret', k, origin: 'shared' });

  // Branch-displacement fixpoint: each pass inserts what the jumps it finds
  // out of reach need; insertions only ever add, so passes converge or the
  // program outgrows BPF_MAXINSNS.
  for (let pass = 0; ; pass++) {
    // Shared RETs may still be pruned, so they do not count against the limit
    // yet; validateProgram has the final word.
    if (layout.length > BPF_MAXINSNS + sharedKs.length || pass > BPF_MAXINSNS) {
      throw new BpfAssemblyError(
        'TOO_LONG',
        `the program needs ${layout.length} instructions once long jumps are resolved (limit ${BPF_MAXINSNS})`,
      );
    }
    let changed = false;
    for (let p = 0; p < layout.length; p++) {
      const slot = layout[p];
      if (slot.kind !== 'node') continue;
      const node = nodes[slot.node];
      if (node.kind !== 'cond') continue;
      for (const target of [node.jt, node.jf]) {
        if (findCondTarget(layout, nodes, p, target) !== undefined) continue;
        const q = insertionPoint(layout, nodes, p);
        layout.splice(
          q,
          0,
          'ret' in target
            ? { kind: 'ret', k: target.ret, origin: 'dup' }
            : { kind: 'tramp', node: target.node },
        );
        changed = true;
      }
    }
    if (!changed) break;
  }
  return prune(layout, nodes);
}

/** Drops assembler-made slots no jump uses (only ever shortens jumps). */
function prune(layout: Slot[], nodes: readonly ResolvedNode[]): Slot[] {
  const used = new Set<Slot>();
  layout.forEach((slot, p) => {
    for (const { target, reach } of branches(slot, nodes)) {
      const q = resolveBranch(layout, nodes, p, target, reach);
      if (q !== undefined) used.add(layout[q]);
    }
  });
  return layout.filter((slot) => slot.kind === 'node' || used.has(slot));
}

function resolveBranch(
  layout: readonly Slot[],
  nodes: readonly ResolvedNode[],
  from: number,
  target: Resolved,
  reach: number,
): number | undefined {
  return reach === Infinity
    ? findTarget(layout, nodes, from, target, Infinity)
    : findCondTarget(layout, nodes, from, target);
}

function branches(
  slot: Slot,
  nodes: readonly ResolvedNode[],
): { target: Resolved; reach: number }[] {
  if (slot.kind === 'tramp') return [{ target: { node: slot.node }, reach: Infinity }];
  if (slot.kind !== 'node') return [];
  const node = nodes[slot.node];
  if (node.kind === 'cond') {
    return [
      { target: node.jt, reach: MAX_COND_OFFSET },
      { target: node.jf, reach: MAX_COND_OFFSET },
    ];
  }
  if (node.kind === 'ja') return [{ target: node.target, reach: Infinity }];
  return [];
}

/** The instructions of a layout, each jump's offsets counted to its slot. */
export function encode(layout: readonly Slot[], nodes: readonly ResolvedNode[]): Instruction[] {
  const offset = (p: number, target: Resolved, reach: number): number => {
    const q = resolveBranch(layout, nodes, p, target, reach);
    if (q === undefined) {
      throw new BpfAssemblyError('LAYOUT', `internal error: slot ${p} lost its jump target`);
    }
    return q - p - 1;
  };
  return layout.map((slot, p) => {
    if (slot.kind === 'ret') return stmt(BPF_RET | BPF_K, slot.k);
    if (slot.kind === 'tramp')
      return stmt(BPF_JMP | BPF_JA, offset(p, { node: slot.node }, Infinity));
    const node = nodes[slot.node];
    if (node.kind === 'plain') return node.insn;
    if (node.kind === 'ja') return stmt(BPF_JMP | BPF_JA, offset(p, node.target, Infinity));
    return jump(
      node.code,
      node.k,
      offset(p, node.jt, MAX_COND_OFFSET),
      offset(p, node.jf, MAX_COND_OFFSET),
    );
  });
}
