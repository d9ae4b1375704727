/**
 * launcher/qemu-sandbox, the installed entry point: runs the built CLI from a
 * checkout without npm link, from any cwd, also through a symlink, and passes
 * the exit code on. Needs the build (`npm test` builds first via pretest).
 */
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import execa from 'execa';
import { compilePolicy } from '../../../src/compiler';
import { parsePolicy } from '../../../src/policy';
import { REPO_ROOT } from '../../helpers/cbuild';
import { tempDir } from '../../helpers/tmp';

const ENTRY = join(REPO_ROOT, 'launcher', 'qemu-sandbox');
const MAIN = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const tmp = tempDir('qs-entry-');

beforeAll(() => {
  if (!existsSync(MAIN))
    throw new Error(`${MAIN} is missing: run npm run build (npm test does it)`);
});

function sh(file: string, args: string[]) {
  return execa(file, args, {
    cwd: '/',
    reject: false,
    encoding: null,
    env: { QEMU_SANDBOXED_CONFIG: '', PATH: process.env.PATH ?? '/usr/bin:/bin' },
    extendEnv: false,
    stripFinalNewline: false,
  });
}

test('through a symlink, from /: --help', async () => {
  const link = join(tmp, 'bin', 'qemu-sandbox');
  mkdirSync(join(tmp, 'bin'));
  symlinkSync(ENTRY, link);
  // A symlink to the symlink: readlink -f follows the whole chain.
  symlinkSync(link, join(tmp, 'qs'));
  for (const f of [link, join(tmp, 'qs')]) {
    const r = await sh(f, ['--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toMatch(/qemu-sandbox compile <policy>/);
  }
});

test('compile --format raw on stdout is the compiler output, byte for byte', async () => {
  const r = await sh(ENTRY, ['compile', 'on,spawn=deny', '--format', 'raw', '--arch', 'x86_64']);
  expect(r.exitCode).toBe(0);
  const expected = compilePolicy(parsePolicy('on,spawn=deny'), 'x86_64').bytes;
  expect(Buffer.compare(r.stdout as Buffer, Buffer.from(expected))).toBe(0);
});

test('exit codes pass through: 2 usage, 1 input', async () => {
  const usage = await sh(ENTRY, ['compile']);
  expect(usage.exitCode).toBe(2);
  const input = await sh(ENTRY, ['explain', 'on,foo=bar']);
  expect(input.exitCode).toBe(1);
  expect(input.stderr.toString()).toBe(
    "qemu-sandbox: -sandbox on,foo=bar: Invalid parameter 'foo'\n",
  );
});

test('an unbuilt copy says how to build, exit 1', async () => {
  mkdirSync(join(tmp, 'unbuilt', 'launcher'), { recursive: true });
  const copy = join(tmp, 'unbuilt', 'launcher', 'qemu-sandbox');
  copyFileSync(ENTRY, copy);
  const r = await sh(copy, ['groups']);
  expect(r.exitCode).toBe(1);
  expect(r.stderr.toString()).toMatch(/dist\/src\/cli\/main.js is missing: build first/);
});

test('QEMU_SANDBOXED_NODE picks Node.js; a missing one is named, exit 1', async () => {
  const r = await execa(ENTRY, ['groups'], {
    reject: false,
    env: { PATH: '/usr/bin:/bin', QEMU_SANDBOXED_NODE: '/nonexistent/node' },
    extendEnv: false,
  });
  expect(r.exitCode).toBe(1);
  expect(r.stderr).toBe(
    "qemu-sandbox: no Node.js at '/nonexistent/node': install Node.js 20 or later, or set QEMU_SANDBOXED_NODE",
  );
  // A stand-in node that says how it was called: the entry runs it with dist's main.js.
  const fakeNode = join(tmp, 'fake-node');
  writeFileSync(fakeNode, '#!/bin/sh\necho "fake-node $*"\n');
  chmodSync(fakeNode, 0o755);
  const ok = await execa(ENTRY, ['groups', 'spawn'], {
    reject: false,
    env: { PATH: '/usr/bin:/bin', QEMU_SANDBOXED_NODE: fakeNode },
    extendEnv: false,
  });
  expect([ok.exitCode, ok.stderr, ok.stdout]).toEqual([0, '', `fake-node ${MAIN} groups spawn`]);
});
