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
const fakeQemuPath = join(tmp, 'qemu-system-fake');
function fakeQemu(): string {
  const p = fakeQemuPath;
  writeFileSync(
    p,
    '#!/bin/sh\ncase "$1" in -sandbox) echo "qemu-system-fake: -sandbox on: There is no option group \'sandbox\'" >&2; exit 1;; esac\n' +
      'echo "QEMU emulator version 0.0.1 (fake)"\n',
  );
  chmodSync(p, 0o755);
  return p;
}

const TIGHTENING: Schema = {
  object: { key: 'string', from: 'string', to: 'string', source: 'string' },
};
const EFFECTIVE: Schema = {
  object: { policy: 'string', requested: 'string', tightened: { arrayOf: TIGHTENING } },
};

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
        landlock: 'string',
        landlockAbi: { object: { abi: 'number', reason: nullable('string') } },
      },
      optional: ['currentSeccompMode'],
    },
    config: {
      object: {
        path: nullable('string'),
        sandbox: nullable('string'),
        minimum: nullable('string'),
        vms: nullable({ record: 'string' }),
        binary: nullable('string'),
        error: nullable('string'),
      },
    },
    policies: nullable({
      object: {
        site: EFFECTIVE,
        vms: { record: EFFECTIVE },
      },
    }),
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
        vm: nullable('string'),
        tightened: { arrayOf: TIGHTENING },
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
        refusal: nullable({ object: { message: 'string', exitCode: 'number' } }),
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
    const d = json(r) as {
      qemu: unknown;
      problems: string[];
      preflight: unknown;
      host: { landlock: string };
    };
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
    // Landlock ABI 6+ here: the launcher's domain, as doctor reports it.
    expect(d.host.landlock).toMatch(/^scoped signals and abstract sockets \(ABI ([6-9]|\d\d+)\)$/);
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
    // The launcher's own findings: -daemonize, and the fake QEMU being a #! script
    // (its exec of anything would be a second exec under spawn=deny).
    expect(d.preflight.findings).toEqual([
      expect.objectContaining({ arg: '-daemonize' }),
      expect.objectContaining({ arg: fakeQemuPath, message: expect.stringMatching(/script/) }),
    ]);
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
      host: { landlockAbi: { abi: number } };
      preflight: {
        verdict: string;
        files: { rules: { path: string; access: string }[]; prepare: unknown[] };
      };
    };
    expect(schemaErrors(d, doctorSchema)).toEqual([]);
    // Landlock is built in and enabled on the machines this suite runs on (Linux 6.12+).
    expect(d.host.landlockAbi.abi).toBeGreaterThanOrEqual(6);
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
    expect(refused.stdout).toMatch(/^ {2}files=deny +available \(Landlock ABI \d+\)$/m);
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

describe('doctor and the site policy: default, per-VM entries, minimum', () => {
  const siteEnv = (name: string, config: Record<string, unknown>): NodeJS.ProcessEnv => {
    const p = join(tmp, name);
    writeFileSync(p, JSON.stringify(config));
    return { QEMU_SANDBOXED_CONFIG: p, QEMU_SANDBOXED_BINARY: fakeQemu() };
  };

  test('a site default of off is a problem, named with the fix', async () => {
    const env = siteEnv('off.json', { sandbox: 'off' });
    const r = await run(['doctor'], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^policy without -sandbox\n {2}site default {2}off$/m);
    expect(r.stdout).toContain(
      `  - the site default policy is off ("sandbox" in ${env.QEMU_SANDBOXED_CONFIG}): every launch without -sandbox runs QEMU with no filter;`,
    );
  });

  test('a site default without on/off is on: no problem, and its effective policy is printed', async () => {
    const env = siteEnv('implied.json', { sandbox: 'spawn=deny' });
    const r = await run(['doctor'], { env });
    expect(r.stdout).toMatch(/^ {2}site default {2}on,spawn=deny$/m);
    expect(r.stdout).toMatch(/^no problems found$/m);
    expect(r.code).toBe(0);
  });

  test('the minimum and the VM entries: each effective policy, and what the minimum raised', async () => {
    const env = siteEnv('full.json', {
      sandbox: 'off',
      vms: { web1: 'network=deny,action=log', db: 'off' },
      minimum: 'on,action=errno',
    });
    const cfg = env.QEMU_SANDBOXED_CONFIG ?? '';
    const r = await run(['doctor', '--json'], { env });
    const d = json(r) as DoctorJsonShape;
    expect(schemaErrors(d, doctorSchema)).toEqual([]);
    expect(d.config).toMatchObject({
      sandbox: 'off',
      minimum: 'on,action=errno',
      vms: { web1: 'network=deny,action=log', db: 'off' },
    });
    expect(d.policies?.site.tightened).toEqual([
      { key: 'enable', from: 'off', to: 'on', source: `sandbox in ${cfg}` },
    ]);
    expect(d.policies?.vms.web1).toEqual({
      policy:
        'on,obsolete=deny,elevateprivileges=allow,spawn=allow,resourcecontrol=allow,network=deny,action=errno,preflight=enforce,files=allow',
      requested:
        'on,obsolete=deny,elevateprivileges=allow,spawn=allow,resourcecontrol=allow,network=deny,action=log,preflight=enforce,files=allow',
      tightened: [{ key: 'action', from: 'log', to: 'errno', source: `vms.web1 in ${cfg}` }],
    });
    // The minimum keeps both off entries on: nothing runs unfiltered, so no problem.
    expect(d.problems).toEqual([]);
    const text = await run(['doctor'], { env });
    expect(text.stdout).toMatch(/^ {2}vms\.web1 +network=deny,action=log$/m);
    expect(text.stdout).toMatch(/^ {2}minimum +on,action=errno$/m);
    expect(text.stdout).toMatch(
      /^ {2}vm db +on {2}\(raised by the minimum: enable off -> on \(vms\.db in .*\)\)$/m,
    );
  });

  test('a VM entry of off without a minimum is a problem', async () => {
    const env = siteEnv('vm-off.json', { vms: { db: 'off' } });
    const r = await run(['doctor'], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/- vms\.db in .* is off: VM db runs with no filter unless/);
  });

  test('QEMU ARGS: -name picks the VM entry, and the minimum is applied and shown', async () => {
    const env = siteEnv('args.json', {
      vms: { web1: 'network=deny' },
      minimum: 'on,spawn=deny',
    });
    const r = await run(
      ['doctor', '--json', '--', '-name', 'guest=web1', '-nic', 'none', '-sandbox', 'off'],
      {
        env,
      },
    );
    const d = json(r) as DoctorJsonShape;
    expect(d.preflight).toMatchObject({
      policy:
        'on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=allow,network=deny,action=kill,preflight=enforce,files=allow',
      vm: 'web1',
      tightened: [
        { key: 'enable', from: 'off', to: 'on', source: '-sandbox' },
        { key: 'spawn', from: 'allow', to: 'deny', source: 'built-in default' },
      ],
      // As the launcher decides: the fake QEMU is a #! script, which spawn=deny cannot run.
      verdict: 'refused',
      findings: [expect.objectContaining({ arg: fakeQemuPath, setting: 'spawn=deny' })],
    });
    // Under the raised policy, -daemonize is refused as the launcher would refuse it.
    const refused = await run(['doctor', '--', '-sandbox', 'off', '-daemonize'], { env });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(
      /^ {2}minimum +raised enable off -> on \(-sandbox\), spawn allow -> deny/m,
    );
    expect(refused.stdout).toMatch(/^ {2}- '-daemonize' \(spawn=deny\): /m);
  });
});

interface DoctorJsonShape {
  config: Record<string, unknown>;
  policies: {
    site: { policy: string; tightened: unknown[] };
    vms: Record<string, unknown>;
  } | null;
  preflight: Record<string, unknown> | null;
  problems: string[];
}
