import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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
  test('an unwritable log file does not throw (QEMU must still start)', () => {
    expect(() =>
      createLog({ QEMU_SANDBOXED_LOG: join(dir, 'no', 'such', 'dir.log') }, false).launch(record),
    ).not.toThrow();
  });
});
