/**
 * `npm run test:debian13`, and the second half of `npm test`: the kernel and
 * e2e suites (libvirt's included) inside a Debian root built from Debian's own
 * packages, against that release's QEMU, libvirt, Node and kernel package.
 *
 *   node dist/scripts/debian-suites.js [--suite trixie] [--summary FILE] [--keep] [--hold]
 *
 * Steps: scripts/debian-root.sh makes a fresh root (a copy of a cached one)
 * with the packages scripts/setup.sh installs plus Node, npm and what
 * node-gyp needs; the working tree (without node_modules, dist, .cache, .git)
 * is copied to /srv/qemu-sandboxed inside it, so the host's build is never
 * touched; inside, scripts/setup.sh runs npm ci and the build with the root's
 * own Node, then jest runs the kernel and e2e projects. The host's npm
 * settings (its CA bundle, ~/.npmrc, registry and proxy variables) are
 * bind-mounted or passed in at run time only. The guest and the libvirt
 * test's initrd (both made of the root's Debian packages) are cached per
 * suite under /var/cache/qemu-sandboxed/suites/, and so is npm's download
 * cache. The root is removed afterwards (--keep leaves it for a look).
 * --hold: prepare everything up to jest (the root, npm ci, the build), then
 * wait for a line on stdin before running it (scripts/test-all.ts prepares
 * while the host's own jest runs); end of input instead is a failure.
 *
 * Output: the inner jest's output, then one line
 *   debian-suites: <suite> (Debian <ver>, QEMU <ver>, libvirt <ver>): N passed, N failed, N skipped
 * and, with --summary FILE, the same counts as JSON (scripts/test-all.ts adds
 * them to the host's). A run that cannot happen at all (no root, no network,
 * npm ci failing) is a failure with its reason, never a skip.
 *
 * Exit codes: 0 all passed; 1 a test failed or the run could not happen;
 * 2 usage.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { buildDeb } from './package-deb';
import { rootPackages } from './lib/debian-roots';
import { repoRoot } from './lib/guest';
import { countsOf, type SuiteCounts } from './lib/jest-counts';

/** Where the working tree goes inside the root. */
const INNER_REPO = '/srv/qemu-sandboxed';
/** Left out of the copy: the host's build and caches, and the history. */
const NOT_COPIED = ['node_modules', 'dist', '.cache', 'coverage', '.git'];
const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const CACHE_BASE = process.env.QEMU_SANDBOXED_SUITES_CACHE ?? '/var/cache/qemu-sandboxed/suites';
/** A hung run must end CI with a reason rather than at CI's own timeout. */
const RUN_TIMEOUT_MS = 45 * 60_000;

export interface DebianSuitesSummary extends SuiteCounts {
  readonly label: string;
  /** Why the run could not happen (counted as one failure), if it could not. */
  readonly error?: string;
}

/** Process groups of the commands running now (see run): ended on SIGINT/SIGTERM. */
const running = new Set<number>();
/** The work directory of this run, removed on SIGINT/SIGTERM unless --keep. */
let workToRemove: string | undefined;

for (const [signal, status] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.on(signal, () => {
    for (const pgid of running) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (workToRemove) rmSync(workToRemove, { recursive: true, force: true });
    log(`${signal}: stopped`);
    process.exit(status);
  });
}

function log(line: string): void {
  process.stderr.write(`debian-suites: ${line}\n`);
}

/** Runs a command with inherited stdout/stderr (and optional capture of stdout). */
function run(
  cmd: string,
  args: readonly string[],
  opts: { capture?: boolean; timeoutMs?: number } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout can end everything it started.
    const child = spawn(cmd, args, {
      stdio: ['ignore', opts.capture ? 'pipe' : 'inherit', 'inherit'],
      detached: true,
    });
    if (child.pid) running.add(child.pid);
    let stdout = '';
    child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        log(`${cmd} ran longer than ${opts.timeoutMs} ms: killing it`);
        try {
          process.kill(-(child.pid ?? 0), 'SIGKILL');
        } catch {
          // already gone
        }
      }, opts.timeoutMs);
    }
    child.on('error', (err) => reject(new Error(`cannot run ${cmd}: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (child.pid) running.delete(child.pid);
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout });
    });
  });
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(0)} s`;
}

function describeExit(r: { code: number | null; signal: NodeJS.Signals | null }): string {
  return r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
}

/** Host settings npm needs to reach its registry from inside the root. */
function npmAccess(): { binds: string[]; env: string[] } {
  const binds: string[] = [];
  const env: string[] = [];
  // Each file at its own path inside, read-only: the system bundle (npm, apt
  // over https) and the files Node or OpenSSL are told to trust.
  const bound = new Set<string>();
  const bindFile = (path: string): void => {
    if (bound.has(path)) return;
    bound.add(path);
    binds.push('--ro-bind', `${path}:${path}`);
  };
  if (existsSync(SYSTEM_CA_BUNDLE)) bindFile(SYSTEM_CA_BUNDLE);
  for (const name of ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE']) {
    const path = process.env[name];
    if (path && existsSync(path)) {
      bindFile(path);
      env.push('--setenv', `${name}=${path}`);
    }
  }
  const npmrc = process.env.NPM_CONFIG_USERCONFIG ?? join(homedir(), '.npmrc');
  if (existsSync(npmrc)) binds.push('--ro-bind', `${npmrc}:/root/.npmrc`);
  // The registry as the host's npm resolves it (npmrc, environment, defaults).
  const registry = spawnSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' });
  if (registry.status === 0 && /^https?:\/\//.test(registry.stdout.trim())) {
    env.push('--setenv', `npm_config_registry=${registry.stdout.trim()}`);
  }
  for (const name of [
    'http_proxy',
    'https_proxy',
    'no_proxy',
    'HTTP_PROXY',
    'HTTPS_PROXY',
    'NO_PROXY',
  ]) {
    const v = process.env[name];
    if (v) env.push('--setenv', `${name}=${v}`);
  }
  return { binds, env };
}

/** The working tree, minus NOT_COPIED, into DEST (tar keeps modes and links). */
async function copyTree(repo: string, dest: string): Promise<void> {
  mkdirSync(dest, { recursive: true });
  const excludes = NOT_COPIED.map((p) => `--exclude=./${p}`).join(' ');
  const r = await run('sh', [
    '-c',
    `tar -C "$1" ${excludes} -cf - . | tar -C "$2" -xf -`,
    'sh',
    repo,
    dest,
  ]);
  if (r.code !== 0) throw new Error(`copying ${repo} into the root failed (${describeExit(r)})`);
}

/** Inside the root, first: what runs there, then setup (npm ci with the root's npm, the build). */
const PREPARE_SCRIPT = `set -e
cd ${INNER_REPO}
echo "debian-suites: inside: Debian $(cat /etc/debian_version), $(qemu-system-x86_64 --version | head -n 1), libvirt $(libvirtd --version | sed 's/.* //'), Node $(node --version), npm $(npm --version)" >&2
exec sh scripts/setup.sh --suites-only
`;
/** Where the host-built .deb goes inside the root. */
const INNER_DEB_DIR = '/srv/qemu-sandboxed-deb';
/** The Debian package's <emulator> link, which the libvirt test inside then uses. */
const PACKAGE_EMULATOR = '/usr/bin/qemu-system-x86_64-sandboxed';
/**
 * The .deb built on this host from this checkout, installed as a user does
 * (apt resolves its Depends from the root). Its site config is removed
 * again: the suites inside run without one, as on the host (the package's
 * default config is the package tests' business).
 */
const INSTALL_DEB_SCRIPT = `set -e
DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${INNER_DEB_DIR}/*.deb
rm -f /etc/qemu-sandboxed/config.json
test -x ${PACKAGE_EMULATOR}
`;
/**
 * Then the two projects, results as JSON; the libvirt test runs with the
 * package's link as its <emulator>.
 */
const JEST_SCRIPT = `cd ${INNER_REPO} && QEMU_SANDBOXED_TEST_EMULATOR=${PACKAGE_EMULATOR} exec npx jest --ci --selectProjects kernel e2e --json --outputFile=${INNER_REPO}/.cache/jest-results.json`;

/** "trixie (Debian 13.1, QEMU 10.0.3, libvirt 11.3.0)" from inside the root. */
async function describeRoot(suite: string, rootDir: string): Promise<string> {
  const r = await run(
    'sh',
    [
      join(repoRoot(), 'scripts', 'debian-root.sh'),
      'run',
      rootDir,
      '--',
      'sh',
      '-c',
      `echo "Debian $(cat /etc/debian_version), QEMU $(qemu-system-x86_64 --version | sed -n '1s/.*version \\([^ ]*\\).*/\\1/p'), libvirt $(libvirtd --version | sed 's/.* //')"`,
    ],
    { capture: true },
  );
  return `${suite} (${r.code === 0 ? r.stdout.trim() : 'versions unknown'})`;
}

/** A root with the working tree in it, set up (npm ci, build), ready for jest. */
interface Prepared {
  label: string;
  readonly rootDir: string;
  /** `debian-root.sh run ROOT` and its options: binds, environment. */
  readonly enter: readonly string[];
}

async function prepare(
  suite: string,
  rootDir: string,
  onLabel: (l: string) => void,
): Promise<Prepared> {
  const repo = repoRoot();
  const script = join(repo, 'scripts', 'debian-root.sh');
  if (process.geteuid?.() !== 0) throw new Error('needs root (mmdebstrap, mounts, chroot)');
  if (suite !== 'trixie' && suite !== 'bookworm') throw new Error(`unknown suite ${suite}`);
  const packages = rootPackages(suite);

  const started = Date.now();
  const made = await run('sh', [script, suite, rootDir, ...packages], { capture: true });
  if (made.code !== 0) {
    throw new Error(`scripts/debian-root.sh ${suite} failed (${describeExit(made)})`);
  }
  log(`root ready in ${seconds(Date.now() - started)}: ${rootDir}`);
  const label = await describeRoot(suite, rootDir);
  onLabel(label);

  await copyTree(repo, join(rootDir, INNER_REPO.slice(1)));
  const caches = join(CACHE_BASE, suite);
  const cacheBinds: string[] = [];
  for (const [host, at] of [
    [join(caches, 'guest'), `${INNER_REPO}/.cache/guest`],
    [join(caches, 'libvirt-test'), `${INNER_REPO}/.cache/libvirt-test`],
    [join(caches, 'npm'), '/root/.npm'],
  ]) {
    mkdirSync(host, { recursive: true });
    cacheBinds.push('--bind', `${host}:${at}`);
  }
  const access = npmAccess();
  const enter = [
    script,
    'run',
    rootDir,
    ...access.binds,
    ...cacheBinds,
    ...['--setenv', `CI=${process.env.CI ?? 'true'}`, ...access.env],
    '--',
  ];
  const setupStarted = Date.now();
  const setup = await run('sh', [...enter, 'sh', '-c', PREPARE_SCRIPT], {
    timeoutMs: RUN_TIMEOUT_MS,
  });
  if (setup.code !== 0) {
    throw new Error(`scripts/setup.sh inside the root failed (${describeExit(setup)})`);
  }
  log(`set up inside the root (npm ci, build) in ${seconds(Date.now() - setupStarted)}`);

  const debDir = join(rootDir, INNER_DEB_DIR.slice(1));
  mkdirSync(debDir, { recursive: true, mode: 0o755 });
  const built = buildDeb(debDir);
  chmodSync(built.file, 0o644);
  const installed = await run('sh', [...enter, 'sh', '-c', INSTALL_DEB_SCRIPT], {
    timeoutMs: RUN_TIMEOUT_MS,
  });
  if (installed.code !== 0) {
    throw new Error(
      `apt-get install of ${built.file} inside the root failed (${describeExit(installed)})`,
    );
  }
  log(`installed ${built.file.slice(rootDir.length)} inside the root`);
  return { label, rootDir, enter };
}

async function runJest(p: Prepared): Promise<DebianSuitesSummary> {
  const resultsFile = join(p.rootDir, INNER_REPO.slice(1), '.cache', 'jest-results.json');
  const started = Date.now();
  const r = await run('sh', [...p.enter, 'sh', '-c', JEST_SCRIPT], { timeoutMs: RUN_TIMEOUT_MS });
  log(`jest inside the root: ${describeExit(r)} after ${seconds(Date.now() - started)}`);
  if (!existsSync(resultsFile)) {
    throw new Error(`jest inside the root ended (${describeExit(r)}) without writing its results`);
  }
  const counts = countsOf(JSON.parse(readFileSync(resultsFile, 'utf8')) as unknown);
  if (r.code !== 0 && counts.failed === 0) {
    // jest failed without a failing test (e.g. it could not collect): still a failure.
    return {
      label: p.label,
      ...counts,
      failed: 1,
      error: `jest inside the root: ${describeExit(r)}`,
    };
  }
  return { label: p.label, ...counts };
}

/**
 * True once a line arrives on stdin, false at end of input without one (the
 * caller is gone: nothing more to run).
 */
function waitForGo(): Promise<boolean> {
  return new Promise((resolve) => {
    let seen = '';
    const done = (go: boolean): void => {
      process.stdin.removeAllListeners();
      process.stdin.destroy();
      resolve(go);
    };
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (d: string) => {
      seen += d;
      if (seen.includes('\n')) done(true);
    });
    process.stdin.on('end', () => done(false));
    process.stdin.on('error', () => done(false));
  });
}

/** Work directories of runs that died without cleaning up (a day old: no run lasts that long). */
function removeStaleWork(suite: string): void {
  const prefix = `qemu-sandboxed-${suite}-`;
  for (const name of readdirSync('/var/tmp')) {
    const dir = join('/var/tmp', name);
    if (!name.startsWith(prefix)) continue;
    try {
      if (Date.now() - statSync(dir).mtimeMs > 24 * 3600_000) {
        log(`removing ${dir}, left by a run that died`);
        rmSync(dir, { recursive: true, force: true });
      }
    } catch {
      // removed meanwhile
    }
  }
}

async function runSuites(
  suite: string,
  keep: boolean,
  hold: boolean,
): Promise<DebianSuitesSummary> {
  // Not under /tmp: the root gets the host's /tmp bind-mounted into it.
  mkdirSync('/var/tmp', { recursive: true });
  removeStaleWork(suite);
  const work = mkdtempSync(`/var/tmp/qemu-sandboxed-${suite}-`);
  if (!keep) workToRemove = work;
  let label = suite;
  try {
    const prepared = await prepare(suite, join(work, 'root'), (l) => (label = l));
    if (hold) {
      log('prepared; waiting for a line on stdin before running jest');
      if (!(await waitForGo())) throw new Error('stdin ended before the go-ahead: not run');
    }
    return await runJest(prepared);
  } catch (err) {
    return { label, passed: 0, failed: 1, skipped: 0, error: (err as Error).message };
  } finally {
    if (keep) log(`kept ${work}/root (rm -rf ${work} to remove it)`);
    else rmSync(work, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<number> {
  let suite = 'trixie';
  let summaryFile: string | undefined;
  let keep = false;
  let hold = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--suite' && argv[i + 1]) suite = argv[++i];
    else if (a === '--summary' && argv[i + 1]) summaryFile = argv[++i];
    else if (a === '--keep') keep = true;
    else if (a === '--hold') hold = true;
    else {
      process.stderr.write(
        'usage: debian-suites [--suite SUITE] [--summary FILE] [--keep] [--hold]\n',
      );
      return 2;
    }
  }
  const summary = await runSuites(suite, keep, hold);
  if (summary.error) log(`error: ${summary.error}`);
  if (summaryFile) writeFileSync(summaryFile, JSON.stringify(summary));
  process.stdout.write(
    `debian-suites: ${summary.label}: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped\n`,
  );
  return summary.failed === 0 && !summary.error ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    log(`error: ${(err as Error).message}`);
    process.exitCode = 1;
  },
);
