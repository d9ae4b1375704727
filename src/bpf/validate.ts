/**
 * What the kernel accepts as a seccomp filter: the union of
 *  - bpf_check_basics_ok / bpf_check_classic / check_load_and_stores
 *    (net/core/filter.c), run first by bpf_prog_create_from_user, and
 *  - seccomp_check_filter (kernel/seccomp.c), which narrows the opcode list
 *    and checks every BPF_LD|BPF_W|BPF_ABS against struct seccomp_data.
 * A program that passes here is one SECCOMP_SET_MODE_FILTER will not answer
 * EINVAL for. The first problem found is reported.
 */
import {
  BPF_A,
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_AND,
  BPF_B,
  BPF_DIV,
  BPF_H,
  BPF_IMM,
  BPF_IND,
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
  BPF_MEMWORDS,
  BPF_MISC,
  BPF_MOD,
  BPF_MSH,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_RET,
  BPF_RSH,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
  BPF_TAX,
  BPF_TXA,
  BPF_W,
  BPF_X,
  BPF_XOR,
  isConditionalJump,
} from './opcodes';
import { BPF_MAXINSNS, SECCOMP_DATA, type Instruction } from './types';

export type BpfRule =
  | 'EMPTY'
  | 'TOO_LONG'
  | 'FIELD_RANGE'
  | 'OPCODE'
  | 'LOAD_SIZE'
  | 'LOAD_ALIGN'
  | 'LOAD_BOUNDS'
  | 'DIV_BY_ZERO'
  | 'SHIFT_RANGE'
  | 'MEM_SLOT'
  | 'MEM_UNINITIALIZED'
  | 'JA_RANGE'
  | 'JUMP_RANGE'
  | 'LAST_NOT_RET';

export class BpfValidationError extends Error {
  override readonly name = 'BpfValidationError';
  constructor(
    /** Index of the offending instruction, or -1 for whole-program rules. */
    readonly index: number,
    readonly rule: BpfRule,
    detail: string,
  ) {
    super(`${index >= 0 ? `instruction ${index}` : 'program'}: ${rule}: ${detail}`);
  }
}

const ALU_OPS = [BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_AND, BPF_OR, BPF_XOR];
const SHIFT_OPS = [BPF_LSH, BPF_RSH];
const JUMP_OPS = [BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JSET];

/** chk_code_allowed() in net/core/filter.c: every classic opcode the kernel knows. */
const CLASSIC_CODES: ReadonlySet<number> = new Set([
  ...[...ALU_OPS, ...SHIFT_OPS].flatMap((op) => [BPF_ALU | op | BPF_K, BPF_ALU | op | BPF_X]),
  BPF_ALU | BPF_NEG,
  BPF_LD | BPF_W | BPF_ABS,
  BPF_LD | BPF_H | BPF_ABS,
  BPF_LD | BPF_B | BPF_ABS,
  BPF_LD | BPF_W | BPF_LEN,
  BPF_LD | BPF_W | BPF_IND,
  BPF_LD | BPF_H | BPF_IND,
  BPF_LD | BPF_B | BPF_IND,
  BPF_LD | BPF_IMM,
  BPF_LD | BPF_MEM,
  BPF_LDX | BPF_W | BPF_LEN,
  BPF_LDX | BPF_B | BPF_MSH,
  BPF_LDX | BPF_IMM,
  BPF_LDX | BPF_MEM,
  BPF_ST,
  BPF_STX,
  BPF_MISC | BPF_TAX,
  BPF_MISC | BPF_TXA,
  BPF_RET | BPF_K,
  BPF_RET | BPF_A,
  BPF_JMP | BPF_JA,
  ...JUMP_OPS.flatMap((op) => [BPF_JMP | op | BPF_K, BPF_JMP | op | BPF_X]),
]);

/**
 * seccomp_check_filter()'s list: the classic set minus MOD, the packet loads
 * (IND, MSH, 8/16-bit ABS) — LD|W|ABS is allowed and checked separately.
 */
export const SECCOMP_CODES: ReadonlySet<number> = new Set(
  [...CLASSIC_CODES].filter(
    (code) =>
      code !== (BPF_ALU | BPF_MOD | BPF_K) &&
      code !== (BPF_ALU | BPF_MOD | BPF_X) &&
      code !== (BPF_LD | BPF_H | BPF_ABS) &&
      code !== (BPF_LD | BPF_B | BPF_ABS) &&
      code !== (BPF_LD | BPF_W | BPF_IND) &&
      code !== (BPF_LD | BPF_H | BPF_IND) &&
      code !== (BPF_LD | BPF_B | BPF_IND) &&
      code !== (BPF_LDX | BPF_B | BPF_MSH),
  ),
);

/** SKF_AD_OFF: classic packet filters' ancillary-data loads start here. */
const SKF_AD_OFF = 0xfffff000;

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

function checkFields(insn: Instruction, pc: number): void {
  const ok = (v: number, max: number): boolean => Number.isInteger(v) && v >= 0 && v <= max;
  if (
    !ok(insn.code, 0xffff) ||
    !ok(insn.jt, 0xff) ||
    !ok(insn.jf, 0xff) ||
    !ok(insn.k, 0xffffffff)
  ) {
    throw new BpfValidationError(
      pc,
      'FIELD_RANGE',
      `code=${insn.code} jt=${insn.jt} jf=${insn.jf} k=${insn.k} do not fit struct sock_filter (u16, u8, u8, u32)`,
    );
  }
}

/** bpf_check_classic's range checks for JA and the conditional jumps. */
function checkJumpRange(insn: Instruction, pc: number, len: number): void {
  const { code, k } = insn;
  if (code === (BPF_JMP | BPF_JA)) {
    if (k >= len - pc - 1) {
      throw new BpfValidationError(
        pc,
        'JA_RANGE',
        `ja +${k} lands at ${pc + 1 + k}, beyond the last instruction ${len - 1}`,
      );
    }
  } else if (isConditionalJump(code) && (pc + insn.jt + 1 >= len || pc + insn.jf + 1 >= len)) {
    throw new BpfValidationError(
      pc,
      'JUMP_RANGE',
      `jt=${insn.jt} jf=${insn.jf} land at ${pc + 1 + insn.jt}/${pc + 1 + insn.jf}, beyond the last instruction ${len - 1}`,
    );
  }
}

/**
 * The checks that need only the instruction itself: field widths,
 * bpf_check_classic's opcode list, constant divisor, shift and memory-slot
 * ranges, then seccomp_check_filter's opcode list and seccomp_data loads.
 * `pc` only labels the error.
 */
export function validateInstruction(insn: Instruction, pc: number): void {
  checkFields(insn, pc);
  const { code, k } = insn;
  if (!CLASSIC_CODES.has(code)) {
    const what =
      (code & 0x07) === BPF_LDX && (code & 0xe0) === BPF_ABS
        ? 'LDX ABS does not exist in classic BPF (only LD|W|ABS may read seccomp_data)'
        : 'not a classic BPF opcode (chk_code_allowed)';
    throw new BpfValidationError(pc, 'OPCODE', `opcode ${hex(code)}: ${what}`);
  }
  switch (code) {
    case BPF_ALU | BPF_DIV | BPF_K:
    case BPF_ALU | BPF_MOD | BPF_K:
      if (k === 0) throw new BpfValidationError(pc, 'DIV_BY_ZERO', 'division by constant 0');
      break;
    case BPF_ALU | BPF_LSH | BPF_K:
    case BPF_ALU | BPF_RSH | BPF_K:
      if (k >= 32) throw new BpfValidationError(pc, 'SHIFT_RANGE', `shift by ${k} (must be < 32)`);
      break;
    case BPF_LD | BPF_MEM:
    case BPF_LDX | BPF_MEM:
    case BPF_ST:
    case BPF_STX:
      if (k >= BPF_MEMWORDS) {
        throw new BpfValidationError(
          pc,
          'MEM_SLOT',
          `scratch memory slot M[${k}] (only M[0..${BPF_MEMWORDS - 1}] exist)`,
        );
      }
      break;
  }
  if ((code & 0x07) === BPF_LD && (code & 0xe0) === BPF_ABS) {
    if (k >= SKF_AD_OFF) {
      // bpf_check_classic would look for an ancillary load; none is allowed here.
      throw new BpfValidationError(pc, 'LOAD_BOUNDS', `ancillary load ${hex(k)} (SKF_AD_OFF)`);
    }
    if (code !== (BPF_LD | BPF_W | BPF_ABS)) {
      throw new BpfValidationError(
        pc,
        'LOAD_SIZE',
        `${(code & 0x18) === BPF_H ? '16' : '8'}-bit load: seccomp only allows 32-bit (BPF_W) loads`,
      );
    }
    if (k >= SECCOMP_DATA.size) {
      throw new BpfValidationError(
        pc,
        'LOAD_BOUNDS',
        `load at offset ${k} is outside struct seccomp_data (${SECCOMP_DATA.size} bytes)`,
      );
    }
    if (k & 3) {
      throw new BpfValidationError(pc, 'LOAD_ALIGN', `load at offset ${k} is not 4-byte aligned`);
    }
  }
  if (!SECCOMP_CODES.has(code)) {
    throw new BpfValidationError(
      pc,
      'OPCODE',
      `opcode ${hex(code)} is classic BPF but not allowed in a seccomp filter (seccomp_check_filter)`,
    );
  }
}

/**
 * check_load_and_stores(): a read of M[k] must be preceded by a write of M[k]
 * on every path. One bit per slot; a jump target only keeps the slots valid on
 * all the edges into it, and after a jump the straight-line state is "all".
 */
function checkLoadsAndStores(program: readonly Instruction[]): void {
  const all = (1 << BPF_MEMWORDS) - 1;
  const masks = new Array<number>(program.length).fill(all);
  let valid = 0;
  program.forEach((insn, pc) => {
    valid &= masks[pc];
    const { code, k } = insn;
    if (code === BPF_ST || code === BPF_STX) {
      valid |= 1 << k;
    } else if (code === (BPF_LD | BPF_MEM) || code === (BPF_LDX | BPF_MEM)) {
      if (!(valid & (1 << k))) {
        throw new BpfValidationError(
          pc,
          'MEM_UNINITIALIZED',
          `reads M[${k}], which is not written on every path before it`,
        );
      }
    } else if (code === (BPF_JMP | BPF_JA)) {
      masks[pc + 1 + k] &= valid;
      valid = all;
    } else if (isConditionalJump(code)) {
      masks[pc + 1 + insn.jt] &= valid;
      masks[pc + 1 + insn.jf] &= valid;
      valid = all;
    }
  });
}

export function validateProgram(program: readonly Instruction[]): void {
  const len = program.length;
  if (len === 0)
    throw new BpfValidationError(-1, 'EMPTY', 'a filter needs at least one instruction');
  if (len > BPF_MAXINSNS) {
    throw new BpfValidationError(
      -1,
      'TOO_LONG',
      `${len} instructions (the kernel's limit is BPF_MAXINSNS = ${BPF_MAXINSNS})`,
    );
  }
  program.forEach((insn, pc) => {
    validateInstruction(insn, pc);
    checkJumpRange(insn, pc, len);
  });
  const last = program[len - 1].code;
  if (last !== (BPF_RET | BPF_K) && last !== (BPF_RET | BPF_A)) {
    throw new BpfValidationError(
      len - 1,
      'LAST_NOT_RET',
      `the last instruction (opcode ${hex(last)}) must be RET`,
    );
  }
  checkLoadsAndStores(program);
}

/** The same checks, as a boolean. */
export function isValidProgram(program: readonly Instruction[]): boolean {
  try {
    validateProgram(program);
    return true;
  } catch (e) {
    if (e instanceof BpfValidationError) return false;
    throw e;
  }
}
