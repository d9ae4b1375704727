/**
 * Puts back, right before execve, the process state the caller handed the
 * trampoline (see state.ts), undoing what Node changed at start-up.
 * Two steps, because the signal state must be restored last (a default
 * SIGPIPE could kill us while we still write the log line).
 */
import { readdirSync } from 'node:fs';
import {
  FD_CLOEXEC,
  NativeError,
  RLIMIT_NOFILE,
  getFdFlags,
  getStatusFlags,
  setFdFlags,
  setRlimit,
  setSignalDisposition,
  setSignalMask,
  setStatusFlags,
} from '../src/native';
import type { InheritedFd, InheritedState, SignalState } from './state';

/** The flags F_SETFL can change (O_APPEND O_ASYNC O_DIRECT O_NOATIME O_NONBLOCK, generic Linux values). */
export const SETFL_MASK = 0o2000 | 0o20000 | 0o40000 | 0o1000000 | 0o4000;
const EBADF = 9;

/** Open descriptors of this process (from /proc/self/fd). */
export function openFds(): number[] {
  return readdirSync('/proc/self/fd')
    .map(Number)
    .filter((n) => Number.isInteger(n));
}

/**
 * Inherited fds: FD_CLOEXEC cleared and file status flags as recorded.
 * Every other fd: FD_CLOEXEC set, so nothing of Node's leaks into QEMU.
 */
export function restoreDescriptors(inherited: readonly InheritedFd[]): void {
  const keep = new Map(inherited.map((f) => [f.fd, f.flags]));
  for (const [fd, flags] of keep) {
    const fdFlags = getFdFlags(fd);
    if (fdFlags & FD_CLOEXEC) setFdFlags(fd, fdFlags & ~FD_CLOEXEC);
    const now = getStatusFlags(fd);
    if ((now & SETFL_MASK) !== (flags & SETFL_MASK)) {
      setStatusFlags(fd, (now & ~SETFL_MASK) | (flags & SETFL_MASK));
    }
  }
  for (const fd of openFds()) {
    if (keep.has(fd)) continue;
    try {
      const fdFlags = getFdFlags(fd);
      if (!(fdFlags & FD_CLOEXEC)) setFdFlags(fd, fdFlags | FD_CLOEXEC);
    } catch (e) {
      // readdir's own fd is listed but already closed.
      if (!(e instanceof NativeError && e.errno === EBADF)) throw e;
    }
  }
}

/** RLIMIT_NOFILE as recorded (Node raised the soft limit to the hard one). */
export function restoreLimits(state: Pick<InheritedState, 'nofile'>): void {
  setRlimit(RLIMIT_NOFILE, state.nofile);
}

/** Highest signal number on Linux (SIGRTMAX). */
const NSIG = 64;
const SIGKILL = 9;
const SIGSTOP = 19;

/**
 * Signal dispositions (ignored as recorded, all others default) and the
 * calling thread's mask. Call last, on the thread that execs: handlers are
 * reset by execve anyway, but ignored signals and the mask survive it.
 */
export function restoreSignals(signals: SignalState): void {
  for (let sig = 1; sig <= NSIG; sig++) {
    if (sig === SIGKILL || sig === SIGSTOP) continue;
    const ignored = ((signals.ignored >> BigInt(sig - 1)) & 1n) === 1n;
    setSignalDisposition(sig, ignored ? 'ignore' : 'default');
  }
  setSignalMask(signals.blocked);
}
