/**
 * FFI side of reading back the seccomp filters the kernel holds for a running process
 * (PTRACE_SECCOMP_GET_FILTER), so a test or the demo can prove that the filter
 * on QEMU is byte for byte the one we compiled, not merely that *a* filter is
 * there: "Seccomp: 2" alone would also pass for an allow-all filter or for
 * QEMU's own -sandbox.
 *
 * Needs CAP_SYS_ADMIN (the kernel's rule for this request) and ptrace rights
 * over the process (root has both). The target is stopped for a few
 * microseconds with PTRACE_SEIZE + PTRACE_INTERRUPT, which stop one thread
 * without sending it a signal, and detached at once. Everything is
 * synchronous: the caller's event loop (libuv reaps its own children on
 * SIGCHLD) never sees the ptrace stop.
 */
import type * as FfiModule from '@2060.io/ffi-napi';
import type * as RefModule from '@2060.io/ref-napi';

// x86_64 and the generic asm/unistd.h numbers of ptrace(2), and <linux/ptrace.h>.
const SYS_PTRACE: Partial<Record<NodeJS.Architecture, number>> = { x64: 101, arm64: 117 };
const PTRACE_DETACH = 17;
const PTRACE_SEIZE = 0x4206;
const PTRACE_INTERRUPT = 0x4207;
const PTRACE_SECCOMP_GET_FILTER = 0x420c;
const PTRACE_EVENT_STOP = 128;
const SIGTRAP = 5;
const WALL = 0x40000000;
const EPERM = 1;
const ENOENT = 2;
const ESRCH = 3;
const EACCES = 13;
const EINVAL = 22;
/** sizeof(struct sock_filter) */
const INSN_BYTES = 8;

interface Lib {
  syscall(nr: number, a1: number, a2: number, a3: number, a4: number): number;
  waitpid(pid: number, status: Buffer, options: number): number;
}

let lib: { libc: Lib; ffi: typeof FfiModule; ref: typeof RefModule } | undefined;

function load(): NonNullable<typeof lib> {
  if (lib) return lib;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- native, loaded on first use
  const ffi = require('@2060.io/ffi-napi') as typeof FfiModule;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- native, loaded on first use
  const ref = require('@2060.io/ref-napi') as typeof RefModule;
  const libc = ffi.Library(null, {
    syscall: ['long', ['long', 'long', 'long', 'long', 'long']],
    waitpid: ['int', ['int', 'pointer', 'int']],
  }) as unknown as Lib;
  lib = { libc, ffi, ref };
  return lib;
}

/**
 * The filters attached to thread `pid`, oldest first: the kernel's
 * get_nth_filter() counts PTRACE_SECCOMP_GET_FILTER's index from the first
 * filter installed (checked here: the launcher's filter is #0, the one QEMU's
 * own -sandbox stacks on it is #1). An empty list when it has none. Throws with the reason when the
 * kernel refuses (not root, no such process).
 */
export function readSeccompFilters(pid: number): Uint8Array[] {
  const nr = SYS_PTRACE[process.arch];
  if (nr === undefined) throw new Error(`readSeccompFilters: no ptrace number for ${process.arch}`);
  const { libc, ffi, ref } = load();
  const ptrace = (req: number, addr: number, data: number): number =>
    libc.syscall(nr, req, pid, addr, data);
  const why: Record<number, string> = {
    [EPERM]: 'EPERM: needs ptrace rights over it (root)',
    [ESRCH]: 'ESRCH: no such process',
    [EACCES]: 'EACCES: needs CAP_SYS_ADMIN and no seccomp filter on the reader',
  };
  const fail = (what: string): Error => {
    const errno = ffi.errno();
    return new Error(`${what} on pid ${pid} failed: ${why[errno] ?? `errno ${errno}`}`);
  };

  if (ptrace(PTRACE_SEIZE, 0, 0) !== 0) throw fail('PTRACE_SEIZE');
  let deliver = 0;
  try {
    if (ptrace(PTRACE_INTERRUPT, 0, 0) !== 0) throw fail('PTRACE_INTERRUPT');
    const status = Buffer.alloc(4);
    if (libc.waitpid(pid, status, WALL) !== pid) throw fail('waitpid');
    const s = status.readInt32LE(0);
    if ((s & 0xff) !== 0x7f) throw new Error(`pid ${pid} ended while being read (status ${s})`);
    // A signal that arrived before our interrupt is handed back on detach.
    const sig = (s >> 8) & 0xff;
    if (!(sig === SIGTRAP && s >> 16 === PTRACE_EVENT_STOP)) deliver = sig;

    const filters: Uint8Array[] = [];
    for (let index = 0; ; index++) {
      const count = ptrace(PTRACE_SECCOMP_GET_FILTER, index, 0);
      if (count < 0) {
        const errno = ffi.errno();
        if (errno === ENOENT) break; // past the oldest filter
        if (errno === EINVAL && index === 0) break; // not in filter mode: no filters at all
        throw fail(`PTRACE_SECCOMP_GET_FILTER #${index}`);
      }
      const buf = Buffer.alloc(count * INSN_BYTES);
      const got = ptrace(PTRACE_SECCOMP_GET_FILTER, index, Number(ref.address(buf)));
      if (got !== count) throw fail(`PTRACE_SECCOMP_GET_FILTER #${index} (read)`);
      filters.push(new Uint8Array(buf));
    }
    return filters;
  } finally {
    ptrace(PTRACE_DETACH, 0, deliver);
  }
}
