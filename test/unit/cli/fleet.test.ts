/**
 * The fleet tools on records written here: launch records read back from the
 * places they land, kernel records matched to launches by pid and time, the
 * advisor's strictest policy per VM (checked against src/policy's own rules),
 * and the Prometheus counters parsed back with a strict reader of the text
 * exposition format.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getAbi } from '../../../src/arch';
import {
  LAUNCH_SLACK_MS,
  LaunchIndex,
  parseLaunchRecords,
  type LaunchSeen,
} from '../../../src/cli/launch-records';
import {
  RECORDS_METRIC,
  escapeLabelValue,
  prometheusText,
  writeFileAtomic,
  type RecordSample,
} from '../../../src/cli/prometheus';
import { OPT_IN_GROUPS, suggestPolicies, type ObservedCall } from '../../../src/cli/suggest';
import { lostRecordWarnings, type SuggestJson } from '../../../src/cli/commands/audit';
import { activeRules, parsePolicy } from '../../../src/policy';
import { tempDir } from '../../helpers/tmp';
import { run } from './run';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const EVERY_DRY =
  'on,elevateprivileges=deny,spawn=deny,resourcecontrol=deny,network=deny,action=log';

/** A launch record line as pino writes it (the launcher's fields that matter here). */
function launchLine(o: {
  pid: number;
  timeMs: number;
  vm: string | null;
  policy: string;
  dryRun?: boolean;
}): string {
  return JSON.stringify({
    level: 30,
    time: new Date(o.timeMs).toISOString(),
    pid: o.pid,
    hostname: 'h',
    name: 'qemu-sandboxed',
    policy: o.policy,
    vm: o.vm,
    abi: 'x86_64',
    binary: '/usr/bin/qemu-system-x86_64',
    ...(o.dryRun === undefined ? {} : { dryRun: o.dryRun }),
    launcherExe: '/usr/bin/node',
    msg: 'launch',
  });
}

/** A kernel seccomp record as dmesg prints it. */
function kernelLine(o: {
  pid: number;
  timeMs: number;
  nr: number;
  exe?: string;
  code?: string;
  arch?: string;
}): string {
  const t = `${Math.floor(o.timeMs / 1000)}.${String(o.timeMs % 1000).padStart(3, '0')}`;
  return (
    `[ 1.0] audit: type=1326 audit(${t}:7): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=${o.pid} ` +
    `comm="qemu-system-x86" exe="${o.exe ?? '/usr/bin/qemu-system-x86_64'}" sig=0 arch=${o.arch ?? 'c000003e'} ` +
    `syscall=${o.nr} compat=0 ip=0x7f00 code=${o.code ?? '0x7ffc0000'}`
  );
}

const x86 = getAbi('x86_64');
const nr = (name: string): number => {
  const n = x86.syscalls.get(name);
  if (n === undefined) throw new Error(name);
  return n;
};

function launch(o: Partial<LaunchSeen> & { pid: number; timeMs: number }): LaunchSeen {
  const policyText = o.policyText ?? EVERY_DRY;
  return {
    vm: null,
    policyText,
    policy: parsePolicy(policyText),
    dryRun: true,
    launcherExe: '/usr/bin/node',
    binary: '/usr/bin/qemu-system-x86_64',
    abi: 'x86_64',
    source: 'test',
    ...o,
  };
}

function call(l: LaunchSeen | null, syscall: string, abi = 'x86_64'): ObservedCall {
  return {
    abi,
    syscall,
    nr: abi === 'x86_64' ? nr(syscall) : null,
    action: 'log',
    attribution: l === null ? { kind: 'unknown' } : { kind: 'vm', launch: l },
  };
}

describe('launch records', () => {
  test('read from a log file and from a libvirt domain log among other lines', () => {
    const text = [
      '2026-12-01 10:00:00.000+0000: starting up libvirt version: 9.0.0',
      'LC_ALL=C /usr/local/bin/qemu-system-x86_64-sandboxed -name guest=web1,debug-threads=on',
      launchLine({ pid: 100, timeMs: T0, vm: 'web1', policy: EVERY_DRY, dryRun: true }),
      '{"not":"ours"}',
      '{"name":"qemu-sandboxed","msg":"preflight refused","pid":5,"time":"2026-12-01T10:00:00Z","policy":"on"}',
      'char device redirected to /dev/pts/3 (label charserial0)',
      launchLine({ pid: 200, timeMs: T0 + 5, vm: null, policy: 'on,action=log' }),
    ].join('\n');
    const l = parseLaunchRecords(text, 'web1.log');
    expect(l).toHaveLength(2);
    expect(l[0]).toMatchObject({
      pid: 100,
      timeMs: T0,
      vm: 'web1',
      dryRun: true,
      launcherExe: '/usr/bin/node',
      abi: 'x86_64',
      source: 'web1.log:3',
    });
    expect(l[0].policy).toMatchObject({ spawn: 'deny', network: 'deny', action: 'log' });
    // No dryRun field: an older launcher, whose action=log still refused errno rules.
    expect(l[1]).toMatchObject({ pid: 200, vm: null, dryRun: false, source: 'web1.log:7' });
  });

  test('kernel records go to the latest launch of their pid, the launcher exec apart', () => {
    const first = launch({ pid: 7, timeMs: T0, vm: 'a' });
    const reused = launch({ pid: 7, timeMs: T0 + 60_000, vm: 'b' });
    const index = new LaunchIndex([reused, first]);
    expect(index.attribute({ pid: 7, timeMs: T0 + 10 })).toEqual({ kind: 'vm', launch: first });
    expect(index.attribute({ pid: 7, timeMs: T0 + 70_000 })).toEqual({
      kind: 'vm',
      launch: reused,
    });
    // Stamped a little before its launch record: the filter is loaded first, the clock is coarse.
    expect(index.attribute({ pid: 7, timeMs: T0 - LAUNCH_SLACK_MS + 1 })).toEqual({
      kind: 'vm',
      launch: first,
    });
    expect(index.attribute({ pid: 7, timeMs: T0 - LAUNCH_SLACK_MS - 1 })).toEqual({
      kind: 'unknown',
    });
    expect(index.attribute({ pid: 7, timeMs: T0 + 10, exe: '/usr/bin/node' })).toEqual({
      kind: 'launcher',
      launch: first,
    });
    expect(index.attribute({ pid: 8, timeMs: T0 + 10 })).toEqual({ kind: 'unknown' });
    expect(index.attribute({ timeMs: T0 })).toEqual({ kind: 'unknown' });
  });
});

describe('the advisor: deny every opt-in group unless a recorded call falls in it', () => {
  test('recorded groups allow, clean groups deny, and the policy says so key by key', () => {
    const web = launch({ pid: 1, timeMs: T0, vm: 'web1' });
    const db = launch({ pid: 2, timeMs: T0, vm: 'db' });
    const s = suggestPolicies(
      [call(web, 'fork'), call(web, 'fork'), call(web, 'execve'), call(db, 'setpriority')],
      [web, db],
    );
    const byName = new Map(s.vms.map((v) => [v.vm, v]));
    expect(byName.get('web1')).toMatchObject({
      launches: 1,
      dryRunLaunches: 1,
      records: 3,
      policy:
        'on,obsolete=deny,elevateprivileges=deny,spawn=allow,resourcecontrol=deny,network=deny,action=kill',
    });
    expect(byName.get('web1')?.settings.find((x) => x.key === 'spawn')).toEqual({
      key: 'spawn',
      value: 'allow',
      basis: 'recorded',
      evidence: [
        { syscall: 'fork', count: 2 },
        { syscall: 'execve', count: 1 },
      ],
      fallbacks: [],
    });
    expect(byName.get('db')?.policy).toBe(
      'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=allow,network=deny,action=kill',
    );
    // The fleet: one policy for both, the union of their evidence.
    expect(s.fleet.policy).toBe(
      'on,obsolete=deny,elevateprivileges=deny,spawn=allow,resourcecontrol=allow,network=deny,action=kill',
    );
  });

  test('checked against src/policy: the suggestion names none of the recorded calls, and keeps every clean group', () => {
    const calls = ['fork', 'sched_setaffinity', 'setuid', 'ustat'];
    const l = launch({ pid: 3, timeMs: T0, vm: 'x', policyText: `${EVERY_DRY},obsolete=deny` });
    const s = suggestPolicies(
      calls.map((c) => call(l, c)),
      [l],
    );
    const policy = parsePolicy(s.vms[0].policy ?? 'off');
    const rules = activeRules(policy, x86);
    for (const c of calls) expect(rules.filter((r) => r.syscall === c)).toEqual([]);
    expect(new Set(rules.map((r) => r.group))).toEqual(new Set(['default', 'network']));
    expect(policy.action).toBe('kill');
  });

  test('fail closed: a group not in force in every dry run stays allow, marked unobserved', () => {
    const a = launch({ pid: 1, timeMs: T0, vm: 'v', policyText: 'on,spawn=deny,action=log' });
    const b = launch({ pid: 2, timeMs: T0 + 1, vm: 'v', policyText: EVERY_DRY });
    const s = suggestPolicies([], [a, b]);
    const st = new Map(s.vms[0].settings.map((x) => [x.key, x]));
    expect(st.get('spawn')).toMatchObject({ value: 'deny', basis: 'clean' });
    expect(st.get('network')).toMatchObject({ value: 'allow', basis: 'unobserved' });
    expect(st.get('obsolete')).toMatchObject({ value: 'deny', basis: 'clean' });
    expect(s.vms[0].notes.join('\n')).toMatch(
      /left allow: elevateprivileges, resourcecontrol, network/,
    );
  });

  test('only dry-run launches are evidence; without one there is no suggestion', () => {
    const enforcing = launch({
      pid: 4,
      timeMs: T0,
      vm: 'e',
      policyText: 'on,spawn=deny',
      dryRun: false,
    });
    const s = suggestPolicies([call(enforcing, 'fork')], [enforcing]);
    expect(s.vms[0]).toMatchObject({ vm: 'e', policy: null, records: 0, dryRunLaunches: 0 });
    expect(s.vms[0].notes.join('\n')).toMatch(/no dry-run launch/);
    expect(s.vms[0].notes.join('\n')).toMatch(/1 record\(s\) of enforcing launches left out/);
    expect(s.fleet.policy).toBeNull();
  });

  test('calls answered ENOSYS (clone3, io_uring_setup, the new mount API) are fallbacks, not evidence', () => {
    // What QEMU 7.2 on glibc 2.36 made under a dry run of every group: pthread_create
    // tries clone3 first, the fd monitor tries io_uring; both fall back on ENOSYS.
    const l = launch({ pid: 9, timeMs: T0, vm: 'q' });
    const v = suggestPolicies(
      [call(l, 'clone3'), call(l, 'clone3'), call(l, 'io_uring_setup'), call(l, 'fsopen')],
      [l],
    ).vms[0];
    expect(v.policy).toBe(
      'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny,network=deny,action=kill',
    );
    expect(v.settings.find((x) => x.key === 'spawn')).toMatchObject({
      value: 'deny',
      basis: 'clean',
      evidence: [],
      fallbacks: [{ syscall: 'clone3', count: 2 }],
    });
    expect(v.settings.find((x) => x.key === 'network')?.fallbacks).toEqual([
      { syscall: 'io_uring_setup', count: 1 },
    ]);
    // The default group's ENOSYS answers are no denial either.
    expect(v.alwaysDenied).toEqual([]);
    // And the suggestion does answer them ENOSYS (src/policy's rules, enforced).
    const rules = activeRules(parsePolicy(v.policy ?? 'off'), x86);
    for (const c of ['clone3', 'io_uring_setup', 'fsopen']) {
      expect(rules.find((r) => r.syscall === c)?.action).toMatchObject({ errnoName: 'ENOSYS' });
    }
  });

  test('ioctl (default and network name it, records carry no arguments) counts for both', () => {
    const l = launch({ pid: 5, timeMs: T0, vm: 'n' });
    const v = suggestPolicies([call(l, 'ioctl')], [l]).vms[0];
    expect(v.settings.find((x) => x.key === 'network')).toMatchObject({ value: 'allow' });
    expect(v.alwaysDenied).toEqual([{ syscall: 'ioctl', count: 1 }]);
  });

  test('default-group calls, other ABIs, other filters, the launcher and strangers are told apart', () => {
    const l = launch({ pid: 6, timeMs: T0, vm: 'm' });
    const calls: ObservedCall[] = [
      call(l, 'reboot'),
      call(l, 'read', 'i386'),
      call(l, 'getpid'),
      call(null, 'fork'),
      { ...call(l, 'execve'), attribution: { kind: 'launcher', launch: l } },
    ];
    const s = suggestPolicies(calls, [l]);
    const v = s.vms[0];
    expect(v.alwaysDenied).toEqual([{ syscall: 'reboot', count: 1 }]);
    expect(v.foreignAbi).toBe(1);
    expect(v.otherFilter).toEqual([{ syscall: 'getpid', count: 1 }]);
    // The launcher's own exec is not QEMU's: spawn stays deny.
    expect(v.settings.find((x) => x.key === 'spawn')).toMatchObject({ value: 'deny' });
    expect(s.launcherRecords).toBe(1);
    expect(s.unattributed).toEqual([{ syscall: 'fork', count: 1 }]);
    expect(v.notes.join('\n')).toMatch(/every policy denies/);
    expect(OPT_IN_GROUPS).toHaveLength(5);
  });

  test("the kernel log's own signs of lost records become warnings", () => {
    expect(lostRecordWarnings('[1.0] kauditd_printk_skb: 12 callbacks suppressed')).toHaveLength(1);
    expect(lostRecordWarnings('[1.0] audit: backlog limit exceeded')).toHaveLength(1);
    expect(lostRecordWarnings('[1.0] audit: type=1326 ...')).toEqual([]);
  });
});

/**
 * A strict reader of the text exposition format (0.0.4) for what we write:
 * HELP and TYPE before the samples of their family, each sample
 * `name{l="v",...} value` with escapes \\ \" \n, no duplicate label sets.
 */
function parseExposition(text: string): {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: { name: string; labels: Record<string, string>; value: number }[];
} {
  expect(text.endsWith('\n')).toBe(true);
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  const seen = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      help.set(m[1], m[2]);
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      type.set(m[1], m[2]);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${JSON.stringify(line)}`);
    const [, name, body, value] = m;
    if (!type.has(name)) throw new Error(`sample before its TYPE: ${line}`);
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/gy;
    let consumed = 0;
    for (let l = re.exec(body); l !== null; l = re.exec(body)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
      consumed = re.lastIndex;
    }
    if (consumed !== body.length) throw new Error(`bad labels: ${body}`);
    if (seen.has(`${name}{${body}}`)) throw new Error(`duplicate sample: ${line}`);
    seen.add(`${name}{${body}}`);
    samples.push({ name, labels, value: Number(value) });
  }
  return { help, type, samples };
}

describe('prometheus counters', () => {
  const samples: RecordSample[] = [
    { vm: 'web1', group: 'spawn', syscall: 'fork', action: 'log' },
    { vm: 'web1', group: 'spawn', syscall: 'fork', action: 'log' },
    { vm: 'web1', group: 'spawn', syscall: 'fork', action: 'errno 1' },
    { vm: 'od"d\\vm\nname', group: '', syscall: '#999', action: 'kill-process' },
  ];

  test('parses back: one counter family, a sample per label set, the counts', () => {
    const p = parseExposition(prometheusText(samples));
    expect(p.type.get(RECORDS_METRIC)).toBe('counter');
    expect(p.help.get(RECORDS_METRIC)).toMatch(/seccomp records/);
    expect(p.samples).toHaveLength(3);
    const find = (labels: Record<string, string>) =>
      p.samples.find((s) => JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
    expect(find({ vm: 'web1', group: 'spawn', syscall: 'fork', action: 'log' })).toBe(2);
    expect(find({ vm: 'web1', group: 'spawn', syscall: 'fork', action: 'errno 1' })).toBe(1);
    // Quote, backslash and newline survive the escaping.
    expect(find({ vm: 'od"d\\vm\nname', group: '', syscall: '#999', action: 'kill-process' })).toBe(
      1,
    );
    expect(p.samples.reduce((n, s) => n + s.value, 0)).toBe(samples.length);
  });

  test('stable order, and nothing but the header for no records', () => {
    expect(prometheusText([...samples].reverse())).toBe(prometheusText(samples));
    expect(parseExposition(prometheusText([])).samples).toEqual([]);
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });

  test('written atomically: replaced whole, no temporary file left, a failed write leaves nothing', () => {
    const dir = tempDir('qs-prom-');
    const out = join(dir, 'qemu-sandbox.prom');
    writeFileSync(out, 'old\n');
    writeFileAtomic(out, prometheusText(samples));
    expect(readFileSync(out, 'utf8')).toBe(prometheusText(samples));
    expect(readdirSync(dir)).toEqual(['qemu-sandbox.prom']);
    expect(() => writeFileAtomic(join(dir, 'missing', 'x.prom'), 'x')).toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual(['qemu-sandbox.prom']);
  });
});

describe('qemu-sandbox audit --suggest and --format prometheus', () => {
  const dir = tempDir('qs-fleet-cli-');
  const records = join(dir, 'kern.log');
  const launches = join(dir, 'launch.log');
  writeFileSync(
    launches,
    [
      launchLine({ pid: 100, timeMs: T0, vm: 'web1', policy: EVERY_DRY, dryRun: true }),
      launchLine({ pid: 200, timeMs: T0, vm: 'db', policy: EVERY_DRY, dryRun: true }),
    ].join('\n'),
  );
  writeFileSync(
    records,
    [
      kernelLine({ pid: 100, timeMs: T0 + 1, nr: nr('execve'), exe: '/usr/bin/node' }),
      kernelLine({ pid: 100, timeMs: T0 + 50, nr: nr('clone') }),
      kernelLine({ pid: 100, timeMs: T0 + 60, nr: nr('socket') }),
      kernelLine({ pid: 200, timeMs: T0 + 70, nr: nr('sched_setaffinity') }),
      kernelLine({ pid: 999, timeMs: T0 + 80, nr: nr('reboot'), code: '0x80000000' }),
    ].join('\n'),
  );

  test('--suggest: per VM, the evidence, and the vms entries to paste', async () => {
    const r = await run(['audit', records, '--suggest', '--launches', launches]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^VM web1: 1 launch \(1 dry run\), 2 records$/m);
    expect(r.stdout).toMatch(/^ {2}spawn +allow +clone x1$/m);
    expect(r.stdout).toMatch(/^ {2}network +allow +socket x1$/m);
    expect(r.stdout).toMatch(
      /^ {2}resourcecontrol +deny +no call it would refuse in 1 dry-run launch$/m,
    );
    const snippet = JSON.parse(r.stdout.slice(r.stdout.indexOf('{\n'))) as {
      vms: Record<string, string>;
    };
    expect(snippet.vms).toEqual({
      db: 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=allow,network=deny,action=kill',
      web1: 'on,obsolete=deny,elevateprivileges=deny,spawn=allow,resourcecontrol=deny,network=allow,action=kill',
    });
    const j = await run(['audit', records, '--suggest', '--json', '--launches', launches]);
    const s = JSON.parse(j.stdout) as SuggestJson;
    expect(s.launcherRecords).toBe(1);
    expect(s.unattributed).toEqual([{ syscall: 'reboot', count: 1 }]);
  });

  test('--format prometheus to stdout and to a file', async () => {
    const r = await run(['audit', records, '--format', 'prometheus', '--launches', launches]);
    expect(r.code).toBe(0);
    const p = parseExposition(r.stdout);
    expect(p.samples.map((s) => s.labels)).toEqual(
      expect.arrayContaining([
        { vm: 'web1', group: 'spawn', syscall: 'clone', action: 'log' },
        { vm: 'db', group: 'resourcecontrol', syscall: 'sched_setaffinity', action: 'log' },
        { vm: '', group: 'default', syscall: 'reboot', action: 'kill-process' },
      ]),
    );
    // The launcher's own exec is left out.
    expect(p.samples.some((s) => s.labels.syscall === 'execve')).toBe(false);
    const out = join(dir, 'q.prom');
    const w = await run([
      'audit',
      records,
      '--format',
      'prometheus',
      '--output',
      out,
      '--launches',
      launches,
    ]);
    expect([w.code, w.stdout]).toEqual([0, '']);
    expect(readFileSync(out, 'utf8')).toBe(r.stdout);
  });

  test('refusals: --suggest without launch records (1), --output without prometheus (2)', async () => {
    const a = await run(['audit', records, '--suggest']);
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/--suggest needs the launch records/);
    const b = await run(['audit', records, '--output', join(dir, 'x.prom')]);
    expect(b.code).toBe(2);
    expect(existsSync(join(dir, 'x.prom'))).toBe(false);
    const c = await run(['audit', records, '--format', 'prometheus', '--suggest']);
    expect(c.code).toBe(2);
  });
});
