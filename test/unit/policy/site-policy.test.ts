/**
 * The policy of a launch from the site config and the command line: config
 * strings without on/off mean on, the merge order site default < vms[NAME] <
 * -sandbox, and the minimum as a floor (each key's strictness order).
 */
import {
  BUILT_IN_DEFAULT,
  DEFAULT_POLICY,
  POLICY_FIELDS,
  SANDBOX_KEYS,
  STRICTNESS,
  SandboxOptionError,
  parseMinimum,
  policyToString,
  policyValue,
  resolveLaunchPolicy,
  tighteningWarning,
  validateConfig,
  vmNameOf,
  type SandboxKey,
  type SiteConfig,
} from '../../../src/policy';

const PATH = '/etc/qemu-sandboxed/config.json';

/** A config as loadConfig would return it for this JSON. */
function config(json: Record<string, unknown>): SiteConfig {
  return validateConfig(json, PATH);
}

function launch(site: Record<string, unknown>, sandboxValues: string[] = [], vm?: string) {
  return resolveLaunchPolicy({ config: config(site), sandboxValues, vm });
}

describe('a config string without on/off means on plus its keys', () => {
  test('sandbox "spawn=deny" is on,spawn=deny, never off', () => {
    const lp = launch({ sandbox: 'spawn=deny' });
    expect(lp.policy).toEqual({ ...DEFAULT_POLICY, spawn: 'deny' });
    expect(lp.origins.enable).toBe(`sandbox in ${PATH}`);
    expect(lp.origins.spawn).toBe(`sandbox in ${PATH}`);
    expect(lp.origins.network).toBe(BUILT_IN_DEFAULT);
  });

  test('an empty sandbox string is on; "off" and enable=no stay off', () => {
    expect(launch({ sandbox: '' }).policy).toEqual(DEFAULT_POLICY);
    expect(launch({ sandbox: 'off' }).policy.enable).toBe(false);
    expect(launch({ sandbox: 'enable=no,spawn=deny' }).policy.enable).toBe(false);
  });

  test('a vms string without on/off turns a site default of off on for that VM', () => {
    const lp = launch({ sandbox: 'off', vms: { web1: 'network=deny' } }, [], 'web1');
    expect(lp.policy).toEqual({ ...DEFAULT_POLICY, network: 'deny' });
    expect(lp.origins.enable).toBe(`vms.web1 in ${PATH}`);
  });

  test('a -sandbox without on/off still inherits enable, as QEMU merges option sets', () => {
    expect(launch({ sandbox: 'off' }, ['spawn=deny']).policy.enable).toBe(false);
    expect(launch({ sandbox: 'on' }, ['spawn=deny']).policy).toEqual({
      ...DEFAULT_POLICY,
      spawn: 'deny',
    });
  });

  test('with no config file at all the built-in "on" applies', () => {
    const lp = resolveLaunchPolicy({ config: {}, sandboxValues: [] });
    expect(lp.policy).toEqual(DEFAULT_POLICY);
    expect(lp.base).toBe('on');
    expect(lp.origins.enable).toBe(BUILT_IN_DEFAULT);
  });
});

describe('merge order: site default < vms[NAME] < -sandbox', () => {
  const site = {
    sandbox: 'on,action=log,network=deny',
    vms: { web1: 'action=errno,spawn=deny', db: 'off' },
  };

  test('the VM entry overrides the site default, key by key', () => {
    const lp = launch(site, [], 'web1');
    expect(lp.policy).toEqual({
      ...DEFAULT_POLICY,
      network: 'deny',
      spawn: 'deny',
      action: 'errno',
    });
    expect(lp.vm).toBe('web1');
    expect(lp.vmPolicy).toBe('action=errno,spawn=deny');
    expect(lp.origins).toMatchObject({
      enable: `vms.web1 in ${PATH}`,
      network: `sandbox in ${PATH}`,
      spawn: `vms.web1 in ${PATH}`,
      action: `vms.web1 in ${PATH}`,
      obsolete: BUILT_IN_DEFAULT,
    });
  });

  test('the command line overrides the VM entry', () => {
    const lp = launch(site, ['spawn=allow', 'action=kill'], 'web1');
    expect(lp.policy).toEqual({ ...DEFAULT_POLICY, network: 'deny' });
    expect(lp.origins).toMatchObject({ spawn: '-sandbox', action: '-sandbox' });
  });

  test('a VM without an entry, and a launch without a name, get the site default', () => {
    const other = launch(site, [], 'other');
    expect(other.vmPolicy).toBeNull();
    expect(other.policy).toEqual(launch(site).policy);
    expect(launch(site).vm).toBeNull();
  });

  test('a VM entry of off, and a command line that turns it back on', () => {
    expect(launch(site, [], 'db').policy.enable).toBe(false);
    const on = launch(site, ['on'], 'db');
    expect(on.policy).toEqual({ ...DEFAULT_POLICY, network: 'deny', action: 'log' });
    expect(on.origins.enable).toBe('-sandbox');
  });

  test('a bad command-line value is blamed on the command line, not the config', () => {
    expect(() => launch(site, ['on,spawn=maybe'], 'web1')).toThrow(
      new SandboxOptionError('invalid argument for spawn', {
        value: 'on,spawn=maybe',
        origin: '-sandbox',
      }),
    );
  });
});

describe('the minimum: a floor no command line lowers', () => {
  test('-sandbox off under a minimum of on,spawn=deny runs on,spawn=deny, and says so', () => {
    const lp = launch({ minimum: 'on,spawn=deny' }, ['off']);
    expect(lp.requested.enable).toBe(false);
    expect(lp.policy).toEqual({ ...DEFAULT_POLICY, spawn: 'deny' });
    expect(lp.tightened).toEqual([
      { key: 'enable', from: 'off', to: 'on', source: '-sandbox' },
      { key: 'spawn', from: 'allow', to: 'deny', source: BUILT_IN_DEFAULT },
    ]);
    expect(lp.origins).toMatchObject({
      enable: `minimum in ${PATH}`,
      spawn: `minimum in ${PATH}`,
      network: BUILT_IN_DEFAULT,
    });
    expect(tighteningWarning(lp)).toBe(
      `the minimum in ${PATH} raised this launch's policy: enable off -> on (-sandbox), spawn allow -> deny (built-in default)`,
    );
  });

  test('keys merged before -sandbox off come back with the filter', () => {
    const lp = launch({ sandbox: 'on,network=deny', minimum: 'on' }, ['off']);
    expect(lp.policy).toEqual({ ...DEFAULT_POLICY, network: 'deny' });
  });

  test('turned back on, an invalid key that off had hidden is an error naming its source', () => {
    expect(() => launch({ minimum: 'on' }, ['off,spawn=maybe'])).toThrow(
      '-sandbox off,spawn=maybe: invalid argument for spawn',
    );
  });

  test('only the keys it names are floored: "on" alone still allows action=log and obsolete=allow', () => {
    const lp = launch({ minimum: 'on' }, ['on,action=log,obsolete=allow']);
    expect(lp.policy).toEqual({ ...DEFAULT_POLICY, action: 'log', obsolete: 'allow' });
    expect(lp.tightened).toEqual([]);
    expect(tighteningWarning(lp)).toBeUndefined();
  });

  test('a stricter command line is kept', () => {
    const lp = launch({ minimum: 'on,action=errno,elevateprivileges=deny' }, [
      'on,action=kill,elevateprivileges=children',
    ]);
    expect(lp.policy).toMatchObject({ action: 'kill', elevatePrivileges: 'children' });
    expect(lp.tightened).toEqual([]);
  });

  test('raising keys nobody set needs no warning line (the record still lists them)', () => {
    const lp = launch({ minimum: 'on,spawn=deny' });
    expect(lp.tightened).toEqual([
      { key: 'spawn', from: 'allow', to: 'deny', source: BUILT_IN_DEFAULT },
    ]);
    expect(tighteningWarning(lp)).toBeUndefined();
  });

  test('the site default and a VM entry are floored too', () => {
    const site = { sandbox: 'off', vms: { web1: 'action=log' }, minimum: 'action=trap' };
    const any = launch(site);
    expect(any.policy).toEqual({ ...DEFAULT_POLICY, action: 'kill' });
    expect(any.tightened).toEqual([
      { key: 'enable', from: 'off', to: 'on', source: `sandbox in ${PATH}` },
    ]);
    const web1 = launch(site, [], 'web1');
    expect(web1.policy).toEqual({ ...DEFAULT_POLICY, action: 'trap' });
    expect(web1.tightened).toEqual([
      { key: 'action', from: 'log', to: 'trap', source: `vms.web1 in ${PATH}` },
    ]);
  });

  test('libvirt: its -sandbox string under a minimum it already meets changes nothing', () => {
    const libvirt = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';
    const lp = launch({ minimum: 'on,obsolete=deny,spawn=deny' }, [libvirt], 'guest1');
    expect(lp.tightened).toEqual([]);
    expect(policyToString(lp.policy)).toBe(
      'on,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    );
  });

  test('parseMinimum: always on; off is refused', () => {
    expect([...parseMinimum('spawn=deny', 'minimum').keys]).toEqual([
      ['spawn', 'deny'],
      ['enable', 'on'],
    ]);
    expect(() => parseMinimum('off', 'minimum')).toThrow(/no floor at all/);
  });
});

describe('strictness, key by key: the result is the stricter of the two', () => {
  const VALUES: Record<Exclude<SandboxKey, 'enable'>, readonly string[]> = {
    obsolete: ['allow', 'deny'],
    elevateprivileges: ['allow', 'deny', 'children'],
    spawn: ['allow', 'deny'],
    resourcecontrol: ['allow', 'deny'],
    network: ['allow', 'deny'],
    action: ['log', 'errno', 'trap', 'kill'],
    preflight: ['warn', 'enforce'],
  };

  test('the documented orders', () => {
    expect(STRICTNESS).toEqual({ enable: ['off', 'on'], ...VALUES });
    // Every key has an order.
    expect(Object.keys(STRICTNESS).sort()).toEqual([...SANDBOX_KEYS].sort());
  });

  const cases: [string, string, string][] = [];
  for (const [key, values] of Object.entries(VALUES)) {
    for (const asked of values) for (const floor of values) cases.push([key, asked, floor]);
  }
  test.each(cases)('%s: -sandbox %s under a minimum of %s', (key, asked, floor) => {
    const k = key as Exclude<SandboxKey, 'enable'>;
    const lp = launch({ minimum: `on,${key}=${floor}` }, [`on,${key}=${asked}`]);
    const order = VALUES[k];
    const want = order.indexOf(asked) >= order.indexOf(floor) ? asked : floor;
    expect(policyValue(lp.policy, k)).toBe(want);
    expect(lp.policy[POLICY_FIELDS[k]]).toBe(want);
    expect(lp.tightened).toEqual(
      want === asked ? [] : [{ key, from: asked, to: floor, source: '-sandbox' }],
    );
  });
});

describe("the VM's name, as QEMU reads -name", () => {
  test.each([
    [['-name', 'web1'], 'web1'],
    [['-name', 'guest=web1,debug-threads=on'], 'web1'],
    [['-name', 'web1,process=qemu:web1'], 'web1'],
    [['--name', 'web1'], 'web1'],
    // ,, is a literal comma, as in every QemuOpts value.
    [['-name', 'a,,b'], 'a,b'],
    // Several -name merge (merge_lists): the last guest= wins.
    [['-name', 'one', '-name', 'guest=two'], 'two'],
    [['-name', 'one', '-name', 'debug-threads=on'], 'one'],
    [['-name', 'process=p'], undefined],
    [['-m', '128'], undefined],
    // A value that is another option's argument is not a name.
    [['-append', '-name x'], undefined],
    [['-name'], undefined],
  ])('%j -> %s', (args, name) => {
    expect(vmNameOf(args)).toBe(name);
  });
});
