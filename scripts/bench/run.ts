/**
 * The performance benchmark, in four parts, measured in one run:
 *  1. allowed-syscall overhead (C microbenchmark) under no filter, ours,
 *     libseccomp (QEMU's default optimisation) and libseccomp's binary tree
 *     (syscalls.ts);
 *  2. filter path length: program length, instructions executed, cache
 *     coverage (paths.ts);
 *  3. start-up cost of the launcher beside `node -e 0` and QEMU itself
 *     (startup.ts);
 *  4. compile cost of every policy for every ABI, in process (compile.ts).
 * Then the targets' verdicts (verdicts.ts) and the report (render.ts).
 * Ratios, not absolute times: these machines are shared and noisy, so every
 * timed part interleaves its variants (shuffled each round) and repeats.
 * A missed target is reported as missed, with the reason; nothing here is
 * tuned to a target.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './cbuild';
import type { BenchOptions } from './common';
import { compilePart, type CompilePart } from './compile';
import { machine } from './machine';
import { pathPart, type PathPart } from './paths';
import { renderMarkdown } from './render';
import { startupPart, type StartupPart } from './startup';
import { syscallPart, type SyscallPart } from './syscalls';
import { targets, type Target } from './verdicts';

export type { BenchOptions } from './common';

export interface BenchReport {
  readonly mode: 'quick' | 'full';
  readonly date: string;
  readonly machine: Record<string, string | number>;
  readonly syscalls: SyscallPart;
  readonly paths: PathPart;
  readonly startup: StartupPart;
  readonly compile: CompilePart;
  readonly targets: Target[];
}

/**
 * `npm run lint` checks docs/performance.json with prettier, whose JSON layout
 * differs from JSON.stringify's (short arrays on one line): format it the same
 * way. Prettier is a dev dependency; without it the file stays as written.
 */
function formatWithPrettier(file: string): void {
  let bin: string;
  try {
    bin = require.resolve('prettier/bin/prettier.cjs', { paths: [repoRoot()] });
  } catch {
    return;
  }
  spawnSync(process.execPath, [bin, '--write', file], { stdio: 'ignore' });
}

/** Runs every part and writes PERFORMANCE.md and performance.json into opts.outDir. */
export function runBench(opts: BenchOptions): BenchReport {
  const log = opts.log ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'qemu-sandboxed-bench-'));
  try {
    log('part 4: compile cost');
    const compile = compilePart(opts);
    log('part 2: path length');
    const paths = pathPart();
    log('part 1: syscall overhead');
    const syscalls = syscallPart(opts, dir);
    log('part 3: start-up');
    const startup = startupPart(opts);
    const report: BenchReport = {
      mode: opts.quick ? 'quick' : 'full',
      date: new Date().toISOString(),
      machine: machine(),
      syscalls,
      paths,
      startup,
      compile,
      targets: targets(syscalls, paths, startup, compile),
    };
    writeFileSync(join(opts.outDir, 'PERFORMANCE.md'), renderMarkdown(report));
    const jsonFile = join(opts.outDir, 'performance.json');
    writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
    formatWithPrettier(jsonFile);
    return report;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
