/**
 * The state the sh trampoline (launcher/qemu-sandboxed) recorded before Node
 * started, decoded. The trampoline runs
 *
 *   node main.js "$0" "fds= 0:0100002 1:01 ..." "sig= SigBlk:<hex> SigIgn:<hex>"
 *        "nofile=<soft>:<hard>" <base64 of /proc/$$/environ, in chunks...> -- "$@"
 *
 * Arguments are taken as raw bytes (from /proc/self/cmdline): QEMU arguments
 * and environment values need not be UTF-8, and must reach QEMU unchanged.
 */
import { readFileSync } from 'node:fs';
import { LaunchError, EXIT } from '../src/launch/errors';

/** O_CLOEXEC as /proc/<pid>/fdinfo shows it in `flags:` (octal 02000000). */
export const FDINFO_O_CLOEXEC = 0o2000000;

export interface InheritedFd {
  readonly fd: number;
  /** File status flags and access mode as fdinfo showed them (O_CLOEXEC removed). */
  readonly flags: number;
}

export interface SignalState {
  /** Blocked signals of the caller: bit n-1 = signal n. */
  readonly blocked: bigint;
  /** Ignored signals of the caller. */
  readonly ignored: bigint;
}

export interface NofileLimit {
  /** RLIM_INFINITY as 2^64-1. */
  readonly soft: bigint;
  readonly hard: bigint;
}

export interface InheritedState {
  /** How we were invoked ("$0"): selects the QEMU binary for qemu-system-<target>-sandboxed. */
  readonly invokedAs: string;
  /** Descriptors open and inheritable (no O_CLOEXEC) when the trampoline started, by number. */
  readonly fds: readonly InheritedFd[];
  readonly signals: SignalState;
  readonly nofile: NofileLimit;
  /** The caller's environment, entry by entry ("NAME=value", raw bytes), in order. */
  readonly environ: readonly Buffer[];
  /** The QEMU command line as given (without the program name), raw bytes. */
  readonly args: readonly Buffer[];
}

const RLIM_INFINITY = 0xffffffffffffffffn;

function bad(detail: string): LaunchError {
  return new LaunchError(
    `launcher/main.js must be started by the launcher/qemu-sandboxed script (${detail})`,
    EXIT.usage,
  );
}

/** fd 0's `flags:` as this process sees them now (see parseFds). */
function fdinfoFlags(fd: number): string {
  const m = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  if (!m) throw bad(`no flags in /proc/self/fdinfo/${fd}`);
  return m[1];
}

/**
 * "fds= 0:- 1:0100001 ..." -> inheritable fds (those without O_CLOEXEC).
 * "-" (fd 0 only): the trampoline cannot read fd 0's fdinfo while `read` has
 * it redirected, so its status flags are read here; Node has set FD_CLOEXEC
 * on it by now (a descriptor flag, masked below as for every record), but
 * changes no status flags before our code runs.
 */
export function parseFds(
  field: string,
  flagsNow: (fd: number) => string = fdinfoFlags,
): InheritedFd[] {
  if (!field.startsWith('fds=')) throw bad('expected fds=');
  const out: InheritedFd[] = [];
  for (const item of field.slice(4).split(' ')) {
    if (item === '') continue;
    const m = /^(\d+):([0-7]+|-)$/.exec(item);
    if (!m) throw bad(`bad fd record '${item}'`);
    const fd = Number(m[1]);
    if (m[2] === '-') {
      out.push({ fd, flags: parseInt(flagsNow(fd), 8) & ~FDINFO_O_CLOEXEC });
      continue;
    }
    const flags = parseInt(m[2], 8);
    // Close-on-exec fds at the trampoline's start are dash's own (its script):
    // an fd the caller passed through execve cannot have it.
    if (flags & FDINFO_O_CLOEXEC) continue;
    out.push({ fd, flags });
  }
  return out.sort((a, b) => a.fd - b.fd);
}

/** "sig= SigBlk:0000000000000000 SigIgn:0000000000001000" */
export function parseSignals(field: string): SignalState {
  if (!field.startsWith('sig=')) throw bad('expected sig=');
  let blocked: bigint | undefined;
  let ignored: bigint | undefined;
  for (const item of field.slice(4).split(' ')) {
    if (item === '') continue;
    const m = /^(SigBlk|SigIgn):([0-9a-fA-F]{1,32})$/.exec(item);
    if (!m) throw bad(`bad signal record '${item}'`);
    const v = BigInt(`0x${m[2]}`);
    if (m[1] === 'SigBlk') blocked = v;
    else ignored = v;
  }
  if (blocked === undefined || ignored === undefined) throw bad('SigBlk or SigIgn missing');
  return { blocked, ignored };
}

function parseLimit(s: string): bigint {
  if (s === 'unlimited') return RLIM_INFINITY;
  if (!/^\d+$/.test(s)) throw bad(`bad limit '${s}'`);
  return BigInt(s);
}

/** "nofile=1024:524288" (values from /proc/<pid>/limits; "unlimited" allowed). */
export function parseNofile(field: string): NofileLimit {
  const m = /^nofile=([^:]+):(.+)$/.exec(field);
  if (!m) throw bad('expected nofile=<soft>:<hard>');
  return { soft: parseLimit(m[1]), hard: parseLimit(m[2]) };
}

/** The base64 chunks of /proc/<pid>/environ -> its NUL-terminated entries. */
export function decodeEnviron(chunks: readonly string[]): Buffer[] {
  const text = chunks.join('');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0)
    throw bad('bad environment encoding');
  // /proc/<pid>/environ ends each entry with NUL, as /proc/<pid>/cmdline does.
  return splitCmdline(Buffer.from(text, 'base64'));
}

/**
 * Decodes the trampoline's arguments: `raw` is argv after main.js, as bytes
 * (see cmdlineArgs()).
 */
export function parseTrampolineArgs(raw: readonly Buffer[]): InheritedState {
  const sep = raw.findIndex((b) => b.length === 2 && b[0] === 0x2d && b[1] === 0x2d);
  if (raw.length < 4 || sep < 4) throw bad('missing state arguments');
  const text = (i: number): string => raw[i].toString('latin1');
  return {
    invokedAs: raw[0].toString('utf8'),
    fds: parseFds(text(1)),
    signals: parseSignals(text(2)),
    nofile: parseNofile(text(3)),
    environ: decodeEnviron(raw.slice(4, sep).map((b) => b.toString('latin1'))),
    args: raw.slice(sep + 1),
  };
}

/**
 * Splits /proc/<pid>/cmdline (or environ) into entries, each NUL-terminated;
 * a tail without a NUL is kept as is.
 */
export function splitCmdline(cmdline: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < cmdline.length; i++) {
    if (cmdline[i] === 0) {
      out.push(cmdline.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < cmdline.length) out.push(cmdline.subarray(start));
  return out;
}

/**
 * Our arguments after the script path, as bytes. /proc/self/cmdline holds
 * exactly what the trampoline passed (node, node options, main.js, ...);
 * process.argv has the same entries after the script, but decoded as UTF-8
 * (lossy). The counts are compared so nothing can shift them.
 */
export function cmdlineArgs(
  cmdline: Buffer,
  argv: readonly string[] = process.argv,
  execArgv: readonly string[] = process.execArgv,
): Buffer[] {
  const all = splitCmdline(cmdline);
  const rest = all.slice(2 + execArgv.length);
  if (rest.length !== argv.length - 2) {
    throw bad(
      `/proc/self/cmdline has ${all.length} arguments, process.argv ${argv.length} + ${execArgv.length} options`,
    );
  }
  return rest;
}
