/**
 * Loads ffi-napi/ref-napi and binds the few libc functions the launcher needs.
 * Internal to src/native: nothing outside this directory sees a pointer.
 *
 * Start-up cost matters (the launcher runs before every QEMU): measured here,
 * `require('@2060.io/ffi-napi')` takes ~23 ms, of which ~8 ms is the `debug`
 * package (it probes the terminal for colour support). ffi/ref only call
 * `debug(...)` to print traces we never enable, so a no-op `debug` is put in
 * the require cache before they load. If the package layout changes, the stub
 * is simply not used (no failure).
 */
import Module from 'node:module';
import { dirname } from 'node:path';
import type * as FfiModule from '@2060.io/ffi-napi';
import type * as RefModule from '@2060.io/ref-napi';

type DebugFn = ((...args: unknown[]) => void) & { enabled: boolean };

/** Puts a no-op `debug` in the require cache at `resolved` (unless already loaded). */
function stubAt(resolved: string): void {
  if (require.cache[resolved]) return;
  const noop: DebugFn = Object.assign(() => undefined, { enabled: false });
  const factory = Object.assign(() => noop, {
    enable: () => undefined,
    disable: () => '',
    enabled: () => false,
  });
  const mod = new Module(resolved);
  mod.filename = resolved;
  mod.loaded = true;
  mod.exports = factory;
  require.cache[resolved] = mod;
}

function stubDebug(): void {
  // Each package may resolve its own copy (ref-struct-di nests debug@3).
  const from = (pkg: string, base?: string): string | undefined => {
    try {
      return dirname(require.resolve(`${pkg}/package.json`, base ? { paths: [base] } : undefined));
    } catch {
      return undefined;
    }
  };
  const ffiDir = from('@2060.io/ffi-napi');
  const dirs = [ffiDir, from('@2060.io/ref-napi', ffiDir), from('ref-struct-di', ffiDir)];
  for (const dir of dirs) {
    if (dir === undefined) continue;
    try {
      stubAt(require.resolve('debug', { paths: [dir] }));
    } catch {
      // no debug there: nothing to stub
    }
  }
}

export interface Libc {
  prctl: ((option: number, a2: number, a3: number, a4: number, a5: number) => number) & {
    async(
      option: number,
      a2: number,
      a3: number,
      a4: number,
      a5: number,
      cb: (err: Error | null, ret: number) => void,
    ): void;
  };
  /** syscall(2) with every argument as an integer (pointers passed as addresses). */
  syscall: ((
    nr: number,
    a1: number,
    a2: number,
    a3: number,
    a4: number,
    a5: number,
    a6: number,
  ) => number) & {
    /** ffi-napi: the same call on a libuv threadpool thread. */
    async(
      nr: number,
      a1: number,
      a2: number,
      a3: number,
      a4: number,
      a5: number,
      a6: number,
      cb: (err: Error | null, ret: number) => void,
    ): void;
  };
  fcntl(fd: number, cmd: number, arg: number): number;
  ioctl(fd: number, request: number, arg: Buffer): number;
  poll(fds: Buffer, nfds: number, timeout: number): number;
  close(fd: number): number;
  execve: ((path: Buffer, argv: Buffer, envp: Buffer) => number) & {
    /** ffi-napi: the same call on a libuv threadpool thread. */
    async(
      path: Buffer,
      argv: Buffer,
      envp: Buffer,
      cb: (err: Error | null, ret: number) => void,
    ): void;
  };
  __errno_location: (() => Buffer) & { async(cb: (err: Error | null, ptr: Buffer) => void): void };
  getrlimit(resource: number, rlim: Buffer): number;
  setrlimit(resource: number, rlim: Buffer): number;
  _exit(status: number): void;
  isatty(fd: number): number;
}

export interface Ffi {
  readonly libc: Libc;
  readonly ref: typeof RefModule;
  /** errno of the calling thread: read it right after the call that failed. */
  errno(): number;
}

/** The C signatures, bound one by one on first use (see loadFfi). */
const SIGNATURES: Record<keyof Libc, [string, string[]]> = {
  // prctl, fcntl, ioctl and syscall are variadic in C; declaring them with
  // fixed integer/pointer parameters is ABI-compatible on the Linux ABIs we
  // support (integer varargs travel in the same registers), and libffi sets
  // %al on x86_64 regardless.
  prctl: ['int', ['int', 'ulong', 'ulong', 'ulong', 'ulong']],
  syscall: ['long', ['long', 'long', 'long', 'long', 'long', 'long', 'long']],
  fcntl: ['int', ['int', 'int', 'long']],
  ioctl: ['int', ['int', 'ulong', 'pointer']],
  poll: ['int', ['pointer', 'ulong', 'int']],
  close: ['int', ['int']],
  execve: ['int', ['pointer', 'pointer', 'pointer']],
  getrlimit: ['int', ['int', 'pointer']],
  setrlimit: ['int', ['int', 'pointer']],
  _exit: ['void', ['int']],
  isatty: ['int', ['int']],
  __errno_location: ['pointer', []],
};

let cached: Ffi | undefined;

/**
 * Loads (once per thread) ffi-napi and binds libc. Each function is bound
 * on first use: a launch calls about half of them, and binding one (symbol
 * lookup, CIF) is what ffi.Library does for each, eagerly.
 */
export function loadFfi(): Ffi {
  if (cached) return cached;
  stubDebug();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ffi = require('@2060.io/ffi-napi') as typeof FfiModule;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ref = require('@2060.io/ref-napi') as typeof RefModule;
  // dlopen(NULL, RTLD_NOW): the process itself, with libc, exactly as
  // ffi.Library(null, ...) opens it (the typings do not admit null).
  const self = new ffi.DynamicLibrary(null as unknown as string, ffi.DynamicLibrary.FLAGS.RTLD_NOW);
  const lib = {} as Libc;
  for (const name of Object.keys(SIGNATURES) as (keyof Libc)[]) {
    Object.defineProperty(lib, name, {
      enumerable: true,
      configurable: true,
      get: () => {
        const [ret, args] = SIGNATURES[name];
        const ptr = self.get(name);
        // As ffi.Library checks: never call through NULL.
        if (ref.isNull(ptr)) throw new Error(`libc has no ${name}`);
        const fn = ffi.ForeignFunction(ptr, ret, args);
        Object.defineProperty(lib, name, { value: fn, enumerable: true, writable: false });
        return fn;
      },
    });
  }
  cached = { libc: lib, ref, errno: () => ffi.errno() };
  return cached;
}
