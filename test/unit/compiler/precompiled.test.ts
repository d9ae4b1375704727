/**
 * The compile cache (src/compiler/precompiled.ts, scripts/precompile.ts) gives
 * exactly what a live compile gives, and only while its inputs have the
 * content they had when it was built.
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
import {
  FILTER_FILES,
  allPolicies,
  buildPrecompiled,
  sealCopy,
  writePrecompiled,
} from '../../../scripts/precompile';

const ROOT = packageRoot();
/** A module the manifest pins (jest loads sources, not dist/). */
const PINNED = 'src/compiler/codegen.ts';
const pinned = (): string[] => [PINNED];
/** An edit that keeps the module's size: the search tree loses its JEQ chains. */
const SAME_SIZE_EDIT: [string, string] = ['JEQ_CHAIN_MAX = 2', 'JEQ_CHAIN_MAX = 0'];

let tmp: string;
let cacheDir: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'precompiled-'));
  cacheDir = path.join(tmp, 'precompiled');
  writePrecompiled(buildPrecompiled(ROOT, pinned()), cacheDir);
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
    writePrecompiled(buildPrecompiled(root, pinned()), path.join(root, 'cache'));
    expect(readPrecompiled(DEFAULT_POLICY, root, path.join(root, 'cache'))).not.toBeNull();
    fs.appendFileSync(path.join(root, 'filters', 'spawn.json'), ' ');
    expect(readPrecompiled(DEFAULT_POLICY, root, path.join(root, 'cache'))).toBeNull();
  });

  it('is not used once a compiled module changes, size, length and mtime kept', () => {
    const root = copyRoot();
    const dir = path.join(root, 'cache');
    const file = path.join(root, PINNED);
    // A whole-millisecond mtime, so that it can be put back exactly.
    const mtime = new Date(1_700_000_000_000);
    fs.utimesSync(file, mtime, mtime);
    writePrecompiled(buildPrecompiled(root, pinned()), dir);
    const hit = readPrecompiled(DEFAULT_POLICY, root, dir);
    expect(hit?.filter).not.toBeNull();
    // Settled before sealing: every input is vouched for by its stat, none is read.
    expect(hit?.inputs).toEqual({ unchanged: true, byStat: 7, byHash: 0 });

    const before = fs.statSync(file, { bigint: true });
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain(SAME_SIZE_EDIT[0]);
    fs.writeFileSync(file, text.replace(...SAME_SIZE_EDIT));
    fs.utimesSync(file, mtime, mtime); // as `touch -r` would
    const after = fs.statSync(file, { bigint: true });
    // Same inode, size and mtime: only ctime tells, and then the content.
    expect([after.ino, after.size, after.mtimeNs]).toEqual([
      before.ino,
      before.size,
      before.mtimeNs,
    ]);
    expect(readPrecompiled(DEFAULT_POLICY, root, dir)).toBeNull();
  });

  it('is not used under another format, or with no inputs, or a broken manifest', () => {
    const root = copyRoot();
    const dir = path.join(root, 'cache');
    writePrecompiled(buildPrecompiled(root, pinned()), dir);
    expect(readPrecompiled(DEFAULT_POLICY, root, dir)).not.toBeNull();
    const file = path.join(dir, 'manifest.json');
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
    expect(Object.keys(m.inputs).sort()).toEqual([...FILTER_FILES, PINNED].sort());
    fs.writeFileSync(file, JSON.stringify({ ...m, format: m.format + 1 }));
    expect(readPrecompiled(DEFAULT_POLICY, root, dir)).toBeNull();
    fs.writeFileSync(file, JSON.stringify({ ...m, inputs: {} }));
    expect(readPrecompiled(DEFAULT_POLICY, root, dir)).toBeNull();
    fs.writeFileSync(file, '{');
    expect(readPrecompiled(DEFAULT_POLICY, root, dir)).toBeNull();
  });

  it('in a copied tree, checks inputs by content until sealCopy records their stats', () => {
    const root = copyRoot();
    const cache = path.join(root, PRECOMPILED_DIR);
    writePrecompiled(buildPrecompiled(root, pinned()), cache);
    // Other inodes and ctimes: every stat differs, every input is hashed, the cache still applies.
    const copy = fs.mkdtempSync(path.join(tmp, 'copy-'));
    fs.cpSync(root, copy, { recursive: true });
    const copied = path.join(copy, PRECOMPILED_DIR);
    expect(readPrecompiled(DEFAULT_POLICY, copy, copied)?.inputs).toEqual({
      unchanged: true,
      byStat: 0,
      byHash: 7,
    });
    sealCopy(copy);
    expect(readPrecompiled(DEFAULT_POLICY, copy, copied)?.inputs).toEqual({
      unchanged: true,
      byStat: 7,
      byHash: 0,
    });
    // A copy whose input differs is refused, and its manifest left alone.
    const manifest = fs.readFileSync(path.join(copied, 'manifest.json'));
    fs.appendFileSync(path.join(copy, 'filters', 'network.json'), ' ');
    expect(() => sealCopy(copy)).toThrow(
      /network\.json differs from the file the cache was built from/,
    );
    expect(fs.readFileSync(path.join(copied, 'manifest.json'))).toEqual(manifest);
    expect(readPrecompiled(DEFAULT_POLICY, copy, copied)).toBeNull();
  });

  it('falls back (filter null) when an entry is missing or empty', () => {
    const root = copyRoot();
    const dir = path.join(root, 'cache');
    writePrecompiled(buildPrecompiled(root, pinned()), dir);
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
describe('dist/precompiled (run npm run build after changing the compiler)', () => {
  beforeAll(() => {
    if (!fs.existsSync(path.join(shipped, 'manifest.json'))) {
      throw new Error(`${shipped}/manifest.json is missing: run npm run build first`);
    }
  });

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

  it('maps hosts and syscall numbers as src/arch does, and pins the compiler and filters/', () => {
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
    expect(Object.keys(m.inputs)).toEqual(
      expect.arrayContaining([
        'dist/src/compiler/codegen.js',
        'dist/src/compiler/plan.js',
        'dist/src/bpf/assembler.js',
        'dist/src/policy/rules.js',
        'dist/src/arch/generated/syscalls.js',
        ...FILTER_FILES,
      ]),
    );
  });

  it('is not used once dist/src/compiler/codegen.js is edited, even keeping its size', () => {
    // A copy of the built package, as scripts/install makes one.
    const copy = fs.mkdtempSync(path.join(tmp, 'package-'));
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(copy, 'package.json'));
    fs.cpSync(path.join(ROOT, 'filters'), path.join(copy, 'filters'), { recursive: true });
    for (const d of ['src', 'precompiled']) {
      fs.cpSync(path.join(ROOT, 'dist', d), path.join(copy, 'dist', d), { recursive: true });
    }
    sealCopy(copy);
    // The copy's own modules, as its launcher loads them.
    type Reader = typeof import('../../../src/compiler/precompiled');
    type Compiler = typeof import('../../../src/compiler');
    const load = <T>(rel: string): T =>
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the copy's built module, by path
      require(path.join(copy, 'dist', 'src', rel)) as T;
    const { readPrecompiled: readCopy } = load<Reader>('compiler/precompiled.js');
    const hit = readCopy(DEFAULT_POLICY);
    expect(hit?.filter).not.toBeNull();
    expect(hit?.inputs.byHash).toBe(0);

    const compileJs = path.join(copy, 'dist', 'src', 'compiler', 'codegen.js');
    const size = fs.statSync(compileJs).size;
    const js = fs.readFileSync(compileJs, 'utf8');
    expect(js).toContain(SAME_SIZE_EDIT[0]);
    fs.writeFileSync(compileJs, js.replace(...SAME_SIZE_EDIT));
    expect(fs.statSync(compileJs).size).toBe(size);
    expect(readCopy(DEFAULT_POLICY)).toBeNull();
    // And the edit matters: the copy's live compile is another program than the cached one.
    const live = load<Compiler>('compiler/index.js').compilePolicy(DEFAULT_POLICY, detectHostAbi());
    expect(Buffer.from(live.bytes).equals(Buffer.from(hit!.filter!.bytes))).toBe(false);
  });
});
