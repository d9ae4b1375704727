/**
 * Symbolic constants that filters/*.json may use in argument conditions
 * ("CLONE_VM", "AF_UNIX", "SCHED_IDLE"), so the data says what it means
 * instead of carrying magic numbers.
 *
 * Every value here is the same on every Linux ABI we support: the clone flags
 * come from include/uapi/linux/sched.h, the address families from
 * include/linux/socket.h and the scheduling policies from
 * include/uapi/linux/sched.h, none of which an architecture overrides. (errno
 * values do differ per ABI; those are resolved by src/arch, not here.)
 * test/unit/policy/constants.test.ts pins the values.
 */

/** clone(2) flags, include/uapi/linux/sched.h. */
export const CLONE_FLAGS: Readonly<Record<string, bigint>> = {
  CSIGNAL: 0x000000ffn,
  CLONE_NEWTIME: 0x00000080n,
  CLONE_VM: 0x00000100n,
  CLONE_FS: 0x00000200n,
  CLONE_FILES: 0x00000400n,
  CLONE_SIGHAND: 0x00000800n,
  CLONE_PIDFD: 0x00001000n,
  CLONE_PTRACE: 0x00002000n,
  CLONE_VFORK: 0x00004000n,
  CLONE_PARENT: 0x00008000n,
  CLONE_THREAD: 0x00010000n,
  CLONE_NEWNS: 0x00020000n,
  CLONE_SYSVSEM: 0x00040000n,
  CLONE_SETTLS: 0x00080000n,
  CLONE_PARENT_SETTID: 0x00100000n,
  CLONE_CHILD_CLEARTID: 0x00200000n,
  CLONE_DETACHED: 0x00400000n,
  CLONE_UNTRACED: 0x00800000n,
  CLONE_CHILD_SETTID: 0x01000000n,
  CLONE_NEWCGROUP: 0x02000000n,
  CLONE_NEWUTS: 0x04000000n,
  CLONE_NEWIPC: 0x08000000n,
  CLONE_NEWUSER: 0x10000000n,
  CLONE_NEWPID: 0x20000000n,
  CLONE_NEWNET: 0x40000000n,
  CLONE_IO: 0x80000000n,
};

/** Address families, include/linux/socket.h (AF_LOCAL is an alias of AF_UNIX). */
export const ADDRESS_FAMILIES: Readonly<Record<string, bigint>> = {
  AF_UNSPEC: 0n,
  AF_UNIX: 1n,
  AF_LOCAL: 1n,
  AF_INET: 2n,
  AF_AX25: 3n,
  AF_IPX: 4n,
  AF_APPLETALK: 5n,
  AF_NETROM: 6n,
  AF_BRIDGE: 7n,
  AF_ATMPVC: 8n,
  AF_X25: 9n,
  AF_INET6: 10n,
  AF_ROSE: 11n,
  AF_DECnet: 12n,
  AF_NETBEUI: 13n,
  AF_SECURITY: 14n,
  AF_KEY: 15n,
  AF_NETLINK: 16n,
  AF_PACKET: 17n,
  AF_ASH: 18n,
  AF_ECONET: 19n,
  AF_ATMSVC: 20n,
  AF_RDS: 21n,
  AF_SNA: 22n,
  AF_IRDA: 23n,
  AF_PPPOX: 24n,
  AF_WANPIPE: 25n,
  AF_LLC: 26n,
  AF_IB: 27n,
  AF_MPLS: 28n,
  AF_CAN: 29n,
  AF_TIPC: 30n,
  AF_BLUETOOTH: 31n,
  AF_IUCV: 32n,
  AF_RXRPC: 33n,
  AF_ISDN: 34n,
  AF_PHONET: 35n,
  AF_IEEE802154: 36n,
  AF_CAIF: 37n,
  AF_ALG: 38n,
  AF_NFC: 39n,
  AF_VSOCK: 40n,
  AF_KCM: 41n,
  AF_QIPCRTR: 42n,
  AF_SMC: 43n,
  AF_XDP: 44n,
  AF_MCTP: 45n,
};

/** Scheduling policies, include/uapi/linux/sched.h. */
export const SCHED_POLICIES: Readonly<Record<string, bigint>> = {
  SCHED_OTHER: 0n,
  SCHED_NORMAL: 0n,
  SCHED_FIFO: 1n,
  SCHED_RR: 2n,
  SCHED_BATCH: 3n,
  SCHED_IDLE: 5n,
  SCHED_DEADLINE: 6n,
  SCHED_EXT: 7n,
  SCHED_RESET_ON_FORK: 0x40000000n,
};

/** seccomp(2) filter flags, include/uapi/linux/seccomp.h. */
export const SECCOMP_FLAGS: Readonly<Record<string, bigint>> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1n,
  SECCOMP_FILTER_FLAG_LOG: 2n,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4n,
  SECCOMP_FILTER_FLAG_NEW_LISTENER: 8n,
  SECCOMP_FILTER_FLAG_TSYNC_ESRCH: 16n,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32n,
};

/**
 * ioctl request numbers, which encode a direction: _IOW('T', 202, int) is
 * 0x400454ca where _IOC_WRITE is 1 (x86, arm, s390, riscv, loongarch) and
 * 0x800454ca where it is 4 (powerpc, mips). Neither value means anything
 * else on the other family (include/uapi/linux/if_tun.h, asm/ioctl.h).
 */
export const IOCTL_REQUESTS: Readonly<Record<string, bigint>> = {
  TUNSETIFF: 0x400454can,
  TUNSETIFF_POWERPC_MIPS: 0x800454can,
  // Terminal requests: asm-generic/ioctls.h (powerpc has the same two), and
  // mips's own numbers, which are unassigned on the other ABIs.
  TIOCSTI: 0x5412n,
  TIOCLINUX: 0x541cn,
  TIOCSTI_MIPS: 0x5472n,
  TIOCLINUX_MIPS: 0x5483n,
};

/** Every symbolic name a filter may use, in one table. */
export const CONSTANTS: Readonly<Record<string, bigint>> = {
  ...CLONE_FLAGS,
  ...ADDRESS_FAMILIES,
  ...SCHED_POLICIES,
  ...SECCOMP_FLAGS,
  ...IOCTL_REQUESTS,
};

/** A constant as written in JSON: a non-negative integer or a name from CONSTANTS. */
export type ConstantRef = number | string;

/**
 * Resolves a JSON constant to a bigint. Throws with a message that names the
 * offending value; the group validator prefixes it with the JSON path.
 */
export function resolveConstant(ref: unknown): bigint {
  if (typeof ref === 'number') {
    if (!Number.isSafeInteger(ref) || ref < 0) {
      throw new Error(`${ref} is not a non-negative integer`);
    }
    return BigInt(ref);
  }
  if (typeof ref === 'string') {
    if (Object.prototype.hasOwnProperty.call(CONSTANTS, ref)) return CONSTANTS[ref];
    // Hex strings let a file spell flags above 2^53 that a JSON number cannot hold exactly.
    if (/^0x[0-9a-fA-F]+$/.test(ref)) return BigInt(ref);
    throw new Error(
      `unknown constant "${ref}" (not a CLONE_*, AF_*, SCHED_*, SECCOMP_*, TUN* or TIOC* name, nor 0x...)`,
    );
  }
  throw new Error(`expected a number or a constant name, got ${JSON.stringify(ref)}`);
}

/** The symbolic names whose value is exactly `value` within one family (for explain/CLI). */
export function constantNames(
  value: bigint,
  family: 'clone' | 'af' | 'sched' | 'seccomp' | 'ioctl' | 'any' = 'any',
): string[] {
  const families = {
    clone: CLONE_FLAGS,
    af: ADDRESS_FAMILIES,
    sched: SCHED_POLICIES,
    seccomp: SECCOMP_FLAGS,
    ioctl: IOCTL_REQUESTS,
    any: CONSTANTS,
  };
  const table = families[family];
  return Object.keys(table).filter((k) => table[k] === value);
}

/** Splits a clone-flags mask into flag names (CSIGNAL bits reported as one hex rest). */
export function cloneFlagNames(mask: bigint): string[] {
  const names: string[] = [];
  let rest = mask;
  for (const [name, bit] of Object.entries(CLONE_FLAGS)) {
    // Single-bit flags only: CSIGNAL is a field and CLONE_NEWTIME shares its bits.
    if (name === 'CSIGNAL' || name === 'CLONE_NEWTIME') continue;
    if ((mask & bit) === bit) {
      names.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0n) names.push(`0x${rest.toString(16)}`);
  return names;
}
