/**
 * A label-resolving assembler for seccomp's classic BPF.
 *
 * Layout rules (all documented behaviour others may rely on):
 *  - What you emit is what you get: every instruction written through the
 *    builder appears once, in order, never merged or dropped, even if it is
 *    dead code (a `ret` right after a `ret` stays). The assembler only adds
 *    instructions of its own: shared RETs, duplicated RETs and JA trampolines.
 *  - `{ ret: k }` targets resolve to the nearest `RET k` (BPF_RET|BPF_K) that
 *    follows the jump and is in reach: one written by the user, or one of the
 *    shared RETs appended after the last user instruction (one per distinct k,
 *    first-use order). When a conditional jump cannot reach any `RET k`, a copy
 *    is inserted at the furthest point in reach where nothing falls through
 *    (right after a RET, JA or conditional jump), so later jumps can share it:
 *    a duplicated RET costs nothing at run time, a trampoline costs a JA.
 *  - A conditional jump to a label more than 255 instructions away goes
 *    through a `JA label` trampoline, inserted the same way and shared by
 *    every later jump to that label that can reach it.
 *  - Insertions move code, so layout repeats until nothing changes. Shared or
 *    inserted RETs and trampolines that end up unused are removed.
 *  - Labels must be defined after the jumps that use them (classic BPF only
 *    jumps forward); a label may be defined and never used; several labels may
 *    name the same instruction.
 *  - `emit()` of a jump keeps its numeric offsets relative to the builder's
 *    own instruction sequence: `jt: 2` means "the user instruction two after
 *    the next one", and is relocated if the assembler inserts code between.
 */
import {
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_AND,
  BPF_DIV,
  BPF_IMM,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_LSH,
  BPF_MEM,
  BPF_MISC,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_RET,
  BPF_A,
  BPF_RSH,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
  BPF_TAX,
  BPF_TXA,
  BPF_W,
  BPF_X,
  BPF_XOR,
  bpfClass,
  isConditionalJump,
  jump,
  stmt,
} from './opcodes';
import { BPF_MAXINSNS, SECCOMP_DATA, type Endian, type Instruction } from './types';
import { BpfValidationError, validateInstruction, validateProgram, type BpfRule } from './validate';

export type JumpTarget = string | { readonly ret: number } | null;

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

export interface AssemblyResult {
  readonly program: Instruction[];
  /** JA instructions the assembler inserted to extend conditional jumps. */
  readonly trampolines: number;
  /** RET instructions inserted closer to a jump than the shared one. */
  readonly retDuplicates: number;
  /** RET instructions appended after the user's code and shared by `{ret}` targets. */
  readonly sharedRets: number;
  /** Final index of every label that names an instruction. */
  readonly labels: ReadonlyMap<string, number>;
}

const MAX_COND_OFFSET = 255;

/** A jump target once labels are known: a user instruction or "some RET k". */
type Resolved = { readonly node: number } | { readonly ret: number };

type Pending = { readonly node: number } | { readonly ret: number } | { readonly label: string };

type Node =
  | { readonly kind: 'plain'; readonly insn: Instruction }
  | {
      readonly kind: 'cond';
      readonly code: number;
      readonly k: number;
      readonly jt: Pending;
      readonly jf: Pending;
    }
  | { readonly kind: 'ja'; readonly target: Pending };

/** One instruction of the output while it is being laid out. */
type Slot =
  | { readonly kind: 'node'; readonly node: number }
  | { readonly kind: 'ret'; readonly k: number; readonly origin: 'shared' | 'dup' }
  | { readonly kind: 'tramp'; readonly node: number };

const ALU_NAMES: ReadonlyMap<number, string> = new Map([
  [BPF_ADD, 'add'],
  [BPF_SUB, 'sub'],
  [BPF_MUL, 'mul'],
  [BPF_DIV, 'div'],
  [BPF_AND, 'and'],
  [BPF_OR, 'or'],
  [BPF_XOR, 'xor'],
  [BPF_LSH, 'lsh'],
  [BPF_RSH, 'rsh'],
]);

export class Assembler {
  private readonly nodes: Node[] = [];
  private readonly labelAt = new Map<string, number>();

  /** Number of instructions written so far (inserted ones not counted). */
  get length(): number {
    return this.nodes.length;
  }

  label(name: string): this {
    if (this.labelAt.has(name)) {
      throw new BpfAssemblyError('DUPLICATE_LABEL', `label '${name}' is defined twice`);
    }
    this.labelAt.set(name, this.nodes.length);
    return this;
  }

  // ---- loads and stores -------------------------------------------------

  /** A = 32-bit word of seccomp_data at `offset` (BPF_LD|BPF_W|BPF_ABS). */
  loadAbs(offset: number): this {
    return this.plain(stmt(BPF_LD | BPF_W | BPF_ABS, offset));
  }

  loadNr(): this {
    return this.loadAbs(SECCOMP_DATA.nr);
  }

  loadArch(): this {
    return this.loadAbs(SECCOMP_DATA.arch);
  }

  /** A = the low or high 32 bits of args[i], at the offset the byte order puts them. */
  loadArg(i: number, half: 'lo' | 'hi', endian: Endian): this {
    if (!Number.isInteger(i) || i < 0 || i > 5) {
      throw new BpfAssemblyError('LOAD_BOUNDS', `seccomp_data has args[0..5], not args[${i}]`);
    }
    const highFirst = endian === 'be';
    const plus4 = (half === 'hi') !== highFirst;
    return this.loadAbs(SECCOMP_DATA.args + 8 * i + (plus4 ? 4 : 0));
  }

  /** A = k. */
  loadImm(k: number): this {
    return this.plain(stmt(BPF_LD | BPF_IMM, k));
  }

  /** A = sizeof(struct seccomp_data). */
  loadLen(): this {
    return this.plain(stmt(BPF_LD | BPF_W | BPF_LEN, 0));
  }

  /** A = M[slot]. */
  loadMem(slot: number): this {
    return this.plain(stmt(BPF_LD | BPF_MEM, slot));
  }

  /** X = k. */
  loadXImm(k: number): this {
    return this.plain(stmt(BPF_LDX | BPF_IMM, k));
  }

  /** X = M[slot]. */
  loadXMem(slot: number): this {
    return this.plain(stmt(BPF_LDX | BPF_MEM, slot));
  }

  /** M[slot] = A. */
  store(slot: number): this {
    return this.plain(stmt(BPF_ST, slot));
  }

  /** M[slot] = X. */
  storeX(slot: number): this {
    return this.plain(stmt(BPF_STX, slot));
  }

  tax(): this {
    return this.plain(stmt(BPF_MISC | BPF_TAX, 0));
  }

  txa(): this {
    return this.plain(stmt(BPF_MISC | BPF_TXA, 0));
  }

  // ---- ALU --------------------------------------------------------------

  /** A = A <op> k, op one of BPF_ADD..BPF_XOR (without BPF_NEG). */
  alu(op: number, k: number): this {
    this.checkAluOp(op);
    return this.plain(stmt(BPF_ALU | op | BPF_K, k));
  }

  /** A = A <op> X. */
  aluX(op: number): this {
    this.checkAluOp(op);
    return this.plain(stmt(BPF_ALU | op | BPF_X, 0));
  }

  add(k: number): this {
    return this.alu(BPF_ADD, k);
  }
  sub(k: number): this {
    return this.alu(BPF_SUB, k);
  }
  mul(k: number): this {
    return this.alu(BPF_MUL, k);
  }
  div(k: number): this {
    return this.alu(BPF_DIV, k);
  }
  and(k: number): this {
    return this.alu(BPF_AND, k);
  }
  or(k: number): this {
    return this.alu(BPF_OR, k);
  }
  xor(k: number): this {
    return this.alu(BPF_XOR, k);
  }
  lsh(k: number): this {
    return this.alu(BPF_LSH, k);
  }
  rsh(k: number): this {
    return this.alu(BPF_RSH, k);
  }
  neg(): this {
    return this.plain(stmt(BPF_ALU | BPF_NEG, 0));
  }

  // ---- jumps and returns ------------------------------------------------

  jeq(k: number, jt: JumpTarget, jf: JumpTarget): this {
    return this.cond(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf);
  }
  jgt(k: number, jt: JumpTarget, jf: JumpTarget): this {
    return this.cond(BPF_JMP | BPF_JGT | BPF_K, k, jt, jf);
  }
  jge(k: number, jt: JumpTarget, jf: JumpTarget): this {
    return this.cond(BPF_JMP | BPF_JGE | BPF_K, k, jt, jf);
  }
  jset(k: number, jt: JumpTarget, jf: JumpTarget): this {
    return this.cond(BPF_JMP | BPF_JSET | BPF_K, k, jt, jf);
  }

  /** Any conditional jump by opcode (e.g. BPF_JMP|BPF_JEQ|BPF_X compares A with X; k is then ignored). */
  cond(code: number, k: number, jt: JumpTarget, jf: JumpTarget): this {
    if (!isConditionalJump(code)) {
      throw new BpfAssemblyError(
        'OPCODE',
        `opcode 0x${code.toString(16)} is not a conditional jump`,
      );
    }
    const at = this.nodes.length;
    this.nodes.push({ kind: 'cond', code, k: k >>> 0, jt: pending(jt, at), jf: pending(jf, at) });
    return this;
  }

  ja(target: string | { readonly ret: number }): this {
    this.nodes.push({ kind: 'ja', target: pending(target, this.nodes.length) });
    return this;
  }

  /** RET k: the verdict k. */
  ret(k: number): this {
    return this.plain(stmt(BPF_RET | BPF_K, k));
  }

  /** RET A: the accumulator is the verdict. */
  retA(): this {
    return this.plain(stmt(BPF_RET | BPF_A, 0));
  }

  /** Any instruction as is; jump offsets count builder instructions (see the file comment). */
  emit(insn: Instruction): this {
    const at = this.nodes.length;
    if (insn.code === (BPF_JMP | BPF_JA)) {
      this.nodes.push({ kind: 'ja', target: { node: at + 1 + insn.k } });
    } else if (isConditionalJump(insn.code)) {
      this.nodes.push({
        kind: 'cond',
        code: insn.code,
        k: insn.k >>> 0,
        jt: { node: at + 1 + insn.jt },
        jf: { node: at + 1 + insn.jf },
      });
    } else {
      this.plain(insn);
    }
    return this;
  }

  assemble(): Instruction[] {
    return this.assembleDetailed().program;
  }

  assembleDetailed(): AssemblyResult {
    const n = this.nodes.length;
    if (n === 0) throw new BpfAssemblyError('EMPTY', 'no instructions');
    this.nodes.forEach((node, i) => {
      try {
        if (node.kind === 'plain') validateInstruction(node.insn, i);
      } catch (e) {
        throw wrap(e, i);
      }
    });
    const last = this.nodes[n - 1];
    if (last.kind === 'plain' && bpfClass(last.insn.code) !== BPF_RET) {
      throw new BpfAssemblyError(
        'LAST_NOT_RET',
        `instruction ${n - 1}: the program would fall off its end: the last instruction must be RET (or a jump)`,
        n - 1,
      );
    }
    const resolved = this.nodes.map((node, i) => this.resolveNode(node, i));
    const layout = layOut(resolved);
    let result: Instruction[];
    try {
      result = encode(layout, resolved);
      validateProgram(result);
    } catch (e) {
      throw wrap(e, -1);
    }
    const labels = new Map<string, number>();
    const nodePos = new Map<number, number>();
    layout.forEach((slot, pos) => slot.kind === 'node' && nodePos.set(slot.node, pos));
    for (const [name, node] of this.labelAt) {
      const pos = nodePos.get(node);
      if (pos !== undefined) labels.set(name, pos);
    }
    const count = (pred: (s: Slot) => boolean): number => layout.filter(pred).length;
    return {
      program: result,
      trampolines: count((s) => s.kind === 'tramp'),
      retDuplicates: count((s) => s.kind === 'ret' && s.origin === 'dup'),
      sharedRets: count((s) => s.kind === 'ret' && s.origin === 'shared'),
      labels,
    };
  }

  // ---- internals --------------------------------------------------------

  private plain(insn: Instruction): this {
    this.nodes.push({ kind: 'plain', insn });
    return this;
  }

  private checkAluOp(op: number): void {
    if (!ALU_NAMES.has(op)) {
      throw new BpfAssemblyError(
        'OPCODE',
        `ALU operation 0x${op.toString(16)} is not allowed in seccomp (use neg() for BPF_NEG)`,
      );
    }
  }

  private resolveNode(node: Node, at: number): ResolvedNode {
    switch (node.kind) {
      case 'plain':
        return node;
      case 'ja':
        return { kind: 'ja', target: this.resolveTarget(node.target, at) };
      case 'cond':
        return {
          kind: 'cond',
          code: node.code,
          k: node.k,
          jt: this.resolveTarget(node.jt, at),
          jf: this.resolveTarget(node.jf, at),
        };
    }
  }

  private resolveTarget(target: Pending, at: number): Resolved {
    if ('ret' in target) return { ret: target.ret >>> 0 };
    let node: number;
    if ('label' in target) {
      const defined = this.labelAt.get(target.label);
      if (defined === undefined) {
        throw new BpfAssemblyError(
          'UNDEFINED_LABEL',
          `instruction ${at}: jump to undefined label '${target.label}'`,
          at,
        );
      }
      if (defined <= at) {
        throw new BpfAssemblyError(
          'BACKWARD_JUMP',
          `instruction ${at}: label '${target.label}' is defined before its jump (at ${defined}); classic BPF only jumps forward`,
          at,
        );
      }
      node = defined;
    } else {
      node = target.node;
    }
    if (node >= this.nodes.length) {
      throw new BpfAssemblyError(
        'JUMP_PAST_END',
        `instruction ${at}: jump target ${node} is past the last instruction (${this.nodes.length - 1})`,
        at,
      );
    }
    return { node };
  }
}

type ResolvedNode =
  | { readonly kind: 'plain'; readonly insn: Instruction }
  | {
      readonly kind: 'cond';
      readonly code: number;
      readonly k: number;
      readonly jt: Resolved;
      readonly jf: Resolved;
    }
  | { readonly kind: 'ja'; readonly target: Resolved };

function pending(target: JumpTarget, at: number): Pending {
  if (target === null) return { node: at + 1 };
  if (typeof target === 'string') return { label: target };
  return { ret: target.ret };
}

function wrap(e: unknown, index: number): unknown {
  if (e instanceof BpfValidationError) {
    return new BpfAssemblyError(e.rule, e.message, index >= 0 ? index : e.index, { cause: e });
  }
  return e;
}

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

function layOut(nodes: readonly ResolvedNode[]): Slot[] {
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

function encode(layout: readonly Slot[], nodes: readonly ResolvedNode[]): Instruction[] {
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
