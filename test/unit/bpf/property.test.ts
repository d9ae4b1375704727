/**
 * Property-style checks on random valid programs built with the Assembler
 * (fixed seeds, so failures reproduce): the codec round-trips, the program
 * passes validation, the interpreter never throws and agrees with a direct
 * evaluation of the assembler input (so trampolines and RET sharing never
 * change a verdict), and the cache emulator never caches a syscall the
 * interpreter would not allow.
 */
import {
  Assembler,
  BPF_ADD,
  BPF_AND,
  BPF_DIV,
  BPF_JEQ,
  BPF_JGE,
  BPF_JA,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LSH,
  BPF_MUL,
  BPF_OR,
  BPF_RET,
  BPF_RSH,
  BPF_SUB,
  BPF_XOR,
  SECCOMP_RET,
  decodeProgram,
  disassemble,
  encodeProgram,
  isConstAllow,
  runFilter,
  validateProgram,
  type Endian,
  type JumpTarget,
  type SeccompData,
} from '../../../src/bpf';
import { rng } from '../../helpers/random';

type Op =
  | { t: 'ldNr' }
  | { t: 'ldArch' }
  | { t: 'ldArg'; i: number; half: 'lo' | 'hi' }
  | { t: 'ldImm'; k: number }
  | { t: 'alu'; op: number; k: number }
  | { t: 'aluX'; op: number }
  | { t: 'ldxImm'; k: number }
  | { t: 'tax' }
  | { t: 'txa' }
  | { t: 'st'; slot: number }
  | { t: 'ldMem'; slot: number }
  | { t: 'jmp'; op: number; k: number; jt: JumpTarget; jf: JumpTarget }
  | { t: 'ja'; label: string }
  | { t: 'ret'; k: number }
  | { t: 'label'; name: string };

const ACTIONS = [
  SECCOMP_RET.ALLOW,
  SECCOMP_RET.KILL_PROCESS,
  SECCOMP_RET.ERRNO | 1,
  SECCOMP_RET.ERRNO | 13,
  SECCOMP_RET.LOG,
  SECCOMP_RET.TRAP,
  SECCOMP_RET.USER_NOTIF,
];
const NRS = [0, 1, 2, 3, 59, 60, 200, 0x40000000];
const ARCHES = [0xc000003e, 0x40000003];
const ALU = [BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH];
const JMP = [BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET];

function generate(rand: () => number): Op[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const int = (n: number): number => Math.floor(rand() * n);
  const ops: Op[] = [{ t: 'ldImm', k: int(2 ** 32) }];
  const written: number[] = [];
  for (let s = 0; s < 16; s++) {
    if (rand() < 0.3) {
      ops.push({ t: 'st', slot: s });
      written.push(s);
    }
  }
  const pending: string[] = [];
  let labels = 0;
  const target = (): JumpTarget => {
    const r = rand();
    if (r < 0.3 || (r < 0.5 && pending.length === 0)) {
      const name = `L${labels++}`;
      pending.push(name);
      return name;
    }
    if (r < 0.5) return pick(pending);
    if (r < 0.8) return { ret: pick(ACTIONS) };
    return null;
  };
  const body = 20 + int(rand() < 0.2 ? 600 : 120);
  for (let n = 0; n < body; n++) {
    const r = rand();
    if (ops.length > 3000) break; // stay under BPF_MAXINSNS with room for helpers
    if (r < 0.03 && ops.length < 2500) {
      // A long straight run to force trampolines and RET copies.
      const run = 250 + int(150);
      for (let i = 0; i < run; i++) ops.push({ t: 'alu', op: BPF_ADD, k: 1 });
    } else if (r < 0.1 && pending.length > 0) {
      ops.push({ t: 'label', name: pending.splice(int(pending.length), 1)[0] });
    } else if (r < 0.2) ops.push({ t: 'ldNr' });
    else if (r < 0.25) ops.push({ t: 'ldArch' });
    else if (r < 0.32) ops.push({ t: 'ldArg', i: int(6), half: rand() < 0.5 ? 'lo' : 'hi' });
    else if (r < 0.4) {
      const op = pick(ALU);
      const k =
        op === BPF_LSH || op === BPF_RSH ? int(32) : op === BPF_DIV ? 1 + int(1000) : int(2 ** 32);
      ops.push({ t: 'alu', op, k });
    } else if (r < 0.43) ops.push({ t: 'aluX', op: pick(ALU) });
    else if (r < 0.46) ops.push({ t: 'ldxImm', k: rand() < 0.3 ? 0 : int(2 ** 32) });
    else if (r < 0.48) ops.push({ t: rand() < 0.5 ? 'tax' : 'txa' });
    else if (r < 0.5) ops.push({ t: 'st', slot: int(16) });
    else if (r < 0.52 && written.length > 0) ops.push({ t: 'ldMem', slot: pick(written) });
    else if (r < 0.85) {
      ops.push({
        t: 'jmp',
        op: pick(JMP),
        k: rand() < 0.6 ? pick(NRS) : int(2 ** 32),
        jt: target(),
        jf: target(),
      });
    } else if (r < 0.9) {
      const t = target();
      if (typeof t === 'string') ops.push({ t: 'ja', label: t });
    } else if (r < 0.93) ops.push({ t: 'ret', k: pick(ACTIONS) });
  }
  ops.push({ t: 'ret', k: pick(ACTIONS) });
  for (const name of pending) ops.push({ t: 'label', name }, { t: 'ret', k: pick(ACTIONS) });
  return ops;
}

function build(ops: readonly Op[], endian: Endian): Assembler {
  const a = new Assembler();
  for (const op of ops) {
    switch (op.t) {
      case 'ldNr':
        a.loadNr();
        break;
      case 'ldArch':
        a.loadArch();
        break;
      case 'ldArg':
        a.loadArg(op.i, op.half, endian);
        break;
      case 'ldImm':
        a.loadImm(op.k);
        break;
      case 'alu':
        a.alu(op.op, op.k);
        break;
      case 'aluX':
        a.aluX(op.op);
        break;
      case 'ldxImm':
        a.loadXImm(op.k);
        break;
      case 'tax':
        a.tax();
        break;
      case 'txa':
        a.txa();
        break;
      case 'st':
        a.store(op.slot);
        break;
      case 'ldMem':
        a.loadMem(op.slot);
        break;
      case 'jmp':
        a.cond(BPF_JMP | op.op | BPF_K, op.k, op.jt, op.jf);
        break;
      case 'ja':
        a.ja(op.label);
        break;
      case 'ret':
        a.ret(op.k);
        break;
      case 'label':
        a.label(op.name);
        break;
    }
  }
  return a;
}

/** Evaluates the assembler input directly: labels by name, {ret} as an immediate return. */
function reference(ops: readonly Op[], d: SeccompData): number {
  const at = new Map<string, number>();
  ops.forEach((op, i) => op.t === 'label' && at.set(op.name, i));
  const arg = (i: number, half: 'lo' | 'hi'): number =>
    Number(half === 'lo' ? d.args[i] & 0xffffffffn : d.args[i] >> 32n);
  const mem = new Array<number>(16).fill(0);
  let a = 0;
  let x = 0;
  let pc = 0;
  const alu = (op: number, v: number): number | undefined => {
    switch (op) {
      case BPF_ADD:
        return (a + v) >>> 0;
      case BPF_SUB:
        return (a - v) >>> 0;
      case BPF_MUL:
        return Number((BigInt(a) * BigInt(v)) & 0xffffffffn);
      case BPF_DIV:
        return v === 0 ? undefined : Math.floor(a / v);
      case BPF_AND:
        return (a & v) >>> 0;
      case BPF_OR:
        return (a | v) >>> 0;
      case BPF_XOR:
        return (a ^ v) >>> 0;
      case BPF_LSH:
        return Number((BigInt(a) << BigInt(v % 32)) & 0xffffffffn);
      case BPF_RSH:
        return Math.floor(a / 2 ** (v % 32));
    }
    throw new Error('op');
  };
  for (;;) {
    const op = ops[pc];
    const go = (t: JumpTarget): number | undefined => {
      if (t === null) pc++;
      else if (typeof t === 'string') pc = at.get(t)!;
      else return t.ret;
      return undefined;
    };
    switch (op.t) {
      case 'ldNr':
        a = d.nr >>> 0;
        break;
      case 'ldArch':
        a = d.arch;
        break;
      case 'ldArg':
        a = arg(op.i, op.half);
        break;
      case 'ldImm':
        a = op.k;
        break;
      case 'alu':
        a = alu(op.op, op.k)!;
        break;
      case 'aluX': {
        const r = alu(op.op, x);
        if (r === undefined) return 0;
        a = r;
        break;
      }
      case 'ldxImm':
        x = op.k;
        break;
      case 'tax':
        x = a;
        break;
      case 'txa':
        a = x;
        break;
      case 'st':
        mem[op.slot] = a;
        break;
      case 'ldMem':
        a = mem[op.slot];
        break;
      case 'ret':
        return op.k;
      case 'label':
        break;
      case 'ja':
        pc = at.get(op.label)!;
        continue;
      case 'jmp': {
        const taken =
          op.op === BPF_JEQ
            ? a === op.k
            : op.op === BPF_JGT
              ? a > op.k
              : op.op === BPF_JGE
                ? a >= op.k
                : (a & op.k) !== 0;
        const r = go(taken ? op.jt : op.jf);
        if (r !== undefined) return r;
        continue;
      }
    }
    pc++;
  }
}

describe('random programs from the assembler', () => {
  const PROGRAMS = 80;
  let trampolines = 0;
  let copies = 0;

  it.each(Array.from({ length: PROGRAMS }, (_, i) => i + 1))('seed %i', (seed) => {
    const rand = rng(seed);
    const ops = generate(rand);
    for (const endian of ['le', 'be'] as const) {
      const r = build(ops, endian).assembleDetailed();
      const p = r.program;
      trampolines += r.trampolines;
      copies += r.retDuplicates;
      if (endian === 'le') expect(checkEveryBranch(ops)).toBeGreaterThan(0);
      expect(() => validateProgram(p)).not.toThrow();
      expect(decodeProgram(encodeProgram(p, endian), endian)).toEqual(p);
      expect(disassemble(p, { endian }).split('\n')).toHaveLength(p.length);
      for (let n = 0; n < 12; n++) {
        const big = () =>
          (BigInt(Math.floor(rand() * 2 ** 32)) << 32n) | BigInt(Math.floor(rand() * 2 ** 32));
        const d: SeccompData = {
          nr: NRS[Math.floor(rand() * NRS.length)],
          arch: ARCHES[Math.floor(rand() * ARCHES.length)],
          instructionPointer: big(),
          args: [big(), big(), big(), big(), big(), big()],
        };
        const got = runFilter(p, d, endian);
        expect(got.action).toBe(reference(ops, d));
        expect(got.executed).toBeGreaterThan(0);
        expect(got.executed).toBeLessThanOrEqual(p.length);
        if (isConstAllow(p, d.nr, d.arch)) expect(got.action).toBe(SECCOMP_RET.ALLOW);
      }
    }
  });

  afterAll(() => {
    // The generator must actually exercise long jumps.
    expect(trampolines + copies).toBeGreaterThan(10);
  });
});

/**
 * Adversarial label graphs: labels scattered over up to ~3000 instructions,
 * every jump aimed at a label chosen among those ahead of it (often hundreds
 * of instructions away, often several jumps to one label from different
 * distances), mixed with {ret} targets; both the conditional and the JA
 * forms. The assembler must keep every verdict of the label graph.
 */
function generateGraph(rand: () => number): Op[] {
  const int = (n: number): number => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const length = 200 + int(2600);
  const labelCount = 2 + int(40);
  const labelAt = Array.from({ length: labelCount }, () => 1 + int(length - 1)).sort(
    (a, b) => a - b,
  );
  const ops: Op[] = [{ t: 'ldNr' }];
  const targetFrom = (p: number): JumpTarget => {
    const r = rand();
    const ahead = labelAt.map((at, i) => [at, i] as const).filter(([at]) => at > p);
    if (r < 0.7 && ahead.length > 0) return `G${pick(ahead)[1]}`;
    if (r < 0.9) return { ret: pick(ACTIONS) };
    return null;
  };
  for (let p = 0; p < length; p++) {
    labelAt.forEach((at, i) => at === p && ops.push({ t: 'label', name: `G${i}` }));
    const r = rand();
    if (r < 0.35) {
      ops.push({ t: 'jmp', op: pick(JMP), k: pick(NRS), jt: targetFrom(p), jf: targetFrom(p) });
    } else if (r < 0.4) {
      const t = targetFrom(p);
      if (typeof t === 'string') ops.push({ t: 'ja', label: t });
    } else if (r < 0.43) ops.push({ t: 'ret', k: pick(ACTIONS) });
    else if (r < 0.5) ops.push({ t: 'ldNr' });
    else ops.push({ t: 'alu', op: BPF_ADD, k: 1 });
  }
  ops.push({ t: 'ret', k: pick(ACTIONS) });
  return ops;
}

/**
 * Structural check, independent of which paths some seccomp_data happens to
 * take: every user jump, followed through any assembler-made JA trampolines,
 * lands on its label's instruction, on a RET k for {ret: k}, or on the next
 * user instruction for null. A label before every instruction tells where
 * each one ended up. Returns the number of branches checked.
 */
function checkEveryBranch(ops: readonly Op[]): number {
  const named: Op[] = [];
  const labelTarget = new Map<string, number>(); // label -> user instruction number
  let n = 0;
  const pendingLabels: string[] = [];
  for (const op of ops) {
    if (op.t === 'label') {
      pendingLabels.push(op.name);
      named.push(op);
      continue;
    }
    for (const l of pendingLabels.splice(0)) labelTarget.set(l, n);
    named.push({ t: 'label', name: `@${n}` }, op);
    n++;
  }
  const r = build(named, 'le').assembleDetailed();
  const p = r.program;
  const pos = (k: number): number => r.labels.get(`@${k}`) as number;
  const userAt = new Map<number, number>();
  for (let k = 0; k < n; k++) userAt.set(pos(k), k);
  const land = (q: number): number => {
    while (!userAt.has(q) && p[q].code === (BPF_JMP | BPF_JA)) q = q + 1 + p[q].k;
    return q;
  };
  const expectLanding = (k: number, q: number, t: JumpTarget): void => {
    const at = land(q);
    if (t === null) expect({ k, at }).toEqual({ k, at: pos(k + 1) });
    else if (typeof t === 'string')
      expect({ k, t, at }).toEqual({ k, t, at: pos(labelTarget.get(t) as number) });
    else
      expect({ k, insn: p[at] }).toEqual({
        k,
        insn: { code: BPF_RET | BPF_K, jt: 0, jf: 0, k: t.ret >>> 0 },
      });
  };
  let checked = 0;
  let k = 0;
  for (const op of ops) {
    if (op.t === 'label') continue;
    const at = pos(k);
    if (op.t === 'jmp') {
      expectLanding(k, at + 1 + p[at].jt, op.jt);
      expectLanding(k, at + 1 + p[at].jf, op.jf);
      checked += 2;
    } else if (op.t === 'ja') {
      expectLanding(k, at + 1 + p[at].k, op.label);
      checked++;
    }
    k++;
  }
  return checked;
}

describe('adversarial label graphs with long distances', () => {
  let helpers = 0;
  let longest = 0;
  let branches = 0;

  it.each(Array.from({ length: 30 }, (_, i) => 1000 + i))('seed %i', (seed) => {
    const rand = rng(seed);
    const ops = generateGraph(rand);
    const r = build(ops, 'le').assembleDetailed();
    helpers += r.trampolines + r.retDuplicates;
    branches += checkEveryBranch(ops);
    validateProgram(r.program);
    for (const [name, at] of r.labels) {
      // Labels still name the instruction the user put them on.
      const written = ops.findIndex((op) => op.t === 'label' && op.name === name);
      expect(written).toBeGreaterThanOrEqual(0);
      longest = Math.max(longest, at);
    }
    // Each nr reaches a different path through the graph; args do not matter here.
    for (const nr of [0, 1, 2, 3, 59, 60, 200, 0x40000000, 7, 0xffffffff]) {
      const d: SeccompData = {
        nr,
        arch: ARCHES[0],
        instructionPointer: 0n,
        args: [0n, 0n, 0n, 0n, 0n, 0n],
      };
      expect({ nr, action: runFilter(r.program, d).action }).toEqual({
        nr,
        action: reference(ops, d),
      });
    }
  });

  afterAll(() => {
    expect(helpers).toBeGreaterThan(100);
    expect(branches).toBeGreaterThan(10000);
    expect(longest).toBeGreaterThan(1000);
  });
});

describe('conditional jump distance at the 255 boundary', () => {
  it.each([252, 253, 254, 255, 256, 257])('%i instructions in between', (between) => {
    const a = new Assembler().loadNr().jeq(1, 'far', null);
    for (let i = 0; i < between; i++) a.add(0);
    const r = a
      .ret(SECCOMP_RET.KILL_PROCESS)
      .label('far')
      .ret(SECCOMP_RET.ALLOW)
      .assembleDetailed();
    // jt = distance to 'far' = between + 1 (the KILL): 255 fits, 256 does not.
    const fits = between + 1 <= 255;
    expect(r.trampolines).toBe(fits ? 0 : 1);
    expect(r.program[1].jt).toBe(fits ? between + 1 : 0);
    validateProgram(r.program);
    const d = (nr: number): SeccompData => ({
      nr,
      arch: ARCHES[0],
      instructionPointer: 0n,
      args: [],
    });
    expect(runFilter(r.program, d(1))).toEqual({
      action: SECCOMP_RET.ALLOW,
      executed: fits ? 3 : 4,
    });
    expect(runFilter(r.program, d(2)).action).toBe(SECCOMP_RET.KILL_PROCESS);
  });
});
