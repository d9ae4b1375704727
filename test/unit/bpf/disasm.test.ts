import {
  Assembler,
  BPF_ALU,
  BPF_DIV,
  BPF_X,
  SECCOMP_RET,
  actionName,
  disassemble,
  seccompDataField,
  stmt,
} from '../../../src/bpf';

const X86_64 = 0xc000003e;
const syscallNames = new Map([
  [59, 'execve'],
  [1, 'write'],
  [999, 'nope'],
]);
const archNames = new Map([[X86_64, 'x86_64']]);

describe('disassemble', () => {
  const program = new Assembler()
    .loadArch()
    .jeq(X86_64, null, { ret: SECCOMP_RET.KILL_PROCESS })
    .loadNr()
    .jset(0x40000000, { ret: SECCOMP_RET.KILL_THREAD }, null)
    .jeq(59, { ret: SECCOMP_RET.USER_NOTIF }, null)
    .jeq(1, 'args', null)
    .jeq(999, { ret: SECCOMP_RET.TRAP }, null)
    .jge(400, { ret: SECCOMP_RET.TRACE | 7 }, null)
    .ret(SECCOMP_RET.ALLOW)
    .label('args')
    .loadArg(1, 'hi', 'le')
    .jeq(0, null, { ret: SECCOMP_RET.ERRNO | 1 })
    .loadArg(1, 'lo', 'le')
    .and(0xffff0000)
    .jeq(0x10000, { ret: SECCOMP_RET.LOG }, null)
    .store(3)
    .loadXImm(2)
    .loadMem(3)
    .emit(stmt(BPF_ALU | BPF_DIV | BPF_X, 0))
    .neg()
    .tax()
    .txa()
    .loadAbs(8)
    .loadLen()
    .retA()
    .assemble();

  it('names fields, actions, targets, syscalls and arches', () => {
    expect(disassemble(program, { syscallNames, archNames })).toBe(
      [
        ' 0: ld [arch]',
        ' 1: jeq #0xc000003e jt 2 jf 24  ; x86_64',
        ' 2: ld [nr]',
        ' 3: jset #0x40000000 jt 25 jf 4',
        ' 4: jeq #59 jt 26 jf 5  ; execve -> USER_NOTIF',
        ' 5: jeq #1 jt 9 jf 6  ; write -> 9',
        ' 6: jeq #999 jt 27 jf 7  ; nope -> TRAP',
        ' 7: jge #400 jt 28 jf 8  ; >= 400 TRACE(7); < 400 ALLOW',
        ' 8: ret ALLOW',
        ' 9: ld [args[1].hi]',
        '10: jeq #0 jt 11 jf 29',
        '11: ld [args[1].lo]',
        '12: and #0xffff0000',
        '13: jeq #0x10000 jt 30 jf 14',
        '14: st M[3]',
        '15: ldx #2',
        '16: ld M[3]',
        '17: div x',
        '18: neg',
        '19: tax',
        '20: txa',
        '21: ld [instruction_pointer.lo]',
        '22: ld #len',
        '23: ret a',
        '24: ret KILL_PROCESS',
        '25: ret KILL_THREAD',
        '26: ret USER_NOTIF',
        '27: ret TRAP',
        '28: ret TRACE(7)',
        '29: ret ERRNO(1)',
        '30: ret LOG',
      ].join('\n'),
    );
  });

  it('names the u64 halves by byte order', () => {
    expect(disassemble(program.slice(9, 12), { endian: 'be' }).split('\n')).toEqual([
      '0: ld [args[1].lo]',
      '1: jeq #0 jt 2 jf 20',
      '2: ld [args[1].hi]',
    ]);
    expect(seccompDataField(16, 'le')).toBe('args[0].lo');
    expect(seccompDataField(60, 'le')).toBe('args[5].hi');
    expect(seccompDataField(60, 'be')).toBe('args[5].lo');
    expect(seccompDataField(8, 'be')).toBe('instruction_pointer.hi');
    expect(seccompDataField(2, 'le')).toBeUndefined();
  });

  it('annotates jeq only where A surely holds nr (not after a join with arch, not after ALU)', () => {
    const p = new Assembler()
      .loadArch()
      .jeq(1, 'join', null)
      .loadNr()
      .label('join')
      .jeq(59, { ret: 0 }, null) // A is arch or nr here
      .loadNr()
      .and(0xff)
      .jeq(59, { ret: 0 }, null) // A is nr & 0xff
      .loadNr()
      .jeq(1, 'a', 'b')
      .label('a')
      .jeq(59, { ret: 0 }, null) // nr on every path
      .label('b')
      .jeq(1, { ret: 0 }, { ret: SECCOMP_RET.ALLOW })
      .assemble();
    const lines = disassemble(p, { syscallNames, archNames }).split('\n');
    expect(lines[1]).toBe(' 1: jeq #1 jt 3 jf 2');
    expect(lines[3]).toBe(' 3: jeq #59 jt 11 jf 4');
    expect(lines[5]).toBe(' 5: and #255');
    expect(lines[6]).toBe(' 6: jeq #59 jt 11 jf 7');
    expect(lines[8]).toBe(' 8: jeq #1 jt 9 jf 10  ; write');
    // Only nr 1 gets here: execve is named, but no verdict (the branch is never taken).
    expect(lines[9]).toBe(' 9: jeq #59 jt 11 jf 10  ; execve');
    expect(lines[10]).toBe(
      '10: jeq #1 jt 11 jf 12  ; write -> KILL_THREAD; else ALLOW: execve nope',
    );
    expect(lines[11]).toBe('11: ret KILL_THREAD');
  });

  it('says which numbers a range comparison decides, with the verdict and every denied name', () => {
    const names = new Map([
      [1, 'write'],
      [2, 'open'],
      [3, 'close'],
      [4, 'stat'],
      [5, 'fstat'],
      [160, 'setrlimit'],
      [169, 'reboot'],
      [170, 'sethostname'],
      [200, 'tkill'],
    ]);
    const p = new Assembler()
      .loadArch()
      .jeq(X86_64, null, { ret: SECCOMP_RET.KILL_PROCESS })
      .loadNr()
      .jge(169, 'high', null)
      .jge(160, { ret: SECCOMP_RET.ERRNO | 1 }, { ret: SECCOMP_RET.ALLOW })
      .label('high')
      .jgt(170, { ret: SECCOMP_RET.ALLOW }, { ret: SECCOMP_RET.KILL_PROCESS })
      .assemble();
    const lines = disassemble(p, {
      syscallNames: names,
      archNames,
      errnoName: (v) => (v === 1 ? 'EPERM' : undefined),
    }).split('\n');
    // Neither side of the root is decided: no note.
    expect(lines[3]).toBe('3: jge #169 jt 5 jf 4');
    // An allowed range is abbreviated; a denied one is listed in full.
    expect(lines[4]).toBe(
      '4: jge #160 jt 7 jf 8  ; >= 160 ERRNO(1): setrlimit; < 160 ALLOW: write open close +2 more',
    );
    expect(lines[5]).toBe(
      '5: jgt #170 jt 8 jf 6  ; > 170 ALLOW: tkill; <= 170 KILL_PROCESS: reboot sethostname',
    );
    expect(lines[7]).toBe('7: ret ERRNO(1)  ; EPERM');
  });

  it('names actions and their data', () => {
    expect(actionName(SECCOMP_RET.ERRNO | 38)).toBe('ERRNO(38)');
    expect(actionName(SECCOMP_RET.ALLOW)).toBe('ALLOW');
    expect(actionName(SECCOMP_RET.TRAP | 2)).toBe('TRAP(2)');
    expect(actionName(0x00010000)).toBe('0x10000 (unknown action: acts as KILL_PROCESS)');
  });

  it('shows opcodes it does not know raw', () => {
    expect(disassemble([{ code: 0xff, jt: 1, jf: 2, k: 3 }])).toBe(
      '0: .insn code=0xff jt=1 jf=2 k=0x3',
    );
  });
});
