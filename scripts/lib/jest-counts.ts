/**
 * Test counts from jest's --json results, for the closing lines of `npm test`
 * (scripts/test-all.ts) and of the Debian-root run (scripts/debian-suites.ts).
 */
export interface SuiteCounts {
  readonly passed: number;
  /** Failed tests, plus each test file that could not run at all (jest counts no test there). */
  readonly failed: number;
  /** Skipped and todo tests. */
  readonly skipped: number;
}

function count(results: Record<string, unknown>, key: string): number {
  const v = results[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new Error(`jest results: ${key} is not a count (${JSON.stringify(v)})`);
  }
  return v;
}

/** Reads the counts of a jest --json results object; throws on anything else. */
export function countsOf(results: unknown): SuiteCounts {
  if (typeof results !== 'object' || results === null)
    throw new Error('jest results: not an object');
  const r = results as Record<string, unknown>;
  return {
    passed: count(r, 'numPassedTests'),
    failed: count(r, 'numFailedTests') + count(r, 'numRuntimeErrorTestSuites'),
    skipped: count(r, 'numPendingTests') + count(r, 'numTodoTests'),
  };
}

/** "N passed, N failed, N skipped" */
export function formatCounts(c: SuiteCounts): string {
  return `${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`;
}
