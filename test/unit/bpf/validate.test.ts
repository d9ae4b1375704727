import {
  Assembler,
  BPF_ABS,
  BPF_ALU,
  BPF_B,
  BPF_DIV,
  BPF_H,
  BPF_IND,
  BPF_JA,
  BPF_JEQ,
  BPF_JMP,
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_LSH,
  BPF_MEM,
  BPF_MOD,
  BPF_MSH,
  BPF_RET,
  BPF_RSH,
  BPF_ST,
  BPF_W,
  BPF_X,
  BpfAssemblyError,
  BpfValidationError,
  SECCOMP_RET,
  isValidProgram,
  jump,
  stmt,
  validateProgram,
  type Instruction,
} from '../../../src/bpf';

const ALLOW = SECCOMP_RET.ALLOW;
const ret = (k: number): Instruction => stmt(BPF_RET | BPF_K, k);

function expectRule(program: Instruction[], rule: string, index: number): void {
  let err: unknown;
  try {
    validateProgram(program);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(BpfValidationError);
  const v = err as BpfValidationError;
  expect(v.rule).toBe(rule);
  expect(v.index).toBe(index);
  if (index >= 0) expect(v.message).toContain(`instruction ${index}`);
}

function assemblyRule(build: (a: Assembler) => Assembler): string {
  try {
    build(new Assembler()).assemble();
  } catch (e) {
    expect(e).toBeInstanceOf(BpfAssemblyError);
    return (e as BpfAssemblyError).rule;
  }
  throw new Error('assembled without error');
}

describe('validateProgram: what the kernel refuses', () => {
  it('accepts a minimal filter', () => {
    expect(() => validateProgram([ret(ALLOW)])).not.toThrow();
    expect(isValidProgram([ret(ALLOW)])).toBe(true);
  });

  it('empty and longer than BPF_MAXINSNS', () => {
    expectRule([], 'EMPTY', -1);
    expectRule(new Array<Instruction>(4097).fill(ret(ALLOW)), 'TOO_LONG', -1);
    expect(() => validateProgram(new Array<Instruction>(4096).fill(ret(ALLOW)))).not.toThrow();
  });

  it('last instruction not RET', () => {
    expectRule([ret(ALLOW), stmt(BPF_LD | BPF_W | BPF_ABS, 0)], 'LAST_NOT_RET', 1);
  });

  it('conditional jumps out of range (jt or jf)', () => {
    expectRule([jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 1, 0), ret(0)], 'JUMP_RANGE', 0);
    expectRule([jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1), ret(0)], 'JUMP_RANGE', 0);
    expect(isValidProgram([jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 1, 0), ret(0), ret(1)])).toBe(true);
  });

  it('JA beyond the end', () => {
    expectRule([stmt(BPF_JMP | BPF_JA, 1), ret(0)], 'JA_RANGE', 0);
    expect(isValidProgram([stmt(BPF_JMP | BPF_JA, 1), ret(0), ret(1)])).toBe(true);
  });

  it('opcodes outside the classic list and outside seccomp_check_filter', () => {
    expectRule([{ code: 0xff, jt: 0, jf: 0, k: 0 }, ret(0)], 'OPCODE', 0);
    // Classic BPF knows these, seccomp does not.
    expectRule([stmt(BPF_ALU | BPF_MOD | BPF_K, 3), ret(0)], 'OPCODE', 0);
    expectRule([stmt(BPF_LD | BPF_W | BPF_IND, 0), ret(0)], 'OPCODE', 0);
    expectRule([stmt(BPF_LDX | BPF_B | BPF_MSH, 0), ret(0)], 'OPCODE', 0);
    expectRule([stmt(BPF_RET | BPF_X, 0)], 'OPCODE', 0);
    // LDX has no ABS mode at all.
    expectRule([stmt(BPF_LDX | BPF_W | BPF_ABS, 0), ret(0)], 'OPCODE', 0);
  });

  it('loads not 32-bit, not aligned, or outside seccomp_data', () => {
    expectRule([stmt(BPF_LD | BPF_H | BPF_ABS, 0), ret(0)], 'LOAD_SIZE', 0);
    expectRule([stmt(BPF_LD | BPF_B | BPF_ABS, 0), ret(0)], 'LOAD_SIZE', 0);
    expectRule([stmt(BPF_LD | BPF_W | BPF_ABS, 2), ret(0)], 'LOAD_ALIGN', 0);
    expectRule([stmt(BPF_LD | BPF_W | BPF_ABS, 64), ret(0)], 'LOAD_BOUNDS', 0);
    expectRule([stmt(BPF_LD | BPF_W | BPF_ABS, 0xfffff000), ret(0)], 'LOAD_BOUNDS', 0);
    expect(isValidProgram([stmt(BPF_LD | BPF_W | BPF_ABS, 60), ret(0)])).toBe(true);
  });

  it("bpf_check_classic's constant checks", () => {
    expectRule([stmt(BPF_ALU | BPF_DIV | BPF_K, 0), ret(0)], 'DIV_BY_ZERO', 0);
    expectRule([stmt(BPF_ALU | BPF_LSH | BPF_K, 32), ret(0)], 'SHIFT_RANGE', 0);
    expectRule([stmt(BPF_ALU | BPF_RSH | BPF_K, 32), ret(0)], 'SHIFT_RANGE', 0);
    expectRule([stmt(BPF_ST, 16), ret(0)], 'MEM_SLOT', 0);
    expect(isValidProgram([stmt(BPF_ALU | BPF_DIV | BPF_X, 0), ret(0)])).toBe(true);
    expect(isValidProgram([stmt(BPF_ALU | BPF_LSH | BPF_K, 31), stmt(BPF_ST, 15), ret(0)])).toBe(
      true,
    );
  });

  it('reads of scratch memory not written on every path (check_load_and_stores)', () => {
    expectRule([stmt(BPF_LD | BPF_MEM, 0), ret(0)], 'MEM_UNINITIALIZED', 0);
    // Written on the taken branch only: refused at the join.
    expectRule(
      [
        jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
        stmt(BPF_ST, 3),
        stmt(BPF_LD | BPF_MEM, 3),
        ret(0),
      ],
      'MEM_UNINITIALIZED',
      2,
    );
    expect(
      isValidProgram([
        stmt(BPF_ST, 3),
        jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0),
        stmt(BPF_LD | BPF_MEM, 3),
        ret(0),
      ]),
    ).toBe(true);
  });

  it('field widths of struct sock_filter', () => {
    expectRule([{ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: 2 ** 32 }], 'FIELD_RANGE', 0);
  });
});

describe('Assembler refuses what the kernel refuses', () => {
  it.each<[string, (a: Assembler) => Assembler]>([
    ['EMPTY', (a) => a],
    ['LAST_NOT_RET', (a) => a.loadNr()],
    ['LOAD_ALIGN', (a) => a.loadAbs(2).ret(0)],
    ['LOAD_BOUNDS', (a) => a.loadAbs(64).ret(0)],
    ['LOAD_SIZE', (a) => a.emit(stmt(BPF_LD | BPF_H | BPF_ABS, 0)).ret(0)],
    ['OPCODE', (a) => a.emit(stmt(BPF_ALU | BPF_MOD | BPF_K, 2)).ret(0)],
    ['OPCODE', (a) => a.emit(stmt(BPF_LDX | BPF_W | BPF_ABS, 0)).ret(0)],
    ['DIV_BY_ZERO', (a) => a.div(0).ret(0)],
    ['SHIFT_RANGE', (a) => a.lsh(32).ret(0)],
    ['MEM_SLOT', (a) => a.store(16).ret(0)],
    ['MEM_UNINITIALIZED', (a) => a.loadMem(1).ret(0)],
    ['UNDEFINED_LABEL', (a) => a.loadNr().jeq(1, 'nowhere', null).ret(0)],
    ['BACKWARD_JUMP', (a) => a.label('top').loadNr().jeq(1, 'top', null).ret(0)],
    ['BACKWARD_JUMP', (a) => a.loadNr().label('self').ja('self').ret(0)],
    ['JUMP_PAST_END', (a) => a.loadNr().jeq(1, 'end', { ret: 0 }).label('end')],
    ['JUMP_PAST_END', (a) => a.loadNr().jeq(1, null, { ret: 0 })],
    ['JUMP_PAST_END', (a) => a.emit(stmt(BPF_JMP | BPF_JA, 5)).ret(0)],
    [
      'TOO_LONG',
      (a) => {
        for (let i = 0; i < 4096; i++) a.loadNr();
        return a.ret(0);
      },
    ],
  ])('%s', (rule, build) => {
    expect(assemblyRule(build)).toBe(rule);
  });

  it('refuses a duplicate label when it is defined', () => {
    const a = new Assembler().label('x').ret(0);
    expect(() => a.label('x')).toThrow(BpfAssemblyError);
  });

  it('keeps the validation error as the cause and names the instruction', () => {
    try {
      new Assembler().loadNr().loadAbs(6).ret(0).assemble();
      throw new Error('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(BpfAssemblyError);
      expect((e as BpfAssemblyError).index).toBe(1);
      expect((e as Error).message).toMatch(/instruction 1: LOAD_ALIGN/);
      expect((e as Error).cause).toBeInstanceOf(BpfValidationError);
    }
  });

  it('allows unused labels and two labels on one instruction', () => {
    const p = new Assembler()
      .loadNr()
      .jeq(1, 'a', 'b')
      .label('unused')
      .label('a')
      .label('b')
      .ret(ALLOW)
      .label('tail')
      .assemble();
    expect(p).toHaveLength(3);
  });

  it('accepts X-sourced ALU and jumps', () => {
    expect(
      new Assembler()
        .loadXImm(3)
        .loadNr()
        .aluX(BPF_DIV)
        .cond(BPF_JMP | BPF_JEQ | BPF_X, 0, { ret: ALLOW }, { ret: 0 })
        .assemble(),
    ).toHaveLength(6);
  });

  it('validates a MEM read only written on one path', () => {
    expect(
      assemblyRule((a) =>
        a.loadNr().jeq(1, 'w', 'r').label('w').store(0).label('r').loadMem(0).retA(),
      ),
    ).toBe('MEM_UNINITIALIZED');
  });

  it('stmt(BPF_ST) and BPF_MEM constants compose', () => {
    expect(stmt(BPF_LD | BPF_MEM, 2).code).toBe(0x60);
    expect(stmt(BPF_ST, 2).code).toBe(0x02);
  });
});
