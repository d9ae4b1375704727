/** The site config: missing default vs missing explicit vs malformed vs unknown keys. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  ConfigError,
  DEFAULT_CONFIG_PATH,
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
    `config ${p}: unknown key "sandbx" (known: sandbox, binary)`,
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

test('an unreadable path (a directory) is an error, not "no config"', () => {
  expect(configError({ QEMU_SANDBOXED_CONFIG: dir }).message).toMatch(/cannot read/);
});
