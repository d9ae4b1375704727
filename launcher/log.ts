/**
 * The one record per launch. JSON through pino when stderr is not a terminal
 * (libvirt copies it into the domain log) or when QEMU_SANDBOXED_LOG names a
 * file; one short human line when stderr is a terminal. Writes are
 * synchronous: we execve right after, an async buffer would be lost. Never
 * stdout: QEMU may own it. pino is required lazily (it costs ~20 ms of the
 * start-up budget), only when a JSON record is written.
 *
 * QEMU_SANDBOXED_LOG is opened when the log is created, before anything
 * runs: the operator asked for a record, so a file that cannot be opened for
 * appending is an error (fail closed), not a launch without one. The
 * descriptor is close-on-exec (Node opens everything so, and the launcher
 * marks every fd it did not inherit close-on-exec before the exec).
 */
import { constants, openSync, writeSync } from 'node:fs';
import type { Logger } from 'pino';
import { EXIT, LaunchError } from '../src/launch/errors';

export const LOG_ENV = 'QEMU_SANDBOXED_LOG';
export const LOG_LEVEL_ENV = 'QEMU_SANDBOXED_LOG_LEVEL';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LEVELS)[number];
type RecordLevel = Exclude<LogLevel, 'silent'>;

export interface LaunchRecord {
  readonly policy: string;
  readonly abi: string | null;
  readonly binary: string;
  readonly binarySource: string;
  /** Host-wide mode: the qemu-system-* path the launcher was invoked as; binary is where dpkg-divert moved QEMU. */
  readonly divertedFrom?: string;
  /** Instructions in the filter; null with -sandbox off. */
  readonly filterLength: number | null;
  readonly filterHash: string | null;
  /** Where the program came from: the build's compile cache or the compiler, live; null with -sandbox off. */
  readonly filterSource: 'precompiled' | 'compiled' | null;
  readonly noNewPrivs: boolean;
  readonly execGate: boolean;
  /** Under the gate: QEMU's file exec'd by descriptor (exactly the file checked) or by path. */
  readonly execBy?: 'descriptor' | 'path';
  /** What we appended for QEMU's own -sandbox (resourcecontrol with thread-context), if anything. */
  readonly qemuSandbox: string | null;
  /** The Landlock domain QEMU enters (src/launch/landlock-plan.ts), or why none. */
  readonly landlock?: string;
  /** Milliseconds since Node started (so Node's own start-up is included). */
  readonly elapsedMs: number;
  /** elapsedMs at the end of each phase (main, policy, binary, preflight, compile, filter). */
  readonly marks?: Readonly<Record<string, number>>;
  /** The VM's name (QEMU's `-name guest=NAME`), when the command line gives one. */
  readonly vm: string | null;
  /**
   * Where each key of the policy came from ("built-in default", "sandbox in
   * FILE", "vms.NAME in FILE", "-sandbox", "minimum in FILE"); only `enable`
   * when the policy is off.
   */
  readonly policySources: Readonly<Record<string, string>>;
  /** Set when the site minimum raised the policy: why, what was asked, and each key raised. */
  readonly tightened: TighteningRecord | null;
  /**
   * The dry run (action=log): every rule logs (SECCOMP_RET_LOG) instead of
   * denying. `qemu-sandbox audit --suggest` counts only dry-run launches as evidence.
   */
  readonly dryRun: boolean;
  /**
   * The launcher's own executable (Node, real path): the kernel records the
   * launcher's own exec of QEMU, made under the filter, with this exe; the
   * advisor leaves those records out.
   */
  readonly launcherExe: string;
}

export interface TighteningRecord {
  /** "minimum in /etc/qemu-sandboxed/config.json". */
  readonly reason: string;
  /** The policy before the minimum (what the sources asked for). */
  readonly requested: string;
  readonly keys: readonly {
    readonly key: string;
    readonly from: string;
    readonly to: string;
    /** Where the weaker value came from. */
    readonly source: string;
  }[];
}

export interface LauncherLog {
  launch(record: LaunchRecord): void;
  /**
   * Warning and failure records go to a log file only: stderr already got
   * the plain lines (preflight warnings, the error), and libvirt's domain log
   * should hold one record per launch, not a copy of each line.
   */
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const RANK: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
};

export function parseLevel(s: string | undefined): LogLevel {
  if (s === undefined || s === '') return 'info';
  const l = s.toLowerCase();
  if ((LEVELS as readonly string[]).includes(l)) return l as LogLevel;
  throw new LaunchError(`${LOG_LEVEL_ENV}=${s}: expected one of ${LEVELS.join(', ')}`, EXIT.usage);
}

/** The short line for a terminal. */
export function humanLine(r: LaunchRecord): string {
  const parts = [`qemu-sandboxed: ${r.policy}`];
  if (r.dryRun) parts.push('(dry run: nothing denied, logged)');
  if (r.vm) parts.push(`vm=${r.vm}`);
  if (r.tightened)
    parts.push(
      `(raised by ${r.tightened.reason}: ${r.tightened.keys.map((k) => k.key).join(', ')})`,
    );
  if (r.filterLength !== null) {
    parts.push(
      `${r.abi} filter ${r.filterLength} insns sha256:${(r.filterHash ?? '').slice(0, 12)}`,
    );
  }
  parts.push(`nnp=${r.noNewPrivs ? 'on' : 'off'}`);
  if (r.execGate) parts.push('exec-gate');
  if (r.landlock !== undefined && !r.landlock.startsWith('none')) {
    parts.push(r.landlock.includes('files:') ? 'landlock+files' : 'landlock');
  }
  if (r.qemuSandbox) parts.push(`+ QEMU ${r.qemuSandbox}`);
  parts.push(`-> ${r.binary} (${r.elapsedMs.toFixed(1)} ms)`);
  return parts.join(' ');
}

function writeLine(fd: number, line: string): void {
  try {
    writeSync(fd, `${line}\n`);
  } catch {
    // A closed or full stderr must not stop QEMU from starting.
  }
}

/**
 * Opens QEMU_SANDBOXED_LOG for appending (created 0644 when missing), or
 * throws a LaunchError naming the path and the errno. O_NONBLOCK: a FIFO
 * with no reader fails with ENXIO instead of blocking the launch.
 */
export function openLogFile(file: string): number {
  try {
    return openSync(
      file,
      constants.O_WRONLY |
        constants.O_APPEND |
        constants.O_CREAT |
        constants.O_NONBLOCK |
        constants.O_NOCTTY,
      0o644,
    );
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why: Record<string, string> = {
      EACCES: 'permission denied',
      ENOENT: 'its directory does not exist',
      EISDIR: 'it is a directory',
      EROFS: 'read-only file system',
      ENXIO: 'a FIFO or socket with no reader',
      ENOTDIR: 'a component of the path is not a directory',
    };
    const code = err.code ?? 'error';
    throw new LaunchError(
      `${LOG_ENV}=${file}: cannot open for appending: ${code}${why[code] ? ` (${why[code]})` : ''}; QEMU was not started (fix the path, or unset ${LOG_ENV})`,
      EXIT.usage,
    );
  }
}

/**
 * Creates the logger from our environment variables. `stderrIsTty` is a
 * parameter so tests need no terminal.
 */
export function createLog(
  env: Readonly<Record<string, string | undefined>>,
  stderrIsTty: boolean | (() => boolean) = () =>
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require('../src/native') as typeof import('../src/native')).isTerminal(2),
): LauncherLog {
  const level = parseLevel(env[LOG_LEVEL_ENV]);
  const file = env[LOG_ENV] || undefined;
  // silent writes nothing, so it asks for no file.
  const fileFd = file !== undefined && level !== 'silent' ? openLogFile(file) : undefined;
  const enabled = (l: RecordLevel): boolean => RANK[l] >= RANK[level];
  let pinoLogger: Logger | undefined;
  const json = (): Logger => {
    if (!pinoLogger) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const pino = require('pino') as typeof import('pino');
      const dest = pino.destination({ dest: fileFd ?? 2, sync: true });
      pinoLogger = pino(
        { name: 'qemu-sandboxed', level, timestamp: pino.stdTimeFunctions.isoTime },
        dest,
      );
    }
    return pinoLogger;
  };
  // Decided at the first record: most launches reach it with the FFI loaded.
  let toJsonCached: boolean | undefined;
  const toJson = (): boolean =>
    (toJsonCached ??=
      file !== undefined || !(typeof stderrIsTty === 'function' ? stderrIsTty() : stderrIsTty));
  const write = (l: RecordLevel, msg: string, fields: object, human: () => string): void => {
    if (!enabled(l)) return;
    try {
      if (toJson()) json()[l](fields, msg);
      else writeLine(2, human());
    } catch {
      // The file was opened; a write that fails now (disk full) must not block QEMU.
    }
  };
  return {
    launch: (r) => write('info', 'launch', r, () => humanLine(r)),
    warn: (msg, fields = {}) => {
      if (file !== undefined) write('warn', msg, fields, () => msg);
    },
    error: (msg, fields = {}) => {
      if (file !== undefined) write('error', msg, fields, () => msg);
    },
  };
}
