/**
 * `npm pack`, then `npm install -g` of the tarball into a temporary prefix,
 * as a user without the Debian package would: the tarball holds the built
 * launcher and CLI, not the checkout's tests or sources; npm builds the FFI
 * addon for this machine; the prefix's qemu-sandboxed runs real QEMU under
 * a filter the kernel holds, and qemu-sandbox works from any directory.
 */
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import execa from 'execa';
import { repoRoot, requireLauncher } from '../helpers/guest';

jest.setTimeout(15 * 60_000);

let work = '';
let tarball = '';
let prefix = '';
let files: string[] = [];

beforeAll(async () => {
  requireLauncher();
  work = mkdtempSync(join(tmpdir(), 'qs-npm-pack-'));
  // dist/ is built (npm test's setup): prepack would only build it again.
  const pack = await execa(
    'npm',
    ['pack', '--ignore-scripts', '--json', '--pack-destination', work],
    { cwd: repoRoot() },
  );
  const [info] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
  tarball = join(work, info.filename);
  files = info.files.map((f) => f.path);
  prefix = join(work, 'prefix');
  const install = await execa(
    'npm',
    ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', tarball],
    { cwd: work, reject: false },
  );
  if (install.exitCode !== 0) {
    throw new Error(`npm install -g ${tarball} failed (${install.exitCode}):\n${install.stderr}`);
  }
}, 15 * 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

test('the tarball holds the built launcher, CLI, filters and trampolines, and no tests or sources', () => {
  expect(files).toEqual(
    expect.arrayContaining([
      'package.json',
      'launcher/qemu-sandboxed',
      'launcher/qemu-sandbox',
      'launcher/host',
      'launcher/targets.sh',
      'dist/launcher/main.js',
      'dist/src/cli/main.js',
      'filters/default.json',
    ]),
  );
  expect(files.some((f) => f.startsWith('dist/precompiled/'))).toBe(true);
  expect(files.filter((f) => /^(test|src|scripts|dist\/test|dist\/scripts)\//.test(f))).toEqual([]);
  expect(files.filter((f) => /^launcher\/.*\.ts$/.test(f))).toEqual([]);
});

test('npm install -g makes qemu-sandboxed and qemu-sandbox commands in the prefix', () => {
  expect(readdirSync(join(prefix, 'bin')).sort()).toEqual(['qemu-sandbox', 'qemu-sandboxed']);
  const pkg = join(prefix, 'lib', 'node_modules', 'qemu-sandboxed');
  expect(readlinkSync(join(prefix, 'bin', 'qemu-sandboxed'))).toBe(
    '../lib/node_modules/qemu-sandboxed/launcher/qemu-sandboxed',
  );
  // npm built the FFI addon for this machine (it runs the packages' install scripts).
  expect(
    existsSync(join(pkg, 'node_modules/@2060.io/ffi-napi/build/Release/ffi_bindings.node')),
  ).toBe(true);
  // Only production dependencies.
  for (const dev of ['typescript', 'jest', 'eslint', 'execa']) {
    expect(existsSync(join(pkg, 'node_modules', dev))).toBe(false);
  }
});

test("the installed qemu-sandboxed runs QEMU under libvirt's full policy, from another directory", () => {
  const r = execa.sync(
    join(prefix, 'bin', 'qemu-sandboxed'),
    [
      '-sandbox',
      'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
      '-version',
    ],
    { cwd: tmpdir(), reject: false, env: { QEMU_SANDBOXED_LOG_LEVEL: 'info' } },
  );
  expect(r.stdout).toMatch(/^QEMU emulator version \d/);
  expect(r.exitCode).toBe(0);
  const launch = JSON.parse(r.stderr.trim().split('\n')[0]) as Record<string, unknown>;
  expect(launch).toMatchObject({
    msg: 'launch',
    execGate: true,
    noNewPrivs: true,
    filterSource: 'precompiled',
  });
  expect(launch.filterLength).toEqual(expect.any(Number));
});

test('the installed qemu-sandbox answers from another directory', () => {
  const r = execa.sync(join(prefix, 'bin', 'qemu-sandbox'), ['simulate', 'on', 'reboot'], {
    cwd: tmpdir(),
    reject: false,
  });
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  expect(r.stdout).toMatch(/^verdict\s+KILL_PROCESS/m);
  const help = execa.sync(join(prefix, 'bin', 'qemu-sandbox'), ['--help'], { cwd: tmpdir() });
  expect(help.stdout).toMatch(/qemu-sandbox host <action>/);
});
