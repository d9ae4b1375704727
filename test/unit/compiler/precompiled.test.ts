/**
 * The compile cache (src/compiler/precompiled.ts, scripts/precompile.ts) gives
 * exactly what a live compile gives, and only while its inputs are unchanged.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { HOST_ABI_NAMES, detectHostAbi, getAbi } from '../../../src/arch';
import { compilePolicy } from '../../../src/compiler';
import {
  HOST_SYSCALLS,
  PRECOMPILED_DIR,
  policyKey,
  readPrecompiled,
  type Entry,
  type Manifest,
} from '../../../src/compiler/precompiled';
import { DEFAULT_POLICY, DISABLED_POLICY, packageRoot } from '../../../src/policy';
import type { SandboxPolicy } from '../../../src/policy/types';
import { allPolicies, buildPrecompiled, writePrecompiled } from '../../../scripts/precompile';

const ROOT = packageRoot();
/** A module whose size the manifest pins (jest loads sources, not dist/). */
const PINNED = path.join('src', 'compiler', 'compile.ts');
const pinned = (root: string): Record<string, number> => ({
  [PINNED]: fs.statSync(path.join(root, PINNED)).size,
});

let tmp: string;
let cacheDir: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'precompiled-'));
  cacheDir = path.join(tmp, 'precompiled');
  writePrecompiled(buildPrecompiled(ROOT, pinned(ROOT)), cacheDir);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A package root of its own: filters/ and the pinned module copied (to be edited). */
function copyRoot(): string {
  const root = fs.mkdtempSync(path.join(tmp, 'root-'));
  fs.cpSync(path.join(ROOT, 'filters'), path.join(root, 'filters'), { recursive: true });
  fs.mkdirSync(path.dirname(path.join(root, PINNED)), { recursive: true });
  fs.copyFileSync(path.join(ROOT, PINNED), path.join(root, PINNED));
  return root;
}

function expectSame(policy: SandboxPolicy): void {
  const hit = readPrecompiled(policy, ROOT, cacheDir);
  const live = compilePolicy(policy, detectHostAbi());
  expect(hit?.filter).not.toBeNull();
  const f = hit!.filter!;
  expect(f.abi).toBe(live.abi);
  expect(f.policy).toBe(policy);
  expect(Buffer.from(f.bytes).equals(Buffer.from(live.bytes))).toBe(true);
  expect(f.hash).toBe(live.hash);
  expect(f.program).toEqual(live.program);
  expect(f.needsExecGate).toBe(live.needsExecGate);
}

describe('readPrecompiled', () => {
  it('gives a live compile for every policy on this host', () => {
    const policies = allPolicies();
    expect(policies).toHaveLength(192);
    expect(new Set(policies.map(policyKey)).size).toBe(192);
    for (const p of policies) expectSame(p);
  });

  it('ignores preflight, which does not change the program', () => {
    expectSame({ ...DEFAULT_POLICY, preflight: 'warn' });
  });

  it('gives the host facts of src/arch', () => {
    const hit = readPrecompiled(DEFAULT_POLICY, ROOT, cacheDir)!;
    const abi = getAbi(detectHostAbi());
    expect(hit.host.name).toBe(abi.name);
    expect(hit.host.auditArch).toBe(abi.auditArch);
    expect(hit.host.endian).toBe(abi.endian);
    for (const s of HOST_SYSCALLS) expect(hit.host.syscalls.get(s)).toBe(abi.syscalls.get(s));
  });

  it('is not used for -sandbox off', () => {
    expect(readPrecompiled(DISABLED_POLICY, ROOT, cacheDir)).toBeNull();
  });

  it('is not used once filters/ changes, even by a byte', () => {
    const root = copyRoot();
    writePrecompiled(buildPrecompiled(root, pinned(root)), path.join(root, 'cache'));
    expect(readPrecompiled(DEFAULT_POLICY, root, path.join(root, 'cache'))).not.toBeNull();
    fs.appendFileSync(path.join(root, 'filters', 'spawn.json'), ' ');
    expect(readPrecompiled(DEFAULT_POLICY, root, path.join(root, 'cache'))).toBeNull();
  });

  it('is not used once a compiled module changes size, or the format', () => {
    const root = copyRoot();
    const dir = path.join(root, 'cache');
    writePrecompiled(buildPrecompiled(root, pinned(root)), dir);
    fs.appendFileSync(path.join(root, PINNED), '\n');
    expect(readPrecompiled(DEFAULT_POLICY, root, dir)).toBeNull();

    writePrecompiled(buildPrecompiled(root, pinned(root)), dir);
    expect(readPrecompiled(DEFAULT_POLICY, root, dir)).not.toBeNull();
    const file = path.join(dir, 'manifest.json');
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
    fs.writeFileSync(file, JSON.stringify({ ...m, format: m.format + 1 }));
    expect(readPrecompiled(DEFAULT_POLICY, root, dir)).toBeNull();
    fs.writeFileSync(file, JSON.stringify({ ...m, code: {} }));
    expect(readPrecompiled(DEFAULT_POLICY, root, dir)).toBeNull();
    fs.writeFileSync(file, '{');
    expect(readPrecompiled(DEFAULT_POLICY, root, dir)).toBeNull();
  });

  it('falls back (filter null) when an entry is missing or empty', () => {
    const root = copyRoot();
    const dir = path.join(root, 'cache');
    writePrecompiled(buildPrecompiled(root, pinned(root)), dir);
    const entry = path.join(dir, detectHostAbi(), `${policyKey(DEFAULT_POLICY)}.json`);
    fs.writeFileSync(entry, JSON.stringify({ bytes: '', needsExecGate: false }));
    expect(readPrecompiled(DEFAULT_POLICY, root, dir)?.filter).toBeNull();
    fs.rmSync(entry);
    const hit = readPrecompiled(DEFAULT_POLICY, root, dir);
    expect(hit?.host.name).toBe(detectHostAbi());
    expect(hit?.filter).toBeNull();
  });
});

// The cache `npm run build` ships: every entry of every host ABI is a live compile.
const shipped = path.join(ROOT, PRECOMPILED_DIR);
const describeShipped = fs.existsSync(path.join(shipped, 'manifest.json'))
  ? describe
  : describe.skip;
describeShipped('dist/precompiled (run npm run build after changing the compiler)', () => {
  it('holds, for every host ABI and policy, the program a live compile gives', () => {
    for (const abiName of HOST_ABI_NAMES) {
      for (const policy of allPolicies()) {
        const file = path.join(shipped, abiName, `${policyKey(policy)}.json`);
        const entry = JSON.parse(fs.readFileSync(file, 'utf8')) as Entry;
        const live = compilePolicy(policy, abiName);
        expect(Buffer.from(entry.bytes, 'base64').equals(Buffer.from(live.bytes))).toBe(true);
        expect(entry.needsExecGate).toBe(live.needsExecGate);
      }
    }
  });

  it('maps hosts and syscall numbers as src/arch does', () => {
    const m = JSON.parse(fs.readFileSync(path.join(shipped, 'manifest.json'), 'utf8')) as Manifest;
    for (const [key, abiName] of Object.entries(m.hosts)) {
      const [arch, endian] = key.split('-');
      expect(detectHostAbi(arch, endian as 'LE' | 'BE')).toBe(abiName);
    }
    expect(m.hosts[`${process.arch}-${os.endianness()}`]).toBe(detectHostAbi());
    for (const abiName of HOST_ABI_NAMES) {
      const abi = getAbi(abiName);
      expect(m.abis[abiName].auditArch).toBe(abi.auditArch);
      expect(m.abis[abiName].endian).toBe(abi.endian);
      for (const s of HOST_SYSCALLS) expect(m.abis[abiName].syscalls[s]).toBe(abi.syscalls.get(s));
    }
    expect(Object.keys(m.code).length).toBeGreaterThan(10);
  });
});
