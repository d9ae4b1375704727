/**
 * `npm test` after lint: jest's unit, kernel, e2e and package projects on
 * this host and the kernel and e2e suites inside a Debian 13 root
 * (scripts/debian-suites.ts), then one closing line over all of them:
 *
 *   all: N passed, N failed, N skipped
 *
 * preceded by one line per run saying where it ran (Debian release, QEMU and
 * libvirt versions) and one with the time of each part. Order, for 2 cores:
 * the host's unit, kernel and e2e tests first, while the Debian roots are
 * built (scripts/lib/debian-roots.ts: one per release, shared by every test
 * of the run) and the Debian 13 one is prepared (npm ci, build, the .deb
 * installed: mostly downloads and disk); then the package tests (mostly apt
 * and dpkg in Debian roots) together with the Debian 13 suites' jest, whose
 * output is held back and shown after theirs. Every run always happens, so
 * one failing does not hide another's results. Exit 0 only when every run
 * ended 0 and nothing failed; a run that produced no results counts as one
 * failure. The container image's test is not here: `npm run test:container`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DebianSuitesSummary } from './debian-suites';
import { rootPackages, type Suite } from './lib/debian-roots';
import { repoRoot } from './lib/guest';
import { countsOf, formatCounts, type SuiteCounts } from './lib/jest-counts';

interface RunResult extends SuiteCounts {
  readonly label: string;
  readonly ok: boolean;
}

function exitOf(cmd: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'inherit' });
    child.on('error', (err) => {
      process.stderr.write(`test-all: cannot run ${cmd}: ${err.message}\n`);
      resolve(127);
    });
    child.on('close', (code, signal) => resolve(signal ? 128 : (code ?? 1)));
  });
}

/**
 * debian-suites.js --hold, started now: it prepares while we run the host's
 * jest. Its output waits in memory (in order) until show(); go() tells it to
 * go on to its jest; exit resolves with its exit status.
 */
function startHeld(args: readonly string[]): {
  go: () => void;
  show: () => void;
  exit: Promise<number>;
} {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let held: Array<[NodeJS.WriteStream, Buffer]> | undefined = [];
  const forward = (to: NodeJS.WriteStream) => (b: Buffer) => {
    if (held) held.push([to, b]);
    else to.write(b);
  };
  child.stdout.on('data', forward(process.stdout));
  child.stderr.on('data', forward(process.stderr));
  child.stdin.on('error', () => {
    // it ended before the go-ahead: its exit status says why
  });
  const exit = new Promise<number>((resolve) => {
    child.on('error', (err) => {
      process.stderr.write(`test-all: cannot run ${args[0]}: ${err.message}\n`);
      resolve(127);
    });
    child.on('close', (code, signal) => resolve(signal ? 128 : (code ?? 1)));
  });
  const show = (): void => {
    for (const [to, b] of held ?? []) to.write(b);
    held = undefined;
  };
  return { go: () => child.stdin.end('go\n'), show, exit };
}

function firstLine(cmd: string, args: readonly string[], pattern: RegExp): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n')[0].match(pattern)?.[1] ?? 'unknown';
}

/** "host (Debian 12.11, QEMU 7.2.15, libvirt 9.0.0)" */
function hostLabel(): string {
  let debian = 'unknown';
  try {
    debian = readFileSync('/etc/debian_version', 'utf8').trim();
  } catch {
    // not Debian: say so in the label
  }
  const qemu = firstLine('qemu-system-x86_64', ['--version'], /version (\S+)/);
  const libvirt = firstLine('libvirtd', ['--version'], /(\S+)$/);
  return `host (Debian ${debian}, QEMU ${qemu}, libvirt ${libvirt})`;
}

/** One jest run on this host over PROJECTS, its results counted. */
async function hostRun(
  dir: string,
  repo: string,
  projects: readonly string[],
  label: string,
): Promise<RunResult> {
  const out = join(dir, `host-${projects.join('-')}.json`);
  const code = await exitOf(process.execPath, [
    join(repo, 'node_modules', 'jest', 'bin', 'jest.js'),
    '--selectProjects',
    ...projects,
    '--json',
    `--outputFile=${out}`,
  ]);
  if (!existsSync(out)) {
    process.stderr.write(`test-all: jest on the host wrote no results (exit ${code})\n`);
    return { label, passed: 0, failed: 1, skipped: 0, ok: false };
  }
  const counts = countsOf(JSON.parse(readFileSync(out, 'utf8')) as unknown);
  // A non-zero exit without a failed test (e.g. no tests found) is still a failure.
  return {
    label,
    ...counts,
    failed: code !== 0 && counts.failed === 0 ? 1 : counts.failed,
    ok: code === 0,
  };
}

function debianResult(out: string, code: number): RunResult {
  if (!existsSync(out)) {
    process.stderr.write(`test-all: the Debian 13 run wrote no summary (exit ${code})\n`);
    return { label: 'trixie', passed: 0, failed: 1, skipped: 0, ok: false };
  }
  const s = JSON.parse(readFileSync(out, 'utf8')) as DebianSuitesSummary;
  const counts = countsOf({
    numPassedTests: s.passed,
    numFailedTests: s.failed,
    numRuntimeErrorTestSuites: 0,
    numPendingTests: s.skipped,
    numTodoTests: 0,
  });
  return { label: s.label, ...counts, ok: code === 0 };
}

/**
 * Starts building the cached Debian 12 root the package tests copy (the
 * Debian 13 one is built by the Debian 13 run, started at the same time):
 * downloads and dpkg while the host's unit, kernel and e2e tests run. Its
 * messages are held until done() is awaited. A failure here is not counted:
 * the package tests then build the root themselves and fail with the reason.
 */
function warmRoot(repo: string, suite: Suite): { done: () => Promise<string> } {
  const started = Date.now();
  const child = spawn(
    'sh',
    [join(repo, 'scripts', 'debian-root.sh'), '--cache-only', suite, ...rootPackages(suite)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let messages = '';
  child.stderr.on('data', (b: Buffer) => (messages += b.toString()));
  const exit = new Promise<string>((resolve) => {
    child.on('error', (err) => resolve(`cannot run debian-root.sh: ${err.message}`));
    child.on('close', (code) =>
      resolve(
        `exit ${code ?? 'signal'} after ${elapsed(started)}${messages ? `\n${messages.trim()}` : ''}`,
      ),
    );
  });
  return { done: () => exit };
}

function elapsed(since: number): string {
  return `${Math.round((Date.now() - since) / 1000)} s`;
}

async function main(): Promise<number> {
  if (process.argv.length > 2) {
    process.stderr.write('usage: test-all (no arguments; run jest directly to pick tests)\n');
    return 2;
  }
  const repo = repoRoot();
  const dir = mkdtempSync(join(tmpdir(), 'qemu-sandboxed-test-all-'));
  const started = Date.now();
  const times: string[] = [];
  try {
    const debianOut = join(dir, 'debian.json');
    const debian = startHeld([
      join(repo, 'dist', 'scripts', 'debian-suites.js'),
      '--hold',
      '--summary',
      debianOut,
    ]);
    const bookworm = warmRoot(repo, 'bookworm');
    const label = hostLabel();
    let t = Date.now();
    const host = await hostRun(dir, repo, ['unit', 'kernel', 'e2e'], label);
    times.push(`host unit+kernel+e2e ${elapsed(t)}`);
    t = Date.now();
    const warmed = await bookworm.done();
    process.stdout.write(`\ntest-all: the Debian 12 root for the package tests: ${warmed}\n`);
    times.push(`waiting for the Debian 12 root ${elapsed(t)}`);
    t = Date.now();
    // The package tests are mostly apt and dpkg in the Debian roots (disk,
    // not CPU): the Debian 13 suites' jest runs at the same time. Its output
    // is shown after theirs.
    debian.go();
    const debianDone = debian.exit.then((code) => {
      times.push(`Debian 13 suites ${elapsed(t)}`);
      return code;
    });
    const packages = await hostRun(dir, repo, ['package'], `${label}, package tests`);
    times.push(`package tests ${elapsed(t)}`);
    process.stdout.write(
      "\ntest-all: the package tests are done; the Debian 13 run's output follows\n",
    );
    debian.show();
    const runs = [host, packages, await debianResult(debianOut, await debianDone)];
    const total = runs.reduce(
      (t, r) => ({
        passed: t.passed + r.passed,
        failed: t.failed + r.failed,
        skipped: t.skipped + r.skipped,
      }),
      { passed: 0, failed: 0, skipped: 0 },
    );
    process.stdout.write('\n');
    process.stdout.write(`test-all: times: ${times.join('; ')}; total ${elapsed(started)}\n`);
    for (const r of runs) process.stdout.write(`test-all: ${r.label}: ${formatCounts(r)}\n`);
    process.stdout.write(`all: ${formatCounts(total)}\n`);
    return runs.every((r) => r.ok) && total.failed === 0 ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(
      `test-all: error: ${(err as Error).message}\nall: 0 passed, 1 failed, 0 skipped\n`,
    );
    process.exitCode = 1;
  },
);
