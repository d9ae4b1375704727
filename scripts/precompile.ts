/**
 * Builds dist/precompiled/ (see src/compiler/precompiled.ts): every policy
 * combination compiled for every host ABI, a copy of filters/ they were
 * compiled from, and the sizes of the compiled modules that compiled them.
 * A step of `npm run build`, after tsc.
 *
 * Usage: node dist/scripts/precompile.js
 */
import * as fs from 'fs';
import * as path from 'path';
import { HOST_ABI_NAMES, detectHostAbi, getAbi } from '../src/arch';
import type { AbiName } from '../src/arch/types';
import { compilePolicy } from '../src/compiler';
import {
  COMPILER_VERSION,
  FILTERS_DIR,
  HOST_SYSCALLS,
  PRECOMPILED_DIR,
  PRECOMPILED_FORMAT,
  policyKey,
  type Entry,
  type Manifest,
} from '../src/compiler/precompiled';
import { everyCompiledPolicy, packageRoot } from '../src/policy';
import { GROUP_NAMES } from '../src/policy/types';

/** Every value Node's process.arch may take (detectHostAbi refuses those we do not support). */
const NODE_ARCHES = [
  'arm',
  'arm64',
  'ia32',
  'loong64',
  'mips',
  'mipsel',
  'mips64',
  'mips64el',
  'ppc',
  'ppc64',
  'riscv64',
  's390',
  's390x',
  'x64',
];

/** Every policy the compiler distinguishes (preflight does not change the program). */
export const allPolicies = everyCompiledPolicy;

function hostTable(): Record<string, AbiName> {
  const hosts: Record<string, AbiName> = {};
  for (const arch of NODE_ARCHES) {
    for (const endian of ['LE', 'BE'] as const) {
      try {
        hosts[`${arch}-${endian}`] = detectHostAbi(arch, endian);
      } catch {
        // not a host we support: the launcher falls back to src/arch (and refuses it)
      }
    }
  }
  return hosts;
}

/** Every loaded module of this package outside node_modules: what the compile ran. */
function loadedCode(root: string): Record<string, number> {
  const code: Record<string, number> = {};
  for (const file of Object.keys(require.cache).sort()) {
    const rel = path.relative(root, file);
    if (rel.startsWith('..') || rel.split(path.sep).includes('node_modules')) continue;
    if (rel.startsWith(`scripts${path.sep}`) || rel.startsWith(`dist${path.sep}scripts`)) continue;
    if (rel.startsWith(`test${path.sep}`)) continue;
    code[rel] = fs.statSync(file).size;
  }
  return code;
}

/**
 * The files of dist/precompiled/, relative to it. `code` (the module sizes
 * the manifest pins) defaults to what the compiles loaded; a parameter for tests.
 */
export function buildPrecompiled(
  root: string = packageRoot(),
  code?: Record<string, number>,
): Map<string, string | Buffer> {
  const files = new Map<string, string | Buffer>();
  const abis: Record<string, Manifest['abis'][string]> = {};
  for (const abiName of HOST_ABI_NAMES) {
    const abi = getAbi(abiName);
    const syscalls: Record<string, number> = {};
    for (const s of HOST_SYSCALLS) {
      const nr = abi.syscalls.get(s);
      if (nr !== undefined) syscalls[s] = nr;
    }
    abis[abiName] = { auditArch: abi.auditArch, endian: abi.endian, syscalls };
    for (const policy of allPolicies()) {
      const f = compilePolicy(policy, abiName);
      const entry: Entry = {
        bytes: Buffer.from(f.bytes).toString('base64'),
        needsExecGate: f.needsExecGate,
      };
      files.set(path.join(abiName, `${policyKey(policy)}.json`), `${JSON.stringify(entry)}\n`);
    }
  }
  for (const name of GROUP_NAMES) {
    const file = path.join(FILTERS_DIR, `${name}.json`);
    files.set(file, fs.readFileSync(path.join(root, file)));
  }
  // After every compile: the modules they loaded are all in the require cache.
  const manifest: Manifest = {
    format: PRECOMPILED_FORMAT,
    compilerVersion: COMPILER_VERSION,
    hosts: hostTable(),
    code: code ?? loadedCode(root),
    abis,
  };
  files.set('manifest.json', `${JSON.stringify(manifest, null, 1)}\n`);
  return files;
}

/**
 * Writes the files into `dir`, replacing it whole: built beside it and
 * renamed, so a launcher starting meanwhile sees the old set or the new one.
 */
export function writePrecompiled(files: Map<string, string | Buffer>, dir: string): void {
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const [rel, content] of files) {
    const file = path.join(tmp, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content, { mode: 0o644 });
  }
  const old = `${dir}.old-${process.pid}`;
  if (fs.existsSync(dir)) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  fs.rmSync(old, { recursive: true, force: true });
}

function main(): void {
  const root = packageRoot();
  const files = buildPrecompiled(root);
  writePrecompiled(files, path.join(root, PRECOMPILED_DIR));
  const programs = [...files.keys()].filter(
    (f) => f.split(path.sep).length === 2 && !f.startsWith(FILTERS_DIR),
  ).length;
  process.stdout.write(`precompiled ${programs} programs into ${PRECOMPILED_DIR}\n`);
}

if (require.main === module) main();
