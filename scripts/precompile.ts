/**
 * Builds dist/precompiled/ (see src/compiler/precompiled.ts): every policy
 * combination compiled for every host ABI, and the sha256 (and stat) of every
 * file that compiled them: the compiled modules and filters/. A step of
 * `npm run build`, after tsc.
 *
 * Usage: node dist/scripts/precompile.js
 *        node dist/scripts/precompile.js --seal DIR
 *
 * --seal DIR: for a copy of the package in DIR (scripts/install): checks that
 * every input there has the content the build recorded, and records the
 * copy's stats, so its launcher need not hash them at each start.
 */
import * as fs from 'fs';
import * as path from 'path';
import { HOST_ABI_NAMES, detectHostAbi, getAbi } from '../src/arch';
import type { AbiName } from '../src/arch/types';
import { compilePolicy } from '../src/compiler';
import { sealInputs, settleInputs } from '../src/compiler/cache-inputs';
import {
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
function loadedCode(root: string): string[] {
  const code: string[] = [];
  for (const file of Object.keys(require.cache).sort()) {
    const rel = path.relative(root, file);
    if (rel.startsWith('..') || rel.split(path.sep).includes('node_modules')) continue;
    if (rel.startsWith(`scripts${path.sep}`) || rel.startsWith(`dist${path.sep}scripts`)) continue;
    if (rel.startsWith(`test${path.sep}`)) continue;
    code.push(rel.split(path.sep).join('/'));
  }
  return code;
}

/** filters/<group>.json: what a live compile reads besides code. */
export const FILTER_FILES: readonly string[] = GROUP_NAMES.map((g) => `filters/${g}.json`);

/**
 * The files of dist/precompiled/, relative to it. `code` (the modules the
 * manifest pins beside filters/) defaults to what the compiles loaded; a
 * parameter for tests.
 */
export function buildPrecompiled(
  root: string = packageRoot(),
  code?: readonly string[],
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
  // After every compile: the modules they loaded are all in the require cache.
  const inputs = [...(code ?? loadedCode(root)), ...FILTER_FILES];
  settleInputs(root, inputs);
  const manifest: Manifest = {
    format: PRECOMPILED_FORMAT,
    hosts: hostTable(),
    inputs: sealInputs(root, inputs),
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

/**
 * Re-records the stats of the inputs of the package copy in `root`, after
 * checking each has the content the build recorded. Throws (and changes
 * nothing) if one differs: that copy's cache would be stale.
 */
export function sealCopy(root: string): void {
  const file = path.join(root, PRECOMPILED_DIR, 'manifest.json');
  const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
  if (m.format !== PRECOMPILED_FORMAT) {
    throw new Error(`${file}: format ${m.format}, expected ${PRECOMPILED_FORMAT}`);
  }
  const names = Object.keys(m.inputs);
  settleInputs(root, names);
  const sealed = sealInputs(root, names);
  for (const name of names) {
    if (sealed[name].sha256 !== m.inputs[name].sha256) {
      throw new Error(`${path.join(root, name)} differs from the file the cache was built from`);
    }
  }
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify({ ...m, inputs: sealed }, null, 1)}\n`, {
    mode: 0o644,
  });
  fs.renameSync(`${file}.tmp`, file);
}

function main(argv: readonly string[]): void {
  if (argv[0] === '--seal' && argv.length === 2) {
    sealCopy(path.resolve(argv[1]));
    process.stdout.write(`sealed the compile cache of ${argv[1]}\n`);
    return;
  }
  if (argv.length > 0) throw new Error('usage: precompile.js [--seal DIR]');
  const root = packageRoot();
  const files = buildPrecompiled(root);
  writePrecompiled(files, path.join(root, PRECOMPILED_DIR));
  const programs = [...files.keys()].filter((f) => f.split(path.sep).length === 2).length;
  process.stdout.write(`precompiled ${programs} programs into ${PRECOMPILED_DIR}\n`);
}

if (require.main === module) main(process.argv.slice(2));
