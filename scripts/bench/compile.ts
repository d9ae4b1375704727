/**
 * Part 4, compile cost: every policy combination for every host ABI, in
 * process, after a first compile that reads and validates filters/.
 */
import { HOST_ABI_NAMES } from '../../src/arch';
import { compilePolicy } from '../../src/compiler';
import { everyCompiledPolicy } from '../../src/policy';
import { median, round4, type BenchOptions } from './common';

export interface CompilePart {
  readonly programs: number;
  readonly rounds: number;
  /** The first compile of the process (reads and validates filters/). */
  readonly firstMs: number;
  readonly perProgramMs: { mean: number; median: number; p95: number; max: number };
}

export function compilePart(opts: BenchOptions): CompilePart {
  const all = everyCompiledPolicy();
  const t0 = process.hrtime.bigint();
  compilePolicy(all[0], 'x86_64');
  const firstMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const rounds = opts.quick ? 1 : 5;
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const abi of HOST_ABI_NAMES) {
      for (const p of all) {
        const s = process.hrtime.bigint();
        compilePolicy(p, abi);
        times.push(Number(process.hrtime.bigint() - s) / 1e6);
      }
    }
  }
  const sorted = [...times].sort((a, b) => a - b);
  return {
    programs: all.length * HOST_ABI_NAMES.length,
    rounds,
    firstMs: round4(firstMs),
    perProgramMs: {
      mean: round4(times.reduce((a, b) => a + b, 0) / times.length),
      median: round4(median(times)),
      p95: round4(sorted[Math.floor(sorted.length * 0.95)]),
      max: round4(sorted[sorted.length - 1]),
    },
  };
}
