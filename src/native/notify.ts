/**
 * seccomp user notification (the exec-once gate). Kept apart from index.ts so
 * the gate worker loads only ffi + this file (not the syscall tables).
 * Struct layouts: include/uapi/linux/seccomp.h (see kernel-facts.md).
 */
import { loadFfi } from './ffi';

/** _IOWR('!', 0, struct seccomp_notif): the same value on every Linux ABI we support. */
export const SECCOMP_IOCTL_NOTIF_RECV = 0xc0502100;
/** _IOWR('!', 1, struct seccomp_notif_resp). */
export const SECCOMP_IOCTL_NOTIF_SEND = 0xc0182101;
export const SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1;

const NOTIF_SIZE = 80;
const RESP_SIZE = 24;
const POLLIN = 0x1;
const EINTR = 4;
const ENOENT = 2;

// Host byte order (node:os costs ~1 ms to load for this one answer).
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Loads the FFI now (the gate worker does it while the main thread compiles). */
export function loadNotify(): void {
  loadFfi();
}

/** struct seccomp_notif, decoded. */
export interface SeccompNotif {
  readonly id: bigint;
  /** Thread id (in the listener's pid namespace) of the thread making the call. */
  readonly pid: number;
  readonly nr: number;
  /** AUDIT_ARCH_* of the call. */
  readonly arch: number;
  readonly instructionPointer: bigint;
  readonly args: readonly bigint[];
}

export class NotifyError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call} failed: errno ${errno}`);
    this.name = 'NotifyError';
  }
}

/**
 * Waits until `fd` is readable or `timeoutMs` passes (EINTR restarts the
 * wait with the time left). True when readable (or hung up: RECV will then say so).
 */
export function pollIn(fd: number, timeoutMs: number): boolean {
  const { libc, errno } = loadFfi();
  const pfd = Buffer.alloc(8);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    pfd.fill(0);
    if (LE) {
      pfd.writeInt32LE(fd, 0);
      pfd.writeInt16LE(POLLIN, 4);
    } else {
      pfd.writeInt32BE(fd, 0);
      pfd.writeInt16BE(POLLIN, 4);
    }
    const left = Math.max(0, deadline - Date.now());
    const ret = libc.poll(pfd, 1, left);
    if (ret > 0) return true;
    if (ret === 0) return false;
    const err = errno();
    if (err !== EINTR) throw new NotifyError('poll', err);
  }
}

/**
 * SECCOMP_IOCTL_NOTIF_RECV. Returns undefined when the notifying thread went
 * away before we read it (ENOENT): the caller waits again.
 */
export function notifRecv(fd: number): SeccompNotif | undefined {
  const { libc, errno } = loadFfi();
  const buf = Buffer.alloc(NOTIF_SIZE); // the kernel insists on a zeroed struct
  for (;;) {
    const ret = libc.ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, buf);
    if (ret >= 0) break;
    const err = errno();
    if (err === ENOENT) return undefined;
    if (err !== EINTR) throw new NotifyError('ioctl(SECCOMP_IOCTL_NOTIF_RECV)', err);
    buf.fill(0);
  }
  const u64 = (o: number): bigint => (LE ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o));
  const u32 = (o: number): number => (LE ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const i32 = (o: number): number => (LE ? buf.readInt32LE(o) : buf.readInt32BE(o));
  const args: bigint[] = [];
  for (let i = 0; i < 6; i++) args.push(u64(32 + 8 * i));
  return { id: u64(0), pid: u32(8), nr: i32(16), arch: u32(20), instructionPointer: u64(24), args };
}

/**
 * SECCOMP_IOCTL_NOTIF_SEND. `continue` lets the syscall run as if the filter
 * had allowed it; `{ errno }` makes it fail with that errno. Returns false if
 * the target is gone (ENOENT), true when answered.
 */
export function notifSend(
  fd: number,
  id: bigint,
  answer: 'continue' | { readonly errno: number },
): boolean {
  const { libc, errno } = loadFfi();
  const buf = Buffer.alloc(RESP_SIZE);
  if (LE) buf.writeBigUInt64LE(id, 0);
  else buf.writeBigUInt64BE(id, 0);
  // val (s64 at 8) stays 0. error is a negative errno; CONTINUE needs error 0.
  const error = answer === 'continue' ? 0 : -answer.errno;
  const flags = answer === 'continue' ? SECCOMP_USER_NOTIF_FLAG_CONTINUE : 0;
  if (LE) {
    buf.writeInt32LE(error, 16);
    buf.writeUInt32LE(flags, 20);
  } else {
    buf.writeInt32BE(error, 16);
    buf.writeUInt32BE(flags, 20);
  }
  for (;;) {
    const ret = libc.ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, buf);
    if (ret >= 0) return true;
    const err = errno();
    if (err === ENOENT) return false;
    if (err !== EINTR) throw new NotifyError('ioctl(SECCOMP_IOCTL_NOTIF_SEND)', err);
  }
}
