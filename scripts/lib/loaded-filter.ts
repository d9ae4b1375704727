/**
 * Reads back the seccomp filters the kernel holds for a running process
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
import { createHash } from 'node:crypto';
import { readSeccompFilters } from '../../src/native/seccomp-filters';

export interface LoadedFilter {
  /** The struct sock_filter array as the kernel holds it. */
  readonly bytes: Uint8Array;
  /** sha256 of bytes, hex (comparable with CompiledFilter.hash). */
  readonly hash: string;
  readonly instructions: number;
}

/**
 * The filters attached to thread `pid`, oldest first: the kernel's
 * get_nth_filter() counts PTRACE_SECCOMP_GET_FILTER's index from the first
 * filter installed (checked here: the launcher's filter is #0, the one QEMU's
 * own -sandbox stacks on it is #1). An empty list when it has none. Throws
 * with the reason when the kernel refuses (not root, no such process). The
 * ptrace calls live in src/native, the only FFI code.
 */
export function readLoadedFilters(pid: number): LoadedFilter[] {
  return readSeccompFilters(pid).map((bytes) => ({
    bytes,
    hash: createHash('sha256').update(bytes).digest('hex'),
    instructions: bytes.length / 8,
  }));
}
