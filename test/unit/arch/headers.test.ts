/**
 * Cross-check of the x86 tables against an independent source on this
 * machine: the kernel UAPI headers of Debian's linux-libc-dev.
 */
import * as fs from 'fs';
import { getAbi } from '../../../src/arch';
import type { AbiName } from '../../../src/arch';

const DIR = '/usr/include/x86_64-linux-gnu/asm';
const HEADERS: Array<[AbiName, string]> = [
  ['x86_64', 'unistd_64.h'],
  ['i386', 'unistd_32.h'],
  ['x32', 'unistd_x32.h'],
];

/** `#define __NR_read 0` and x32's `#define __NR_read (__X32_SYSCALL_BIT + 0)`. */
function parseUnistd(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const re = /^#define\s+__NR_(\w+)\s+(?:\(__X32_SYSCALL_BIT\s*\+\s*(\d+)\)|(\d+))\s*$/gm;
  for (const m of text.matchAll(re)) {
    out.set(m[1], m[2] !== undefined ? (0x40000000 | Number(m[2])) >>> 0 : Number(m[3]));
  }
  return out;
}

describe('x86 tables vs /usr/include/x86_64-linux-gnu/asm/unistd_*.h', () => {
  test.each(HEADERS)('%s agrees with %s on every name both have', (abi, file) => {
    const path = `${DIR}/${file}`;
    if (!fs.existsSync(path)) {
      throw new Error(`${path} missing: install Debian package linux-libc-dev (npm run setup)`);
    }
    const header = parseUnistd(fs.readFileSync(path, 'utf8'));
    const table = getAbi(abi).syscalls;
    const mismatches: string[] = [];
    let agree = 0;
    for (const [name, nr] of header) {
      const ours = table.get(name);
      if (ours === undefined) continue;
      if (ours === nr) agree++;
      else mismatches.push(`${name}: header ${nr}, ours ${ours}`);
    }
    const headerOnly = [...header.keys()].filter((n) => !table.has(n));
    const tableOnly = [...table.keys()].filter((n) => !header.has(n));
    console.log(
      `${abi} vs ${file}: ${header.size} in header, ${agree} agree, ${mismatches.length} differ, ` +
        `${headerOnly.length} only in header [${headerOnly.join(' ')}], ` +
        `${tableOnly.length} only in ours (newer than the header or arch-private)`,
    );
    expect(mismatches).toEqual([]);
    // The header is older than the CSV, so it must not know calls we lack.
    expect(headerOnly).toEqual([]);
    expect(agree).toBe(header.size);
    expect(agree).toBeGreaterThan(300);
    // A name only we have (newer than the header) must not take a number the
    // header gives to another call.
    const headerNumbers = new Map([...header].map(([name, nr]) => [nr, name]));
    const clashes = tableOnly
      .filter((name) => headerNumbers.has(table.get(name) as number))
      .map(
        (name) =>
          `${name} ${table.get(name)} is ${headerNumbers.get(table.get(name) as number)} in the header`,
      );
    expect(clashes).toEqual([]);
  });
});
