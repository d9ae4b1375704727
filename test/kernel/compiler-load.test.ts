/**
 * Every program the compiler makes for the x86_64 host passes the real
 * kernel's checker: each is loaded with seccomp(SECCOMP_SET_MODE_FILTER) in a
 * child process (test/helpers/c/load-filter.c). A few loaded filters are then
 * probed with a real syscall, and one malformed program shows the harness can
 * see a refusal.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import execa from 'execa';
import { encodeProgram } from '../../src/bpf';
import { compilePolicy } from '../../src/compiler';
import type { CompiledFilter } from '../../src/compiler/types';
import { buildC } from '../helpers/cbuild';
import { FULL_POLICY, allPolicies, policyName } from '../helpers/reference-model';

const NEW_LISTENER = 8; // SECCOMP_FILTER_FLAG_NEW_LISTENER
// x86_64 syscall numbers used as probes (asm/unistd_64.h).
const NR = {
  getppid: 110,
  reboot: 169,
  fork: 57,
  setuid: 105,
  x32getpid: 0x40000000 | 39,
} as const;

let dir = '';
let loader = '';

beforeAll(() => {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(
      `the kernel tests need an x86_64 Linux host (this is ${process.platform}/${process.arch})`,
    );
  }
  loader = buildC('load-filter');
  dir = mkdtempSync(join(tmpdir(), 'compiler-load-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface LoadResult {
  readonly stdout: string;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
}

/**
 * Loads `bytes` (undefined: no filter at all) in a child, then makes one call:
 * `probe` through syscall(2), or with `via: 'int80'` through the i386 ABI.
 */
function load(
  bytes: Uint8Array | undefined,
  flags: number,
  probe?: number,
  arg0?: number,
  via: 'probe' | 'int80' = 'probe',
): LoadResult {
  let file = '-';
  if (bytes !== undefined) {
    file = join(dir, `f-${Math.random().toString(36).slice(2)}.bpf`);
    writeFileSync(file, bytes);
  }
  const args = [file, String(flags)];
  if (probe !== undefined)
    args.push(via, String(probe), ...(arg0 === undefined ? [] : [String(arg0)]));
  const r = execa.sync(loader, args, { reject: false, timeout: 10000 });
  return { stdout: r.stdout, exitCode: r.exitCode, signal: r.signal ?? undefined };
}

const flagsFor = (f: CompiledFilter): number => (f.needsExecGate ? NEW_LISTENER : 0);

test('the kernel accepts every x86_64 program (all 192 policy combinations)', () => {
  const seen = new Map<string, string>();
  for (const policy of allPolicies()) {
    const f = compilePolicy(policy, 'x86_64');
    if (seen.has(f.hash)) continue;
    seen.set(f.hash, policyName(policy));
    const r = load(f.bytes, flagsFor(f));
    // With NEW_LISTENER the kernel returns the listener fd (> 2), else 0.
    expect([policyName(policy), r.exitCode, r.stdout]).toEqual([
      policyName(policy),
      0,
      f.needsExecGate ? expect.stringMatching(/^loaded [3-9]\d*$/) : 'loaded 0',
    ]);
  }
  // Different policies give different programs: the loop really loaded many.
  expect(seen.size).toBeGreaterThan(100);
});

const full = compilePolicy(FULL_POLICY, 'x86_64');

describe('loaded filters act as compiled (probes)', () => {
  test('an allowed syscall returns normally', () => {
    const r = load(full.bytes, flagsFor(full), NR.getppid);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^probe \d+ 0$/m);
  });

  test('reboot, setuid and x32 numbers kill the process (SIGSYS)', () => {
    for (const nr of [NR.reboot, NR.setuid, NR.x32getpid]) {
      const r = load(full.bytes, flagsFor(full), nr);
      expect([nr, r.signal]).toEqual([nr, 'SIGSYS']);
    }
  });

  test('fork under spawn=deny fails with EPERM; action=errno turns kills into EPERM', () => {
    const r = load(full.bytes, flagsFor(full), NR.fork);
    expect(r.stdout).toMatch(/^probe -1 1$/m);
    const errnoPolicy = compilePolicy({ ...FULL_POLICY, action: 'errno' }, 'x86_64');
    const e = load(errnoPolicy.bytes, flagsFor(errnoPolicy), NR.reboot, 0);
    expect(e.stdout).toMatch(/^probe -1 1$/m);
  });
});

describe('the i386 ABI through int $0x80 is stopped by the arch check, or unreachable', () => {
  const I386_GETPID = 20; // arch/x86/entry/syscalls/syscall_32.tbl
  // Some kernels run i386 calls from a 64-bit process (IA32 emulation), some
  // do not (built without it, ia32_emulation=0, or a hypervisor that faults
  // int $0x80). Where they run, the filter must stop them; where they fault,
  // an attacker cannot use the ABI either, and the fault must be the
  // kernel's, with or without our filter.
  const unfiltered = (): ReturnType<typeof load> => load(undefined, 0, I386_GETPID, 0, 'int80');
  const runsI386 = (r: ReturnType<typeof load>): boolean =>
    r.exitCode === 0 && /^int80 [1-9]\d*$/m.test(r.stdout);

  test('this kernel either runs i386 calls or faults them (SIGSEGV), nothing else', () => {
    const r = unfiltered();
    if (!runsI386(r)) expect([r.signal, r.stdout]).toEqual(['SIGSEGV', '']);
  });

  test('an allowed call (getpid) through int $0x80 takes the kill-class action, or faults', () => {
    const killed = load(full.bytes, flagsFor(full), I386_GETPID, 0, 'int80');
    if (!runsI386(unfiltered())) {
      // Unreachable here: the kernel faults the call before any filter runs.
      expect([killed.signal, killed.stdout]).toEqual([
        'SIGSEGV',
        expect.stringMatching(/^loaded \d+$/),
      ]);
      return;
    }
    // Loaded, then killed inside the call: no result line.
    expect([killed.signal, killed.stdout]).toEqual([
      'SIGSYS',
      expect.stringMatching(/^loaded \d+$/),
    ]);
    // action=errno: the i386 call fails with EPERM and the process lives on.
    const errnoPolicy = compilePolicy({ ...FULL_POLICY, action: 'errno' }, 'x86_64');
    const e = load(errnoPolicy.bytes, flagsFor(errnoPolicy), I386_GETPID, 0, 'int80');
    expect([e.exitCode, e.stdout.split('\n').pop()]).toEqual([0, 'int80 -1']);
  });
});

test('negative control: the harness reports a program the kernel refuses', () => {
  // LD [64]: past the end of struct seccomp_data, which seccomp_check_filter rejects.
  const bad = encodeProgram(
    [
      { code: 0x20, jt: 0, jf: 0, k: 64 },
      { code: 0x06, jt: 0, jf: 0, k: 0x7fff0000 },
    ],
    'le',
  );
  const r = load(bad, 0);
  expect(r.exitCode).toBe(1);
  expect(r.stdout).toBe('refused 22 EINVAL');
});
