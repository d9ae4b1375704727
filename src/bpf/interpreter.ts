/**
 * Runs a filter on one struct seccomp_data the way the kernel does. The kernel
 * converts classic BPF to eBPF (bpf_convert_filter) after seccomp_check_filter
 * rewrote LD|W|LEN into "load the constant 64"; the observable semantics are:
 *  - A, X and M[0..15] are unsigned 32-bit, all start at 0;
 *  - LD|W|ABS reads 4 bytes of seccomp_data in the CPU's byte order, so on a
 *    u64 field offset +0 is the low half on little-endian, the high half on
 *    big-endian;
 *  - DIV by X == 0 ends the program returning 0 (the converter emits
 *    "if X == 0 return 0" before the division); shifts by X use X & 31 as the
 *    eBPF 32-bit ALU does;
 *  - the verdict is the RET value (RET K or RET A).
 * `executed` counts every classic instruction run, the final RET included (a
 * DIV by X == 0 counts as the last one). traceFilter also returns which ones,
 * in order (the coverage gVisor's InstrumentedExec reports): the path a call
 * takes, for `simulate` and for tests that ask which instruction decided.
 *
 * Whole-program rules (length, jump ranges, last instruction RET, scratch
 * memory written before read) are validateProgram's job: the kernel refuses
 * such programs at load time, so they have no run-time semantics to copy, and
 * some callers run deliberately patched copies of a valid program. What runFilter
 * does refuse, when it reaches it, is any opcode seccomp_check_filter refuses
 * (IND/MSH/8- and 16-bit loads, MOD, stray bits) and a jump past the end: it
 * throws BpfRuntimeError instead of inventing a result.
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
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_LSH,
  BPF_MEM,
  BPF_MEMWORDS,
  BPF_MISC,
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
  BPF_A,
  BPF_K,
  bpfClass,
  bpfOp,
  bpfSrc,
} from './opcodes';
import { SECCOMP_DATA, type Endian, type Instruction, type SeccompData } from './types';
import { SECCOMP_CODES } from './validate';

export interface FilterResult {
  /** The 32-bit value the filter returned (action | data). */
  readonly action: number;
  /** Instructions executed, the final RET included. */
  readonly executed: number;
}

export interface TracedResult extends FilterResult {
  /** The index of every instruction executed, in order; `executed` long. */
  readonly trace: readonly number[];
}

export class BpfRuntimeError extends Error {
  override readonly name = 'BpfRuntimeError';
}

/** The 64 bytes of struct seccomp_data laid out in the given byte order. */
export function seccompDataBytes(data: SeccompData, endian: Endian = 'le'): Uint8Array {
  const bytes = new Uint8Array(SECCOMP_DATA.size);
  const view = new DataView(bytes.buffer);
  const le = endian === 'le';
  const mask64 = (1n << 64n) - 1n;
  view.setUint32(SECCOMP_DATA.nr, data.nr >>> 0, le);
  view.setUint32(SECCOMP_DATA.arch, data.arch >>> 0, le);
  view.setBigUint64(SECCOMP_DATA.instructionPointer, data.instructionPointer & mask64, le);
  for (let i = 0; i < 6; i++) {
    view.setBigUint64(SECCOMP_DATA.args + 8 * i, (data.args[i] ?? 0n) & mask64, le);
  }
  return bytes;
}

function fail(pc: number, insn: Instruction, why: string): never {
  throw new BpfRuntimeError(`instruction ${pc} (opcode 0x${insn.code.toString(16)}): ${why}`);
}

export function runFilter(
  program: readonly Instruction[],
  data: SeccompData,
  endian: Endian = 'le',
): FilterResult {
  return execute(program, data, endian, undefined);
}

/** runFilter, and the instructions it executed. */
export function traceFilter(
  program: readonly Instruction[],
  data: SeccompData,
  endian: Endian = 'le',
): TracedResult {
  const trace: number[] = [];
  return { ...execute(program, data, endian, trace), trace };
}

/** One run; when `trace` is given, every pc executed is appended to it. */
function execute(
  program: readonly Instruction[],
  data: SeccompData,
  endian: Endian,
  trace: number[] | undefined,
): FilterResult {
  const view = new DataView(seccompDataBytes(data, endian).buffer);
  const le = endian === 'le';
  const mem = new Uint32Array(BPF_MEMWORDS);
  let a = 0;
  let x = 0;
  let executed = 0;
  let pc = 0;
  // Jumps only go forward, so the loop ends within program.length steps.
  while (pc < program.length) {
    const insn = program[pc];
    const { code } = insn;
    const k = insn.k >>> 0;
    executed++;
    trace?.push(pc);
    // Exact opcodes only: masking fields would run e.g. 0x115 as JEQ.
    if (!SECCOMP_CODES.has(code)) fail(pc, insn, 'opcode not allowed in seccomp');
    switch (bpfClass(code)) {
      case BPF_LD:
        if (code === (BPF_LD | BPF_W | BPF_ABS)) {
          if (k > SECCOMP_DATA.size - 4 || k & 3)
            fail(pc, insn, `load at ${k} out of seccomp_data`);
          a = view.getUint32(k, le);
        } else if (code === (BPF_LD | BPF_W | BPF_LEN)) a = SECCOMP_DATA.size;
        else if (code === (BPF_LD | BPF_IMM)) a = k;
        else if (code === (BPF_LD | BPF_MEM)) a = memAt(mem, k, pc, insn);
        else fail(pc, insn, 'load not allowed in seccomp');
        pc++;
        break;
      case BPF_LDX:
        if (code === (BPF_LDX | BPF_W | BPF_LEN)) x = SECCOMP_DATA.size;
        else if (code === (BPF_LDX | BPF_IMM)) x = k;
        else if (code === (BPF_LDX | BPF_MEM)) x = memAt(mem, k, pc, insn);
        else fail(pc, insn, 'load not allowed in seccomp');
        pc++;
        break;
      case BPF_ST:
      case BPF_STX:
        if (code !== BPF_ST && code !== BPF_STX) fail(pc, insn, 'unknown store');
        if (k >= BPF_MEMWORDS) fail(pc, insn, `M[${k}] does not exist`);
        mem[k] = code === BPF_ST ? a : x;
        pc++;
        break;
      case BPF_ALU: {
        if (code === (BPF_ALU | BPF_NEG)) {
          a = -a >>> 0;
          pc++;
          break;
        }
        const src = bpfSrc(code) === BPF_X ? x : k;
        switch (code & ~BPF_X) {
          case BPF_ALU | BPF_ADD | BPF_K:
            a = (a + src) >>> 0;
            break;
          case BPF_ALU | BPF_SUB | BPF_K:
            a = (a - src) >>> 0;
            break;
          case BPF_ALU | BPF_MUL | BPF_K:
            a = Math.imul(a, src) >>> 0;
            break;
          case BPF_ALU | BPF_DIV | BPF_K:
            if (src === 0) {
              if (bpfSrc(code) === BPF_X) return { action: 0, executed };
              fail(pc, insn, 'division by constant 0');
            }
            a = Math.floor(a / src) >>> 0;
            break;
          case BPF_ALU | BPF_AND | BPF_K:
            a = (a & src) >>> 0;
            break;
          case BPF_ALU | BPF_OR | BPF_K:
            a = (a | src) >>> 0;
            break;
          case BPF_ALU | BPF_XOR | BPF_K:
            a = (a ^ src) >>> 0;
            break;
          case BPF_ALU | BPF_LSH | BPF_K:
            if (bpfSrc(code) === BPF_K && k >= 32) fail(pc, insn, `shift by ${k}`);
            a = (a << (src & 31)) >>> 0;
            break;
          case BPF_ALU | BPF_RSH | BPF_K:
            if (bpfSrc(code) === BPF_K && k >= 32) fail(pc, insn, `shift by ${k}`);
            a = a >>> (src & 31);
            break;
          default:
            fail(pc, insn, 'ALU operation not allowed in seccomp');
        }
        pc++;
        break;
      }
      case BPF_JMP: {
        if (code === (BPF_JMP | BPF_JA)) {
          pc += 1 + k;
          break;
        }
        const src = bpfSrc(code) === BPF_X ? x : k;
        let taken: boolean;
        switch (bpfOp(code)) {
          case BPF_JEQ:
            taken = a === src;
            break;
          case BPF_JGT:
            taken = a > src;
            break;
          case BPF_JGE:
            taken = a >= src;
            break;
          case BPF_JSET:
            taken = (a & src) !== 0;
            break;
          default:
            fail(pc, insn, 'unknown jump');
        }
        pc += 1 + (taken ? insn.jt : insn.jf);
        break;
      }
      case BPF_RET:
        if (code === (BPF_RET | BPF_K)) return { action: k, executed };
        if (code === (BPF_RET | BPF_A)) return { action: a, executed };
        fail(pc, insn, 'RET X does not exist');
        break;
      case BPF_MISC:
        if (code === (BPF_MISC | BPF_TAX)) x = a;
        else if (code === (BPF_MISC | BPF_TXA)) a = x;
        else fail(pc, insn, 'unknown MISC operation');
        pc++;
        break;
    }
  }
  throw new BpfRuntimeError(`ran off the end of the program (pc ${pc}, length ${program.length})`);
}

function memAt(mem: Uint32Array, k: number, pc: number, insn: Instruction): number {
  if (k >= BPF_MEMWORDS) fail(pc, insn, `M[${k}] does not exist`);
  return mem[k];
}
