import {
  Assembler,
  SECCOMP_RET,
  constAllowSet,
  isConstAllow,
  runFilter,
  stmt,
  BPF_LD,
  BPF_IMM,
} from '../../../src/bpf';

const ALLOW = SECCOMP_RET.ALLOW;
const KILL = SECCOMP_RET.KILL_PROCESS;
const X86_64 = 0xc000003e;
const I386 = 0x40000003;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * arch check, then: 1 -> checks args[0] (ALLOW or EPERM), 2 -> EACCES,
 * 3 -> LOG, 4 -> ALLOW with data (not ALLOW), everything else ALLOW.
 */
const program = new Assembler()
  .loadArch()
  .jeq(X86_64, null, { ret: KILL })
  .loadNr()
  .jeq(1, 'arg', null)
  .jeq(2, { ret: SECCOMP_RET.ERRNO | 13 }, null)
  .jeq(3, { ret: SECCOMP_RET.LOG }, null)
  .jeq(4, { ret: ALLOW | 1 }, null)
  .ret(ALLOW)
  .label('arg')
  .loadArg(0, 'lo', 'le')
  .jeq(1, { ret: ALLOW }, { ret: SECCOMP_RET.ERRNO | 1 })
  .assemble();

describe('isConstAllow (seccomp_is_const_allow)', () => {
  it('a syscall whose path loads an argument is not constant', () => {
    expect(isConstAllow(program, 1, X86_64)).toBe(false);
  });

  it('a path ending in ERRNO, LOG or ALLOW|data is not allow', () => {
    expect(isConstAllow(program, 2, X86_64)).toBe(false);
    expect(isConstAllow(program, 3, X86_64)).toBe(false);
    expect(isConstAllow(program, 4, X86_64)).toBe(false);
  });

  it('paths that only look at nr and arch and allow are cached', () => {
    expect(isConstAllow(program, 0, X86_64)).toBe(true);
    expect(isConstAllow(program, 5, X86_64)).toBe(true);
  });

  it('the arch check decides per arch', () => {
    expect(isConstAllow(program, 0, I386)).toBe(false);
    expect(constAllowSet(program, I386, range(10)).size).toBe(0);
  });

  it('constAllowSet lists exactly the cached numbers', () => {
    expect([...constAllowSet(program, X86_64, range(10))].sort((a, b) => a - b)).toEqual([
      0, 5, 6, 7, 8, 9,
    ]);
  });

  it('follows JSET, AND, JGT/JGE and JA like the kernel', () => {
    // x32 bit set -> KILL; nr & 0xff >= 200 -> EPERM; nr > 100 -> ja to ALLOW.
    const p = new Assembler()
      .loadNr()
      .jset(0x40000000, { ret: KILL }, null)
      .and(0xff)
      .jge(200, { ret: SECCOMP_RET.ERRNO | 1 }, null)
      .jgt(100, 'skip', null)
      .ret(ALLOW)
      .label('skip')
      .ja('allow')
      .ret(KILL)
      .label('allow')
      .ret(ALLOW)
      .assemble();
    expect(isConstAllow(p, 0x40000001, X86_64)).toBe(false);
    expect(isConstAllow(p, 200, X86_64)).toBe(false);
    expect(isConstAllow(p, 0x100 + 5, X86_64)).toBe(true); // masked to 5
    expect(isConstAllow(p, 150, X86_64)).toBe(true); // through the JA
    expect(isConstAllow(p, 50, X86_64)).toBe(true);
  });

  it('any instruction it does not model makes the answer false', () => {
    const ldImm = [stmt(BPF_LD | BPF_IMM, 0), ...new Assembler().ret(ALLOW).assemble()];
    expect(isConstAllow(ldImm, 0, X86_64)).toBe(false);
    expect(isConstAllow(new Assembler().loadImm(ALLOW).retA().assemble(), 0, X86_64)).toBe(false);
    expect(isConstAllow(new Assembler().loadNr().add(1).ret(ALLOW).assemble(), 0, X86_64)).toBe(
      false,
    );
    // The instruction pointer is not constant either.
    expect(isConstAllow(new Assembler().loadAbs(8).ret(ALLOW).assemble(), 0, X86_64)).toBe(false);
  });

  it('agrees with the interpreter: cached numbers are allowed whatever the args', () => {
    for (const nr of constAllowSet(program, X86_64, range(10))) {
      for (const arg of [0n, 1n, 0xffffffffn]) {
        const data = { nr, arch: X86_64, instructionPointer: 0n, args: [arg, 0n, 0n, 0n, 0n, 0n] };
        expect(runFilter(program, data).action).toBe(ALLOW);
      }
    }
  });
});
