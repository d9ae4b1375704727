/**
 * The counts behind `npm test`'s closing line (scripts/test-all.ts): a test
 * file that could not run is a failure, and anything but jest's results is
 * an error rather than zero.
 */
import { countsOf, formatCounts } from '../../scripts/lib/jest-counts';

const results = {
  numPassedTests: 10,
  numFailedTests: 1,
  numRuntimeErrorTestSuites: 2,
  numPendingTests: 3,
  numTodoTests: 1,
};

test('passed, failed (tests and files that could not run), skipped (and todo)', () => {
  expect(countsOf(results)).toEqual({ passed: 10, failed: 3, skipped: 4 });
  expect(formatCounts(countsOf(results))).toBe('10 passed, 3 failed, 4 skipped');
});

test.each([
  ['not an object', null],
  ['a count missing', { ...results, numFailedTests: undefined }],
  ['a count that is no count', { ...results, numPassedTests: -1 }],
  ['a count as text', { ...results, numPendingTests: '3' }],
])('%s is an error', (_name, value) => {
  expect(() => countsOf(value)).toThrow(/jest results/);
});
