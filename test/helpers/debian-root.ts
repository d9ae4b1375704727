/**
 * Fresh Debian roots for the package tests, made and entered with
 * scripts/debian-root.sh (cached pristine roots from Debian's packages, a
 * private mount namespace and chroot per command). A root is a copy that the
 * test file owns: removed when its tests are done.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import execa from 'execa';
import type { Suite } from '../../scripts/lib/debian-roots';
import { repoRoot } from '../../scripts/lib/guest';

export { SUITE_VERSION, rootPackages, type Suite } from '../../scripts/lib/debian-roots';

const script = (): string => join(repoRoot(), 'scripts', 'debian-root.sh');

/** Fails with the reason on a machine that cannot make roots: these tests never skip. */
export function requireRoots(): void {
  if (process.geteuid?.() !== 0) {
    throw new Error('Debian roots need root (mmdebstrap root mode, mounts, chroot)');
  }
  if (execa.sync('sh', ['-c', 'command -v mmdebstrap'], { reject: false }).exitCode !== 0) {
    throw new Error('mmdebstrap is missing: npm run setup installs it');
  }
}

const made: string[] = [];
if (typeof afterAll === 'function') {
  afterAll(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * A fresh SUITE root with PACKAGES (and their dependencies, no Recommends)
 * at `dir`, removed after the file's tests. The first call for a package
 * list builds the cached pristine root (minutes); later ones copy it.
 */
export async function makeRoot(
  suite: Suite,
  dir: string,
  packages: readonly string[],
): Promise<string> {
  requireRoots();
  made.push(dir);
  const r = await execa('sh', [script(), suite, dir, ...packages], {
    reject: false,
    timeout: 20 * 60_000,
  });
  if (r.exitCode !== 0 || !existsSync(join(dir, 'usr', 'bin'))) {
    throw new Error(
      `scripts/debian-root.sh ${suite} ${dir} ${packages.join(' ')} failed (${r.exitCode}): ${r.stderr.trim()}`,
    );
  }
  return dir;
}

export interface RunInRoot {
  /** HOST[:INNER] bind mounts (read-write). */
  readonly bind?: readonly string[];
  readonly roBind?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly timeout?: number;
  readonly input?: string;
}

/** The argv of `debian-root.sh run ROOT ... -- COMMAND...`. */
export function runArgs(root: string, command: readonly string[], opts: RunInRoot = {}): string[] {
  return [
    script(),
    'run',
    root,
    ...(opts.bind ?? []).flatMap((b) => ['--bind', b]),
    ...(opts.roBind ?? []).flatMap((b) => ['--ro-bind', b]),
    ...Object.entries(opts.env ?? {}).flatMap(([k, v]) => ['--setenv', `${k}=${v}`]),
    '--',
    ...command,
  ];
}

/** Runs COMMAND inside the root; never throws on its exit status. */
export async function inRoot(
  root: string,
  command: readonly string[],
  opts: RunInRoot = {},
): Promise<execa.ExecaReturnValue> {
  return execa('sh', runArgs(root, command, opts), {
    reject: false,
    timeout: opts.timeout ?? 10 * 60_000,
    input: opts.input,
  });
}

/** `sh -c SCRIPT` inside the root; throws with its output unless it exits 0. */
export async function shInRoot(root: string, sh: string, opts: RunInRoot = {}): Promise<string> {
  const r = await inRoot(root, ['sh', '-c', sh], opts);
  if (r.exitCode !== 0) {
    throw new Error(
      `in ${root}: sh -c '${sh}' exited ${r.exitCode}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`,
    );
  }
  return r.stdout;
}
