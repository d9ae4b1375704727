/**
 * The benchmark's quick mode runs in CI so it cannot rot: every part runs
 * (with few rounds) and writes a well-formed report. It checks structure and
 * the deterministic numbers only (path length, cache coverage); timings on a
 * shared machine are reported, never asserted here.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBench } from '../../scripts/bench/run';

let out = '';
beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'bench-test-'));
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

test('bench --quick runs every part and writes PERFORMANCE.md and performance.json', () => {
  const report = runBench({ quick: true, outDir: out });
  expect(existsSync(join(out, 'PERFORMANCE.md'))).toBe(true);
  const json = JSON.parse(readFileSync(join(out, 'performance.json'), 'utf8'));
  expect(json.mode).toBe('quick');

  // Part 1 ran the four filter variants (and the RET ALLOW control) on all four calls.
  expect(report.syscalls.available).toBe(true);
  expect(report.syscalls.variants.map((v) => v.name).sort()).toEqual(
    ['allow-only', 'libseccomp', 'libseccomp-tree', 'none', 'ours'].sort(),
  );
  expect(report.syscalls.ops).toEqual(['getppid', 'futex_wake', 'read_dev_zero', 'ppoll']);
  for (const op of report.syscalls.ops) expect(report.syscalls.ratioToNone[op].none).toBe(1);

  // Part 2: every host ABI has our row; x86_64 and aarch64 have libseccomp's beside it.
  const rows = report.paths.rows;
  expect(rows.filter((r) => r.program === 'ours')).toHaveLength(8);
  for (const abi of ['x86_64', 'aarch64']) {
    expect(rows.filter((r) => r.abi === abi).map((r) => r.program)).toEqual(
      expect.arrayContaining(['ours', 'libseccomp (default)', 'libseccomp (binary tree)']),
    );
  }
  for (const r of rows.filter((x) => x.program === 'ours'))
    expect(r.cache.cached).toBe(r.cache.allowedTotal);

  // Part 4 compiled every policy for every ABI.
  expect(report.compile.programs).toBe(192 * 8);

  // Every target is listed with a verdict or the reason it was not measured.
  expect(report.targets.length).toBeGreaterThanOrEqual(6);
  for (const t of report.targets) expect(t.detail.length).toBeGreaterThan(0);
  const md = readFileSync(join(out, 'PERFORMANCE.md'), 'utf8');
  for (const h of ['## Machine', '## 1.', '## 2.', '## 3.', '## 4.']) expect(md).toContain(h);
}, 120000);
