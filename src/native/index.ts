/**
 * src/native: the only code that calls C. Every function here takes and
 * returns plain numbers, bigints and Buffers; pointers never leave this
 * directory. Failures throw NativeError carrying errno.
 *
 * The launcher runs these on its main thread right before execve. The
 * exec gate (gate.ts, with notify.ts) is separate: only spawn=deny needs it.
 * Not thread-safe across worker_threads: each thread loads its own FFI.
 */
import { readFileSync } from 'node:fs';
import { errnoName } from '../arch/errno';
import type { AbiName } from '../arch/types';
import { loadFfi, type Ffi } from './ffi';

/**
 * The host's name for an errno value (src/arch's tables: MIPS numbers them
 * differently). The ABI comes from useHostSyscalls, else from src/arch,
 * loaded then: only failures need a name.
 */
function errnoText(errno: number): string | undefined {
  try {
    const name =
      hostSyscalls?.name ??
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose, see above
      (require('../arch') as typeof import('../arch')).detectHostAbi();
    return errnoName(name as AbiName, errno);
  } catch {
    return undefined; // an ABI src/arch does not know: the number alone
  }
}

export class NativeError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call} failed: ${errnoText(errno) ?? 'errno'} (${errno})`);
    this.name = 'NativeError';
  }
  /** The errno's symbolic name when known (EPERM...), else `errno <n>`. */
  get code(): string {
    return errnoText(this.errno) ?? `errno ${this.errno}`;
  }
}

export const PR_SET_PDEATHSIG = 1;
export const PR_GET_PDEATHSIG = 2;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_GET_NO_NEW_PRIVS = 39;
export const SECCOMP_SET_MODE_FILTER = 1;
export const SECCOMP_FILTER_FLAG_TSYNC = 1;
export const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;
/** With TSYNC: report a thread that cannot sync as ESRCH (lets TSYNC combine with NEW_LISTENER). */
export const SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 16;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;
export const RLIMIT_NOFILE = 7;
/** RLIM_INFINITY as the kernel stores it (all ones, 64-bit). */
export const RLIM_INFINITY = 0xffffffffffffffffn;

// Kernel structs are in host byte order (computed here: node:os costs ~1 ms to load).
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function writeU64(buf: Buffer, value: bigint, offset: number): void {
  if (LE) buf.writeBigUInt64LE(value, offset);
  else buf.writeBigUInt64BE(value, offset);
}
function readU64(buf: Buffer, offset: number): bigint {
  return LE ? buf.readBigUInt64LE(offset) : buf.readBigUInt64BE(offset);
}

function ffi(): Ffi {
  return loadFfi();
}

function check(call: string, ret: number): number {
  if (ret < 0) throw new NativeError(call, ffi().errno());
  return ret;
}

interface SyscallNumbers {
  seccomp: number;
  rtSigaction: number;
  rtSigprocmask: number;
  /** sizeof(kernel sigset_t): 8, 16 on mips (128 signals). */
  sigsetSize: number;
}

let numbers: SyscallNumbers | undefined;

/** The host ABI's name and the syscall numbers this file uses (at least). */
export interface HostSyscalls {
  readonly name: string;
  readonly syscalls: ReadonlyMap<string, number>;
}

let hostSyscalls: HostSyscalls | undefined;

/**
 * Tells this module the host ABI's numbers, so that it need not load src/arch
 * (the launcher has them from its compile cache, src/compiler/precompiled.ts).
 * Must describe the host: they go straight into syscall(2).
 */
export function useHostSyscalls(host: HostSyscalls): void {
  hostSyscalls = host;
  numbers = undefined;
}

/** One host syscall number by name (from the compile cache's facts or src/arch). */
function syscallNumber(name: string): number {
  const abi =
    hostSyscalls ??
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ((a: typeof import('../arch')) => a.getAbi(a.detectHostAbi()))(require('../arch'));
  const nr = abi.syscalls.get(name);
  if (nr === undefined) throw new Error(`no ${name} syscall on ${abi.name}`);
  return nr;
}

function syscallNumbers(): SyscallNumbers {
  if (numbers) return numbers;
  // Required here, not at the top: the syscall tables cost ~6 ms to load and
  // a launch with -sandbox off needs no other part of them.
  const abi =
    hostSyscalls ??
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ((a: typeof import('../arch')) => a.getAbi(a.detectHostAbi()))(require('../arch'));
  const get = (name: string): number => {
    const nr = abi.syscalls.get(name);
    if (nr === undefined) throw new Error(`no ${name} syscall on ${abi.name}`);
    return nr;
  };
  numbers = {
    seccomp: get('seccomp'),
    rtSigaction: get('rt_sigaction'),
    rtSigprocmask: get('rt_sigprocmask'),
    sigsetSize: abi.name === 'mips64el' ? 16 : 8,
  };
  return numbers;
}

// ---- no-new-privileges ------------------------------------------------------

export function setNoNewPrivs(): void {
  check('prctl(PR_SET_NO_NEW_PRIVS)', ffi().libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
}

export function getNoNewPrivs(): boolean {
  return (
    check('prctl(PR_GET_NO_NEW_PRIVS)', ffi().libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)) === 1
  );
}

/**
 * The calling thread's parent-death signal (0: none). Per thread: a new
 * thread starts with none, so the gate's exec thread must be given it.
 */
export function getParentDeathSignal(): number {
  const { libc, ref } = ffi();
  const out = Buffer.alloc(4);
  check('prctl(PR_GET_PDEATHSIG)', libc.prctl(PR_GET_PDEATHSIG, ref.address(out), 0, 0, 0));
  return LE ? out.readInt32LE(0) : out.readInt32BE(0);
}

export function setParentDeathSignal(sig: number): void {
  check('prctl(PR_SET_PDEATHSIG)', ffi().libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0));
}

// ---- seccomp ------------------------------------------------------------------

/**
 * seccomp(SECCOMP_SET_MODE_FILTER, flags, prog) for the calling thread.
 * `program` is the struct sock_filter array (8 bytes per instruction, host
 * byte order). Returns the listener fd when flags has NEW_LISTENER, else 0.
 */
export function seccompSetModeFilter(program: Uint8Array, flags: number): number {
  if (program.length === 0 || program.length % 8 !== 0) {
    throw new Error(
      `seccomp filter must be a non-empty multiple of 8 bytes, got ${program.length}`,
    );
  }
  const { libc, ref } = ffi();
  const filter = Buffer.from(program); // a copy the GC will not move while we call
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; } (pointer at 8 on 64-bit)
  const fprog = Buffer.alloc(16);
  if (LE) fprog.writeUInt16LE(program.length / 8, 0);
  else fprog.writeUInt16BE(program.length / 8, 0);
  ref.writePointer(fprog, 8, filter);
  const ret = libc.syscall(
    syscallNumbers().seccomp,
    SECCOMP_SET_MODE_FILTER,
    flags,
    ref.address(fprog),
    0,
    0,
    0,
  );
  const err = ffi().errno();
  // Keep the buffers reachable until after the call.
  void filter.length;
  if (ret < 0) throw new NativeError('seccomp(SECCOMP_SET_MODE_FILTER)', err);
  return ret;
}

// ---- file descriptors -----------------------------------------------------------

export function getFdFlags(fd: number): number {
  return check(`fcntl(${fd}, F_GETFD)`, ffi().libc.fcntl(fd, F_GETFD, 0));
}

export function setFdFlags(fd: number, flags: number): void {
  check(`fcntl(${fd}, F_SETFD)`, ffi().libc.fcntl(fd, F_SETFD, flags));
}

/** File status flags (O_NONBLOCK, O_APPEND... plus the access mode). */
export function getStatusFlags(fd: number): number {
  return check(`fcntl(${fd}, F_GETFL)`, ffi().libc.fcntl(fd, F_GETFL, 0));
}

/** F_SETFL: the kernel changes only O_APPEND O_ASYNC O_DIRECT O_NOATIME O_NONBLOCK. */
export function setStatusFlags(fd: number, flags: number): void {
  check(`fcntl(${fd}, F_SETFL)`, ffi().libc.fcntl(fd, F_SETFL, flags));
}

export function close(fd: number): void {
  check(`close(${fd})`, ffi().libc.close(fd));
}

// ---- rlimits --------------------------------------------------------------------

export interface Rlimit {
  readonly soft: bigint;
  readonly hard: bigint;
}

export function getRlimit(resource: number): Rlimit {
  const buf = Buffer.alloc(16);
  check(`getrlimit(${resource})`, ffi().libc.getrlimit(resource, buf));
  return { soft: readU64(buf, 0), hard: readU64(buf, 8) };
}

export function setRlimit(resource: number, limit: Rlimit): void {
  const buf = Buffer.alloc(16);
  writeU64(buf, limit.soft, 0);
  writeU64(buf, limit.hard, 8);
  check(`setrlimit(${resource})`, ffi().libc.setrlimit(resource, buf));
}

// ---- signals --------------------------------------------------------------------
// Raw rt_sigprocmask/rt_sigaction: glibc's wrappers silently refuse or strip
// its two internal real-time signals (32, 33), which a caller may have blocked
// or ignored and which must be restored too.

const SIG_SETMASK = 2;
export const SIG_DFL = 0;
export const SIG_IGN = 1;

/** Sets the calling thread's blocked-signal mask (bit n-1 = signal n). */
export function setSignalMask(mask: bigint): void {
  const { libc, ref } = ffi();
  const n = syscallNumbers();
  const set = Buffer.alloc(n.sigsetSize);
  writeU64(set, mask & 0xffffffffffffffffn, 0);
  const ret = libc.syscall(n.rtSigprocmask, SIG_SETMASK, ref.address(set), 0, n.sigsetSize, 0, 0);
  if (ret < 0) throw new NativeError('rt_sigprocmask(SIG_SETMASK)', ffi().errno());
}

export function getSignalMask(): bigint {
  const { libc, ref } = ffi();
  const n = syscallNumbers();
  const old = Buffer.alloc(n.sigsetSize);
  const ret = libc.syscall(n.rtSigprocmask, SIG_SETMASK, 0, ref.address(old), n.sigsetSize, 0, 0);
  if (ret < 0) throw new NativeError('rt_sigprocmask', ffi().errno());
  return readU64(old, 0);
}

/**
 * Sets signal `sig` to SIG_IGN or SIG_DFL (no handler, no flags, empty mask).
 * Layout of the kernel's struct sigaction on the generic ABIs: handler,
 * flags, restorer, mask (mips puts flags first: not supported here).
 */
export function setSignalDisposition(sig: number, disposition: 'ignore' | 'default'): void {
  const { libc, ref } = ffi();
  const n = syscallNumbers();
  if (n.sigsetSize !== 8) throw new Error('setSignalDisposition: this ABI is not supported');
  const act = Buffer.alloc(32);
  writeU64(act, disposition === 'ignore' ? BigInt(SIG_IGN) : BigInt(SIG_DFL), 0);
  const ret = libc.syscall(n.rtSigaction, sig, ref.address(act), 0, n.sigsetSize, 0, 0);
  if (ret < 0) throw new NativeError(`rt_sigaction(${sig})`, ffi().errno());
}

// ---- execve ---------------------------------------------------------------------

/**
 * An execve call prepared in advance, so the exec gate can be told the
 * address of the path string the kernel will see in args[0].
 */
export interface PreparedExec {
  /** The syscall it makes: execve, or execveat by descriptor. */
  readonly syscall: 'execve' | 'execveat';
  /** Address of the NUL-terminated path: args[0] of execve, args[1] of execveat ("" there). */
  readonly pathAddress: bigint;
  /** execveat only: the descriptor of the file it runs (args[0]). */
  readonly fd?: number;
  /** Calls execve(2) on this thread. Returns only on failure, with errno. */
  run(): number;
  /**
   * Calls execve(2) on a libuv threadpool thread (see gate.ts). `onFailed`
   * runs from the event loop only if execve returned; errno is read from
   * that thread when the threadpool has a single thread (UV_THREADPOOL_SIZE=1,
   * set by the launcher), else undefined. A new thread has no parent-death
   * signal: `parentDeathSignal` (if not 0) is set on it first, so that QEMU
   * keeps the caller's (with one thread, queued work runs in order).
   */
  runAsync(onFailed: (errno: number | undefined) => void, parentDeathSignal?: number): void;
}

function cString(bytes: Buffer | string): Buffer {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  if (b.includes(0)) throw new Error('execve: a string contains a NUL byte');
  const out = Buffer.alloc(b.length + 1);
  b.copy(out);
  return out;
}

function pointerArray(strings: readonly Buffer[]): Buffer {
  const { ref } = ffi();
  const arr = Buffer.alloc((strings.length + 1) * 8);
  strings.forEach((s, i) => ref.writePointer(arr, i * 8, s));
  return arr; // zero-filled: the last slot is NULL
}

/** execveat flag: run the file `fd` refers to ("" path). */
const AT_EMPTY_PATH = 0x1000;

/**
 * Arguments and environment are raw bytes (they need not be UTF-8). With
 * `fd` (an open descriptor of the file, close-on-exec), the exec is
 * execveat(fd, "", ..., AT_EMPTY_PATH): exactly that file runs, whatever its
 * path names by then; `path` is then only for messages.
 */
export function prepareExec(
  path: Buffer | string,
  argv: readonly (Buffer | string)[],
  envp: readonly (Buffer | string)[],
  fd?: number,
): PreparedExec {
  const { libc, ref } = ffi();
  const pathBuf = cString(fd === undefined ? path : '');
  const argStrings = argv.map(cString);
  const envStrings = envp.map(cString);
  const argvBuf = pointerArray(argStrings);
  const envBuf = pointerArray(envStrings);
  const keepAlive = [pathBuf, argStrings, envStrings, argvBuf, envBuf];
  const execveat = fd === undefined ? -1 : syscallNumber('execveat');
  const atArgs = (): [number, number, number, number, number, number, number] => [
    execveat,
    fd ?? -1,
    ref.address(pathBuf),
    ref.address(argvBuf),
    ref.address(envBuf),
    AT_EMPTY_PATH,
    0,
  ];
  const afterExec = (onFailed: (errno: number | undefined) => void) => (): void => {
    void keepAlive.length;
    // errno lives in the threadpool thread: ask that thread (FIFO, one thread).
    if (process.env.UV_THREADPOOL_SIZE !== '1') return onFailed(undefined);
    libc.__errno_location.async((err: Error | null, p: Buffer) => {
      onFailed(err ? undefined : ref.reinterpret(p, 4, 0).readInt32LE(0));
    });
  };
  return {
    syscall: fd === undefined ? 'execve' : 'execveat',
    pathAddress: BigInt(ref.address(pathBuf)),
    ...(fd === undefined ? {} : { fd }),
    run(): number {
      if (fd === undefined) libc.execve(pathBuf, argvBuf, envBuf);
      else libc.syscall(...atArgs());
      const err = ffi().errno();
      void keepAlive.length;
      return err;
    },
    runAsync(onFailed: (errno: number | undefined) => void, parentDeathSignal = 0): void {
      if (parentDeathSignal !== 0) {
        libc.prctl.async(PR_SET_PDEATHSIG, parentDeathSignal, 0, 0, 0, () => undefined);
      }
      if (fd === undefined) libc.execve.async(pathBuf, argvBuf, envBuf, afterExec(onFailed));
      else libc.syscall.async(...atArgs(), afterExec(onFailed));
    },
  };
}

/**
 * isatty(3). Through the FFI, which the launcher loads anyway: node:tty
 * costs ~3 ms to load (it pulls in net) for this one answer.
 */
export function isTerminal(fd: number): boolean {
  return ffi().libc.isatty(fd) === 1;
}

// ---- exit ---------------------------------------------------------------------------

/**
 * _exit(2): ends the process now, without Node's teardown (exit handlers,
 * worker joins). For a process that must not run any more JavaScript, e.g. a
 * test child whose filter would trap its teardown.
 */
export function exitImmediately(status: number): never {
  ffi().libc._exit(status);
  throw new Error('unreachable: _exit returned');
}

// ---- capabilities (no FFI) --------------------------------------------------------

export const CAP_SYS_ADMIN = 21;

/** Whether the effective capability set holds `cap` (from /proc/self/status). */
export function hasCapability(
  cap: number,
  status = readFileSync('/proc/self/status', 'latin1'),
): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  if (!m) return false;
  return ((BigInt(`0x${m[1]}`) >> BigInt(cap)) & 1n) === 1n;
}
