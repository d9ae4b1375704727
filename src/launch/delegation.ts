/**
 * resourcecontrol=deny with `-object thread-context,...` (libvirt's default
 * string on QEMU >= 7.2): a thread context sets its CPU affinity once, at
 * creation, with sched_setaffinity, which resourcecontrol=deny forbids. QEMU
 * itself creates thread-context objects before it applies its own -sandbox
 * (softmmu/vl.c object_create_pre_sandbox, "Reason: -sandbox
 * on,resourcecontrol=deny disallows setting CPU affinity of threads"). So in
 * that case our filter leaves the resourcecontrol group out and QEMU's own
 * sandbox applies it after start-up: we append
 * `-sandbox on,obsolete=allow,resourcecontrol=deny` (our filter keeps
 * seccomp(2) and prctl allowed, so QEMU's filter stacks on ours).
 */
import { lstatSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseKeyValueList, parseQemuArgs } from '../policy/qemu-args';
import type { SandboxPolicy } from '../policy/types';
import { EXIT, LaunchError } from './errors';

/** What QEMU is asked to enforce itself. obsolete=allow: our filter already decides that group. */
export const QEMU_SANDBOX_ARG = 'on,obsolete=allow,resourcecontrol=deny';
export const CACHE_ENV = 'QEMU_SANDBOXED_CACHE_DIR';

/** Whether the command line creates a thread-context object (QemuOpts or JSON form). */
export function hasThreadContext(qemuArgs: readonly string[]): boolean {
  for (const a of parseQemuArgs(qemuArgs)) {
    if (a.name !== 'object' || a.value === undefined) continue;
    let items;
    try {
      items = parseKeyValueList(a.value, 'qom-type');
    } catch {
      continue; // malformed: QEMU refuses it before creating anything
    }
    if (items.some((i) => i.key === 'qom-type' && i.value === 'thread-context')) return true;
  }
  return false;
}

export interface Delegation {
  /** The policy our filter enforces. */
  readonly filterPolicy: SandboxPolicy;
  /** Arguments appended to QEMU's command line (empty when nothing is delegated). */
  readonly extraArgs: readonly string[];
}

/**
 * Decides whether resourcecontrol goes to QEMU. `supportsSandbox` is asked
 * only when needed (it may run the binary once).
 */
export function planDelegation(
  policy: SandboxPolicy,
  qemuArgs: readonly string[],
  supportsSandbox: () => boolean,
  binary: string,
): Delegation {
  if (!policy.enable || policy.resourceControl !== 'deny' || !hasThreadContext(qemuArgs)) {
    return { filterPolicy: policy, extraArgs: [] };
  }
  if (policy.action !== 'kill') {
    // QEMU's own sandbox kills; it cannot honour action=trap|errno|log.
    throw new LaunchError(
      `preflight refused: '-object thread-context' with resourcecontrol=deny and action=${policy.action}: ` +
        'QEMU must apply resourcecontrol itself after creating its thread contexts, and its sandbox only kills; ' +
        'fix: use action=kill, or resourcecontrol=allow',
      EXIT.usage,
    );
  }
  if (!supportsSandbox()) {
    throw new LaunchError(
      `preflight refused: '-object thread-context' with resourcecontrol=deny needs QEMU's own -sandbox, ` +
        `and ${binary} was built without it (no seccomp support); ` +
        'fix: use a QEMU built with seccomp, drop the thread-context objects, or use resourcecontrol=allow',
      EXIT.usage,
    );
  }
  return {
    filterPolicy: { ...policy, resourceControl: 'allow' },
    extraArgs: ['-sandbox', QEMU_SANDBOX_ARG],
  };
}

/** Where the probe's answers are cached. */
export function cacheDir(
  env: Readonly<Record<string, string | undefined>>,
  uid: number,
): string | undefined {
  if (env[CACHE_ENV]) return env[CACHE_ENV];
  if (uid === 0) return '/var/cache/qemu-sandboxed';
  const base = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : undefined);
  return base ? join(base, 'qemu-sandboxed') : undefined;
}

/**
 * A cache file we may believe: a regular file owned by us (or root) that
 * nobody else can write. Anything else is ignored (and replaced on the next
 * write), so another user cannot plant answers for root's launcher.
 */
function trustedCacheFile(file: string, uid: number): boolean {
  try {
    const st = lstatSync(file);
    return st.isFile() && (st.uid === uid || st.uid === 0) && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/**
 * Whether `binary` accepts -sandbox: QEMU registers the option group only
 * when built with seccomp, and parses (without applying) -sandbox before it
 * acts on -version. Cached per binary identity (path, inode, size, mtime,
 * ctime: a package upgrade or a copy over the file changes it), in a file
 * only its owner can write (trustedCacheFile). Neither a stale nor a forged
 * answer can fail open: a wrong "no" refuses the launch, a wrong "yes" makes
 * QEMU refuse the -sandbox we append; QEMU never runs without our filter.
 */
export function qemuSupportsSandbox(
  binary: string,
  env: Readonly<Record<string, string | undefined>>,
  dir: string | undefined,
): boolean {
  let key: string | undefined;
  let cache: Record<string, boolean> = {};
  const file = dir ? join(dir, 'qemu-sandbox-support.json') : undefined;
  try {
    const st = statSync(binary);
    key = `${binary}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    if (file && trustedCacheFile(file, process.getuid?.() ?? -1)) {
      const data: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (data && typeof data === 'object') cache = data as Record<string, boolean>;
    }
  } catch {
    // no cache yet
  }
  if (key !== undefined && typeof cache[key] === 'boolean') return cache[key];
  // Required here: node:child_process costs ~2.5 ms to load and only this rare path needs it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const r = spawnSync(binary, ['-sandbox', QEMU_SANDBOX_ARG, '-version'], {
    stdio: 'ignore',
    timeout: 10_000,
    env: { ...env },
  });
  const yes = r.status === 0;
  if (key !== undefined && file && dir && r.error === undefined) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      cache[key] = yes;
      const tmp = `${file}.${process.pid}`;
      writeFileSync(tmp, JSON.stringify(cache), { mode: 0o644, flag: 'wx' });
      renameSync(tmp, file);
    } catch {
      // best effort: no cache, we ask again next time
    }
  }
  return yes;
}
