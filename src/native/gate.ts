/**
 * The exec-once gate, for spawn=deny (execve/execveat -> SECCOMP_RET_USER_NOTIF).
 *
 * Design (changed from "a worker_threads Worker answers while the main thread
 * execs", with evidence): a Worker is a second Node environment. Measured
 * here it takes 50-60 ms to become ready and, on a busy 2-core host, made a
 * spawn=deny launch ~110 ms slower than spawn=allow, against a 30 ms budget
 * for the whole launcher. So the roles are swapped: the execve runs on a
 * libuv threadpool thread (ffi-napi's `.async`, a plain pthread, no JS), and
 * the main thread — free, since it is not the one blocked in execve —
 * answers the notification synchronously. Linux lets any thread exec: the
 * exec'ing thread takes over the thread-group leader's PID and every other
 * thread is killed, so the PID is unchanged.
 *
 * What makes this safe:
 *  - the filter is loaded with TSYNC, so EVERY thread (including a threadpool
 *    thread that might already exist) runs it: the execve cannot escape the
 *    notification, whichever thread makes it. TSYNC_ESRCH lets TSYNC and
 *    NEW_LISTENER be combined (Linux 5.7+); a thread with a different filter
 *    makes the load fail (fail closed);
 *  - the notification must come from a thread of this process, be execve of
 *    the native ABI, and point at our own path buffer;
 *  - the exec'ing thread's blocked-signal mask survives execve, so it must be
 *    the caller's: the main thread sets that mask before the threadpool
 *    starts (new threads inherit it), and the gate checks the notifying
 *    thread's SigBlk in /proc before letting it through;
 *  - per-thread state a new thread does not inherit is handed over: the
 *    parent-death signal is set on the exec thread before its execve;
 *  - no answer within the timeout: the listener is closed, the pending
 *    execve fails with ENOSYS, the launcher fails closed.
 *
 * What the checks prove, and the time-of-check/time-of-use reasoning:
 *  - "a thread of this process": the notifying tid must be listed under
 *    /proc/self/task. A process forked after the filter has the same
 *    address space layout, so the same path pointer, but another pid: it is
 *    refused. (If /proc shows another pid namespace than the listener's,
 *    nothing matches: the gate times out, fail closed.)
 *  - seccomp_data holds the path's address, not the string, and the kernel
 *    reads the string only after CONTINUE: a thread of ours could change it
 *    in between. Nothing does (the buffer is ours, kept alive, never
 *    written; the other threads are V8's and libuv's, which run no exec),
 *    and only a thread of this process (or a ptracer, which could do
 *    anything anyway) can write it. Nor would it matter: CONTINUE does not
 *    lift the filter. Whatever the exec runs, it runs under the filter, which
 *    survives execve; the gate decides only that one exec happens, and the
 *    listener closes with it (close-on-exec), so no later exec can be let
 *    through. Another thread of ours making the same call with our buffer is
 *    our own exec, as far as the kernel can tell, with the same result.
 *  - only the first matching notification gets CONTINUE; the gate then stops
 *    reading. Anything still pending dies with the old image (de_thread), or
 *    with the launcher if our execve fails after CONTINUE.
 * The listener is close-on-exec: once QEMU runs, every execve/execveat fails
 * with ENOSYS (nothing answers) and nothing is killed.
 */
import { closeSync, readFileSync } from 'node:fs';
import { notifRecv, notifSend, pollIn } from './notify';
import type { PreparedExec } from './index';

export interface GateExpectation {
  /** The number of our exec's syscall (execve, or execveat by descriptor) on the native ABI. */
  readonly nr: number;
  /** AUDIT_ARCH_* of the native ABI. */
  readonly arch: number;
  /** The blocked-signal mask QEMU must start with (bit n-1 = signal n). */
  readonly blockedSignals: bigint;
  /** The caller's parent-death signal (0: none), given to the exec thread. */
  readonly parentDeathSignal?: number;
  /**
   * The threads that existed when the launcher entered its Landlock domain:
   * they are outside it, and an exec from one of them would take QEMU out of
   * it. The exec thread must be a newer one.
   */
  readonly threadsOutsideDomain?: ReadonlySet<number>;
}

export type GateOutcome =
  /** CONTINUE sent: the execve proceeds on thread `tid`. */
  | { readonly kind: 'answered'; readonly tid: number }
  /** Our execve was refused (EPERM): `reason` says why. */
  | { readonly kind: 'refused'; readonly reason: string }
  /** Nothing came in time: the listener is closed, the execve gets ENOSYS. */
  | { readonly kind: 'timeout' };

const EPERM = 1;

/** SigBlk of thread `tid` of this process, or undefined if it is not ours. */
export function threadSignalMask(tid: number): bigint | undefined {
  try {
    const m = /^SigBlk:\s*([0-9a-f]+)$/m.exec(
      readFileSync(`/proc/self/task/${tid}/status`, 'latin1'),
    );
    return m ? BigInt(`0x${m[1]}`) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts `exec` on the threadpool and answers its notification on this
 * thread. `onExecFailed(errno)` runs later, from the event loop, only if
 * execve returned (ENOSYS after a timeout or a refusal: see the outcome).
 * `refusedOthers` counts notifications that were not our execve at all.
 */
export function execThroughGate(
  exec: PreparedExec,
  listener: number,
  expect: GateExpectation,
  timeoutMs: number,
  onExecFailed: (errno: number | undefined) => void,
): GateOutcome & { readonly refusedOthers: number } {
  exec.runAsync(onExecFailed, expect.parentDeathSignal ?? 0);
  const deadline = Date.now() + timeoutMs;
  let refusedOthers = 0;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0 || !pollIn(listener, left)) {
      closeSync(listener);
      return { kind: 'timeout', refusedOthers };
    }
    const n = notifRecv(listener);
    if (!n) continue; // the caller went away before we read it
    const mask = threadSignalMask(n.pid);
    // execve(path, ...) or execveat(fd, "", ..., AT_EMPTY_PATH): our buffers, our descriptor.
    const ours =
      mask !== undefined &&
      n.nr === expect.nr &&
      n.arch === expect.arch &&
      (exec.fd === undefined
        ? n.args[0] === exec.pathAddress
        : n.args[0] === BigInt(exec.fd) && n.args[1] === exec.pathAddress);
    if (!ours) {
      // Another thread, syscall or path: not our exec. Refuse it, keep waiting.
      refusedOthers++;
      notifSend(listener, n.id, { errno: EPERM });
      continue;
    }
    if (mask !== expect.blockedSignals) {
      notifSend(listener, n.id, { errno: EPERM });
      return {
        kind: 'refused',
        reason: `the exec thread's signal mask is ${mask.toString(16)}, not the caller's ${expect.blockedSignals.toString(16)}`,
        refusedOthers,
      };
    }
    if (expect.threadsOutsideDomain?.has(n.pid)) {
      notifSend(listener, n.id, { errno: EPERM });
      return {
        kind: 'refused',
        reason: `the exec thread ${n.pid} existed before the Landlock domain, so QEMU would run outside it`,
        refusedOthers,
      };
    }
    notifSend(listener, n.id, 'continue');
    return { kind: 'answered', tid: n.pid, refusedOthers };
  }
}
