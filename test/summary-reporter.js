// Prints one plain closing line, "jest: N passed, N failed, N skipped", after
// jest's own summary: CI reads that form in any language, jest's own
// "Tests: N passed, N total" it does not. A test file that could not run at
// all (no test of it counted) is one failure, as scripts/lib/jest-counts.ts counts.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests, numFailedTests, numRuntimeErrorTestSuites } = results;
    const { numPendingTests, numTodoTests } = results;
    process.stdout.write(
      `jest: ${numPassedTests} passed, ${numFailedTests + numRuntimeErrorTestSuites} failed, ${numPendingTests + numTodoTests} skipped\n`,
    );
  }
}
module.exports = SummaryReporter;
