/** ABI facts, name parsing, host detection and errno tables. */
import * as fs from 'fs';
import {
  ABI_NAMES,
  HOST_ABI_NAMES,
  detectHostAbi,
  errnoName,
  errnoNames,
  errnoValue,
  getAbi,
  getHostAbi,
  isKnownSyscall,
  parseAbiName,
} from '../../../src/arch';
import type { AbiName } from '../../../src/arch';

describe('ABI facts', () => {
  test('audit arch, byte order, width, x32 bit and clone flags per ABI', () => {
    const facts = Object.fromEntries(
      ABI_NAMES.map((n) => {
        const a = getAbi(n);
        return [n, [a.auditArch, a.endian, a.bits, a.syscallBit, a.cloneFlagsArg]];
      }),
    );
    // AUDIT_ARCH values from include/uapi/linux/audit.h.
    expect(facts).toEqual({
      x86_64: [0xc000003e, 'le', 64, undefined, 0],
      i386: [0x40000003, 'le', 32, undefined, 0],
      x32: [0xc000003e, 'le', 64, 0x40000000, 0],
      aarch64: [0xc00000b7, 'le', 64, undefined, 0],
      arm: [0x40000028, 'le', 32, undefined, 0],
      ppc64le: [0xc0000015, 'le', 64, undefined, 0],
      s390x: [0x80000016, 'be', 64, undefined, 1],
      riscv64: [0xc00000f3, 'le', 64, undefined, 0],
      loongarch64: [0xc0000102, 'le', 64, undefined, 0],
      mips64el: [0xc0000008, 'le', 64, undefined, 0],
    });
  });

  test("audit arch values agree with this machine's linux/audit.h and linux/elf-em.h", () => {
    const files = ['/usr/include/linux/audit.h', '/usr/include/linux/elf-em.h'];
    for (const f of files) {
      if (!fs.existsSync(f))
        throw new Error(`${f} missing: install Debian package linux-libc-dev (npm run setup)`);
    }
    const defs = new Map<string, string>();
    for (const f of files) {
      const text = fs.readFileSync(f, 'utf8').replace(/\\\n/g, ' ');
      for (const m of text.matchAll(/^#define\s+(\w+)\s+([^\n]+?)\s*(?:\/\*.*)?$/gm)) {
        defs.set(m[1], m[2]);
      }
    }
    // (EM_X86_64|__AUDIT_ARCH_64BIT|__AUDIT_ARCH_LE) -> 0xc000003e
    const value = (name: string): number => {
      const body = defs.get(name);
      if (body === undefined) throw new Error(`${name} is not defined in the headers`);
      return (
        body
          .replace(/[()]/g, '')
          .split('|')
          .map((t) => t.trim())
          .reduce((acc, t) => acc | (/^(0x[0-9a-f]+|\d+)$/i.test(t) ? Number(t) : value(t)), 0) >>>
        0
      );
    };
    const HEADER_NAME: Record<AbiName, string> = {
      x86_64: 'AUDIT_ARCH_X86_64',
      i386: 'AUDIT_ARCH_I386',
      x32: 'AUDIT_ARCH_X86_64',
      aarch64: 'AUDIT_ARCH_AARCH64',
      arm: 'AUDIT_ARCH_ARM',
      ppc64le: 'AUDIT_ARCH_PPC64LE',
      s390x: 'AUDIT_ARCH_S390X',
      riscv64: 'AUDIT_ARCH_RISCV64',
      loongarch64: 'AUDIT_ARCH_LOONGARCH64',
      mips64el: 'AUDIT_ARCH_MIPSEL64',
    };
    for (const n of ABI_NAMES) {
      expect({ n, auditArch: getAbi(n).auditArch }).toEqual({
        n,
        auditArch: value(HEADER_NAME[n]),
      });
    }
    expect(value('AUDIT_ARCH_X86_64')).toBe(0xc000003e); // the parser itself
  });

  test('the 64-bit and endianness bits of AUDIT_ARCH agree with bits and endian', () => {
    for (const n of ABI_NAMES) {
      const a = getAbi(n);
      // __AUDIT_ARCH_64BIT 0x80000000, __AUDIT_ARCH_LE 0x40000000.
      expect({ n, is64: (a.auditArch & 0x80000000) !== 0 }).toEqual({ n, is64: a.bits === 64 });
      expect({ n, le: (a.auditArch & 0x40000000) !== 0 }).toEqual({ n, le: a.endian === 'le' });
    }
  });

  test('hasSocketcall is true exactly where the table has socketcall', () => {
    for (const n of ABI_NAMES) {
      const a = getAbi(n);
      expect({ n, has: a.hasSocketcall }).toEqual({ n, has: a.syscalls.has('socketcall') });
    }
    expect(ABI_NAMES.filter((n) => getAbi(n).hasSocketcall)).toEqual(['i386', 'ppc64le', 's390x']);
  });

  test('names is the inverse of syscalls', () => {
    for (const n of ABI_NAMES) {
      const a = getAbi(n);
      for (const [name, nr] of a.syscalls) expect(a.names.get(nr)).toBe(name);
    }
    expect(getAbi('x86_64')).toBe(getAbi('x86_64'));
  });

  test('foreign numbers: disjoint from the native table, covering every number of the other ABI', () => {
    for (const name of ABI_NAMES) {
      const abi = getAbi(name);
      for (const f of abi.foreignNumbers) {
        expect(f.lo).toBeLessThanOrEqual(f.hi);
        expect([...abi.names.keys()].filter((nr) => nr >= f.lo && nr <= f.hi)).toEqual([]);
      }
    }
    const inX32Range = (nr: number): boolean =>
      getAbi('x86_64').foreignNumbers.some((f) => f.abi === 'x32' && nr >= f.lo && nr <= f.hi);
    expect([...getAbi('x32').names.keys()].filter((nr) => !inX32Range(nr))).toEqual([]);
    // -1 is ptrace's "skip this call", not an x32 number.
    expect(inX32Range(0xffffffff)).toBe(false);
    // mips64el's o32 (4000+) and n32 (6000+) numbers, around its own n64 5000-5999.
    expect(getAbi('mips64el').foreignNumbers.map((f) => [f.abi, f.lo, f.hi])).toEqual([
      ['mips o32', 4000, 4999],
      ['mips n32', 6000, 6999],
    ]);
    for (const name of ABI_NAMES.filter((n) => n !== 'x86_64' && n !== 'mips64el')) {
      expect(getAbi(name).foreignNumbers).toEqual([]);
    }
  });

  test('host ABIs and their secondaries', () => {
    // Exactly the ABIs a Node process can run as: every process.arch value
    // Node documents, in both byte orders, through detectHostAbi.
    const nodeArches = ['arm', 'arm64', 'ia32', 'loong64', 'mips', 'mipsel', 'mips64', 'mips64el'];
    nodeArches.push('ppc', 'ppc64', 'riscv64', 's390', 's390x', 'x64');
    const reachable = new Set<string>();
    for (const arch of nodeArches) {
      for (const endian of ['LE', 'BE'] as const) {
        try {
          reachable.add(detectHostAbi(arch, endian));
        } catch {
          // not a host we support
        }
      }
    }
    expect([...reachable].sort()).toEqual([...HOST_ABI_NAMES].sort());
    const secondaries = Object.fromEntries(
      HOST_ABI_NAMES.map((n) => [n, getHostAbi(n).secondary.map((a) => a.name)]),
    );
    expect(secondaries).toEqual({
      x86_64: ['i386', 'x32'],
      aarch64: ['arm'],
      arm: [],
      ppc64le: [],
      s390x: [],
      riscv64: [],
      loongarch64: [],
      mips64el: [],
    });
    expect(getHostAbi('x86_64').native.name).toBe('x86_64');
    expect(() => getHostAbi('i386')).toThrow(/not a host ABI.*x86_64/);
    expect(() => getHostAbi('x32')).toThrow(/not a host ABI/);
  });

  test('parseAbiName accepts our names and common aliases, and lists the valid names otherwise', () => {
    const cases: Array<[string, AbiName]> = [
      ['x86_64', 'x86_64'],
      ['amd64', 'x86_64'],
      ['x86-64', 'x86_64'],
      ['X86_64', 'x86_64'],
      ['i686', 'i386'],
      ['x86', 'i386'],
      ['x32', 'x32'],
      ['arm64', 'aarch64'],
      ['armhf', 'arm'],
      ['armv7l', 'arm'],
      ['ppc64el', 'ppc64le'],
      ['s390x', 's390x'],
      ['riscv64', 'riscv64'],
      ['loong64', 'loongarch64'],
      ['mipsel64', 'mips64el'],
      [' aarch64 ', 'aarch64'],
    ];
    for (const [s, want] of cases) expect([s, parseAbiName(s)]).toEqual([s, want]);
    expect(() => parseAbiName('sparc64')).toThrow(
      'unknown ABI "sparc64"; valid: x86_64, i386, x32, aarch64, arm, ppc64le, s390x, riscv64, loongarch64, mips64el',
    );
    expect(() => parseAbiName('constructor')).toThrow(/unknown ABI/);
    expect(() => parseAbiName('ppc64')).toThrow(/unknown ABI/); // big-endian: not supported
  });

  test('detectHostAbi maps process.arch and refuses what we do not support', () => {
    expect(detectHostAbi('x64', 'LE')).toBe('x86_64');
    expect(detectHostAbi('arm64', 'LE')).toBe('aarch64');
    expect(detectHostAbi('arm', 'LE')).toBe('arm');
    expect(detectHostAbi('ppc64', 'LE')).toBe('ppc64le');
    expect(detectHostAbi('s390x', 'BE')).toBe('s390x');
    expect(detectHostAbi('riscv64', 'LE')).toBe('riscv64');
    expect(detectHostAbi('loong64', 'LE')).toBe('loongarch64');
    expect(detectHostAbi('mips64el', 'LE')).toBe('mips64el');
    expect(() => detectHostAbi('ppc64', 'BE')).toThrow(
      /unsupported host architecture ppc64 \(BE\)/,
    );
    expect(() => detectHostAbi('ia32', 'LE')).toThrow(/unsupported host architecture ia32/);
    // This machine: whatever it is, the answer is one of the host ABIs.
    expect(HOST_ABI_NAMES).toContain(detectHostAbi());
  });

  test('isKnownSyscall tells names some ABI has from typos', () => {
    expect(isKnownSyscall('fork')).toBe(true); // absent on aarch64, present elsewhere
    expect(isKnownSyscall('cacheflush')).toBe(true);
    expect(isKnownSyscall('frok')).toBe(false);
    expect(isKnownSyscall('constructor')).toBe(false);
  });
});

describe('errno', () => {
  const required = [
    'EPERM',
    'ENOENT',
    'EACCES',
    'EINVAL',
    'ENOSYS',
    'EAFNOSUPPORT',
    'EOPNOTSUPP',
    'EPROTONOSUPPORT',
    'ENOTSUP',
    'EAGAIN',
    'EFAULT',
  ];

  test('the required names on every ABI (mips64el differs above 34)', () => {
    const generic = [1, 2, 13, 22, 38, 97, 95, 93, 95, 11, 14];
    const mips = [1, 2, 13, 22, 89, 124, 122, 120, 122, 11, 14];
    for (const abi of ABI_NAMES) {
      const values = required.map((e) => errnoValue(abi, e));
      expect({ abi, values }).toEqual({ abi, values: abi === 'mips64el' ? mips : generic });
    }
  });

  test('names are case-insensitive, aliases resolve, unknown names throw', () => {
    expect(errnoValue('x86_64', 'eperm')).toBe(1);
    expect(errnoValue('x86_64', 'EWOULDBLOCK')).toBe(11);
    expect(errnoValue('x86_64', 'EDEADLOCK')).toBe(35); // alias of EDEADLK
    expect(errnoValue('ppc64le', 'EDEADLOCK')).toBe(58); // powerpc's own value
    expect(errnoValue('mips64el', 'EDEADLOCK')).toBe(56);
    expect(() => errnoValue('x86_64', 'EFOO')).toThrow(
      /unknown errno "EFOO"; known: EPERM, ENOENT/,
    );
    expect(() => errnoValue('x86_64', 'toString')).toThrow(/unknown errno/);
  });

  test('errnoName gives the canonical name, each table is one-to-one', () => {
    expect(errnoName('x86_64', 1)).toBe('EPERM');
    expect(errnoName('x86_64', 95)).toBe('EOPNOTSUPP');
    expect(errnoName('mips64el', 89)).toBe('ENOSYS');
    expect(errnoName('mips64el', 38)).toBeUndefined(); // EL2NSYNC: not listed
    expect(errnoName('x86_64', 9999)).toBeUndefined();
    for (const abi of ABI_NAMES) {
      for (const name of errnoNames(abi)) {
        const v = errnoValue(abi, name);
        const canonical = errnoName(abi, v);
        expect(canonical).toBeDefined();
        expect(errnoValue(abi, canonical as string)).toBe(v);
      }
    }
  });

  test("the generic table agrees with this machine's asm-generic headers", () => {
    const files = ['/usr/include/asm-generic/errno-base.h', '/usr/include/asm-generic/errno.h'];
    for (const f of files) {
      if (!fs.existsSync(f))
        throw new Error(`${f} missing: install Debian package linux-libc-dev (npm run setup)`);
    }
    const header = new Map<string, string>();
    for (const f of files) {
      for (const m of fs.readFileSync(f, 'utf8').matchAll(/^#define\s+(E[A-Z0-9]+)\s+(\w+)/gm)) {
        header.set(m[1], m[2]);
      }
    }
    const resolve = (v: string | undefined): number | undefined =>
      v === undefined ? undefined : /^\d+$/.test(v) ? Number(v) : resolve(header.get(v));
    let checked = 0;
    for (const name of errnoNames('x86_64')) {
      if (name === 'ENOTSUP') continue; // glibc's name, not the kernel's
      expect({ name, v: errnoValue('x86_64', name) }).toEqual({
        name,
        v: resolve(header.get(name)),
      });
      checked++;
    }
    expect(checked).toBeGreaterThan(70);
  });
});
