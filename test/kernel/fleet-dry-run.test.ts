/**
 * The fleet rollout on the real kernel, with the real launcher and the probe
 * as QEMU:
 *
 * 1. The dry run (action=log): a fork, an exec and a real-time scheduler
 *    policy that `on,spawn=deny,resourcecontrol=deny` denies (EPERM, the exec
 *    gate's ENOSYS, EPERM) all succeed under `...,action=log`, and the kernel
 *    log holds a SECCOMP_RET_LOG record for each (the launcher's own exec
 *    included, with the launcher's exe), read back by `qemu-sandbox audit`.
 * 2. The advisor: the probe's calls recorded under a dry run of every group
 *    become, through `audit --suggest` (kernel log + the launch record file),
 *    a policy that, set as the VM's `vms` entry, runs the same calls unharmed
 *    and denies one call more.
 *
 * Without auditd the records go through the kernel's printk rate limit
 * (shared with the whole host, see cli-audit.test.ts): a run whose records
 * did not all arrive is repeated with a fresh pid after the 5 s window, a
 * bounded number of times, then the test fails naming the rate limit.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEntry, SuggestJson } from '../../src/cli/commands/audit';
import type { CliContext } from '../../src/cli/context';
import { runCli } from '../../src/cli/main';
import {
  baseEnv,
  describeRun,
  emptyConfig,
  probeBinary,
  requireWorkingLauncher,
  runProbe,
  scratchDir,
  type OpLine,
  type ProbeRun,
  type SyscallResult,
} from '../helpers/probe';

jest.setTimeout(240_000);

const ATTEMPTS = 6;
const NR = { clone: 56, execve: 59, sched_setscheduler: 144 } as const;
const ENFORCING = 'on,spawn=deny,resourcecontrol=deny';
const EVERY_GROUP_DRY =
  'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny,network=deny,action=log';
/** sched_setscheduler(0, SCHED_FIFO, bad pointer): EPERM from the filter, else EFAULT. */
const SCHED = ['try', 'sched_setscheduler', '0', '1', 'bad'];

let dir = '';
let probe = '';
let setupError: Error | undefined;

beforeAll(async () => {
  try {
    probe = probeBinary();
    dir = scratchDir('fleet');
    await requireWorkingLauncher(baseEnv(probe, emptyConfig(dir)));
  } catch (e) {
    setupError = e as Error;
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function ready(): void {
  if (setupError) throw setupError;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function cli(args: string[]): Promise<string> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const ctx: CliContext = {
    stdout: { write: (c) => void out.push(Buffer.from(c)), isTTY: false },
    stderr: { write: (c) => void err.push(Buffer.from(c)), isTTY: false },
    readStdin: () => Promise.resolve(Buffer.alloc(0)),
    env: { PATH: process.env.PATH, QEMU_SANDBOXED_CONFIG: '' },
    now: () => Date.now(),
  };
  const code = await runCli(args, ctx);
  if (code !== 0)
    throw new Error(
      `qemu-sandbox ${args.join(' ')}: exit ${code}: ${Buffer.concat(err).toString()}`,
    );
  return Buffer.concat(out).toString();
}

/** The kernel log's seccomp records of one pid (audit's default source), polled for up to 3 s. */
async function recordsOfPid(
  pid: number,
  want: (r: AuditEntry[]) => boolean,
): Promise<AuditEntry[]> {
  let found: AuditEntry[] = [];
  for (let i = 0; i < 15; i++) {
    await sleep(200);
    const all = JSON.parse(await cli(['audit', '--json', '--since', '5m'])) as {
      records: AuditEntry[];
    };
    found = all.records.filter((e) => e.pid === pid);
    if (want(found)) return found;
  }
  return found;
}

interface Recorded {
  readonly run: ProbeRun;
  readonly records: AuditEntry[];
  readonly logFile: string;
}

let attemptNo = 0;
/** Runs the probe through the launcher until the kernel log holds the records `want` accepts. */
async function untilRecorded(
  what: string,
  start: (logFile: string) => Promise<ProbeRun>,
  want: (r: AuditEntry[]) => boolean,
): Promise<Recorded> {
  const tried: string[] = [];
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const logFile = join(dir, `launch-${attemptNo++}.log`);
    const run = await start(logFile);
    if (run.pid === undefined) throw new Error(`no pid:\n${describeRun(run)}`);
    const records = await recordsOfPid(run.pid, want);
    if (want(records)) return { run, records, logFile };
    tried.push(`pid ${run.pid}: ${records.map((r) => r.syscall.name).join(',') || 'no records'}`);
    await sleep(5_500); // a fresh printk_ratelimit window
  }
  throw new Error(
    `${what}: the kernel log never held all the records after ${ATTEMPTS} attempts (${tried.join('; ')}): ` +
      'the printk rate limit dropped them, or audit is disabled (audit=0)',
  );
}

function op(run: ProbeRun, name: string): OpLine {
  const l = run.lines.find((x) => x.op === name) as OpLine | undefined;
  if (!l) throw new Error(`no ${name} line:\n${describeRun(run)}`);
  return l;
}

function sched(run: ProbeRun): SyscallResult {
  const l = run.lines.find((x) => x.op === 'try') as { result?: SyscallResult } | undefined;
  const r = l?.result ?? (l as SyscallResult | undefined);
  if (!r) throw new Error(`no try line:\n${describeRun(run)}`);
  return r;
}

const COMMANDS = [['fork'], SCHED, ['exec']];

test('without the dry run the policy denies the fork, the scheduler policy and the exec', async () => {
  ready();
  const run = await runProbe({
    via: ['-sandbox', ENFORCING],
    commands: COMMANDS,
    env: baseEnv(probe, emptyConfig(dir)),
  });
  expect(run.exitCode).toBe(0);
  expect(op(run, 'fork')).toMatchObject({ errname: 'EPERM' });
  expect(sched(run)).toMatchObject({ errname: 'EPERM' });
  // The exec gate let the launcher's exec through once; the probe's own is refused.
  expect(op(run, 'exec')).toMatchObject({ ret: -1, errname: 'ENOSYS' });
  expect(run.lines.some((l) => l.op === 'execed')).toBe(false);
});

test('the dry run lets them all run, and the kernel logs each one (and the launcher exec)', async () => {
  ready();
  const dry = `${ENFORCING},action=log`;
  const rec = await untilRecorded(
    'dry run',
    (logFile) =>
      runProbe({
        via: ['-sandbox', dry],
        commands: COMMANDS,
        env: { ...baseEnv(probe, emptyConfig(dir)), QEMU_SANDBOXED_LOG: logFile },
      }),
    (rs) =>
      rs.some((r) => r.syscall.nr === NR.clone) &&
      rs.some((r) => r.syscall.nr === NR.sched_setscheduler) &&
      rs.filter((r) => r.syscall.nr === NR.execve).length >= 2,
  );
  const { run, records } = rec;
  expect(run.exitCode).toBe(0);
  const fork = op(run, 'fork');
  expect(fork.errname).toBe('');
  expect(fork.child_exit).toBe(7);
  expect(sched(run)).toMatchObject({ errname: 'EFAULT' }); // past the filter: the kernel read the bad pointer
  // The probe's exec ran: the new image reports with the same pid.
  expect(op(run, 'execed')).toMatchObject({ pid: run.pid });

  for (const r of records) {
    expect(r).toMatchObject({ action: 'log', code: 0x7ffc0000, signal: 0, abi: 'x86_64' });
  }
  expect(records.find((r) => r.syscall.nr === NR.clone)).toMatchObject({
    exe: probe,
    group: 'spawn',
  });
  expect(records.find((r) => r.syscall.nr === NR.sched_setscheduler)).toMatchObject({
    exe: probe,
    group: 'resourcecontrol',
  });
  const execs = records.filter((r) => r.syscall.nr === NR.execve);
  const launch = JSON.parse(readFileSync(rec.logFile, 'utf8').trim().split('\n')[0]) as {
    dryRun: boolean;
    execGate: boolean;
    launcherExe: string;
    pid: number;
    policy: string;
  };
  expect(launch).toMatchObject({ dryRun: true, execGate: false, pid: run.pid, policy: dry });
  // The launcher's own exec of the probe, then the probe's exec of itself.
  expect(execs.map((r) => r.exe)).toEqual([launch.launcherExe, probe]);
});

test('--suggest turns a dry run into the policy that runs the same calls and denies one more', async () => {
  ready();
  const rec = await untilRecorded(
    'advisor dry run',
    (logFile) =>
      runProbe({
        via: ['-sandbox', EVERY_GROUP_DRY],
        qemuArgs: ['-nodefaults', '-name', 'fleet-a'],
        commands: [SCHED],
        env: { ...baseEnv(probe, emptyConfig(dir)), QEMU_SANDBOXED_LOG: logFile },
      }),
    (rs) => rs.some((r) => r.syscall.nr === NR.sched_setscheduler),
  );
  expect(sched(rec.run)).toMatchObject({ errname: 'EFAULT' });
  const started = new Date(Date.now() - 120_000).toISOString();
  const s = JSON.parse(
    await cli(['audit', '--json', '--suggest', '--since', started, '--launches', rec.logFile]),
  ) as SuggestJson;
  const vm = s.vms.find((v) => v.vm === 'fleet-a');
  expect(vm).toBeDefined();
  expect(vm).toMatchObject({ launches: 1, dryRunLaunches: 1, named: true });
  // Only the resourcecontrol call was made; the launcher's exec is not the probe's.
  expect(vm?.policy).toBe(
    'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=allow,network=deny,action=kill',
  );
  expect(vm?.settings.find((x) => x.key === 'resourcecontrol')).toMatchObject({
    basis: 'recorded',
    evidence: [{ syscall: 'sched_setscheduler', count: 1 }],
  });
  expect(s.launcherRecords).toBeGreaterThanOrEqual(1);

  // The suggestion as the VM's entry in the site config: no -sandbox on the command line.
  const config = join(dir, 'suggested.json');
  writeFileSync(config, JSON.stringify({ vms: { 'fleet-a': vm?.policy } }));
  const env = baseEnv(probe, config);
  const same = await runProbe({
    via: [],
    qemuArgs: ['-nodefaults', '-name', 'fleet-a'],
    commands: [SCHED],
    env,
  });
  expect(same.exitCode).toBe(0);
  expect(sched(same)).toMatchObject({ errname: 'EFAULT' }); // unharmed
  const more = await runProbe({
    via: [],
    qemuArgs: ['-nodefaults', '-name', 'fleet-a'],
    commands: [SCHED, ['fork']],
    env,
  });
  expect(more.exitCode).toBe(0);
  expect(sched(more)).toMatchObject({ errname: 'EFAULT' });
  expect(op(more, 'fork')).toMatchObject({ errname: 'EPERM' }); // the one thing more: spawn=deny
  // And the suggestion is really in force: the launch record says so.
  expect(same.stderr).toContain('"vm":"fleet-a"');
});

test('the dry run with files=deny is refused (Landlock has no log-only mode): exit 1, one line, nothing started', async () => {
  ready();
  const run = await runProbe({
    via: ['-sandbox', 'on,action=log,files=deny'],
    qemuArgs: ['-nodefaults'],
    commands: [['pid']],
    env: baseEnv(probe, emptyConfig(dir)),
  });
  expect(run.exitCode).toBe(1);
  expect(run.lines).toEqual([]);
  expect(run.stderr.trim().split('\n')).toHaveLength(1);
  expect(run.stderr).toMatch(
    /^qemu-sandboxed: .*action=log \(the dry run: nothing is denied\) cannot be combined with files=deny \(Landlock has no log-only mode\).*use files=allow for the dry run$/m,
  );
});
