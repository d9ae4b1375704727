/** The -sandbox grammar: QEMU's QemuOpts rules, our merge design, canonical strings. */
import {
  DEFAULT_POLICY,
  DEFAULT_POLICY_STRING,
  DISABLED_POLICY,
  SandboxOptionError,
  parsePolicy,
  parseSandboxOption,
  policyToString,
  resolveSandboxPolicy,
} from '../../../src/policy';
import type { SandboxPolicy } from '../../../src/policy';

/** The error a call throws, asserted to be a SandboxOptionError. */
function errorOf(fn: () => unknown): SandboxOptionError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SandboxOptionError);
    return e as SandboxOptionError;
  }
  throw new Error('expected a SandboxOptionError, nothing was thrown');
}

/** Stock QEMU's reading of one string: no default merged in. */
const alone = (s: string): SandboxPolicy => parsePolicy(s, '');

describe('booleans and the implied key', () => {
  test.each(['on', 'yes', 'true', 'y', 'enable=on', 'enable=yes', 'enable=true', 'enable=y'])(
    '%s enables',
    (s) => {
      expect(alone(s)).toEqual(DEFAULT_POLICY);
    },
  );

  test.each(['off', 'no', 'false', 'n', 'enable=off', 'enable=no', 'enable=false', 'enable=n'])(
    '%s disables',
    (s) => {
      expect(alone(s)).toEqual(DISABLED_POLICY);
      expect(parsePolicy(s)).toEqual(DISABLED_POLICY);
    },
  );

  test.each(['ON', 'On', 'Yes', 'TRUE', '1', '0', 'enabled', '', 'help'])(
    'enable=%s is refused with QEMU wording (qapi_bool_parse is case-sensitive)',
    (word) => {
      const e = errorOf(() => alone(`enable=${word}`));
      expect(e.detail).toBe("Parameter 'enable' expects 'on' or 'off'");
      expect(e.message).toBe(`-sandbox enable=${word}: Parameter 'enable' expects 'on' or 'off'`);
    },
  );

  test('the first item without = is the implied enable value, even "help"', () => {
    // get_opt_name_value() gives the first item to the implied key before it
    // ever checks for help, so QEMU says expects 'on' or 'off' here.
    expect(errorOf(() => alone('help')).detail).toBe("Parameter 'enable' expects 'on' or 'off'");
    expect(errorOf(() => alone('spawn')).detail).toBe("Parameter 'enable' expects 'on' or 'off'");
  });

  test('a leading comma gives enable an empty value', () => {
    expect(errorOf(() => alone(',on')).detail).toBe("Parameter 'enable' expects 'on' or 'off'");
  });

  test('a trailing comma is accepted, as QEMU does', () => {
    expect(alone('on,')).toEqual(DEFAULT_POLICY);
    expect(alone('on,spawn=deny,').spawn).toBe('deny');
  });

  test('without enable the sandbox is off in stock QEMU (qemu_opt_get_bool default false)', () => {
    expect(alone('spawn=deny')).toEqual(DISABLED_POLICY);
    expect(alone('')).toEqual(DISABLED_POLICY);
  });
});

describe('keys and values', () => {
  test('every key and value', () => {
    expect(
      alone(
        'on,obsolete=allow,elevateprivileges=children,spawn=deny,resourcecontrol=deny,network=deny,action=log,preflight=warn',
      ),
    ).toEqual({
      enable: true,
      obsolete: 'allow',
      elevatePrivileges: 'children',
      spawn: 'deny',
      resourceControl: 'deny',
      network: 'deny',
      action: 'log',
      preflight: 'warn',
    });
    expect(alone('on,elevateprivileges=deny').elevatePrivileges).toBe('deny');
    expect(alone('on,obsolete=deny').obsolete).toBe('deny');
    for (const a of ['kill', 'trap', 'errno', 'log'] as const) {
      expect(alone(`on,action=${a}`).action).toBe(a);
    }
    expect(alone('on,preflight=enforce').preflight).toBe('enforce');
  });

  test('libvirt default string', () => {
    expect(
      alone('on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny'),
    ).toEqual({
      ...DEFAULT_POLICY,
      elevatePrivileges: 'deny',
      spawn: 'deny',
      resourceControl: 'deny',
    });
  });

  test.each([
    ['on,foo=bar', "Invalid parameter 'foo'", '-sandbox on,foo=bar: '],
    ['on,Spawn=deny', "Invalid parameter 'Spawn'", ''],
    ['on,=deny', "Invalid parameter ''", ''],
    ['on,on', "Invalid parameter 'on'", ''],
    // The id item is skipped, so `on` is no longer first: a short-form boolean.
    ['id=x,on', "Invalid parameter 'on'", '-sandbox id=x,on: '],
  ])('%s -> %s', (s, detail, prefix) => {
    const e = errorOf(() => alone(s));
    expect(e.detail).toBe(detail);
    if (prefix) expect(e.message).toBe(`${prefix}${detail}`);
  });

  test.each([
    ['on,obsolete=yes', 'invalid argument for obsolete'],
    ['on,elevateprivileges=on', 'invalid argument for elevateprivileges'],
    ['on,spawn=no', 'invalid argument for spawn'],
    ['on,spawn=Deny', 'invalid argument for spawn'],
    ['on,resourcecontrol=', 'invalid argument for resourcecontrol'],
    ['on,network=off', 'invalid argument for network'],
    ['on,action=kill-thread', 'invalid argument for action'],
    ['on,preflight=off', 'invalid argument for preflight'],
  ])('%s -> %s', (s, detail) => {
    const e = errorOf(() => alone(s));
    expect(e.detail).toBe(detail);
    expect(e.message).toBe(`-sandbox ${s}: ${detail}`);
  });

  test('values are checked in parse_sandbox() order, not string order', () => {
    expect(errorOf(() => alone('on,spawn=x,obsolete=y')).detail).toBe(
      'invalid argument for obsolete',
    );
  });

  test('values are not checked when the result is disabled, like parse_sandbox()', () => {
    expect(alone('off,spawn=bogus')).toEqual(DISABLED_POLICY);
    // ... but unknown keys are refused at parse time either way.
    expect(errorOf(() => alone('off,bogus=1')).detail).toBe("Invalid parameter 'bogus'");
  });

  test(',, is a literal comma inside a value', () => {
    expect(errorOf(() => alone('on,spawn=deny,,x')).detail).toBe('invalid argument for spawn');
    expect(parseSandboxOption('on,spawn=a,,b').items).toEqual([
      { key: 'enable', value: 'on' },
      { key: 'spawn', value: 'a,b' },
    ]);
  });

  test('the last value of a key wins within one string', () => {
    expect(alone('on,spawn=deny,spawn=allow').spawn).toBe('allow');
    expect(alone('on,enable=off')).toEqual(DISABLED_POLICY);
  });
});

describe('id=, as QEMU 7.2 accepts it (checked against /usr/bin/qemu-system-x86_64)', () => {
  test('a well-formed id is accepted and changes nothing', () => {
    expect(alone('on,id=sb0')).toEqual(DEFAULT_POLICY);
    expect(alone('enable=on,id=a.b-c_1,spawn=deny')).toEqual({ ...DEFAULT_POLICY, spawn: 'deny' });
  });

  test('id does not take the implied enable slot', () => {
    expect(alone('on,id=x,spawn=deny').spawn).toBe('deny');
    expect(alone('id=x,enable=on').enable).toBe(true);
    expect(parseSandboxOption('on,id=x').items).toEqual([{ key: 'enable', value: 'on' }]);
    expect(parseSandboxOption('on,id=x').id).toBe('x');
  });

  test.each(['1x', 'a b', '', '-a', 'é', 'a/b'])('id=%s is not an identifier', (id) => {
    const e = errorOf(() => alone(`on,id=${id}`));
    expect(e.detail).toBe("Parameter 'id' expects an identifier");
    expect(e.message).toBe(
      `-sandbox on,id=${id}: Parameter 'id' expects an identifier\n` +
        "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.",
    );
  });

  test('the id is checked before the keys, as qemu_opts_create() runs first', () => {
    expect(errorOf(() => alone('on,foo=1,id=9')).detail).toBe(
      "Parameter 'id' expects an identifier",
    );
  });

  test('two -sandbox values with one id fail like QEMU; different ids merge', () => {
    const e = errorOf(() =>
      resolveSandboxPolicy(['on,id=a', 'spawn=deny,id=a'], { defaultString: '' }),
    );
    expect(e.message).toBe("-sandbox spawn=deny,id=a: Duplicate ID 'a' for sandbox");
    const r = resolveSandboxPolicy(['on,id=a', 'spawn=deny,id=b'], { defaultString: '' });
    expect(r.policy).toEqual({ ...DEFAULT_POLICY, spawn: 'deny' });
  });
});

describe('short-form booleans and help', () => {
  test('a later bare key is key=on with QEMU deprecation warning', () => {
    const r = resolveSandboxPolicy(['spawn=deny,enable'], { defaultString: '' });
    expect(r.policy.enable).toBe(true);
    expect(r.policy.spawn).toBe('deny');
    expect(r.warnings).toEqual([
      "-sandbox spawn=deny,enable: short-form boolean option 'enable' deprecated; Please use enable=on instead",
    ]);
  });

  test('noKEY is KEY=off', () => {
    expect(alone('on,noenable')).toEqual(DISABLED_POLICY);
    // A string key set to "off" is an invalid argument once enabled.
    expect(errorOf(() => alone('on,nospawn')).detail).toBe('invalid argument for spawn');
    expect(errorOf(() => alone('on,spawn')).detail).toBe('invalid argument for spawn');
  });

  test('help and ? after the first item print the option list', () => {
    for (const s of ['on,help', 'on,?']) {
      const e = errorOf(() => alone(s));
      expect(e.help).toBe(true);
      expect(e.message.split('\n')).toEqual([
        'sandbox options:',
        '  action=<str>',
        '  elevateprivileges=<str>',
        '  enable=<bool (on/off)>',
        '  network=<str>',
        '  obsolete=<str>',
        '  preflight=<str>',
        '  resourcecontrol=<str>',
        '  spawn=<str>',
      ]);
    }
    // nohelp is help=off: just an unknown key.
    expect(errorOf(() => alone('on,nohelp')).detail).toBe("Invalid parameter 'help'");
  });
});

describe('merging: default string, then each -sandbox in order', () => {
  test("no -sandbox and no config: on, with QEMU 7.2's defaults (only obsolete calls denied)", () => {
    // Written out, not DEFAULT_POLICY: the tests above compare parses with that
    // constant, so its values are pinned here. qemu-seccomp.c starts from
    // DEFAULT | OBSOLETE and every other set is opt-in; network, action and
    // preflight are ours.
    const pinned: SandboxPolicy = {
      enable: true,
      obsolete: 'deny',
      elevatePrivileges: 'allow',
      spawn: 'allow',
      resourceControl: 'allow',
      network: 'allow',
      action: 'kill',
      preflight: 'enforce',
    };
    expect(DEFAULT_POLICY).toEqual(pinned);
    expect(resolveSandboxPolicy([]).policy).toEqual(pinned);
    expect(parsePolicy(DEFAULT_POLICY_STRING, '')).toEqual(pinned);
  });

  test('keys without enable inherit it from the default', () => {
    expect(resolveSandboxPolicy(['spawn=deny']).policy).toEqual({
      ...DEFAULT_POLICY,
      spawn: 'deny',
    });
    // A default that is off stays off: spawn=deny alone does not switch it on.
    expect(resolveSandboxPolicy(['spawn=deny'], { defaultString: 'off' }).policy).toEqual(
      DISABLED_POLICY,
    );
  });

  test('-sandbox off disables, a later on re-enables keeping merged keys', () => {
    expect(resolveSandboxPolicy(['off']).policy).toEqual(DISABLED_POLICY);
    expect(resolveSandboxPolicy(['on,spawn=deny', 'off', 'on']).policy).toEqual({
      ...DEFAULT_POLICY,
      spawn: 'deny',
    });
  });

  test('the site default is merged first; the command line overrides it key by key', () => {
    const site = 'on,spawn=deny,network=deny';
    expect(resolveSandboxPolicy([], { defaultString: site }).policy).toEqual({
      ...DEFAULT_POLICY,
      spawn: 'deny',
      network: 'deny',
    });
    expect(resolveSandboxPolicy(['spawn=allow'], { defaultString: site }).policy).toEqual({
      ...DEFAULT_POLICY,
      network: 'deny',
    });
  });

  test('last value per key wins across -sandbox options, in order', () => {
    const r = resolveSandboxPolicy([
      'on,spawn=deny,resourcecontrol=deny',
      'spawn=allow',
      'action=trap',
    ]);
    expect(r.policy).toEqual({ ...DEFAULT_POLICY, resourceControl: 'deny', action: 'trap' });
    expect(r.sources.get('spawn')).toBe('-sandbox spawn=allow');
    expect(r.sources.get('resourcecontrol')).toBe('-sandbox on,spawn=deny,resourcecontrol=deny');
    expect(r.sources.get('enable')).toBe('-sandbox on,spawn=deny,resourcecontrol=deny');
  });

  test('an empty -sandbox changes nothing', () => {
    expect(resolveSandboxPolicy(['']).policy).toEqual(DEFAULT_POLICY);
  });

  test('an invalid value is blamed on the source that set it', () => {
    const e = errorOf(() => resolveSandboxPolicy(['spawn=maybe', 'network=deny']));
    expect(e.message).toBe('-sandbox spawn=maybe: invalid argument for spawn');
    const c = errorOf(() =>
      resolveSandboxPolicy([], {
        defaultString: 'on,action=die',
        defaultOrigin: 'sandbox in /x.json',
      }),
    );
    expect(c.message).toBe('sandbox in /x.json on,action=die: invalid argument for action');
  });

  test('a later value can repair an earlier invalid one (only the merged value is checked)', () => {
    expect(resolveSandboxPolicy(['spawn=maybe', 'spawn=deny']).policy.spawn).toBe('deny');
  });
});

describe('policyToString', () => {
  const all: SandboxPolicy[] = [];
  for (const enable of [true, false])
    for (const obsolete of ['allow', 'deny'] as const)
      for (const elevatePrivileges of ['allow', 'deny', 'children'] as const)
        for (const spawn of ['allow', 'deny'] as const)
          for (const resourceControl of ['allow', 'deny'] as const)
            for (const network of ['allow', 'deny'] as const)
              for (const action of ['kill', 'trap', 'errno', 'log'] as const)
                for (const preflight of ['enforce', 'warn'] as const)
                  all.push(
                    enable
                      ? {
                          enable,
                          obsolete,
                          elevatePrivileges,
                          spawn,
                          resourceControl,
                          network,
                          action,
                          preflight,
                        }
                      : DISABLED_POLICY,
                  );

  test('canonical forms', () => {
    expect(policyToString(DEFAULT_POLICY)).toBe('on');
    expect(policyToString(DISABLED_POLICY)).toBe('off');
    expect(
      policyToString({ ...DEFAULT_POLICY, spawn: 'deny', obsolete: 'allow', action: 'log' }),
    ).toBe('on,obsolete=allow,spawn=deny,action=log');
    expect(policyToString(DEFAULT_POLICY, { full: true })).toBe(
      'on,obsolete=deny,elevateprivileges=allow,spawn=allow,resourcecontrol=allow,network=allow,action=kill,preflight=enforce',
    );
  });

  test(`round-trips for all ${2 * 3 * 2 * 2 * 2 * 4 * 2 + 1} policies`, () => {
    for (const p of all) {
      expect(parsePolicy(policyToString(p))).toEqual(p);
      // The full form means the same whatever the default it is merged onto.
      const full = policyToString(p, { full: true });
      expect(parsePolicy(full, 'on,spawn=deny,network=deny,action=trap')).toEqual(p);
      expect(parsePolicy(full, '')).toEqual(p);
    }
  });
});
