import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { atLeast, probeHost } from '../../../src/cli/host';
import { json, run } from './run';
import { nullable, schemaErrors, type Schema } from './schema';
import { tempDir } from '../../helpers/tmp';

const tmp = tempDir('qs-doctor-');

function fakeProc(name: string, files: Record<string, string>): string {
  const root = join(tmp, name);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

describe('probeHost', () => {
  test('a full modern kernel', () => {
    const root = fakeProc('modern', {
      'proc/self/status':
        'Name:\tnode\nCapEff:\t000001ffffffffff\nNoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n',
      'proc/sys/kernel/seccomp/actions_avail':
        'kill_process kill_thread trap errno user_notif trace log allow\n',
      'proc/sys/kernel/seccomp/actions_logged':
        'kill_process kill_thread trap errno user_notif trace log\n',
    });
    expect(probeHost(root, '6.18.44-fc')).toMatchObject({
      seccomp: true,
      seccompFilter: true,
      killProcess: true,
      userNotif: true,
      log: true,
      actionCache: true,
      noNewPrivs: true,
      noNewPrivsSet: false,
      currentSeccompMode: 0,
      capSysAdmin: true,
    });
  });

  test('an old kernel: no USER_NOTIF, no LOG, no cache; already filtered, nnp set, no CAP_SYS_ADMIN', () => {
    const root = fakeProc('old', {
      'proc/self/status': 'CapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n',
      'proc/sys/kernel/seccomp/actions_avail': 'kill_process kill_thread trap errno trace allow\n',
    });
    expect(probeHost(root, '4.19.0')).toMatchObject({
      seccompFilter: true,
      killProcess: true,
      userNotif: false,
      log: false,
      actionCache: false,
      noNewPrivsSet: true,
      currentSeccompMode: 2,
      capSysAdmin: false,
    });
  });

  test('no seccomp filter mode, no seccomp at all', () => {
    expect(
      probeHost(fakeProc('strict', { 'proc/self/status': 'Seccomp:\t0\n' }), '3.10.0'),
    ).toMatchObject({
      seccomp: true,
      seccompFilter: false,
      killProcess: false,
    });
    expect(
      probeHost(fakeProc('none', { 'proc/self/status': 'Name:\tx\n' }), '3.10.0'),
    ).toMatchObject({
      seccomp: false,
      seccompFilter: false,
    });
  });

  test('kernel version comparisons', () => {
    expect(atLeast('5.11.0', 5, 11)).toBe(true);
    expect(atLeast('5.10.200', 5, 11)).toBe(false);
    expect(atLeast('6.1', 5, 11)).toBe(true);
    expect(atLeast('garbage', 3, 5)).toBe(false);
  });
});

/** A stand-in QEMU: prints a version, and refuses -sandbox like a build without seccomp. */
function fakeQemu(): string {
  const p = join(tmp, 'qemu-system-fake');
  writeFileSync(
    p,
    '#!/bin/sh\ncase "$1" in -sandbox) echo "qemu-system-fake: -sandbox on: There is no option group \'sandbox\'" >&2; exit 1;; esac\n' +
      'echo "QEMU emulator version 0.0.1 (fake)"\n',
  );
  chmodSync(p, 0o755);
  return p;
}

const doctorSchema: Schema = {
  object: {
    host: {
      object: {
        kernel: 'string',
        seccomp: 'boolean',
        seccompFilter: 'boolean',
        actionsAvail: { arrayOf: 'string' },
        actionsLogged: { arrayOf: 'string' },
        killProcess: 'boolean',
        userNotif: 'boolean',
        log: 'boolean',
        actionCache: 'boolean',
        noNewPrivs: 'boolean',
        noNewPrivsSet: 'boolean',
        currentSeccompMode: 'number',
        capSysAdmin: 'boolean',
        abi: 'string',
        secondaryAbis: { arrayOf: 'string' },
        landlock: { object: { abi: 'number', reason: nullable('string') } },
      },
      optional: ['currentSeccompMode'],
    },
    config: {
      object: {
        path: nullable('string'),
        sandbox: nullable('string'),
        binary: nullable('string'),
        error: nullable('string'),
      },
    },
    qemu: {
      object: {
        binary: nullable('string'),
        source: 'string',
        version: nullable('string'),
        ownSandbox: nullable('boolean'),
        error: nullable('string'),
      },
    },
    preflight: nullable({
      object: {
        policy: 'string',
        noNewPrivs: 'boolean',
        mode: 'string',
        findings: {
          arrayOf: {
            object: {
              arg: 'string',
              group: 'string',
              setting: 'string',
              message: 'string',
              fix: 'string',
            },
          },
        },
        verdict: 'string',
        files: nullable({
          object: {
            rules: { arrayOf: { object: { path: 'string', access: 'string', why: 'string' } } },
            prepare: { arrayOf: { object: { action: 'string', path: 'string' } } },
          },
        }),
      },
    }),
    problems: { arrayOf: 'string' },
  },
};

describe('doctor on this host', () => {
  test('the binary from QEMU_SANDBOXED_BINARY, its version and missing -sandbox', async () => {
    const qemu = fakeQemu();
    const r = await run(['doctor', '--json'], { env: { QEMU_SANDBOXED_BINARY: qemu } });
    const d = json(r) as { qemu: unknown; problems: string[]; preflight: unknown };
    expect(schemaErrors(d, doctorSchema)).toEqual([]);
    expect(d.qemu).toEqual({
      binary: qemu,
      source: 'from QEMU_SANDBOXED_BINARY',
      version: 'QEMU emulator version 0.0.1 (fake)',
      ownSandbox: false,
      error: null,
    });
    expect(d.preflight).toBeNull();
    // This machine supports everything (Linux 6.18 with seccomp user notification, TSYNC_ESRCH and the action cache).
    expect(d.problems).toEqual([]);
    expect(r.code).toBe(0);
  });

  test('preflight: refused command line exits 1 and names the argument', async () => {
    const r = await run(['doctor', '--', '-sandbox', 'on,spawn=deny', '-daemonize'], {
      env: { QEMU_SANDBOXED_BINARY: fakeQemu() },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ {2}verdict +REFUSED$/m);
    expect(r.stdout).toMatch(/^ {2}- '-daemonize' \(spawn=deny\): /m);
    expect(r.stderr).toBe('qemu-sandbox: 1 problem found\n');
  });

  test('preflight=warn: findings, but the launcher would start', async () => {
    const r = await run(
      ['doctor', '--json', '--', '-sandbox', 'on,spawn=deny,preflight=warn', '-daemonize'],
      {
        env: { QEMU_SANDBOXED_BINARY: fakeQemu() },
      },
    );
    expect(r.code).toBe(0);
    const d = json(r) as {
      preflight: { verdict: string; findings: unknown[]; noNewPrivs: boolean };
    };
    expect(d.preflight.verdict).toBe('warnings');
    expect(d.preflight.findings).toHaveLength(1);
  });

  test('the real QEMU on PATH: its version, and its own -sandbox is detected', async () => {
    // scripts/setup.sh installs qemu-system-x86 (Debian's is built with seccomp).
    const r = await run(['doctor', '--json']);
    const d = json(r) as { qemu: { binary: string | null; version: string; ownSandbox: boolean } };
    if (d.qemu.binary === null)
      throw new Error('no qemu-system-<host arch> on PATH: npm run setup installs it');
    expect(d.qemu).toMatchObject({
      source: 'qemu-system-<host arch>',
      version: expect.stringMatching(/^QEMU emulator version \d+\.\d+/),
      ownSandbox: true,
    });
  });

  test('-netdev bridge: refused under spawn=deny (the helper is exec-ed), fine by default', async () => {
    const env = { QEMU_SANDBOXED_BINARY: fakeQemu() };
    const refused = await run(
      ['doctor', '--', '-sandbox', 'on,spawn=deny', '-netdev', 'bridge,id=n'],
      {
        env,
      },
    );
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^ {2}- '-netdev bridge,id=n' \(spawn=deny\): /m);
    expect(refused.stdout).toMatch(/^ {4}fix: /m);
    const ok = await run(['doctor', '--', '-netdev', 'bridge,id=n'], { env });
    expect([ok.code, ok.stderr]).toEqual([0, '']);
    expect(ok.stdout).toMatch(/^ {2}verdict +ok: the launcher would start QEMU$/m);
  });

  test('files=deny: the Landlock ABI, the rules for the command line, and what it refuses', async () => {
    const dir = join(tmp, 'files');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'disk.raw'), '');
    const env = { QEMU_SANDBOXED_BINARY: fakeQemu() };
    const ok = await run(
      [
        'doctor',
        '--json',
        '--',
        '-sandbox',
        'on,files=deny',
        '-drive',
        `file=${join(dir, 'disk.raw')},format=raw`,
        '-pidfile',
        join(dir, 'qemu.pid'),
      ],
      { env },
    );
    const d = json(ok) as {
      host: { landlock: { abi: number } };
      preflight: {
        verdict: string;
        files: { rules: { path: string; access: string }[]; prepare: unknown[] };
      };
    };
    expect(schemaErrors(d, doctorSchema)).toEqual([]);
    // Landlock is built in and enabled on the machines this suite runs on (Linux 6.12+).
    expect(d.host.landlock.abi).toBeGreaterThanOrEqual(6);
    expect(d.preflight.verdict).toBe('ok');
    expect(d.preflight.files.rules).toEqual(
      expect.arrayContaining([
        {
          path: join(dir, 'disk.raw'),
          access: 'read,write,truncate',
          why: expect.stringContaining('disk image'),
        },
        {
          path: join(dir, 'qemu.pid'),
          access: 'write,truncate',
          why: expect.stringContaining('pidfile'),
        },
      ]),
    );
    expect(d.preflight.files.prepare).toEqual([
      { action: 'create empty', path: join(dir, 'qemu.pid') },
    ]);
    // Doctor only looks: the pidfile is not made.
    expect(existsSync(join(dir, 'qemu.pid'))).toBe(false);

    const refused = await run(['doctor', '--', '-sandbox', 'on,files=deny', '-display', 'gtk'], {
      env,
    });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^ {2}Landlock +ABI \d+: /m);
    expect(refused.stdout).toMatch(/^ {2}- '-display gtk' \(files=deny\): /m);
    expect(refused.stdout).toMatch(/^files=deny: QEMU may use \(\d+ rules\)$/m);
  });

  test('a missing binary is a problem, reported with the launcher message', async () => {
    const r = await run(['doctor'], { env: { QEMU_SANDBOXED_BINARY: '/nonexistent/qemu' } });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /QEMU binary '\/nonexistent\/qemu' \(from QEMU_SANDBOXED_BINARY\) not found/,
    );
  });

  test('a malformed -sandbox in the QEMU args is an input error', async () => {
    const r = await run(['doctor', '--', '-sandbox', 'on,foo=1'], {
      env: { QEMU_SANDBOXED_BINARY: fakeQemu() },
    });
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd()).toBe("qemu-sandbox: -sandbox on,foo=1: Invalid parameter 'foo'");
  });
});
