import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_POLICY } from '../../../src/policy/sandbox-option';
import type { SandboxPolicy } from '../../../src/policy/types';
import { LaunchError } from '../../../src/launch/errors';
import {
  QEMU_SANDBOX_ARG,
  cacheDir,
  hasThreadContext,
  planDelegation,
  qemuSupportsSandbox,
} from '../../../src/launch/delegation';
import { tempDir } from '../../helpers/tmp';

const libvirt: SandboxPolicy = {
  ...DEFAULT_POLICY,
  elevatePrivileges: 'deny',
  spawn: 'deny',
  resourceControl: 'deny',
};
const tc = ['-object', 'thread-context,id=tc1,cpu-affinity=0-1', '-m', '512'];
const tcJson = ['-object', '{"qom-type":"thread-context","id":"tc1","node-affinity":[0]}'];

test('thread-context objects are found in both syntaxes, and only them', () => {
  expect(hasThreadContext(tc)).toBe(true);
  expect(hasThreadContext(tcJson)).toBe(true);
  expect(hasThreadContext(['-object', 'qom-type=thread-context,id=x'])).toBe(true);
  expect(hasThreadContext(['-object', 'memory-backend-ram,id=m,size=1G'])).toBe(false);
  expect(hasThreadContext(['-name', 'thread-context'])).toBe(false);
  expect(hasThreadContext(['-object', '{bad json'])).toBe(false);
});

test('resourcecontrol=deny + thread-context: our filter allows it, QEMU applies it', () => {
  const d = planDelegation(libvirt, tc, () => true, '/q');
  expect(d.filterPolicy).toEqual({ ...libvirt, resourceControl: 'allow' });
  expect(d.extraArgs).toEqual(['-sandbox', QEMU_SANDBOX_ARG]);
  expect(QEMU_SANDBOX_ARG).toBe('on,obsolete=allow,resourcecontrol=deny');
});

test('nothing delegated otherwise (and the probe is not run)', () => {
  const never = (): boolean => {
    throw new Error('probe must not run');
  };
  expect(planDelegation(libvirt, ['-m', '1G'], never, '/q').extraArgs).toEqual([]);
  expect(
    planDelegation({ ...libvirt, resourceControl: 'allow' }, tc, never, '/q').extraArgs,
  ).toEqual([]);
  expect(planDelegation({ ...libvirt, enable: false }, tc, never, '/q').extraArgs).toEqual([]);
});

test('refused with the fix: QEMU without -sandbox, or an action QEMU cannot honour', () => {
  expect(() => planDelegation(libvirt, tc, () => false, '/usr/bin/q')).toThrow(
    /\/usr\/bin\/q was built without it.*fix:/,
  );
  const e = (() => {
    try {
      planDelegation({ ...libvirt, action: 'log' }, tc, () => true, '/q');
    } catch (x) {
      return x;
    }
  })();
  expect(e).toBeInstanceOf(LaunchError);
  expect((e as LaunchError).exitCode).toBe(1);
  expect((e as LaunchError).message).toMatch(
    /action=log.*fix: use action=kill, or resourcecontrol=allow/,
  );
});

describe('qemuSupportsSandbox: runs `BINARY -sandbox ... -version` once, then caches', () => {
  const dir = tempDir('qs-probe-');
  const fake = (name: string, exit: number): string => {
    const p = join(dir, name);
    // Counts its runs, exits as a QEMU with (0) or without (1) -sandbox would.
    writeFileSync(p, `#!/bin/sh\necho "$*" >> "${p}.runs"\nexit ${exit}\n`);
    chmodSync(p, 0o755);
    return p;
  };
  test('yes, cached', () => {
    const q = fake('yes', 0);
    const cache = join(dir, 'cache');
    expect(qemuSupportsSandbox(q, {}, cache)).toBe(true);
    expect(qemuSupportsSandbox(q, {}, cache)).toBe(true);
    expect(readFileSync(`${q}.runs`, 'utf8')).toBe(`-sandbox ${QEMU_SANDBOX_ARG} -version\n`);
  });
  test('the cache follows the binary: replaced or rewritten, it is asked again', () => {
    const q = fake('changes', 0);
    const cache = join(dir, 'cache-changes');
    expect(qemuSupportsSandbox(q, {}, cache)).toBe(true);
    // An upgrade to a build without seccomp: same path, new contents.
    writeFileSync(q, `#!/bin/sh\necho "$*" >> "${q}.runs"\nexit 1 # rebuilt\n`);
    expect(qemuSupportsSandbox(q, {}, cache)).toBe(false);
    expect(readFileSync(`${q}.runs`, 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
    const st = statSync(join(cache, 'qemu-sandbox-support.json'));
    expect([st.mode & 0o777, statSync(cache).mode & 0o022]).toEqual([0o644, 0]);
  });
  test('a cache file others can write is not believed (and is replaced)', () => {
    const q = fake('planted', 1);
    const cache = join(dir, 'cache-planted');
    expect(qemuSupportsSandbox(q, {}, cache)).toBe(false);
    const file = join(cache, 'qemu-sandbox-support.json');
    // Forge "yes" for this very binary, in a file anyone may write.
    const forged = JSON.stringify(
      Object.fromEntries(Object.keys(JSON.parse(readFileSync(file, 'utf8'))).map((k) => [k, true])),
    );
    writeFileSync(file, forged);
    chmodSync(file, 0o666);
    expect(qemuSupportsSandbox(q, {}, cache)).toBe(false);
    expect(readFileSync(`${q}.runs`, 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
    // The same forged content, owned by us and not writable by others: believed (it is our cache).
    writeFileSync(file, forged);
    chmodSync(file, 0o644);
    expect(qemuSupportsSandbox(q, {}, cache)).toBe(true);
  });
  test('no', () => {
    expect(qemuSupportsSandbox(fake('no', 1), {}, undefined)).toBe(false);
  });
  test('cache location', () => {
    expect(cacheDir({ QEMU_SANDBOXED_CACHE_DIR: '/c' }, 0)).toBe('/c');
    expect(cacheDir({}, 0)).toBe('/var/cache/qemu-sandboxed');
    expect(cacheDir({ HOME: '/home/u' }, 1000)).toBe('/home/u/.cache/qemu-sandboxed');
    expect(cacheDir({ HOME: '/home/u', XDG_CACHE_HOME: '/x' }, 1000)).toBe('/x/qemu-sandboxed');
    expect(cacheDir({}, 1000)).toBeUndefined();
  });
});

test('the real QEMU here supports -sandbox (when installed)', () => {
  const q = '/usr/bin/qemu-system-x86_64';
  if (!existsSync(q)) throw new Error(`${q} is missing: run npm run setup`);
  expect(qemuSupportsSandbox(q, { PATH: '/usr/bin:/bin' }, undefined)).toBe(true);
});
