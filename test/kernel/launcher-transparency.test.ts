/**
 * The transparency contract, field by field, with real processes:
 * with `-sandbox off` QEMU must not be able to tell it was started through
 * `qemu-sandboxed`; with the sandbox on, only Seccomp, Seccomp_filters and
 * NoNewPrivs may differ.
 *
 * How: the probe's `wrap` mode sets up the state a caller (libvirt, a shell)
 * hands over (ignored HUP/USR1, blocked USR2 and a real-time signal, umask 027,
 * a lowered RLIMIT_NOFILE soft limit, a non-blocking stdin, a pipe at 3 and
 * 200, a socket at 9, a file at 17), records it (the same JSON as `probe
 * state`) and execs the launcher in place. The launcher execs the probe, whose
 * `state` must match the recording. Node changes several of these things at
 * start-up (CLOEXEC on fds 0-15, O_NONBLOCK on stdio pipes, SIGPIPE/SIGXFSZ
 * ignored, RLIMIT_NOFILE raised), so each check can really fail.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/cbuild';
import {
  FdInfo,
  ProbeRun,
  ProbeState,
  baseEnv,
  describeRun,
  emptyConfig,
  probeBinary,
  requireWorkingLauncher,
  runProbe,
  scratchDir,
} from '../helpers/probe';

jest.setTimeout(60000);

const CAP_SYS_ADMIN = 21;
const O_NONBLOCK = 0o4000;
const RLIMIT_NOFILE = 7;

interface Capture {
  /** What the launcher inherited (recorded by the wrapper just before its exec). */
  readonly before: ProbeState;
  /** What the probe saw. */
  readonly after: ProbeState;
  readonly run: ProbeRun;
  /** The probe arguments given to the launcher, -sandbox included. */
  readonly args: readonly string[];
}

type Mode = 'direct' | 'off' | 'on' | 'nnp' | 'nostdin' | 'logfile' | 'libvirt';

/**
 * The command lines, with `-sandbox` in different spellings and places, since
 * removing it must keep every other argument in order.
 */
const ARGS: Record<Mode, readonly string[]> = {
  direct: ['state', 'a', 'b c'],
  off: ['state', 'a', '-sandbox', 'off', 'b c'],
  on: ['--sandbox=on', 'state', 'a', 'b c'],
  nnp: ['state', 'a', 'b c', '-sandbox', 'on,elevateprivileges=deny'],
  // Started with fd 0 closed (Node opens /dev/null there at start-up: that
  // must not reach QEMU as an extra descriptor).
  nostdin: ['-sandbox', 'on', 'state', 'a', 'b c'],
  // stderr is an O_APPEND file, as libvirt gives QEMU its domain log.
  logfile: ['-sandbox', 'on', 'state', 'a', 'b c'],
  // libvirt's default string: spawn=deny arms the exec gate (a notification
  // listener and a thread), which must leave nothing behind either.
  libvirt: [
    '-sandbox',
    'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    'state',
    'a',
    'b c',
  ],
};

const MODES: readonly Mode[] = ['direct', 'off', 'on', 'nnp', 'nostdin', 'logfile', 'libvirt'];

let dir = '';
let probe = '';
let env: Record<string, string> = {};
const captures = new Map<Mode, Capture>();
let setupError: Error | undefined;

async function capture(mode: Mode): Promise<Capture> {
  const snapshot = join(dir, `${mode}.snapshot.json`);
  const wrapper = [
    probe,
    'wrap',
    '--close-others',
    ...['--ign', 'HUP', '--ign', 'USR1', '--block', 'USR2', '--block', '40'],
    ...['--umask', '027', '--rlimit', `${RLIMIT_NOFILE}:1000:4096`],
    ...(mode === 'nostdin' ? ['--close', '0'] : ['--nonblock', '0']),
    ...(mode === 'logfile' ? ['--file', `2:a:${join(dir, 'domain.log')}`] : []),
    ...['--pipe', '3:200:nonblock', '--socketpair', '9', '--file', `17:a:${join(dir, 'fd17.log')}`],
    ...['--snapshot', snapshot, '--'],
  ];
  const args = ARGS[mode];
  // The launcher's arguments go through runProbe's command list unchanged.
  const run = await runProbe({
    via: mode === 'direct' ? 'direct' : [],
    commands: [args],
    env,
    cwd: dir,
    wrapper,
    stdin: 'pipe',
  });
  const before = JSON.parse(readFileSync(snapshot, 'utf8')) as ProbeState;
  const states = run.lines.filter((l): l is ProbeState => l.op === 'state');
  if (states.length !== 1 || run.lines.length !== 1 || run.exitCode !== 0) {
    throw new Error(`expected one state line and exit 0\n${describeRun(run)}`);
  }
  return { before, after: states[0], run, args };
}

beforeAll(async () => {
  try {
    probe = probeBinary();
    dir = scratchDir('transparency');
    env = baseEnv(probe, emptyConfig(dir));
    await requireWorkingLauncher(env);
    // Sequential: the runs are short, and the machine's two cores are shared.
    for (const mode of MODES) captures.set(mode, await capture(mode));
  } catch (e) {
    setupError = e as Error;
  }
});

function get(mode: Mode): Capture {
  if (setupError) throw setupError;
  const c = captures.get(mode);
  if (!c) throw new Error(`no capture for ${mode}`);
  return c;
}

const withoutOurs = (env: readonly string[]): string[] =>
  env.filter((e) => !e.startsWith('QEMU_SANDBOXED_'));

/** The argv QEMU must see: the binary's path, then every argument but -sandbox and its value. */
function expectedArgv(args: readonly string[]): string[] {
  const out = [probe];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-sandbox' || a === '--sandbox') i++;
    else if (!a.startsWith('-sandbox=') && !a.startsWith('--sandbox=')) out.push(a);
  }
  return out;
}

const fdText = (f: FdInfo): string =>
  `${f.fd} ${f.target} flags=0${f.flags.toString(8)} cloexec=${f.cloexec}`;

/** Pipe and socket inode numbers differ between two runs; everything else may not. */
const anyInode = (t: string): string => t.replace(/^(pipe|socket):\[\d+\]$/, '$1:[*]');

/**
 * The fields of the contract, each as a comparable value. `across`: for
 * comparing two different runs (the direct one and a launched one), inode
 * numbers are masked and the pid, a new process per run, is left out.
 */
function fields(s: ProbeState, across: boolean): Record<string, unknown> {
  return {
    ...(across ? {} : { pid: [s.pid, s.ppid, s.pgid, s.sid] }),
    ...(across ? { 'ppid, pgid, sid': [s.ppid, s.pgid, s.sid] } : {}),
    argv: s.argv,
    'environment (minus QEMU_SANDBOXED_*)': withoutOurs(s.environ),
    cwd: s.cwd,
    umask: s.status.Umask,
    rlimits: s.rlimits,
    cgroup: s.cgroup,
    'uid, gid, groups, capabilities': [
      s.uid,
      s.gid,
      s.status.Groups,
      s.status.CapInh,
      s.status.CapPrm,
      s.status.CapEff,
      s.status.CapBnd,
      s.status.CapAmb,
    ],
    'nice, sched policy, affinity, oom_score_adj': [
      s.nice,
      s.sched_policy,
      s.status.Cpus_allowed_list,
      s.status.Mems_allowed_list,
      s.oom_score_adj,
    ],
    'personality, pdeathsig, subreaper, securebits, timerslack, itimers, dumpable, AT_SECURE': [
      s.personality,
      s.pdeathsig,
      s.subreaper,
      s.securebits,
      s.timerslack,
      s.itimers,
      s.dumpable,
      s.at_secure,
    ],
    'descriptors (number, target, flags, cloexec)': s.fds.map((f) =>
      fdText(across ? { ...f, target: anyInode(f.target) } : f),
    ),
    'ignored signals': s.ignored,
    'blocked signals': s.blocked,
    'caught signals': s.caught,
    Speculation_Store_Bypass: s.status.Speculation_Store_Bypass,
    'Seccomp, Seccomp_filters': [s.status.Seccomp, s.status.Seccomp_filters],
    NoNewPrivs: s.status.NoNewPrivs,
  };
}

describe('the harness itself (probe run directly from the wrapper)', () => {
  test('the recorded state equals what the probe sees after a plain exec', () => {
    const { before, after } = get('direct');
    expect(after).toEqual(before);
  });

  test('the wrapper really set up what the launcher must preserve', () => {
    const { before } = get('direct');
    expect(before.fds.map((f) => f.fd)).toEqual([0, 1, 2, 3, 9, 17, 200]);
    expect(before.fds.every((f) => !f.cloexec)).toBe(true);
    expect(before.fds[0].flags & O_NONBLOCK).toBe(O_NONBLOCK);
    expect(before.fds.find((f) => f.fd === 200)?.flags ?? 0).toBe(1 | O_NONBLOCK); // O_WRONLY
    expect(before.fds.find((f) => f.fd === 3)?.target).toMatch(/^pipe:/);
    expect(before.fds.find((f) => f.fd === 9)?.target).toMatch(/^socket:/);
    expect(before.fds.find((f) => f.fd === 17)?.target).toBe(join(dir, 'fd17.log'));
    expect(before.ignored).toEqual([1, 10]);
    expect(before.blocked).toEqual([12, 40]);
    expect(before.status.Umask).toBe('0027');
    expect(before.rlimits.NOFILE).toEqual(['1000', '4096']);
  });
});

describe.each(['off', 'on', 'nnp', 'nostdin', 'logfile', 'libvirt'] as const)(
  'through the launcher (%s)',
  (mode) => {
    test('equals the direct run in every field but the seccomp ones (inode numbers aside)', () => {
      const launched = fields(get(mode).after, true);
      const direct = fields(get('direct').after, true);
      const skip = ['Seccomp, Seccomp_filters', 'NoNewPrivs'];
      // nostdin (fd 0 closed) and logfile (fd 2 a file) started with other
      // descriptors than the direct run: theirs are checked against
      // what they inherited (below), not against the direct run's.
      if (mode === 'nostdin' || mode === 'logfile')
        skip.push('descriptors (number, target, flags, cloexec)');
      for (const k of skip) {
        delete launched[k];
        delete direct[k];
      }
      expect(launched).toEqual(direct);
    });

    test('writes nothing but the probe output to stdout, exits with the probe', () => {
      const { run } = get(mode);
      expect(run.exitCode).toBe(0);
      expect(run.stdout.split('\n').filter((l) => l !== '')).toHaveLength(1);
    });

    test('same PID: the process execa started became the probe', () => {
      const { before, after, run } = get(mode);
      expect(after.pid).toBe(run.pid);
      expect(after.pid).toBe(before.pid);
      expect(after.ppid).toBe(before.ppid);
      expect([after.pgid, after.sid]).toEqual([before.pgid, before.sid]);
    });

    test('argv: the QEMU binary path, then the arguments without -sandbox, in order', () => {
      const { after, args } = get(mode);
      expect(after.argv).toEqual(expectedArgv(args));
      expect(after.exe).toBe(get('direct').after.exe);
      expect(after.comm).toBe(get('direct').after.comm);
    });

    test('environment: identical, in order, minus QEMU_SANDBOXED_* (and nothing added)', () => {
      const { before, after } = get(mode);
      expect(withoutOurs(after.environ)).toEqual(withoutOurs(before.environ));
      // Our own variables may be dropped, but none may appear that the caller did not set.
      for (const e of after.environ.filter((v) => v.startsWith('QEMU_SANDBOXED_'))) {
        expect(before.environ).toContain(e);
      }
    });

    test('cwd, umask, cgroup, ids, nice, oom_score_adj, personality and other inherited scalars', () => {
      const { before, after } = get(mode);
      const pick = (s: ProbeState) => ({
        cwd: s.cwd,
        umask: s.status.Umask,
        cgroup: s.cgroup,
        uid: s.uid,
        gid: s.gid,
        groups: s.status.Groups,
        caps: [s.status.CapInh, s.status.CapPrm, s.status.CapEff, s.status.CapBnd, s.status.CapAmb],
        nice: s.nice,
        oom: s.oom_score_adj,
        personality: s.personality,
        pdeathsig: s.pdeathsig,
        subreaper: s.subreaper,
        securebits: s.securebits,
        timerslack: s.timerslack,
        sched: s.sched_policy,
        cpus: s.status.Cpus_allowed_list,
        mems: s.status.Mems_allowed_list,
        ssb: s.status.Speculation_Store_Bypass,
        itimers: s.itimers,
        atSecure: s.at_secure,
        dumpable: s.dumpable,
      });
      expect(pick(after)).toEqual(pick(before));
    });

    test('rlimits: every soft and hard limit (Node raises RLIMIT_NOFILE)', () => {
      const { before, after } = get(mode);
      expect(after.rlimits).toEqual(before.rlimits);
    });

    test('descriptors: same numbers, targets, status flags, inheritable, and no extra one', () => {
      const { before, after } = get(mode);
      expect(after.fds.map(fdText)).toEqual(before.fds.map(fdText));
    });

    test('signals: ignored set and blocked mask as inherited, nothing caught', () => {
      const { before, after } = get(mode);
      expect({ ignored: after.ignored, blocked: after.blocked, caught: after.caught }).toEqual({
        ignored: before.ignored,
        blocked: before.blocked,
        caught: [],
      });
    });

    test('seccomp and no-new-privileges: the only differences, and only with the sandbox on', () => {
      const { before, after } = get(mode);
      const seccomp = {
        mode: after.status.Seccomp,
        filters: after.status.Seccomp_filters,
        nnp: after.status.NoNewPrivs,
      };
      expect([before.status.Seccomp, before.status.NoNewPrivs]).toEqual(['0', '0']);
      if (mode === 'off') {
        expect(seccomp).toEqual({ mode: '0', filters: '0', nnp: '0' });
        return;
      }
      expect(seccomp.mode).toBe('2');
      expect(Number(seccomp.filters)).toBeGreaterThanOrEqual(1);
      // Root with CAP_SYS_ADMIN: no-new-privs only when the policy asks for it
      // (elevateprivileges=deny), so setuid helpers keep working otherwise.
      const capEff = BigInt(`0x${before.status.CapEff}`);
      if (((capEff >> BigInt(CAP_SYS_ADMIN)) & 1n) !== 1n) {
        throw new Error(
          `these checks need CAP_SYS_ADMIN (CapEff=${before.status.CapEff}); run as root`,
        );
      }
      expect(seccomp.nnp).toBe(mode === 'nnp' || mode === 'libvirt' ? '1' : '0');
    });
  },
);

/** The comparison, field by field, written to .cache/launcher-transparency.md for a reader. */
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (setupError || captures.size !== MODES.length) return;
  const modes = ['off', 'on', 'nnp', 'nostdin', 'logfile', 'libvirt'] as const;
  const rows = Object.keys(fields(get('direct').after, false)).map((name) => {
    const cells = modes.map((m) => {
      const { before, after } = get(m);
      const a = JSON.stringify(fields(after, false)[name]);
      const b = JSON.stringify(fields(before, false)[name]);
      if (a === b) return 'same';
      if (name === 'argv') return 'without -sandbox';
      if (name.startsWith('descriptors')) {
        const was = fields(before, false)[name] as string[];
        const now = fields(after, false)[name] as string[];
        const lost = was.filter((x) => !now.includes(x));
        const got = now.filter((x) => !was.includes(x));
        return `differs: ${lost.map((x) => `[${x}]`).join(' ')} became ${got.map((x) => `[${x}]`).join(' ') || 'nothing'}`;
      }
      return `differs: ${a.length > 60 ? `${a.slice(0, 57)}...` : a} (was ${b.length > 40 ? `${b.slice(0, 37)}...` : b})`;
    });
    return `| ${name} | ${cells.join(' | ')} |`;
  });
  const text = [
    '# Launcher transparency (generated by test/kernel/launcher-transparency.test.ts)',
    '',
    "Each cell compares what the probe saw after `launcher/qemu-sandboxed` exec'd it with what the",
    "launcher inherited (recorded by the wrapper just before it exec'd the launcher, same pid).",
    'The wrapper passed: HUP+USR1 ignored, USR2+signal 40 blocked, umask 027, RLIMIT_NOFILE 1000/4096,',
    'stdin O_NONBLOCK, a pipe at 3 and 200 (200 O_NONBLOCK), a socket at 9, an O_APPEND file at 17.',
    '',
    '| field | -sandbox off | --sandbox=on | -sandbox on,elevateprivileges=deny | -sandbox on, fd 0 closed | -sandbox on, fd 2 O_APPEND file | libvirt default string (spawn=deny gate) |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  writeFileSync(join(REPO_ROOT, '.cache', 'launcher-transparency.md'), text);
});

describe('argv edge cases', () => {
  test('an option value that reads "-sandbox" is QEMU\'s (-name -sandbox), not ours', async () => {
    if (setupError) throw setupError;
    const run = await runProbe({
      via: [],
      commands: [['state', '-name', '-sandbox', '-append', '-sandbox off']],
      env,
    });
    const s = run.lines[0] as ProbeState;
    expect(s.argv).toEqual([probe, 'state', '-name', '-sandbox', '-append', '-sandbox off']);
    // No -sandbox option at all: the default policy (on) applies.
    expect(s.status.Seccomp).toBe('2');
  });
});

describe('no-new-privileges per policy (root with CAP_SYS_ADMIN)', () => {
  // children: QEMU's meaning includes guaranteeing no-new-privs; the others
  // leave it unset so setuid helpers (qemu-bridge-helper) keep working.
  test.each([
    ['on', '0'],
    ['on,spawn=deny', '0'],
    ['on,elevateprivileges=children', '1'],
    ['on,elevateprivileges=deny', '1'],
  ])('-sandbox %s: NoNewPrivs %s', async (policy, nnp) => {
    if (setupError) throw setupError;
    const run = await runProbe({ via: ['-sandbox', policy], commands: [['state']], env });
    const s = run.lines[0] as ProbeState | undefined;
    if (!s) throw new Error(describeRun(run));
    expect([s.status.Seccomp, s.status.NoNewPrivs]).toEqual(['2', nnp]);
  });
});

describe('no-new-privileges without CAP_SYS_ADMIN', () => {
  test('the kernel requires it for a filter: set even with elevateprivileges=allow', async () => {
    if (setupError) throw setupError;
    // setpriv (util-linux, always on Debian) drops CAP_SYS_ADMIN from the
    // bounding set, so the launcher starts without it although it is root.
    const run = await runProbe({
      via: ['-sandbox', 'on'],
      commands: [['state']],
      env,
      wrapper: ['/usr/bin/setpriv', '--bounding-set', '-sys_admin', '--inh-caps', '-sys_admin'],
    });
    const s = run.lines[0] as ProbeState | undefined;
    if (!s) throw new Error(describeRun(run));
    const capEff = BigInt(`0x${s.status.CapEff}`);
    expect((capEff >> BigInt(CAP_SYS_ADMIN)) & 1n).toBe(0n);
    expect([s.status.Seccomp, s.status.NoNewPrivs]).toEqual(['2', '1']);
  });
});
