/**
 * `npm run bench`: the performance benchmark (see scripts/bench/run.ts).
 *
 *   node dist/scripts/bench.js           full mode, writes docs/PERFORMANCE.md + docs/performance.json
 *   node dist/scripts/bench.js --quick   a few seconds (CI), writes to .cache/bench/ unless --out is given
 *   --out DIR                            where to write the report
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './bench/cbuild';
import { runBench } from './bench/run';

function main(argv: string[]): number {
  const quick = argv.includes('--quick');
  const outIdx = argv.indexOf('--out');
  const unknown = argv.filter((a, i) => a !== '--quick' && a !== '--out' && i !== outIdx + 1);
  if (unknown.length > 0 || (outIdx >= 0 && !argv[outIdx + 1])) {
    process.stderr.write('usage: bench [--quick] [--out DIR]\n');
    return 2;
  }
  // Quick runs (CI) must not overwrite the committed report of a full run.
  const outDir = outIdx >= 0 ? argv[outIdx + 1] : join(repoRoot(), quick ? '.cache/bench' : 'docs');
  mkdirSync(outDir, { recursive: true });
  const report = runBench({ quick, outDir, log: (l) => process.stderr.write(`bench: ${l}\n`) });
  for (const t of report.targets) {
    const status = t.met === null ? 'NOT MEASURED' : t.met ? 'met' : 'MISSED';
    process.stdout.write(`${status.padEnd(12)} ${t.name}: ${t.detail}\n`);
  }
  process.stdout.write(`report: ${join(outDir, 'PERFORMANCE.md')}\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
