import {
  Assembler,
  BPF_JA,
  BPF_JEQ,
  BPF_JMP,
  BPF_K,
  BPF_RET,
  SECCOMP_RET,
  jump,
  runFilter,
  stmt,
  validateProgram,
  type Instruction,
  type SeccompData,
} from '../../../src/bpf';

const ALLOW = SECCOMP_RET.ALLOW;
const KILL = SECCOMP_RET.KILL_PROCESS;
const EPERM = SECCOMP_RET.ERRNO | 1;
const X86_64 = 0xc000003e;

const sd = (nr: number, args: bigint[] = []): SeccompData => ({
  nr,
  arch: X86_64,
  instructionPointer: 0n,
  args: [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6),
});

const isRet = (insn: Instruction, k: number): boolean =>
  insn.code === (BPF_RET | BPF_K) && insn.k === k;
const count = (p: Instruction[], pred: (i: Instruction) => boolean): number =>
  p.filter(pred).length;

describe('Assembler: labels and layout', () => {
  it('resolves forward labels to relative offsets', () => {
    const p = new Assembler()
      .loadNr()
      .jeq(1, 'yes', 'no')
      .label('no')
      .ret(KILL)
      .label('yes')
      .ret(ALLOW)
      .assemble();
    expect(p).toEqual([
      stmt(0x20, 0),
      jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 1, 0),
      stmt(BPF_RET | BPF_K, KILL),
      stmt(BPF_RET | BPF_K, ALLOW),
    ]);
  });

  it('null means the next instruction; ja goes to a label', () => {
    const r = new Assembler()
      .loadNr()
      .jeq(2, null, 'end')
      .ja('end')
      .ret(KILL)
      .label('end')
      .ret(ALLOW)
      .assembleDetailed();
    expect(r.program[1]).toEqual(jump(BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 2));
    expect(r.program[2]).toEqual(stmt(BPF_JMP | BPF_JA, 1));
    expect(r.labels.get('end')).toBe(4);
  });

  it('emit() keeps raw jump offsets relative to the builder sequence', () => {
    const p = new Assembler()
      .loadNr()
      .emit(jump(BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 1))
      .ret(KILL)
      .ret(ALLOW)
      .assemble();
    expect(p[1]).toEqual(jump(BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 1));
  });
});

describe('Assembler: shared RETs', () => {
  it('shares one RET per distinct value, appended in first-use order', () => {
    const r = new Assembler()
      .loadNr()
      .jeq(1, { ret: EPERM }, null)
      .jeq(2, { ret: EPERM }, null)
      .jeq(3, { ret: KILL }, { ret: ALLOW })
      .assembleDetailed();
    expect(r.program.slice(4)).toEqual([
      stmt(BPF_RET | BPF_K, EPERM),
      stmt(BPF_RET | BPF_K, KILL),
      stmt(BPF_RET | BPF_K, ALLOW),
    ]);
    expect(r.program).toHaveLength(7);
    expect(r.sharedRets).toBe(3);
    expect(r.program[1]).toEqual(jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 2, 0));
    expect(r.program[2]).toEqual(jump(BPF_JMP | BPF_JEQ | BPF_K, 2, 1, 0));
    expect(runFilter(r.program, sd(2)).action).toBe(EPERM);
    expect(runFilter(r.program, sd(3)).action).toBe(KILL);
    expect(runFilter(r.program, sd(4)).action).toBe(ALLOW);
  });

  it('reuses a RET k the user wrote ahead of the jump instead of adding one', () => {
    const r = new Assembler()
      .loadNr()
      .jeq(1, { ret: ALLOW }, 'x')
      .label('x')
      .ret(ALLOW)
      .assembleDetailed();
    expect(r.program).toHaveLength(3);
    expect(r.sharedRets).toBe(0);
    expect(r.program[1]).toEqual(jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0));
  });

  it('keeps dead user instructions (what you emit is what you get)', () => {
    const p = new Assembler().ret(ALLOW).ret(ALLOW).assemble();
    expect(p).toHaveLength(2);
  });
});

describe('Assembler: long jumps', () => {
  it('inserts one JA trampoline for a label > 300 instructions away and still runs right', () => {
    const a = new Assembler().loadNr().jeq(7, 'far', null);
    for (let i = 0; i < 300; i++) a.add(0);
    const r = a.ret(EPERM).label('far').ret(ALLOW).assembleDetailed();
    expect(r.trampolines).toBe(1);
    expect(r.program).toHaveLength(305);
    expect(r.program[1]).toEqual(jump(BPF_JMP | BPF_JEQ | BPF_K, 7, 0, 1));
    expect(r.program[2]).toEqual(stmt(BPF_JMP | BPF_JA, 301));
    expect(r.labels.get('far')).toBe(304);
    expect(runFilter(r.program, sd(7))).toEqual({ action: ALLOW, executed: 4 });
    expect(runFilter(r.program, sd(8))).toEqual({ action: EPERM, executed: 303 });
  });

  it('shares a trampoline between many jumps to the same label', () => {
    const a = new Assembler().loadNr();
    for (let nr = 0; nr < 400; nr++) a.jeq(nr, 'hit', null);
    const r = a.ret(EPERM).label('hit').ret(ALLOW).assembleDetailed();
    expect(r.trampolines).toBe(1);
    expect(r.program).toHaveLength(1 + 400 + 1 + 2);
    validateProgram(r.program);
    for (let nr = 0; nr < 400; nr++) expect(runFilter(r.program, sd(nr)).action).toBe(ALLOW);
    expect(runFilter(r.program, sd(400)).action).toBe(EPERM);
    // nr 0: ld, jeq, ja, ret.
    expect(runFilter(r.program, sd(0)).executed).toBe(4);
  });

  it('duplicates a RET closer instead of a trampoline when {ret} is out of reach', () => {
    const a = new Assembler().loadNr().jeq(1, { ret: EPERM }, null);
    for (let i = 0; i < 300; i++) a.add(0);
    const r = a.jeq(301, { ret: EPERM }, { ret: ALLOW }).assembleDetailed();
    expect(r.trampolines).toBe(0);
    expect(r.retDuplicates).toBe(1);
    expect(count(r.program, (i) => isRet(i, EPERM))).toBe(2);
    expect(r.program[2]).toEqual(stmt(BPF_RET | BPF_K, EPERM));
    // nr 1: ld, jeq, ret — no JA on the way.
    expect(runFilter(r.program, sd(1))).toEqual({ action: EPERM, executed: 3 });
    expect(runFilter(r.program, sd(301)).action).toBe(EPERM);
    expect(runFilter(r.program, sd(2)).action).toBe(ALLOW);
  });

  it('shares one duplicated RET between many far jumps', () => {
    const a = new Assembler().loadNr();
    for (let nr = 0; nr < 600; nr++) a.jeq(nr, { ret: EPERM }, null);
    const r = a.ret(ALLOW).assembleDetailed();
    expect(r.trampolines).toBe(0);
    expect(r.retDuplicates).toBe(2);
    validateProgram(r.program);
    for (let nr = 0; nr < 600; nr += 7) {
      expect(runFilter(r.program, sd(nr)).action).toBe(EPERM);
    }
    expect(runFilter(r.program, sd(600)).action).toBe(ALLOW);
  });

  it('relocates raw emitted jumps across inserted trampolines', () => {
    const a = new Assembler()
      .loadNr()
      .jeq(9, 'far', null)
      .emit(stmt(BPF_JMP | BPF_JA, 1)) // skips the next builder instruction
      .ret(EPERM);
    for (let i = 0; i < 300; i++) a.add(0);
    const r = a.ret(KILL).label('far').ret(ALLOW).assembleDetailed();
    expect(r.trampolines).toBe(1);
    // The trampoline went after `ret EPERM`, so the raw JA now skips two.
    expect(r.program[2]).toEqual(stmt(BPF_JMP | BPF_JA, 2));
    expect(r.program[4].code).toBe(BPF_JMP | BPF_JA);
    expect(runFilter(r.program, sd(9))).toEqual({ action: ALLOW, executed: 4 });
    expect(runFilter(r.program, sd(0))).toEqual({ action: KILL, executed: 304 });
  });

  it('handles both branches of one jump being far', () => {
    const a = new Assembler().loadNr().jeq(5, 'left', 'right');
    for (let i = 0; i < 300; i++) a.ret(KILL);
    a.label('left');
    for (let i = 0; i < 300; i++) a.add(1);
    const r = a.retA().label('right').ret(ALLOW).assembleDetailed();
    validateProgram(r.program);
    expect(r.trampolines).toBe(2);
    expect(runFilter(r.program, sd(5))).toEqual({ action: 5 + 300, executed: 304 });
    expect(runFilter(r.program, sd(6))).toEqual({ action: ALLOW, executed: 4 });
  });
});

describe('Assembler: size limit', () => {
  it('accepts exactly BPF_MAXINSNS when the shared RET is not needed', () => {
    const a = new Assembler().loadNr().jeq(1, { ret: ALLOW }, null);
    for (let i = 0; i < 4092; i++) a.add(0);
    const r = a.ret(ALLOW).assembleDetailed();
    // The far {ret: ALLOW} gets a copy right after the jump; the shared one is dropped.
    expect(r.program).toHaveLength(4096);
    expect(r.sharedRets).toBe(0);
    expect(runFilter(r.program, sd(1))).toEqual({ action: ALLOW, executed: 3 });
  });
});
