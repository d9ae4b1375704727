/**
 * Landlock (Linux 5.13+): the launcher's second, independent layer. A
 * process inside a Landlock domain cannot ptrace-access a process outside it
 * (so no /proc/PID/mem, /proc/PID/environ or kcmp on it, whatever seccomp
 * allows), and from ABI 6 (Linux 6.12) it can be scoped: no signals to, and
 * no connection to the abstract unix sockets of, processes outside it.
 *
 * With filesystem rights handled (files=deny), the domain also confines
 * every open, create, remove and truncate to the path rules added here.
 *
 * A domain applies to the calling thread and to what it creates or execs
 * afterwards; there is no way to apply it to other threads before ABI 8.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { loadFfi } from './ffi';
import { NativeError } from './index';

/** landlock_create_ruleset flag: return the highest supported ABI instead. */
const LANDLOCK_CREATE_RULESET_VERSION = 1;

export interface LandlockNumbers {
  readonly createRuleset: number;
  readonly addRule: number;
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
  const addRule = syscalls.get('landlock_add_rule');
  const restrictSelf = syscalls.get('landlock_restrict_self');
  return createRuleset === undefined || addRule === undefined || restrictSelf === undefined
    ? undefined
    : { createRuleset, addRule, restrictSelf };
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

/** landlock_add_rule's rule type for struct landlock_path_beneath_attr. */
const LANDLOCK_RULE_PATH_BENEATH = 1;
/** open(2) flags (the generic Linux values, as on every ABI this package supports). */
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;
/** The rights a rule on a non-directory may carry (LANDLOCK_ACCESS_FS_* of files). */
const FILE_RIGHTS = (1n << 0n) | (1n << 1n) | (1n << 2n) | (1n << 14n) | (1n << 15n);

/** One path rule: `access` is granted to `path` and, for a directory, beneath it. */
export interface PathRule {
  readonly path: string;
  readonly access: bigint;
}

/** A path rule the kernel (or the path) refused: names the path. */
export class LandlockRuleError extends NativeError {
  constructor(
    call: string,
    errno: number,
    readonly path: string,
  ) {
    super(call, errno);
    this.name = 'LandlockRuleError';
    this.message = `${path}: ${this.message}`;
  }
}

/**
 * Adds one path-beneath rule: opens the path O_PATH|O_CLOEXEC (following
 * symlinks: the rule lands on the file the path names now), adds the rule,
 * closes. A rule on something that is not a directory keeps only the file
 * rights (the kernel refuses directory rights there), so a directory
 * replaced by a file between planning and now gets less, never more.
 */
function addPathRule(nr: LandlockNumbers, rulesetFd: number, rule: PathRule): void {
  const { libc, ref } = loadFfi();
  let fd: number;
  try {
    fd = openSync(rule.path, O_PATH | O_CLOEXEC);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).errno;
    throw new LandlockRuleError('open(O_PATH)', code === undefined ? 0 : -code, rule.path);
  }
  try {
    const access = fstatSync(fd).isDirectory() ? rule.access : rule.access & FILE_RIGHTS;
    if (access === 0n) return;
    // struct landlock_path_beneath_attr is packed: u64 allowed_access, s32 parent_fd.
    const attr = Buffer.alloc(12);
    u64(attr, 0, access);
    if (LE) attr.writeInt32LE(fd, 8);
    else attr.writeInt32BE(fd, 8);
    const ret = libc.syscall(
      nr.addRule,
      rulesetFd,
      LANDLOCK_RULE_PATH_BENEATH,
      ref.address(attr),
      0,
      0,
      0,
    );
    if (ret < 0) throw new LandlockRuleError('landlock_add_rule', loadFfi().errno(), rule.path);
    void attr.length;
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates the ruleset, adds `rules` (only when `attr` handles filesystem
 * rights) and makes the calling thread enter it. The domain restricts what
 * `attr` handles or scopes, plus the ptrace restriction every domain has.
 * Needs no-new-privs or CAP_SYS_ADMIN. Throws NativeError (LandlockRuleError
 * for a rule); the thread is unchanged when it throws.
 */
export function restrictSelf(
  nr: LandlockNumbers,
  attr: RulesetAttr,
  flags: number,
  rules: readonly PathRule[] = [],
): void {
  const { libc, ref } = loadFfi();
  const buf = Buffer.alloc(24);
  u64(buf, 0, attr.handledAccessFs);
  u64(buf, 8, attr.handledAccessNet);
  u64(buf, 16, attr.scoped);
  // The kernel takes the attribute's size: 24 bytes since ABI 6 (scoped);
  // older kernels accept it too, as long as the fields they lack are zero.
  const fd = libc.syscall(nr.createRuleset, ref.address(buf), 24, 0, 0, 0, 0);
  if (fd < 0) throw new NativeError('landlock_create_ruleset', loadFfi().errno());
  try {
    if (attr.handledAccessFs !== 0n) {
      for (const rule of rules) addPathRule(nr, fd, rule);
    }
    const ret = libc.syscall(nr.restrictSelf, fd, flags, 0, 0, 0, 0);
    if (ret < 0) throw new NativeError('landlock_restrict_self', loadFfi().errno());
  } finally {
    libc.close(fd);
    void buf.length;
  }
}
