/**
 * `qemu-sandbox audit` on REAL kernel records: a child is logged (SECCOMP_RET_LOG
 * on setuid) and killed (SECCOMP_RET_KILL_PROCESS on swapoff), first under a
 * filter it installs itself, then under the product's own filter through
 * launcher/qemu-sandboxed. Without auditd the kernel prints the records to
 * its log (`audit: type=1326 ...`); `audit` reads them back from /dev/kmsg
 * (its default) and from `dmesg` on stdin.
 *
 * Rate limit, found out on this machine: without auditd the records go
 * through kauditd_printk_skb(), which drops them under printk_ratelimit()
 * (kernel.printk_ratelimit 5 s, burst 10, shared with every other record on
 * the host: dmesg shows "kauditd_printk_skb: N callbacks suppressed"). Other
 * suites make hundreds of records, so an attempt can lose ours: each attempt
 * uses a fresh comm, and we retry after the 5 s window, a bounded number of
 * times, then fail naming the rate limit.
 */
import { closeSync, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import execa from 'execa';
import type { AuditEntry } from '../../src/cli/commands/audit';
import type { CliContext } from '../../src/cli/context';
import { runCli } from '../../src/cli/main';
import { REPO_ROOT, buildC } from '../helpers/cbuild';
import { tempDir } from '../helpers/tmp';

jest.setTimeout(180_000);

const LAUNCHER = join(REPO_ROOT, 'launcher', 'qemu-sandboxed');
const CLI = join(REPO_ROOT, 'launcher', 'qemu-sandbox');
const ATTEMPTS = 8;
const SIGSYS = 'SIGSYS';

let victim: string;
beforeAll(() => {
  victim = buildC('cli-audit-victim');
});

async function auditJson(args: string[], stdin = ''): Promise<AuditEntry[]> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const ctx: CliContext = {
    stdout: { write: (c) => void out.push(Buffer.from(c)), isTTY: false },
    stderr: { write: (c) => void err.push(Buffer.from(c)), isTTY: false },
    readStdin: () => Promise.resolve(Buffer.from(stdin)),
    env: { PATH: process.env.PATH, QEMU_SANDBOXED_CONFIG: '' },
    now: () => Date.now(),
  };
  const code = await runCli(['audit', '--json', ...args], ctx);
  if (code !== 0) throw new Error(`audit exited ${code}: ${Buffer.concat(err).toString()}`);
  return (JSON.parse(Buffer.concat(out).toString()) as { records: AuditEntry[] }).records;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the kernel log (audit's default source) until `want` records of `comm` show up. */
async function recordsOf(comm: string, want: number): Promise<AuditEntry[]> {
  let found: AuditEntry[] = [];
  // kauditd prints asynchronously: give it up to 3 s.
  for (let i = 0; i < 15 && found.length < want; i++) {
    await sleep(200);
    found = (await auditJson([])).filter((e) => e.comm === comm);
  }
  return found;
}

interface Run {
  readonly comm: string;
  readonly pid: number;
  readonly records: AuditEntry[];
}

/**
 * Runs `start(comm)` (which must log setuid and be killed at swapoff) until
 * the kernel log holds both records of one run.
 */
async function untilRecorded(
  label: string,
  start: (comm: string) => execa.ExecaChildProcess,
  expectKill: boolean,
  want: number,
): Promise<Run> {
  const tried: string[] = [];
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    // comm is at most 15 bytes; random, because the kernel log outlives runs and
    // pids are reused: an earlier run's record must never match this one.
    const comm = `qsa${label}${attempt}${randomBytes(5).toString('hex')}`.slice(0, 15);
    const child = start(comm);
    const r = await child;
    expect(r.stdout).toBe('logged');
    if (expectKill) expect([r.signal, r.exitCode]).toEqual([SIGSYS, undefined]);
    else expect(r.exitCode).toBe(0);
    const records = await recordsOf(comm, want);
    if (records.length >= want) return { comm, pid: child.pid ?? -1, records };
    tried.push(`${comm}: ${records.length}/${want} records`);
    await sleep(5_500); // a fresh printk_ratelimit window
  }
  const suppressed = (await execa('dmesg', [], { reject: false })).stdout
    .split('\n')
    .filter((l) => l.includes('callbacks suppressed'))
    .slice(-3);
  throw new Error(
    `the kernel log never held our records after ${ATTEMPTS} attempts (${tried.join('; ')}): ` +
      `printk_ratelimit dropped them (${suppressed.join(' | ') || 'no suppression lines'}), or audit is disabled (audit=0)`,
  );
}

function expectLogged(e: AuditEntry | undefined, run: Run): void {
  expect(e).toMatchObject({
    pid: run.pid,
    uid: 0,
    comm: run.comm,
    exe: victim,
    arch: 'c000003e',
    abi: 'x86_64',
    syscall: { nr: 105, name: 'setuid' },
    action: 'log',
    code: 0x7ffc0000,
    signal: 0,
    group: 'elevateprivileges',
    allowWith: 'elevateprivileges=allow',
  });
}

function expectKilled(e: AuditEntry | undefined, run: Run): void {
  expect(e).toMatchObject({
    pid: run.pid,
    comm: run.comm,
    exe: victim,
    abi: 'x86_64',
    syscall: { nr: 168, name: 'swapoff' },
    action: 'kill-process',
    code: 0x80000000,
    signal: 31,
    group: 'default',
    allowWith: expect.stringMatching(/^-sandbox off/),
  });
}

const onX86 = process.arch === 'x64' ? test : test.skip;
if (process.arch !== 'x64') {
  test('this suite needs an x86_64 host (the victim and expectations are x86_64)', () => {
    throw new Error(`host is ${process.arch}: cli-audit kernel tests run on x86_64 only`);
  });
}

onX86(
  'a self-filtered child: logged setuid and killed swapoff, read back from /dev/kmsg',
  async () => {
    const run = await untilRecorded(
      's',
      (comm) => execa(victim, [comm], { reject: false }),
      true,
      2,
    );
    expectLogged(
      run.records.find((e) => e.action === 'log'),
      run,
    );
    expectKilled(
      run.records.find((e) => e.action === 'kill-process'),
      run,
    );
    // The time is the kernel's wall clock for the event: within a minute of now.
    const t = Date.parse(run.records[0].time ?? '');
    expect(Math.abs(Date.now() - t)).toBeLessThan(60_000);

    // The same records through `dmesg | qemu-sandbox audit -`, the built entry point.
    const dmesg = await execa('dmesg');
    const viaEntry = await execa(CLI, ['audit', '-', '--json'], {
      input: dmesg.stdout,
      env: { QEMU_SANDBOXED_CONFIG: '' },
      reject: false,
    });
    expect(viaEntry.exitCode).toBe(0);
    const fromStdin = (JSON.parse(viaEntry.stdout) as { records: AuditEntry[] }).records.filter(
      (e) => e.comm === run.comm,
    );
    expect(fromStdin.map((e) => e.syscall.name).sort()).toEqual(['setuid', 'swapoff']);
    // And the text table names the fix.
    const table = await execa(CLI, ['audit', '-'], {
      input: dmesg.stdout,
      env: { QEMU_SANDBOXED_CONFIG: '' },
    });
    const line = table.stdout.split('\n').find((l) => l.includes(run.comm) && l.includes('setuid'));
    expect(line).toMatch(/ log +elevateprivileges +elevateprivileges=allow$/);
  },
);

onX86(
  'under the product filter via launcher/qemu-sandboxed: action=log logs, the default group kills',
  async () => {
    const env = (): NodeJS.ProcessEnv => ({
      QEMU_SANDBOXED_BINARY: victim,
      QEMU_SANDBOXED_LOG_LEVEL: 'silent',
      QEMU_SANDBOXED_CONFIG: '',
      PATH: process.env.PATH,
    });
    const logged = await untilRecorded(
      'l',
      (comm) =>
        execa(
          LAUNCHER,
          ['-sandbox', 'on,elevateprivileges=deny,action=log', comm, 'bare-log-only'],
          {
            env: env(),
            extendEnv: false,
            reject: false,
          },
        ),
      false,
      1,
    );
    expectLogged(logged.records[0], logged);
    expect(logged.records).toHaveLength(1);

    // -sandbox on: setuid is allowed and not logged; swapoff (default group) kills.
    const killed = await untilRecorded(
      'k',
      (comm) =>
        execa(LAUNCHER, ['-sandbox', 'on', comm, 'bare'], {
          env: env(),
          extendEnv: false,
          reject: false,
        }),
      true,
      1,
    );
    expect(killed.records).toHaveLength(1);
    expectKilled(killed.records[0], killed);
  },
);

/**
 * `compile --format raw` claims to be exactly what `bwrap --seccomp FD` reads.
 * scripts/setup.sh installs bubblewrap; where it is missing this test fails
 * and says so, rather than passing untested.
 */
describe('compile --format raw under bwrap --seccomp', () => {
  const bwrap = ['/usr/bin/bwrap', '/bin/bwrap'].find((p) => existsSync(p));

  async function underBwrap(policy: string, argv: string[]) {
    if (!bwrap)
      throw new Error('bwrap is not installed: apt-get install bubblewrap (scripts/setup.sh does)');
    const file = join(tempDir('qs-bwrap-'), 'filter.bpf');
    const c = await execa(CLI, ['compile', policy, '--format', 'raw', '-o', file], {
      env: { QEMU_SANDBOXED_CONFIG: '' },
    });
    expect(c.exitCode).toBe(0);
    // bwrap reads the filter from fd 9; execa's stdio array puts the file there.
    const fd = openSync(file, 'r');
    try {
      return await execa(
        bwrap,
        ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--seccomp', '9', ...argv],
        {
          reject: false,
          stdio: [
            'ignore',
            'pipe',
            'pipe',
            'ignore',
            'ignore',
            'ignore',
            'ignore',
            'ignore',
            'ignore',
            fd,
          ],
        },
      );
    } finally {
      closeSync(fd);
    }
  }

  onX86('the filter is loaded: allowed calls run, the default group kills', async () => {
    const ok = await underBwrap('on', ['/bin/sh', '-c', 'grep ^Seccomp: /proc/self/status']);
    expect([ok.exitCode, ok.stdout]).toEqual([0, 'Seccomp:\t2']);
    // The victim without its own filter: setuid allowed, swapoff (default group) kills.
    const killed = await underBwrap('on', [victim, 'qsa-bwrap', 'bare']);
    expect(killed.stdout).toBe('logged');
    // bwrap waits for its child and reports a signal as 128 + signo (SIGSYS 31).
    expect(killed.exitCode).toBe(128 + 31);
  });

  onX86(
    'spawn=deny outside the launcher: no listener, so even the first exec fails with ENOSYS',
    async () => {
      const r = await underBwrap('on,spawn=deny', ['/bin/true']);
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toMatch(/Function not implemented/);
    },
  );
});
