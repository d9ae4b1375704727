/**
 * `npm test` after lint (`npm run test:all` alone): every jest project on
 * this host, then the kernel and e2e suites inside a Debian 13 root
 * (scripts/debian-suites.ts), then one closing line over both:
 *
 *   all: N passed, N failed, N skipped
 *
 * preceded by one line per run saying where it ran (Debian release, QEMU and
 * libvirt versions). Both runs always happen, so one failing does not hide
 * the other's results. Exit 0 only when both ended 0 and nothing failed; a
 * run that produced no results counts as one failure.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DebianSuitesSummary } from './debian-suites';
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

async function hostRun(dir: string, repo: string): Promise<RunResult> {
  const label = hostLabel();
  const out = join(dir, 'host.json');
  const code = await exitOf(process.execPath, [
    join(repo, 'node_modules', 'jest', 'bin', 'jest.js'),
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

async function debianRun(dir: string, repo: string): Promise<RunResult> {
  const out = join(dir, 'debian.json');
  const code = await exitOf(process.execPath, [
    join(repo, 'dist', 'scripts', 'debian-suites.js'),
    '--summary',
    out,
  ]);
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

async function main(): Promise<number> {
  if (process.argv.length > 2) {
    process.stderr.write('usage: test-all (no arguments; run jest directly to pick tests)\n');
    return 2;
  }
  const repo = repoRoot();
  const dir = mkdtempSync(join(tmpdir(), 'qemu-sandboxed-test-all-'));
  try {
    const runs = [await hostRun(dir, repo), await debianRun(dir, repo)];
    const total = runs.reduce(
      (t, r) => ({
        passed: t.passed + r.passed,
        failed: t.failed + r.failed,
        skipped: t.skipped + r.skipped,
      }),
      { passed: 0, failed: 0, skipped: 0 },
    );
    process.stdout.write('\n');
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
