/**
 * The kernel's seccomp action cache, per host ABI (Linux 6.18). src/bpf/cache.ts
 * ports the BPF walk of seccomp_is_const_allow(); what it cannot know, because
 * it depends on the kernel's arch headers, is here:
 *
 *  - Which audit arches get a bitmap (arch/<arch>/include/asm/seccomp.h):
 *    SECCOMP_ARCH_NATIVE always, SECCOMP_ARCH_COMPAT with CONFIG_COMPAT
 *    (i386 on x86_64, arm on aarch64; Debian enables both). Compat ABIs we do
 *    not model (s390 31-bit, ppc32, riscv32) are left out: our filters kill
 *    them, so their bitmaps would be empty. x32 is never cached: its numbers
 *    carry 0x40000000 and fall outside the bitmap. MIPS defines no
 *    SECCOMP_ARCH_NATIVE at all (sparse numbering): no cache, every syscall
 *    runs the filter.
 *  - Which numbers a bitmap covers: 0..NR_syscalls-1. ARM's private calls
 *    (0x0f0000 + n) are beyond it, so they always run the filter.
 *  - seccomp_uprobe_exception(): on x86_64 the native uretprobe (since 6.14
 *    and stable 6.12.y) and uprobe (6.18) are cached as allowed whatever the
 *    filter says: the kernel never runs BPF for them. Checked on this
 *    machine's 6.18 kernel: a filter returning ERRNO for 335 or 336 is ignored.
 */
import { isConstAllow } from '../bpf/cache';
import type { Instruction } from '../bpf/types';
import { getAbi } from './abis';
import type { HostAbiName } from './abis';
import type { Abi, AbiName } from './types';

/** The audit arches the kernel builds an "always allow" bitmap for, native first. */
const CACHED_ARCHES: Readonly<Record<HostAbiName, readonly AbiName[]>> = {
  x86_64: ['x86_64', 'i386'],
  aarch64: ['aarch64', 'arm'],
  arm: ['arm'],
  ppc64le: ['ppc64le'],
  s390x: ['s390x'],
  riscv64: ['riscv64'],
  loongarch64: ['loongarch64'],
  mips64el: [],
};

/** Native syscalls the kernel allows without running any filter (seccomp_uprobe_exception). */
const FILTER_EXEMPT: Readonly<Partial<Record<AbiName, readonly string[]>>> = {
  x86_64: ['uretprobe', 'uprobe'],
};

/** The first number past every bitmap: ARM private calls start here. */
const PRIVATE_BASE = 0x0f0000;

export function kernelCachedArches(host: HostAbiName): readonly AbiName[] {
  return CACHED_ARCHES[host];
}

/** Syscall numbers of `abi` that the kernel allows without running any filter. */
export function filterExemptSyscalls(abi: AbiName): readonly number[] {
  const table = getAbi(abi).syscalls;
  return (FILTER_EXEMPT[abi] ?? []).flatMap((name) => table.get(name) ?? []);
}

/** The numbers of the ABI's table that its bitmap covers (x32 and ARM private calls are out). */
function bitmapNumbers(abi: Abi): number[] {
  if (abi.syscallBit !== undefined) return [];
  return [...abi.syscalls.values()].filter((nr) => nr < PRIVATE_BASE);
}

/**
 * seccomp_cache_prepare() for one filter attached on `host`: per cached audit
 * arch, the syscalls (of our tables) that will never run BPF. `program` must
 * be a valid filter (validateProgram). With stacked filters, intersect the
 * per-arch sets of each filter.
 */
export function kernelCachedAllow(
  program: readonly Instruction[],
  host: HostAbiName,
): ReadonlyMap<AbiName, ReadonlySet<number>> {
  const result = new Map<AbiName, ReadonlySet<number>>();
  for (const name of CACHED_ARCHES[host]) {
    const abi = getAbi(name);
    const exempt = name === host ? filterExemptSyscalls(name) : [];
    const allowed = new Set<number>();
    for (const nr of bitmapNumbers(abi)) {
      if (exempt.includes(nr) || isConstAllow(program, nr, abi.auditArch)) allowed.add(nr);
    }
    result.set(name, allowed);
  }
  return result;
}
