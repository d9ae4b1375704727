/**
 * A label-resolving assembler for seccomp's classic BPF: this file is the
 * builder (instructions, labels, their checks); ./layout.ts places them.
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
  stmt,
} from './opcodes';
import {
  BpfAssemblyError,
  encode,
  layOut,
  type Resolved,
  type ResolvedNode,
  type Slot,
} from './layout';
import { SECCOMP_DATA, type Endian, type Instruction } from './types';
import { BpfValidationError, validateInstruction, validateProgram } from './validate';

export { BpfAssemblyError, type AssemblyRule } from './layout';

export type JumpTarget = string | { readonly ret: number } | null;

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
