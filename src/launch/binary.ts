/**
 * Which QEMU binary to run, in this order:
 *   1. $QEMU_SANDBOXED_BINARY;
 *   2. `binary` from the site config;
 *   3. invoked as qemu-system-<target>-sandboxed (a symlink) -> qemu-system-<target>;
 *      invoked as qemu-system-<target> itself (host-wide mode: the Debian
 *      package's `qemu-sandbox host enable` put a link to the launcher in
 *      QEMU's place) -> that very path, which resolves to its diversion;
 *   4. qemu-system-<host arch>.
 * A name without '/' is searched on the caller's PATH (as execvp would); a
 * path is used as given. Missing -> exit 127, not executable -> 126, as a
 * shell reports them. A path that is the launcher itself runs the QEMU that
 * dpkg-divert moved aside for it (host-wide mode), or is refused.
 */
import {
  accessSync,
  closeSync,
  constants,
  openSync,
  readFileSync,
  readSync,
  readlinkSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { EXIT, LaunchError } from './errors';

export const BINARY_ENV = 'QEMU_SANDBOXED_BINARY';
/** dpkg's diversion records; only root can write it. */
export const DPKG_DIVERSIONS = '/var/lib/dpkg/diversions';
/** The Debian package, which owns host-wide mode's diversions. */
export const DIVERTING_PACKAGE = 'qemu-sandboxed';
/** execvp's default when PATH is unset (glibc confstr(_CS_PATH) is "/bin:/usr/bin"). */
export const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

export type BinarySource = 'env' | 'config' | 'invoked-name' | 'host-arch';

export interface BinaryChoice {
  /** The name or path before PATH lookup. */
  readonly requested: string;
  readonly source: BinarySource;
}

export interface ResolvedBinary extends BinaryChoice {
  /** What execve gets, and argv[0]. */
  readonly path: string;
  /** Host-wide mode: the QEMU path the launcher stands in for (path is where dpkg-divert moved QEMU). */
  readonly divertedFrom?: string;
}

/** QEMU's system-emulator target name for a Node process.arch. */
export function qemuTargetForArch(arch: string = process.arch): string {
  const targets: Record<string, string> = {
    x64: 'x86_64',
    arm64: 'aarch64',
    arm: 'arm',
    ia32: 'i386',
    ppc64: 'ppc64',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loongarch64',
    mips64el: 'mips64el',
  };
  const t = targets[arch];
  if (!t) {
    throw new LaunchError(
      `no QEMU target known for this host (${arch}): set ${BINARY_ENV}=/path/to/qemu-system-<target>`,
      EXIT.usage,
    );
  }
  return t;
}

/** Steps 1-4 above, without touching the file system. */
export function chooseBinary(opts: {
  env: Readonly<Record<string, string | undefined>>;
  configBinary?: string;
  invokedAs: string;
  arch?: string;
}): BinaryChoice {
  const fromEnv = opts.env[BINARY_ENV];
  if (fromEnv) return { requested: fromEnv, source: 'env' };
  if (opts.configBinary) return { requested: opts.configBinary, source: 'config' };
  const name = basename(opts.invokedAs);
  const m = /^qemu-system-(.+)-sandboxed$/.exec(name);
  if (m) return { requested: `qemu-system-${m[1]}`, source: 'invoked-name' };
  if (/^qemu-system-[a-z0-9_]+(-[a-z0-9_]+)*$/.test(name)) {
    return { requested: opts.invokedAs, source: 'invoked-name' };
  }
  return { requested: `qemu-system-${qemuTargetForArch(opts.arch)}`, source: 'host-arch' };
}

function describe(choice: BinaryChoice): string {
  switch (choice.source) {
    case 'env':
      return `from ${BINARY_ENV}`;
    case 'config':
      return 'from the config file';
    case 'invoked-name':
      return 'from the name we were invoked as';
    case 'host-arch':
      return `for this host; set ${BINARY_ENV} or "binary" in the config to choose another`;
  }
}

function isExecutableFile(p: string): 'ok' | 'missing' | 'not-executable' {
  let st;
  try {
    st = statSync(p);
  } catch {
    return 'missing';
  }
  if (!st.isFile()) return 'not-executable';
  try {
    accessSync(p, constants.X_OK);
  } catch {
    return 'not-executable';
  }
  return 'ok';
}

/**
 * Finds the binary. `self` is the trampoline's real path: a binary that
 * resolves to it (our symlink installed under QEMU's name) would exec us
 * again and again, so it is refused, unless it is host-wide mode's link,
 * whose QEMU dpkg-divert moved aside (`diversionsFile`): then that QEMU runs.
 */
export function resolveBinary(
  choice: BinaryChoice,
  pathVar: string | undefined,
  self?: string,
  diversionsFile = DPKG_DIVERSIONS,
): ResolvedBinary {
  let found: string | undefined;
  let notExecutable: string | undefined;
  if (choice.requested.includes('/')) {
    const r = isExecutableFile(choice.requested);
    if (r === 'ok') found = choice.requested;
    else if (r === 'not-executable') notExecutable = choice.requested;
  } else {
    // execvp: an empty PATH element means the current directory.
    for (const dir of (pathVar ?? DEFAULT_PATH).split(':')) {
      const p = join(dir === '' ? '.' : dir, choice.requested);
      const r = isExecutableFile(p);
      if (r === 'ok') {
        found = p;
        break;
      }
      if (r === 'not-executable' && notExecutable === undefined) notExecutable = p;
    }
  }
  if (found === undefined) {
    if (notExecutable !== undefined) {
      throw new LaunchError(
        `QEMU binary ${notExecutable} (${describe(choice)}) is not an executable file: fix its permissions or choose another binary`,
        EXIT.cannotExecute,
      );
    }
    const where = choice.requested.includes('/') ? '' : ' on PATH';
    throw new LaunchError(
      `QEMU binary '${choice.requested}' (${describe(choice)}) not found${where}: install QEMU or set ${BINARY_ENV}=/path/to/qemu-system-<target>`,
      EXIT.notFound,
    );
  }
  if (self !== undefined && realpathOrUndefined(found) === self) {
    const diverted = divertedAlongLinks(found, diversionsFile);
    if (diverted !== undefined) {
      if (isExecutableFile(diverted) !== 'ok') {
        throw new LaunchError(
          `QEMU binary ${found} (${describe(choice)}) is qemu-sandboxed in host-wide mode, and ${diverted}, where QEMU was moved, is missing or not executable: reinstall the QEMU package or run qemu-sandbox host disable`,
          EXIT.notFound,
        );
      }
      if (realpathOrUndefined(diverted) !== self) {
        return { ...choice, path: diverted, divertedFrom: found };
      }
    }
    throw new LaunchError(
      `QEMU binary ${found} (${describe(choice)}) is qemu-sandboxed itself: set ${BINARY_ENV} to the real QEMU`,
      EXIT.usage,
    );
  }
  return { ...choice, path: found };
}

function realpathOrUndefined(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

/**
 * The diversion of `path` or of a link it goes through: Debian's
 * qemu-system-amd64 is a symlink to qemu-system-x86_64, which host-wide mode
 * diverted (the alias itself is not: it follows its target).
 */
function divertedAlongLinks(path: string, diversionsFile: string): string | undefined {
  let p = path;
  for (let hops = 0; hops < 40; hops++) {
    const d = divertedTo(p, diversionsFile);
    if (d !== undefined) return d;
    let target: string;
    try {
      target = readlinkSync(p);
    } catch {
      return undefined; // not a symlink: the end of the chain
    }
    p = resolve(dirname(p), target);
  }
  return undefined;
}

export interface Diversion {
  readonly from: string;
  readonly to: string;
  /** The package that owns it; undefined for a local diversion. */
  readonly package?: string;
}

/** dpkg's diversions file: three lines per diversion (from, to, package; ":" for a local one). */
export function parseDiversions(text: string): Diversion[] {
  const lines = text.split('\n');
  const out: Diversion[] = [];
  for (let i = 0; i + 2 < lines.length; i += 3) {
    const [from, to, pkg] = [lines[i], lines[i + 1], lines[i + 2]];
    if (from === '' || to === '') break;
    out.push({ from, to, package: pkg === ':' ? undefined : pkg });
  }
  return out;
}

/**
 * Where dpkg-divert moved the file at `path` for qemu-sandboxed's host-wide
 * mode, or undefined. Only the package's own diversions count: a diversion
 * someone else made is not a promise that the file it points to is QEMU.
 * dpkg records paths with their real directory (/usr/bin, never /bin on a
 * merged-/usr system), so the directory is resolved first.
 */
export function divertedTo(path: string, diversionsFile = DPKG_DIVERSIONS): string | undefined {
  let text: string;
  try {
    text = readFileSync(diversionsFile, 'utf8');
  } catch {
    return undefined; // no dpkg here: nothing is diverted
  }
  const dir = realpathOrUndefined(dirname(path));
  if (dir === undefined) return undefined;
  const canonical = join(dir, basename(path));
  return parseDiversions(text).find((d) => d.from === canonical && d.package === DIVERTING_PACKAGE)
    ?.to;
}

/**
 * The interpreter of a `#!` script (e.g. "/bin/sh"), or undefined for a binary
 * or an unreadable file. Debian's qemu-system-i386 is such a wrapper: it execs
 * the real binary, a second exec that spawn=deny refuses after our own.
 */
export function scriptInterpreter(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined; // resolveBinary already vouched for it; exec will say the rest
  }
  try {
    return scriptInterpreterOf(fd);
  } finally {
    closeSync(fd);
  }
}

/** The same, read from an open descriptor of the binary (from offset 0, whatever its position). */
export function scriptInterpreterOf(fd: number): string | undefined {
  let head = Buffer.alloc(256);
  try {
    head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
  } catch {
    return undefined;
  }
  if (head[0] !== 0x23 || head[1] !== 0x21) return undefined; // "#!"
  const line = head.subarray(2).toString('latin1').split('\n')[0].trim();
  return line === '' ? '(none)' : line;
}

/**
 * Whether exec by descriptor (execveat AT_EMPTY_PATH) keeps the program's
 * name: since Linux 6.14 the kernel names the process after the file
 * (comm_from_dentry); before, `ps` and /proc/PID/comm show the descriptor's
 * number instead of qemu-system-*, which monitoring would trip over.
 * `release` is /proc/sys/kernel/osrelease.
 */
export function execByDescriptorKeepsName(release: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release.trim());
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 6 || (major === 6 && minor >= 14);
}
