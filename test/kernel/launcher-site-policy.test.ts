/**
 * The site config's policy keys with the real launcher and the probe as QEMU:
 * the kernel's view (Seccomp in /proc/self/status, a fork refused by the
 * spawn group) and the launch record must agree with the documented merge
 * order, site `sandbox` < `vms[NAME]` < `-sandbox`, then `minimum` as a floor.
 *
 * "The spawn group is in the filter" is shown three ways: the probe's fork
 * fails with EPERM (it succeeds without a filter: the controls), the probe
 * reports Seccomp: 2, and the record's filter hash is the hash of the program
 * compiled for that policy.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectHostAbi } from '../../src/arch';
import { compilePolicy } from '../../src/compiler';
import { parsePolicy } from '../../src/policy';
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
  type ProbeState,
} from '../helpers/probe';

jest.setTimeout(60000);

let dir = '';
let probe = '';
let setupError: Error | undefined;

beforeAll(async () => {
  try {
    probe = probeBinary();
    dir = scratchDir('site-policy');
    await requireWorkingLauncher(baseEnv(probe, emptyConfig(dir)));
  } catch (e) {
    setupError = e as Error;
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
/** A config file with these keys; returns its path. */
function siteConfig(keys: Record<string, unknown>): string {
  const path = join(dir, `config-${counter++}.json`);
  writeFileSync(path, JSON.stringify(keys));
  return path;
}

interface Launch {
  readonly run: ProbeRun;
  readonly seccomp: string;
  /** How the probe's fork ended: 'ok' or the errno name. */
  readonly fork: string;
  readonly record: Record<string, unknown>;
  /** stderr lines that are not the JSON record. */
  readonly messages: string[];
}

/** Launches the probe (`state`, then `fork`) under `config` with these launcher arguments. */
async function launch(
  config: string,
  launcherArgs: readonly string[],
  qemuArgs: readonly string[] = [],
): Promise<Launch> {
  if (setupError) throw setupError;
  const run = await runProbe({
    via: launcherArgs,
    qemuArgs,
    commands: [['state'], ['fork']],
    env: baseEnv(probe, config),
  });
  const ctx = describeRun(run);
  if (run.exitCode !== 0) throw new Error(`the launch failed:\n${ctx}`);
  const state = run.lines[0] as ProbeState | undefined;
  const fork = run.lines[1] as OpLine | undefined;
  if (state?.op !== 'state' || fork?.op !== 'fork') throw new Error(`unexpected output:\n${ctx}`);
  const lines = run.stderr.split('\n').filter((l) => l.trim() !== '');
  const records = lines.filter((l) => l.startsWith('{'));
  if (records.length !== 1) throw new Error(`expected one launch record:\n${ctx}`);
  return {
    run,
    seccomp: state.status.Seccomp,
    fork: fork.ret === -1 ? (fork.errname ?? `errno ${fork.errno}`) : 'ok',
    record: JSON.parse(records[0]) as Record<string, unknown>,
    messages: lines.filter((l) => !l.startsWith('{')),
  };
}

/** The hash of the program the launcher must load for `policy` on this host. */
function hashOf(policy: string): string {
  return compilePolicy(parsePolicy(policy, ''), detectHostAbi()).hash;
}

describe('a site "sandbox" without on/off means on plus its keys', () => {
  test('{"sandbox": "spawn=deny"}: the filter is loaded, with the spawn group', async () => {
    const config = siteConfig({ sandbox: 'spawn=deny' });
    const l = await launch(config, []);
    expect([l.seccomp, l.fork]).toEqual(['2', 'EPERM']);
    expect(l.record).toMatchObject({
      msg: 'launch',
      policy: 'on,spawn=deny',
      filterHash: hashOf('on,spawn=deny'),
      execGate: true,
      vm: null,
      tightened: null,
      policySources: { enable: `sandbox in ${config}`, spawn: `sandbox in ${config}` },
    });
    expect(l.messages).toEqual([]);
  });

  test('control: with an empty config the probe forks, under the default filter', async () => {
    const l = await launch(siteConfig({}), []);
    expect([l.seccomp, l.fork]).toEqual(['2', 'ok']);
    expect(l.record).toMatchObject({ policy: 'on', filterHash: hashOf('on') });
  });

  test('control: {"sandbox": "off"} still means off (no filter)', async () => {
    const l = await launch(siteConfig({ sandbox: 'off' }), []);
    expect([l.seccomp, l.fork]).toEqual(['0', 'ok']);
    expect(l.record).toMatchObject({ policy: 'off', filterHash: null });
  });
});

describe('the minimum: -sandbox off cannot go below it', () => {
  test('-sandbox off under a minimum of on,spawn=deny runs with the spawn group, and says it was raised', async () => {
    const config = siteConfig({ minimum: 'on,spawn=deny' });
    const l = await launch(config, ['-sandbox', 'off']);
    expect([l.seccomp, l.fork]).toEqual(['2', 'EPERM']);
    expect(l.record).toMatchObject({
      policy: 'on,spawn=deny',
      filterHash: hashOf('on,spawn=deny'),
      tightened: {
        reason: `minimum in ${config}`,
        requested: 'off',
        keys: [
          { key: 'enable', from: 'off', to: 'on', source: '-sandbox' },
          { key: 'spawn', from: 'allow', to: 'deny', source: 'built-in default' },
        ],
      },
      policySources: { enable: `minimum in ${config}`, spawn: `minimum in ${config}` },
    });
    // One warning line on stderr: the command line asked for less than the site allows.
    expect(l.messages).toEqual([
      `qemu-sandboxed: warning: the minimum in ${config} raised this launch's policy: enable off -> on (-sandbox), spawn allow -> deny (built-in default)`,
    ]);
  });

  test('a command line at or above the minimum is left alone: no record of a raise, no warning', async () => {
    const config = siteConfig({ minimum: 'on,spawn=deny' });
    const l = await launch(config, ['-sandbox', 'on,spawn=deny,elevateprivileges=deny']);
    expect(l.fork).toBe('EPERM');
    expect(l.record).toMatchObject({
      policy: 'on,elevateprivileges=deny,spawn=deny',
      tightened: null,
    });
    expect(l.messages).toEqual([]);
  });

  test('control: the same -sandbox off without a minimum runs with no filter', async () => {
    const l = await launch(siteConfig({}), ['-sandbox', 'off']);
    expect([l.seccomp, l.fork]).toEqual(['0', 'ok']);
    expect(l.record).toMatchObject({ policy: 'off', tightened: null });
  });
});

describe('per-VM policy: site default < vms[NAME] < -sandbox', () => {
  const keys = { sandbox: 'on,action=errno', vms: { web1: 'spawn=deny', db: 'off' } };

  test('-name guest=web1,...: the VM entry applies on top of the site default', async () => {
    const config = siteConfig(keys);
    const l = await launch(config, [], ['-name', 'guest=web1,debug-threads=on']);
    expect([l.seccomp, l.fork]).toEqual(['2', 'EPERM']);
    expect(l.record).toMatchObject({
      policy: 'on,spawn=deny,action=errno',
      filterHash: hashOf('on,spawn=deny,action=errno'),
      vm: 'web1',
      policySources: {
        enable: `vms.web1 in ${config}`,
        spawn: `vms.web1 in ${config}`,
        action: `sandbox in ${config}`,
        network: 'built-in default',
      },
    });
  });

  test('-name web1 (the short form) is the same VM', async () => {
    const l = await launch(siteConfig(keys), [], ['-name', 'web1']);
    expect(l.fork).toBe('EPERM');
    expect(l.record).toMatchObject({ vm: 'web1', policy: 'on,spawn=deny,action=errno' });
  });

  test('the command line wins over the VM entry', async () => {
    const config = siteConfig(keys);
    const l = await launch(config, ['-sandbox', 'spawn=allow'], ['-name', 'web1']);
    expect([l.seccomp, l.fork]).toEqual(['2', 'ok']);
    expect(l.record).toMatchObject({
      vm: 'web1',
      policy: 'on,action=errno',
      policySources: { spawn: '-sandbox', enable: `vms.web1 in ${config}` },
    });
  });

  test('another VM gets the site default; a VM entry of off runs without a filter', async () => {
    const other = await launch(siteConfig(keys), [], ['-name', 'other']);
    expect([other.seccomp, other.fork]).toEqual(['2', 'ok']);
    expect(other.record).toMatchObject({ vm: 'other', policy: 'on,action=errno' });
    const db = await launch(siteConfig(keys), [], ['-name', 'db']);
    expect([db.seccomp, db.fork]).toEqual(['0', 'ok']);
    expect(db.record).toMatchObject({ vm: 'db', policy: 'off' });
  });

  test('the minimum is a floor under the VM entry too', async () => {
    const config = siteConfig({ ...keys, minimum: 'on,spawn=deny' });
    const db = await launch(config, [], ['-name', 'db']);
    expect([db.seccomp, db.fork]).toEqual(['2', 'EPERM']);
    expect(db.record).toMatchObject({
      vm: 'db',
      tightened: {
        requested: 'off',
        keys: [
          { key: 'enable', from: 'off', to: 'on', source: `vms.db in ${config}` },
          { key: 'spawn', from: 'allow', to: 'deny', source: 'built-in default' },
        ],
      },
    });
  });
});
