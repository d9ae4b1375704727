/**
 * The kernel's action cache per host ABI: which audit arches get a bitmap,
 * which numbers it covers, and the x86_64 uprobe exception.
 */
import { Assembler, SECCOMP_RET, runFilter } from '../../../src/bpf';
import {
  HOST_ABI_NAMES,
  filterExemptSyscalls,
  getAbi,
  kernelCachedAllow,
  kernelCachedArches,
} from '../../../src/arch';
import type { AbiName } from '../../../src/arch';

const ALLOW = SECCOMP_RET.ALLOW;
const KILL = SECCOMP_RET.KILL_PROCESS;
const EPERM = SECCOMP_RET.ERRNO | 1;

/** Allows everything of every arch except `denied` numbers (any arch). */
function denyNumbers(denied: readonly number[]) {
  const a = new Assembler().loadNr();
  for (const nr of denied) a.jeq(nr, { ret: EPERM }, null);
  return a.ret(ALLOW).assemble();
}

/** Native arch only: everything else is killed, as our compiler does. */
function nativeOnly(abi: AbiName, denied: readonly number[]) {
  const a = new Assembler().loadArch().jeq(getAbi(abi).auditArch, null, { ret: KILL }).loadNr();
  for (const nr of denied) a.jeq(nr, { ret: EPERM }, null);
  return a.ret(ALLOW).assemble();
}

const sizes = (m: ReadonlyMap<AbiName, ReadonlySet<number>>) =>
  Object.fromEntries([...m].map(([abi, s]) => [abi, s.size]));

describe('kernel action cache per host ABI', () => {
  test('bitmaps: native, plus the compat arch we model; none on mips', () => {
    expect(Object.fromEntries(HOST_ABI_NAMES.map((h) => [h, kernelCachedArches(h)]))).toEqual({
      x86_64: ['x86_64', 'i386'],
      aarch64: ['aarch64', 'arm'],
      arm: ['arm'],
      ppc64le: ['ppc64le'],
      s390x: ['s390x'],
      riscv64: ['riscv64'],
      loongarch64: ['loongarch64'],
      mips64el: [],
    });
  });

  test('x86_64 builds the i386 (compat) bitmap too, never an x32 one', () => {
    const cached = kernelCachedAllow(denyNumbers([1]), 'x86_64');
    // An allow-all-but-1 filter that does not look at arch: every i386 number is cached.
    expect(sizes(cached)).toEqual({
      x86_64: getAbi('x86_64').syscalls.size - 1,
      i386: getAbi('i386').syscalls.size - 1,
    });
    expect(cached.get('x86_64')?.has(1)).toBe(false);
    expect(cached.get('i386')?.has(1)).toBe(false); // i386 exit: denied by number alike
    expect(cached.has('x32')).toBe(false);
  });

  test('a native-only filter leaves the compat bitmap empty', () => {
    const cached = kernelCachedAllow(nativeOnly('aarch64', []), 'aarch64');
    expect(sizes(cached)).toEqual({ aarch64: getAbi('aarch64').syscalls.size, arm: 0 });
  });

  test('x86_64 uretprobe and uprobe are allowed whatever the filter says (native only)', () => {
    const exempt = filterExemptSyscalls('x86_64');
    expect(exempt).toEqual([335, 336]);
    expect(filterExemptSyscalls('i386')).toEqual([]);
    expect(filterExemptSyscalls('aarch64')).toEqual([]);
    const program = nativeOnly('x86_64', [334, 335, 336]);
    // The filter denies them...
    for (const nr of exempt) {
      const d = { nr, arch: 0xc000003e, instructionPointer: 0n, args: [] };
      expect(runFilter(program, d).action).toBe(EPERM);
    }
    // ...but the kernel never runs it for them.
    const native = kernelCachedAllow(program, 'x86_64').get('x86_64');
    expect([334, 335, 336].map((nr) => native?.has(nr))).toEqual([false, true, true]);
  });

  test('ARM private calls are beyond the bitmap; mips64el has no cache at all', () => {
    const arm = kernelCachedAllow(denyNumbers([]), 'arm').get('arm');
    expect(arm?.has(getAbi('arm').syscalls.get('cacheflush') as number)).toBe(false);
    expect(arm?.has(getAbi('arm').syscalls.get('read') as number)).toBe(true);
    expect(kernelCachedAllow(denyNumbers([]), 'mips64el').size).toBe(0);
  });
});
