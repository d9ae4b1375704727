/**
 * The test guest (a Debian kernel + busybox initramfs, built by
 * scripts/build-guest.sh) and its cache in .cache/guest/<key>/, where <key>
 * hashes everything the guest is made of: the build script, the host's
 * busybox-static and the linux-image-amd64 that apt would pick. Editing the
 * script or a package update rebuilds the guest, and the ts-jest tests and
 * the compiled demo share one cache.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { pidAlive } from './pid';

export interface GuestImage {
  readonly dir: string;
  readonly kernel: string;
  readonly initrd: string;
  /** e.g. 6.1.0-56-amd64 */
  readonly kernelRelease: string;
  readonly kernelPackage: string;
  /** True when this call built it (false: taken from the cache). */
  readonly built: boolean;
  readonly buildMs: number;
}

/** Finds the repository root from here (scripts/lib in the tree, dist/scripts/lib when built). */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      const name = (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name;
      if (name === 'qemu-sandboxed') return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`repoRoot: no qemu-sandboxed package.json above ${__dirname}`);
    dir = up;
  }
}

const LOCK_STALE_MS = 15 * 60_000;

function readEnv(file: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) map.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return map;
}

function imageAt(dir: string, built: boolean, buildMs: number): GuestImage | undefined {
  const envFile = join(dir, 'guest.env');
  const kernel = join(dir, 'vmlinuz');
  const initrd = join(dir, 'initrd.gz');
  if (!existsSync(envFile) || !existsSync(kernel) || !existsSync(initrd)) return undefined;
  const env = readEnv(envFile);
  return {
    dir,
    kernel,
    initrd,
    kernelRelease: env.get('KERNEL_RELEASE') ?? 'unknown',
    kernelPackage: env.get('KERNEL_PACKAGE') ?? 'unknown',
    built,
    buildMs,
  };
}

/**
 * Takes the build lock (an O_EXCL file holding our pid), so two jest workers
 * never download and unpack the kernel at the same time. A lock whose owner
 * died or that is older than LOCK_STALE_MS is broken.
 */
async function withLock<T>(lock: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let stale = false;
      try {
        const owner = Number(readFileSync(lock, 'utf8'));
        stale = !pidAlive(owner) || Date.now() - statSync(lock).mtimeMs > LOCK_STALE_MS;
      } catch {
        stale = true; // vanished or half-written: try again
      }
      if (stale) rmSync(lock, { force: true });
      else if (Date.now() > deadline) {
        throw new Error(`guest: waited ${timeoutMs} ms for the build lock ${lock}`);
      } else await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

function runBuild(script: string, outDir: string, logFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', [script, outDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (b: Buffer) => (log += b.toString()));
    child.stderr.on('data', (b: Buffer) => (log += b.toString()));
    child.on('error', (err) => reject(new Error(`guest: cannot run sh ${script}: ${err.message}`)));
    child.on('close', (code, signal) => {
      mkdirSync(dirname(logFile), { recursive: true });
      writeFileSync(logFile, log);
      if (code === 0) resolve();
      else {
        const tail = log.trim().split('\n').slice(-5).join('\n');
        reject(new Error(`guest: ${script} failed (${signal ?? `exit ${code}`}):\n${tail}`));
      }
    });
  });
}

/** stdout of a quick query, '' when the command is missing or fails. */
function query(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return r.status === 0 ? r.stdout.trim() : '';
}

const APT_LISTS = '/var/lib/apt/lists';

/** Names, sizes and times of apt's package lists: apt-get update changes them. */
function aptListsSignature(): string {
  try {
    return readdirSync(APT_LISTS)
      .sort()
      .map((name) => {
        const st = statSync(join(APT_LISTS, name));
        return `${name} ${st.size} ${st.mtimeMs}`;
      })
      .join('\n');
  } catch {
    return ''; // no apt here
  }
}

/**
 * linux-image-amd64's Version and Depends as apt resolves them now. apt-cache
 * takes over a second where apt keeps no pkgcache.bin (Debian's container
 * images), so the answer is remembered in `memoFile` for the same lists.
 */
function kernelCandidate(memoFile: string): string {
  const lists = aptListsSignature();
  try {
    const memo = JSON.parse(readFileSync(memoFile, 'utf8')) as {
      lists?: unknown;
      kernel?: unknown;
    };
    if (memo.lists === lists && typeof memo.kernel === 'string') return memo.kernel;
  } catch {
    // no memo yet (or a torn one): ask apt
  }
  const kernel = query('apt-cache', ['show', '--no-all-versions', 'linux-image-amd64'])
    .split('\n')
    .filter((l) => /^(Version|Depends):/.test(l))
    .join('; ');
  if (lists && kernel) {
    mkdirSync(dirname(memoFile), { recursive: true });
    const tmp = `${memoFile}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ lists, kernel }));
    renameSync(tmp, memoFile); // atomic: parallel workers never read half a file
  }
  return kernel;
}

/**
 * The cache key: the build script plus the versions of the packages the
 * guest is made of. Before the first build on a fresh machine the packages
 * may be missing or the apt lists empty; the build fixes that, so the
 * caller computes the key again afterwards and stores the guest under it.
 */
export function guestKey(script: string): string {
  const busybox = query('dpkg-query', ['-W', '-f=${Version}', 'busybox-static']);
  const kernel = kernelCandidate(join(repoRoot(), '.cache', 'guest', 'apt-kernel.json'));
  return createHash('sha256')
    .update(readFileSync(script))
    .update(`\0busybox-static ${busybox}\0linux-image-amd64 ${kernel}`)
    .digest('hex')
    .slice(0, 16);
}

/**
 * Returns the guest, building it first when the cache has none for the
 * current key. Old builds (other keys) are removed.
 */
export async function ensureGuest(
  opts: { timeoutMs?: number; onBuildStart?: () => void } = {},
): Promise<GuestImage> {
  const root = repoRoot();
  const script = join(root, 'scripts', 'build-guest.sh');
  const cacheDir = join(root, '.cache', 'guest');
  const cached = imageAt(join(cacheDir, guestKey(script)), false, 0);
  if (cached) return cached;
  mkdirSync(cacheDir, { recursive: true });
  return withLock(join(cacheDir, 'build.lock'), opts.timeoutMs ?? 20 * 60_000, async () => {
    // Another worker may have built it while we waited (and installed packages).
    const again = imageAt(join(cacheDir, guestKey(script)), false, 0);
    if (again) return again;
    opts.onBuildStart?.();
    const started = Date.now();
    const tmp = join(cacheDir, `build.tmp-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    // The build may install busybox-static or refresh apt's lists: key it after.
    let key: string;
    try {
      await runBuild(script, tmp, join(cacheDir, 'build.log'));
      key = guestKey(script);
      rmSync(join(cacheDir, key), { recursive: true, force: true });
      renameSync(tmp, join(cacheDir, key));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    const dir = join(cacheDir, key);
    for (const name of readdirSync(cacheDir)) {
      if (/^[0-9a-f]{16}$/.test(name) && name !== key) {
        rmSync(join(cacheDir, name), { recursive: true, force: true });
      }
    }
    const image = imageAt(dir, true, Date.now() - started);
    if (!image) throw new Error(`guest: ${script} succeeded but ${dir} is incomplete`);
    return image;
  });
}
