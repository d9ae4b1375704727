/** The site config: missing default vs missing explicit vs malformed vs unknown keys. */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import {
  ConfigError,
  DEFAULT_CONFIG_PATH,
  MAX_CONFIG_BYTES,
  loadConfig,
  packageRoot,
  resolveSandboxPolicy,
} from '../../../src/policy';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'policy-config-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

test('the default path is the one the README documents', () => {
  const readme = fs.readFileSync(path.join(packageRoot(), 'README.md'), 'utf8');
  expect(readme).toContain(`\`${DEFAULT_CONFIG_PATH}\` (or \`$QEMU_SANDBOXED_CONFIG\`)`);
  expect(DEFAULT_CONFIG_PATH).toMatch(/^\/etc\/.*\.json$/);
});

test('no variable and no file at the default path: no config', () => {
  // The test machine has no /etc/qemu-sandboxed; if one appears, this test says so.
  expect(fs.existsSync(DEFAULT_CONFIG_PATH)).toBe(false);
  expect(loadConfig({})).toEqual({});
  expect(loadConfig({ QEMU_SANDBOXED_CONFIG: '' })).toEqual({});
});

test('a missing file at an explicitly named path is an error naming it', () => {
  const p = path.join(dir, 'nope.json');
  const e = configError({ QEMU_SANDBOXED_CONFIG: p });
  expect(e.path).toBe(p);
  expect(e.message).toBe(`config ${p}: no such file (named by QEMU_SANDBOXED_CONFIG)`);
});

test('naming the default path explicitly makes its absence an error too', () => {
  const e = configError({ QEMU_SANDBOXED_CONFIG: DEFAULT_CONFIG_PATH });
  expect(e.message).toContain('no such file');
});

test('a full config is read', () => {
  const p = write(
    'ok.json',
    '{"sandbox": "on,spawn=deny", "binary": "/usr/bin/qemu-system-x86_64"}',
  );
  const c = loadConfig({ QEMU_SANDBOXED_CONFIG: p });
  expect(c).toEqual({ sandbox: 'on,spawn=deny', binary: '/usr/bin/qemu-system-x86_64', path: p });
  // And it is the base every -sandbox merges onto.
  expect(resolveSandboxPolicy(['network=deny'], { defaultString: c.sandbox }).policy).toMatchObject(
    {
      enable: true,
      spawn: 'deny',
      network: 'deny',
    },
  );
});

test('an empty object is a valid config with nothing set', () => {
  const p = write('empty.json', '{}');
  expect(loadConfig({ QEMU_SANDBOXED_CONFIG: p })).toEqual({ path: p });
});

test('malformed JSON names the file and the JSON error', () => {
  const p = write('bad.json', '{"sandbox": "on",}');
  const e = configError({ QEMU_SANDBOXED_CONFIG: p });
  expect(e.message).toMatch(new RegExp(`^config ${p}: malformed JSON: .+`));
  // Node's JSON.parse message, whatever its exact wording, is carried through.
  let jsonMessage = '';
  try {
    JSON.parse('{"sandbox": "on",}');
  } catch (err) {
    jsonMessage = (err as Error).message;
  }
  expect(e.message).toContain(jsonMessage);
});

test('unknown keys are errors (a typo must not drop a policy)', () => {
  const p = write('typo.json', '{"sandbx": "on,spawn=deny"}');
  expect(configError({ QEMU_SANDBOXED_CONFIG: p }).message).toBe(
    `config ${p}: unknown key "sandbx" (known: sandbox, vms, minimum, binary)`,
  );
  const q = write('typos.json', '{"sandbox": "on", "a": 1, "b": 2}');
  expect(configError({ QEMU_SANDBOXED_CONFIG: q }).message).toContain('unknown keys "a", "b"');
});

test.each([
  ['[]', 'expected a JSON object'],
  ['"on"', 'expected a JSON object'],
  ['null', 'expected a JSON object'],
  ['{"sandbox": true}', '"sandbox" must be a -sandbox string'],
  ['{"binary": ""}', '"binary" must be a non-empty string'],
  ['{"binary": 7}', '"binary" must be a non-empty string'],
])('bad shape %s', (text, msg) => {
  const p = write('shape.json', text);
  expect(configError({ QEMU_SANDBOXED_CONFIG: p }).message).toContain(msg);
});

test('a bad sandbox string fails at load, with QEMU wording and the file name', () => {
  const p = write('badpolicy.json', '{"sandbox": "on,spawn=sometimes"}');
  expect(configError({ QEMU_SANDBOXED_CONFIG: p }).message).toBe(
    `config ${p}: sandbox on,spawn=sometimes: invalid argument for spawn`,
  );
  const q = write('badkey.json', '{"sandbox": "on,foo=1"}');
  expect(configError({ QEMU_SANDBOXED_CONFIG: q }).message).toBe(
    `config ${q}: sandbox on,foo=1: Invalid parameter 'foo'`,
  );
});

describe('the config must be a regular file of at most 1 MiB, refused without blocking', () => {
  test('a directory', () => {
    expect(configError({ QEMU_SANDBOXED_CONFIG: dir }).message).toBe(
      `config ${dir}: is a directory, not a regular file: refused without reading it`,
    );
  });

  test('a character device that never ends (/dev/zero) and one that is empty (/dev/null)', () => {
    for (const dev of ['/dev/zero', '/dev/null']) {
      expect(configError({ QEMU_SANDBOXED_CONFIG: dev }).message).toBe(
        `config ${dev}: is a character device, not a regular file: refused without reading it`,
      );
    }
  });

  test('a FIFO with no writer (reading it would block forever)', () => {
    const fifo = path.join(dir, 'config.fifo');
    execFileSync('mkfifo', [fifo]);
    expect(configError({ QEMU_SANDBOXED_CONFIG: fifo }).message).toBe(
      `config ${fifo}: is a FIFO, not a regular file: refused without reading it`,
    );
  });

  test('a socket', async () => {
    const sock = path.join(dir, 'config.sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      expect(configError({ QEMU_SANDBOXED_CONFIG: sock }).message).toMatch(
        /is a socket, not a regular file/,
      );
    } finally {
      server.close();
    }
  });

  test('a file larger than 1 MiB, and one of exactly 1 MiB', () => {
    expect(MAX_CONFIG_BYTES).toBe(1024 * 1024);
    const big = write('big.json', `{"sandbox": "on"}${' '.repeat(MAX_CONFIG_BYTES)}`);
    expect(configError({ QEMU_SANDBOXED_CONFIG: big }).message).toBe(
      `config ${big}: is ${MAX_CONFIG_BYTES + 17} bytes, more than the ${MAX_CONFIG_BYTES} a config may have: refused without reading it`,
    );
    const edge = '{"sandbox": "on"}';
    const exact = write('exact.json', edge + ' '.repeat(MAX_CONFIG_BYTES - edge.length));
    expect(loadConfig({ QEMU_SANDBOXED_CONFIG: exact })).toEqual({ sandbox: 'on', path: exact });
  });

  test('a symlink to a regular file is read; one to a device is refused', () => {
    const target = write('target.json', '{"sandbox": "on"}');
    const link = path.join(dir, 'link.json');
    fs.symlinkSync(target, link);
    expect(loadConfig({ QEMU_SANDBOXED_CONFIG: link }).sandbox).toBe('on');
    const devLink = path.join(dir, 'zero.json');
    fs.symlinkSync('/dev/zero', devLink);
    expect(configError({ QEMU_SANDBOXED_CONFIG: devLink }).message).toMatch(/character device/);
  });
});

describe('minimum and vms', () => {
  test('both are read and checked', () => {
    const p = write(
      'full.json',
      '{"sandbox": "on", "minimum": "on,spawn=deny", "vms": {"web1": "network=deny", "db": "off"}}',
    );
    const c = loadConfig({ QEMU_SANDBOXED_CONFIG: p });
    expect(c.minimum).toBe('on,spawn=deny');
    expect([...(c.vms ?? new Map())]).toEqual([
      ['web1', 'network=deny'],
      ['db', 'off'],
    ]);
  });

  test.each([
    ['{"minimum": 1}', '"minimum" must be a -sandbox string'],
    ['{"minimum": "off"}', 'minimum off: a minimum of off would be no floor at all'],
    ['{"minimum": "enable=no,spawn=deny"}', 'a minimum of off would be no floor at all'],
    ['{"minimum": "on,spawn=never"}', 'minimum on,spawn=never: invalid argument for spawn'],
    ['{"minimum": "on,bogus=1"}', "minimum on,bogus=1: Invalid parameter 'bogus'"],
    ['{"vms": ["web1"]}', '"vms" must map VM names to -sandbox strings'],
    ['{"vms": "web1"}', '"vms" must map VM names to -sandbox strings'],
    ['{"vms": {"web1": true}}', 'vms.web1 must be a -sandbox string'],
    ['{"vms": {"": "on"}}', '"vms" has an empty VM name'],
    ['{"vms": {"web1": "on,action=die"}}', 'vms.web1 on,action=die: invalid argument for action'],
    // Checked even when it says off: another source could turn the sandbox on.
    [
      '{"vms": {"web1": "off,spawn=maybe"}}',
      'vms.web1 off,spawn=maybe: invalid argument for spawn',
    ],
    ['{"sandbox": "off,network=maybe"}', 'sandbox off,network=maybe: invalid argument for network'],
  ])('%s', (text, msg) => {
    const p = write('bad-shape.json', text);
    expect(configError({ QEMU_SANDBOXED_CONFIG: p }).message).toContain(msg);
  });

  test('a VM named like an Object.prototype member is just a name', () => {
    const p = write('proto.json', '{"vms": {"__proto__": "spawn=deny", "constructor": "off"}}');
    const c = loadConfig({ QEMU_SANDBOXED_CONFIG: p });
    expect(c.vms?.get('__proto__')).toBe('spawn=deny');
    expect(c.vms?.get('constructor')).toBe('off');
    expect(c.vms?.get('toString')).toBeUndefined();
  });
});
