/**
 * errno values per ABI, for SECCOMP_RET_ERRNO rules. Most of our ABIs use
 * include/uapi/asm-generic/errno-base.h + errno.h unchanged (x86, arm,
 * aarch64, s390x, riscv64, loongarch64 have no asm/errno.h of their own).
 * Two differ: powerpc redefines EDEADLOCK (58), and MIPS has its own numbering
 * above 34 (arch/mips/include/uapi/asm/errno.h): ENOSYS is 89 there, not 38,
 * so a filter that hard-coded 38 would answer "EL2NSYNC" on mips64el.
 */
import type { AbiName } from './types';

/** errno-base.h: identical on every Linux ABI. */
const BASE: Readonly<Record<string, number>> = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
};

/** asm-generic/errno.h: the subset a seccomp policy could sensibly return. */
const GENERIC: Readonly<Record<string, number>> = {
  ...BASE,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOMSG: 42,
  EIDRM: 43,
  ENODATA: 61,
  ETIME: 62,
  EOVERFLOW: 75,
  EILSEQ: 84,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  ESOCKTNOSUPPORT: 94,
  EOPNOTSUPP: 95,
  EPFNOSUPPORT: 96,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ENETRESET: 102,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ESHUTDOWN: 108,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
  ESTALE: 116,
  EDQUOT: 122,
  ECANCELED: 125,
};

/** powerpc: asm-generic plus its own EDEADLOCK (an alias of EDEADLK elsewhere). */
const POWERPC: Readonly<Record<string, number>> = { ...GENERIC, EDEADLOCK: 58 };

/** arch/mips/include/uapi/asm/errno.h, same names as GENERIC plus EDEADLOCK. */
const MIPS: Readonly<Record<string, number>> = {
  ...BASE,
  EDEADLK: 45,
  ENAMETOOLONG: 78,
  ENOLCK: 46,
  ENOSYS: 89,
  ENOTEMPTY: 93,
  ELOOP: 90,
  ENOMSG: 35,
  EIDRM: 36,
  ENODATA: 61,
  ETIME: 62,
  EOVERFLOW: 79,
  EILSEQ: 88,
  ENOTSOCK: 95,
  EDESTADDRREQ: 96,
  EMSGSIZE: 97,
  EPROTOTYPE: 98,
  ENOPROTOOPT: 99,
  EPROTONOSUPPORT: 120,
  ESOCKTNOSUPPORT: 121,
  EOPNOTSUPP: 122,
  EPFNOSUPPORT: 123,
  EAFNOSUPPORT: 124,
  EADDRINUSE: 125,
  EADDRNOTAVAIL: 126,
  ENETDOWN: 127,
  ENETUNREACH: 128,
  ENETRESET: 129,
  ECONNABORTED: 130,
  ECONNRESET: 131,
  ENOBUFS: 132,
  EISCONN: 133,
  ENOTCONN: 134,
  ESHUTDOWN: 143,
  ETIMEDOUT: 145,
  ECONNREFUSED: 146,
  EHOSTDOWN: 147,
  EHOSTUNREACH: 148,
  EALREADY: 149,
  EINPROGRESS: 150,
  ESTALE: 151,
  EDQUOT: 1133,
  ECANCELED: 158,
  EDEADLOCK: 56,
};

/**
 * Second names for the same value. ENOTSUP is glibc's name (the kernel has
 * only EOPNOTSUPP; Linux userspace defines ENOTSUP == EOPNOTSUPP).
 * EDEADLOCK is an alias only where the ABI does not give it its own value.
 */
const ALIASES: Readonly<Record<string, string>> = {
  EWOULDBLOCK: 'EAGAIN',
  ENOTSUP: 'EOPNOTSUPP',
  EDEADLOCK: 'EDEADLK',
};

const TABLES: Readonly<Record<AbiName, Readonly<Record<string, number>>>> = {
  x86_64: GENERIC,
  i386: GENERIC,
  x32: GENERIC,
  aarch64: GENERIC,
  arm: GENERIC,
  ppc64le: POWERPC,
  s390x: GENERIC,
  riscv64: GENERIC,
  loongarch64: GENERIC,
  mips64el: MIPS,
};

function own(table: Readonly<Record<string, number>>, key: string): number | undefined {
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

/** The errno value of `name` (e.g. "EPERM", case-insensitive) on `abi`. */
export function errnoValue(abi: AbiName, name: string): number {
  const table = TABLES[abi];
  if (!table) throw new Error(`unknown ABI "${String(abi)}"`);
  const key = name.trim().toUpperCase();
  const direct = own(table, key);
  if (direct !== undefined) return direct;
  const target = Object.prototype.hasOwnProperty.call(ALIASES, key) ? ALIASES[key] : undefined;
  const aliased = target === undefined ? undefined : own(table, target);
  if (aliased !== undefined) return aliased;
  throw new Error(`unknown errno "${name}"; known: ${errnoNames(abi).join(', ')}`);
}

/** The canonical name of an errno value on `abi`, or undefined if we do not list it. */
export function errnoName(abi: AbiName, value: number): string | undefined {
  const table = TABLES[abi];
  if (!table) throw new Error(`unknown ABI "${String(abi)}"`);
  for (const [name, v] of Object.entries(table)) if (v === value) return name;
  return undefined;
}

/** Every name errnoValue accepts on `abi` (canonical names, then aliases). */
export function errnoNames(abi: AbiName): string[] {
  return [...Object.keys(TABLES[abi]), ...Object.keys(ALIASES).filter((a) => !(a in TABLES[abi]))];
}
