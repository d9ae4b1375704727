/**
 * The site config: a small JSON file an operator (or a distribution) drops in
 * to set the default policy string and the QEMU binary for every launch.
 *
 *   { "sandbox": "on,spawn=deny", "binary": "/usr/bin/qemu-system-x86_64",
 *     "files": { "/srv/vm-snapshots": "rw" } }
 *
 * `files` lists extra paths for files=deny (extra-files.ts).
 *
 * Path: $QEMU_SANDBOXED_CONFIG, else /etc/qemu-sandboxed/config.json. A
 * missing file at the default path means "no config" (the common case); a
 * missing file at a path the operator named is an error, because silently
 * running with the built-in default would ignore their policy. Unknown keys
 * are errors too: a typo such as "sandbx" must not turn a policy off. The
 * `sandbox` string is checked here, so a bad config fails at start-up naming
 * the file rather than as an anonymous -sandbox error.
 */
import * as fs from 'fs';
import { ExtraFilesError, parseExtraFilesConfig, type ExtraFile } from './extra-files';
import { SandboxOptionError, resolveSandboxPolicy } from './sandbox-option';

export const DEFAULT_CONFIG_PATH = '/etc/qemu-sandboxed/config.json';
export const CONFIG_ENV = 'QEMU_SANDBOXED_CONFIG';

export interface SiteConfig {
  /** The default policy string every -sandbox is merged onto (see sandbox-option.ts). */
  readonly sandbox?: string;
  /** The QEMU binary to run (path or name resolved on PATH by the launcher). */
  readonly binary?: string;
  /** Extra paths for files=deny. */
  readonly files?: readonly ExtraFile[];
  /** The file this came from; undefined when there was no config file. */
  readonly path?: string;
}

const KNOWN_KEYS = ['sandbox', 'binary', 'files'];

/** A config file that exists but cannot be used, or a named one that is missing. */
export class ConfigError extends Error {
  readonly path: string;
  constructor(path: string, detail: string) {
    super(`config ${path}: ${detail}`);
    this.name = 'ConfigError';
    this.path = path;
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
  const out: { sandbox?: string; binary?: string; files?: ExtraFile[]; path: string } = { path };
  if (obj.sandbox !== undefined) {
    if (typeof obj.sandbox !== 'string') {
      throw new ConfigError(path, '"sandbox" must be a -sandbox string such as "on,spawn=deny"');
    }
    try {
      resolveSandboxPolicy([], { defaultString: obj.sandbox, defaultOrigin: 'sandbox' });
    } catch (e) {
      if (e instanceof SandboxOptionError) throw new ConfigError(path, e.message);
      throw e;
    }
    out.sandbox = obj.sandbox;
  }
  if (obj.binary !== undefined) {
    if (typeof obj.binary !== 'string' || obj.binary.trim() === '') {
      throw new ConfigError(path, '"binary" must be a non-empty string (a path or a name on PATH)');
    }
    out.binary = obj.binary;
  }
  if (obj.files !== undefined) {
    try {
      out.files = parseExtraFilesConfig(obj.files, `files in ${path}`);
    } catch (e) {
      if (e instanceof ExtraFilesError) throw new ConfigError(path, e.message);
      throw e;
    }
  }
  return out;
}

/**
 * Reads the site config. Throws ConfigError for a malformed file, an unknown
 * key, a bad value, or a missing file at an explicitly named path.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): SiteConfig {
  const named = env[CONFIG_ENV];
  // An empty variable counts as unset, like most tools treat empty paths.
  const explicit = named !== undefined && named !== '';
  const path = explicit ? named : DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return {};
    if (code === 'ENOENT') {
      throw new ConfigError(path, `no such file (named by ${CONFIG_ENV})`);
    }
    throw new ConfigError(path, `cannot read: ${(e as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(path, `malformed JSON: ${(e as Error).message}`);
  }
  return validateConfig(data, path);
}
