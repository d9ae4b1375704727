/**
 * What the files=deny analysis (files.ts, files-block.ts, files-options.ts)
 * shares: the needs it collects from a command line, the refusals, option
 * maps, and the facts about the filesystem it is given (injected, so the
 * whole analysis is pure and runs in unit tests without a kernel).
 */
import { isAbsolute, join, normalize } from 'node:path';
import type { ExtraFile } from '../policy/extra-files';

export type { ExtraFile } from '../policy/extra-files';
export { Opts } from './opts';

/**
 * What QEMU will do with a path, as the command line implies it:
 *  - read: open a file for reading, or read a directory tree;
 *  - exec: run it (a tap script, the QEMU binary itself);
 *  - write: open an existing file read-write (a disk image, a chardev file);
 *  - create: write a file QEMU creates if it is missing (pidfile, log);
 *    `remove`: QEMU also deletes it when it stops;
 *  - socket: bind a unix socket there (QEMU deletes a stale one first and
 *    its own when it stops);
 *  - symlink: create a symlink there (a pty chardev's path=);
 *  - device: open a device node, with ioctl; `write` unless read-only;
 *  - tree: read, or with `write` read, write, create and remove, anything
 *    beneath a directory (a 9p share, a memory-backend-file directory);
 *  - scratch: create, use and delete files in a directory (the temporary
 *    overlay of snapshot=on, a mem-path directory).
 * `why` is "ARG: what", ARG the argument as written (argOf gives it back).
 */
export type Need =
  | { readonly kind: 'read'; readonly path: string; readonly why: string }
  | { readonly kind: 'exec'; readonly path: string; readonly why: string }
  | { readonly kind: 'write'; readonly path: string; readonly why: string }
  | {
      readonly kind: 'create';
      readonly path: string;
      readonly why: string;
      readonly remove?: boolean;
    }
  | { readonly kind: 'socket'; readonly path: string; readonly why: string }
  | { readonly kind: 'symlink'; readonly path: string; readonly why: string }
  | {
      readonly kind: 'device';
      readonly path: string;
      readonly why: string;
      readonly write: boolean;
    }
  | { readonly kind: 'tree'; readonly path: string; readonly why: string; readonly write: boolean }
  | { readonly kind: 'scratch'; readonly path: string; readonly why: string };

/** A command line files=deny cannot serve, in preflight's terms. */
export interface FilesRefusal {
  /** The argument as written. */
  readonly arg: string;
  readonly message: string;
  readonly fix: string;
}

/** What a path is, following symlinks; undefined when it does not exist. */
export type PathKind = 'dir' | 'file' | 'device' | 'socket' | 'other';

/** The filesystem facts the analysis needs (the launcher passes node:fs; tests a fake). */
export interface FileFacts {
  kind(path: string): PathKind | undefined;
  /** Whether the path itself is a symlink (not followed). */
  isSymlink(path: string): boolean;
  /** The canonical path (symlinks resolved), or undefined when it does not exist. */
  realpath(path: string): string | undefined;
  /** Up to `bytes` bytes from the start of a file; throws when it cannot be read. */
  readHead(path: string, bytes: number): Buffer;
  /** The names in a directory; [] when it cannot be listed. */
  list(path: string): string[];
}

/** Everything the analysis reads besides the command line. */
export interface FilesInput {
  /** The directory relative paths on the command line are relative to (QEMU's cwd). */
  readonly cwd: string;
  /** QEMU's environment (TMPDIR for snapshot=on's overlay). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The QEMU binary the launcher execs. */
  readonly binary: string;
  /** QEMU's pid: the launcher's own (exec in place), for -D's %d. */
  readonly pid: number;
  /** Extra paths from the site config and the environment (extra-files.ts). */
  readonly extras: readonly ExtraFile[];
  readonly facts: FileFacts;
}

/** A command-line path made absolute against QEMU's cwd (QEMU opens it from there). */
export function absolute(cwd: string, p: string): string {
  return normalize(isAbsolute(p) ? p : join(cwd, p));
}

/**
 * QEMU's path_has_protocol(): a colon before the first slash. Such a
 * filename names a protocol driver (nbd:, file:, json:...), not a path.
 */
export function protocolOf(filename: string): string | undefined {
  const colon = filename.indexOf(':');
  if (colon <= 0) return undefined;
  const slash = filename.indexOf('/');
  if (slash >= 0 && slash < colon) return undefined;
  return filename.slice(0, colon);
}

/** One argument as the refusals show it (shortened like preflight's). */
export function argText(option: string, value: string | undefined): string {
  const s = value === undefined ? option : `${option} ${value}`.trim();
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** How to allow a path the command line cannot name: both ways, with the access. */
export function extraFix(path: string, access: 'ro' | 'rw'): string {
  return `QEMU_SANDBOXED_FILES='${access}:${path}' in the environment, or "files": {"${path}": "${access}"} in the site config`;
}

/** The argument a need's `why` names ("ARG: what" -> "ARG"; the what never holds ": "). */
export function argOf(why: string): string {
  const i = why.lastIndexOf(': ');
  return i < 0 ? why : why.slice(0, i);
}
