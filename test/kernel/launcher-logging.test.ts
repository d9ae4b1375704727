/**
 * The logging contract, with the real launcher and real processes:
 * one record per launch on stderr, JSON when stderr is not a terminal (as in
 * libvirt's domain log), one short human line when it is; appended JSON in
 * QEMU_SANDBOXED_LOG=<file> instead of stderr; QEMU_SANDBOXED_LOG_LEVEL=silent
 * writes nothing; and never a byte on stdout, which QEMU may own (-serial
 * stdio, -qmp stdio): stdout through the launcher is byte-identical to the
 * program run directly.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import execa from 'execa';
import {
  LAUNCHER,
  baseEnv,
  emptyConfig,
  probeBinary,
  requireWorkingLauncher,
  scratchDir,
} from '../helpers/probe';

jest.setTimeout(60000);

let dir = '';
let probe = '';
let env: Record<string, string> = {};
let setupError: Error | undefined;

beforeAll(async () => {
  try {
    probe = probeBinary();
    dir = scratchDir('logging');
    env = baseEnv(probe, emptyConfig(dir));
    await requireWorkingLauncher(env);
  } catch (e) {
    setupError = e as Error;
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Run {
  readonly exitCode: number | undefined;
  readonly stdout: Buffer;
  readonly stderr: string;
}

async function run(
  argv: readonly string[],
  extraEnv: Record<string, string> = {},
  input?: Buffer,
): Promise<Run> {
  if (setupError) throw setupError;
  const r = await execa(argv[0], argv.slice(1), {
    env: { ...env, ...extraEnv },
    extendEnv: false,
    reject: false,
    input,
    stdin: input === undefined ? 'ignore' : undefined,
    encoding: null,
    timeout: 20000,
    stripFinalNewline: false,
  });
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** Bytes that are not text: every byte value, a NUL, no final newline. */
const BINARY = Buffer.concat([Buffer.from('qemu\n'), Buffer.from([...Array(256).keys()])]);

describe("stdout is QEMU's: byte-identical with and without the launcher", () => {
  // /bin/cat stands in for QEMU here: what it writes is exactly what it read.
  const cases: [string, string[], Record<string, string>][] = [
    ['the default policy', [], {}],
    ['spawn=deny (the exec gate)', ['-sandbox', 'on,spawn=deny'], {}],
    ['-sandbox off', ['-sandbox', 'off'], {}],
    ['debug level', [], { QEMU_SANDBOXED_LOG_LEVEL: 'debug' }],
    // No -nic/-nodefaults: a warning about QEMU's default NIC (cat takes no arguments).
    ['a preflight warning', ['-sandbox', 'on,network=deny,preflight=warn'], {}],
    ['a log file', [], { QEMU_SANDBOXED_LOG: '@dir/stdout-case.log' }],
  ];
  test.each(cases)('%s', async (_name, launcherArgs, extra) => {
    const vars = Object.fromEntries(
      Object.entries(extra).map(([k, v]) => [k, v.replace('@dir', dir)]),
    );
    const cat = { ...vars, QEMU_SANDBOXED_BINARY: '/bin/cat' };
    const direct = await run(['/bin/cat'], {}, BINARY);
    expect(direct.stdout.equals(BINARY)).toBe(true);
    const launched = await run([LAUNCHER, ...launcherArgs], cat, BINARY);
    expect(launched.exitCode).toBe(0);
    // Something was logged (or warned) on stderr: the contract is about where, not whether.
    if (!vars.QEMU_SANDBOXED_LOG) expect(launched.stderr).not.toBe('');
    expect(launched.stdout.equals(direct.stdout)).toBe(true);
  });
});

describe("stderr is a pipe (libvirt's domain log): one JSON record per launch", () => {
  test('the record has the policy, ABI, binary, filter length and hash, no-new-privs, the gate and the time', async () => {
    const r = await run([LAUNCHER, '-sandbox', 'on,spawn=deny', 'pid']);
    expect(r.exitCode).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(rec).toMatchObject({
      msg: 'launch',
      level: 30,
      name: 'qemu-sandboxed',
      policy: 'on,spawn=deny',
      abi: process.arch === 'x64' ? 'x86_64' : expect.any(String),
      binary: probe,
      binarySource: 'env',
      filterLength: expect.any(Number),
      filterHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      noNewPrivs: false,
      execGate: true,
      elapsedMs: expect.any(Number),
    });
    // The record is written before the exec: its pid is QEMU's.
    const probeLine = JSON.parse(r.stdout.toString('utf8')) as { pid: number };
    expect(rec.pid).toBe(probeLine.pid);
  });

  test('-sandbox off: still one record, with no filter', async () => {
    const r = await run([LAUNCHER, '-sandbox', 'off', 'pid']);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({
      policy: 'off',
      filterLength: null,
      filterHash: null,
      execGate: false,
    });
  });
});

describe('stderr is a terminal: one short human line', () => {
  test('policy, filter, no-new-privs, gate, binary and time on one line; stdout untouched', async () => {
    // script(1) gives the launcher a pseudo-terminal; stdout goes to a file.
    const out = join(dir, 'tty-stdout');
    const typescript = join(dir, 'tty-typescript');
    const cmd = `exec ${LAUNCHER} -sandbox on,spawn=deny pid >${out}`;
    const r = await run(['/usr/bin/script', '-qec', cmd, typescript]);
    expect(r.exitCode).toBe(0);
    const tty = r.stdout.toString('utf8').replace(/\r/g, '');
    const lines = tty.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^qemu-sandboxed: on,spawn=deny \S+ filter \d+ insns sha256:[0-9a-f]{12} nnp=off exec-gate landlock -> \S+ \(\d+\.\d ms\)$/,
    );
    expect(lines[0]).toContain(probe);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ op: 'pid' });
  });
});

describe('QEMU_SANDBOXED_LOG and QEMU_SANDBOXED_LOG_LEVEL', () => {
  test('a log file gets the JSON records appended (what was there stays); stderr gets nothing', async () => {
    const file = join(dir, 'append.log');
    writeFileSync(file, 'earlier line\n');
    for (let i = 0; i < 2; i++) {
      const r = await run([LAUNCHER, 'pid'], { QEMU_SANDBOXED_LOG: file });
      expect(r.exitCode).toBe(0);
      expect(r.stderr).toBe('');
    }
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    expect(lines[0]).toBe('earlier line');
    expect(lines.slice(1).map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([
      'launch',
      'launch',
    ]);
  });

  test('silent: nothing on stderr, nothing in the file, QEMU still starts', async () => {
    const file = join(dir, 'silent.log');
    const r = await run([LAUNCHER, 'pid'], {
      QEMU_SANDBOXED_LOG_LEVEL: 'silent',
      QEMU_SANDBOXED_LOG: file,
    });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    expect(() => readFileSync(file)).toThrow(/ENOENT/);
    expect(JSON.parse(r.stdout.toString('utf8'))).toMatchObject({ op: 'pid' });
    const quiet = await run([LAUNCHER, 'pid'], { QEMU_SANDBOXED_LOG_LEVEL: 'silent' });
    expect([quiet.exitCode, quiet.stderr]).toEqual([0, '']);
  });

  test('warn: the launch record is dropped', async () => {
    const r = await run([LAUNCHER, 'pid'], { QEMU_SANDBOXED_LOG_LEVEL: 'warn' });
    expect([r.exitCode, r.stderr]).toEqual([0, '']);
  });

  test('an unknown level is refused with the list, exit 1, nothing on stdout, QEMU not started', async () => {
    // The probe appends to $PROBE_MARKER first thing: the file must not appear.
    const marker = join(dir, 'loud.marker');
    const r = await run([LAUNCHER, 'pid'], {
      QEMU_SANDBOXED_LOG_LEVEL: 'loud',
      PROBE_MARKER: marker,
    });
    expect(() => readFileSync(marker)).toThrow(/ENOENT/);
    expect(r.exitCode).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(
      /^qemu-sandboxed: QEMU_SANDBOXED_LOG_LEVEL=loud: expected one of trace, debug, info, warn, error, fatal, silent\n$/,
    );
  });

  test('a log file that cannot be opened stops the launch before QEMU (the operator asked for a record)', async () => {
    const log = join(dir, 'no', 'such', 'dir.log');
    const marker = join(dir, 'unwritable.marker');
    const r = await run([LAUNCHER, 'pid'], { QEMU_SANDBOXED_LOG: log, PROBE_MARKER: marker });
    expect(() => readFileSync(marker)).toThrow(/ENOENT/);
    expect(r.exitCode).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toBe(
      `qemu-sandboxed: QEMU_SANDBOXED_LOG=${log}: cannot open for appending: ENOENT (its directory does not exist); QEMU was not started (fix the path, or unset QEMU_SANDBOXED_LOG)\n`,
    );
  });

  test('with QEMU_SANDBOXED_LOG_LEVEL=silent no record is asked for, so the file is not needed', async () => {
    const r = await run([LAUNCHER, 'pid'], {
      QEMU_SANDBOXED_LOG: join(dir, 'no', 'such', 'dir.log'),
      QEMU_SANDBOXED_LOG_LEVEL: 'silent',
    });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout.toString('utf8'))).toMatchObject({ op: 'pid' });
  });
});
