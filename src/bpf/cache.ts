/**
 * Port of seccomp_is_const_allow() from kernel/seccomp.c, as introduced with
 * the seccomp action cache in Linux 5.11 ("seccomp/cache:
 * Lookup syscall allowlist bitmap for fast path"); the emulator loop has not
 * changed since (Linux 6.18), only an exception was put in front of it (below).
 *
 * When a filter is attached, the kernel runs this emulator once per syscall
 * number of each arch the cache covers (native, and compat where it exists),
 * with only `nr` and `arch` known. If every instruction on the path is one it
 * understands and the path ends in `RET SECCOMP_RET_ALLOW`, the syscall goes
 * into the "always allow" bitmap and BPF never runs for it again. Anything
 * else is "not constant" and answers false:
 *  - a load of any other seccomp_data field (args, instruction_pointer), or a
 *    load that is not BPF_LD|BPF_W|BPF_ABS (LD IMM/MEM/LEN, LDX, ...);
 *  - any ALU operation except AND with a constant; TAX/TXA; ST/STX;
 *  - jumps comparing with X; RET A; RET of anything but exactly ALLOW
 *    (ALLOW with non-zero data is not ALLOW; LOG is not ALLOW either);
 *  - running off the end (the kernel WARNs).
 * It walks the *original* program (orig_prog), before seccomp_check_filter
 * rewrote loads, so opcodes match what the caller wrote.
 *
 * Not modelled here (it is per-ABI knowledge, not BPF): the exception put in
 * front of the loop, seccomp_uprobe_exception() (uretprobe since 6.14 and
 * stable 6.12.y, uprobe too since 6.18), which caches x86_64's native
 * uretprobe and uprobe as allowed whatever the filter says; nor which arches
 * get a bitmap (the compat one too, e.g. i386 on x86_64; none on MIPS).
 * src/arch/seccomp-cache.ts (kernelCachedAllow) adds both.
 *
 * The program must be valid (validateProgram): like the kernel, this walk
 * trusts that jumps stay inside it.
 */
import {
  BPF_ABS,
  BPF_ALU,
  BPF_AND,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_RET,
  BPF_W,
} from './opcodes';
import { SECCOMP_DATA, SECCOMP_RET, type Instruction } from './types';

export function isConstAllow(program: readonly Instruction[], nr: number, arch: number): boolean {
  // struct seccomp_data.nr is an int; the register holds its 32-bit pattern.
  const sdNr = nr >>> 0;
  const sdArch = arch >>> 0;
  let reg = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const { code, jt, jf } = program[pc];
    const k = program[pc].k >>> 0;
    switch (code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (k === SECCOMP_DATA.nr) reg = sdNr;
        else if (k === SECCOMP_DATA.arch) reg = sdArch;
        else return false; // non-constant value load
        break;
      case BPF_RET | BPF_K:
        return k === SECCOMP_RET.ALLOW;
      case BPF_JMP | BPF_JA:
        pc += k;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        pc += reg === k ? jt : jf;
        break;
      case BPF_JMP | BPF_JGE | BPF_K:
        pc += reg >= k ? jt : jf;
        break;
      case BPF_JMP | BPF_JGT | BPF_K:
        pc += reg > k ? jt : jf;
        break;
      case BPF_JMP | BPF_JSET | BPF_K:
        pc += (reg & k) !== 0 ? jt : jf;
        break;
      case BPF_ALU | BPF_AND | BPF_K:
        reg = (reg & k) >>> 0;
        break;
      default:
        return false; // unknown instruction
    }
  }
  return false; // ran off the end of the filter
}

/**
 * seccomp_cache_prepare_bitmap() for one arch and a single filter: the subset
 * of `nrs` the kernel caches as always allowed. (With stacked filters the
 * kernel intersects with the previous filter's bitmap: intersect the sets.)
 */
export function constAllowSet(
  program: readonly Instruction[],
  arch: number,
  nrs: Iterable<number>,
): Set<number> {
  const allowed = new Set<number>();
  for (const nr of nrs) if (isConstAllow(program, nr, arch)) allowed.add(nr);
  return allowed;
}
