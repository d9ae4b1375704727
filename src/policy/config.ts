/**
 * The site config: a small JSON file an operator (or a distribution) drops in
 * to set the policy of every launch and the QEMU binary.
 *
 *   {
 *     "sandbox": "on,action=log",             the default policy string
 *     "vms": { "web1": "spawn=deny" },       per VM (QEMU's -name guest=)
 *     "minimum": "on,obsolete=deny",          a floor no command line lowers
 *     "binary": "/usr/bin/qemu-system-x86_64"
 *   }
 *
 * The policy of a launch is sandbox < vms[NAME] < the command line's
 * -sandbox, then raised to the minimum (site-policy.ts). A policy string here
 * that says neither on nor off means `on` plus its keys.
 *
 * Path: $QEMU_SANDBOXED_CONFIG, else /etc/qemu-sandboxed/config.json. A
 * missing file at the default path means "no config" (the common case); a
 * missing file at a path the operator named is an error, because silently
 * running with the built-in default would ignore their policy. Unknown keys
 * are errors too: a typo such as "sandbx" must not turn a policy off. Every
 * policy string is checked here, so a bad config fails at start-up naming
 * the file rather than as an anonymous -sandbox error. The file must be a
 * regular file of at most MAX_CONFIG_BYTES: a device, FIFO or directory is
 * refused without being read (a FIFO would block, /dev/zero never ends).
 */
import * as fs from 'fs';
import { parseMinimum } from './minimum';
import { SandboxOptionError, checkConfigString } from './sandbox-option';

export const DEFAULT_CONFIG_PATH = '/etc/qemu-sandboxed/config.json';
export const CONFIG_ENV = 'QEMU_SANDBOXED_CONFIG';
/** Far above any real config; low enough that a wrong path is refused, not read. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export interface SiteConfig {
  /** The default policy string every -sandbox is merged onto (see sandbox-option.ts). */
  readonly sandbox?: string;
  /** Per-VM policy strings, by VM name (QEMU's `-name guest=NAME`), merged after `sandbox`. */
  readonly vms?: ReadonlyMap<string, string>;
  /** The floor every launch's policy is raised to (see minimum.ts). */
  readonly minimum?: string;
  /** The QEMU binary to run (path or name resolved on PATH by the launcher). */
  readonly binary?: string;
  /** The file this came from; undefined when there was no config file. */
  readonly path?: string;
}

const KNOWN_KEYS = ['sandbox', 'vms', 'minimum', 'binary'];

/** A config file that exists but cannot be used, or a named one that is missing. */
export class ConfigError extends Error {
  readonly path: string;
  constructor(path: string, detail: string) {
    super(`config ${path}: ${detail}`);
    this.name = 'ConfigError';
    this.path = path;
  }
}

/** How the config names the per-VM string of `name` (in errors, the launch record, doctor). */
export function vmOrigin(name: string): string {
  return `vms.${name}`;
}

/** Runs a check of a policy string, turning its SandboxOptionError into a ConfigError. */
function checked<T>(path: string, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof SandboxOptionError) throw new ConfigError(path, e.message);
    throw e;
  }
}

/** Validates parsed JSON as a SiteConfig (exported for tests and the CLI's doctor). */
export function validateConfig(data: unknown, path: string): SiteConfig {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(path, 'expected a JSON object, e.g. {"sandbox": "on"}');
  }
  const obj = data as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => !KNOWN_KEYS.includes(k));
  if (unknown.length > 0) {
    throw new ConfigError(
      path,
      `unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${KNOWN_KEYS.join(', ')})`,
    );
  }
  const out: {
    sandbox?: string;
    vms?: Map<string, string>;
    minimum?: string;
    binary?: string;
    path: string;
  } = { path };
  if (obj.sandbox !== undefined) {
    if (typeof obj.sandbox !== 'string') {
      throw new ConfigError(path, '"sandbox" must be a -sandbox string such as "on,spawn=deny"');
    }
    const sandbox = obj.sandbox;
    checked(path, () => checkConfigString(sandbox, 'sandbox'));
    out.sandbox = sandbox;
  }
  if (obj.vms !== undefined) {
    if (obj.vms === null || typeof obj.vms !== 'object' || Array.isArray(obj.vms)) {
      throw new ConfigError(
        path,
        '"vms" must map VM names to -sandbox strings, e.g. {"web1": "spawn=deny"}',
      );
    }
    const vms = new Map<string, string>();
    for (const [name, value] of Object.entries(obj.vms as Record<string, unknown>)) {
      if (name === '') throw new ConfigError(path, '"vms" has an empty VM name');
      if (typeof value !== 'string') {
        throw new ConfigError(
          path,
          `${vmOrigin(name)} must be a -sandbox string such as "on,spawn=deny"`,
        );
      }
      checked(path, () => checkConfigString(value, vmOrigin(name)));
      vms.set(name, value);
    }
    out.vms = vms;
  }
  if (obj.minimum !== undefined) {
    if (typeof obj.minimum !== 'string') {
      throw new ConfigError(path, '"minimum" must be a -sandbox string such as "on,spawn=deny"');
    }
    const minimum = obj.minimum;
    checked(path, () => parseMinimum(minimum, 'minimum'));
    out.minimum = minimum;
  }
  if (obj.binary !== undefined) {
    if (typeof obj.binary !== 'string' || obj.binary.trim() === '') {
      throw new ConfigError(path, '"binary" must be a non-empty string (a path or a name on PATH)');
    }
    out.binary = obj.binary;
  }
  return out;
}

/** What a stat says a path is, for the refusal of anything but a regular file. */
function fileKind(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function checkRegular(path: string, st: fs.Stats): void {
  if (!st.isFile()) {
    throw new ConfigError(
      path,
      `is ${fileKind(st)}, not a regular file: refused without reading it`,
    );
  }
  if (st.size > MAX_CONFIG_BYTES) {
    throw new ConfigError(
      path,
      `is ${st.size} bytes, more than the ${MAX_CONFIG_BYTES} a config may have: refused without reading it`,
    );
  }
}

/**
 * The file's text, or undefined when it does not exist. stat first, so a
 * device or FIFO is never opened; then open with O_NONBLOCK (a FIFO swapped
 * in after the stat cannot block us), fstat the descriptor and read at most
 * MAX_CONFIG_BYTES + 1 bytes (a file that grows past the limit is refused).
 */
export function readConfigFile(path: string): string | undefined {
  const fail = (e: unknown): never => {
    throw new ConfigError(
      path,
      `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  };
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return fail(e);
  }
  checkRegular(path, st);
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    return fail(e);
  }
  try {
    checkRegular(path, fs.fstatSync(fd));
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let len = 0;
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, len, buf.length - len, null);
      } catch (e) {
        return fail(e);
      }
      if (n === 0) break;
      len += n;
      if (len > MAX_CONFIG_BYTES) {
        throw new ConfigError(
          path,
          `grew past the ${MAX_CONFIG_BYTES} bytes a config may have while it was read`,
        );
      }
    }
    return buf.subarray(0, len).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads the site config. Throws ConfigError for a malformed file, an unknown
 * key, a bad value, a file that is not a regular file of bounded size, or a
 * missing file at an explicitly named path.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): SiteConfig {
  const named = env[CONFIG_ENV];
  // An empty variable counts as unset, like most tools treat empty paths.
  const explicit = named !== undefined && named !== '';
  const path = explicit ? named : DEFAULT_CONFIG_PATH;
  const text = readConfigFile(path);
  if (text === undefined) {
    if (!explicit) return {};
    throw new ConfigError(path, `no such file (named by ${CONFIG_ENV})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(path, `malformed JSON: ${(e as Error).message}`);
  }
  return validateConfig(data, path);
}
