import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explainRecord, type AuditEntry } from '../../../src/cli/commands/audit';
import { parseSeccompLine } from '../../../src/cli/audit-record';
import { readPolicy } from '../../../src/cli/policy-input';
import { emptyConfigPath, json, run } from './run';
import { nullable, schemaErrors, type Schema } from './schema';

const FIXTURE = join(__dirname, 'fixtures', 'records.txt');
const GOLDEN = join(__dirname, 'golden');

/**
 * Compares with a reviewed golden file; UPDATE_GOLDEN=1 rewrites it (then
 * review the diff). A missing golden file fails rather than passing silently.
 */
function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, actual);
  }
  if (!existsSync(file))
    throw new Error(`golden file ${file} is missing: run with UPDATE_GOLDEN=1 and review it`);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

const entrySchema: Schema = {
  object: {
    time: nullable('string'),
    pid: nullable('number'),
    auid: nullable('number'),
    uid: nullable('number'),
    gid: nullable('number'),
    ses: nullable('number'),
    comm: nullable('string'),
    exe: nullable('string'),
    arch: nullable('string'),
    abi: nullable('string'),
    syscall: { object: { nr: nullable('number'), name: nullable('string') } },
    action: 'string',
    code: nullable('number'),
    signal: nullable('number'),
    compat: nullable('number'),
    ip: nullable('string'),
    group: nullable('string'),
    deniedByPolicy: nullable('boolean'),
    allowWith: 'string',
    raw: 'string',
  },
};
const landlockSchema: Schema = {
  object: {
    time: nullable('string'),
    vm: nullable('string'),
    qemuPid: nullable('number'),
    pid: nullable('number'),
    comm: nullable('string'),
    exe: nullable('string'),
    syscall: { object: { nr: nullable('number'), name: nullable('string') } },
    blockers: { arrayOf: 'string' },
    path: nullable('string'),
    access: nullable('string'),
    allowWith: 'string',
    raw: 'string',
  },
};
const auditSchema: Schema = {
  object: {
    source: 'string',
    policy: 'string',
    since: nullable('string'),
    records: { arrayOf: entrySchema },
    landlock: { arrayOf: landlockSchema },
  },
};

test('a file of mixed formats: the table (golden)', async () => {
  const r = await run(['audit', FIXTURE]);
  expect(r.code).toBe(0);
  expect(r.stderr).toBe('');
  golden('audit-records.txt', r.stdout);
});

test('the same records from stdin, as JSON', async () => {
  const r = await run(['audit', '-', '--json', '--policy', 'on,elevateprivileges=deny'], {
    stdin: readFileSync(FIXTURE, 'utf8'),
  });
  expect(r.code).toBe(0);
  const a = json(r) as { source: string; records: Record<string, unknown>[] };
  expect(schemaErrors(a, auditSchema)).toEqual([]);
  expect(a.source).toBe('stdin');
  const brief = a.records.map((e) => [
    e.abi,
    (e.syscall as { name: string }).name,
    e.action,
    e.group,
    e.allowWith,
    e.deniedByPolicy,
  ]);
  expect(brief).toEqual([
    ['x86_64', 'setuid', 'kill-process', 'elevateprivileges', 'elevateprivileges=allow', true],
    ['x86_64', 'fork', 'log', 'spawn', 'spawn=allow', false],
    [
      'x32',
      'fork',
      'kill-process',
      null,
      expect.stringMatching(/^none short of -sandbox off: x32 is a foreign ABI/),
      true,
    ],
    [
      'i386',
      'fork',
      'kill-process',
      null,
      expect.stringMatching(/^none short of -sandbox off: i386 is a foreign ABI/),
      true,
    ],
    ['x86_64', 'socket', 'errno 97', 'network', 'network=allow', false],
    ['aarch64', 'reboot', 'kill-process', 'default', expect.stringMatching(/^-sandbox off/), true],
    [
      'x86_64',
      'getpid',
      'kill-process',
      null,
      expect.stringMatching(/^not one of our groups/),
      false,
    ],
  ]);
  expect(a.records[1]).toMatchObject({
    comm: 'qemu worker',
    auid: 1000,
    uid: 1000,
    gid: 1000,
    ses: 3,
    code: 0x7ffc0000,
    signal: 0,
    compat: 0,
    ip: '0x7f00000001',
    time: '2026-11-28T16:58:27.001Z',
  });
});

test('--since keeps the records at or after the time', async () => {
  const r = await run(['audit', FIXTURE, '--json', '--since', '@1795885300']);
  const a = json(r) as { since: string; records: { pid: number }[] };
  expect(a.since).toBe(new Date(1795885300_000).toISOString());
  expect(a.records.map((e) => e.pid)).toEqual([9300, 9400, 77, 78]);
  const rel = await run(['audit', FIXTURE, '--json', '--since', '2m'], { now: 1795885600_000 });
  expect((json(rel) as { records: { pid: number }[] }).records.map((e) => e.pid)).toEqual([77, 78]);
});

test('no records: says so and exits 0', async () => {
  const r = await run(['audit', '-'], { stdin: 'nothing to see\n' });
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(
    'no seccomp records in stdin\n' +
      'no Landlock records in stdin (the kernel writes them only while audit is enabled: auditd, or auditctl -e 1)\n',
  );
});

test("Landlock denials: QEMU's pid from the domain record, the process refused, the extra path that allows it", async () => {
  const r = await run(['audit', FIXTURE, '--json']);
  const a = json(r) as { landlock: Record<string, unknown>[] };
  expect(a.landlock.map((e) => [e.qemuPid, e.pid, e.comm, e.blockers, e.path, e.access])).toEqual([
    [14125, 14141, 'cat', ['fs.read_file'], '/etc/shadow', 'ro'],
    // The path was hex-encoded by the kernel (it holds a space).
    [14125, 14125, 'qemu-system-x86', ['fs.make_reg'], '/srv/vm images', 'rw'],
    [14125, 14125, 'qemu-system-x86', ['scope.signal'], null, null],
  ]);
  expect(a.landlock[0].allowWith).toBe(
    '"files": {"/etc/shadow": "ro"} in the site config, or QEMU_SANDBOXED_FILES=ro:/etc/shadow',
  );
  expect(a.landlock[0].syscall).toEqual({ nr: 257, name: 'openat' });
  expect(a.landlock.map((e) => e.vm)).toEqual([null, null, null]);
  // With the launch records, QEMU's pid and the time name the VM.
  const launches = join(mkdtempSync(join(tmpdir(), 'qs-audit-launches-')), 'qemu-sandboxed.log');
  writeFileSync(
    launches,
    `${JSON.stringify({ level: 30, time: '2026-11-28T17:08:00.000Z', pid: 14125, name: 'qemu-sandboxed', policy: 'on,files=deny', vm: 'web1', msg: 'launch' })}\n`,
  );
  const named = json(await run(['audit', FIXTURE, '--json', '--launches', launches])) as {
    landlock: Record<string, unknown>[];
  };
  expect(named.landlock.map((e) => e.vm)).toEqual(['web1', 'web1', 'web1']);
  expect(a.landlock[2].allowWith).toMatch(
    /^none: scope\.signal is refused by the Landlock domain of every -sandbox on/,
  );
});

/** One record line explained under `policy` (merged onto the built-in default), on an x86_64 host. */
function explainLine(line: string, policy: string): AuditEntry {
  const rec = parseSeccompLine(line);
  if (!rec) throw new Error(`not a seccomp record: ${line}`);
  const site = { QEMU_SANDBOXED_CONFIG: emptyConfigPath() };
  return explainRecord(rec, readPolicy(policy, site), 'x86_64');
}

test('ausearch -i records map by name', () => {
  const e = explainLine(
    'type=SECCOMP msg=audit(11/28/2026 17:01:02.345:99) : pid=42 comm=qemu arch=x86_64 syscall=unshare code=errno',
    'on,spawn=deny',
  );
  expect(e).toMatchObject({
    abi: 'x86_64',
    syscall: { nr: 272, name: 'unshare' },
    group: 'spawn',
    deniedByPolicy: true,
  });
});

test('a foreign-ABI record under action=log: logged, and no group switch allows it', () => {
  const e = explainLine(
    'audit: type=1326 audit(1795885300.250:11): pid=5 comm="q" sig=0 arch=40000003 syscall=2 compat=1 code=0x7ffc0000',
    'on,action=log',
  );
  expect(e).toMatchObject({ abi: 'i386', syscall: { name: 'fork' }, action: 'log' });
  expect(e.allowWith).toBe(
    'none short of -sandbox off: i386 is a foreign ABI on x86_64, which QEMU never uses',
  );
});
