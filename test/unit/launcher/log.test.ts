import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, LaunchError } from '../../../src/launch/errors';
import { createLog, humanLine, parseLevel, type LaunchRecord } from '../../../launcher/log';
import { tempDir } from '../../helpers/tmp';

const record: LaunchRecord = {
  policy: 'on,spawn=deny',
  abi: 'x86_64',
  binary: '/usr/bin/qemu-system-x86_64',
  binarySource: 'host-arch',
  filterLength: 59,
  filterHash: 'ab4dfd8aa89f483bdcd6cc8d14939909ceaf72431c8168a0e86d82c3b377161d',
  filterSource: 'precompiled',
  noNewPrivs: false,
  execGate: true,
  qemuSandbox: null,
  elapsedMs: 41.25,
  vm: null,
  policySources: { enable: '-sandbox', spawn: '-sandbox', action: 'built-in default' },
  tightened: null,
};

test('the terminal line is short and has the essentials', () => {
  expect(humanLine(record)).toBe(
    'qemu-sandboxed: on,spawn=deny x86_64 filter 59 insns sha256:ab4dfd8aa89f nnp=off exec-gate -> /usr/bin/qemu-system-x86_64 (41.3 ms)',
  );
  expect(
    humanLine({
      ...record,
      policy: 'off',
      abi: null,
      filterLength: null,
      filterHash: null,
      filterSource: 'precompiled',
      execGate: false,
    }),
  ).toBe('qemu-sandboxed: off nnp=off -> /usr/bin/qemu-system-x86_64 (41.3 ms)');
  expect(
    humanLine({
      ...record,
      vm: 'web1',
      execGate: false,
      tightened: {
        reason: 'minimum in /etc/qemu-sandboxed/config.json',
        requested: 'off',
        keys: [
          { key: 'enable', from: 'off', to: 'on', source: '-sandbox' },
          { key: 'spawn', from: 'allow', to: 'deny', source: 'built-in default' },
        ],
      },
    }),
  ).toBe(
    'qemu-sandboxed: on,spawn=deny vm=web1 (raised by minimum in /etc/qemu-sandboxed/config.json: enable, spawn) x86_64 filter 59 insns sha256:ab4dfd8aa89f nnp=off -> /usr/bin/qemu-system-x86_64 (41.3 ms)',
  );
});

test('levels: default info, silent, refusal of unknown names', () => {
  expect(parseLevel(undefined)).toBe('info');
  expect(parseLevel('SILENT')).toBe('silent');
  expect(() => parseLevel('loud')).toThrow(/QEMU_SANDBOXED_LOG_LEVEL=loud/);
});

describe('QEMU_SANDBOXED_LOG=<file>: JSON lines, appended, written synchronously', () => {
  const dir = tempDir('qs-log-');
  test('one launch record with every field', () => {
    const file = join(dir, 'a.log');
    const log = createLog({ QEMU_SANDBOXED_LOG: file }, true);
    log.launch(record);
    log.launch(record);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    const j = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(j).toMatchObject({ level: 30, msg: 'launch', name: 'qemu-sandboxed', ...record });
    expect(typeof j.time).toBe('string');
  });
  test('silent writes nothing; warn level drops the launch record but keeps warnings', () => {
    const file = join(dir, 'b.log');
    createLog({ QEMU_SANDBOXED_LOG: file, QEMU_SANDBOXED_LOG_LEVEL: 'silent' }, false).launch(
      record,
    );
    const warnOnly = createLog(
      { QEMU_SANDBOXED_LOG: file, QEMU_SANDBOXED_LOG_LEVEL: 'warn' },
      false,
    );
    warnOnly.launch(record);
    warnOnly.warn('preflight warnings', { n: 1 });
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([
      'preflight warnings',
    ]);
  });
  test('a log file that cannot be opened is an error before anything runs (the operator asked for a record)', () => {
    const missingDir = join(dir, 'no', 'such', 'dir.log');
    const err = (env: Record<string, string>): unknown => {
      try {
        createLog(env, false);
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const e1 = err({ QEMU_SANDBOXED_LOG: missingDir });
    expect(e1).toBeInstanceOf(LaunchError);
    expect((e1 as LaunchError).exitCode).toBe(EXIT.usage);
    expect((e1 as LaunchError).message).toBe(
      `QEMU_SANDBOXED_LOG=${missingDir}: cannot open for appending: ENOENT (its directory does not exist); QEMU was not started (fix the path, or unset QEMU_SANDBOXED_LOG)`,
    );
    expect((err({ QEMU_SANDBOXED_LOG: dir }) as Error).message).toContain(
      ': cannot open for appending: EISDIR (it is a directory)',
    );
    // A FIFO without a reader: refused at once (O_NONBLOCK), never a hang.
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect((err({ QEMU_SANDBOXED_LOG: fifo }) as Error).message).toContain(': ENXIO');
    // silent asks for no record: the file is not needed, so not opened.
    expect(err({ QEMU_SANDBOXED_LOG: missingDir, QEMU_SANDBOXED_LOG_LEVEL: 'silent' })).toBe(
      undefined,
    );
  });
  test('the file is opened when the log is created, and created if missing', () => {
    const file = join(dir, 'created.log');
    createLog({ QEMU_SANDBOXED_LOG: file }, false);
    expect(existsSync(file)).toBe(true);
  });
});
