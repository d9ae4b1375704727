import {
  Assembler,
  BPF_A,
  BPF_ABS,
  BPF_IMM,
  BPF_ALU,
  BPF_B,
  BPF_H,
  BPF_IND,
  BPF_JA,
  BPF_JEQ,
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_MOD,
  BPF_MSH,
  BPF_RET,
  BPF_W,
  BPF_MISC,
  BPF_TXA,
  BpfRuntimeError,
  jump,
  stmt,
  BPF_ADD,
  BPF_DIV,
  BPF_JMP,
  BPF_JGT,
  BPF_LSH,
  BPF_MUL,
  BPF_RSH,
  BPF_SUB,
  BPF_X,
  SECCOMP_RET,
  runFilter,
  seccompDataBytes,
  traceFilter,
  type SeccompData,
} from '../../../src/bpf';

const ALLOW = SECCOMP_RET.ALLOW;
const KILL = SECCOMP_RET.KILL_PROCESS;
const X86_64 = 0xc000003e;

const data: SeccompData = {
  nr: 59,
  arch: X86_64,
  instructionPointer: 0x00007f0011223344n,
  args: [
    0x0000000000000005n,
    0x1122334455667788n,
    0xffffffffffffffffn,
    0x0000000100000000n,
    0n,
    0xdeadbeefcafef00dn,
  ],
};

const run = (a: Assembler, endian: 'le' | 'be' = 'le') => runFilter(a.assemble(), data, endian);

describe('runFilter: known answers', () => {
  it('reads nr and arch and counts every instruction including RET', () => {
    const a = new Assembler()
      .loadArch()
      .jeq(X86_64, null, { ret: KILL })
      .loadNr()
      .jeq(59, { ret: SECCOMP_RET.ERRNO | 13 }, { ret: ALLOW });
    expect(run(a)).toEqual({ action: SECCOMP_RET.ERRNO | 13, executed: 5 });
    expect(runFilter(a.assemble(), { ...data, arch: 0x40000003 })).toEqual({
      action: KILL,
      executed: 3,
    });
  });

  it('traces the instructions it executes, in order, jumps skipped', () => {
    const a = new Assembler()
      .loadArch() // 0
      .jeq(X86_64, null, { ret: KILL }) // 1
      .loadNr() // 2
      .jge(100, 'high', null) // 3
      .jeq(59, { ret: SECCOMP_RET.ERRNO | 13 }, { ret: ALLOW }) // 4
      .label('high')
      .ret(SECCOMP_RET.TRAP); // 5; shared RETs follow: 6 KILL, 7 ERRNO, 8 ALLOW
    const program = a.assemble();
    expect(traceFilter(program, data)).toEqual({
      action: SECCOMP_RET.ERRNO | 13,
      executed: 6,
      trace: [0, 1, 2, 3, 4, 7],
    });
    expect(traceFilter(program, { ...data, nr: 1000 }).trace).toEqual([0, 1, 2, 3, 5]);
    expect(traceFilter(program, { ...data, nr: 1 }).trace).toEqual([0, 1, 2, 3, 4, 8]);
    expect(traceFilter(program, { ...data, arch: 0x40000003 }).trace).toEqual([0, 1, 6]);
    // The division by X == 0 that ends a run is its last traced instruction.
    const div = new Assembler().loadXImm(0).loadImm(5).aluX(BPF_DIV).ret(ALLOW).assemble();
    expect(traceFilter(div, data)).toEqual({ action: 0, executed: 3, trace: [0, 1, 2] });
  });

  it('does unsigned 32-bit ALU arithmetic with constants', () => {
    // 10 + 5 = 15; 15 - 20 wraps to 0xfffffffb; * 3 = 0xfffffff1; / 16 = 0x0fffffff.
    expect(run(new Assembler().loadImm(10).add(5).sub(20).mul(3).div(16).retA())).toEqual({
      action: 0x0fffffff,
      executed: 6,
    });
    // 0xf0 | 0x0f = 0xff; ^ 0xf0f0 = 0xf00f; & 0xff0f = 0xf00f; << 16; >> 4.
    expect(
      run(new Assembler().loadImm(0xf0).or(0x0f).xor(0xf0f0).and(0xff0f).lsh(16).rsh(4).retA())
        .action,
    ).toBe(0x0f00f000);
    expect(run(new Assembler().loadImm(1).neg().retA()).action).toBe(0xffffffff);
    expect(run(new Assembler().loadImm(0x80000000).lsh(1).retA()).action).toBe(0);
    expect(run(new Assembler().loadImm(0xffffffff).mul(0xffffffff).retA()).action).toBe(1);
    expect(run(new Assembler().loadImm(0xfffffffe).add(3).retA()).action).toBe(1);
  });

  it('does ALU with X, TAX and TXA', () => {
    expect(
      run(new Assembler().loadXImm(3).loadImm(10).aluX(BPF_MUL).aluX(BPF_SUB).retA()).action,
    ).toBe(27);
    expect(run(new Assembler().loadImm(7).tax().loadImm(0).txa().aluX(BPF_ADD).retA()).action).toBe(
      14,
    );
    expect(run(new Assembler().loadXImm(100).loadImm(7).aluX(BPF_DIV).retA()).action).toBe(0);
    // eBPF 32-bit shifts use X & 31.
    expect(run(new Assembler().loadXImm(33).loadImm(1).aluX(BPF_LSH).retA()).action).toBe(2);
    expect(run(new Assembler().loadXImm(4).loadImm(0x100).aluX(BPF_RSH).retA()).action).toBe(0x10);
  });

  it('division by X == 0 ends the filter with 0 (KILL_THREAD)', () => {
    const a = new Assembler().loadXImm(0).loadImm(5).aluX(BPF_DIV).ret(ALLOW);
    expect(run(a)).toEqual({ action: 0, executed: 3 });
  });

  it('has 16 scratch words, M[k] = A / X', () => {
    const a = new Assembler()
      .loadImm(7)
      .store(0)
      .loadXImm(9)
      .storeX(15)
      .loadXMem(0)
      .loadMem(15)
      .aluX(BPF_ADD)
      .retA();
    expect(run(a)).toEqual({ action: 16, executed: 8 });
  });

  it('LD LEN is sizeof(struct seccomp_data)', () => {
    expect(run(new Assembler().loadLen().retA()).action).toBe(64);
  });

  it('JSET tests bits, JGT/JGE compare unsigned, JEQ X compares with X', () => {
    const jset = (bit: number) =>
      new Assembler().loadArg(0, 'lo', 'le').jset(bit, { ret: 1 }, { ret: 2 });
    expect(run(jset(0x4)).action).toBe(1); // args[0] = 5 has bit 2
    expect(run(jset(0x2)).action).toBe(2);
    const cmp = new Assembler().loadArg(2, 'lo', 'le').jgt(0x7fffffff, { ret: 1 }, { ret: 2 });
    expect(run(cmp).action).toBe(1); // 0xffffffff is large unsigned, not -1
    const ge = new Assembler().loadNr().jge(59, { ret: 1 }, { ret: 2 });
    expect(run(ge).action).toBe(1);
    const gt = new Assembler().loadNr().jgt(59, { ret: 1 }, { ret: 2 });
    expect(run(gt).action).toBe(2);
    const x = new Assembler()
      .loadXImm(59)
      .loadNr()
      .cond(BPF_JMP | BPF_JGT | BPF_X, 0, { ret: 1 }, { ret: 2 });
    expect(run(x).action).toBe(2);
  });

  it('reads the u64 halves by byte order: little-endian', () => {
    const ld = (off: number) => run(new Assembler().loadAbs(off).retA(), 'le').action;
    expect(ld(24)).toBe(0x55667788); // args[1] low
    expect(ld(28)).toBe(0x11223344); // args[1] high
    expect(ld(8)).toBe(0x11223344); // ip low
    expect(ld(12)).toBe(0x00007f00); // ip high
    expect(ld(16 + 3 * 8 + 4)).toBe(1); // args[3] high
  });

  it('reads the u64 halves by byte order: big-endian', () => {
    const ld = (off: number) => run(new Assembler().loadAbs(off).retA(), 'be').action;
    expect(ld(24)).toBe(0x11223344); // args[1] high comes first
    expect(ld(28)).toBe(0x55667788);
    expect(ld(0)).toBe(59); // nr and arch are 32-bit fields either way
    expect(ld(4)).toBe(X86_64);
    expect(run(new Assembler().loadArg(5, 'lo', 'be').retA(), 'be').action).toBe(0xcafef00d);
    expect(run(new Assembler().loadArg(5, 'hi', 'be').retA(), 'be').action).toBe(0xdeadbeef);
    expect(run(new Assembler().loadArg(5, 'lo', 'le').retA(), 'le').action).toBe(0xcafef00d);
  });

  it('takes a negative nr as its 32-bit pattern', () => {
    const a = new Assembler().loadNr().jeq(0xffffffff, { ret: 1 }, { ret: 2 });
    expect(runFilter(a.assemble(), { ...data, nr: -1 }).action).toBe(1);
  });

  it('lays out seccomp_data like the kernel', () => {
    const le = seccompDataBytes(data, 'le');
    expect([...le.subarray(0, 8)]).toEqual([59, 0, 0, 0, 0x3e, 0, 0, 0xc0]);
    const be = seccompDataBytes(data, 'be');
    expect([...be.subarray(24, 32)]).toEqual([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
  });
});

describe('runFilter: what the kernel would never run', () => {
  const ret = (k: number) => stmt(BPF_RET | BPF_K, k);
  const nr0 = stmt(BPF_LD | BPF_W | BPF_ABS, 0);

  it.each([
    ['LD|W|IND', stmt(BPF_LD | BPF_W | BPF_IND, 0)],
    ['LD|B|IND', stmt(BPF_LD | BPF_B | BPF_IND, 0)],
    ['LDX|B|MSH', stmt(BPF_LDX | BPF_B | BPF_MSH, 0)],
    ['LD|H|ABS', stmt(BPF_LD | BPF_H | BPF_ABS, 0)],
    ['LD|B|ABS', stmt(BPF_LD | BPF_B | BPF_ABS, 0)],
    ['ALU|MOD|K', stmt(BPF_ALU | BPF_MOD | BPF_K, 3)],
    // JEQ|K with a stray high bit: masking the op field would run it as JEQ.
    ['0x115', jump(0x115, 59, 0, 0)],
  ])('refuses %s when it reaches it instead of guessing', (_name, insn) => {
    expect(() => runFilter([nr0, insn, ret(ALLOW)], data)).toThrow(BpfRuntimeError);
    expect(() => runFilter([nr0, insn, ret(ALLOW)], data)).toThrow(/instruction 1 \(opcode/);
  });

  it('a JA past the end, or running off the end, throws (the kernel refuses such programs)', () => {
    expect(() => runFilter([stmt(BPF_JMP | BPF_JA, 1), ret(ALLOW)], data)).toThrow(
      /ran off the end of the program \(pc 2, length 2\)/,
    );
    expect(() => runFilter([nr0], data)).toThrow(/ran off the end/);
    // JEQ taken past the end.
    expect(() => runFilter([nr0, jump(BPF_JMP | BPF_JEQ | BPF_K, 59, 5, 0), ret(1)], data)).toThrow(
      /ran off the end/,
    );
  });

  it('LDX LEN is 64 too, and RET A returns A unmasked (all 32 bits)', () => {
    const p = [
      stmt(BPF_LDX | BPF_W | BPF_LEN, 0),
      stmt(BPF_MISC | BPF_TXA, 0),
      stmt(BPF_RET | BPF_A, 0),
    ];
    expect(runFilter(p, data)).toEqual({ action: 64, executed: 3 });
    expect(runFilter([stmt(BPF_LD | BPF_IMM, 0xdeadbeef), stmt(BPF_RET | BPF_A, 0)], data)).toEqual(
      {
        action: 0xdeadbeef,
        executed: 2,
      },
    );
  });

  it('a load outside seccomp_data at run time throws', () => {
    expect(() => runFilter([stmt(BPF_LD | BPF_W | BPF_ABS, 64), ret(ALLOW)], data)).toThrow(
      /load at 64 out of seccomp_data/,
    );
  });
});
