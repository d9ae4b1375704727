/**
 * Generates src/arch/generated/syscalls.ts from libseccomp's syscalls.csv
 * (data/syscalls.csv by default, with its provenance in data/README.md; a path
 * may be given as the first argument). The CSV is a build-time input only: the
 * tables are committed and a unit test proves they are current (it regenerates
 * them in memory with `generateSyscallsSource`).
 *
 * Usage: npm run build && npm run gen:syscalls [-- path/to/syscalls.csv]
 */
import * as fs from 'fs';
import * as path from 'path';
import type { AbiName } from '../src/arch/types';

/** x32 numbers are stored without this bit; a process passes `X32_SYSCALL_BIT | n`. */
export const X32_SYSCALL_BIT = 0x40000000;
/** ARM private calls (breakpoint, cacheflush, set_tls...) live at `ARM_PRIVATE_BASE + n`. */
export const ARM_PRIVATE_BASE = 0x0f0000;
/** The ARM private calls, by name (arch/arm/include/uapi/asm/unistd.h). */
export const ARM_PRIVATE_NAMES: ReadonlySet<string> = new Set([
  'breakpoint',
  'cacheflush',
  'usr26',
  'usr32',
  'set_tls',
  'get_tls',
]);
/** MIPS n64 numbers are stored without their base (o32 4000, n64 5000, n32 6000). */
export const MIPS_N64_BASE = 5000;

interface AbiSource {
  /** The CSV column that holds this ABI's numbers. */
  readonly column: string;
  /** CSV value -> run-time number (the value seen in seccomp_data.nr). */
  readonly toRuntime: (name: string, n: number) => number;
}

const identity = (_name: string, n: number): number => n;

/** Our ABIs, in the order they are written, and how each maps to the CSV. */
export const ABI_SOURCES: Readonly<Record<AbiName, AbiSource>> = {
  x86_64: { column: 'x86_64', toRuntime: identity },
  i386: { column: 'x86', toRuntime: identity },
  x32: {
    column: 'x32',
    toRuntime: (name, n) => {
      // A stored number that already carries the bit would be OR-ed twice
      // without anyone noticing; refuse it instead.
      if (n >= X32_SYSCALL_BIT) throw new Error(`x32 ${name}: ${n} already has the x32 bit`);
      return (X32_SYSCALL_BIT | n) >>> 0;
    },
  },
  aarch64: { column: 'aarch64', toRuntime: identity },
  arm: {
    column: 'arm',
    toRuntime: (name, n) => {
      // libseccomp releases differ on whether private calls are stored with
      // their base: accept both, but only for the known private names.
      if (n >= ARM_PRIVATE_BASE) {
        if (!ARM_PRIVATE_NAMES.has(name)) throw new Error(`arm ${name}: unexpected number ${n}`);
        return n;
      }
      return ARM_PRIVATE_NAMES.has(name) ? ARM_PRIVATE_BASE + n : n;
    },
  },
  ppc64le: { column: 'ppc64', toRuntime: identity },
  s390x: { column: 's390x', toRuntime: identity },
  riscv64: { column: 'riscv64', toRuntime: identity },
  loongarch64: { column: 'loongarch64', toRuntime: identity },
  mips64el: {
    column: 'mips64',
    toRuntime: (name, n) => {
      if (n >= 1000) throw new Error(`mips64 ${name}: ${n} looks like it already has its base`);
      return MIPS_N64_BASE + n;
    },
  },
};

export interface ParsedSyscalls {
  /** The version text of the CSV's first header cell, e.g. "v7.1.0-rc4 2026-05-19". */
  readonly version: string;
  /** Per ABI: [name, run-time number] in CSV order; absent (PNR) names are left out. */
  readonly tables: Readonly<Record<AbiName, ReadonlyArray<readonly [string, number]>>>;
}

/** Parses syscalls.csv into run-time tables. Throws on anything unexpected. */
export function parseSyscallsCsv(csvText: string): ParsedSyscalls {
  const lines = csvText.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new Error('syscalls.csv: no rows');
  const header = lines[0].split(',');
  const versionMatch = /^#syscall\s*\((.*)\)\s*$/.exec(header[0]);
  if (!versionMatch) throw new Error(`syscalls.csv: unexpected first header cell "${header[0]}"`);
  const version = versionMatch[1];

  const tables = {} as Record<AbiName, Array<readonly [string, number]>>;
  const columnIndex = {} as Record<AbiName, number>;
  for (const abi of Object.keys(ABI_SOURCES) as AbiName[]) {
    const idx = header.indexOf(ABI_SOURCES[abi].column);
    if (idx < 0) throw new Error(`syscalls.csv: no column "${ABI_SOURCES[abi].column}"`);
    columnIndex[abi] = idx;
    tables[abi] = [];
  }

  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i].split(',');
    if (cells.length !== header.length) {
      throw new Error(
        `syscalls.csv line ${i + 1}: ${cells.length} cells, header has ${header.length}`,
      );
    }
    const name = cells[0];
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) {
      throw new Error(`syscalls.csv line ${i + 1}: bad name "${name}"`);
    }
    for (const abi of Object.keys(ABI_SOURCES) as AbiName[]) {
      const cell = cells[columnIndex[abi]];
      // PNR: the ABI has no such call. It stays absent: never guess a number.
      if (cell === 'PNR') continue;
      if (!/^\d+$/.test(cell)) {
        throw new Error(`syscalls.csv line ${i + 1}: ${abi} ${name}: bad number "${cell}"`);
      }
      tables[abi].push([name, ABI_SOURCES[abi].toRuntime(name, Number(cell))]);
    }
  }

  for (const abi of Object.keys(tables) as AbiName[]) {
    const seen = new Map<number, string>();
    for (const [name, nr] of tables[abi]) {
      const other = seen.get(nr);
      // The inverse table (number -> name) must be a function.
      if (other !== undefined) throw new Error(`${abi}: ${name} and ${other} share number ${nr}`);
      seen.set(nr, name);
    }
  }
  return { version, tables };
}

/** The full text of src/arch/generated/syscalls.ts for a given CSV text (pure). */
export function generateSyscallsSource(csvText: string): string {
  return renderSyscallsSource(parseSyscallsCsv(csvText));
}

function renderSyscallsSource({ version, tables }: ParsedSyscalls): string {
  const out: string[] = [
    '// GENERATED FILE, do not edit. Source: libseccomp syscalls.csv',
    `// (${version}) via scripts/gen-syscalls.ts; regenerate with`,
    '// `npm run build && npm run gen:syscalls`. Numbers are run-time values: x32 has',
    '// 0x40000000 OR-ed in, mips64el has its 5000 base, arm private calls their',
    '// 0x0f0000 base. Names an ABI lacks are absent.',
    "import type { AbiName } from '../types';",
    '',
    `export const SYSCALLS_CSV_VERSION = '${version}';`,
    '',
    'export const SYSCALL_TABLES: Readonly<Record<AbiName, Readonly<Record<string, number>>>> = {',
  ];
  for (const abi of Object.keys(ABI_SOURCES) as AbiName[]) {
    out.push(`  ${abi}: {`);
    for (const [name, nr] of tables[abi]) out.push(`    ${name}: ${nr},`);
    out.push('  },');
  }
  out.push('};', '');
  return out.join('\n');
}

/** The repository root: the nearest ancestor of `from` holding package.json. */
export function findRepoRoot(from: string = __dirname): string {
  let dir = path.resolve(from);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
}

/** Where the CSV lives: data/ of the repository (see data/README.md). */
export function defaultCsvPath(root: string = findRepoRoot()): string {
  return path.join(root, 'data', 'syscalls.csv');
}

export function generatedPath(root: string = findRepoRoot()): string {
  return path.join(root, 'src', 'arch', 'generated', 'syscalls.ts');
}

function main(argv: readonly string[]): void {
  const root = findRepoRoot();
  const csvPath = argv[0] !== undefined ? path.resolve(argv[0]) : defaultCsvPath(root);
  const parsed = parseSyscallsCsv(fs.readFileSync(csvPath, 'utf8'));
  const target = generatedPath(root);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, renderSyscallsSource(parsed));
  const { tables } = parsed;
  const counts = (Object.keys(tables) as AbiName[]).map((a) => `${a}=${tables[a].length}`);
  process.stderr.write(
    `gen-syscalls: wrote ${path.relative(root, target)} (${counts.join(' ')})\n`,
  );
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`gen-syscalls: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
