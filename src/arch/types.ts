/** The Linux syscall ABIs we know, by the names used in filters/ and the CLI. */
export type AbiName =
  | 'x86_64'
  | 'i386'
  | 'x32'
  | 'aarch64'
  | 'arm'
  | 'ppc64le'
  | 's390x'
  | 'riscv64'
  | 'loongarch64'
  | 'mips64el';

/** Facts about one ABI. Syscall numbers are the values a process passes at run time. */
export interface Abi {
  readonly name: AbiName;
  /** AUDIT_ARCH_* value seen in seccomp_data.arch. */
  readonly auditArch: number;
  readonly endian: 'le' | 'be';
  readonly bits: 32 | 64;
  /** For x32: the bit OR-ed into every syscall number (0x40000000); undefined elsewhere. */
  readonly syscallBit?: number;
  /** Index of clone()'s flags argument (1 on s390x, which swaps the first two). */
  readonly cloneFlagsArg: number;
  /** True when socket calls are (also) multiplexed through socketcall(2). */
  readonly hasSocketcall: boolean;
  /** name -> run-time number. Names this ABI lacks are absent (never guessed). */
  readonly syscalls: ReadonlyMap<string, number>;
  /** run-time number -> name (inverse of syscalls). */
  readonly names: ReadonlyMap<number, string>;
  /**
   * Numbers of other ABIs that reach a filter with this ABI's audit arch (x32
   * on x86_64, o32 and n32 on mips64el): a filter must deny them by number.
   */
  readonly foreignNumbers: readonly ForeignNumbers[];
}

/** A range [lo, hi] of run-time syscall numbers that belongs to another ABI. */
export interface ForeignNumbers {
  /** Whose numbers they are: "x32", "mips o32"... */
  readonly abi: string;
  readonly lo: number;
  readonly hi: number;
}

/**
 * A host ABI: the one QEMU runs as, plus the secondary ABIs the same kernel
 * also accepts from such a process (i386 and x32 on x86_64, arm on aarch64...).
 * A filter must kill every secondary ABI, or a deny-list can be bypassed.
 */
export interface HostAbi {
  readonly native: Abi;
  readonly secondary: readonly Abi[];
}
