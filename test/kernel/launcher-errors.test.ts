/**
 * Bad input never starts QEMU (fail closed): every malformed
 * -sandbox form, a missing or non-executable binary, a missing or malformed
 * explicit config file, and the preflight refusals each give their one-line
 * message and a non-zero exit, and the probe standing in for QEMU never runs.
 *
 * The probe appends a line to $PROBE_MARKER as the first thing it does, so
 * "never started" is checked, not assumed; the positive controls at the end
 * show the marker does appear when the launch is valid.
 */
import { chmodSync, copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import execa from 'execa';
import { EXIT } from '../../src/launch/errors';
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
let config = '';
let setupError: Error | undefined;

beforeAll(async () => {
  try {
    probe = probeBinary();
    dir = scratchDir('errors');
    config = emptyConfig(dir);
    // A broken launcher also exits non-zero without starting the probe: make
    // sure these tests see refusals, not a crash.
    await requireWorkingLauncher(baseEnv(probe, config));
  } catch (e) {
    setupError = e as Error;
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Attempt {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stderr: string;
  readonly stdout: string;
  /** stderr lines that are not JSON log records. */
  readonly messages: string[];
  readonly started: boolean;
  readonly command: string;
}

let counter = 0;

async function attempt(
  args: readonly string[],
  envOverride: Record<string, string | undefined> = {},
  wrapper: readonly string[] = [],
): Promise<Attempt> {
  if (setupError) throw setupError;
  const marker = join(dir, `marker-${process.pid}-${counter++}`);
  rmSync(marker, { force: true });
  const env: Record<string, string> = { ...baseEnv(probe, config), PROBE_MARKER: marker };
  for (const [k, v] of Object.entries(envOverride)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const argv = [...wrapper, LAUNCHER, ...args];
  const r = await execa(argv[0], argv.slice(1), {
    env,
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 20000,
    killSignal: 'SIGKILL',
  });
  const messages = r.stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('{'));
  return {
    exitCode: r.exitCode ?? null,
    signal: r.signal ?? null,
    stderr: r.stderr,
    stdout: r.stdout,
    messages,
    started: existsSync(marker),
    command: `${Object.entries(envOverride)
      .map(([k, v]) => `${k}=${v ?? '(unset)'} `)
      .join('')}${argv.join(' ')}`,
  };
}

/** Refused: non-zero exit (the documented code), one message line matching, probe not started. */
function expectRefused(a: Attempt, message: RegExp, code: number = EXIT.usage): void {
  const ctx = `$ ${a.command}\nexit=${a.exitCode} signal=${a.signal}\nstderr:\n${a.stderr}\nstdout:\n${a.stdout}`;
  if (a.started) throw new Error(`the probe (QEMU) was started:\n${ctx}`);
  if (a.exitCode !== code) throw new Error(`expected exit ${code}:\n${ctx}`);
  if (a.messages.length !== 1) throw new Error(`expected exactly one message line:\n${ctx}`);
  if (!message.test(a.messages[0])) throw new Error(`message does not match ${message}:\n${ctx}`);
  if (a.stdout !== '') throw new Error(`wrote to stdout:\n${ctx}`);
}

describe('malformed -sandbox', () => {
  // [description, arguments, what the message must say]
  const cases: [string, string[], RegExp][] = [
    ['unknown key', ['-sandbox', 'on,foo=bar'], /Invalid parameter 'foo'/],
    ['unknown key, --sandbox=', ['--sandbox=on,bogus=1'], /Invalid parameter 'bogus'/],
    ['bad value for spawn', ['-sandbox', 'on,spawn=maybe'], /invalid argument for spawn|spawn/i],
    ['bad value for obsolete', ['-sandbox', 'on,obsolete=yes'], /obsolete/],
    [
      'bad value for elevateprivileges',
      ['-sandbox', 'on,elevateprivileges=sometimes'],
      /elevateprivileges/,
    ],
    ['bad value for resourcecontrol', ['-sandbox', 'on,resourcecontrol=1'], /resourcecontrol/],
    ['bad value for network (extension)', ['-sandbox', 'on,network=none'], /network/],
    ['bad value for action (extension)', ['-sandbox', 'on,action=explode'], /action/],
    ['bad value for preflight (extension)', ['-sandbox', 'on,preflight=maybe'], /preflight/],
    ['bad boolean', ['-sandbox', 'maybe'], /enable/],
    ['booleans are case-sensitive, as in QEMU', ['-sandbox', 'ON'], /enable/],
    ['key without a value', ['-sandbox', 'on,spawn'], /invalid argument for spawn/],
    ['empty item', ['-sandbox', 'on,,'], /sandbox/],
    ['bad boolean in enable=', ['-sandbox', 'enable=2'], /enable/],
    ['empty value for a key', ['-sandbox', 'on,spawn='], /spawn/],
    [
      'missing value (last argument)',
      ['state', '-sandbox'],
      /sandbox.*(requires an argument|missing|value)/i,
    ],
    [
      'missing value (--sandbox last)',
      ['state', '--sandbox'],
      /sandbox.*(requires an argument|missing|value)/i,
    ],
    ['second -sandbox malformed', ['-sandbox', 'on', '-sandbox', 'spawn=nope'], /spawn/],
  ];
  test.each(cases)('%s: %j', async (_d, args, message) => {
    // The probe command goes first, so a -sandbox left without its value stays last.
    expectRefused(await attempt(['state', ...args]), message);
  });
});

describe('the QEMU binary', () => {
  test('missing: named in the message, exit 127, nothing run', async () => {
    const missing = join(dir, 'no-such-qemu');
    const a = await attempt(['-sandbox', 'on', 'state'], { QEMU_SANDBOXED_BINARY: missing });
    expectRefused(a, new RegExp(missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')), EXIT.notFound);
  });

  test('not executable: named in the message, exit 126, nothing run', async () => {
    const noexec = join(dir, 'qemu-noexec');
    copyFileSync(probeBinary(), noexec);
    chmodSync(noexec, 0o644);
    // As root, access(X_OK) is still false without any x bit.
    const a = await attempt(['-sandbox', 'on', 'state'], { QEMU_SANDBOXED_BINARY: noexec });
    expectRefused(a, /qemu-noexec.*(executable|permission)/i, EXIT.cannotExecute);
    expect(readFileSync(noexec).length).toBeGreaterThan(0);
  });
});

describe('the site config', () => {
  test('an explicit config path that does not exist is an error (not "no config")', async () => {
    const a = await attempt(['state'], {
      QEMU_SANDBOXED_CONFIG: '/nonexistent/qemu-sandboxed.json',
    });
    expectRefused(
      a,
      /\/nonexistent\/qemu-sandboxed\.json.*(not found|no such|does not exist|missing|ENOENT)/i,
    );
  });

  test('a malformed config (not JSON) names the file and says it is not valid JSON', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ "sandbox": "on", \n');
    const a = await attempt(['state'], { QEMU_SANDBOXED_CONFIG: bad });
    expectRefused(a, /bad\.json.*JSON/i);
  });

  test('missing and malformed give different messages', async () => {
    const bad = join(dir, 'bad2.json');
    writeFileSync(bad, 'not json');
    const m1 =
      (await attempt(['state'], { QEMU_SANDBOXED_CONFIG: join(dir, 'absent.json') })).messages[0] ??
      '';
    const m2 = (await attempt(['state'], { QEMU_SANDBOXED_CONFIG: bad })).messages[0] ?? '';
    expect(m1.replace(/absent\.json/, 'X')).not.toEqual(m2.replace(/bad2\.json/, 'X'));
  });

  test('a config with an unknown key (a typo must not turn a policy off)', async () => {
    const typo = join(dir, 'typo.json');
    writeFileSync(typo, '{"sandbx": "on,spawn=deny"}\n');
    expectRefused(await attempt(['state'], { QEMU_SANDBOXED_CONFIG: typo }), /typo\.json.*sandbx/);
  });

  // Refused from a stat, before any open: neither can block or run forever.
  test.each([
    [
      '/dev/zero (never ends)',
      '/dev/zero',
      /^qemu-sandboxed: config \/dev\/zero: is a character device, not a regular file: refused without reading it/,
    ],
    [
      'a FIFO with no writer (blocks)',
      '@fifo',
      /config .*config\.fifo: is a FIFO, not a regular file: refused without reading it/,
    ],
    ['a directory', '@dir', /: is a directory, not a regular file/],
  ])('a config that is %s: one line, exit 1, at once', async (_what, where, message) => {
    let path = where;
    if (where === '@fifo') {
      path = join(dir, 'config.fifo');
      if (!existsSync(path)) execFileSync('mkfifo', [path]);
    } else if (where === '@dir') path = dir;
    const a = await attempt(['state'], { QEMU_SANDBOXED_CONFIG: path });
    // A launcher that blocked would be killed by the 20 s timeout (signal set, no exit code).
    expect(a.signal).toBeNull();
    expectRefused(a, message);
  });

  test('a config larger than 1 MiB', async () => {
    const big = join(dir, 'big.json');
    writeFileSync(big, `{"sandbox": "on"}${' '.repeat(1024 * 1024)}`);
    expectRefused(
      await attempt(['state'], { QEMU_SANDBOXED_CONFIG: big }),
      /big\.json: is \d+ bytes, more than the 1048576 a config may have/,
    );
  });

  test('a config with a malformed sandbox string', async () => {
    const badPolicy = join(dir, 'badpolicy.json');
    writeFileSync(badPolicy, '{"sandbox": "on,spawn=sometimes"}\n');
    expectRefused(
      await attempt(['state'], { QEMU_SANDBOXED_CONFIG: badPolicy }),
      /badpolicy\.json.*spawn/,
    );
  });
});

describe("the launcher's own environment", () => {
  test('QEMU_SANDBOXED_NODE=/bin/false: the trampoline says so (it would exit 1 without a word)', async () => {
    const a = await attempt(['-sandbox', 'on', 'state'], { QEMU_SANDBOXED_NODE: '/bin/false' });
    expectRefused(
      a,
      /^qemu-sandboxed: QEMU_SANDBOXED_NODE=\/bin\/false did not start the launcher \(.*not Node\.js\); QEMU was not started$/,
    );
  });

  test('QEMU_SANDBOXED_NODE naming a program that exits 0 is refused the same way', async () => {
    const a = await attempt(['-sandbox', 'on', 'state'], { QEMU_SANDBOXED_NODE: '/bin/true' });
    expectRefused(a, /QEMU_SANDBOXED_NODE=\/bin\/true did not start the launcher/);
  });

  test('control: QEMU_SANDBOXED_NODE naming the real Node.js runs', async () => {
    const a = await attempt(['-sandbox', 'on', 'pid'], { QEMU_SANDBOXED_NODE: process.execPath });
    expect([a.exitCode, a.started]).toEqual([0, true]);
  });

  test('an unwritable QEMU_SANDBOXED_LOG is an error before anything runs, naming the path and errno', async () => {
    const log = join(dir, 'no-such-dir', 'launch.log');
    const a = await attempt(['-sandbox', 'on', 'state'], { QEMU_SANDBOXED_LOG: log });
    expectRefused(
      a,
      new RegExp(
        `^qemu-sandboxed: QEMU_SANDBOXED_LOG=${log.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: cannot open for appending: ENOENT \\(its directory does not exist\\); QEMU was not started`,
      ),
    );
    const isDir = await attempt(['-sandbox', 'off', 'state'], { QEMU_SANDBOXED_LOG: dir });
    expectRefused(isDir, /QEMU_SANDBOXED_LOG=.*: cannot open for appending: EISDIR/);
  });

  test('control: a writable QEMU_SANDBOXED_LOG gets the record, and the launch runs', async () => {
    const log = join(dir, 'launch.log');
    const a = await attempt(['-sandbox', 'on', 'pid'], { QEMU_SANDBOXED_LOG: log });
    expect([a.exitCode, a.started]).toEqual([0, true]);
    expect(JSON.parse(readFileSync(log, 'utf8').trim())).toMatchObject({
      msg: 'launch',
      policy: 'on',
    });
  });
});

describe('preflight refusals (the command line the policy would break at run time)', () => {
  // [policy, QEMU arguments, the argument and setting the message must name]
  const cases: [string, string[], string, string][] = [
    ['on,spawn=deny', ['-daemonize'], '-daemonize', 'spawn=deny'],
    ['on,elevateprivileges=deny', ['-daemonize'], '-daemonize', 'elevateprivileges=deny'],
    ['on,elevateprivileges=deny', ['-runas', 'nobody'], '-runas', 'elevateprivileges=deny'],
    ['on,spawn=deny', ['-netdev', 'bridge,id=n0,br=br0'], '-netdev', 'spawn=deny'],
    ['on,spawn=deny', ['-incoming', 'exec:cat /tmp/x'], '-incoming', 'spawn=deny'],
    ['on,network=deny', ['-nic', 'user'], '-nic', 'network=deny'],
    ['on,network=deny', ['-nodefaults', '-gdb', 'tcp::1234'], '-gdb', 'network=deny'],
    ['on,network=deny', ['-nodefaults', '-vnc', ':0'], '-vnc', 'network=deny'],
    ['on,network=deny', ['-nodefaults', '-incoming', 'tcp:0:4444'], '-incoming', 'network=deny'],
    ['on,network=deny', ['state'], 'no -nic', 'network=deny'],
    [
      'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
      ['-daemonize'],
      '-daemonize',
      'spawn=deny',
    ],
  ];
  test.each(cases)('-sandbox %s with %j', async (policy, qemuArgs, arg, setting) => {
    const a = await attempt(['-sandbox', policy, ...qemuArgs, 'state']);
    const ctx = `$ ${a.command}\nexit=${a.exitCode}\nstderr:\n${a.stderr}`;
    if (a.started) throw new Error(`the probe (QEMU) was started:\n${ctx}`);
    expect(a.exitCode).toBe(EXIT.usage);
    expect(a.stdout).toBe('');
    // One line per refusal naming the argument, the setting and a fix; then the summary.
    const refusal = a.messages.find((l) => l.includes('preflight refused'));
    if (!refusal) throw new Error(`no "preflight refused" line:\n${ctx}`);
    expect(refusal).toContain(arg);
    expect(refusal).toContain(setting);
    expect(refusal).toMatch(/fix: /);
  });
});

describe('no-new-privileges inherited from the caller (systemd NoNewPrivileges=yes)', () => {
  // As root with elevateprivileges=allow the launcher does not set it, but a
  // caller may have: the setuid bridge helper is disarmed all the same.
  const NNP = ['/usr/bin/setpriv', '--no-new-privs'];
  const BRIDGE = ['-sandbox', 'on', '-netdev', 'bridge,id=n0,br=br0', 'state'];

  test('a bridge helper is refused, naming no-new-privileges', async () => {
    const a = await attempt(BRIDGE, {}, NNP);
    expect([a.exitCode, a.started, a.stdout]).toEqual([EXIT.usage, false, '']);
    expect(a.messages).toEqual([
      expect.stringMatching(
        /^qemu-sandboxed: preflight refused: '-netdev bridge,id=n0,br=br0' \(no-new-privileges\): .*setuid-root qemu-bridge-helper/,
      ),
      expect.stringMatching(/not starting QEMU \(1 preflight refusal\)/),
    ]);
  });

  test('control: without it the same command line starts, with nnp off', async () => {
    const a = await attempt(BRIDGE);
    expect([a.exitCode, a.started]).toEqual([0, true]);
    const rec = a.stderr.split('\n').find((l) => l.startsWith('{')) ?? '{}';
    expect(JSON.parse(rec)).toMatchObject({ msg: 'launch', noNewPrivs: false });
  });

  test('the launch record reports the inherited no-new-privileges', async () => {
    const a = await attempt(['-sandbox', 'on', 'pid'], {}, NNP);
    expect([a.exitCode, a.started]).toEqual([0, true]);
    const rec = a.stderr.split('\n').find((l) => l.startsWith('{')) ?? '{}';
    expect(JSON.parse(rec)).toMatchObject({ msg: 'launch', noNewPrivs: true });
  });
});

describe('a /proc of another PID namespace', () => {
  test('is refused before anything is recorded from it (it would describe another process)', async () => {
    // unshare --pid --fork without --mount-proc: we are pid 1 here, /proc/1 is the host's init.
    const a = await attempt(['-sandbox', 'on,spawn=deny', 'pid'], {}, [
      '/usr/bin/unshare',
      '--pid',
      '--fork',
    ]);
    expectRefused(a, /^qemu-sandboxed: \/proc belongs to another PID namespace .*--mount-proc/);
  });

  test('control: with its own /proc the same launch runs', async () => {
    const a = await attempt(['-sandbox', 'on,spawn=deny', 'pid'], {}, [
      '/usr/bin/unshare',
      '--pid',
      '--fork',
      '--mount-proc',
    ]);
    expect([a.exitCode, a.started]).toEqual([0, true]);
  });
});

describe("libvirt's capability probe under a strict site default", () => {
  // libvirt probes QEMU with this command line and no -sandbox, so the site
  // default applies; spawn=deny there would make every capability probe fail.
  const PROBE = [
    ...['-S', '-no-user-config', '-nodefaults', '-nographic', '-machine', 'none,accel=kvm:tcg'],
    ...['-qmp', 'unix:/tmp/qs-caps.sock,server=on,wait=off', '-pidfile', '/tmp/qs-caps.pid'],
    '-daemonize',
  ];
  test.each([
    ['on,spawn=deny', 'spawn=deny'],
    ['on,elevateprivileges=deny', 'elevateprivileges=deny'],
  ])('site default %s: refused, naming the probe and the config fix', async (sandbox, setting) => {
    const strict = join(dir, `strict-${setting}.json`);
    writeFileSync(strict, JSON.stringify({ sandbox }));
    const a = await attempt([...PROBE, 'state'], { QEMU_SANDBOXED_CONFIG: strict });
    const ctx = `$ ${a.command}\nexit=${a.exitCode}\nstderr:\n${a.stderr}`;
    if (a.started) throw new Error(`the probe (QEMU) was started:\n${ctx}`);
    expect(a.exitCode).toBe(EXIT.usage);
    expect(a.stdout).toBe('');
    const refusal = a.messages.find((l) => l.includes('preflight refused'));
    if (!refusal) throw new Error(`no "preflight refused" line:\n${ctx}`);
    expect(refusal).toContain(`'-daemonize' (${setting})`);
    expect(refusal).toMatch(/libvirt's capability probe .*site default applies/);
    expect(refusal).toMatch(new RegExp(`fix: take ${setting} out of the site default`));
  });
});

describe('fail closed: the filter cannot be loaded', () => {
  // The probe's wrap mode installs a filter of its own before it execs the
  // launcher, so the launcher's seccomp() fails as on a kernel that refuses.
  const denied = (how: 'all' | 'listener') => [probeBinary(), 'wrap', '--deny-seccomp', how, '--'];

  test('seccomp() refused (EPERM): exit 70, one line, QEMU never started', async () => {
    const a = await attempt(['-sandbox', 'on', 'pid'], {}, denied('all'));
    expectRefused(a, /filter.*EPERM/i, EXIT.software);
  });

  test('no user notification (spawn=deny needs the exec gate): exit non-zero, QEMU never started', async () => {
    const a = await attempt(['-sandbox', 'on,spawn=deny', 'pid'], {}, denied('listener'));
    if (a.exitCode !== EXIT.unavailable) expectRefused(a, /filter|gate|notif/i, EXIT.software);
    else expectRefused(a, /notif|gate/i, EXIT.unavailable);
  });

  test('controls: -sandbox off needs no filter; spawn=allow needs no listener', async () => {
    const off = await attempt(['-sandbox', 'off', 'pid'], {}, denied('all'));
    expect([off.exitCode, off.started]).toEqual([0, true]);
    const on = await attempt(['-sandbox', 'on', 'pid'], {}, denied('listener'));
    expect([on.exitCode, on.started]).toEqual([0, true]);
  });
});

describe('positive controls: the same harness sees the probe start', () => {
  test('a valid launch runs the probe (the marker appears, exit 0)', async () => {
    const a = await attempt(['-sandbox', 'on', 'pid']);
    expect([a.exitCode, a.started]).toEqual([0, true]);
  });

  test('preflight=warn turns a refusal into a warning: the probe runs', async () => {
    const a = await attempt(['-sandbox', 'on,spawn=deny,preflight=warn', '-daemonize', 'pid']);
    expect([a.exitCode, a.started]).toEqual([0, true]);
    expect(
      a.messages.some((l) => l.includes('preflight warning') && l.includes('-daemonize')),
    ).toBe(true);
  });

  test('-sandbox off refuses nothing: no filter, so nothing to break', async () => {
    const a = await attempt(['-sandbox', 'off', '-daemonize', 'pid']);
    expect([a.exitCode, a.started]).toEqual([0, true]);
  });

  test('-sandbox on,help prints the options on stdout and exits 1 (as QEMU 7.2 does) without starting QEMU', async () => {
    // As in QEMU, a bare `help` would be the implied enable= value (an error);
    // `help` as a later item asks for the list, and QEMU then exits 1.
    const a = await attempt(['-sandbox', 'on,help', 'state']);
    expect([a.exitCode, a.started]).toEqual([EXIT.usage, false]);
    expect(a.stdout).toMatch(/spawn/);
  });

  test('a #! wrapper as QEMU under spawn=deny is refused up front; with spawn=allow it runs', async () => {
    // Debian's qemu-system-i386 is such a wrapper: its exec of the real binary
    // would be a second exec, refused with ENOSYS once ours went through.
    const wrapper = join(dir, 'qemu-wrapper.sh');
    writeFileSync(wrapper, `#!/bin/sh\nexec '${probe}' "$@"\n`);
    chmodSync(wrapper, 0o755);
    const refused = await attempt(['-sandbox', 'on,spawn=deny', 'state'], {
      QEMU_SANDBOXED_BINARY: wrapper,
    });
    expect(refused.started).toBe(false);
    expect(refused.exitCode).toBe(EXIT.usage);
    expect(refused.messages.join('\n')).toMatch(
      /preflight refused: '.*qemu-wrapper\.sh' \(spawn=deny\): the QEMU binary is a script \(#!\/bin\/sh\)/,
    );
    const allowed = await attempt(['-sandbox', 'on', 'state'], { QEMU_SANDBOXED_BINARY: wrapper });
    expect(allowed.started).toBe(true);
    expect(allowed.exitCode).toBe(0);
  });

  test('-sandbox off with a non-executable binary still fails: nothing bypasses the checks', async () => {
    const noexec = join(dir, 'qemu-noexec2');
    copyFileSync(probeBinary(), noexec);
    chmodSync(noexec, 0o600);
    const a = await attempt(['-sandbox', 'off', 'state'], { QEMU_SANDBOXED_BINARY: noexec });
    expect(a.started).toBe(false);
    expect(a.exitCode).toBe(EXIT.cannotExecute);
  });
});
