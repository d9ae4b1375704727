/**
 * Human-readable listing of a seccomp filter, in the spirit of `tcpdump -d`:
 * one line per instruction, jump targets as absolute indexes, seccomp_data
 * offsets by field name, return values by SECCOMP_RET_* action name. Syscall
 * and arch names come from the caller (this layer has no tables).
 */
import {
  BPF_A,
  BPF_ABS,
  BPF_ALU,
  BPF_B,
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
  BPF_MEM,
  BPF_MISC,
  BPF_MSH,
  BPF_NEG,
  BPF_RET,
  BPF_ST,
  BPF_STX,
  BPF_TAX,
  BPF_TXA,
  BPF_W,
  BPF_X,
  bpfClass,
  bpfOp,
  bpfSrc,
  isConditionalJump,
} from './opcodes';
import {
  SECCOMP_DATA,
  SECCOMP_RET,
  seccompActionName,
  type Endian,
  type Instruction,
} from './types';
import { size, valueFlow, type RangeSet, type ValueFlow } from './value-flow';

export interface DisassembleOptions {
  /** Syscall number (as the filter compares it, e.g. with the x32 bit) -> name. */
  readonly syscallNames?: ReadonlyMap<number, string>;
  /** AUDIT_ARCH_* value -> name. */
  readonly archNames?: ReadonlyMap<number, string>;
  /** Byte order of the target ABI; decides which half of a u64 an offset is. Default 'le'. */
  readonly endian?: Endian;
  /** errno value -> name (EPERM), shown next to `ret ERRNO(n)`. */
  readonly errnoName?: (value: number) => string | undefined;
}

const ALU_MNEMONICS: ReadonlyMap<number, string> = new Map([
  [0x00, 'add'],
  [0x10, 'sub'],
  [0x20, 'mul'],
  [0x30, 'div'],
  [0x40, 'or'],
  [0x50, 'and'],
  [0x60, 'lsh'],
  [0x70, 'rsh'],
  [0x90, 'mod'],
  [0xa0, 'xor'],
]);

const JMP_MNEMONICS: ReadonlyMap<number, string> = new Map([
  [BPF_JEQ, 'jeq'],
  [BPF_JGT, 'jgt'],
  [BPF_JGE, 'jge'],
  [BPF_JSET, 'jset'],
]);

/** `ERRNO(1)`, `ALLOW`, `TRACE(7)`; an unknown action is one the kernel treats as KILL_PROCESS. */
export function actionName(value: number): string {
  const v = value >>> 0;
  const name = seccompActionName(v);
  const data = v & SECCOMP_RET.DATA;
  if (name === undefined) return `${hex(v)} (unknown action: acts as KILL_PROCESS)`;
  // ERRNO and TRACE always show their data: it is what they return.
  const showData = name === 'ERRNO' || name === 'TRACE';
  return showData || data !== 0 ? `${name}(${data})` : name;
}

/** Name of the 32-bit word of struct seccomp_data at `offset`, e.g. `args[1].lo`. */
export function seccompDataField(offset: number, endian: Endian = 'le'): string | undefined {
  if (offset === SECCOMP_DATA.nr) return 'nr';
  if (offset === SECCOMP_DATA.arch) return 'arch';
  if (offset < SECCOMP_DATA.instructionPointer || offset >= SECCOMP_DATA.size || offset & 3) {
    return undefined;
  }
  // On little-endian the low half of a u64 comes first; on big-endian the high half.
  const second = (offset & 4) !== 0;
  const half = second === (endian === 'le') ? 'hi' : 'lo';
  if (offset < SECCOMP_DATA.args) return `instruction_pointer.${half}`;
  return `args[${(offset - SECCOMP_DATA.args) >> 3}].${half}`;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

/** Small constants in decimal (syscall numbers, slots), large ones in hex (masks, arches). */
function imm(k: number): string {
  return k < 0x1000 ? `#${k}` : `#${hex(k)}`;
}

function mnemonic(insn: Instruction, pc: number, endian: Endian): string {
  const { code, k } = insn;
  const src = bpfSrc(code) === BPF_X ? 'x' : imm(k);
  switch (bpfClass(code)) {
    case BPF_LD:
      switch (code) {
        case BPF_LD | BPF_W | BPF_ABS:
          return `ld [${seccompDataField(k, endian) ?? k}]`;
        case BPF_LD | BPF_H | BPF_ABS:
          return `ldh [${k}]`;
        case BPF_LD | BPF_B | BPF_ABS:
          return `ldb [${k}]`;
        case BPF_LD | BPF_W | BPF_IND:
          return `ld [x + ${k}]`;
        case BPF_LD | BPF_H | BPF_IND:
          return `ldh [x + ${k}]`;
        case BPF_LD | BPF_B | BPF_IND:
          return `ldb [x + ${k}]`;
        case BPF_LD | BPF_W | BPF_LEN:
          return 'ld #len';
        case BPF_LD | BPF_IMM:
          return `ld ${imm(k)}`;
        case BPF_LD | BPF_MEM:
          return `ld M[${k}]`;
      }
      break;
    case BPF_LDX:
      switch (code) {
        case BPF_LDX | BPF_W | BPF_LEN:
          return 'ldx #len';
        case BPF_LDX | BPF_IMM:
          return `ldx ${imm(k)}`;
        case BPF_LDX | BPF_MEM:
          return `ldx M[${k}]`;
        case BPF_LDX | BPF_B | BPF_MSH:
          return `ldxb 4*([${k}]&0xf)`;
      }
      break;
    case BPF_ST:
      if (code === BPF_ST) return `st M[${k}]`;
      break;
    case BPF_STX:
      if (code === BPF_STX) return `stx M[${k}]`;
      break;
    case BPF_ALU: {
      if (code === (BPF_ALU | BPF_NEG)) return 'neg';
      const name = ALU_MNEMONICS.get(bpfOp(code));
      if (name !== undefined && (code & ~0xf8) === BPF_ALU) return `${name} ${src}`;
      break;
    }
    case BPF_JMP: {
      if (code === (BPF_JMP | BPF_JA)) return `ja ${pc + 1 + k}`;
      const name = JMP_MNEMONICS.get(bpfOp(code));
      if (name !== undefined && (code & ~0xf8) === BPF_JMP) {
        return `${name} ${src} jt ${pc + 1 + insn.jt} jf ${pc + 1 + insn.jf}`;
      }
      break;
    }
    case BPF_RET:
      if (code === (BPF_RET | BPF_K)) return `ret ${actionName(k)}`;
      if (code === (BPF_RET | BPF_A)) return 'ret a';
      break;
    case BPF_MISC:
      if (code === (BPF_MISC | BPF_TAX)) return 'tax';
      if (code === (BPF_MISC | BPF_TXA)) return 'txa';
      break;
  }
  return `.insn code=${hex(code)} jt=${insn.jt} jf=${insn.jf} k=${hex(k)}`;
}

/** At most this many names of an ALLOW range are listed (every denied name always is). */
const ALLOWED_NAMES_SHOWN = 4;

/** Where a branch leads once JAs are followed. */
function landing(program: readonly Instruction[], pc: number): number {
  let at = pc;
  while (at < program.length && program[at].code === (BPF_JMP | BPF_JA)) {
    at += 1 + (program[at].k >>> 0);
  }
  return at;
}

function rangeText(values: RangeSet): string {
  return values.map(([lo, hi]) => (lo === hi ? num(lo) : `${num(lo)}-${num(hi)}`)).join(',');
}

function num(n: number): string {
  return n < 0x1000 ? String(n) : hex(n);
}

/**
 * What a branch taken by `values` of nr leads to, when the comparison decides
 * it: the verdict of a RET, or the block (argument checks) it enters. Undefined
 * when another comparison on nr follows (nothing is decided yet).
 */
function outcome(
  program: readonly Instruction[],
  flow: ValueFlow,
  target: number,
): string | undefined {
  const at = landing(program, target);
  if (at >= program.length) return undefined;
  const insn = program[at];
  if (insn.code === (BPF_RET | BPF_K)) return actionName(insn.k);
  if (insn.code === (BPF_RET | BPF_A)) return 'ret a';
  const state = flow.before[at];
  if (isConditionalJump(insn.code) && state.kind === 'word' && state.offset === SECCOMP_DATA.nr) {
    return undefined;
  }
  return `-> ${at}`;
}

/** The syscall names among `values`; only the first few of an allowed range. */
function namesIn(
  values: RangeSet,
  sorted: readonly (readonly [number, string])[],
  verdict: string,
): string {
  const names = sorted
    .filter(([nr]) => values.some(([lo, hi]) => nr >= lo && nr <= hi))
    .map(([, name]) => name);
  if (verdict !== 'ALLOW' || names.length <= ALLOWED_NAMES_SHOWN) return names.join(' ');
  const shown = ALLOWED_NAMES_SHOWN - 1;
  return `${names.slice(0, shown).join(' ')} +${names.length - shown} more`;
}

/**
 * The syscalls a comparison on nr decides, branch by branch: `jeq` names its
 * number and, when the branch ends there, the verdict (`; ptrace -> ERRNO(1)`);
 * every decided branch of a range comparison says its side, verdict and
 * names (`; >= 169 KILL_PROCESS: reboot swapon`). So every syscall a program
 * denies is named on the instruction that decides it.
 */
function decisions(
  program: readonly Instruction[],
  flow: ValueFlow,
  pc: number,
  sorted: readonly (readonly [number, string])[],
  names: ReadonlyMap<number, string> | undefined,
): string[] {
  const insn = program[pc];
  const branches = flow.branches[pc];
  if (branches === undefined || bpfSrc(insn.code) !== BPF_K) return [];
  const k = insn.k >>> 0;
  const op = bpfOp(insn.code);
  const sides: [RangeSet, number, string][] =
    op === BPF_JEQ
      ? [
          [branches.jt, insn.jt, ''],
          [branches.jf, insn.jf, 'else'],
        ]
      : op === BPF_JGE
        ? [
            [branches.jt, insn.jt, `>= ${num(k)}`],
            [branches.jf, insn.jf, `< ${num(k)}`],
          ]
        : op === BPF_JGT
          ? [
              [branches.jt, insn.jt, `> ${num(k)}`],
              [branches.jf, insn.jf, `<= ${num(k)}`],
            ]
          : [];
  const notes: string[] = [];
  for (const [values, offset, side] of sides) {
    if (op === BPF_JEQ && side === '') {
      // The equal branch: the number's name (even where no value can be equal
      // any more), then its verdict if the branch is taken and decides it.
      const name = names?.get(k);
      const verdict = values.length ? outcome(program, flow, pc + 1 + offset) : undefined;
      const arrow = verdict === undefined ? '' : ` -> ${verdict.replace(/^-> /, '')}`;
      if (name !== undefined || arrow) notes.push(`${name ?? `#${num(k)}`}${arrow}`);
      continue;
    }
    if (values.length === 0) continue;
    const verdict = outcome(program, flow, pc + 1 + offset);
    if (verdict === undefined) continue;
    const listed = namesIn(values, sorted, verdict);
    // "else" is vague: say the numbers when they are few or have no names.
    const where = side === 'else' && (size(values) <= 2 || !listed) ? rangeText(values) : side;
    notes.push(`${where} ${verdict}${listed ? `: ${listed}` : ''}`);
  }
  return notes;
}

export function disassemble(
  program: readonly Instruction[],
  opts: DisassembleOptions = {},
): string {
  const endian = opts.endian ?? 'le';
  const flow = valueFlow(program);
  const sorted = [...(opts.syscallNames ?? new Map<number, string>())].sort((a, b) => a[0] - b[0]);
  const width = String(Math.max(program.length - 1, 0)).length;
  return program
    .map((insn, pc) => {
      let line = `${String(pc).padStart(width)}: ${mnemonic(insn, pc, endian)}`;
      const state = flow.before[pc];
      const notes: string[] = [];
      if (isConditionalJump(insn.code) && state.kind === 'word') {
        if (state.offset === SECCOMP_DATA.nr) {
          notes.push(...decisions(program, flow, pc, sorted, opts.syscallNames));
        } else if (state.offset === SECCOMP_DATA.arch && bpfOp(insn.code) === BPF_JEQ) {
          const name = opts.archNames?.get(insn.k >>> 0);
          if (name !== undefined && bpfSrc(insn.code) === BPF_K) notes.push(name);
        }
      } else if (insn.code === (BPF_RET | BPF_K)) {
        const v = insn.k >>> 0;
        if ((v & SECCOMP_RET.ACTION_FULL) >>> 0 === SECCOMP_RET.ERRNO) {
          const name = opts.errnoName?.(v & SECCOMP_RET.DATA);
          if (name !== undefined) notes.push(name);
        }
      }
      if (notes.length) line += `  ; ${notes.join('; ')}`;
      return line;
    })
    .join('\n');
}
