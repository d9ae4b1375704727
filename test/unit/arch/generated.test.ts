/**
 * The committed syscall tables are what scripts/gen-syscalls.ts makes of
 * data/syscalls.csv, and they honour the CSV's conventions
 * (absent = absent, x32 bit, mips base, arm private base).
 */
import * as fs from 'fs';
import {
  defaultCsvPath,
  findRepoRoot,
  generateSyscallsSource,
  generatedPath,
  parseSyscallsCsv,
} from '../../../scripts/gen-syscalls';
import { ABI_NAMES, getAbi } from '../../../src/arch';
import type { AbiName } from '../../../src/arch';

const root = findRepoRoot(__dirname);
const csvPath = defaultCsvPath(root);

function readCsv(): string {
  if (!fs.existsSync(csvPath)) {
    throw new Error(`${csvPath} is missing: the generated file cannot be proven current`);
  }
  return fs.readFileSync(csvPath, 'utf8');
}

/** The CSV column of each ABI, restated here so the test does not trust the generator's map. */
const COLUMN: Record<AbiName, string> = {
  x86_64: 'x86_64',
  i386: 'x86',
  x32: 'x32',
  aarch64: 'aarch64',
  arm: 'arm',
  ppc64le: 'ppc64',
  s390x: 's390x',
  riscv64: 'riscv64',
  loongarch64: 'loongarch64',
  mips64el: 'mips64',
};

/**
 * Table sizes for syscalls.csv v7.1.0-rc4 (2026-05-19). A new CSV changes them
 * on purpose: update these with the regenerated file.
 */
const EXPECTED_COUNTS: Record<AbiName, number> = {
  x86_64: 385,
  i386: 461,
  x32: 374,
  aarch64: 327,
  arm: 430,
  ppc64le: 424,
  s390x: 390,
  riscv64: 328,
  loongarch64: 323,
  mips64el: 373,
};

describe('generated syscall tables', () => {
  test('the generated file is current', () => {
    const expected = generateSyscallsSource(readCsv());
    const actual = fs.readFileSync(generatedPath(root), 'utf8');
    // Not toBe(): a 3800-line diff is useless; name the first differing line.
    if (actual !== expected) {
      const a = actual.split('\n');
      const e = expected.split('\n');
      const i = e.findIndex((line, k) => line !== a[k]);
      throw new Error(
        `src/arch/generated/syscalls.ts is stale (line ${i + 1}: have "${a[i]}", want "${e[i]}"); ` +
          'run `npm run build && npm run gen:syscalls`',
      );
    }
  });

  test('per ABI, the table has one entry per non-PNR cell of its CSV column', () => {
    const lines = readCsv().trim().split('\n');
    const header = lines[0].split(',');
    const counts: Record<string, number> = {};
    for (const abi of ABI_NAMES) {
      const col = header.indexOf(COLUMN[abi]);
      const present = lines.slice(1).filter((l) => l.split(',')[col] !== 'PNR');
      counts[abi] = getAbi(abi).syscalls.size;
      expect({ abi, size: getAbi(abi).syscalls.size }).toEqual({ abi, size: present.length });
      // Every number has exactly one name.
      expect(getAbi(abi).names.size).toBe(getAbi(abi).syscalls.size);
    }
    expect(counts).toEqual(EXPECTED_COUNTS);
  });

  test('absent names are absent, never given a number', () => {
    const absent: Array<[AbiName, string]> = [
      ['aarch64', 'fork'],
      ['aarch64', 'open'],
      ['riscv64', 'vfork'],
      ['loongarch64', 'fork'],
      ['x86_64', 'socketcall'],
      ['x86_64', 'ipc'],
      ['x32', 'socketcall'],
      ['arm', 'socketcall'],
      ['mips64el', 'socketcall'],
      ['x86_64', 'cacheflush'],
      ['i386', 'set_tls'],
    ];
    for (const [abi, name] of absent) {
      expect({ abi, name, nr: getAbi(abi).syscalls.get(name) }).toEqual({
        abi,
        name,
        nr: undefined,
      });
    }
    // And the CSV agrees that each of them is PNR there.
    const lines = readCsv().trim().split('\n');
    const header = lines[0].split(',');
    for (const [abi, name] of absent) {
      const row = lines.find((l) => l.startsWith(`${name},`));
      expect(row?.split(',')[header.indexOf(COLUMN[abi])]).toBe('PNR');
    }
  });

  test('run-time numbers carry the x32 bit, the mips n64 base and the arm private base', () => {
    const x32 = getAbi('x32').syscalls;
    expect(x32.get('read')).toBe(0x40000000);
    expect(x32.get('execve')).toBe(0x40000000 | 520); // x32-only entry
    for (const nr of x32.values()) expect(nr & 0x40000000).toBe(0x40000000);
    const mips = getAbi('mips64el').syscalls;
    expect(mips.get('read')).toBe(5000);
    expect(mips.get('fork')).toBe(5056);
    for (const nr of mips.values()) expect(nr >= 5000 && nr < 6000).toBe(true);
    const arm = getAbi('arm').syscalls;
    expect(arm.get('breakpoint')).toBe(0x0f0001);
    expect(arm.get('cacheflush')).toBe(0x0f0002);
    expect(arm.get('set_tls')).toBe(0x0f0005);
    expect(arm.get('fork')).toBe(2);
    expect(getAbi('i386').syscalls.get('socketcall')).toBe(102);
    expect(getAbi('x86_64').syscalls.get('read')).toBe(0);
  });

  test('the parser refuses malformed input instead of guessing', () => {
    const header =
      '#syscall (test),x86,x86_kver,x86_64,x86_64_kver,x32,x32_kver,arm,arm_kver,aarch64,aarch64_kver,' +
      'loongarch64,loongarch64_kver,mips64,mips64_kver,ppc64,ppc64_kver,riscv64,riscv64_kver,s390x,s390x_kver';
    const row = (name: string, v: string): string => [name, ...Array(20).fill(v)].join(',');
    expect(() => parseSyscallsCsv(`${header}\n${row('read', '5001')}`)).toThrow(
      /already has its base/,
    );
    expect(() => parseSyscallsCsv(`${header}\n${row('read', '1')}\n${row('write', '1')}`)).toThrow(
      /share number/,
    );
    expect(() => parseSyscallsCsv(`${header}\n${row('read', 'abc')}`)).toThrow(/bad number/);
    expect(() => parseSyscallsCsv(`${header}\nread,1`)).toThrow(/cells/);
    expect(() =>
      parseSyscallsCsv(header.replace(',x32,', ',x33,') + `\n${row('read', 'PNR')}`),
    ).toThrow(/no column "x32"/);
    const ok = parseSyscallsCsv(`${header}\n${row('read', '7')}\n${row('fork', 'PNR')}`);
    expect(ok.version).toBe('test');
    expect(ok.tables.x32).toEqual([['read', 0x40000007]]);
    expect(ok.tables.mips64el).toEqual([['read', 5007]]);
  });
});

describe('src/arch/README.md', () => {
  test('its ABI table states the facts and table sizes the code has', () => {
    const text = fs.readFileSync(`${root}/src/arch/README.md`, 'utf8');
    const rows = new Map<string, string[]>();
    for (const m of text.matchAll(
      /^\| (\w+) \| (0x[0-9a-f]+) \| (le|be) \| (\d+) \|[^|]*\| (\d) \|/gm,
    )) {
      rows.set(m[1], m.slice(2, 6));
    }
    for (const abi of ABI_NAMES) {
      const a = getAbi(abi);
      expect({ abi, row: rows.get(abi) }).toEqual({
        abi,
        row: [
          `0x${a.auditArch.toString(16)}`,
          a.endian,
          String(a.syscalls.size),
          String(a.cloneFlagsArg),
        ],
      });
    }
  });
});
