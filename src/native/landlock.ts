/**
 * Landlock (Linux 5.13+): the launcher's second, independent layer. A
 * process inside a Landlock domain cannot ptrace-access a process outside it
 * (so no /proc/PID/mem, /proc/PID/environ or kcmp on it, whatever seccomp
 * allows), and from ABI 6 (Linux 6.12) it can be scoped: no signals to, and
 * no connection to the abstract unix sockets of, processes outside it.
 *
 * A domain applies to the calling thread and to what it creates or execs
 * afterwards; there is no way to apply it to other threads before ABI 8.
 */
import { loadFfi } from './ffi';
import { NativeError } from './index';

/** landlock_create_ruleset flag: return the highest supported ABI instead. */
const LANDLOCK_CREATE_RULESET_VERSION = 1;

export interface LandlockNumbers {
  readonly createRuleset: number;
  readonly restrictSelf: number;
}

/** What the kernel offers: the ABI version, or why there is none. */
export type LandlockSupport =
  { readonly abi: number } | { readonly abi: 0; readonly reason: string };

/** The Landlock syscall numbers of a host syscall table; undefined where the ABI has none. */
export function landlockNumbers(
  syscalls: ReadonlyMap<string, number>,
): LandlockNumbers | undefined {
  const createRuleset = syscalls.get('landlock_create_ruleset');
  const restrictSelf = syscalls.get('landlock_restrict_self');
  return createRuleset === undefined || restrictSelf === undefined
    ? undefined
    : { createRuleset, restrictSelf };
}

/**
 * The kernel's Landlock ABI: landlock_create_ruleset(NULL, 0, VERSION).
 * ENOSYS: not built in; EOPNOTSUPP: built in but not enabled (lsm=).
 */
export function landlockSupport(nr: LandlockNumbers | undefined): LandlockSupport {
  if (nr === undefined) return { abi: 0, reason: 'no Landlock syscalls on this ABI' };
  const { libc } = loadFfi();
  const ret = libc.syscall(nr.createRuleset, 0, 0, LANDLOCK_CREATE_RULESET_VERSION, 0, 0, 0);
  if (ret >= 1) return { abi: ret };
  const errno = loadFfi().errno();
  const why =
    errno === 38
      ? 'the kernel has no Landlock (CONFIG_SECURITY_LANDLOCK)'
      : errno === 95
        ? 'Landlock is not enabled (add landlock to the lsm= boot parameter)'
        : new NativeError('landlock_create_ruleset', errno).message;
  return { abi: 0, reason: why };
}

/** struct landlock_ruleset_attr, as far as the given ABI knows it. */
export interface RulesetAttr {
  readonly handledAccessFs: bigint;
  readonly handledAccessNet: bigint;
  readonly scoped: bigint;
}

const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function u64(buf: Buffer, offset: number, v: bigint): void {
  if (LE) buf.writeBigUInt64LE(v, offset);
  else buf.writeBigUInt64BE(v, offset);
}

/**
 * Creates the ruleset and makes the calling thread enter it (no fs or net
 * rules: the domain restricts only what `attr` handles or scopes, plus the
 * ptrace restriction every domain has). Needs no-new-privs or CAP_SYS_ADMIN.
 * Throws NativeError; the thread is unchanged when it throws.
 */
export function restrictSelf(nr: LandlockNumbers, attr: RulesetAttr, flags: number): void {
  const { libc, ref } = loadFfi();
  const buf = Buffer.alloc(24);
  u64(buf, 0, attr.handledAccessFs);
  u64(buf, 8, attr.handledAccessNet);
  u64(buf, 16, attr.scoped);
  // The kernel takes the attribute's size: 24 bytes since ABI 6 (scoped).
  const fd = libc.syscall(nr.createRuleset, ref.address(buf), 24, 0, 0, 0, 0);
  if (fd < 0) throw new NativeError('landlock_create_ruleset', loadFfi().errno());
  const ret = libc.syscall(nr.restrictSelf, fd, flags, 0, 0, 0, 0);
  const err = loadFfi().errno();
  libc.close(fd);
  void buf.length;
  if (ret < 0) throw new NativeError('landlock_restrict_self', err);
}
